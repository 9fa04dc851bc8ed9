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
// Arithmetic runs in T: float32 parameters get float32 updates, as in PyTorch. The per-element
// updates live in fastmlp/optim_step.h, shared with the CUDA kernels.
#include <algorithm>
#include <cmath>

#include "fastmlp/clones.h"
#include "fastmlp/ops.h"
#include "fastmlp/optim_step.h"

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

template <class T>
StepCoefficients<T> step_coefficients(const OptimizerSpec& s, double lr, std::int64_t step) {
  StepCoefficients<T> c{};
  c.lr = T(lr);
  c.wd = T(s.weight_decay);
  c.mu = T(s.momentum);
  c.damp = T(1.0 - s.dampening);
  // 1 - beta is formed in double and rounded once: from a float32 beta2 = 0.999 it would be ~200 ulp off.
  c.b1 = T(s.beta1);
  c.b2 = T(s.beta2);
  c.one_b1 = T(1.0 - s.beta1);
  c.one_b2 = T(1.0 - s.beta2);
  c.eps = T(s.eps);
  // Bias corrections in double, then rounded once, as torch computes them from Python floats (Adam's
  // alone: two pow calls would be a tenth of a tiny network's step).
  if (s.kind == Optimizer::adam || s.kind == Optimizer::adamw) {
    c.step_size = T(lr / (1.0 - std::pow(s.beta1, double(step))));
    c.bc2_sqrt = T(std::sqrt(1.0 - std::pow(s.beta2, double(step))));
  }
  c.decay = T(1.0 - lr * s.weight_decay);
  c.alpha = T(s.alpha);
  c.one_alpha = T(1.0 - s.alpha);
  c.clr = T(lr / (1.0 + double(step - 1) * s.lr_decay));
  c.first = step <= 1;
  c.nesterov = s.nesterov;
  c.amsgrad = s.amsgrad;
  c.decoupled = s.kind == Optimizer::adamw;
  c.centered = s.centered;
  c.momentum = s.momentum != 0.0;
  return c;
}

template <class T>
FASTMLP_CLONES void optimizer_step(const OptimizerSpec& spec, double lr, std::int64_t step, T* p, const T* g,
                    T* const* state, index_t n) {
  const StepCoefficients<T> c = step_coefficients<T>(spec, lr, step);
  switch (spec.kind) {
    case Optimizer::sgd:
      if (!c.momentum && spec.weight_decay == 0.0) {  // the plain case, kept branch-free
        for (index_t i = 0; i < n; ++i) p[i] -= c.lr * g[i];
        return;
      }
      for (index_t i = 0; i < n; ++i) sgd_element(c, p[i], g[i], c.momentum ? &state[0][i] : nullptr);
      return;
    case Optimizer::adam:
    case Optimizer::adamw:
      for (index_t i = 0; i < n; ++i)
        adam_element(c, p[i], g[i], state[0][i], state[1][i], c.amsgrad ? &state[2][i] : nullptr);
      return;
    case Optimizer::rmsprop: {
      T* buf = c.momentum ? state[1] : nullptr;
      T* gavg = c.centered ? state[c.momentum ? 2 : 1] : nullptr;
      for (index_t i = 0; i < n; ++i)
        rmsprop_element(c, p[i], g[i], state[0][i], buf ? &buf[i] : nullptr, gavg ? &gavg[i] : nullptr);
      return;
    }
    case Optimizer::adagrad:
      for (index_t i = 0; i < n; ++i) adagrad_element(c, p[i], g[i], state[0][i]);
      return;
  }
}

template StepCoefficients<float> step_coefficients<float>(const OptimizerSpec&, double, std::int64_t);
template StepCoefficients<double> step_coefficients<double>(const OptimizerSpec&, double, std::int64_t);
template void optimizer_step<float>(const OptimizerSpec&, double, std::int64_t, float*, const float*,
                                    float* const*, index_t);
template void optimizer_step<double>(const OptimizerSpec&, double, std::int64_t, double*, const double*,
                                     double* const*, index_t);

}  // namespace fastmlp
