// Each activation and its derivative as one scalar formula, shared by the CPU loops (cpu/activation.cpp,
// the GEMM's epilogue in cpu/gemm.cpp) and the CUDA kernels (cuda/activation.cu, cuda/gemm_kernels.cuh,
// cuda/fused_mlp.cu), so that both backends run the very same arithmetic (reference:
// fastmlp.reference.activation_*). The recipe for adding one is in docs/contributing.md.
#pragma once
#include <cmath>

#include "fastmlp/ops.h"
#include "fastmlp/rng.h"  // FASTMLP_HD
#include "fastmlp/vec_math.h"

namespace fastmlp {

// An ActivationSpec's parameters in the kernel's type, passed by value to device code.
template <class T>
struct ActivationParams {
  T slope, alpha, beta, threshold;
};

template <class T>
inline ActivationParams<T> activation_params(const ActivationSpec& s) {
  return {T(s.negative_slope), T(s.alpha), T(s.beta), T(s.threshold)};
}

// Whether the derivative must be computed from the pre-activation z: training then keeps z beside the
// layer's output. The others' derivatives are read off the output a = act(z), which training keeps
// anyway (sigmoid' = a(1 - a), tanh' = 1 - a^2, [a > 0] for the ReLU family): no extra memory.
FASTMLP_HD constexpr bool activation_needs_z(Activation k) {
  return k == Activation::gelu || k == Activation::gelu_tanh || k == Activation::silu || k == Activation::elu ||
         k == Activation::softplus || k == Activation::selu;
}

// SELU's constants (Klambauer et al. 2017), as torch.nn.SELU.
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
// GELU's tanh form (Hendrycks & Gimpel 2016): 0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3))).
constexpr double kSqrt2OverPi = 0.79788456080286535587989211986876;
constexpr double kGeluCubic = 0.044715;
constexpr double kSqrtHalf = 0.70710678118654752440084436210485;
constexpr double kInvSqrt2Pi = 0.39894228040143267793994605993438;  // the normal density's 1/sqrt(2 pi)

// act(z) for a kind known at compile time (the CPU's loops are instantiated per kind, so the switch
// is taken once per call, not per element).
template <Activation K, class T>
FASTMLP_HD T activation_value(T z, const ActivationParams<T>& p) {
  using fm::erf;
  using fm::exp;
  using fm::expm1;
  using fm::log1p;
  using fm::tanh;
  if constexpr (K == Activation::step) {
    return z >= T(0) ? T(1) : T(0);
  } else if constexpr (K == Activation::sigmoid) {
    return fm::logistic(z);
  } else if constexpr (K == Activation::tanh) {
    return tanh(z);
  } else if constexpr (K == Activation::relu) {
    return z > T(0) ? z : T(0);
  } else if constexpr (K == Activation::leaky_relu) {
    return z > T(0) ? z : p.slope * z;
  } else if constexpr (K == Activation::gelu) {  // z Phi(z), Phi the standard normal's CDF
    return T(0.5) * z * (T(1) + erf(z * T(kSqrtHalf)));
  } else if constexpr (K == Activation::gelu_tanh) {
    return T(0.5) * z * (T(1) + tanh(T(kSqrt2OverPi) * (z + T(kGeluCubic) * z * z * z)));
  } else if constexpr (K == Activation::silu) {  // z sigma(z) (Elfwing et al. 2018; "swish")
    return z * fm::logistic(z);
  } else if constexpr (K == Activation::elu) {  // Clevert et al. 2016
    return z > T(0) ? z : p.alpha * expm1(z);
  } else if constexpr (K == Activation::softplus) {
    // log(1 + e^(beta z)) / beta, linear past the threshold as torch.nn.Softplus; written as
    // max(u, 0) + log1p(e^-|u|) so that a large threshold never overflows exp.
    // Both sides computed, then selected: no branch, so a loop over it vectorizes.
    const T u = p.beta * z;
    const T soft = ((u > T(0) ? u : T(0)) + log1p(exp(-(u > T(0) ? u : -u)))) / p.beta;
    return u > p.threshold ? z : soft;
  } else if constexpr (K == Activation::selu) {
    return T(kSeluScale) * (z > T(0) ? z : T(kSeluAlpha) * expm1(z));
  } else {
    return z;  // identity
  }
}

// g * act'(z) with act'(z) read off the output a = act(z): sigmoid a(1 - a), tanh 1 - a^2, relu [a > 0],
// leaky_relu [a > 0] or slope (slope >= 0, so a > 0 exactly when z > 0); the unit step's derivative is
// taken as 0 everywhere. Selections, not multiplications by 0 or 1, so a NaN in g stays where it was.
// Only for kinds with !activation_needs_z(K).
template <Activation K, class T>
FASTMLP_HD T activation_grad_from_output(T a, T g, const ActivationParams<T>& p) {
  static_assert(!activation_needs_z(K), "this activation's derivative needs z: activation_grad_from_input");
  if constexpr (K == Activation::step) {
    return T(0);
  } else if constexpr (K == Activation::sigmoid) {
    return g * (a * (T(1) - a));
  } else if constexpr (K == Activation::tanh) {
    return g * (T(1) - a * a);
  } else if constexpr (K == Activation::relu) {
    return a > T(0) ? g : T(0);
  } else if constexpr (K == Activation::leaky_relu) {
    return a > T(0) ? g : p.slope * g;
  } else {
    return g;  // identity
  }
}

// g * act'(z) from z itself. The kinds whose derivative can be read off the output go through that form
// (the value first), so a derivative from z and one from the output give the same bits.
template <Activation K, class T>
FASTMLP_HD T activation_grad_from_input(T z, T g, const ActivationParams<T>& p) {
  using fm::erf;
  using fm::exp;
  using fm::tanh;
  if constexpr (!activation_needs_z(K)) {
    return activation_grad_from_output<K>(activation_value<K>(z, p), g, p);
  } else if constexpr (K == Activation::gelu) {  // Phi(z) + z phi(z)
    const T cdf = T(0.5) * (T(1) + erf(z * T(kSqrtHalf)));
    return g * (cdf + z * (T(kInvSqrt2Pi) * exp(T(-0.5) * z * z)));
  } else if constexpr (K == Activation::gelu_tanh) {
    // u = c (z + k z^3), t = tanh u: d/dz = (1 + t) / 2 + z (1 - t^2) c (1 + 3 k z^2) / 2.
    const T z2 = z * z;
    const T t = tanh(T(kSqrt2OverPi) * (z + T(kGeluCubic) * z2 * z));
    return g * (T(0.5) * (T(1) + t) + T(0.5) * z * (T(1) - t * t) * T(kSqrt2OverPi) * (T(1) + T(3 * kGeluCubic) * z2));
  } else if constexpr (K == Activation::silu) {  // s (1 + z (1 - s)), s = sigma(z)
    const T s = fm::logistic(z);
    return g * (s * (T(1) + z * (T(1) - s)));
  } else if constexpr (K == Activation::elu) {
    return z > T(0) ? g : g * (p.alpha * exp(z));
  } else if constexpr (K == Activation::softplus) {  // sigma(beta z), 1 past the threshold
    return p.beta * z > p.threshold ? g : g * fm::logistic(p.beta * z);
  } else {  // selu
    return z > T(0) ? g * T(kSeluScale) : g * (T(kSeluScale * kSeluAlpha) * exp(z));
  }
}

// g * act'(z) from what training keeps of the layer: z where the derivative needs it, else a = act(z).
template <Activation K, class T>
FASTMLP_HD T activation_grad_saved(T saved, T g, const ActivationParams<T>& p) {
  if constexpr (activation_needs_z(K))
    return activation_grad_from_input<K>(saved, g, p);
  else
    return activation_grad_from_output<K>(saved, g, p);
}

// Calls f(ActivationTag<kind>{}), the kind made a compile-time constant: the one switch over
// activations that every loop and kernel goes through.
template <Activation K>
struct ActivationTag {
  static constexpr Activation kind = K;
};

template <class F>
FASTMLP_HD auto dispatch_activation(Activation kind, F&& f) {
  switch (kind) {
    case Activation::step:
      return f(ActivationTag<Activation::step>{});
    case Activation::sigmoid:
      return f(ActivationTag<Activation::sigmoid>{});
    case Activation::tanh:
      return f(ActivationTag<Activation::tanh>{});
    case Activation::relu:
      return f(ActivationTag<Activation::relu>{});
    case Activation::leaky_relu:
      return f(ActivationTag<Activation::leaky_relu>{});
    case Activation::gelu:
      return f(ActivationTag<Activation::gelu>{});
    case Activation::gelu_tanh:
      return f(ActivationTag<Activation::gelu_tanh>{});
    case Activation::silu:
      return f(ActivationTag<Activation::silu>{});
    case Activation::elu:
      return f(ActivationTag<Activation::elu>{});
    case Activation::softplus:
      return f(ActivationTag<Activation::softplus>{});
    case Activation::selu:
      return f(ActivationTag<Activation::selu>{});
    case Activation::identity:
      break;
  }
  return f(ActivationTag<Activation::identity>{});
}

// Runtime-kind forms for code that handles one element at a time (the CUDA kernels).
template <class T>
FASTMLP_HD T activation_value(Activation kind, T z, const ActivationParams<T>& p) {
  return dispatch_activation(kind, [&](auto tag) { return activation_value<decltype(tag)::kind>(z, p); });
}

template <class T>
FASTMLP_HD T activation_grad_from_input(Activation kind, T z, T g, const ActivationParams<T>& p) {
  return dispatch_activation(kind, [&](auto tag) { return activation_grad_from_input<decltype(tag)::kind>(z, g, p); });
}

template <class T>
FASTMLP_HD T activation_grad_saved(Activation kind, T saved, T g, const ActivationParams<T>& p) {
  return dispatch_activation(kind, [&](auto tag) { return activation_grad_saved<decltype(tag)::kind>(saved, g, p); });
}

}  // namespace fastmlp
