// Dense-layer GEMM on the GPU, with bias and activation fused into the write of C.
// Classic 16 x 16 shared-memory tiles, one output element per thread: each tile of A and B is loaded
// once per block and reused 16 times from shared memory, and every load is coalesced whichever
// operand is transposed. Each element sums k in a fixed order, so results are deterministic.
//
// Split-K: a weight gradient (in x out) sums over the whole batch (k = rows, up to millions) but has
// few output tiles, so on its own it would occupy a handful of the GPU's multiprocessors. When the
// output has fewer tiles than kBusyBlocks, k is cut into S slices (S fixed by the shape alone, so the
// result is still deterministic): slice z writes its partial product to a workspace, and a second
// kernel adds the S partials in order and applies beta, bias and activation. The bias gradient's
// column sums (dense.cu) use the same workspace and the same final kernel.
#include <algorithm>

#include "activation.cuh"
#include "common.cuh"
#include "kernels.cuh"

namespace fastmlp {
namespace cuda {
namespace {

constexpr int kTile = 16;
constexpr index_t kBusyBlocks = 264;          // two blocks per multiprocessor on a 132-SM H100/H200
constexpr index_t kMinSliceK = 1024;          // a slice sums at least this many terms
constexpr index_t kMaxSlices = 64;
constexpr index_t kMaxWorkspace = index_t(1) << 24;  // elements of the split-K workspace

template <class T>
__global__ void gemm_tiled(bool ta, bool tb, index_t m, index_t n, index_t k, index_t k_slice,
                           const T* __restrict__ a, index_t lda, const T* __restrict__ b, index_t ldb, T beta,
                           T* __restrict__ c, index_t ldc, const T* __restrict__ bias, Activation act, T slope) {
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
        c[row * ldc + col] = activate(act, v, slope);
      }
    }
  }
}

template <class T>
__global__ void sum_slices_kernel(const T* __restrict__ partial, index_t slices, index_t m, index_t n, T beta,
                                  T* __restrict__ c, index_t ldc, const T* __restrict__ bias, Activation act,
                                  T slope) {
  const index_t e = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= m * n) return;
  const index_t row = e / n, col = e % n;
  T v = T(0);
  for (index_t z = 0; z < slices; ++z) v += partial[z * m * n + e];  // in slice order: deterministic
  if (beta != T(0)) v += beta * c[row * ldc + col];
  if (bias) v += bias[col];
  c[row * ldc + col] = activate(act, v, slope);
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

// The split-K workspace of the calling thread, grown on demand and kept for the thread's lifetime
// (one per thread: two Python threads may train at once with the GIL released).
template <class T>
T* workspace(index_t count) {
  thread_local DeviceBuffer<T> buf;
  if (buf.size() < count) {
    CUDA_CHECK(cudaDeviceSynchronize());  // kernels queued on the old buffer finish before it is freed
    buf = DeviceBuffer<T>();
    buf = DeviceBuffer<T>(count);
  }
  return buf.get();
}

template <class T>
void finish_slices(const T* partial, index_t slices, index_t m, index_t n, T beta, T* c, index_t ldc, const T* bias,
                   ActivationSpec act) {
  sum_slices_kernel<T><<<blocks_for(m * n, 256), 256>>>(partial, slices, m, n, beta, c, ldc, bias, act.kind,
                                                       T(act.negative_slope));
  CUDA_CHECK_LAUNCH();
}

}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, const T* a, index_t lda, const T* b,
          index_t ldb, T beta, T* c, index_t ldc, const T* bias, ActivationSpec act) {
  if (m == 0 || n == 0) return;
  const index_t row_tiles = (m + kTile - 1) / kTile, col_tiles = (n + kTile - 1) / kTile;
  const index_t slices = slices_for(row_tiles * col_tiles, k, m * n);
  const index_t k_slice = slices > 1 ? (k + slices - 1) / slices : std::max<index_t>(k, 1);
  dim3 block(kTile, kTile);
  dim3 grid(blocks_for(n, kTile), unsigned(std::min<index_t>(row_tiles, 65535)), unsigned(slices));
  T* out = slices > 1 ? workspace<T>(slices * m * n) : c;
  gemm_tiled<T><<<grid, block>>>(trans_a, trans_b, m, n, k, k_slice, a, lda, b, ldb, beta, out, ldc, bias, act.kind,
                                 T(act.negative_slope));
  CUDA_CHECK_LAUNCH();
  if (slices > 1) finish_slices<T>(out, slices, m, n, beta, c, ldc, bias, act);
}

template <class T>
void column_sums(const T* g, index_t rows, index_t cols, T* out) {
  if (cols == 0) return;
  const index_t col_blocks = (cols + 127) / 128;
  const index_t slices = std::max<index_t>(1, std::min(slices_for(col_blocks, rows, cols), rows));
  const index_t slice = slices > 1 ? (rows + slices - 1) / slices : rows;
  T* partial = slices > 1 ? workspace<T>(slices * cols) : out;
  column_sums_kernel<T><<<dim3(unsigned(col_blocks), unsigned(slices)), 128>>>(g, rows, cols, slice, partial);
  CUDA_CHECK_LAUNCH();
  if (slices > 1) finish_slices<T>(partial, slices, 1, cols, T(0), out, cols, nullptr, ActivationSpec{});
}

#define FASTMLP_INSTANTIATE(T)                                                                               \
  template void gemm<T>(bool, bool, index_t, index_t, index_t, const T*, index_t, const T*, index_t, T, T*, \
                        index_t, const T*, ActivationSpec);                                                 \
  template void column_sums<T>(const T*, index_t, index_t, T*);
FASTMLP_INSTANTIATE(float)
FASTMLP_INSTANTIATE(double)
#undef FASTMLP_INSTANTIATE

}  // namespace cuda
}  // namespace fastmlp
