// Optimizer updates: one fused pass over each parameter (read p, g and the state; write p and the
// state), following the algorithms documented for torch.optim, with the same placement of eps and the
// same bias corrections:
//   SGD      g += wd p; buf = g (first step) | mu buf + (1 - dampening) g; g = g + mu buf (nesterov) | buf
//            p -= lr g
//   Adam     g += wd p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; vmax = max(vmax, v) (amsgrad)
//            p -= (lr / (1 - b1^t)) m / (sqrt(v or vmax) / sqrt(1 - b2^t) + eps)   (Kingma & Ba 2015)
//   AdamW    p *= 1 - lr wd, then Adam without the L2 term                        (Loshchilov & Hutter 2019)
//   RMSprop  g += wd p; v = alpha v + (1 - alpha) g^2; centered: ga = alpha ga + (1 - alpha) g, v~ = v - ga^2
//            d = g / (sqrt(v~) + eps); momentum: buf = mu buf + d, p -= lr buf; else p -= lr d  (Hinton 2012)
//   Adagrad  g += wd p; clr = lr / (1 + (t - 1) lr_decay); s += g^2; p -= clr g / (sqrt(s) + eps)
//            (Duchi et al. 2011)
// Arithmetic runs in T: float32 parameters get float32 updates, as in PyTorch.
#include <algorithm>
#include <cmath>

#include "fastmlp/ops.h"

namespace fastmlp {

int optimizer_state_count(const OptimizerSpec& spec) {
  switch (spec.kind) {
    case Optimizer::sgd: return spec.momentum != 0.0 ? 1 : 0;
    case Optimizer::adam:
    case Optimizer::adamw: return spec.amsgrad ? 3 : 2;
    case Optimizer::rmsprop: return 1 + (spec.momentum != 0.0 ? 1 : 0) + (spec.centered ? 1 : 0);
    case Optimizer::adagrad: return 1;
  }
  return 0;
}

namespace {

template <class T>
void sgd(const OptimizerSpec& s, T lr, std::int64_t step, T* p, const T* grad, T* const* state, index_t n) {
  const T wd = T(s.weight_decay);
  if (s.momentum == 0.0) {
    if (s.weight_decay == 0.0) {
      for (index_t i = 0; i < n; ++i) p[i] -= lr * grad[i];
    } else {
      for (index_t i = 0; i < n; ++i) p[i] -= lr * (grad[i] + wd * p[i]);
    }
    return;
  }
  const T mu = T(s.momentum), damp = T(1.0 - s.dampening);
  T* buf = state[0];
  const bool first = step <= 1;
  for (index_t i = 0; i < n; ++i) {
    const T g = grad[i] + wd * p[i];
    const T b = first ? g : mu * buf[i] + damp * g;
    buf[i] = b;
    p[i] -= lr * (s.nesterov ? g + mu * b : b);
  }
}

template <class T>
void adam(const OptimizerSpec& s, T lr, std::int64_t step, T* p, const T* grad, T* const* state, index_t n) {
  const bool decoupled = s.kind == Optimizer::adamw;
  // 1 - beta is formed in double and rounded once: from a float32 beta2 = 0.999 it would be ~200 ulp off.
  const T b1 = T(s.beta1), b2 = T(s.beta2), eps = T(s.eps), wd = T(s.weight_decay);
  const T one_b1 = T(1.0 - s.beta1), one_b2 = T(1.0 - s.beta2);
  // Bias corrections in double, then rounded once, as torch computes them from Python floats.
  const T step_size = T(double(lr) / (1.0 - std::pow(s.beta1, double(step))));
  const T bc2_sqrt = T(std::sqrt(1.0 - std::pow(s.beta2, double(step))));
  const T decay = T(1.0 - double(lr) * s.weight_decay);
  T *m = state[0], *v = state[1], *vmax = s.amsgrad ? state[2] : nullptr;
  for (index_t i = 0; i < n; ++i) {
    T g = grad[i];
    if (decoupled)
      p[i] *= decay;
    else
      g += wd * p[i];
    m[i] = b1 * m[i] + one_b1 * g;
    v[i] = b2 * v[i] + one_b2 * g * g;
    T second = v[i];
    if (vmax) {
      vmax[i] = std::max(vmax[i], v[i]);
      second = vmax[i];
    }
    p[i] -= step_size * m[i] / (std::sqrt(second) / bc2_sqrt + eps);
  }
}

template <class T>
void rmsprop(const OptimizerSpec& s, T lr, T* p, const T* grad, T* const* state, index_t n) {
  const T alpha = T(s.alpha), eps = T(s.eps), wd = T(s.weight_decay), mu = T(s.momentum);
  const T one_alpha = T(1.0 - s.alpha);
  T* sq = state[0];
  T* buf = s.momentum != 0.0 ? state[1] : nullptr;
  T* gavg = s.centered ? state[s.momentum != 0.0 ? 2 : 1] : nullptr;
  for (index_t i = 0; i < n; ++i) {
    const T g = grad[i] + wd * p[i];
    sq[i] = alpha * sq[i] + one_alpha * g * g;
    T var = sq[i];
    if (gavg) {
      gavg[i] = alpha * gavg[i] + one_alpha * g;
      var -= gavg[i] * gavg[i];
    }
    const T d = g / (std::sqrt(var) + eps);
    if (buf) {
      buf[i] = mu * buf[i] + d;
      p[i] -= lr * buf[i];
    } else {
      p[i] -= lr * d;
    }
  }
}

template <class T>
void adagrad(const OptimizerSpec& s, T lr, std::int64_t step, T* p, const T* grad, T* const* state, index_t n) {
  const T eps = T(s.eps), wd = T(s.weight_decay);
  const T clr = T(double(lr) / (1.0 + double(step - 1) * s.lr_decay));
  T* sum = state[0];
  for (index_t i = 0; i < n; ++i) {
    const T g = grad[i] + wd * p[i];
    sum[i] += g * g;
    p[i] -= clr * g / (std::sqrt(sum[i]) + eps);
  }
}

}  // namespace

template <class T>
void optimizer_step(const OptimizerSpec& spec, double lr_d, std::int64_t step, T* param, const T* grad,
                    T* const* state, index_t count) {
  const T lr = T(lr_d);
  switch (spec.kind) {
    case Optimizer::sgd: return sgd(spec, lr, step, param, grad, state, count);
    case Optimizer::adam:
    case Optimizer::adamw: return adam(spec, lr, step, param, grad, state, count);
    case Optimizer::rmsprop: return rmsprop(spec, lr, param, grad, state, count);
    case Optimizer::adagrad: return adagrad(spec, lr, step, param, grad, state, count);
  }
}

template void optimizer_step<float>(const OptimizerSpec&, double, std::int64_t, float*, const float*,
                                    float* const*, index_t);
template void optimizer_step<double>(const OptimizerSpec&, double, std::int64_t, double*, const double*,
                                     double* const*, index_t);

}  // namespace fastmlp
