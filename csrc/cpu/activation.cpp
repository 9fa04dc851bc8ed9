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

// grad_z = grad_a * act'(z), with act'(z) read off act(z) as in training (the same values as from z:
// a > 0 exactly when z > 0 for the ReLU family).
template <class T>
FASTMLP_CLONES void activation_backward(ActivationSpec act, const T* z, const T* grad_a, T* grad_z, index_t count) {
  const T slope = T(act.negative_slope);
  dispatch_activation(act.kind, [&](auto tag) {
    constexpr Activation K = decltype(tag)::kind;
    for (index_t i = 0; i < count; ++i)
      grad_z[i] = activation_grad_from_output<K>(activation_value<K>(z[i], slope), grad_a[i], slope);
  });
}

template <class T>
FASTMLP_CLONES void activation_backward_from_output(ActivationSpec act, const T* a, T* grad, index_t count) {
  const T slope = T(act.negative_slope);
  dispatch_activation(act.kind, [&](auto tag) {
    constexpr Activation K = decltype(tag)::kind;
    if (K == Activation::identity) return;
    for (index_t i = 0; i < count; ++i) grad[i] = activation_grad_from_output<K>(a[i], grad[i], slope);
  });
}

#define FASTMLP_INSTANTIATE(T)                                                              \
  template void activation_forward<T>(ActivationSpec, const T*, T*, index_t);               \
  template void activation_backward<T>(ActivationSpec, const T*, const T*, T*, index_t);    \
  template void activation_backward_from_output<T>(ActivationSpec, const T*, T*, index_t);
FASTMLP_INSTANTIATE(float)
FASTMLP_INSTANTIATE(double)
#undef FASTMLP_INSTANTIATE

}  // namespace fastmlp
