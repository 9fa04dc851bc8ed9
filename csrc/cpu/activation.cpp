// Elementwise activations and their derivatives (reference: fastmlp.reference.activation_*).
// One switch per call, a tight loop per case: the branch is taken once, not per element. The formulas
// are fastmlp/activation_math.h's, shared with the CUDA kernels.
#include "fastmlp/activation_math.h"
#include "fastmlp/clones.h"
#include "fastmlp/ops.h"

namespace fastmlp {

// One loop per kind, each compiled per instruction set (FASTMLP_CLONES): fastmlp/vec_math.h's
// functions become SIMD code in each clone. The clones are these plain functions, not the dispatching
// lambdas below: a lambda's body is a function of its own, compiled for the baseline only.
template <Activation K, class T>
FASTMLP_CLONES void forward_loop(const T* z, T* a, index_t count, ActivationParams<T> p) {
  for (index_t i = 0; i < count; ++i) a[i] = activation_value<K>(z[i], p);
}

template <Activation K, class T>
FASTMLP_CLONES void backward_loop(const T* z, const T* grad_a, T* grad_z, index_t count, ActivationParams<T> p) {
  for (index_t i = 0; i < count; ++i) grad_z[i] = activation_grad_from_input<K>(z[i], grad_a[i], p);
}

template <Activation K, class T>
FASTMLP_CLONES void backward_saved_loop(const T* saved, T* grad, index_t count, ActivationParams<T> p) {
  for (index_t i = 0; i < count; ++i) grad[i] = activation_grad_saved<K>(saved[i], grad[i], p);
}

// a[i] = act(z[i]) for i < count; a may be z. Also the GEMM's epilogue for the activations its store
// does not fuse (gemm.cpp calls it row by row), so a fused layer and a separate pass give the same bits.
template <class T>
void activation_forward(ActivationSpec act, const T* z, T* a, index_t count) {
  const ActivationParams<T> p = activation_params<T>(act);
  dispatch_activation(act.kind, [&](auto tag) {
    constexpr Activation K = decltype(tag)::kind;
    if (K == Activation::identity && a == z) return;
    forward_loop<K, T>(z, a, count, p);
  });
}

// grad_z = grad_a * act'(z). Where the derivative can be read off act(z), it is (as in training: the
// same values as from z, a > 0 exactly when z > 0 for the ReLU family).
template <class T>
void activation_backward(ActivationSpec act, const T* z, const T* grad_a, T* grad_z, index_t count) {
  const ActivationParams<T> p = activation_params<T>(act);
  dispatch_activation(act.kind, [&](auto tag) { backward_loop<decltype(tag)::kind, T>(z, grad_a, grad_z, count, p); });
}

template <class T>
void activation_backward_saved(ActivationSpec act, const T* saved, T* grad, index_t count) {
  const ActivationParams<T> p = activation_params<T>(act);
  dispatch_activation(act.kind, [&](auto tag) {
    constexpr Activation K = decltype(tag)::kind;
    if (K == Activation::identity) return;
    backward_saved_loop<K, T>(saved, grad, count, p);
  });
}

template <class T>
FASTMLP_CLONES void vector_function(VectorFunction f, const T* x, T* y, index_t count) {
  switch (f) {
    case VectorFunction::exp:
      for (index_t i = 0; i < count; ++i) y[i] = vm::exp(x[i]);
      break;
    case VectorFunction::expm1:
      for (index_t i = 0; i < count; ++i) y[i] = vm::expm1(x[i]);
      break;
    case VectorFunction::log1p:
      for (index_t i = 0; i < count; ++i) y[i] = vm::log1p(x[i]);
      break;
    case VectorFunction::tanh:
      for (index_t i = 0; i < count; ++i) y[i] = vm::tanh(x[i]);
      break;
    case VectorFunction::logistic:
      for (index_t i = 0; i < count; ++i) y[i] = vm::logistic(x[i]);
      break;
    case VectorFunction::erf:
      for (index_t i = 0; i < count; ++i) y[i] = vm::erf(x[i]);
      break;
  }
}

#define FASTMLP_INSTANTIATE(T)                                                           \
  template void activation_forward<T>(ActivationSpec, const T*, T*, index_t);            \
  template void activation_backward<T>(ActivationSpec, const T*, const T*, T*, index_t); \
  template void activation_backward_saved<T>(ActivationSpec, const T*, T*, index_t);     \
  template void vector_function<T>(VectorFunction, const T*, T*, index_t);
FASTMLP_INSTANTIATE(float)
FASTMLP_INSTANTIATE(double)
#undef FASTMLP_INSTANTIATE

}  // namespace fastmlp
