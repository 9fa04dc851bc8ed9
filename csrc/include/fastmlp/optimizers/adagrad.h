// Adagrad (Duchi, Hazan & Singer 2011), torch.optim.Adagrad's algorithm at step t:
//   g = grad + weight_decay p;  clr = lr / (1 + (t - 1) lr_decay)
//   s += g^2 (s starts at initial_accumulator_value);  p -= clr g / (sqrt(s) + eps)
#pragma once
#include "fastmlp/optimizers/common.h"

namespace fastmlp {

struct Adagrad {
  static constexpr const char* name = "adagrad";
  static constexpr const char* doc = "Adagrad (torch.optim.Adagrad)";
  static constexpr Hyperparameter hyperparameters[] = {
      number("lr", &OptimizerSpec::lr), number("lr_decay", &OptimizerSpec::lr_decay),
      number("weight_decay", &OptimizerSpec::weight_decay),
      number("initial_accumulator_value", &OptimizerSpec::initial_accumulator_value),
      number("eps", &OptimizerSpec::eps)};

  static StateLayout state(const OptimizerSpec& s) {
    StateLayout layout;
    layout.add("sum", s.initial_accumulator_value);
    return layout;
  }

  template <class T>
  struct Coefficients {
    T wd, eps, clr;
  };

  template <class T>
  static Coefficients<T> coefficients(const OptimizerSpec& s, double lr, std::int64_t step) {
    Coefficients<T> c{};
    c.wd = T(s.weight_decay);
    c.eps = T(s.eps);
    c.clr = T(lr / (1.0 + double(step - 1) * s.lr_decay));
    return c;
  }

  template <class T>
  static FASTMLP_HD void update(const Coefficients<T>& c, T& p, T grad, const StateBuffers<T>& s, index_t i) {
    using std::sqrt;  // the T overload: float32 stays float32 on the host too
    const T g = grad + c.wd * p;
    T& sum = s.at[0][i];
    sum += g * g;
    p -= c.clr * g / (sqrt(sum) + c.eps);
  }
};

}  // namespace fastmlp
