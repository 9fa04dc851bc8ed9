// The race check's own test (tests/test_cuda_emulator.py compiles this with -fsanitize=thread
// instrumentation and links tools/cuda_emu/racecheck.cpp): each kernel below plants one hazard of a
// kind the check reports, beside a correct twin that must pass, as the CUDA sources must.
#include <cstdio>

#include "cuda_runtime.h"

namespace {

constexpr int kThreads = 8;

// Shared memory: thread i reads what thread i + 1 writes, with no barrier between.
__global__ void shared_race(float* out) {
  __shared__ float cell[kThreads];
  cell[threadIdx.x] = float(threadIdx.x);
  out[blockIdx.x * kThreads + threadIdx.x] = cell[(threadIdx.x + 1) % kThreads];
}
__global__ void shared_ok(float* out) {
  __shared__ float cell[kThreads];
  cell[threadIdx.x] = float(threadIdx.x);
  __syncthreads();
  out[blockIdx.x * kThreads + threadIdx.x] = cell[(threadIdx.x + 1) % kThreads];
}
// A tree sum in shared memory, a barrier between levels: correct.
__global__ void reduction_ok(float* out) {
  __shared__ float part[kThreads];
  part[threadIdx.x] = 1.0f;
  __syncthreads();
  for (unsigned half = kThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) part[threadIdx.x] += part[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = part[0];
}
// The same with the barrier after the half = 2 level missing: thread 0 reads part[1] while thread 1
// may still be writing it.
__global__ void reduction_race(float* out) {
  __shared__ float part[kThreads];
  part[threadIdx.x] = 1.0f;
  __syncthreads();
  for (unsigned half = kThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) part[threadIdx.x] += part[threadIdx.x + half];
    if (half != 2) __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = part[0];
}
// Global memory: every thread of the block writes one word between the same barriers.
__global__ void global_thread_race(float* out) { out[0] = float(threadIdx.x); }
// Global memory between blocks: block b reads the word block b - 1 writes in the same launch.
__global__ void global_block_race(float* p) {
  if (threadIdx.x != 0) return;
  p[blockIdx.x] = 1.0f;
  if (blockIdx.x > 0) p[gridDim.x + blockIdx.x] = p[blockIdx.x - 1];
}
// Each block its own words, and all threads reading one word nobody writes: correct.
__global__ void global_ok(float* p, const float* scale) {
  p[blockIdx.x * kThreads + threadIdx.x] = scale[0] * float(threadIdx.x);
}
// A tail tile: only the first block loads every element of its shared tile, the others half of it, and
// every thread reads its own element back: the others read what the first block left there.
__global__ void shared_stale(const float* in, float* out) {
  __shared__ float tile[kThreads];
  if (blockIdx.x == 0 || threadIdx.x < kThreads / 2) tile[threadIdx.x] = in[threadIdx.x];
  __syncthreads();
  out[blockIdx.x * kThreads + threadIdx.x] = tile[threadIdx.x];
}
__global__ void dynamic_stale(const float* in, float* out) {
  FASTMLP_DYNAMIC_SHARED(float, tile);
  if (blockIdx.x == 0 || threadIdx.x < kThreads / 2) tile[threadIdx.x] = in[threadIdx.x];
  __syncthreads();
  out[blockIdx.x * kThreads + threadIdx.x] = tile[threadIdx.x];
}
// Locals (a kernel thread's own stack, or the host's for a kernel without barriers) are private, even
// where the compiler must keep them in memory.
__attribute__((noinline)) float sum_of(volatile float* v, int n) {
  float s = 0;
  for (int i = 0; i < n; ++i) s += v[i];
  return s;
}
__global__ void locals_ok(float* out) {
  volatile float local[4] = {1, 2, 3, float(threadIdx.x)};
  __syncthreads();
  out[blockIdx.x * kThreads + threadIdx.x] = sum_of(local, 4);
}
__global__ void locals_no_barrier_ok(float* out) {
  volatile float local[4] = {1, 2, 3, float(threadIdx.x)};
  out[blockIdx.x * kThreads + threadIdx.x] = sum_of(local, 4);
}

int failures = 0;
void expect(bool ok, const char* what) {
  if (!ok) {
    std::printf("FAILED: %s\n", what);
    ++failures;
  }
}
// Whether the launch queued before it reported a race (and failed), cleared for the next.
bool raced(const char* name) {
  const std::uint64_t before = fastmlp_emu::race_count();
  const cudaError_t e = cudaDeviceSynchronize();
  const bool race = fastmlp_emu::race_count() > before;
  expect(race == (e == cudaErrorLaunchFailure), name);
  cudaGetLastError();
  std::printf("%s: %s\n", name, race ? "race" : "clean");
  return race;
}

}  // namespace

int main() {
  float* p = nullptr;
  float* in = nullptr;
  cudaMalloc(&p, 64 * sizeof(float));
  cudaMalloc(&in, kThreads * sizeof(float));
  cudaMemset(in, 0, kThreads * sizeof(float));
  FASTMLP_LAUNCH(shared_race, 2, kThreads)(p);
  expect(raced("shared_race"), "a shared read of another thread's write without a barrier is a race");
  FASTMLP_LAUNCH(shared_ok, 2, kThreads)(p);
  expect(!raced("shared_ok"), "the same with a barrier is none");
  FASTMLP_LAUNCH(reduction_ok, 3, kThreads)(p);
  expect(!raced("reduction_ok"), "a tree sum with a barrier per level is none");
  FASTMLP_LAUNCH(reduction_race, 3, kThreads)(p);
  expect(raced("reduction_race"), "a tree sum missing its last barrier is a race");
  FASTMLP_LAUNCH(global_thread_race, 1, kThreads)(p);
  expect(raced("global_thread_race"), "threads of a block writing one global word is a race");
  FASTMLP_LAUNCH(global_block_race, 4, kThreads)(p);
  expect(raced("global_block_race"), "a block reading another block's write is a race");
  FASTMLP_LAUNCH(global_ok, 4, kThreads)(p, in);
  expect(!raced("global_ok"), "blocks writing their own words and reading a shared constant is none");
  FASTMLP_LAUNCH(global_ok, 4, kThreads)(p + 32, p + 5);  // reads what the last launch wrote: fine
  expect(!raced("global_ok_again"), "reading the previous launch's results is none");
  // A static __shared__ array is known once written: the second launch is seen in any block order.
  FASTMLP_LAUNCH(shared_stale, 3, kThreads)(in, p);
  raced("shared_stale_first");
  FASTMLP_LAUNCH(shared_stale, 3, kThreads)(in, p);
  expect(raced("shared_stale"), "reading shared memory the block did not write is reported");
  FASTMLP_LAUNCH_ON(dynamic_stale, 3, kThreads, kThreads * sizeof(float), nullptr)(in, p);
  expect(raced("dynamic_stale"), "and dynamic shared memory the same");
  FASTMLP_LAUNCH(locals_ok, 2, kThreads)(p);
  expect(!raced("locals_ok"), "a kernel thread's locals are its own");
  FASTMLP_LAUNCH(locals_no_barrier_ok, 2, kThreads)(p);
  expect(!raced("locals_no_barrier_ok"), "also in a kernel without barriers");
  cudaFree(p);
  cudaFree(in);
  if (failures == 0) std::printf("race check self-test: all passed\n");
  return failures == 0 ? 0 : 1;
}
