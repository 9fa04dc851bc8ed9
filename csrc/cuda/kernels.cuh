// Launchers of the CUDA kernels, one group per stem (gemm.cu, activation.cu, dense.cu, loss.cu,
// optim.cu). All take device pointers, run on the default stream and check their launch.
#pragma once
#include <cstdint>

#include "fastmlp/ops.h"
#include "fastmlp/optimizers/registry.h"

namespace fastmlp {
namespace cuda {

// C = act(op(A) op(B) + beta C + bias): one thread per element of C, k summed in a fixed order
// (deterministic). bias may be null; beta == 0 never reads C.
template <class T>
void gemm(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, const T* a, index_t lda, const T* b, index_t ldb,
          T beta, T* c, index_t ldc, const T* bias, ActivationSpec act);

// a = act(z) over count elements of device memory (a may be z).
template <class T>
void activation_apply(ActivationSpec act, const T* z, T* a, index_t count);

// grad *= act'(z), from what training keeps of the layer (as the CPU's activation_backward_saved): the
// output a = act(z), or z itself where the derivative needs it (activation_needs_z).
template <class T>
void activation_backward_saved(ActivationSpec act, const T* saved, T* grad, index_t count);

// Backward of y = act(x w + b) on device memory, x (rows x in), w (in x out): g holds dL/dy and
// becomes dL/dz; writes grad_w, grad_b and, when grad_x is not null, dL/dx. `saved` is y, or z where
// the derivative needs it; it is read unless act is the identity. Used by the trainer and by the
// host-array dense_backward.
template <class T>
void dense_backward(const T* x, const T* w, const T* saved, ActivationSpec act, index_t rows, index_t in, index_t out,
                    T* g, T* grad_x, T* grad_w, T* grad_b);

// out[j] = sum over rows of g[i, j], rows in a fixed order (split in slices for long columns, as
// gemm's split-K; gemm.cu).
template <class T>
void column_sums(const T* g, index_t rows, index_t cols, T* out);

// Inverted dropout on a rows x width block of layer `layer` (fastmlp/dropout.h): dst = src / (1 - p) where
// the mask keeps an element, 0 elsewhere (dst may be src: the backward pass's gradient). Row i is data
// row ids[i] (device memory; or first + i when ids is null) plus offset.
template <class T>
void dropout_apply(const T* src, T* dst, index_t rows, index_t width, const std::int64_t* ids, std::int64_t first,
                   std::int64_t offset, std::uint64_t seed, std::int64_t step, std::uint32_t layer, double p);

// dst[i, :] = src[idx[i], :] for i < rows.
template <class T>
void gather_rows(const T* src, const std::int64_t* idx, index_t rows, index_t cols, T* dst);

// grad = scale * dL/dpred over rows x m (unless grad is null) and acc[0] += weight * scale * L, L the
// loss summed over the rows (loss.factor and any row weights included), in double in a fixed order
// (per-block partial sums, then one thread adds the partials). target is rows x (labels ? 1 : m), plus
// a weight column when weighted; class_weight is a device array of m (or null). partial needs
// loss_partials() doubles.
int loss_partials();
template <class T>
void loss_and_grad(const LossSpec& loss, const T* pred, const T* target, T* grad, index_t rows, index_t m,
                   const double* class_weight, double scale, double weight, double* partial, double* acc,
                   const double* denom = nullptr);  // denom: scale is divided by denom[0] (device), when given
// sum[0] = the sum of a batch's sample weights (the last of target's tcols columns), summed in a fixed order.
template <class T>
void weight_sum(const T* target, index_t rows, index_t tcols, double* partial, double* sum);

// Sum of squares of `count` elements added to acc[0] (deterministic, as loss_and_grad).
template <class T>
void sum_squares(const T* x, index_t count, double* partial, double* acc, double weight = 1.0,
                 const double* denom = nullptr);  // acc += weight * sum (/ denom[0] when given)
// g += (a / denom[0], or a) * w elementwise: the L2 penalty's gradient added to a weight's.
template <class T>
void add_scaled(T* g, const T* w, index_t count, double a, const double* denom = nullptr);
// x = clamp(x, -v, v).
template <class T>
void clamp(T* x, index_t count, T v);
// x *= min(1, max_norm / (sqrt(sumsq[0]) + 1e-6)), the factor read on the device.
template <class T>
void scale_by_norm(T* x, index_t count, const double* sumsq, double max_norm);

// One optimizer step on a parameter (state: the optimizer's buffers, as on the CPU).
template <class T>
void optimizer_step(const OptimizerSpec& spec, const StepCoefficients<T>& c, T* param, const T* grad, T* const* state,
                    index_t count);

}  // namespace cuda
}  // namespace fastmlp
