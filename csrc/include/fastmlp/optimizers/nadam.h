// NAdam (Dozat 2016, "Incorporating Nesterov Momentum into Adam"), torch.optim.NAdam's algorithm at
// step t, with its momentum schedule mu_t = b1 (1 - 0.96^(t psi) / 2), psi = momentum_decay:
//   g = grad + weight_decay p   (decoupled_weight_decay: p *= 1 - lr weight_decay instead, NAdamW)
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  denom = sqrt(v / (1 - b2^t)) + eps
//   p -= lr (1 - mu_t) / (1 - prod_{i<=t} mu_i) g / denom + lr mu_{t+1} / (1 - prod_{i<=t+1} mu_i) m / denom
#pragma once
#include "fastmlp/optimizers/common.h"

namespace fastmlp {

struct NAdam {
  static constexpr const char* name = "nadam";
  static constexpr const char* doc =
      "Adam with Nesterov momentum, optionally decoupled weight decay (torch.optim.NAdam)";
  static constexpr Hyperparameter hyperparameters[] = {
      number("lr", &OptimizerSpec::lr),
      pair("betas", &OptimizerSpec::beta1, &OptimizerSpec::beta2),
      number("eps", &OptimizerSpec::eps),
      number("weight_decay", &OptimizerSpec::weight_decay),
      number("momentum_decay", &OptimizerSpec::momentum_decay),
      flag("decoupled_weight_decay", &OptimizerSpec::decoupled_weight_decay)};

  // torch also keeps mu_product per parameter; here it is derived from the step (mu_product below).
  static StateLayout state(const OptimizerSpec&) { return moment_state(); }

  static double mu(double beta1, double momentum_decay, std::int64_t t) {
    return beta1 * (1.0 - 0.5 * std::pow(0.96, double(t) * momentum_decay));
  }

  // prod_{i=1..t} mu_i: the one scalar of state that torch keeps per parameter, which is a function of
  // the step count and the hyperparameters alone. Derived here at every step, so what holds the step
  // (a model file, each rank of a data-parallel fit, a resumed fit) holds the product too. Multiplied
  // in double in the order i = 1, 2, ..., t, as torch does with a float64 default dtype, so it is the
  // same bits however t is reached; a per-thread memo of the last product makes the next step one
  // multiplication. Once the product is <= 2^-54, 1 - product (and 1 - product mu_{t+1}) round to
  // exactly 1 in double, so the coefficients no longer depend on it and the loop stops there (beta1 =
  // 0.9: after ~350 steps); the value returned is then that last product, not torch's smaller one.
  static double mu_product(double beta1, double momentum_decay, std::int64_t t) {
    struct Memo {
      double beta1, momentum_decay;
      std::int64_t t;
      double product;
    };
    constexpr double negligible = 0x1p-54;
    thread_local Memo memo{-1.0, -1.0, 0, 1.0};
    if (memo.beta1 != beta1 || memo.momentum_decay != momentum_decay || memo.t > t)  // memo.t: its product's step
      memo = {beta1, momentum_decay, 0, 1.0};
    while (memo.t < t && memo.product > negligible) {
      ++memo.t;
      memo.product *= mu(beta1, momentum_decay, memo.t);
    }
    return memo.product;
  }

  template <class T>
  struct Coefficients {
    Moments<T> moments;
    T bc2;        // 1 - b2^t
    T grad_coef;  // lr (1 - mu_t) / (1 - prod_{i<=t} mu_i)
    T avg_coef;   // lr mu_{t+1} / (1 - prod_{i<=t+1} mu_i)
  };

  template <class T>
  static Coefficients<T> coefficients(const OptimizerSpec& s, double lr, std::int64_t step) {
    Coefficients<T> c{};
    c.moments = Moments<T>::make(s, lr, s.decoupled_weight_decay);
    c.bc2 = T(1.0 - std::pow(s.beta2, double(step)));
    const double mu_t = mu(s.beta1, s.momentum_decay, step), mu_next = mu(s.beta1, s.momentum_decay, step + 1);
    const double product = mu_product(s.beta1, s.momentum_decay, step);
    c.grad_coef = T(lr * (1.0 - mu_t) / (1.0 - product));
    c.avg_coef = T(lr * mu_next / (1.0 - product * mu_next));
    return c;
  }

  template <class T>
  static FASTMLP_HD void update(const Coefficients<T>& c, T& p, T grad, const StateBuffers<T>& s, index_t i) {
    using std::sqrt;  // the T overload: float32 stays float32 on the host too
    T& m = s.at[0][i];
    T& v = s.at[1][i];
    const T g = c.moments.step(p, grad, m, v);
    const T denom = sqrt(v / c.bc2) + c.moments.eps;  // torch's form: the bias correction inside the root
    p -= c.grad_coef * g / denom;
    p -= c.avg_coef * m / denom;
  }
};

}  // namespace fastmlp
