// RMSprop (Hinton, Coursera lecture 6e, 2012), torch.optim.RMSprop's algorithm:
//   g = grad + weight_decay p;  v = alpha v + (1 - alpha) g^2
//   centered: ga = alpha ga + (1 - alpha) g, and v - ga^2 is read in v's place
//   d = g / (sqrt(v) + eps);  momentum != 0: buf = momentum buf + d, p -= lr buf;  else p -= lr d
#pragma once
#include "fastmlp/optimizers/common.h"

namespace fastmlp {

struct RMSprop {
  static constexpr const char* name = "rmsprop";
  static constexpr const char* doc = "RMSprop (torch.optim.RMSprop)";
  static constexpr Hyperparameter hyperparameters[] = {number("lr", &OptimizerSpec::lr),
                                                       number("alpha", &OptimizerSpec::alpha),
                                                       number("eps", &OptimizerSpec::eps),
                                                       number("weight_decay", &OptimizerSpec::weight_decay),
                                                       number("momentum", &OptimizerSpec::momentum),
                                                       flag("centered", &OptimizerSpec::centered)};

  // [square_avg, momentum_buffer (momentum != 0), grad_avg (centered)]
  static StateLayout state(const OptimizerSpec& s) {
    StateLayout layout;
    layout.add("square_avg");
    if (s.momentum != 0.0) layout.add("momentum_buffer");
    if (s.centered) layout.add("grad_avg");
    return layout;
  }

  template <class T>
  struct Coefficients {
    T lr, wd, mu, alpha, one_alpha, eps;
    bool momentum, centered;
  };

  template <class T>
  static Coefficients<T> coefficients(const OptimizerSpec& s, double lr, std::int64_t) {
    Coefficients<T> c{};
    c.lr = T(lr);
    c.wd = T(s.weight_decay);
    c.mu = T(s.momentum);
    c.alpha = T(s.alpha);
    c.one_alpha = T(1.0 - s.alpha);  // in double, rounded once (see Adam's 1 - beta)
    c.eps = T(s.eps);
    c.momentum = s.momentum != 0.0;
    c.centered = s.centered;
    return c;
  }

  template <class T>
  static FASTMLP_HD void update(const Coefficients<T>& c, T& p, T grad, const StateBuffers<T>& s, index_t i) {
    using std::sqrt;  // the T overload: float32 stays float32 on the host too
    const T g = grad + c.wd * p;
    T& sq = s.at[0][i];
    sq = c.alpha * sq + c.one_alpha * g * g;
    T var = sq;
    if (c.centered) {
      T& gavg = s.at[c.momentum ? 2 : 1][i];
      gavg = c.alpha * gavg + c.one_alpha * g;
      var -= gavg * gavg;
    }
    const T d = g / (sqrt(var) + c.eps);
    if (c.momentum) {
      T& buf = s.at[1][i];
      buf = c.mu * buf + d;
      p -= c.lr * buf;
    } else {
      p -= c.lr * d;
    }
  }
};

}  // namespace fastmlp
