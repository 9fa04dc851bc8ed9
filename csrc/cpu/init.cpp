// Weight initializers and the epoch shuffle, both drawn from Philox (rng.h) so that a seed means the
// same numbers on every thread count and on the GPU. Formulas (fan_in = in, fan_out = out):
//   LeCun  (LeCun et al. 1998, "Efficient BackProp"):   U(+-sqrt(3/fan_in)),  N(0, 1/fan_in)
//   Xavier (Glorot & Bengio 2010):          U(+-sqrt(6/(fan_in+fan_out))),  N(0, 2/(fan_in+fan_out))
//   He     (He et al. 2015, "Delving deep into rectifiers"): U(+-sqrt(6/fan_in)), N(0, 2/fan_in)
// (second argument of N is the variance). Truncated normals redraw outside +-2 sigma; the fan-scaled
// ones then divide sigma by 0.87962566103423978, the std of a unit normal truncated at +-2, so the
// variance still matches the formula (as Keras' VarianceScaling does).
#include <cmath>

#include "fastmlp/ops.h"
#include "fastmlp/rng.h"

namespace fastmlp {
namespace {

constexpr double kTruncatedStd = 0.87962566103423978;

struct Plan {
  bool uniform;       // else normal
  double a, b;        // uniform: [a, b); normal: mean a, std b
  bool truncated;
};

Plan plan_for(const InitSpec& s, index_t fan_in, index_t fan_out) {
  const double fi = double(fan_in), fo = double(fan_out);
  const double rescale = s.truncated ? 1.0 / kTruncatedStd : 1.0;
  switch (s.kind) {
    case Init::uniform: return {true, s.low, s.high, false};
    case Init::normal: return {false, s.mean, s.std, s.truncated};
    case Init::lecun_uniform: { double l = std::sqrt(3.0 / fi); return {true, -l, l, false}; }
    case Init::lecun_normal: return {false, 0.0, std::sqrt(1.0 / fi) * rescale, s.truncated};
    case Init::xavier_uniform: { double l = std::sqrt(6.0 / (fi + fo)); return {true, -l, l, false}; }
    case Init::xavier_normal: return {false, 0.0, std::sqrt(2.0 / (fi + fo)) * rescale, s.truncated};
    case Init::he_uniform: { double l = std::sqrt(6.0 / fi); return {true, -l, l, false}; }
    case Init::he_normal: return {false, 0.0, std::sqrt(2.0 / fi) * rescale, s.truncated};
    default: return {true, 0.0, 0.0, false};  // constants are handled before
  }
}

}  // namespace

template <class T>
void init_fill(InitSpec spec, index_t fan_in, index_t fan_out, std::uint64_t seed, std::uint32_t stream,
               T* out, index_t count) {
  if (spec.kind == Init::zeros || spec.kind == Init::ones || spec.kind == Init::constant) {
    const T v = T(spec.kind == Init::zeros ? 0.0 : spec.kind == Init::ones ? 1.0 : spec.value);
    for (index_t i = 0; i < count; ++i) out[i] = v;
    return;
  }
  const Plan p = plan_for(spec, fan_in, fan_out);
  for (index_t i = 0; i < count; ++i) {
    Philox4 r = philox_at(seed, kDomainInit, stream, std::uint64_t(i));
    double v;
    if (p.uniform) {
      v = p.a + (p.b - p.a) * uniform01(r.v[0], r.v[1]);
    } else {
      double z = standard_normal(r);
      // P(|z| > 2) = 4.6%: a handful of redraws at most; the attempt number keeps streams disjoint.
      for (std::uint32_t attempt = 1; p.truncated && std::fabs(z) > 2.0; ++attempt)
        z = standard_normal(philox_at(seed, kDomainInit, stream, std::uint64_t(i), attempt));
      v = p.a + p.b * z;
    }
    out[i] = T(v);
  }
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
