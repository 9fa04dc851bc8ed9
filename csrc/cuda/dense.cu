// The dense layer on the GPU: its backward on device memory (activation derivative, bias gradient as
// column sums (gemm.cu), and the two GEMMs), the row gather of a shuffled
// mini-batch, and the host-array forms of forward and backward behind fastmlp.ops.*(device="cuda").
#include "common.cuh"
#include "fastmlp/cuda_ops.h"
#include "kernels.cuh"

namespace fastmlp {
namespace cuda {
namespace {

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
void gather_rows(const T* src, const std::int64_t* idx, index_t rows, index_t cols, T* dst) {
  if (rows * cols == 0) return;
  FASTMLP_LAUNCH(gather_kernel<T>, blocks_for(rows * cols, 256), 256)(src, idx, rows, cols, dst);
  CUDA_CHECK_LAUNCH();
}

template <class T>
void dense_backward(const T* x, const T* w, const T* saved, ActivationSpec act, index_t rows, index_t in, index_t out,
                    T* g, T* grad_x, T* grad_w, T* grad_b) {
  cuda::activation_backward_saved<T>(act, saved, g, rows * out);
  cuda::column_sums<T>(g, rows, out, grad_b);
  cuda::gemm<T>(true, false, in, out, rows, x, in, g, out, T(0), grad_w, out, nullptr, ActivationSpec{});
  if (grad_x) cuda::gemm<T>(false, true, rows, in, out, g, out, w, out, T(0), grad_x, in, nullptr, ActivationSpec{});
}

template <class T>
void dense_forward(Matrix<const T> x, Matrix<const T> w, const T* b, ActivationSpec act, Matrix<T> y) {
  const index_t n = x.rows, k = x.cols, m = w.cols;
  if (n * m == 0) return;
  DeviceBuffer<T> dx = to_device(x.data, n * k), dw = to_device(w.data, k * m), db = to_device(b, m), dy(n * m);
  cuda::gemm<T>(false, false, n, m, k, dx.get(), k, dw.get(), m, T(0), dy.get(), m, db.get(), act);
  dy.download(y.data, n * m);
}

template <class T>
void dense_backward(Matrix<const T> x, Matrix<const T> w, Matrix<const T> saved, ActivationSpec act, Matrix<T> grad_y,
                    Matrix<T> grad_x, Matrix<T> grad_w, T* grad_b) {
  const index_t n = x.rows, k = x.cols, m = w.cols;
  DeviceBuffer<T> dx = to_device(x.data, n * k), dw = to_device(w.data, k * m), dg = to_device(grad_y.data, n * m);
  DeviceBuffer<T> dy = act.kind == Activation::identity ? DeviceBuffer<T>() : to_device(saved.data, n * m);
  DeviceBuffer<T> dgx(grad_x.data ? n * k : 0), dgw(k * m), dgb(m);
  cuda::dense_backward<T>(dx.get(), dw.get(), dy.get(), act, n, k, m, dg.get(), dgx.get(), dgw.get(), dgb.get());
  dg.download(grad_y.data, n * m);
  if (grad_x.data) dgx.download(grad_x.data, n * k);
  dgw.download(grad_w.data, k * m);
  dgb.download(grad_b, m);
}

template void gather_rows<float>(const float*, const std::int64_t*, index_t, index_t, float*);
template void gather_rows<double>(const double*, const std::int64_t*, index_t, index_t, double*);

#define FASTMLP_INSTANTIATE(T)                                                                                         \
  template void dense_backward<T>(const T*, const T*, const T*, ActivationSpec, index_t, index_t, index_t, T*, T*, T*, \
                                  T*);                                                                                 \
  template void dense_forward<T>(Matrix<const T>, Matrix<const T>, const T*, ActivationSpec, Matrix<T>);               \
  template void dense_backward<T>(Matrix<const T>, Matrix<const T>, Matrix<const T>, ActivationSpec, Matrix<T>,        \
                                  Matrix<T>, Matrix<T>, T*);
FASTMLP_INSTANTIATE(float)
FASTMLP_INSTANTIATE(double)
#undef FASTMLP_INSTANTIATE

}  // namespace cuda
}  // namespace fastmlp
