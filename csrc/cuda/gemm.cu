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
#include <chrono>
#include <vector>

#include "common.cuh"
#include "gemm_kernels.cuh"
#include "kernels.cuh"

namespace fastmlp {
namespace cuda {
namespace {

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
  FASTMLP_LAUNCH(sum_slices_kernel<T>, blocks_for(m * n, 256), 256)(partial, slices, m, n, beta, c, ldc, bias, act.kind,
                                                                    activation_params<T>(act));
  CUDA_CHECK_LAUNCH();
}

}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, const T* a, index_t lda, const T* b, index_t ldb,
          T beta, T* c, index_t ldc, const T* bias, ActivationSpec act) {
  if (m == 0 || n == 0) return;
  const index_t row_tiles = (m + kTile - 1) / kTile, col_tiles = (n + kTile - 1) / kTile;
  const index_t slices = slices_for(row_tiles * col_tiles, k, m * n);
  const index_t k_slice = slices > 1 ? (k + slices - 1) / slices : std::max<index_t>(k, 1);
  dim3 block(kTile, kTile);
  dim3 grid(blocks_for(n, kTile), unsigned(std::min<index_t>(row_tiles, 65535)), unsigned(slices));
  T* out = slices > 1 ? workspace<T>(slices * m * n) : c;
  FASTMLP_LAUNCH(gemm_tiled<T>, grid, block)(trans_a, trans_b, m, n, k, k_slice, a, lda, b, ldb, beta, out, ldc, bias,
                                             act.kind, activation_params<T>(act));
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
  FASTMLP_LAUNCH(column_sums_kernel<T>, dim3(unsigned(col_blocks), unsigned(slices)), 128)(g, rows, cols, slice,
                                                                                           partial);
  CUDA_CHECK_LAUNCH();
  if (slices > 1) finish_slices<T>(partial, slices, 1, cols, T(0), out, cols, nullptr, ActivationSpec{});
}

std::size_t gemm_scratch_bytes(std::size_t item) { return item * std::size_t(kMaxWorkspace); }

// The median seconds of C = A B (n x n, float32, every operand already on the device), each run
// synchronized: what the GEMM itself costs, without the copies of matmul(). For the benchmarks.
double gemm_seconds(index_t n, int repeats) {
  DeviceBuffer<float> a(n * n), b(n * n), c(n * n);
  CUDA_CHECK(cudaMemset(a.get(), 0, sizeof(float) * size_t(n * n)));  // the time does not depend on the values
  CUDA_CHECK(cudaMemset(b.get(), 0, sizeof(float) * size_t(n * n)));
  std::vector<double> times;
  for (int r = 0; r <= repeats; ++r) {  // the first run warms up, uncounted
    const auto start = std::chrono::steady_clock::now();
    gemm<float>(false, false, n, n, n, a.get(), n, b.get(), n, 0.0f, c.get(), n, nullptr, ActivationSpec{});
    CUDA_CHECK(cudaDeviceSynchronize());
    if (r > 0) times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times.empty() ? 0.0 : times[times.size() / 2];
}

#define FASTMLP_INSTANTIATE(T)                                                                                       \
  template void gemm<T>(bool, bool, index_t, index_t, index_t, const T*, index_t, const T*, index_t, T, T*, index_t, \
                        const T*, ActivationSpec);                                                                   \
  template void column_sums<T>(const T*, index_t, index_t, T*);
FASTMLP_INSTANTIATE(float)
FASTMLP_INSTANTIATE(double)
#undef FASTMLP_INSTANTIATE

}  // namespace cuda
}  // namespace fastmlp
