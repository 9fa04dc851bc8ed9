// Each loss as scalar formulas, shared by the CPU loops (cpu/loss.cpp) and the CUDA kernels
// (cuda/loss.cu), so that both backends run the same arithmetic (reference: fastmlp.reference.loss /
// loss_grad; formulas and sources in cpu/loss.cpp's opening comment). Values are computed in double,
// gradients in T from a coefficient the caller works out once per row (scale, times the row's weight).
// Adding a loss: its enum value in ops.h, its name in bindings/names.h, a case in loss_term and
// loss_grad_term (or a row function like cross_entropy_row), its twin in reference.py and its test.
#pragma once
#include <cmath>

#include "fastmlp/ops.h"
#include "fastmlp/rng.h"  // FASTMLP_HD
#include "fastmlp/vec_math.h"

namespace fastmlp {

// The coefficient of an elementwise loss's gradient: d(term)/dp = coefficient * core(p, t), where
// core is loss_grad_term's (mse: 2 (p - t), written as 2 * scale times the residual).
FASTMLP_HD double loss_grad_coefficient(Loss kind, double scale) { return kind == Loss::mse ? 2.0 * scale : scale; }

// One elementwise term of the loss at prediction p, target t (in double).
FASTMLP_HD double loss_term(Loss kind, double p, double t, double delta) {
  const double d = p - t;
  switch (kind) {
    case Loss::mse:
      return d * d;
    case Loss::mae:
      return fabs(d);
    case Loss::huber:
      return fabs(d) <= delta ? 0.5 * d * d : delta * (fabs(d) - 0.5 * delta);
    case Loss::poisson: {  // half deviance, log link: mu = e^p; t log(t / mu) - t + mu, with 0 log 0 = 0
      // log t as log1p(t - 1): t - 1 is exact for t >= 1/2, and below it adds at most 2^-53 to t log t.
      // A selection, not a branch, so that a loop over the terms stays vectorized.
      const double tlogt = t * fm::log1p(t - 1.0) - t;
      return fm::exp(p) - t * p + (t > 0.0 ? tlogt : 0.0);
    }
    case Loss::bce:  // max(p, 0) - p t + log(1 + e^-|p|): never overflows, exact for large |p|
      return (p > 0.0 ? p : 0.0) - p * t + fm::log1p(fm::exp(-fabs(p)));
    case Loss::cross_entropy:
      break;  // a row function: cross_entropy_row
  }
  return 0.0;
}

// coef * d(term)/dp (without mse's factor 2, which is in coef). Selections, not products with 0 or 1.
template <class T>
FASTMLP_HD T loss_grad_term(Loss kind, T p, T t, T coef, T delta) {
  const T d = p - t;
  switch (kind) {
    case Loss::mse:
      return coef * d;
    case Loss::mae:
      return d > T(0) ? coef : (d < T(0) ? -coef : T(0));  // sign(0) = 0, as PyTorch
    case Loss::huber:
      return coef * (d > delta ? delta : (d < -delta ? -delta : d));
    case Loss::poisson:
      return coef * (fm::exp(p) - t);
    case Loss::bce:
      return coef * (fm::logistic(p) - t);  // the logistic split by sign: exp never overflows
    case Loss::cross_entropy:
      break;
  }
  return T(0);
}

// Softmax cross-entropy of one row of logits z (m of them) against a class index (labels: t[0]) or a
// one-hot/probability row t, with optional class weights cw. Returns the row's loss
//   sum_c w_c t_c (lse(z) - z_c),  lse(z) = max(z) + log sum_j e^(z_j - max(z))
// and, unless g is null, g_j = coef * (tw softmax(z)_j - w_j t_j) with tw = sum_c w_c t_c (for a
// label y: tw = w_y, t = e_y). The max is subtracted before exp, so no logit overflows.
// In two parts, so that the CPU can compute the exponentials and logarithms of many rows in vectorized
// loops (cpu/loss.cpp): cross_entropy_finish takes s = sum_j e^(z_j - mx) (mx = max(z), summed in j
// order), lse = cross_entropy_lse(mx, s) and, where g is given, g_j = T(e^(z_j - mx));
// cross_entropy_row computes those itself.
FASTMLP_HD double cross_entropy_lse(double mx, double s) {
  return mx + fm::log1p(s - 1.0);  // log s: s >= 1 (the max's own term), so s - 1 is exact
}

template <class T>
FASTMLP_HD double cross_entropy_finish(const T* z, const T* t, index_t m, bool labels, const double* cw, double coef,
                                       double lse, double s, T* g) {
  double value = 0.0, tw = 0.0;
  const index_t y = labels ? index_t(t[0]) : 0;
  if (labels) {
    tw = cw ? cw[y] : 1.0;
    value = tw * (lse - double(z[y]));
  } else {
    for (index_t c = 0; c < m; ++c) {
      const double wt = (cw ? cw[c] : 1.0) * double(t[c]);
      tw += wt;
      if (wt != 0.0) value += wt * (lse - double(z[c]));
    }
  }
  if (g) {  // g_j = coef (tw softmax_j - target_j), softmax_j = e^(z_j - max) / s; the cases apart, so
    // that each loop is branch-free (and vectorizes on the CPU)
    if (labels) {
      const double gy = coef * (tw * (double(g[y]) / s) - tw);
      for (index_t j = 0; j < m; ++j) g[j] = T(coef * (tw * (double(g[j]) / s)));  // target 0: x - 0 = x
      g[y] = T(gy);
    } else if (cw) {
      for (index_t j = 0; j < m; ++j) g[j] = T(coef * (tw * (double(g[j]) / s) - cw[j] * double(t[j])));
    } else {
      for (index_t j = 0; j < m; ++j) g[j] = T(coef * (tw * (double(g[j]) / s) - 1.0 * double(t[j])));
    }
  }
  return value;
}

template <class T>
FASTMLP_HD double row_max(const T* z, index_t m) {
  double mx = double(z[0]);
  for (index_t j = 1; j < m; ++j) mx = double(z[j]) > mx ? double(z[j]) : mx;
  return mx;
}

template <class T>
FASTMLP_HD double cross_entropy_row(const T* z, const T* t, index_t m, bool labels, const double* cw, double coef,
                                    T* g) {
  const double mx = row_max(z, m);
  double s = 0.0;
  for (index_t j = 0; j < m; ++j) {
    const double e = fm::exp(double(z[j]) - mx);
    s += e;
    if (g) g[j] = T(e);  // kept for the gradient: one exp per logit, not two
  }
  return cross_entropy_finish(z, t, m, labels, cw, coef, cross_entropy_lse(mx, s), s, g);
}

}  // namespace fastmlp
