// RAdam (Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and Beyond"), torch.optim.RAdam's
// algorithm at step t: Adam whose adaptive step is switched on, and rectified, once the variance of
// its second moment is tractable, rho_t > 5:
//   g = grad + weight_decay p   (decoupled_weight_decay: p *= 1 - lr weight_decay instead)
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  m^ = m / (1 - b1^t)
//   rho_inf = 2 / (1 - b2) - 1;  rho_t = rho_inf - 2 t b2^t / (1 - b2^t)
//   rho_t > 5: r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)),
//              p -= lr m^ r sqrt(1 - b2^t) / (sqrt(v) + eps);   else p -= lr m^ (SGD with momentum)
#pragma once
#include "fastmlp/optimizers/common.h"

namespace fastmlp {

struct RAdam {
  static constexpr const char* name = "radam";
  static constexpr const char* doc = "Rectified Adam, optionally decoupled weight decay (torch.optim.RAdam)";
  static constexpr Hyperparameter hyperparameters[] = {
      number("lr", &OptimizerSpec::lr), pair("betas", &OptimizerSpec::beta1, &OptimizerSpec::beta2),
      number("eps", &OptimizerSpec::eps), number("weight_decay", &OptimizerSpec::weight_decay),
      flag("decoupled_weight_decay", &OptimizerSpec::decoupled_weight_decay)};

  static StateLayout state(const OptimizerSpec&) { return moment_state(); }

  // rho_t, the length of the approximated simple moving average at step t (its limit rho_inf - 2 t b2^t
  // / (1 - b2^t) tends to rho_inf); torch rectifies when it passes 5.
  static double rho(double beta2, std::int64_t t) {
    const double rho_inf = 2.0 / (1.0 - beta2) - 1.0, b2t = std::pow(beta2, double(t));
    return rho_inf - 2.0 * double(t) * b2t / (1.0 - b2t);
  }

  template <class T>
  struct Coefficients {
    Moments<T> moments;
    T step_size;  // rectified: lr r sqrt(1 - b2^t) / (1 - b1^t); otherwise lr / (1 - b1^t)
    bool rectified;
  };

  template <class T>
  static Coefficients<T> coefficients(const OptimizerSpec& s, double lr, std::int64_t step) {
    Coefficients<T> c{};
    c.moments = Moments<T>::make(s, lr, s.decoupled_weight_decay);
    const double bc1 = 1.0 - std::pow(s.beta1, double(step)), bc2 = 1.0 - std::pow(s.beta2, double(step));
    const double rho_inf = 2.0 / (1.0 - s.beta2) - 1.0, rho_t = rho(s.beta2, step);
    // rho_t < rho_inf always, so rho_t > 5 also keeps rho_inf - 4 and rho_inf - 2 away from 0.
    c.rectified = rho_t > 5.0;
    if (c.rectified) {
      const double r = std::sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t));
      c.step_size = T(lr * r * std::sqrt(bc2) / bc1);
    } else {
      c.step_size = T(lr / bc1);
    }
    return c;
  }

  template <class T>
  static FASTMLP_HD void update(const Coefficients<T>& c, T& p, T grad, const StateBuffers<T>& s, index_t i) {
    using std::sqrt;  // the T overload: float32 stays float32 on the host too
    T& m = s.at[0][i];
    T& v = s.at[1][i];
    c.moments.step(p, grad, m, v);  // v is kept from step 1, read once rectified
    if (c.rectified)
      p -= c.step_size * m / (sqrt(v) + c.moments.eps);
    else
      p -= c.step_size * m;
  }
};

}  // namespace fastmlp
