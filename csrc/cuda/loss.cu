// Loss and its gradient in one pass (formulas: fastmlp/loss_math.h, shared with the CPU), and the sums
// of squares of gradient clipping. Reductions are
// deterministic: a fixed grid of blocks writes one partial sum each (tree within the block, in a fixed
// pattern), then a single thread adds the partials in order. No atomics, so the same inputs always
// give the same bits.
#include "block_sum.cuh"
#include "common.cuh"
#include "fastmlp/cuda_ops.h"
#include "fastmlp/loss_math.h"
#include "kernels.cuh"

namespace fastmlp {
namespace cuda {
namespace {

constexpr int kBlocks = 256, kThreads = 256;

// Elementwise losses without sample weights, one element per thread (grid-stride): count = rows * m.
template <class T>
__global__ void loss_grad_kernel(Loss loss, const T* __restrict__ pred, const T* __restrict__ target,
                                 T* __restrict__ grad, index_t n, double coef, T delta, double* partial) {
  double local = 0.0;
  const T c = T(coef);
  for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += index_t(gridDim.x) * blockDim.x) {
    local += loss_term(loss, double(pred[i]), double(target[i]), double(delta));  // in double, as the CPU
    if (grad) grad[i] = loss_grad_term<T>(loss, pred[i], target[i], c, delta);
  }
  block_sum<kThreads>(local, partial);
}

// Any loss row by row, one row per thread (grid-stride): cross-entropy (labels or distributions) and
// the weighted forms, whose targets carry the row's weight as last column (see LossSpec).
template <class T>
__global__ void loss_rows_kernel(LossSpec loss, const T* __restrict__ pred, const T* __restrict__ target,
                                 T* __restrict__ grad, index_t rows, index_t m, index_t tcols,
                                 const double* __restrict__ class_weight, double scale, const double* denom,
                                 double* partial) {
  double local = 0.0;
  if (denom) scale = denom[0] > 0.0 ? scale / denom[0] : 0.0;  // the mean over the batch's weight sum
  const double coef = loss_grad_coefficient(loss.kind, scale) * loss.factor;
  for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < rows; i += index_t(gridDim.x) * blockDim.x) {
    const T* p = pred + i * m;
    const T* t = target + i * tcols;
    const double w = loss.factor * (loss.weighted ? double(t[tcols - 1]) : 1.0);
    if (loss.kind == Loss::cross_entropy) {
      local += w * cross_entropy_row<T>(p, t, m, loss.labels, class_weight, w * scale, grad ? grad + i * m : nullptr);
      continue;
    }
    double row = 0.0;
    for (index_t j = 0; j < m; ++j) row += loss_term(loss.kind, double(p[j]), double(t[j]), loss.delta);
    local += w * row;
    if (grad) {
      const T c = T(coef * (loss.weighted ? double(t[tcols - 1]) : 1.0));
      for (index_t j = 0; j < m; ++j) grad[i * m + j] = loss_grad_term<T>(loss.kind, p[j], t[j], c, T(loss.delta));
    }
  }
  block_sum<kThreads>(local, partial);
}

template <class T>
__global__ void sum_squares_kernel(const T* __restrict__ x, index_t n, double* partial) {
  double local = 0.0;
  for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += index_t(gridDim.x) * blockDim.x)
    local += double(x[i]) * double(x[i]);
  block_sum<kThreads>(local, partial);
}

// acc[0] += weight * (sum of the partials), divided by denom[0] when denom is given (a batch's sample-weight
// sum, known only on the device; a zero sum adds nothing, as the CPU trainer's zero scale).
__global__ void finish_sum(const double* partial, int count, double weight, double* acc, const double* denom) {
  double s = 0.0;
  for (int i = 0; i < count; ++i) s += partial[i];
  if (denom) weight = denom[0] > 0.0 ? weight / denom[0] : 0.0;
  acc[0] += weight * s;
}

// The sum of a batch's sample weights (target's last column) into partial (per block).
template <class T>
__global__ void weight_sum_kernel(const T* __restrict__ target, index_t rows, index_t tcols, double* partial) {
  double local = 0.0;
  for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < rows; i += index_t(gridDim.x) * blockDim.x)
    local += double(target[i * tcols + tcols - 1]);
  block_sum<kThreads>(local, partial);
}

