// Shared by the CUDA files: error checking that throws, launch geometry, and a device buffer that
// frees itself. A failed CUDA call never aborts the interpreter: it becomes std::runtime_error.
#pragma once
#include <cuda_runtime.h>

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include "fastmlp/tensor.h"

namespace fastmlp {
namespace cuda {

[[noreturn]] inline void throw_cuda(cudaError_t err, const char* what, const char* file, int line) {
  std::ostringstream os;
  os << "CUDA error in " << what << ": " << cudaGetErrorString(err) << " (" << file << ":" << line << ")";
  throw std::runtime_error(os.str());
}

#define CUDA_CHECK(call)                                                                                   \
  do {                                                                                                     \
    cudaError_t fastmlp_err_ = (call);                                                                     \
    if (fastmlp_err_ != cudaSuccess) ::fastmlp::cuda::throw_cuda(fastmlp_err_, #call, __FILE__, __LINE__); \
  } while (0)

// kernel<<<grid, block>>>, written FASTMLP_LAUNCH(kernel, grid, block)(args...) so that the CPU
// emulation (tools/cuda_emu, FASTMLP_CUDA_EMULATE=ON) can run the same source.
#ifndef FASTMLP_LAUNCH
#define FASTMLP_LAUNCH(kernel, grid, block) kernel<<<grid, block>>>
#endif
// The same with `bytes` of dynamic shared memory, which a kernel reaches as FASTMLP_DYNAMIC_SHARED(T, name),
// on `stream` (a capturing stream records the launch into a graph: fused_train.cu).
#ifndef FASTMLP_LAUNCH_ON
#define FASTMLP_LAUNCH_ON(kernel, grid, block, bytes, stream) kernel<<<grid, block, bytes, stream>>>
#define FASTMLP_DYNAMIC_SHARED(T, name)                                    \
  extern __shared__ __align__(16) unsigned char fastmlp_dynamic_shared_[]; \
  T* name = reinterpret_cast<T*>(fastmlp_dynamic_shared_)
#endif

// After a kernel launch: launch errors now, execution errors at the next synchronizing call.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

inline unsigned ceil_div(index_t a, index_t b) { return unsigned((a + b - 1) / b); }

// Blocks of `threads` covering `count` elements with one thread each (1-D grids allow 2^31 - 1 blocks).
inline unsigned blocks_for(index_t count, int threads) {
  const index_t blocks = (count + threads - 1) / threads;
  if (blocks > index_t(0x7FFFFFFF))
    throw std::runtime_error("CUDA launch: " + std::to_string(count) + " elements is more than one grid covers");
  return unsigned(blocks);
}

// Owning device allocation (cudaMalloc), moved not copied, freed in the destructor.
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(index_t count) : count_(count) {
    if (count > 0) CUDA_CHECK(cudaMalloc(&ptr_, sizeof(T) * size_t(count)));
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), count_(o.count_) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(count_, o.count_);
    return *this;
  }
  ~DeviceBuffer() {
    if (ptr_) cudaFree(ptr_);  // no throw from a destructor; a failure here is reported by the next call
  }
  T* get() const { return ptr_; }
  index_t size() const { return count_; }
  void upload(const T* host, index_t count) {
    if (count > 0) CUDA_CHECK(cudaMemcpy(ptr_, host, sizeof(T) * size_t(count), cudaMemcpyHostToDevice));
  }
  void download(T* host, index_t count) const {
    if (count > 0) CUDA_CHECK(cudaMemcpy(host, ptr_, sizeof(T) * size_t(count), cudaMemcpyDeviceToHost));
  }

 private:
  T* ptr_ = nullptr;
  index_t count_ = 0;
};

// A device copy of `count` host elements.
template <class T>
DeviceBuffer<T> to_device(const T* host, index_t count) {
  DeviceBuffer<T> d(count);
  d.upload(host, count);
  return d;
}

}  // namespace cuda
}  // namespace fastmlp
