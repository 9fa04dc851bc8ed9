// AdamW (Loshchilov & Hutter 2019), torch.optim.AdamW's algorithm: Adam (optimizers/adam.h) with the
// weight decay decoupled from the gradient, p *= 1 - lr weight_decay before Adam's step without the
// L2 term. The same state, hyperparameters and element update as Adam; torch's default weight decay
// (1e-2) is fastmlp.optim.AdamW's.
#pragma once
#include "fastmlp/optimizers/adam.h"

namespace fastmlp {

struct AdamW : Adam {
  static constexpr const char* name = "adamw";
  static constexpr const char* doc = "Adam with decoupled weight decay (torch.optim.AdamW)";

  template <class T>
  static Coefficients<T> coefficients(const OptimizerSpec& s, double lr, std::int64_t step) {
    Coefficients<T> c = Adam::coefficients<T>(s, lr, step);
    c.moments.decoupled = true;
    return c;
  }
};

}  // namespace fastmlp
