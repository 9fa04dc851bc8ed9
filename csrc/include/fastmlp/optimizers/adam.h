// Adam (Kingma & Ba 2015), torch.optim.Adam's algorithm at step t, with AMSGrad (Reddi et al. 2018):
//   g = grad + weight_decay p   (AdamW instead decays p itself: optimizers/adamw.h)
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  amsgrad: vmax = max(vmax, v), read in v's place
//   p -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
#pragma once
#include "fastmlp/optimizers/common.h"

namespace fastmlp {

struct Adam {
  static constexpr const char* name = "adam";
  static constexpr const char* doc = "Adam, optionally AMSGrad (torch.optim.Adam)";
  static constexpr Hyperparameter hyperparameters[] = {
      number("lr", &OptimizerSpec::lr), pair("betas", &OptimizerSpec::beta1, &OptimizerSpec::beta2),
      number("eps", &OptimizerSpec::eps), number("weight_decay", &OptimizerSpec::weight_decay),
      flag("amsgrad", &OptimizerSpec::amsgrad)};

  static StateLayout state(const OptimizerSpec& s) {
    StateLayout layout;
    layout.add("exp_avg").add("exp_avg_sq");
    if (s.amsgrad) layout.add("max_exp_avg_sq");
    return layout;
  }

  template <class T>
  struct Coefficients {
    T b1, b2, one_b1, one_b2, eps, wd;
    T step_size, bc2_sqrt;  // lr / (1 - b1^t), sqrt(1 - b2^t)
    T decay;                // AdamW: 1 - lr weight_decay
    bool amsgrad, decoupled;
  };

  template <class T>
  static Coefficients<T> coefficients(const OptimizerSpec& s, double lr, std::int64_t step) {
    Coefficients<T> c{};
    // 1 - beta is formed in double and rounded once: from a float32 beta2 = 0.999 it would be ~200 ulp off.
    c.b1 = T(s.beta1);
    c.b2 = T(s.beta2);
    c.one_b1 = T(1.0 - s.beta1);
    c.one_b2 = T(1.0 - s.beta2);
    c.eps = T(s.eps);
    c.wd = T(s.weight_decay);
    // Bias corrections in double, then rounded once, as torch computes them from Python floats.
    c.step_size = T(lr / (1.0 - std::pow(s.beta1, double(step))));
    c.bc2_sqrt = T(std::sqrt(1.0 - std::pow(s.beta2, double(step))));
    c.decay = T(1.0 - lr * s.weight_decay);
    c.amsgrad = s.amsgrad;
    c.decoupled = false;
    return c;
  }

  template <class T>
  static FASTMLP_HD void update(const Coefficients<T>& c, T& p, T grad, const StateBuffers<T>& s, index_t i) {
    using std::sqrt;  // the T overload: float32 stays float32 on the host too
    T& m = s.at[0][i];
    T& v = s.at[1][i];
    T g = grad;
    if (c.decoupled)
      p *= c.decay;
    else
      g += c.wd * p;
    m = c.b1 * m + c.one_b1 * g;
    v = c.b2 * v + c.one_b2 * g * g;
    T second = v;
    if (c.amsgrad) {
      T& vmax = s.at[2][i];
      vmax = vmax > v ? vmax : v;
      second = vmax;
    }
    p -= c.step_size * m / (sqrt(second) / c.bc2_sqrt + c.eps);
  }
};

}  // namespace fastmlp
