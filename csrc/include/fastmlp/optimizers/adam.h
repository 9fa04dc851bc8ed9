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
    StateLayout layout = moment_state();
    if (s.amsgrad) layout.add("max_exp_avg_sq");
    return layout;
  }

  template <class T>
  struct Coefficients {
    Moments<T> moments;     // decoupled: AdamW
    T step_size, bc2_sqrt;  // lr / (1 - b1^t), sqrt(1 - b2^t)
    bool amsgrad;
  };

  template <class T>
  static Coefficients<T> coefficients(const OptimizerSpec& s, double lr, std::int64_t step) {
    Coefficients<T> c{};
    c.moments = Moments<T>::make(s, lr, false);
    // Bias corrections in double, then rounded once, as torch computes them from Python floats.
    c.step_size = T(lr / (1.0 - std::pow(s.beta1, double(step))));
    c.bc2_sqrt = T(std::sqrt(1.0 - std::pow(s.beta2, double(step))));
    c.amsgrad = s.amsgrad;
    return c;
  }

  template <class T>
  static FASTMLP_HD void update(const Coefficients<T>& c, T& p, T grad, const StateBuffers<T>& s, index_t i) {
    using std::sqrt;  // the T overload: float32 stays float32 on the host too
    T& m = s.at[0][i];
    T& v = s.at[1][i];
    c.moments.step(p, grad, m, v);
    T second = v;
    if (c.amsgrad) {
      T& vmax = s.at[2][i];
      vmax = vmax > v ? vmax : v;
      second = vmax;
    }
    p -= c.step_size * m / (sqrt(second) / c.bc2_sqrt + c.moments.eps);
  }
};

}  // namespace fastmlp
