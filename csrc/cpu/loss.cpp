// Losses on the CPU (reference: fastmlp.reference.loss / loss_grad). PyTorch's semantics: the mean is
// over every element of the batch; MAE's gradient at a zero residual is 0 (sign(0) = 0). Sums run in
// double in one fixed order, so the value does not depend on the thread count.
#include <cmath>

#include "fastmlp/ops.h"

namespace fastmlp {

template <class T>
double loss_value(Loss loss, Reduction red, const T* pred, const T* target, index_t count) {
  double sum = 0.0;
  if (loss == Loss::mse) {
    for (index_t i = 0; i < count; ++i) {
      double d = double(pred[i]) - double(target[i]);
      sum += d * d;
    }
  } else {
    for (index_t i = 0; i < count; ++i) sum += std::fabs(double(pred[i]) - double(target[i]));
  }
  return red == Reduction::mean ? sum / double(count) : sum;
}

template <class T>
double loss_and_grad(Loss loss, Reduction red, const T* pred, const T* target, T* grad, index_t count) {
  const double scale = red == Reduction::mean ? 1.0 / double(count) : 1.0;
  return loss_sum_and_grad<T>(loss, pred, target, grad, count, scale) * scale;
}

template <class T>
double loss_sum_and_grad(Loss loss, const T* pred, const T* target, T* grad, index_t count, double scale) {
  double sum = 0.0;
  if (loss == Loss::mse) {
    const T g = T(2.0 * scale);  // d/dp (p - t)^2 = 2 (p - t)
    for (index_t i = 0; i < count; ++i) {
      T d = pred[i] - target[i];
      sum += double(d) * double(d);
      grad[i] = g * d;
    }
  } else {
    const T g = T(scale);  // d/dp |p - t| = sign(p - t), 0 at 0
    for (index_t i = 0; i < count; ++i) {
      T d = pred[i] - target[i];
      sum += std::fabs(double(d));
      grad[i] = d > T(0) ? g : (d < T(0) ? -g : T(0));
    }
  }
  return sum;
}

#define FASTMLP_INSTANTIATE(T)                                                          \
  template double loss_value<T>(Loss, Reduction, const T*, const T*, index_t);          \
  template double loss_and_grad<T>(Loss, Reduction, const T*, const T*, T*, index_t);               \
  template double loss_sum_and_grad<T>(Loss, const T*, const T*, T*, index_t, double);
FASTMLP_INSTANTIATE(float)
FASTMLP_INSTANTIATE(double)
#undef FASTMLP_INSTANTIATE

}  // namespace fastmlp
