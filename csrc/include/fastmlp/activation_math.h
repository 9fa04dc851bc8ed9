// Each activation and its derivative as one scalar formula, shared by the CPU loops (cpu/activation.cpp,
// the GEMM's epilogue in cpu/gemm.cpp) and the CUDA kernels (cuda/activation.cu, cuda/gemm_kernels.cuh),
// so that both backends run the very same arithmetic (reference: fastmlp.reference.activation_*).
// Adding an activation: its enum value in ops.h, its name in bindings/names.h, a case in each of the
// two functions below, its twin in reference.py and its test.
#pragma once
#include <cmath>

#include "fastmlp/ops.h"
#include "fastmlp/rng.h"  // FASTMLP_HD

namespace fastmlp {

// act(z) for a kind known at compile time (the CPU's loops are instantiated per kind, so the switch
// is taken once per call, not per element).
template <Activation K, class T>
FASTMLP_HD T activation_value(T z, T slope) {
  using std::exp;  // the T overload: float32 stays float32 on the host too
  using std::tanh;
  if constexpr (K == Activation::step) {
    return z >= T(0) ? T(1) : T(0);
  } else if constexpr (K == Activation::sigmoid) {
    // Split by sign so exp never overflows: for z < 0, e^z / (1 + e^z).
    if (z >= T(0)) return T(1) / (T(1) + exp(-z));
    const T e = exp(z);
    return e / (T(1) + e);
  } else if constexpr (K == Activation::tanh) {
    return tanh(z);
  } else if constexpr (K == Activation::relu) {
    return z > T(0) ? z : T(0);
  } else if constexpr (K == Activation::leaky_relu) {
    return z > T(0) ? z : slope * z;
  } else {
    return z;  // identity
  }
}

// g * act'(z) with act'(z) read off the output a = act(z): sigmoid a(1 - a), tanh 1 - a^2, relu [a > 0],
// leaky_relu [a > 0] or slope (slope >= 0, so a > 0 exactly when z > 0); the unit step's derivative is
// taken as 0 everywhere. Selections, not multiplications by 0 or 1, so a NaN in g stays where it was.
template <Activation K, class T>
FASTMLP_HD T activation_grad_from_output(T a, T g, T slope) {
  if constexpr (K == Activation::step) {
    return T(0);
  } else if constexpr (K == Activation::sigmoid) {
    return g * (a * (T(1) - a));
  } else if constexpr (K == Activation::tanh) {
    return g * (T(1) - a * a);
  } else if constexpr (K == Activation::relu) {
    return a > T(0) ? g : T(0);
  } else if constexpr (K == Activation::leaky_relu) {
    return a > T(0) ? g : slope * g;
  } else {
    return g;  // identity
  }
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
    case Activation::step: return f(ActivationTag<Activation::step>{});
    case Activation::sigmoid: return f(ActivationTag<Activation::sigmoid>{});
    case Activation::tanh: return f(ActivationTag<Activation::tanh>{});
    case Activation::relu: return f(ActivationTag<Activation::relu>{});
    case Activation::leaky_relu: return f(ActivationTag<Activation::leaky_relu>{});
    case Activation::identity: break;
  }
  return f(ActivationTag<Activation::identity>{});
}

// Runtime-kind forms for code that handles one element at a time (the CUDA kernels).
template <class T>
FASTMLP_HD T activation_value(Activation kind, T z, T slope) {
  return dispatch_activation(kind, [&](auto tag) { return activation_value<decltype(tag)::kind>(z, slope); });
}

template <class T>
FASTMLP_HD T activation_grad_from_output(Activation kind, T a, T g, T slope) {
  return dispatch_activation(kind,
                             [&](auto tag) { return activation_grad_from_output<decltype(tag)::kind>(a, g, slope); });
}

}  // namespace fastmlp
