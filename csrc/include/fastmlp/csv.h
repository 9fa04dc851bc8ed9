// A numeric CSV body (the bytes after the header line) parsed into a row-major double array: the fast
// path of fastmlp.data.read_csv. It accepts only the plain case (ASCII numbers separated by commas,
// no quotes); anything else makes it give up, and the Python reader (fastmlp.reference.parse_csv, the
// spec) parses the file instead and names the row and column of a bad cell.
#pragma once
#include <cstddef>
#include <cstdint>

namespace fastmlp {

// Upper bound on the rows of `body`: its lines (a last line without '\n' counts).
std::int64_t csv_line_count(const char* body, std::size_t size);

// Parses every line of `body` into `out` (room for csv_line_count(...) x cols doubles) and returns
// the number of data rows written (blank lines, or lines of only commas and spaces, are skipped as
// the reference skips them), or -1 when a line is not `cols` plain numbers. Lines are split among
// up to `threads` threads; the result does not depend on the count.
std::int64_t csv_parse_numeric(const char* body, std::size_t size, std::int64_t cols, double* out, int threads);

}  // namespace fastmlp
