// Initializers on the GPU: one thread per element, each computing init_value (fastmlp/init_draw.h),
// the very function the CPU loop calls, from the same Philox counter. Uniform and constant kinds give
// the CPU's bits exactly; normal kinds go through the device's log and cos, which may differ from the
// host's libm in the last bit of a double (rarely visible after rounding to float32).
#include "common.cuh"
#include "fastmlp/cuda_ops.h"
#include "fastmlp/init_draw.h"

namespace fastmlp {
namespace cuda {
namespace {

template <class T>
__global__ void init_kernel(InitPlan plan, std::uint64_t seed, std::uint32_t stream, T* __restrict__ out, index_t n) {
  const index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = T(init_value(plan, seed, stream, std::uint64_t(i)));
}

}  // namespace

template <class T>
void init_fill(InitSpec spec, index_t fan_in, index_t fan_out, std::uint64_t seed, std::uint32_t stream, T* out,
               index_t count) {
  if (count == 0) return;
  DeviceBuffer<T> d(count);
  FASTMLP_LAUNCH(init_kernel<T>, blocks_for(count, 256), 256)(init_plan(spec, fan_in, fan_out), seed, stream, d.get(),
                                                              count);
  CUDA_CHECK_LAUNCH();
  d.download(out, count);
}

template void init_fill<float>(InitSpec, index_t, index_t, std::uint64_t, std::uint32_t, float*, index_t);
template void init_fill<double>(InitSpec, index_t, index_t, std::uint64_t, std::uint32_t, double*, index_t);

}  // namespace cuda
}  // namespace fastmlp
