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
  double OptimizerSpec::*number = nullptr;
  bool OptimizerSpec::*flag = nullptr;
  double OptimizerSpec::*second = nullptr;  // a pair's second number (number holds the first)
};
constexpr Hyperparameter number(const char* key, double OptimizerSpec::*field) { return {key, field, nullptr, nullptr}; }
constexpr Hyperparameter flag(const char* key, bool OptimizerSpec::*field) { return {key, nullptr, field, nullptr}; }
constexpr Hyperparameter pair(const char* key, double OptimizerSpec::*first, double OptimizerSpec::*second) {
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

}  // namespace fastmlp
