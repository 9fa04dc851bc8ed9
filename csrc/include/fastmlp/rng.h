// Counter-based random numbers (Philox4x32-10, Salmon et al., SC'11 "Parallel random numbers: as easy
// as 1, 2, 3"). The value at counter c under key k is a pure function of (c, k): element i of a tensor
// gets counter i, so any thread (or a CUDA thread) computes it alone and the result never depends on how
// work is split. fastmlp.reference.philox4x32 is the NumPy twin; tests pin known-answer vectors.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define FASTMLP_HD __host__ __device__ __forceinline__
#else
#define FASTMLP_HD inline
#endif

namespace fastmlp {

struct Philox4 {
  std::uint32_t v[4];
};

// What a counter's third and fourth words say, so that streams of different uses never overlap.
enum RngDomain : std::uint32_t { kDomainInit = 1, kDomainShuffle = 2, kDomainDropout = 3 };

FASTMLP_HD Philox4 philox4x32(Philox4 ctr, std::uint32_t k0, std::uint32_t k1) {
  constexpr std::uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
  constexpr std::uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    std::uint64_t p0 = std::uint64_t(M0) * ctr.v[0];
    std::uint64_t p1 = std::uint64_t(M1) * ctr.v[2];
    std::uint32_t hi0 = std::uint32_t(p0 >> 32), lo0 = std::uint32_t(p0);
    std::uint32_t hi1 = std::uint32_t(p1 >> 32), lo1 = std::uint32_t(p1);
    ctr = Philox4{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
    k0 += W0;
    k1 += W1;
  }
  return ctr;
}

// The four words for element `index` of stream `stream` in `domain`, attempt `attempt` (rejection
// sampling draws again with attempt + 1), under a 64-bit seed.
FASTMLP_HD Philox4 philox_at(std::uint64_t seed, std::uint32_t domain, std::uint32_t stream, std::uint64_t index,
                             std::uint32_t attempt = 0) {
  Philox4 ctr{{std::uint32_t(index), std::uint32_t(index >> 32), stream, (domain << 24) | attempt}};
  return philox4x32(ctr, std::uint32_t(seed), std::uint32_t(seed >> 32));
}

// 53 random bits -> a double in [0, 1).
FASTMLP_HD double uniform01(std::uint32_t hi, std::uint32_t lo) {
  std::uint64_t bits = ((std::uint64_t(hi) << 32) | lo) >> 11;
  return double(bits) * (1.0 / 9007199254740992.0);
}

// Box-Muller on the two uniforms of one draw; 1 - u keeps the logarithm's argument in (0, 1].
FASTMLP_HD double standard_normal(const Philox4& r) {
  double u1 = 1.0 - uniform01(r.v[0], r.v[1]);
  double u2 = uniform01(r.v[2], r.v[3]);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace fastmlp
