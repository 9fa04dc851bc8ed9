// Whether every element of an array is finite: the divergence guard's look at the weights and the
// optimizer state after each epoch. A test of the exponent bits (all ones: Inf or NaN), or'ed over the
// array, which each instruction set's clone vectorizes (a maximum over 64-bit magnitudes would not:
// x86-64's baseline and AVX2 have no 64-bit unsigned maximum).
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "fastmlp/clones.h"
#include "fastmlp/ops.h"

namespace fastmlp {

template <class T>
FASTMLP_CLONES bool all_finite(const T* p, index_t n) {
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  constexpr Bits kExponent = sizeof(T) == 4 ? Bits(0x7F800000u) : Bits(0x7FF0000000000000ull);
  Bits bad = 0;
  for (index_t i = 0; i < n; ++i) {
    Bits b;
    std::memcpy(&b, p + i, sizeof(T));
    bad |= Bits((b & kExponent) == kExponent);
  }
  return bad == 0;
}

template bool all_finite<float>(const float*, index_t);
template bool all_finite<double>(const double*, index_t);

}  // namespace fastmlp
