// Pieces of the dense layer's backward and of the batch gather that are not GEMMs: the bias gradient
// (column sums, each column summed in row order, so deterministic) and the row gather of a shuffled
// mini-batch.
#include "common.cuh"
#include "kernels.cuh"

namespace fastmlp {
namespace cuda {
namespace {

template <class T>
__global__ void column_sums_kernel(const T* __restrict__ g, index_t rows, index_t cols, T* __restrict__ out) {
  const index_t j = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= cols) return;
  T s = T(0);
  for (index_t i = 0; i < rows; ++i) s += g[i * cols + j];  // neighbouring threads read neighbouring columns
  out[j] = s;
}

template <class T>
__global__ void gather_kernel(const T* __restrict__ src, const std::int64_t* __restrict__ idx, index_t rows,
                              index_t cols, T* __restrict__ dst) {
  const index_t e = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= rows * cols) return;
  const index_t i = e / cols, j = e % cols;
  dst[e] = src[idx[i] * cols + j];
}

}  // namespace

template <class T>
void column_sums(const T* g, index_t rows, index_t cols, T* out) {
  if (cols == 0) return;
  column_sums_kernel<T><<<ceil_div(cols, 128), 128>>>(g, rows, cols, out);
  CUDA_CHECK_LAUNCH();
}

template <class T>
void gather_rows(const T* src, const std::int64_t* idx, index_t rows, index_t cols, T* dst) {
  if (rows * cols == 0) return;
  gather_kernel<T><<<ceil_div(rows * cols, 256), 256>>>(src, idx, rows, cols, dst);
  CUDA_CHECK_LAUNCH();
}

template void column_sums<float>(const float*, index_t, index_t, float*);
template void column_sums<double>(const double*, index_t, index_t, double*);
template void gather_rows<float>(const float*, const std::int64_t*, index_t, index_t, float*);
template void gather_rows<double>(const double*, const std::int64_t*, index_t, index_t, double*);

}  // namespace cuda
}  // namespace fastmlp
