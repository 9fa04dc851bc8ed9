// The CUDA backend's entry points, in plain C++ types so that bindings.cpp includes no CUDA header.
// Compiled only when CMake found a CUDA compiler (FASTMLP_WITH_CUDA); every CUDA error becomes a
// std::runtime_error carrying the CUDA error string (Python: RuntimeError), never an abort.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "fastmlp/ops.h"

namespace fastmlp {
namespace cuda {

// Number of usable CUDA devices; 0 when there is no driver or no device (never throws).
int device_count() noexcept;
// "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)" for device 0.
std::string device_description();
// Free and total device memory in bytes.
void memory_info(std::size_t& free_bytes, std::size_t& total_bytes);

// C = op(A) op(B) for host arrays (copied to the device and back): the GEMM the dense layers use.
template <class T>
void matmul(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, const T* a, index_t lda, const T* b,
            index_t ldb, T* c);

// The network's output for host x; weights are copied to the device once per call.
template <class T>
void mlp_forward(const std::vector<LayerRef<T>>& layers, Matrix<const T> x, Matrix<T> out);

// A trainer whose data, weights, optimizer state and workspaces live on the device for the whole fit.
// Parameters and state are copied back into the host arrays of `layers` after every epoch, so that
// Python sees them (O(parameters) per epoch; the data set moves once per fit).
template <class T>
std::unique_ptr<TrainerBase> make_trainer(std::vector<LayerRef<T>> layers, Matrix<const T> x,
                                          Matrix<const T> y, const TrainOptions& options);

}  // namespace cuda
}  // namespace fastmlp
