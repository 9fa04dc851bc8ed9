// Weight initializers and the epoch shuffle, both drawn from Philox (rng.h) so that a seed means the
// same numbers on every thread count and on the GPU. The initializers' formulas are in init_draw.h.
#include <utility>

#include "fastmlp/init_draw.h"
#include "fastmlp/ops.h"
#include "fastmlp/rng.h"

namespace fastmlp {

template <class T>
void init_fill(InitSpec spec, index_t fan_in, index_t fan_out, std::uint64_t seed, std::uint32_t stream,
               T* out, index_t count) {
  const InitPlan plan = init_plan(spec, fan_in, fan_out);
  for (index_t i = 0; i < count; ++i) out[i] = T(init_value(plan, seed, stream, std::uint64_t(i)));
}

void permutation(std::uint64_t seed, std::uint64_t epoch, std::int64_t* out, index_t n) {
  for (index_t i = 0; i < n; ++i) out[i] = i;
  // Fisher-Yates from the top: position i swaps with j uniform in [0, i]. 64 random bits modulo
  // (i + 1) has a bias below n / 2^64, far under anything measurable.
  for (index_t i = n - 1; i > 0; --i) {
    Philox4 r = philox_at(seed, kDomainShuffle, std::uint32_t(epoch), std::uint64_t(i),
                          std::uint32_t(epoch >> 32) & 0xFFFFFFu);
    std::uint64_t bits = (std::uint64_t(r.v[0]) << 32) | r.v[1];
    index_t j = index_t(bits % std::uint64_t(i + 1));
    std::swap(out[i], out[j]);
  }
}

template void init_fill<float>(InitSpec, index_t, index_t, std::uint64_t, std::uint32_t, float*, index_t);
template void init_fill<double>(InitSpec, index_t, index_t, std::uint64_t, std::uint32_t, double*,
                                index_t);

}  // namespace fastmlp
