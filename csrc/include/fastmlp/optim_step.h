// The update of one parameter element for each optimizer, shared by the CPU loops (cpu/optim.cpp)
// and the CUDA kernels (cuda/optim.cu), so both backends run the very same arithmetic. The formulas
// and their sources are in cpu/optim.cpp's opening comment. Coefficients that depend only on the
// hyperparameters and the step (bias corrections, 1 - beta) are computed once per step by the caller.
#pragma once
#include <cmath>

#include "fastmlp/ops.h"
#include "fastmlp/rng.h"  // FASTMLP_HD

namespace fastmlp {

template <class T>
struct StepCoefficients {
  T lr, wd, mu, damp;            // SGD (mu, damp also RMSprop momentum)
  T b1, b2, one_b1, one_b2, eps; // Adam / AdamW
  T step_size, bc2_sqrt, decay;  // Adam: lr / (1 - b1^t), sqrt(1 - b2^t), 1 - lr wd (AdamW)
  T alpha, one_alpha;            // RMSprop
  T clr;                         // Adagrad: lr / (1 + (t - 1) lr_decay)
  bool first, nesterov, amsgrad, decoupled, centered, momentum;
};

template <class T>
FASTMLP_HD void sgd_element(const StepCoefficients<T>& c, T& p, T grad, T* buf) {
  const T g = grad + c.wd * p;
  if (!buf) {
    p -= c.lr * g;
    return;
  }
  const T b = c.first ? g : c.mu * *buf + c.damp * g;
  *buf = b;
  p -= c.lr * (c.nesterov ? g + c.mu * b : b);
}

template <class T>
FASTMLP_HD void adam_element(const StepCoefficients<T>& c, T& p, T grad, T& m, T& v, T* vmax) {
  using std::sqrt;  // the T overload: float32 stays float32 on the host too
  T g = grad;
  if (c.decoupled)
    p *= c.decay;
  else
    g += c.wd * p;
  m = c.b1 * m + c.one_b1 * g;
  v = c.b2 * v + c.one_b2 * g * g;
  T second = v;
  if (vmax) {
    *vmax = *vmax > v ? *vmax : v;
    second = *vmax;
  }
  p -= c.step_size * m / (sqrt(second) / c.bc2_sqrt + c.eps);
}

template <class T>
FASTMLP_HD void rmsprop_element(const StepCoefficients<T>& c, T& p, T grad, T& sq, T* buf, T* gavg) {
  using std::sqrt;  // the T overload: float32 stays float32 on the host too
  const T g = grad + c.wd * p;
  sq = c.alpha * sq + c.one_alpha * g * g;
  T var = sq;
  if (gavg) {
    *gavg = c.alpha * *gavg + c.one_alpha * g;
    var -= *gavg * *gavg;
  }
  const T d = g / (sqrt(var) + c.eps);
  if (buf) {
    *buf = c.mu * *buf + d;
    p -= c.lr * *buf;
  } else {
    p -= c.lr * d;
  }
}

template <class T>
FASTMLP_HD void adagrad_element(const StepCoefficients<T>& c, T& p, T grad, T& sum) {
  using std::sqrt;  // the T overload: float32 stays float32 on the host too
  const T g = grad + c.wd * p;
  sum += g * g;
  p -= c.clr * g / (sqrt(sum) + c.eps);
}

// An optimizer's state buffers as its element update reads them: up to three, each null when that
// optimizer (or its options) keeps no such buffer. `state` lists the optimizer_state_count buffers in
// ops.h's order.
template <class T>
struct StateBuffers {
  T *s0 = nullptr, *s1 = nullptr, *s2 = nullptr;
};

template <class T>
StateBuffers<T> state_buffers(Optimizer kind, const StepCoefficients<T>& c, T* const* state) {
  StateBuffers<T> s;
  switch (kind) {
    case Optimizer::sgd: s.s0 = c.momentum ? state[0] : nullptr; break;
    case Optimizer::adam:
    case Optimizer::adamw: s.s0 = state[0]; s.s1 = state[1]; s.s2 = c.amsgrad ? state[2] : nullptr; break;
    case Optimizer::rmsprop:  // [square_avg, momentum_buffer?, grad_avg?]
      s.s0 = state[0];
      s.s1 = c.momentum ? state[1] : nullptr;
      s.s2 = c.centered ? state[c.momentum ? 2 : 1] : nullptr;
      break;
    case Optimizer::adagrad: s.s0 = state[0]; break;
  }
  return s;
}

// The update of element i of a parameter p with gradient g: the one switch over optimizers that the
// CUDA kernels (cuda/optim.cu, cuda/fused_update.cu) go through.
template <class T>
FASTMLP_HD void optimizer_element(Optimizer kind, const StepCoefficients<T>& c, T& p, T g, const StateBuffers<T>& s,
                                  index_t i) {
  switch (kind) {
    case Optimizer::sgd: sgd_element(c, p, g, s.s0 ? &s.s0[i] : nullptr); break;
    case Optimizer::adam:
    case Optimizer::adamw: adam_element(c, p, g, s.s0[i], s.s1[i], s.s2 ? &s.s2[i] : nullptr); break;
    case Optimizer::rmsprop: rmsprop_element(c, p, g, s.s0[i], s.s1 ? &s.s1[i] : nullptr, s.s2 ? &s.s2[i] : nullptr); break;
    case Optimizer::adagrad: adagrad_element(c, p, g, s.s0[i]); break;
  }
}

}  // namespace fastmlp
