// What every optimizer header (optimizers/<name>.h) builds on: the hyperparameter fields it declares
// it reads, its state layout (names, initial values) and the state buffers its element update gets.
// Plain C++ with FASTMLP_HD updates: included as it is by the CPU loop and the CUDA kernels.
#pragma once
#include <cmath>
#include <cstdint>

#include "fastmlp/ops.h"
#include "fastmlp/rng.h"  // FASTMLP_HD

namespace fastmlp {

// The most state buffers any optimizer keeps per parameter (Adam with AMSGrad, RMSprop centered with
// momentum). An optimizer that needs more raises this; the bindings refuse a layout past it.
constexpr int kMaxOptimizerStates = 3;

// A hyperparameter as the config dict (fastmlp.optim's config()) names it, and the OptimizerSpec
// field(s) it fills: a number, a flag, or a pair of numbers (betas).
struct Hyperparameter {
  const char* key;
  double OptimizerSpec::* number = nullptr;
  bool OptimizerSpec::* flag = nullptr;
  double OptimizerSpec::* second = nullptr;  // a pair's second number (number holds the first)
};
constexpr Hyperparameter number(const char* key, double OptimizerSpec::* field) {
  return {key, field, nullptr, nullptr};
}
constexpr Hyperparameter flag(const char* key, bool OptimizerSpec::* field) { return {key, nullptr, field, nullptr}; }
constexpr Hyperparameter pair(const char* key, double OptimizerSpec::* first, double OptimizerSpec::* second) {
  return {key, first, nullptr, second};
}

// The state buffers an optimizer keeps per parameter for these hyperparameters, in kernel order: each
// the parameter's size, named as torch.optim names its state, starting at `initial`.
struct StateLayout {
  int count = 0;
  const char* names[kMaxOptimizerStates] = {};
  double initial[kMaxOptimizerStates] = {};
  StateLayout& add(const char* name, double initial_value = 0.0) {
    if (count < kMaxOptimizerStates) {  // past it, count tells the bindings, which refuse the config
      names[count] = name;
      initial[count] = initial_value;
    }
    ++count;
    return *this;
  }
};

// The state buffers of one parameter as an element update reads them: at[s] is buffer s of the
// layout (null past its count). An update takes element i of each.
template <class T>
struct StateBuffers {
  T* at[kMaxOptimizerStates] = {};
};

template <class T>
StateBuffers<T> state_buffers(int count, T* const* state) {
  StateBuffers<T> s;
  for (int i = 0; i < count && i < kMaxOptimizerStates; ++i) s.at[i] = state[i];
  return s;
}

// The state of an optimizer with Moments (below): the first and second moment estimates, as torch names them.
inline StateLayout moment_state() {
  StateLayout layout;
  layout.add("exp_avg").add("exp_avg_sq");
  return layout;
}

// What Adam, AdamW, NAdam and RAdam share: the weight decay (added to the gradient as an L2 term, or
// decoupled: p *= 1 - lr weight_decay first) and the two moment estimates
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
// of the gradient g after the decay. Each optimizer's Coefficients hold one, and its update calls step.
template <class T>
struct Moments {
  T b1, b2, one_b1, one_b2, eps, wd;
  T decay;  // decoupled: 1 - lr weight_decay
  bool decoupled;

  static Moments make(const OptimizerSpec& s, double lr, bool decoupled) {
    Moments c{};
    c.b1 = T(s.beta1);
    c.b2 = T(s.beta2);
    // 1 - beta is formed in double and rounded once: from a float32 beta2 = 0.999 it would be ~200 ulp off.
    c.one_b1 = T(1.0 - s.beta1);
    c.one_b2 = T(1.0 - s.beta2);
    c.eps = T(s.eps);
    c.wd = T(s.weight_decay);
    c.decay = T(1.0 - lr * s.weight_decay);
    c.decoupled = decoupled;
    return c;
  }

  // One element: the decay, then both moments; returns the gradient the moments saw.
  FASTMLP_HD T step(T& p, T grad, T& m, T& v) const {
    T g = grad;
    if (decoupled)
      p *= decay;
    else
      g += wd * p;
    m = b1 * m + one_b1 * g;
    v = b2 * v + one_b2 * g * g;
    return g;
  }
};

}  // namespace fastmlp
