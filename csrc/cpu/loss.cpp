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
#include <algorithm>
#include <cmath>
#include <vector>

#include "fastmlp/clones.h"
#include "fastmlp/loss_math.h"
#include "fastmlp/ops.h"

namespace fastmlp {
namespace {

// The loops whose terms need exp and log, each its cloned function's own body with the loss fixed at
// compile time, so that vec_math.h's functions vectorize (FASTMLP_CLONES). Sums stay out of them: a
// double sum in order does not vectorize, and its order is what fixes the bits; the terms go to a
// buffer and are summed after, in the order the scalar loop sums them.

// terms[i] = loss_term(K, p[i], t[i]) over count packed elements.
template <Loss K, class T>
FASTMLP_CLONES void loss_terms(const T* p, const T* t, index_t count, double delta, double* terms) {
  for (index_t i = 0; i < count; ++i) terms[i] = loss_term(K, double(p[i]), double(t[i]), delta);
}

template <Loss K, class T>
FASTMLP_CLONES void loss_grads(const T* p, const T* t, index_t count, T coef, T delta, T* grad) {
  for (index_t i = 0; i < count; ++i) grad[i] = loss_grad_term<T>(K, p[i], t[i], coef, delta);
}

// x[i] = e^x[i], in place: one flat loop, so that short rows (3 or 10 classes) vectorize as well.
FASTMLP_CLONES void exp_in_place(double* x, index_t count) {
  for (index_t i = 0; i < count; ++i) x[i] = fm::exp(x[i]);
}

// lse[i] = cross_entropy_lse(mx[i], s[i]) over rows, in place of mx.
FASTMLP_CLONES void lse_in_place(double* mx, const double* s, index_t rows) {
  for (index_t i = 0; i < rows; ++i) mx[i] = cross_entropy_lse(mx[i], s[i]);
}

// A buffer of this thread's, reused across calls (a step's loss runs once per step).
std::vector<double>& scratch(std::size_t size) {
  static thread_local std::vector<double> buffer;
  if (buffer.size() < size) buffer.resize(size);
  return buffer;
}

constexpr index_t kChunk = 1024;  // elements per pass of the buffered loops

// The packed, unweighted elementwise case: the terms of kind K a chunk at a time, summed in element
// order (the general loop's order and bits), then the gradient.
template <Loss K, class T>
double flat_loss(const T* p, const T* t, index_t count, double delta, T* grad, T coef) {
  double sum = 0.0;
  if constexpr (K == Loss::mse || K == Loss::mae || K == Loss::huber) {  // no exp or log: one plain loop
    for (index_t i = 0; i < count; ++i) sum += loss_term(K, double(p[i]), double(t[i]), delta);
    if (grad)
      for (index_t i = 0; i < count; ++i) grad[i] = loss_grad_term<T>(K, p[i], t[i], coef, T(delta));
  } else {
    double* terms = scratch(std::size_t(std::min(count, kChunk))).data();
    for (index_t begin = 0; begin < count; begin += kChunk) {
      const index_t len = std::min(kChunk, count - begin);
      loss_terms<K, T>(p + begin, t + begin, len, delta, terms);
      for (index_t i = 0; i < len; ++i) sum += terms[i];
    }
    if (grad) loss_grads<K, T>(p, t, count, coef, T(delta), grad);
  }
  return sum;
}

// Softmax cross-entropy over the rows, cross_entropy_row's arithmetic with each chunk of rows'
// exponentials computed in one vectorized loop.
template <class T>
double cross_entropy_rows(const LossSpec& loss, Matrix<const T> pred, Matrix<const T> target, T* grad, double scale) {
  const index_t n = pred.rows, m = pred.cols, wcol = target.cols - 1;
  const index_t chunk = std::max<index_t>(1, kChunk / std::max<index_t>(m, 1));
  const index_t most = std::min(n, chunk);
  std::vector<double>& buffer = scratch(std::size_t(most * (m + 2)));
  double* mx = buffer.data();  // each row's max, then its log-sum-exp
  double* s = mx + most;       // each row's sum of exponentials
  double* e = s + most;        // the rows' exponentials
  double sum = 0.0;
  for (index_t begin = 0; begin < n; begin += chunk) {
    const index_t rows = std::min(chunk, n - begin);
    for (index_t i = 0; i < rows; ++i) {  // e(i, j) = z(i, j) - max of row i, then its exponential
      const T* z = pred.row(begin + i);
      mx[i] = row_max(z, m);
      for (index_t j = 0; j < m; ++j) e[i * m + j] = double(z[j]) - mx[i];
    }
    exp_in_place(e, rows * m);
    for (index_t i = 0; i < rows; ++i) {
      double si = 0.0;
      for (index_t j = 0; j < m; ++j) si += e[i * m + j];  // in j order, as cross_entropy_row sums
      s[i] = si;
    }
    lse_in_place(mx, s, rows);
    for (index_t i = 0; i < rows; ++i) {
      const index_t r = begin + i;
      const T* t = target.row(r);
      const double w = loss.factor * (loss.weighted ? double(t[wcol]) : 1.0);
      T* g = grad ? grad + r * m : nullptr;
      if (g)
        for (index_t j = 0; j < m; ++j) g[j] = T(e[i * m + j]);
      sum += w * cross_entropy_finish<T>(pred.row(r), t, m, loss.labels, loss.class_weight, w * scale, mx[i], s[i], g);
    }
  }
  return sum;
}

}  // namespace

template <class T>
double loss_sum_and_grad(const LossSpec& loss, Matrix<const T> pred, Matrix<const T> target, T* grad, double scale) {
  const index_t n = pred.rows, m = pred.cols;
  const index_t wcol = target.cols - 1;  // the weight column, when weighted
  if (loss.kind == Loss::cross_entropy) return cross_entropy_rows<T>(loss, pred, target, grad, scale);
  double sum = 0.0;
  const double coef = loss_grad_coefficient(loss.kind, scale) * loss.factor;
  const T delta = T(loss.delta);
  if (!loss.weighted && loss.factor == 1.0 && pred.stride == m && target.stride == m) {
    // The common case, packed and plain: one flat loop per kind, the kind fixed at compile time (a
    // training step of a tiny network spends a good part of its microsecond here). Same terms, same
    // order, same bits as the general loop below.
    const T *p = pred.data, *t = target.data;
    const index_t count = n * m;
    switch (loss.kind) {
      case Loss::mse:
        return flat_loss<Loss::mse, T>(p, t, count, loss.delta, grad, T(coef));
      case Loss::mae:
        return flat_loss<Loss::mae, T>(p, t, count, loss.delta, grad, T(coef));
      case Loss::huber:
        return flat_loss<Loss::huber, T>(p, t, count, loss.delta, grad, T(coef));
      case Loss::poisson:
        return flat_loss<Loss::poisson, T>(p, t, count, loss.delta, grad, T(coef));
      case Loss::bce:
        return flat_loss<Loss::bce, T>(p, t, count, loss.delta, grad, T(coef));
      case Loss::cross_entropy:
        break;
    }
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
