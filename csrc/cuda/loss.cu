// Loss and its gradient in one pass, and the sums of squares of gradient clipping. Reductions are
// deterministic: a fixed grid of blocks writes one partial sum each (tree within the block, in a fixed
// pattern), then a single thread adds the partials in order. No atomics, so the same inputs always
// give the same bits.
#include "common.cuh"
#include "fastmlp/cuda_ops.h"
#include "kernels.cuh"

namespace fastmlp {
namespace cuda {
namespace {

constexpr int kBlocks = 256, kThreads = 256;

// Tree-reduces each thread's value in shared memory; thread 0 writes the block's sum.
__device__ void block_sum(double v, double* partial) {
  __shared__ double s[kThreads];
  s[threadIdx.x] = v;
  __syncthreads();
  for (int w = kThreads / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

template <class T>
__global__ void loss_grad_kernel(Loss loss, const T* __restrict__ pred, const T* __restrict__ target,
                                 T* __restrict__ grad, index_t n, double scale, double* partial) {
  double local = 0.0;
  const T g = T(loss == Loss::mse ? 2.0 * scale : scale);
  for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += index_t(gridDim.x) * blockDim.x) {
    const T d = pred[i] - target[i];
    const double dd = double(pred[i]) - double(target[i]);  // the value in double, as cpu loss_value
    if (loss == Loss::mse) {
      local += dd * dd;
      if (grad) grad[i] = g * d;
    } else {
      local += fabs(dd);
      if (grad) grad[i] = d > T(0) ? g : (d < T(0) ? -g : T(0));
    }
  }
  block_sum(local, partial);
}

template <class T>
__global__ void sum_squares_kernel(const T* __restrict__ x, index_t n, double* partial) {
  double local = 0.0;
  for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += index_t(gridDim.x) * blockDim.x)
    local += double(x[i]) * double(x[i]);
  block_sum(local, partial);
}

__global__ void finish_sum(const double* partial, int count, double weight, double* acc) {
  double s = 0.0;
  for (int i = 0; i < count; ++i) s += partial[i];
  acc[0] += weight * s;
}

template <class T>
__global__ void clamp_kernel(T* x, index_t n, T v) {
  const index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] = x[i] > v ? v : (x[i] < -v ? -v : x[i]);
}

template <class T>
__global__ void scale_by_norm_kernel(T* x, index_t n, const double* sumsq, double max_norm) {
  const double coef = max_norm / (sqrt(sumsq[0]) + 1e-6);
  const index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (coef < 1.0 && i < n) x[i] *= T(coef);
}

}  // namespace

int loss_partials() { return kBlocks; }

template <class T>
void loss_and_grad(Loss loss, Reduction red, const T* pred, const T* target, T* grad, index_t count,
                   double weight, double* partial, double* acc) {
  const double scale = red == Reduction::mean ? 1.0 / double(count) : 1.0;
  FASTMLP_LAUNCH(loss_grad_kernel<T>, kBlocks, kThreads)(loss, pred, target, grad, count, scale, partial);
  CUDA_CHECK_LAUNCH();
  FASTMLP_LAUNCH(finish_sum, 1, 1)(partial, kBlocks, weight * scale, acc);
  CUDA_CHECK_LAUNCH();
}

template <class T>
void sum_squares(const T* x, index_t count, double* partial, double* acc) {
  FASTMLP_LAUNCH(sum_squares_kernel<T>, kBlocks, kThreads)(x, count, partial);
  CUDA_CHECK_LAUNCH();
  FASTMLP_LAUNCH(finish_sum, 1, 1)(partial, kBlocks, 1.0, acc);
  CUDA_CHECK_LAUNCH();
}

template <class T>
void clamp(T* x, index_t count, T v) {
  if (count == 0) return;
  FASTMLP_LAUNCH(clamp_kernel<T>, blocks_for(count, 256), 256)(x, count, v);
  CUDA_CHECK_LAUNCH();
}

template <class T>
void scale_by_norm(T* x, index_t count, const double* sumsq, double max_norm) {
  if (count == 0) return;
  FASTMLP_LAUNCH(scale_by_norm_kernel<T>, blocks_for(count, 256), 256)(x, count, sumsq, max_norm);
  CUDA_CHECK_LAUNCH();
}

// The host-array forms behind fastmlp.ops.loss / loss_grad(device="cuda").
template <class T>
double loss_and_grad(Loss loss, Reduction red, const T* pred, const T* target, T* grad, index_t count) {
  DeviceBuffer<T> dp = to_device(pred, count), dt = to_device(target, count), dg(grad ? count : 0);
  DeviceBuffer<double> partial(kBlocks), acc(1);
  CUDA_CHECK(cudaMemset(acc.get(), 0, sizeof(double)));
  cuda::loss_and_grad<T>(loss, red, dp.get(), dt.get(), dg.get(), count, 1.0, partial.get(), acc.get());
  double value = 0.0;
  acc.download(&value, 1);
  if (grad) dg.download(grad, count);
  return value;
}

template <class T>
double loss_value(Loss loss, Reduction red, const T* pred, const T* target, index_t count) {
  return cuda::loss_and_grad<T>(loss, red, pred, target, nullptr, count);
}

#define FASTMLP_INSTANTIATE(T)                                                                     \
  template void loss_and_grad<T>(Loss, Reduction, const T*, const T*, T*, index_t, double, double*, double*); \
  template double loss_and_grad<T>(Loss, Reduction, const T*, const T*, T*, index_t);               \
  template double loss_value<T>(Loss, Reduction, const T*, const T*, index_t);                      \
  template void sum_squares<T>(const T*, index_t, double*, double*);                               \
  template void clamp<T>(T*, index_t, T);                                                          \
  template void scale_by_norm<T>(T*, index_t, const double*, double);
FASTMLP_INSTANTIATE(float)
FASTMLP_INSTANTIATE(double)
#undef FASTMLP_INSTANTIATE

}  // namespace cuda
}  // namespace fastmlp
