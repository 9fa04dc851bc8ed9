// Optimizer updates on the GPU: one thread per parameter element, running the same per-element
// arithmetic as the CPU (fastmlp/optim_step.h) with coefficients computed once per step on the host.
#include <vector>

#include "common.cuh"
#include "fastmlp/cuda_ops.h"
#include "kernels.cuh"

namespace fastmlp {
namespace cuda {
namespace {

template <class T>
__global__ void step_kernel(Optimizer kind, StepCoefficients<T> c, T* __restrict__ p, const T* __restrict__ g,
                            StateBuffers<T> s, index_t n) {
  const index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) optimizer_element(kind, c, p[i], g[i], s, i);
}

}  // namespace

template <class T>
void optimizer_step(const OptimizerSpec& spec, const StepCoefficients<T>& c, T* param, const T* grad,
                    T* const* state, index_t count) {
  if (count == 0) return;
  FASTMLP_LAUNCH(step_kernel<T>, blocks_for(count, 256), 256)(spec.kind, c, param, grad,
                                                         state_buffers(spec.kind, c, state), count);
  CUDA_CHECK_LAUNCH();
}

// The host-array form behind fastmlp.ops.sgd_update / optimizer_update(device="cuda").
template <class T>
void optimizer_step(const OptimizerSpec& spec, double lr, std::int64_t step, T* param, const T* grad,
                    T* const* state, index_t count) {
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
template void optimizer_step<double>(const OptimizerSpec&, const StepCoefficients<double>&, double*,
                                     const double*, double* const*, index_t);
template void optimizer_step<float>(const OptimizerSpec&, double, std::int64_t, float*, const float*, float* const*,
                                    index_t);
template void optimizer_step<double>(const OptimizerSpec&, double, std::int64_t, double*, const double*,
                                     double* const*, index_t);

}  // namespace cuda
}  // namespace fastmlp
