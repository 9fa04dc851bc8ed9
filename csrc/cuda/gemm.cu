// Dense-layer GEMM on the GPU, with bias and activation fused into the write of C.
// Version 1: classic 16 x 16 shared-memory tiles, one output element per thread. Each tile of A and
// B is loaded once per block and reused 16 times from shared memory. It is simple and
// deterministic (each element sums k in order), not fast. A register-blocked kernel (several outputs
// per thread, 128 x 128 block tiles) is the next version and is meant to sit beside this one.
#include <algorithm>

#include "activation.cuh"
#include "common.cuh"
#include "kernels.cuh"

namespace fastmlp {
namespace cuda {
namespace {

constexpr int kTile = 16;

template <class T>
__global__ void gemm_tiled(bool ta, bool tb, index_t m, index_t n, index_t k, const T* __restrict__ a, index_t lda,
                           const T* __restrict__ b, index_t ldb, T beta, T* __restrict__ c, index_t ldc,
                           const T* __restrict__ bias, Activation act, T slope) {
  __shared__ T as[kTile][kTile + 1];  // +1: no bank conflicts on the column reads
  __shared__ T bs[kTile][kTile + 1];
  const index_t col = index_t(blockIdx.x) * kTile + threadIdx.x;
  // Row tiles are strided over gridDim.y (at most 65535 blocks), so any number of rows is covered.
  for (index_t row0 = index_t(blockIdx.y) * kTile; row0 < m; row0 += index_t(gridDim.y) * kTile) {
    const index_t row = row0 + threadIdx.y;
    T acc = T(0);
    for (index_t t = 0; t < k; t += kTile) {
      const index_t ak = t + threadIdx.x, bk = t + threadIdx.y;
      as[threadIdx.y][threadIdx.x] = (row < m && ak < k) ? (ta ? a[ak * lda + row] : a[row * lda + ak]) : T(0);
      bs[threadIdx.y][threadIdx.x] = (bk < k && col < n) ? (tb ? b[col * ldb + bk] : b[bk * ldb + col]) : T(0);
      __syncthreads();
#pragma unroll
      for (int p = 0; p < kTile; ++p) acc += as[threadIdx.y][p] * bs[p][threadIdx.x];
      __syncthreads();
    }
    if (row < m && col < n) {
      T v = acc;
      if (beta != T(0)) v += beta * c[row * ldc + col];
      if (bias) v += bias[col];
      c[row * ldc + col] = activate(act, v, slope);
    }
  }
}

}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, const T* a, index_t lda, const T* b,
          index_t ldb, T beta, T* c, index_t ldc, const T* bias, ActivationSpec act) {
  if (m == 0 || n == 0) return;
  dim3 block(kTile, kTile);
  dim3 grid(blocks_for(n, kTile), unsigned(std::min<index_t>((m + kTile - 1) / kTile, 65535)));
  gemm_tiled<T><<<grid, block>>>(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc, bias, act.kind,
                                 T(act.negative_slope));
  CUDA_CHECK_LAUNCH();
}

template void gemm<float>(bool, bool, index_t, index_t, index_t, const float*, index_t, const float*, index_t,
                          float, float*, index_t, const float*, ActivationSpec);
template void gemm<double>(bool, bool, index_t, index_t, index_t, const double*, index_t, const double*,
                           index_t, double, double*, index_t, const double*, ActivationSpec);

}  // namespace cuda
}  // namespace fastmlp
