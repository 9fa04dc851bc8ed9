// Elementwise activations and their derivatives (reference: fastmlp.reference.activation_*).
// One switch per call, a tight loop per case: the branch is taken once, not per element.
#include <cmath>

#include "activation_inline.h"
#include "fastmlp/ops.h"

namespace fastmlp {

template <class T>
void activation_forward(ActivationSpec act, const T* z, T* a, index_t count) {
  detail::activate(act, z, a, count);
}

template <class T>
void activation_backward(ActivationSpec act, const T* z, const T* grad_a, T* grad_z, index_t count) {
  const T slope = T(act.negative_slope);
  switch (act.kind) {
    case Activation::identity:
      for (index_t i = 0; i < count; ++i) grad_z[i] = grad_a[i];
      break;
    case Activation::step:
      for (index_t i = 0; i < count; ++i) grad_z[i] = T(0);
      break;
    case Activation::sigmoid:
      for (index_t i = 0; i < count; ++i) {
        T s = detail::sigmoid(z[i]);
        grad_z[i] = grad_a[i] * (s * (T(1) - s));  // as activation_backward_from_output
      }
      break;
    case Activation::tanh:
      for (index_t i = 0; i < count; ++i) {
        T t = std::tanh(z[i]);
        grad_z[i] = grad_a[i] * (T(1) - t * t);
      }
      break;
    case Activation::relu:
      for (index_t i = 0; i < count; ++i) grad_z[i] = z[i] > T(0) ? grad_a[i] : T(0);
      break;
    case Activation::leaky_relu:
      for (index_t i = 0; i < count; ++i) grad_z[i] = z[i] > T(0) ? grad_a[i] : slope * grad_a[i];
      break;
  }
}

template <class T>
void activation_backward_from_output(ActivationSpec act, const T* a, T* grad, index_t count) {
  const T slope = T(act.negative_slope);
  switch (act.kind) {
    case Activation::identity:
      break;
    case Activation::step:
      for (index_t i = 0; i < count; ++i) grad[i] = T(0);
      break;
    case Activation::sigmoid:
      for (index_t i = 0; i < count; ++i) grad[i] *= a[i] * (T(1) - a[i]);
      break;
    case Activation::tanh:
      for (index_t i = 0; i < count; ++i) grad[i] *= T(1) - a[i] * a[i];
      break;
    case Activation::relu:
      for (index_t i = 0; i < count; ++i) grad[i] = a[i] > T(0) ? grad[i] : T(0);
      break;
    case Activation::leaky_relu:  // slope >= 0, so a > 0 exactly when z > 0
      for (index_t i = 0; i < count; ++i) grad[i] = a[i] > T(0) ? grad[i] : slope * grad[i];
      break;
  }
}

#define FASTMLP_INSTANTIATE(T)                                                              \
  template void activation_forward<T>(ActivationSpec, const T*, T*, index_t);               \
  template void activation_backward<T>(ActivationSpec, const T*, const T*, T*, index_t);    \
  template void activation_backward_from_output<T>(ActivationSpec, const T*, T*, index_t);
FASTMLP_INSTANTIATE(float)
FASTMLP_INSTANTIATE(double)
#undef FASTMLP_INSTANTIATE

}  // namespace fastmlp
