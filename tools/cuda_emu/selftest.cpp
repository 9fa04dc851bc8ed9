// The emulator's own checks of a launch, against what a device does (tests/test_cuda_emulator.py
// compiles and runs this): a launch the device refuses sets the error cudaGetLastError returns once,
// and runs nothing; a kernel asks for dynamic shared memory past 48 KiB with cudaFuncSetAttribute.
#include <cmath>
#include <cstdio>
#include <thread>

#include "cuda_runtime.h"

namespace {

int runs = 0;
__global__ void count_kernel() {
  if (threadIdx.x == 0) ++runs;
}
__global__ void other_kernel() { ++runs; }

// The order blocks and block 0's threads run in (FASTMLP_EMU_ORDER), printed for the test to read.
std::vector<unsigned> block_order, thread_order;
__global__ void order_kernel() {
  if (threadIdx.x == 0) block_order.push_back(blockIdx.x);
  if (blockIdx.x == 0) thread_order.push_back(threadIdx.x);
}
// A race a device may or may not show: thread i reads what thread i + 1 writes, with no barrier
// between. Index order runs the reader first (it sees the 0 it started with), reverse order the writer.
__global__ void racy_kernel(int* out) {
  __shared__ int cell[8];
  cell[threadIdx.x] = 0;
  __syncthreads();
  cell[threadIdx.x] = int(threadIdx.x) + 1;  // no __syncthreads() after this: the race
  out[threadIdx.x] = threadIdx.x + 1 < 8 ? cell[threadIdx.x + 1] : -1;
}

// Barriers at two call sites, reached by different threads of a block: undefined on a device.
__global__ void divergent_kernel() {
  if (threadIdx.x < 4) {
    __syncthreads();
  } else {
    __syncthreads();
  }
}
// Threads past the data return before the barrier the others wait at.
__global__ void early_exit_kernel(int n) {
  if (int(threadIdx.x) >= n) return;
  __syncthreads();
}
// A barrier only blocks after the first reach (the first block runs without one).
__global__ void late_barrier_kernel() {
  if (blockIdx.x > 0) __syncthreads();
}
// Every thread at the same barrier, in a loop: fine.
__global__ void loop_barrier_kernel(int* out) {
  for (int i = 0; i < 3; ++i) {
    if (threadIdx.x == 0) ++out[0];
    __syncthreads();
  }
}

int failures = 0;
void expect(bool ok, const char* what) {
  if (!ok) {
    std::printf("FAILED: %s\n", what);
    ++failures;
  }
}

__global__ void fill_kernel(float* p, float v, int n) {
  if (int(threadIdx.x) < n) p[threadIdx.x] = v;
}
__global__ void add_kernel(float* dst, const float* src, int n) {
  if (int(threadIdx.x) < n) dst[threadIdx.x] += src[threadIdx.x];
}

// Work on a stream runs when something waits for it, the latest a device may run it: host code that
// reads results it did not wait for, or a stream that reads what another has not yet written, sees
// the NaN of unwritten device memory.
void check_queued_streams() {
  float* d = nullptr;
  float* e = nullptr;
  cudaMalloc(&d, 4 * sizeof(float));
  cudaMalloc(&e, 4 * sizeof(float));
  cudaStream_t s;
  cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  float host[4] = {0, 0, 0, 0};
  FASTMLP_LAUNCH_ON(fill_kernel, 1, 4, 0, s)(d, 1.0f, 4);
  expect(cudaGetLastError() == cudaSuccess, "a launch on a stream is taken");
  cudaMemcpy(host, d, sizeof host, cudaMemcpyDeviceToHost);  // the legacy stream: does not wait for s
  expect(std::isnan(host[0]), "a copy on the legacy stream does not wait for a non-blocking stream");
  cudaEvent_t done;
  cudaEventCreateWithFlags(&done, cudaEventDisableTiming);
  cudaEventRecord(done, s);
  FASTMLP_LAUNCH_ON(fill_kernel, 1, 4, 0, s)(d, 2.0f, 4);
  cudaEventSynchronize(done);  // the first fill has run, not the second
  cudaMemcpy(host, d, sizeof host, cudaMemcpyDeviceToHost);
  expect(host[0] == 1.0f, "an event waits for the stream's work up to where it was recorded");
  cudaStreamSynchronize(s);
  cudaMemcpy(host, d, sizeof host, cudaMemcpyDeviceToHost);
  expect(host[3] == 2.0f, "after cudaStreamSynchronize the stream's results are there");
  // A legacy-stream upload that a non-blocking stream's kernel reads without waiting for it.
  const float ones[4] = {1, 1, 1, 1};
  cudaMemcpy(e, ones, sizeof ones, cudaMemcpyHostToDevice);
  FASTMLP_LAUNCH_ON(add_kernel, 1, 4, 0, s)(d, e, 4);
  cudaStreamSynchronize(s);
  cudaMemcpy(host, d, sizeof host, cudaMemcpyDeviceToHost);
  expect(std::isnan(host[0]), "a non-blocking stream does not wait for the legacy stream's upload");
  FASTMLP_LAUNCH_ON(fill_kernel, 1, 4, 0, s)(d, 2.0f, 4);
  cudaStreamSynchronize(nullptr);  // the upload is done
  FASTMLP_LAUNCH_ON(add_kernel, 1, 4, 0, s)(d, e, 4);
  cudaStreamSynchronize(s);
  cudaMemcpy(host, d, sizeof host, cudaMemcpyDeviceToHost);
  expect(host[2] == 3.0f, "after the legacy stream's sync its upload is seen");
  // From pageable memory an asynchronous copy stages the host's bytes at once.
  float staged[4] = {5, 5, 5, 5};
  cudaMemcpyAsync(d, staged, sizeof staged, cudaMemcpyHostToDevice, s);
  staged[0] = 7;
  cudaMemcpyAsync(host, d, sizeof host, cudaMemcpyDeviceToHost, s);  // returns when done
  expect(host[0] == 5.0f, "an asynchronous upload takes the host's bytes when it is called");
  // A blocking stream and the legacy stream wait for each other.
  cudaStream_t b;
  cudaStreamCreate(&b);
  cudaMemcpy(e, ones, sizeof ones, cudaMemcpyHostToDevice);
  FASTMLP_LAUNCH_ON(fill_kernel, 1, 4, 0, b)(d, 0.5f, 4);
  FASTMLP_LAUNCH_ON(add_kernel, 1, 4, 0, b)(d, e, 4);
  cudaMemcpy(host, d, sizeof host, cudaMemcpyDeviceToHost);  // waits for the blocking stream
  expect(host[1] == 1.5f, "the legacy stream and a blocking stream keep each other's order");
  // Work still queued when its stream is destroyed runs.
  FASTMLP_LAUNCH_ON(fill_kernel, 1, 4, 0, s)(d, 4.0f, 4);
  cudaStreamDestroy(s);
  cudaMemcpy(host, d, sizeof host, cudaMemcpyDeviceToHost);
  expect(host[0] == 4.0f, "a destroyed stream's queued work runs");
  cudaStreamDestroy(b);
  cudaEventDestroy(done);
  cudaFree(d);
  cudaFree(e);
}

// Launches count_kernel (or other_kernel) and returns (error, blocks that ran).
template <class Kernel>
std::pair<cudaError_t, int> try_launch(Kernel k, dim3 grid, dim3 block, std::size_t shared = 0) {
  runs = 0;
  FASTMLP_LAUNCH_ON(k, grid, block, shared, nullptr)();
  const cudaError_t e = cudaGetLastError();  // what the launch was refused for (it ran at no point)
  cudaDeviceSynchronize();                   // the queued launch runs
  return {e, runs};
}

}  // namespace

