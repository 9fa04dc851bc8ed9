// Weight initializers and the epoch shuffle, both drawn from Philox (rng.h) so that a seed means the
// same numbers on every thread count and on the GPU. The initializers' formulas are in init_draw.h.
#include <algorithm>
#include <utility>

#include "fastmlp/clones.h"
#include "fastmlp/init_draw.h"
#include "fastmlp/ops.h"
#include "fastmlp/rng.h"

namespace fastmlp {

template <class T>
void init_fill(InitSpec spec, index_t fan_in, index_t fan_out, std::uint64_t seed, std::uint32_t stream, T* out,
               index_t count) {
  const InitPlan plan = init_plan(spec, fan_in, fan_out);
  for (index_t i = 0; i < count; ++i) out[i] = T(init_value(plan, seed, stream, std::uint64_t(i)));
}

namespace {

// The 64 random bits of Fisher-Yates positions hi, hi - 1, ..., hi - count + 1 (a pure function of the
// position: Philox), in a loop of independent draws that each instruction set's clone vectorizes.
FASTMLP_CLONES void shuffle_draws(std::uint64_t seed, std::uint64_t epoch, index_t hi, index_t count,
                                  std::uint64_t* __restrict bits) {
  const std::uint32_t stream = std::uint32_t(epoch), attempt = std::uint32_t(epoch >> 32) & 0xFFFFFFu;
  for (index_t k = 0; k < count; ++k) {
    const Philox4 r = philox_at(seed, kDomainShuffle, stream, std::uint64_t(hi - k), attempt);
    bits[k] = (std::uint64_t(r.v[0]) << 32) | r.v[1];
  }
}

}  // namespace

void permutation(std::uint64_t seed, std::uint64_t epoch, std::int64_t* out, index_t n) {
  for (index_t i = 0; i < n; ++i) out[i] = i;
  // Fisher-Yates from the top: position i swaps with j uniform in [0, i]. 64 random bits modulo
  // (i + 1) has a bias below n / 2^64, far under anything measurable. Done in blocks: first the
  // block's draws (vectorized) and partners j, then its swaps, each prefetching the partner a few
  // swaps ahead (out[j] is a random place in an array that may be far larger than the cache).
  constexpr index_t kBlock = 256, kAhead = 8;
  std::uint64_t bits[kBlock];
  index_t partner[kBlock];
  for (index_t hi = n - 1; hi > 0; hi -= kBlock) {
    const index_t count = std::min(kBlock, hi);  // positions hi .. hi - count + 1, all > 0
    shuffle_draws(seed, epoch, hi, count, bits);
    for (index_t k = 0; k < count; ++k) partner[k] = index_t(bits[k] % std::uint64_t(hi - k + 1));
    for (index_t k = 0; k < count; ++k) {
      if (k + kAhead < count) __builtin_prefetch(out + partner[k + kAhead], 1);
      std::swap(out[hi - k], out[partner[k]]);
    }
  }
}

template void init_fill<float>(InitSpec, index_t, index_t, std::uint64_t, std::uint32_t, float*, index_t);
template void init_fill<double>(InitSpec, index_t, index_t, std::uint64_t, std::uint32_t, double*, index_t);

}  // namespace fastmlp
