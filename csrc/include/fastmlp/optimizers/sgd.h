// SGD, torch.optim.SGD's algorithm (with momentum, dampening and Nesterov's variant):
//   g = grad + weight_decay p
//   momentum != 0: buf = g (first step) | momentum buf + (1 - dampening) g;  g = g + momentum buf (nesterov) | buf
//   p -= lr g
#pragma once
#include "fastmlp/optimizers/common.h"

namespace fastmlp {

struct Sgd {
  static constexpr const char* name = "sgd";
  static constexpr const char* doc = "SGD with momentum, dampening, Nesterov (torch.optim.SGD)";
  static constexpr Hyperparameter hyperparameters[] = {
      number("lr", &OptimizerSpec::lr), number("momentum", &OptimizerSpec::momentum),
      number("dampening", &OptimizerSpec::dampening), flag("nesterov", &OptimizerSpec::nesterov),
      number("weight_decay", &OptimizerSpec::weight_decay)};

  static StateLayout state(const OptimizerSpec& s) {
    StateLayout layout;
    if (s.momentum != 0.0) layout.add("momentum_buffer");
    return layout;
  }

  template <class T>
  struct Coefficients {
    T lr, wd, mu, damp;  // damp = 1 - dampening
    bool first, nesterov, momentum;
    bool plain;  // no momentum, no weight decay: p -= lr g, nothing else
  };

  template <class T>
  static Coefficients<T> coefficients(const OptimizerSpec& s, double lr, std::int64_t step) {
    Coefficients<T> c{};
    c.lr = T(lr);
    c.wd = T(s.weight_decay);
    c.mu = T(s.momentum);
    c.damp = T(1.0 - s.dampening);
    c.first = step <= 1;  // the first step seeds the buffer with g, as PyTorch
    c.nesterov = s.nesterov;
    c.momentum = s.momentum != 0.0;
    c.plain = !c.momentum && s.weight_decay == 0.0;
    return c;
  }

  template <class T>
  static FASTMLP_HD void update(const Coefficients<T>& c, T& p, T grad, const StateBuffers<T>& s, index_t i) {
    if (c.plain) {  // a bare axpy that the CPU loop vectorizes; grad + 0 p would turn a -0 gradient to +0
      p -= c.lr * grad;
      return;
    }
    const T g = grad + c.wd * p;
    if (!c.momentum) {
      p -= c.lr * g;
      return;
    }
    T& buf = s.at[0][i];
    const T b = c.first ? g : c.mu * buf + c.damp * g;
    buf = b;
    p -= c.lr * (c.nesterov ? g + c.mu * b : b);
  }
};

}  // namespace fastmlp
