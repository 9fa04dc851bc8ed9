// The CUDA backend's entry points, in plain C++ types so that the bindings include no CUDA header.
// Compiled only when CMake found a CUDA compiler (FASTMLP_WITH_CUDA); every CUDA error becomes a
// std::runtime_error carrying the CUDA error string (Python: RuntimeError), never an abort.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fastmlp/ops.h"

namespace fastmlp {
namespace cuda {

// Number of usable CUDA devices; 0 when there is no driver or no device (never throws).
int device_count() noexcept;
// Why the last device_count() found none, in CUDA's words ("" when it found one, or when CUDA reported
// no error: no device at all). A driver older than the runtime reads here, not as "no GPU".
const char* device_count_error() noexcept;
// "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)" for device 0.
std::string device_description();
// Free and total device memory in bytes.
void memory_info(std::size_t& free_bytes, std::size_t& total_bytes);

// C = op(A) op(B) for host arrays (copied to the device and back): the GEMM the dense layers use.
template <class T>
void matmul(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, const T* a, index_t lda, const T* b,
            index_t ldb, T* c);

// Host-array twins of the CPU operations in ops.h, with the same signatures: inputs are copied to the
// device, the CUDA kernels run, results are copied back (fastmlp.ops.*(device="cuda")). The bindings
// pick the CPU or the CUDA function with one expression, so both paths validate and return alike.
template <class T>
void dense_forward(Matrix<const T> x, Matrix<const T> w, const T* b, ActivationSpec act, Matrix<T> y);
template <class T>
void dense_backward(Matrix<const T> x, Matrix<const T> w, Matrix<const T> saved, ActivationSpec act, Matrix<T> grad_y,
                    Matrix<T> grad_x, Matrix<T> grad_w, T* grad_b);
template <class T>
void activation_forward(ActivationSpec act, const T* z, T* a, index_t count);
template <class T>
void activation_backward(ActivationSpec act, const T* z, const T* grad_a, T* grad_z, index_t count);
template <class T>
double loss_and_grad(const LossSpec& loss, Reduction red, Matrix<const T> pred, Matrix<const T> target, T* grad);
template <class T>
void init_fill(InitSpec spec, index_t fan_in, index_t fan_out, std::uint64_t seed, std::uint32_t stream, T* out,
               index_t count);
template <class T>
void optimizer_step(const OptimizerSpec& spec, double lr, std::int64_t step, T* param, const T* grad, T* const* state,
                    index_t count);
template <class T>
double mlp_loss_grad(const std::vector<LayerRef<T>>& layers, const LossSpec& loss, Matrix<const T> x, Matrix<const T> y,
                     const std::vector<T*>& grads);

// The network's output for host x; weights are copied to the device once per call.
template <class T>
void mlp_forward(const std::vector<LayerRef<T>>& layers, Matrix<const T> x, Matrix<T> out);

// A trainer whose data, weights, optimizer state and workspaces live on the device for the whole fit.
// Parameters and state are copied back into the host arrays of `layers` after every epoch, so that
// Python sees them (O(parameters) per epoch; the data set moves once per fit).
template <class T>
std::unique_ptr<TrainerBase> make_trainer(std::vector<LayerRef<T>> layers, Matrix<const T> x, Matrix<const T> y,
                                          const TrainOptions& options);

// The device bytes such a trainer holds (TrainerBase::allocated_bytes): parameters, gradients,
// state_buffers optimizer buffers per parameter, workspaces, the data set and the shuffle order.
std::size_t trainer_bytes(const std::vector<LayerShape>& layers, std::size_t item, index_t n, int state_buffers,
                          const TrainOptions& options);

// Shared memory a block of the fused narrow-MLP kernel may use on this device (the device's opt-in
// limit less the kernel's static arrays): what fastmlp/fused_plan.h plans against.
std::size_t fused_shared_limit();

// The median seconds of an n x n x n float32 GEMM on device-resident operands (benchmarks/bench_gpu.py).
double gemm_seconds(index_t n, int repeats);

// The most device memory the GEMM's split-K scratch takes (one per host thread, kept between calls).
std::size_t gemm_scratch_bytes(std::size_t item);

}  // namespace cuda
}  // namespace fastmlp
