// The forward activation over a range as inline code, shared by activation.cpp (activation_forward) and
// by the GEMM's fused epilogue (gemm_bias_act), so that a fused layer and a separate pass give the same
// bits: both translation units are compiled with the same flags (no FMA contraction). The formulas
// themselves are in fastmlp/activation_math.h, shared with the CUDA kernels.
#pragma once
#include "fastmlp/activation_math.h"
#include "fastmlp/ops.h"

namespace fastmlp {
namespace detail {

// a[i] = act(z[i]) for i < count; a may be z. One loop per kind: the switch is taken once per call.
template <class T>
inline void activate(ActivationSpec act, const T* z, T* a, index_t count) {
  const ActivationParams<T> p = activation_params<T>(act);
  dispatch_activation(act.kind, [&](auto tag) {
    constexpr Activation K = decltype(tag)::kind;
    if (K == Activation::identity && a == z) return;
    for (index_t i = 0; i < count; ++i) a[i] = activation_value<K>(z[i], p);
  });
}

}  // namespace detail
}  // namespace fastmlp
