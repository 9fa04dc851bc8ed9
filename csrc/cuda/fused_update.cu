// The fused path's second launch of a step: each parameter's gradient is the sum of the step blocks'
// slots, added in slot order (a split-K reduction whose order is fixed by the shape: no atomics, the
// same bits on every run), clamped when clip_grad_value asks, and handed to the optimizer's element
// update (fastmlp/optimizers/<name>.h, the CPU's arithmetic; the kernel is a template on the optimizer,
// chosen on the host by dispatch_optimizer). Compiled without FMA contraction like optim.cu, so the
// update rounds as the CPU's does. Thread 0 also adds the step's loss to the epoch's sum.
#include "common.cuh"
#include "fused_mlp.cuh"

namespace fastmlp {
namespace cuda {
namespace {

constexpr int kThreads = 256;

template <class O>
__global__ void fused_update_kernel(const StepCoefficients<float>* __restrict__ coefs, float* __restrict__ params,
                                    StateBuffers<float> state, const float* __restrict__ slots, index_t slot_count,
                                    index_t count, float clip_value, const double* __restrict__ loss_slots,
                                    double loss_weight, double* __restrict__ acc) {
  const index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i == 0) {
    double sum = 0.0;
    for (index_t z = 0; z < slot_count; ++z) sum += loss_slots[z];
    acc[0] += loss_weight * sum;
  }
  if (i >= count) return;
  float g = 0.0f;
  for (index_t z = 0; z < slot_count; ++z) g += slots[z * count + i];  // neighbouring threads, neighbouring floats
  if (clip_value > 0.0f) g = g > clip_value ? clip_value : (g < -clip_value ? -clip_value : g);
  const auto c = coefficients_of(O{}, *coefs);  // this optimizer's part of the step's coefficients
  O::update(c, params[i], g, state, i);
}

}  // namespace

void fused_update(Optimizer kind, StateBuffers<float> state, const StepCoefficients<float>* coefs, float* params,
                  const float* slots, index_t slot_count, index_t count, double clip_value, const double* loss_slots,
                  double loss_weight, double* acc, cudaStream_t stream) {
  dispatch_optimizer(kind, [&](auto opt) {
    auto* kernel = &fused_update_kernel<decltype(opt)>;
    FASTMLP_LAUNCH_ON(kernel, blocks_for(count, kThreads), kThreads, 0, stream)(
        coefs, params, state, slots, slot_count, count, float(clip_value), loss_slots, loss_weight, acc);
  });
  CUDA_CHECK_LAUNCH();
}

}  // namespace cuda
}  // namespace fastmlp
