// The dense (fully-connected) layer on the CPU: y = act(x w + b) and its backward, in terms of gemm
// (the forward's bias and activation fused into the GEMM's tiles: gemm_bias_act).
// Row-major, weight (in x out) as in Keras/scikit-learn; the three products of the backward read x and
// w through transposed strides instead of copying them.
#include <algorithm>

#include "fastmlp/clones.h"
#include "fastmlp/ops.h"

namespace fastmlp {

template <class T>
void dense_forward(Matrix<const T> x, Matrix<const T> w, const T* b, ActivationSpec act, Matrix<T> y) {
  // x w, with the bias and the activation applied to each tile of y as the GEMM finishes it.
  gemm_bias_act<T>(x.rows, w.cols, x.cols, x.data, x.stride, w.data, w.stride, b, act, y.data, y.stride);
}

template <class T>
FASTMLP_CLONES void dense_backward(Matrix<const T> x, Matrix<const T> w, Matrix<const T> saved, ActivationSpec act,
                                   Matrix<T> grad_y, Matrix<T> grad_x, Matrix<T> grad_w, T* grad_b) {
  const index_t n = x.rows, k = x.cols, m = w.cols;
  // One pass over grad_y: each row becomes grad_z (the activation's derivative, from the saved y or z)
  // and, while it is in cache, is added to grad_b, the column sums taken row by row in a fixed order.
  // Packed rows go through the derivative a block at a time (one call per ~16 KB instead of one per
  // row: the call resolves the activation each time), still summed into grad_b while in L1.
  std::fill(grad_b, grad_b + m, T(0));
  const bool packed = grad_y.stride == m && (act.kind == Activation::identity || saved.stride == m);
  const index_t block = packed ? std::max<index_t>(1, 2048 / std::max<index_t>(m, 1)) : 1;
  for (index_t i0 = 0; i0 < n; i0 += block) {
    const index_t rows = std::min(block, n - i0);
    if (act.kind != Activation::identity) activation_backward_saved<T>(act, saved.row(i0), grad_y.row(i0), rows * m);
    for (index_t i = i0; i < i0 + rows; ++i) {
      const T* g = grad_y.row(i);
      for (index_t j = 0; j < m; ++j) grad_b[j] += g[j];
    }
  }
  // grad_w (k x m) = x^T grad_z; grad_x (n x k) = grad_z w^T.
  gemm<T>(true, false, k, m, n, T(1), x.data, x.stride, grad_y.data, grad_y.stride, T(0), grad_w.data, grad_w.stride);
  if (grad_x.data)
    gemm<T>(false, true, n, k, m, T(1), grad_y.data, grad_y.stride, w.data, w.stride, T(0), grad_x.data, grad_x.stride);
}

#define FASTMLP_INSTANTIATE(T)                                                                                  \
  template void dense_forward<T>(Matrix<const T>, Matrix<const T>, const T*, ActivationSpec, Matrix<T>);        \
  template void dense_backward<T>(Matrix<const T>, Matrix<const T>, Matrix<const T>, ActivationSpec, Matrix<T>, \
                                  Matrix<T>, Matrix<T>, T*);
FASTMLP_INSTANTIATE(float)
FASTMLP_INSTANTIATE(double)
#undef FASTMLP_INSTANTIATE

}  // namespace fastmlp
