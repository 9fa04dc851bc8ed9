// Losses on the CPU (reference: fastmlp.reference.loss / loss_grad; the scalar formulas are
// fastmlp/loss_math.h's, shared with CUDA). Per term, with p the prediction and t the target:
//   mse      (p - t)^2;  mae |p - t| (gradient 0 at 0)           torch.nn.MSELoss / L1Loss
//   huber    (p - t)^2 / 2 if |p - t| <= delta, else delta (|p - t| - delta / 2)   torch.nn.HuberLoss
//   poisson  half Poisson deviance with log link: mu = e^p, t log(t / mu) - t + mu (0 log 0 = 0);
//            gradient e^p - t  (McCullagh & Nelder, Generalized Linear Models, 2nd ed., sec. 6.2;
//            scikit-learn's HalfPoissonLoss)
//   bce      binary cross-entropy of sigmoid(p): max(p, 0) - p t + log(1 + e^-|p|); gradient
//            sigmoid(p) - t  (torch.nn.BCEWithLogitsLoss; any t in [0, 1], so multi-label too)
//   cross_entropy  per row of logits z: sum_c w_c t_c (logsumexp(z) - z_c), t a one-hot/probability row
//            or a class index; gradient tw softmax(z) - w t  (torch.nn.CrossEntropyLoss)
// The mean divides by the rows (or the sum of their weights) times the terms per row (m, or 1 for
// cross_entropy). Sums run in double in one fixed order, so the value does not depend on the thread count.
#include <cmath>
#include <type_traits>

#include "fastmlp/loss_math.h"
#include "fastmlp/ops.h"

namespace fastmlp {

template <class T>
double loss_sum_and_grad(const LossSpec& loss, Matrix<const T> pred, Matrix<const T> target, T* grad, double scale) {
  const index_t n = pred.rows, m = pred.cols;
  const index_t wcol = target.cols - 1;  // the weight column, when weighted
  double sum = 0.0;
  if (loss.kind == Loss::cross_entropy) {
    for (index_t i = 0; i < n; ++i) {
      const T* t = target.row(i);
      const double w = loss.factor * (loss.weighted ? double(t[wcol]) : 1.0);
      sum += w * cross_entropy_row<T>(pred.row(i), t, m, loss.labels, loss.class_weight, w * scale,
                                      grad ? grad + i * m : nullptr);
    }
    return sum;
  }
  const double coef = loss_grad_coefficient(loss.kind, scale) * loss.factor;
  const T delta = T(loss.delta);
  if (!loss.weighted && loss.factor == 1.0 && pred.stride == m && target.stride == m &&
      (loss.kind == Loss::mse || loss.kind == Loss::mae)) {
    // The common case, packed and plain: one flat loop per kind, the kind fixed at compile time (a
    // training step of a tiny network spends a good part of its microsecond here). Same terms, same
    // order, same bits as the general loop below.
    auto flat = [&](auto kind) {
      const T *p = pred.data, *t = target.data;
      const index_t count = n * m;
      for (index_t i = 0; i < count; ++i) sum += loss_term(kind.value, double(p[i]), double(t[i]), loss.delta);
      if (grad)
        for (index_t i = 0; i < count; ++i) grad[i] = loss_grad_term<T>(kind.value, p[i], t[i], T(coef), delta);
    };
    if (loss.kind == Loss::mse)
      flat(std::integral_constant<Loss, Loss::mse>{});
    else
      flat(std::integral_constant<Loss, Loss::mae>{});
    return sum;
  }
  for (index_t i = 0; i < n; ++i) {
    const T* p = pred.row(i);
    const T* t = target.row(i);
    const double w = loss.weighted ? double(t[wcol]) : 1.0;
    // Unweighted and unscaled, terms go straight into the sum: the order (and bits) of a flat sum.
    const bool plain = !loss.weighted && loss.factor == 1.0;
    double row = 0.0;
    double& acc = plain ? sum : row;
    for (index_t j = 0; j < m; ++j) acc += loss_term(loss.kind, double(p[j]), double(t[j]), loss.delta);
    if (!plain) sum += loss.factor * w * row;
    if (grad) {
      const T c = T(loss.weighted ? coef * w : coef);
      T* g = grad + i * m;
      for (index_t j = 0; j < m; ++j) g[j] = loss_grad_term<T>(loss.kind, p[j], t[j], c, delta);
    }
  }
  return sum;
}

template <class T>
double loss_denominator(const LossSpec& loss, Matrix<const T> target, index_t m) {
  double rows = double(target.rows);
  if (loss.weighted) {
    rows = 0.0;
    for (index_t i = 0; i < target.rows; ++i) rows += double(target.row(i)[target.cols - 1]);
  }
  return rows * double(loss_terms_per_row(loss, m));
}

template <class T>
double loss_and_grad(const LossSpec& loss, Reduction red, Matrix<const T> pred, Matrix<const T> target, T* grad) {
  const double scale = red == Reduction::mean ? 1.0 / loss_denominator(loss, target, pred.cols) : 1.0;
  return loss_sum_and_grad<T>(loss, pred, target, grad, scale) * scale;
}

#define FASTMLP_INSTANTIATE(T)                                                                         \
  template double loss_sum_and_grad<T>(const LossSpec&, Matrix<const T>, Matrix<const T>, T*, double); \
  template double loss_denominator<T>(const LossSpec&, Matrix<const T>, index_t);                      \
  template double loss_and_grad<T>(const LossSpec&, Reduction, Matrix<const T>, Matrix<const T>, T*);
FASTMLP_INSTANTIATE(float)
FASTMLP_INSTANTIATE(double)
#undef FASTMLP_INSTANTIATE

}  // namespace fastmlp
