// Elementwise activations and their derivatives (reference: fastmlp.reference.activation_*).
// One switch per call, a tight loop per case: the branch is taken once, not per element. The formulas
// are fastmlp/activation_math.h's, shared with the CUDA kernels.
#include "activation_inline.h"
#include "fastmlp/clones.h"
#include "fastmlp/ops.h"

namespace fastmlp {

template <class T>
void activation_forward(ActivationSpec act, const T* z, T* a, index_t count) {
  detail::activate(act, z, a, count);
}

// grad_z = grad_a * act'(z). Where the derivative can be read off act(z), it is (as in training: the
// same values as from z, a > 0 exactly when z > 0 for the ReLU family).
template <class T>
FASTMLP_CLONES void activation_backward(ActivationSpec act, const T* z, const T* grad_a, T* grad_z, index_t count) {
  const ActivationParams<T> p = activation_params<T>(act);
  dispatch_activation(act.kind, [&](auto tag) {
    constexpr Activation K = decltype(tag)::kind;
    for (index_t i = 0; i < count; ++i) grad_z[i] = activation_grad_from_input<K>(z[i], grad_a[i], p);
  });
}

template <class T>
FASTMLP_CLONES void activation_backward_saved(ActivationSpec act, const T* saved, T* grad, index_t count) {
  const ActivationParams<T> p = activation_params<T>(act);
  dispatch_activation(act.kind, [&](auto tag) {
    constexpr Activation K = decltype(tag)::kind;
    if (K == Activation::identity) return;
    for (index_t i = 0; i < count; ++i) grad[i] = activation_grad_saved<K>(saved[i], grad[i], p);
  });
}

#define FASTMLP_INSTANTIATE(T)                                                              \
  template void activation_forward<T>(ActivationSpec, const T*, T*, index_t);               \
  template void activation_backward<T>(ActivationSpec, const T*, const T*, T*, index_t);    \
  template void activation_backward_saved<T>(ActivationSpec, const T*, T*, index_t);        
FASTMLP_INSTANTIATE(float)
FASTMLP_INSTANTIATE(double)
#undef FASTMLP_INSTANTIATE

}  // namespace fastmlp
