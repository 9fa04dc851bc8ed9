// fastmlp._core's data readers: the numeric CSV fast path behind fastmlp.data.read_csv (csv.h).
#include <cstdint>
#include <string>

#include "bindings/common.h"
#include "fastmlp/csv.h"
#include "fastmlp/parallel.h"

namespace fastmlp::bindings {
namespace {

// (rows, cols) float64 array of the CSV body data[offset:], or None when the fast path gives up (then
// the Python reader, the spec, parses it and names what is wrong).
py::object parse_csv(const py::bytes& data, std::size_t offset, std::int64_t cols) {
  if (cols < 1) value_error("cols must be >= 1, got " + std::to_string(cols));
  char* buffer = nullptr;
  Py_ssize_t length = 0;
  if (PyBytes_AsStringAndSize(data.ptr(), &buffer, &length) != 0) throw py::error_already_set();
  if (offset > std::size_t(length)) value_error("offset is past the end of data");
  const char* body = buffer + offset;
  const std::size_t size = std::size_t(length) - offset;
  std::int64_t lines = 0;
  {
    py::gil_scoped_release nogil;
    lines = csv_line_count(body, size);
  }
  py::array_t<double> out({py::ssize_t(lines), py::ssize_t(cols)});
  double* p = out.mutable_data();
  std::int64_t rows = 0;
  {
    py::gil_scoped_release nogil;  // `data` is immutable bytes, and the caller holds a reference to it
    rows = csv_parse_numeric(body, size, cols, p, get_num_threads());
  }
  if (rows < 0) return py::none();
  if (rows == lines) return std::move(out);
  return out[py::slice(0, py::ssize_t(rows), 1)];
}

}  // namespace

void bind_data(py::module_& m) {
  m.def("parse_csv", &parse_csv, py::arg("data"), py::arg("offset"), py::arg("cols"),
        "float64 (rows, cols) array of the numeric CSV body data[offset:], or None if it is not plain numbers");
}

}  // namespace fastmlp::bindings
