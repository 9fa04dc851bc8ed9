// Activations on the GPU: the forward and the derivative from z (fastmlp.ops.*(device="cuda")), the
// forward on device memory (a layer whose z training keeps), and the derivative from what training
// keeps of a layer (twin of the CPU's activation_backward_saved; otherwise the forward activation of a
// layer is fused into gemm.cu's epilogue). The formulas are fastmlp/activation_math.h's, shared with
// the CPU.
#include "common.cuh"
#include "fastmlp/activation_math.h"
#include "fastmlp/cuda_ops.h"
#include "fastmlp/dropout.h"
#include "kernels.cuh"

namespace fastmlp {
namespace cuda {
namespace {

template <class T>
__global__ void forward_kernel(Activation kind, const T* z, T* a, index_t n, ActivationParams<T> p) {
  const index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) a[i] = activation_value(kind, z[i], p);
}

template <class T>
__global__ void backward_kernel(Activation kind, const T* __restrict__ z, const T* __restrict__ ga, T* __restrict__ gz,
                                index_t n, ActivationParams<T> p) {
  const index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) gz[i] = activation_grad_from_input(kind, z[i], ga[i], p);
}

template <class T>
__global__ void backward_saved_kernel(Activation kind, const T* __restrict__ saved, T* __restrict__ g, index_t n,
                                      ActivationParams<T> p) {
  const index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) g[i] = activation_grad_saved(kind, saved[i], g[i], p);
}

// One thread per element: the same draw, threshold and product as the CPU's Dropout::apply, so the
// same bits.
template <class T>
__global__ void dropout_kernel(const T* src, T* dst, index_t rows, index_t width, const std::int64_t* ids,
                               std::int64_t first, std::int64_t offset, std::uint64_t seed, std::int64_t step,
                               std::uint32_t layer, std::uint32_t threshold, T scale) {
  const index_t e = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= rows * width) return;
  const index_t i = e / width, j = e - i * width;
  const std::int64_t row = (ids ? ids[i] : first + i) + offset;
  const std::uint64_t g = std::uint64_t(row) * std::uint64_t(width) + std::uint64_t(j);
  dst[e] = dropout_keeps(seed, step, layer, g, threshold) ? src[e] * scale : T(0);
}

}  // namespace

template <class T>
void dropout_apply(const T* src, T* dst, index_t rows, index_t width, const std::int64_t* ids, std::int64_t first,
                   std::int64_t offset, std::uint64_t seed, std::int64_t step, std::uint32_t layer, double p) {
  const index_t count = rows * width;
  if (count == 0) return;
  FASTMLP_LAUNCH(dropout_kernel<T>, blocks_for(count, 256), 256)(src, dst, rows, width, ids, first, offset, seed, step,
                                                                 layer, dropout_threshold(p), T(1.0 / (1.0 - p)));
  CUDA_CHECK_LAUNCH();
}

template <class T>
void activation_apply(ActivationSpec act, const T* z, T* a, index_t count) {
  if (count == 0) return;
  FASTMLP_LAUNCH(forward_kernel<T>, blocks_for(count, 256), 256)(act.kind, z, a, count, activation_params<T>(act));
  CUDA_CHECK_LAUNCH();
}

template <class T>
void activation_backward_saved(ActivationSpec act, const T* saved, T* grad, index_t count) {
  if (count == 0 || act.kind == Activation::identity) return;
  FASTMLP_LAUNCH(backward_saved_kernel<T>, blocks_for(count, 256), 256)(act.kind, saved, grad, count,
                                                                        activation_params<T>(act));
  CUDA_CHECK_LAUNCH();
}

template <class T>
void activation_forward(ActivationSpec act, const T* z, T* a, index_t count) {
  if (count == 0) return;
  DeviceBuffer<T> dz(count), da(count);
  dz.upload(z, count);
  activation_apply<T>(act, dz.get(), da.get(), count);
  da.download(a, count);
}

template <class T>
void activation_backward(ActivationSpec act, const T* z, const T* grad_a, T* grad_z, index_t count) {
  if (count == 0) return;
  DeviceBuffer<T> dz(count), dga(count), dgz(count);
  dz.upload(z, count);
  dga.upload(grad_a, count);
  FASTMLP_LAUNCH(backward_kernel<T>, blocks_for(count, 256), 256)(act.kind, dz.get(), dga.get(), dgz.get(), count,
                                                                  activation_params<T>(act));
  CUDA_CHECK_LAUNCH();
  dgz.download(grad_z, count);
}

#define FASTMLP_INSTANTIATE(T)                                                                                    \
  template void activation_apply<T>(ActivationSpec, const T*, T*, index_t);                                       \
  template void activation_backward_saved<T>(ActivationSpec, const T*, T*, index_t);                              \
  template void activation_forward<T>(ActivationSpec, const T*, T*, index_t);                                     \
  template void activation_backward<T>(ActivationSpec, const T*, const T*, T*, index_t);                          \
  template void dropout_apply<T>(const T*, T*, index_t, index_t, const std::int64_t*, std::int64_t, std::int64_t, \
                                 std::uint64_t, std::int64_t, std::uint32_t, double);
FASTMLP_INSTANTIATE(float)
FASTMLP_INSTANTIATE(double)
#undef FASTMLP_INSTANTIATE

}  // namespace cuda
}  // namespace fastmlp
