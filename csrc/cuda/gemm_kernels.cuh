// The device side of gemm.cu: the tiled GEMM kernel (with its split-K slices), the kernel that adds
// the slices, the column sums of the bias gradient, and how many slices a product gets. Apart from
// gemm.cu, tools/cuda_emu includes it to run these very kernels on the CPU in the test suite.
#pragma once
#include <algorithm>

#include "fastmlp/activation_math.h"
#include "fastmlp/ops.h"

namespace fastmlp {
namespace cuda {
namespace {

constexpr int kTile = 16;
constexpr index_t kBusyBlocks = 264;  // two blocks per multiprocessor on a 132-SM H100/H200
constexpr index_t kMinSliceK = 1024;  // a slice sums at least this many terms
constexpr index_t kMaxSlices = 64;
constexpr index_t kMaxWorkspace = index_t(1) << 24;  // elements of the split-K workspace

template <class T>
__global__ void gemm_tiled(bool ta, bool tb, index_t m, index_t n, index_t k, index_t k_slice, const T* __restrict__ a,
                           index_t lda, const T* __restrict__ b, index_t ldb, T beta, T* __restrict__ c, index_t ldc,
                           const T* __restrict__ bias, Activation act, ActivationParams<T> p) {
  __shared__ T as[kTile][kTile + 1];  // as[row][kk]; +1: no bank conflicts on either access pattern
  __shared__ T bs[kTile][kTile + 1];  // bs[kk][col]
  const int tx = threadIdx.x, ty = threadIdx.y;
  const index_t col0 = index_t(blockIdx.x) * kTile, col = col0 + tx;
  // Slice z of k: [k_begin, k_end). With one slice the block writes C; otherwise its own partial.
  const index_t k_begin = index_t(blockIdx.z) * k_slice, k_end = k < k_begin + k_slice ? k : k_begin + k_slice;
  const bool split = gridDim.z > 1;
  T* out = split ? c + index_t(blockIdx.z) * m * n : c;
  const index_t ld_out = split ? n : ldc;
  // Row tiles are strided over gridDim.y (at most 65535 blocks), so any number of rows is covered.
  for (index_t row0 = index_t(blockIdx.y) * kTile; row0 < m; row0 += index_t(gridDim.y) * kTile) {
    const index_t row = row0 + ty;
    T acc = T(0);
    for (index_t t = k_begin; t < k_end; t += kTile) {
      // Consecutive tx read consecutive addresses: along k for a plain A, along rows for A^T.
      if (ta)
        as[tx][ty] = (row0 + tx < m && t + ty < k_end) ? a[(t + ty) * lda + row0 + tx] : T(0);
      else
        as[ty][tx] = (row < m && t + tx < k_end) ? a[row * lda + t + tx] : T(0);
      if (tb)
        bs[tx][ty] = (col0 + ty < n && t + tx < k_end) ? b[(col0 + ty) * ldb + t + tx] : T(0);
      else
        bs[ty][tx] = (t + ty < k_end && col < n) ? b[(t + ty) * ldb + col] : T(0);
      __syncthreads();
#pragma unroll
      for (int p = 0; p < kTile; ++p) acc += as[ty][p] * bs[p][tx];
      __syncthreads();
    }
    if (row < m && col < n) {
      if (split) {
        out[row * ld_out + col] = acc;
      } else {
        T v = acc;
        if (beta != T(0)) v += beta * c[row * ldc + col];
        if (bias) v += bias[col];
        c[row * ldc + col] = activation_value(act, v, p);
      }
    }
  }
}

template <class T>
__global__ void sum_slices_kernel(const T* __restrict__ partial, index_t slices, index_t m, index_t n, T beta,
                                  T* __restrict__ c, index_t ldc, const T* __restrict__ bias, Activation act,
                                  ActivationParams<T> p) {
  const index_t e = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= m * n) return;
  const index_t row = e / n, col = e % n;
  T v = T(0);
  for (index_t z = 0; z < slices; ++z) v += partial[z * m * n + e];  // in slice order: deterministic
  if (beta != T(0)) v += beta * c[row * ldc + col];
  if (bias) v += bias[col];
  c[row * ldc + col] = activation_value(act, v, p);
}

// Column sums of one slice of rows: partial[z, j] = sum of g[i, j] for i in slice z, rows in order.
template <class T>
__global__ void column_sums_kernel(const T* __restrict__ g, index_t rows, index_t cols, index_t slice,
                                   T* __restrict__ out) {
  const index_t j = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= cols) return;
  const index_t begin = index_t(blockIdx.y) * slice, end = rows < begin + slice ? rows : begin + slice;
  T s = T(0);
  for (index_t i = begin; i < end; ++i) s += g[i * cols + j];  // neighbouring threads, neighbouring columns
  out[index_t(blockIdx.y) * cols + j] = s;
}

// How many slices of k a product with `tiles` output blocks and `elements` outputs gets.
index_t slices_for(index_t tiles, index_t k, index_t elements) {
  if (tiles >= kBusyBlocks || k < 2 * kMinSliceK) return 1;
  index_t s = std::min({(kBusyBlocks + tiles - 1) / tiles, k / kMinSliceK, kMaxSlices});
  s = std::min(s, std::max<index_t>(1, kMaxWorkspace / std::max<index_t>(elements, 1)));
  return std::max<index_t>(s, 1);
}

}  // namespace
}  // namespace cuda
}  // namespace fastmlp
