// Adamax (Kingma & Ba 2015, section 7.1: Adam with the infinity norm), torch.optim.Adamax's algorithm at
// step t:
//   g = grad + weight_decay p
//   m = b1 m + (1 - b1) g;  u = max(b2 u, |g| + eps)   (eps inside the max, as torch has it: u > 0)
//   p -= (lr / (1 - b1^t)) m / u
#pragma once
#include "fastmlp/optimizers/common.h"

namespace fastmlp {

struct Adamax {
  static constexpr const char* name = "adamax";
  static constexpr const char* doc = "Adam with the infinity norm (torch.optim.Adamax)";
  static constexpr Hyperparameter hyperparameters[] = {
      number("lr", &OptimizerSpec::lr), pair("betas", &OptimizerSpec::beta1, &OptimizerSpec::beta2),
      number("eps", &OptimizerSpec::eps), number("weight_decay", &OptimizerSpec::weight_decay)};

  static StateLayout state(const OptimizerSpec&) {
    StateLayout layout;
    layout.add("exp_avg").add("exp_inf");
    return layout;
  }

  template <class T>
  struct Coefficients {
    T b1, b2, one_b1, eps, wd;
    T clr;  // lr / (1 - b1^t)
  };

  template <class T>
  static Coefficients<T> coefficients(const OptimizerSpec& s, double lr, std::int64_t step) {
    Coefficients<T> c{};
    c.b1 = T(s.beta1);
    c.b2 = T(s.beta2);
    c.one_b1 = T(1.0 - s.beta1);  // in double, rounded once (see Adam's)
    c.eps = T(s.eps);
    c.wd = T(s.weight_decay);
    c.clr = T(lr / (1.0 - std::pow(s.beta1, double(step))));
    return c;
  }

  template <class T>
  static FASTMLP_HD void update(const Coefficients<T>& c, T& p, T grad, const StateBuffers<T>& s, index_t i) {
    T& m = s.at[0][i];
    T& u = s.at[1][i];
    const T g = grad + c.wd * p;
    m = c.b1 * m + c.one_b1 * g;
    const T decayed = c.b2 * u, bound = (g < T(0) ? -g : g) + c.eps;
    u = decayed > bound || decayed != decayed ? decayed : bound;  // a NaN propagates, as in torch.maximum
    p -= c.clr * m / u;
  }
};

}  // namespace fastmlp
