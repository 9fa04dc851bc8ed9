// A CPU stand-in for the CUDA runtime, so that the CUDA backend's own source (csrc/cuda/*.cu, compiled
// as C++ with FASTMLP_CUDA_EMULATE=ON) runs on a machine without a GPU and the CUDA tests check its
// logic: indexing, edge tiles, split-K, reductions, the trainer's flow. Not its speed, and not what
// only hardware shows (races between warps, memory-model subtleties): that is tools/gpu_check.sh's job.
//
// A launch runs the grid block after block. The threads of a block are fibers (ucontext): each runs
// until it reaches __syncthreads() or returns, then the next; a block's round ends when every thread
// has arrived, so a barrier means what it means on the device. __shared__ variables are function
// statics, shared by the threads of the block running. Every host thread launches on its own (the
// emulator's state is thread_local), as two host threads' kernels run independently on a device.
// Device memory is host memory from malloc, filled with NaN bytes so that reading memory no kernel
// wrote shows up in the results.
#pragma once
#include <ucontext.h>

#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <math.h>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static thread_local

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

inline thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

enum cudaError_t { cudaSuccess = 0, cudaErrorMemoryAllocation = 2 };
enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3 };

struct cudaDeviceProp {
  char name[256];
  int major, minor;
  std::size_t totalGlobalMem;
};

inline const char* cudaGetErrorString(cudaError_t e) {
  return e == cudaSuccess ? "no error" : "out of memory (emulated device)";
}
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
  std::strcpy(p->name, "emulated CUDA device (CPU)");
  p->major = 9;
  p->minor = 0;
  p->totalGlobalMem = std::size_t(8) << 30;
  return cudaSuccess;
}
inline cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes) {
  *free_bytes = std::size_t(4) << 30;
  *total_bytes = std::size_t(8) << 30;
  return cudaSuccess;
}
template <class T>
cudaError_t cudaMalloc(T** p, std::size_t bytes) {
  void* m = std::malloc(bytes ? bytes : 1);
  if (!m) return cudaErrorMemoryAllocation;
  std::memset(m, 0xFF, bytes);  // NaN in every float and double: unwritten memory is visible
  *p = static_cast<T*>(m);
  return cudaSuccess;
}
inline cudaError_t cudaFree(void* p) {
  std::free(p);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind) {
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaMemset(void* p, int value, std::size_t bytes) {
  std::memset(p, value, bytes);
  return cudaSuccess;
}

namespace fastmlp_emu {

struct Fiber {
  ucontext_t ctx;
  std::vector<char> stack;
  bool done = true;
  dim3 tid;
};

inline thread_local ucontext_t scheduler;
inline thread_local Fiber* current = nullptr;
inline thread_local std::vector<Fiber> fibers;  // one pool per host thread: kernels do not launch kernels
inline thread_local std::function<void()> body;

inline void trampoline() {
  body();
  current->done = true;
  swapcontext(&current->ctx, &scheduler);
}

// Runs kernel(args...) over the grid, one block at a time, its threads as fibers.
template <class Kernel, class... Args>
void run_grid(dim3 grid, dim3 block, Kernel kernel, Args... args) {
  const unsigned threads = block.x * block.y * block.z;
  if (fibers.size() < threads) fibers.resize(threads);
  gridDim = grid;
  blockDim = block;
  body = [&] { kernel(args...); };
  // Most kernels have no barrier: their threads run as plain calls. Whether this one has is seen on
  // its first thread (every thread of a block reaches the same barriers, as CUDA requires).
  bool barriers = true;
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        blockIdx = dim3(bx, by, bz);
        if (!barriers) {
          for (unsigned i = 0; i < threads; ++i) {
            threadIdx = dim3(i % block.x, (i / block.x) % block.y, i / (block.x * block.y));
            kernel(args...);
          }
          continue;
        }
        for (unsigned i = 0; i < threads; ++i) {
          Fiber& f = fibers[i];
          if (f.stack.empty()) f.stack.resize(1 << 16);
          getcontext(&f.ctx);
          f.ctx.uc_stack.ss_sp = f.stack.data();
          f.ctx.uc_stack.ss_size = f.stack.size();
          f.ctx.uc_link = nullptr;
          makecontext(&f.ctx, trampoline, 0);
          f.done = false;
          f.tid = dim3(i % block.x, (i / block.x) % block.y, i / (block.x * block.y));
        }
        for (bool alive = true, first = bx == 0 && by == 0 && bz == 0; alive; first = false) {
          alive = false;  // one round: every live thread up to its next barrier
          for (unsigned i = 0; i < threads; ++i) {
            Fiber& f = fibers[i];
            if (f.done) continue;
            threadIdx = f.tid;
            current = &f;
            swapcontext(&scheduler, &f.ctx);
            alive = alive || !f.done;
            if (first && i == 0 && f.done) barriers = false;  // thread 0 ran through: no barrier
          }
        }
      }
}

inline dim3 as_dim3(dim3 d) { return d; }
inline dim3 as_dim3(unsigned n) { return dim3(n); }
inline dim3 as_dim3(int n) { return dim3(unsigned(n)); }

template <class Kernel>
auto launch(dim3 grid, dim3 block, Kernel kernel) {
  return [=](auto... args) { run_grid(grid, block, kernel, args...); };
}

}  // namespace fastmlp_emu

inline void __syncthreads() {
  swapcontext(&fastmlp_emu::current->ctx, &fastmlp_emu::scheduler);
}

#define FASTMLP_LAUNCH(kernel, grid, block) \
  ::fastmlp_emu::launch(::fastmlp_emu::as_dim3(grid), ::fastmlp_emu::as_dim3(block), kernel)
