// Error checking for the C++ side. Kernels trust their inputs; the binding layer validates them with
// FASTMLP_CHECK, which throws (never exits) so that Python sees a ValueError carrying file:line.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace fastmlp {

// Builds "msg (file:line)"; kept out of line of the macro so the happy path stays one branch.
[[noreturn]] inline void throw_invalid(const char* file, int line, const std::string& msg) {
  std::ostringstream os;
  os << msg << " (" << file << ":" << line << ")";
  throw std::invalid_argument(os.str());
}

}  // namespace fastmlp

// FASTMLP_CHECK(n > 0, "batch_size must be positive, got " << n) -> std::invalid_argument
#define FASTMLP_CHECK(cond, msg)                                    \
  do {                                                              \
    if (!(cond)) {                                                  \
      std::ostringstream fastmlp_os_;                               \
      fastmlp_os_ << msg;                                           \
      ::fastmlp::throw_invalid(__FILE__, __LINE__, fastmlp_os_.str()); \
    }                                                               \
  } while (0)
