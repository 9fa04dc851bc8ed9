// The forward activations as inline code, shared by activation.cpp (activation_forward) and by the
// GEMM's fused epilogue (gemm_bias_act), so that a fused layer and a separate pass give the same bits:
// both translation units are compiled with the same flags (no FMA contraction).
#pragma once
#include <cmath>

#include "fastmlp/ops.h"

namespace fastmlp {
namespace detail {

template <class T>
inline T sigmoid(T z) {
  // Split by sign so exp never overflows: for z < 0, e^z / (1 + e^z).
  if (z >= T(0)) return T(1) / (T(1) + std::exp(-z));
  T e = std::exp(z);
  return e / (T(1) + e);
}

// a[i] = act(z[i]) for i < count; a may be z.
template <class T>
inline void activate(ActivationSpec act, const T* z, T* a, index_t count) {
  const T slope = T(act.negative_slope);
  switch (act.kind) {
    case Activation::identity:
      if (a != z)
        for (index_t i = 0; i < count; ++i) a[i] = z[i];
      break;
    case Activation::step:
      for (index_t i = 0; i < count; ++i) a[i] = z[i] >= T(0) ? T(1) : T(0);
      break;
    case Activation::sigmoid:
      for (index_t i = 0; i < count; ++i) a[i] = sigmoid(z[i]);
      break;
    case Activation::tanh:
      for (index_t i = 0; i < count; ++i) a[i] = std::tanh(z[i]);
      break;
    case Activation::relu:
      for (index_t i = 0; i < count; ++i) a[i] = z[i] > T(0) ? z[i] : T(0);
      break;
    case Activation::leaky_relu:
      for (index_t i = 0; i < count; ++i) a[i] = z[i] > T(0) ? z[i] : slope * z[i];
      break;
  }
}

}  // namespace detail
}  // namespace fastmlp
