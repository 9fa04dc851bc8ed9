// The activations and their derivatives as device functions, shared by the GEMM epilogue (gemm.cu)
// and the elementwise kernels (activation.cu). Same formulas as cpu/activation.cpp.
#pragma once
#include <cuda_runtime.h>

#include "fastmlp/ops.h"

namespace fastmlp {
namespace cuda {

template <class T>
__device__ __forceinline__ T activate(Activation kind, T z, T slope) {
  switch (kind) {
    case Activation::identity: return z;
    case Activation::step: return z >= T(0) ? T(1) : T(0);
    case Activation::sigmoid: return z >= T(0) ? T(1) / (T(1) + exp(-z)) : exp(z) / (T(1) + exp(z));
    case Activation::tanh: return tanh(z);
    case Activation::relu: return z > T(0) ? z : T(0);
    case Activation::leaky_relu: return z > T(0) ? z : slope * z;
  }
  return z;
}

// g * act'(z) with act'(z) read off the output a = act(z): sigmoid a(1 - a), tanh 1 - a^2, relu
// [a > 0], leaky_relu [a > 0] or slope (slope >= 0, so a > 0 exactly when z > 0); the unit step's
// derivative is 0. Selections, not multiplications by 0 or 1, as on the CPU.
template <class T>
__device__ __forceinline__ T apply_derivative(Activation kind, T a, T g, T slope) {
  switch (kind) {
    case Activation::identity: return g;
    case Activation::step: return T(0);
    case Activation::sigmoid: return g * (a * (T(1) - a));
    case Activation::tanh: return g * (T(1) - a * a);
    case Activation::relu: return a > T(0) ? g : T(0);
    case Activation::leaky_relu: return a > T(0) ? g : slope * g;
  }
  return g;
}

}  // namespace cuda
}  // namespace fastmlp
