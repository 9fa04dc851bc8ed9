// Optimizer updates on the CPU: one fused pass over each parameter (read p, g and the state; write p
// and the state). Each optimizer's formula, its source and its per-step coefficients live in its own
// header, fastmlp/optimizers/<name>.h, shared with the CUDA kernels; this file is the loop around
// their element updates, reached through dispatch_optimizer (fastmlp/optimizers/registry.h).
// Arithmetic runs in T: float32 parameters get float32 updates, as in PyTorch.
#include "fastmlp/clones.h"
#include "fastmlp/ops.h"
#include "fastmlp/optimizers/registry.h"

namespace fastmlp {
namespace {

// One optimizer's loop, compiled per instruction set (FASTMLP_CLONES) with its update inlined. The
// coefficients come by value: a local that the stores to p cannot alias, so they stay in registers
// and the branches on their flags are hoisted out of the loop.
template <class O, class T>
FASTMLP_CLONES void step_loop(typename O::template Coefficients<T> c, T* p, const T* g, StateBuffers<T> s, index_t n) {
  for (index_t i = 0; i < n; ++i) O::update(c, p[i], g[i], s, i);
}

}  // namespace

int optimizer_state_count(const OptimizerSpec& spec) { return optimizer_state_layout(spec).count; }

template <class T>
StepCoefficients<T> step_coefficients(const OptimizerSpec& spec, double lr, std::int64_t step) {
  StepCoefficients<T> c{};
  dispatch_optimizer(
      spec.kind, [&](auto opt) { set_coefficients(opt, c, decltype(opt)::template coefficients<T>(spec, lr, step)); });
  return c;
}

template <class T>
void optimizer_step(const OptimizerSpec& spec, double lr, std::int64_t step, T* p, const T* g, T* const* state,
                    index_t n) {
  dispatch_optimizer(spec.kind, [&](auto opt) {
    using O = decltype(opt);
    step_loop<O, T>(O::template coefficients<T>(spec, lr, step), p, g, state_buffers(O::state(spec).count, state), n);
  });
}

template <class T>
void optimizer_apply(const OptimizerSpec& spec, const StepCoefficients<T>& c, T* p, const T* g, T* const* state,
                     index_t n) {
  dispatch_optimizer(spec.kind, [&](auto opt) {
    using O = decltype(opt);
    step_loop<O, T>(coefficients_of(opt, c), p, g, state_buffers(O::state(spec).count, state), n);
  });
}

template StepCoefficients<float> step_coefficients<float>(const OptimizerSpec&, double, std::int64_t);
template StepCoefficients<double> step_coefficients<double>(const OptimizerSpec&, double, std::int64_t);
template void optimizer_step<float>(const OptimizerSpec&, double, std::int64_t, float*, const float*, float* const*,
                                    index_t);
template void optimizer_step<double>(const OptimizerSpec&, double, std::int64_t, double*, const double*, double* const*,
                                     index_t);
template void optimizer_apply<float>(const OptimizerSpec&, const StepCoefficients<float>&, float*, const float*,
                                     float* const*, index_t);
template void optimizer_apply<double>(const OptimizerSpec&, const StepCoefficients<double>&, double*, const double*,
                                      double* const*, index_t);

}  // namespace fastmlp
