// Optimizer updates on the GPU: one thread per parameter element, running the same per-element
// arithmetic as the CPU (each optimizer's update in fastmlp/optimizers/<name>.h) with coefficients
// computed once per step on the host. The kernel is a template on the optimizer, picked on the host by
// dispatch_optimizer: no switch per element.
#include <vector>

#include "common.cuh"
#include "fastmlp/cuda_ops.h"
#include "kernels.cuh"

namespace fastmlp {
namespace cuda {
namespace {

template <class O, class T>
__global__ void step_kernel(typename O::template Coefficients<T> c, T* __restrict__ p, const T* __restrict__ g,
                            StateBuffers<T> s, index_t n) {
  const index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) O::update(c, p[i], g[i], s, i);
}

}  // namespace

template <class T>
void optimizer_step(const OptimizerSpec& spec, const StepCoefficients<T>& c, T* param, const T* grad, T* const* state,
                    index_t count) {
  if (count == 0) return;
  dispatch_optimizer(spec.kind, [&](auto opt) {
    using O = decltype(opt);
    auto* kernel = &step_kernel<O, T>;  // a name with a comma would split FASTMLP_LAUNCH's arguments
    FASTMLP_LAUNCH(kernel, blocks_for(count, 256), 256)(coefficients_of(opt, c), param, grad,
                                                        state_buffers(O::state(spec).count, state), count);
  });
  CUDA_CHECK_LAUNCH();
}

// The host-array form behind fastmlp.ops.sgd_update / optimizer_update(device="cuda").
template <class T>
void optimizer_step(const OptimizerSpec& spec, double lr, std::int64_t step, T* param, const T* grad, T* const* state,
                    index_t count) {
  if (count == 0) return;
  const int states = optimizer_state_count(spec);
  DeviceBuffer<T> dp = to_device(param, count), dg = to_device(grad, count);
  std::vector<DeviceBuffer<T>> ds;
  std::vector<T*> dsp;
  for (int s = 0; s < states; ++s) {
    ds.push_back(to_device(state[s], count));
    dsp.push_back(ds.back().get());
  }
  cuda::optimizer_step<T>(spec, step_coefficients<T>(spec, lr, step), dp.get(), dg.get(), dsp.data(), count);
  dp.download(param, count);
  for (int s = 0; s < states; ++s) ds[size_t(s)].download(state[s], count);
}

template void optimizer_step<float>(const OptimizerSpec&, const StepCoefficients<float>&, float*, const float*,
                                    float* const*, index_t);
template void optimizer_step<double>(const OptimizerSpec&, const StepCoefficients<double>&, double*, const double*,
                                     double* const*, index_t);
template void optimizer_step<float>(const OptimizerSpec&, double, std::int64_t, float*, const float*, float* const*,
                                    index_t);
template void optimizer_step<double>(const OptimizerSpec&, double, std::int64_t, double*, const double*, double* const*,
                                     index_t);

}  // namespace cuda
}  // namespace fastmlp
