// Byte counts that cannot wrap around: the plans of a fit's memory multiply sizes a user chose, and a
// product past 2^64 would otherwise look like a small, harmless number.
#pragma once
#include <cstdint>
#include <stdexcept>

namespace fastmlp {

// An unsigned 64-bit count whose + and * throw std::overflow_error instead of wrapping.
struct Count {
  std::uint64_t v = 0;

  Count() = default;
  Count(std::uint64_t value) : v(value) {}  // NOLINT: a plain number is a count

  friend Count operator+(Count a, Count b) {
    std::uint64_t r;
    if (__builtin_add_overflow(a.v, b.v, &r)) overflow();
    return Count(r);
  }
  friend Count operator*(Count a, Count b) {
    std::uint64_t r;
    if (__builtin_mul_overflow(a.v, b.v, &r)) overflow();
    return Count(r);
  }
  [[noreturn]] static void overflow() {
    throw std::overflow_error("a network and data set this large cannot be counted in 64-bit bytes");
  }
};

}  // namespace fastmlp