int main() {
  auto ok = try_launch(count_kernel, dim3(3), dim3(1024));
  expect(ok.first == cudaSuccess && ok.second == 3, "3 blocks of 1024 threads run");
  auto r = try_launch(count_kernel, dim3(1), dim3(1025));
  expect(r.first == cudaErrorInvalidConfiguration && r.second == 0, "1025 threads per block are refused");
  r = try_launch(count_kernel, dim3(1), dim3(32, 32, 2));
  expect(r.first == cudaErrorInvalidConfiguration, "2048 threads in a 3-D block are refused");
  r = try_launch(count_kernel, dim3(0), dim3(32));
  expect(r.first == cudaErrorInvalidConfiguration, "an empty grid is refused");
  r = try_launch(count_kernel, dim3(1, 65536), dim3(32));
  expect(r.first == cudaErrorInvalidConfiguration && r.second == 0, "grid.y of 65536 is refused");
  expect(cudaGetLastError() == cudaSuccess, "cudaGetLastError clears the error");
  r = try_launch(count_kernel, dim3(1), dim3(32), 48 * 1024);
  expect(r.first == cudaSuccess && r.second == 1, "48 KiB of dynamic shared memory need no opt-in");
  r = try_launch(count_kernel, dim3(1), dim3(32), 48 * 1024 + 4);
  expect(r.first == cudaErrorInvalidValue && r.second == 0, "past 48 KiB without the attribute is refused");
  expect(cudaFuncSetAttribute(count_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 100000) == cudaSuccess,
         "the attribute is taken up to the opt-in limit");
  r = try_launch(count_kernel, dim3(1), dim3(32), 100000);
  expect(r.first == cudaSuccess && r.second == 1, "the allowed dynamic shared memory runs");
  r = try_launch(count_kernel, dim3(1), dim3(32), 100001);
  expect(r.first == cudaErrorInvalidValue, "past the allowed amount is refused");
  r = try_launch(other_kernel, dim3(1), dim3(1), 100000);
  expect(r.first == cudaErrorInvalidValue, "the attribute belongs to one kernel");
  expect(
      cudaFuncSetAttribute(count_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 232448) == cudaErrorInvalidValue,
      "the opt-in limit includes the kernel's static shared memory");
  cudaFuncAttributes a{};
  expect(cudaFuncGetAttributes(&a, count_kernel) == cudaSuccess && a.maxDynamicSharedSizeBytes == 100000 &&
             a.sharedSizeBytes > 0,
         "cudaFuncGetAttributes reports the kernel's limits");
  // A refused launch on a capturing stream is not recorded.
  cudaStream_t s;
  cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
  runs = 0;
  FASTMLP_LAUNCH_ON(count_kernel, dim3(1), dim3(2048), 0, s)();
  expect(cudaGetLastError() == cudaErrorInvalidConfiguration, "a refused launch during capture says so");
  cudaGraph_t g = nullptr;
  expect(cudaStreamEndCapture(s, &g) == cudaSuccess, "a refused launch does not invalidate the capture");
  cudaGraphExec_t e;
  cudaGraphInstantiate(&e, g, 0);
  cudaGraphLaunch(e, s);
  cudaStreamSynchronize(s);
  expect(runs == 0, "a refused launch is not in the graph");
  cudaGraphExecDestroy(e);
  cudaGraphDestroy(g);
  // Capture's rules: the capturing thread may not touch the legacy stream, and doing so invalidates
  // the capture; while a blocking stream captures, nobody may.
  int* buf = nullptr;
  cudaMalloc(&buf, 16);
  cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
  expect(cudaMemsetAsync(buf, 0, 16, s) == cudaSuccess, "work on the capturing stream is recorded");
  expect(cudaMemset(buf, 0, 16) == cudaErrorStreamCaptureImplicit, "cudaMemset during capture is refused");
  g = nullptr;
  expect(cudaStreamEndCapture(s, &g) == cudaErrorStreamCaptureInvalidated && g == nullptr,
         "legacy-stream work invalidates the capture");
  cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
  expect(cudaStreamSynchronize(s) == cudaErrorStreamCaptureUnsupported, "a capturing stream cannot be waited for");
  expect(cudaStreamEndCapture(s, &g) == cudaErrorStreamCaptureInvalidated, "nor the capture used after it");
  cudaStream_t blocking;
  cudaStreamCreate(&blocking);
  cudaStreamBeginCapture(blocking, cudaStreamCaptureModeThreadLocal);
  cudaError_t other = cudaSuccess;
  std::thread([&] { other = cudaMemcpy(buf, buf + 2, 8, cudaMemcpyDeviceToDevice); }).join();
  expect(other == cudaErrorStreamCaptureImplicit,
         "another thread's legacy work fails while a blocking stream captures");
  cudaStreamEndCapture(blocking, &g);
  cudaGraphDestroy(g);
  cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);  // non-blocking: other threads go on
  std::thread([&] { other = cudaMemcpy(buf, buf + 2, 8, cudaMemcpyDeviceToDevice); }).join();
  expect(other == cudaSuccess, "another thread's legacy work goes on while a non-blocking stream captures");
  expect(cudaStreamEndCapture(s, &g) == cudaSuccess, "and the capture is whole");
  cudaGraphDestroy(g);
  expect(cudaMemset(buf, 0, 16) == cudaSuccess, "after the capture, legacy work is fine again");
  // A copy's kind names which side is device memory: swapped pointers, or a host buffer where the
  // device's should be, are refused (a device would fault or copy garbage).
  int host[4] = {1, 2, 3, 4};
  expect(cudaMemcpy(buf, host, 16, cudaMemcpyHostToDevice) == cudaSuccess, "host to device is fine");
  expect(cudaMemcpy(host, buf, 16, cudaMemcpyHostToDevice) == cudaErrorInvalidValue, "swapped pointers fail");
  expect(cudaMemcpy(host, buf, 32, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue, "past a device block fails");
  expect(cudaMemcpy(buf, buf + 2, 8, cudaMemcpyDeviceToDevice) == cudaSuccess, "device to device is fine");
  expect(cudaMemset(host, 0, 16) == cudaErrorInvalidValue, "cudaMemset of host memory fails");
  // Device memory: what is held leaves the free memory, and past it an allocation fails.
  std::size_t free0 = 0, total = 0, free1 = 0;
  cudaMemGetInfo(&free0, &total);
  cudaFree(buf);
  cudaMemGetInfo(&free1, &total);
  expect(free1 == free0 + 16 && total >= free1, "freed memory is free again");
  expect(reinterpret_cast<std::uintptr_t>(buf) % 256 == 0, "cudaMalloc's pointers are 256-byte aligned");
  char* huge = nullptr;
  expect(cudaMalloc(&huge, free1 + 1) == cudaErrorMemoryAllocation && huge == nullptr,
         "an allocation past the free memory fails");
  expect(cudaFree(reinterpret_cast<void*>(&free0)) == cudaErrorInvalidValue, "cudaFree of a host pointer fails");
  cudaStreamDestroy(blocking);
  cudaStreamDestroy(s);
  // A kernel's execution errors show at the next synchronizing call (and cudaGetLastError after it).
  FASTMLP_LAUNCH(divergent_kernel, 1, 8)();
  expect(cudaDeviceSynchronize() == cudaErrorLaunchFailure && cudaGetLastError() == cudaErrorLaunchFailure,
         "threads at different barriers fail the launch");
  FASTMLP_LAUNCH(early_exit_kernel, 1, 8)(5);
  expect(cudaDeviceSynchronize() == cudaErrorLaunchFailure && cudaGetLastError() == cudaErrorLaunchFailure,
         "threads returning while others wait fail the launch");
  FASTMLP_LAUNCH(early_exit_kernel, 1, 8)(8);
  expect(cudaDeviceSynchronize() == cudaSuccess, "the same kernel with every thread at the barrier is fine");
  int count[1] = {0};
  FASTMLP_LAUNCH(loop_barrier_kernel, 2, 8)(count);
  expect(cudaDeviceSynchronize() == cudaSuccess && count[0] == 6, "one barrier in a loop is fine");
  if (fastmlp_emu::run_order() == fastmlp_emu::RunOrder::forward) {
    FASTMLP_LAUNCH(late_barrier_kernel, 2, 8)();
    expect(cudaDeviceSynchronize() == cudaErrorLaunchFailure && cudaGetLastError() == cudaErrorLaunchFailure,
           "a barrier past the first block is a launch error");
  }
  check_queued_streams();
  FASTMLP_LAUNCH(order_kernel, 16, 8)();
  cudaDeviceSynchronize();
  std::printf("blocks:");
  for (unsigned b : block_order) std::printf(" %u", b);
  std::printf("\nthreads:");
  for (unsigned t : thread_order) std::printf(" %u", t);
  int out[8];
  FASTMLP_LAUNCH(racy_kernel, 1, 8)(out);
  cudaDeviceSynchronize();
  std::printf("\nrace: %d\n", out[0]);
  std::size_t free_now = 0, total_now = 0;
  cudaMemGetInfo(&free_now, &total_now);
  std::printf("memory: %zu %zu\n", total_now, free_now);
  if (failures == 0) std::printf("emulator self-test: all passed\n");
  return failures == 0 ? 0 : 1;
}
