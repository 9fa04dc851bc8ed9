// The optimizers' registry: every header of this folder, and what list.h generates from them for the
// rest of the library: each step's coefficients in one type (StepCoefficients, what the CUDA kernels
// take by value and the fused path keeps per step on the device), the state layout of a spec, and
// dispatch_optimizer, the one switch over optimizers that the CPU loop and the CUDA launches go through.
#pragma once
#include <stdexcept>
#include <string>

#include "fastmlp/optimizers/list.h"
// One header per entry of list.h:
#include "fastmlp/optimizers/adagrad.h"
#include "fastmlp/optimizers/adam.h"
#include "fastmlp/optimizers/adamax.h"
#include "fastmlp/optimizers/adamw.h"
#include "fastmlp/optimizers/nadam.h"
#include "fastmlp/optimizers/radam.h"
#include "fastmlp/optimizers/rmsprop.h"
#include "fastmlp/optimizers/sgd.h"

namespace fastmlp {

// One step's coefficients of any optimizer (computed once per step on the host: bias corrections,
// 1 - beta, ...): the member named by the optimizer's enum value holds its own Coefficients<T>.
template <class T>
struct StepCoefficients {
  union {
#define FASTMLP_COEFFICIENTS_MEMBER(id, Type) typename Type::template Coefficients<T> id;
    FASTMLP_OPTIMIZERS(FASTMLP_COEFFICIENTS_MEMBER)
#undef FASTMLP_COEFFICIENTS_MEMBER
  };
};

// An optimizer's own coefficients in a StepCoefficients, selected by its struct: coefficients_of(Adam{}, c).
#define FASTMLP_COEFFICIENTS_OF(id, Type)                                                                         \
  template <class T>                                                                                              \
  FASTMLP_HD const typename Type::template Coefficients<T>& coefficients_of(Type, const StepCoefficients<T>& c) { \
    return c.id;                                                                                                  \
  }                                                                                                               \
  template <class T>                                                                                              \
  void set_coefficients(Type, StepCoefficients<T>& c, const typename Type::template Coefficients<T>& value) {     \
    c.id = value;                                                                                                 \
  }
FASTMLP_OPTIMIZERS(FASTMLP_COEFFICIENTS_OF)
#undef FASTMLP_COEFFICIENTS_OF

// Calls f(O{}) with O the struct (optimizers/<name>.h) of the optimizer `kind` names, and returns what
// f returns. The one switch over optimizers. Host code: a CUDA kernel is a template on O, launched
// from inside f, so no kernel switches per element.
template <class F>
decltype(auto) dispatch_optimizer(Optimizer kind, F&& f) {
  switch (kind) {
#define FASTMLP_DISPATCH_CASE(id, Type) \
  case Optimizer::id:                   \
    return f(Type{});
    FASTMLP_OPTIMIZERS(FASTMLP_DISPATCH_CASE)
#undef FASTMLP_DISPATCH_CASE
  }
  throw std::invalid_argument("unknown optimizer (enum value " + std::to_string(int(kind)) + ")");
}

// Calls f(kind, O{}) for every optimizer, in list.h's order (the bindings export their tables so).
template <class F>
void for_each_optimizer(F&& f) {
#define FASTMLP_EACH_OPTIMIZER(id, Type) f(Optimizer::id, Type{});
  FASTMLP_OPTIMIZERS(FASTMLP_EACH_OPTIMIZER)
#undef FASTMLP_EACH_OPTIMIZER
}

// The state buffers that spec's optimizer keeps per parameter with its hyperparameters.
inline StateLayout optimizer_state_layout(const OptimizerSpec& spec) {
  return dispatch_optimizer(spec.kind, [&](auto opt) { return decltype(opt)::state(spec); });
}

// The buffers of `state` (optimizer_state_count of them) as an element update reads them.
template <class T>
StateBuffers<T> state_buffers(const OptimizerSpec& spec, T* const* state) {
  return state_buffers(optimizer_state_layout(spec).count, state);
}

}  // namespace fastmlp
