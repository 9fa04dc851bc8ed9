// One initializer element as a pure function of (seed, stream, index), shared by the CPU loop
// (cpu/init.cpp) and the CUDA kernel (cuda/init.cu) so that both backends draw from the same Philox
// stream with the same arithmetic. Formulas (fan_in = in, fan_out = out):
//   LeCun  (LeCun et al. 1998, "Efficient BackProp"):   U(+-sqrt(3/fan_in)),  N(0, 1/fan_in)
//   Xavier (Glorot & Bengio 2010):          U(+-sqrt(6/(fan_in+fan_out))),  N(0, 2/(fan_in+fan_out))
//   He     (He et al. 2015, "Delving deep into rectifiers"): U(+-sqrt(6/fan_in)), N(0, 2/fan_in)
// (second argument of N is the variance). Truncated normals redraw outside +-2 sigma; the fan-scaled
// ones then divide sigma by 0.87962566103423978, the std of a unit normal truncated at +-2, so the
// variance still matches the formula (as Keras' VarianceScaling does).
#pragma once
#include <cmath>
#include <cstdint>

#include "fastmlp/ops.h"
#include "fastmlp/rng.h"

namespace fastmlp {

struct InitPlan {
  bool constant;  // every element is `a`
  bool uniform;   // else normal
  double a, b;    // uniform: [a, b); normal: mean a, std b
  bool truncated;
};

// Products and sums rounded on their own: the device compiler would otherwise fuse a + b * c into
// one FMA, and the CPU does not, so the two backends would differ in the last bit.
FASTMLP_HD double mul_rn(double x, double y) {
#ifdef __CUDA_ARCH__
  return __dmul_rn(x, y);
#else
  return x * y;
#endif
}
FASTMLP_HD double add_rn(double x, double y) {
#ifdef __CUDA_ARCH__
  return __dadd_rn(x, y);
#else
  return x + y;
#endif
}

inline InitPlan init_plan(const InitSpec& s, index_t fan_in, index_t fan_out) {
  constexpr double kTruncatedStd = 0.87962566103423978;
  const double fi = double(fan_in), fo = double(fan_out);
  const double rescale = s.truncated ? 1.0 / kTruncatedStd : 1.0;
  switch (s.kind) {
    case Init::zeros:
      return {true, false, 0.0, 0.0, false};
    case Init::ones:
      return {true, false, 1.0, 0.0, false};
    case Init::constant:
      return {true, false, s.value, 0.0, false};
    case Init::uniform:
      return {false, true, s.low, s.high, false};
    case Init::normal:
      return {false, false, s.mean, s.std, s.truncated};
    case Init::lecun_uniform: {
      double l = std::sqrt(3.0 / fi);
      return {false, true, -l, l, false};
    }
    case Init::lecun_normal:
      return {false, false, 0.0, std::sqrt(1.0 / fi) * rescale, s.truncated};
    case Init::xavier_uniform: {
      double l = std::sqrt(6.0 / (fi + fo));
      return {false, true, -l, l, false};
    }
    case Init::xavier_normal:
      return {false, false, 0.0, std::sqrt(2.0 / (fi + fo)) * rescale, s.truncated};
    case Init::he_uniform: {
      double l = std::sqrt(6.0 / fi);
      return {false, true, -l, l, false};
    }
    case Init::he_normal:
      return {false, false, 0.0, std::sqrt(2.0 / fi) * rescale, s.truncated};
  }
  return {true, false, 0.0, 0.0, false};
}

// Element i of the tensor drawn from stream `stream` under `seed`.
FASTMLP_HD double init_value(const InitPlan& p, std::uint64_t seed, std::uint32_t stream, std::uint64_t i) {
  if (p.constant) return p.a;
  Philox4 r = philox_at(seed, kDomainInit, stream, i);
  if (p.uniform) return add_rn(p.a, mul_rn(p.b - p.a, uniform01(r.v[0], r.v[1])));
  double z = standard_normal(r);
  // P(|z| > 2) = 4.6%: a handful of redraws at most; the attempt number keeps streams disjoint.
  for (std::uint32_t attempt = 1; p.truncated && std::fabs(z) > 2.0; ++attempt)
    z = standard_normal(philox_at(seed, kDomainInit, stream, i, attempt));
  return add_rn(p.a, mul_rn(p.b, z));
}

}  // namespace fastmlp