template <class T>
__global__ void add_scaled_kernel(T* __restrict__ g, const T* __restrict__ w, index_t n, double a,
                                  const double* denom) {
  const index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (denom) a = denom[0] > 0.0 ? a / denom[0] : 0.0;
  if (i < n) g[i] += T(a) * w[i];  // the CPU trainer's grad += T(decay) * param
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
void loss_and_grad(const LossSpec& loss, const T* pred, const T* target, T* grad, index_t rows, index_t m,
                   const double* class_weight, double scale, double weight, double* partial, double* acc,
                   const double* denom) {
  if (!loss.weighted && loss.kind != Loss::cross_entropy) {
    const double coef = loss_grad_coefficient(loss.kind, scale) * loss.factor;
    FASTMLP_LAUNCH(loss_grad_kernel<T>, kBlocks, kThreads)(loss.kind, pred, target, grad, rows * m, coef, T(loss.delta),
                                                           partial);
    CUDA_CHECK_LAUNCH();
    FASTMLP_LAUNCH(finish_sum, 1, 1)(partial, kBlocks, weight * scale * loss.factor, acc, nullptr);
  } else {
    LossSpec spec = loss;
    spec.class_weight = nullptr;  // a host pointer; the kernel reads the device copy
    FASTMLP_LAUNCH(loss_rows_kernel<T>, kBlocks, kThreads)(spec, pred, target, grad, rows, m,
                                                           index_t(loss.labels ? 1 : m) + (loss.weighted ? 1 : 0),
                                                           class_weight, scale, denom, partial);
    CUDA_CHECK_LAUNCH();
    FASTMLP_LAUNCH(finish_sum, 1, 1)(partial, kBlocks, weight * scale, acc, denom);
  }
  CUDA_CHECK_LAUNCH();
}

template <class T>
void sum_squares(const T* x, index_t count, double* partial, double* acc, double weight, const double* denom) {
  FASTMLP_LAUNCH(sum_squares_kernel<T>, kBlocks, kThreads)(x, count, partial);
  CUDA_CHECK_LAUNCH();
  FASTMLP_LAUNCH(finish_sum, 1, 1)(partial, kBlocks, weight, acc, denom);
  CUDA_CHECK_LAUNCH();
}

template <class T>
void add_scaled(T* g, const T* w, index_t count, double a, const double* denom) {
  if (count == 0) return;
  FASTMLP_LAUNCH(add_scaled_kernel<T>, blocks_for(count, 256), 256)(g, w, count, a, denom);
  CUDA_CHECK_LAUNCH();
}

template <class T>
void weight_sum(const T* target, index_t rows, index_t tcols, double* partial, double* sum) {
  CUDA_CHECK(cudaMemset(sum, 0, sizeof(double)));
  FASTMLP_LAUNCH(weight_sum_kernel<T>, kBlocks, kThreads)(target, rows, tcols, partial);
  CUDA_CHECK_LAUNCH();
  FASTMLP_LAUNCH(finish_sum, 1, 1)(partial, kBlocks, 1.0, sum, nullptr);
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

// The host-array form behind fastmlp.ops.loss / loss_grad(device="cuda"): the mean's divisor is
// worked out on the host (the targets are host arrays here).
template <class T>
double loss_and_grad(const LossSpec& loss, Reduction red, Matrix<const T> pred, Matrix<const T> target, T* grad) {
  const index_t rows = pred.rows, m = pred.cols;
  const double scale = red == Reduction::mean ? 1.0 / fastmlp::loss_denominator<T>(loss, target, m) : 1.0;
  DeviceBuffer<T> dp = to_device(pred.data, rows * m), dt = to_device(target.data, rows * target.cols);
  DeviceBuffer<T> dg(grad ? rows * m : 0);
  DeviceBuffer<double> cw, partial(kBlocks), acc(1);
  if (loss.class_weight) cw = to_device(loss.class_weight, m);
  CUDA_CHECK(cudaMemset(acc.get(), 0, sizeof(double)));
  cuda::loss_and_grad<T>(loss, dp.get(), dt.get(), dg.get(), rows, m, cw.get(), scale, 1.0, partial.get(), acc.get());
  double value = 0.0;
  acc.download(&value, 1);
  if (grad) dg.download(grad, rows * m);
  return value;
}

#define FASTMLP_INSTANTIATE(T)                                                                                     \
  template void loss_and_grad<T>(const LossSpec&, const T*, const T*, T*, index_t, index_t, const double*, double, \
                                 double, double*, double*, const double*);                                         \
  template void weight_sum<T>(const T*, index_t, index_t, double*, double*);                                       \
  template double loss_and_grad<T>(const LossSpec&, Reduction, Matrix<const T>, Matrix<const T>, T*);              \
  template void sum_squares<T>(const T*, index_t, double*, double*, double, const double*);                        \
  template void add_scaled<T>(T*, const T*, index_t, double, const double*);                                       \
  template void clamp<T>(T*, index_t, T);                                                                          \
  template void scale_by_norm<T>(T*, index_t, const double*, double);
FASTMLP_INSTANTIATE(float)
FASTMLP_INSTANTIATE(double)
#undef FASTMLP_INSTANTIATE

}  // namespace cuda
}  // namespace fastmlp
