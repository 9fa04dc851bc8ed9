// A CPU stand-in for the CUDA runtime, so that the CUDA backend's own source (csrc/cuda/*.cu, compiled
// as C++ with FASTMLP_CUDA_EMULATE=ON) runs on a machine without a GPU and the CUDA tests check its
// logic: indexing, edge tiles, split-K, reductions, the trainer's flow. Not its speed, and not what
// only hardware shows (races between warps, memory-model subtleties): that is tools/gpu_check.sh's job.
//
// A launch runs the grid block after block. The threads of a block are fibers: each runs until it
// reaches __syncthreads() or returns, then the next; a block's round ends when every thread has
// arrived, so a barrier means what it means on the device. On x86-64 a fiber switch is six pushes, a
// stack swap and six pops (switch_stack below); ucontext's swapcontext, used elsewhere and under the
// address sanitizer (which tracks its stack switches), makes a system call per switch (the signal
// mask), and a reduction kernel of 256 blocks of 256 threads, each meeting 9 barriers, made a few
// hundred thousand of them per launch. __shared__ variables are function
// statics, shared by the threads of the block running. Every host thread launches on its own (the
// emulator's state is thread_local), as two host threads' kernels run independently on a device.
// Device memory is host memory from malloc, filled with NaN bytes so that reading memory no kernel
// wrote shows up in the results.
#pragma once
#include <math.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static thread_local

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

// Constant-initialized (constexpr dim3), so that reading them needs no per-access initialization check.
inline thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

// The race check's view of what runs (tools/cuda_emu/racecheck.cpp; FASTMLP_EMU_RACECHECK, set by the
// build option FASTMLP_CUDA_EMULATE_RACECHECK). The emulator's own code is never instrumented: only a
// kernel's loads and stores are checked.
#if defined(FASTMLP_EMU_RACECHECK)
#define FASTMLP_EMU_UNCHECKED __attribute__((no_sanitize("thread"), noinline))
#else
#define FASTMLP_EMU_UNCHECKED
#endif
namespace fastmlp_emu {
struct RaceContext {
  bool on = false;  // a kernel thread runs: its accesses are checked
  unsigned block = 0, thread = 0, interval = 0;  // linear indices, and the barrier interval of the block
  const char* stack_lo = nullptr;  // the running kernel thread's own stack (a fiber's)
  const char* stack_hi = nullptr;
  const char* kernel = "";
};
inline thread_local RaceContext race;
#if defined(FASTMLP_EMU_RACECHECK)
void race_launch();  // a launch starts on this host thread: new records, the device blocks as they are
std::uint64_t race_count();
#endif
FASTMLP_EMU_UNCHECKED inline void race_launch_starts() {
#if defined(FASTMLP_EMU_RACECHECK)
  race_launch();
#endif
}
}  // namespace fastmlp_emu

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorLaunchFailure = 719,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
  cudaErrorStreamCaptureImplicit = 906
};
enum cudaStreamCaptureMode { cudaStreamCaptureModeGlobal = 0, cudaStreamCaptureModeThreadLocal = 1 };
enum cudaDeviceAttr { cudaDevAttrMaxSharedMemoryPerBlockOptin = 97 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3 };

struct cudaDeviceProp {
  char name[256];
  int major, minor;
  std::size_t totalGlobalMem;
};

inline const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "no error";
    case cudaErrorInvalidValue:
      return "invalid argument (emulated device)";
    case cudaErrorMemoryAllocation:
      return "out of memory (emulated device)";
    case cudaErrorInvalidConfiguration:
      return "invalid configuration argument (emulated device)";
    case cudaErrorLaunchFailure:
      return "unspecified launch failure (emulated device)";
    case cudaErrorStreamCaptureUnsupported:
      return "operation not permitted when stream is capturing (emulated device)";
    case cudaErrorStreamCaptureInvalidated:
      return "operation failed due to a previous error during capture (emulated device)";
    case cudaErrorStreamCaptureImplicit:
      return "operation would make the legacy stream depend on a capturing blocking stream (emulated device)";
  }
  return "unknown error (emulated device)";
}

namespace fastmlp_emu {
// What the device checks of a launch, here before it runs: a launch CUDA would refuse sets the error
// that cudaGetLastError returns (and clears), and does not run, as on the device. Per host thread, as
// CUDA keeps the last error per thread.
inline thread_local cudaError_t last_error = cudaSuccess;
constexpr int kOptinShared = 232448;                      // an H100's or H200's 227 KiB per block
constexpr std::size_t kDefaultDynamicShared = 48 * 1024;  // a kernel's dynamic shared memory without opt-in
// The emulator cannot see a kernel's static __shared__ arrays (they are host statics here): it reports
// this much for every kernel, a stand-in of the size of the fused kernel's (2.5 KiB), so that code
// which subtracts them runs and plans with a plausible figure.
constexpr std::size_t kStaticShared = 4096;
// cudaFuncSetAttribute's dynamic shared memory limits, per kernel (a process-wide property of the
// kernel, as on the device).
struct KernelLimits {
  std::mutex mutex;  // host threads launch (and set attributes) at once
  std::vector<std::pair<const void*, int>> max_dynamic;
  int get(const void* k) {
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& e : max_dynamic)
      if (e.first == k) return e.second;
    return int(kDefaultDynamicShared);
  }
  void set(const void* k, int v) {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto& e : max_dynamic)
      if (e.first == k) {
        e.second = v;
        return;
      }
    max_dynamic.emplace_back(k, v);
  }
};
inline KernelLimits& kernel_limits() {
  static KernelLimits limits;
  return limits;
}
template <class Kernel>
const void* kernel_key(Kernel k) {
  return reinterpret_cast<const void*>(k);
}
}  // namespace fastmlp_emu

inline cudaError_t cudaGetLastError() {
  const cudaError_t e = fastmlp_emu::last_error;
  fastmlp_emu::last_error = cudaSuccess;
  return e;
}
inline cudaError_t cudaPeekAtLastError() { return fastmlp_emu::last_error; }
namespace fastmlp_emu {
// Stream capture's rules, as CUDA keeps them in its thread-local capture mode. While this thread
// captures, its work on the legacy stream (a cudaMemcpy, a cudaMemset, a launch on stream 0), a device
// sync or a cudaMalloc is an error, and the capture is invalidated (cudaStreamEndCapture then fails).
// While any blocking stream (cudaStreamCreate's) captures, legacy-stream work from any thread is an
// error: the legacy stream waits on every blocking stream, so it would join the capture.
inline std::atomic<int> blocking_captures{0};
inline thread_local bool capturing_here = false;
inline thread_local bool capture_invalidated = false;
inline cudaError_t legacy_work() {
  if (capturing_here) {
    capture_invalidated = true;
    return cudaErrorStreamCaptureImplicit;
  }
  return blocking_captures.load() > 0 ? cudaErrorStreamCaptureImplicit : cudaSuccess;
}
}  // namespace fastmlp_emu

inline cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
inline cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr, int) {
  *value = fastmlp_emu::kOptinShared;
  return cudaSuccess;
}
// Past the device's opt-in limit (less the kernel's static arrays) the device refuses the attribute.
template <class Kernel>
cudaError_t cudaFuncSetAttribute(Kernel kernel, cudaFuncAttribute, int value) {
  if (value < 0 || std::size_t(value) + fastmlp_emu::kStaticShared > std::size_t(fastmlp_emu::kOptinShared))
    return cudaErrorInvalidValue;
  fastmlp_emu::kernel_limits().set(fastmlp_emu::kernel_key(kernel), value);
  return cudaSuccess;
}
struct cudaFuncAttributes {
  std::size_t sharedSizeBytes;  // the kernel's static shared memory (the emulator's stand-in, above)
  int maxThreadsPerBlock;
  int maxDynamicSharedSizeBytes;
};
template <class Kernel>
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* a, Kernel kernel) {
  a->sharedSizeBytes = fastmlp_emu::kStaticShared;
  a->maxThreadsPerBlock = 1024;
  a->maxDynamicSharedSizeBytes = fastmlp_emu::kernel_limits().get(fastmlp_emu::kernel_key(kernel));
  return cudaSuccess;
}
namespace fastmlp_emu {
// Device memory: by default 8 GiB, of which 4 GiB are free before this process allocates (as on a card
// another process shares), less what it holds; an allocation past what is free fails as on the device.
// FASTMLP_EMU_MEMORY=h100 or h200 emulates that card's memory (what its cudaMemGetInfo reports, less
// half a GiB the driver keeps), or TOTAL:FREE in GiB sets both. Blocks of more than 1 GiB are mapped
// pages the host commits only when touched (not NaN-filled: zeros), so a plan sized for an 80 GiB card
// runs here as far as this machine's memory goes.
struct MemorySize {
  std::size_t total, free;
};
inline MemorySize memory_size() {
  static const MemorySize size = [] {
    constexpr std::size_t GiB = std::size_t(1) << 30, MiB = std::size_t(1) << 20;
    const char* v = std::getenv("FASTMLP_EMU_MEMORY");
    if (!v || !*v) return MemorySize{8 * GiB, 4 * GiB};
    if (std::strcmp(v, "h100") == 0) return MemorySize{81559 * MiB, 81559 * MiB - 512 * MiB};
    if (std::strcmp(v, "h200") == 0) return MemorySize{143771 * MiB, 143771 * MiB - 512 * MiB};
    double total = 0, free = 0;
    char end = 0;
    if (std::sscanf(v, "%lf:%lf%c", &total, &free, &end) != 2 || !(total > 0) || !(free >= 0) || free > total)
      throw std::invalid_argument(std::string("FASTMLP_EMU_MEMORY must be h100, h200 or TOTAL:FREE in GiB, not ") + v);
    return MemorySize{std::size_t(total * double(GiB)), std::size_t(free * double(GiB))};
  }();
  return size;
}
constexpr std::size_t kMappedBytes = std::size_t(1) << 30;  // larger blocks are mapped, not filled
struct DeviceMemory {
  std::mutex mutex;
  std::size_t held = 0;
  std::vector<std::pair<void*, std::size_t>> blocks;  // few live at once: a list is enough
};
inline DeviceMemory& device_memory() {
  static DeviceMemory memory;
  return memory;
}
}  // namespace fastmlp_emu

inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
  std::strcpy(p->name, "emulated CUDA device (CPU)");
  p->major = 9;
  p->minor = 0;
  p->totalGlobalMem = fastmlp_emu::memory_size().total;
  return cudaSuccess;
}
namespace fastmlp_emu {
// Whether [p, p + bytes) lies inside one block cudaMalloc gave (device memory), and whether it touches
// one at all: a copy's kind says which side is the device's, and a device would fault (or copy
// garbage) where the pointers are not what the kind says.
inline bool on_device(const void* p, std::size_t bytes, bool whole) {
  auto& m = device_memory();
  std::lock_guard<std::mutex> lock(m.mutex);
  const char* a = static_cast<const char*>(p);
  for (const auto& b : m.blocks) {
    const char* lo = static_cast<const char*>(b.first);
    if (whole ? (a >= lo && a + bytes <= lo + b.second) : (a < lo + b.second && a + (bytes ? bytes : 1) > lo))
      return true;
  }
  return false;
}
inline cudaError_t copy_error(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return cudaSuccess;
  const bool dst_device = kind != cudaMemcpyDeviceToHost, src_device = kind != cudaMemcpyHostToDevice;
  const bool ok = (dst_device ? on_device(dst, bytes, true) : !on_device(dst, bytes, false)) &&
                  (src_device ? on_device(src, bytes, true) : !on_device(src, bytes, false));
  return ok ? cudaSuccess : cudaErrorInvalidValue;
}
}  // namespace fastmlp_emu

inline cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes) {
  auto& m = fastmlp_emu::device_memory();
  std::lock_guard<std::mutex> lock(m.mutex);
  *free_bytes = fastmlp_emu::memory_size().free - m.held;
  *total_bytes = fastmlp_emu::memory_size().total;
  return cudaSuccess;
}
template <class T>
cudaError_t cudaMalloc(T** p, std::size_t bytes) {
  if (fastmlp_emu::capturing_here) {
    fastmlp_emu::capture_invalidated = true;
    return cudaErrorStreamCaptureUnsupported;
  }
  auto& mem = fastmlp_emu::device_memory();
  {
    std::lock_guard<std::mutex> lock(mem.mutex);
    if (bytes > fastmlp_emu::memory_size().free - mem.held) return cudaErrorMemoryAllocation;
    mem.held += bytes;
  }
  // 256-byte aligned, as cudaMalloc's pointers are (a vector load the device would take must not fault).
  void* m = nullptr;
  if (bytes > fastmlp_emu::kMappedBytes) {
    m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) m = nullptr;
  } else {
    m = std::aligned_alloc(256, (bytes + 255) / 256 * 256 + (bytes ? 0 : 256));
    if (m) std::memset(m, 0xFF, bytes);  // NaN in every float and double: unwritten memory is visible
  }
  std::lock_guard<std::mutex> lock(mem.mutex);
  if (!m) {
    mem.held -= bytes;
    return cudaErrorMemoryAllocation;
  }
  mem.blocks.emplace_back(m, bytes);
  *p = static_cast<T*>(m);
  return cudaSuccess;
}
// Streams, events and graphs. Work on a stream waits in the stream's queue until something waits for
// it: cudaStreamSynchronize, cudaEventSynchronize on an event recorded behind it, cudaDeviceSynchronize,
// a cudaMemcpy to the host, cudaFree (which synchronizes the device) or cudaStreamDestroy. That is the
// latest a device may run it, so host code that reads results before waiting for them, or a stream that
// reads what another stream (the legacy stream included) has not yet written, sees NaN-filled or stale
// memory here as it might on a device. The legacy stream (0) is one queue for the process; a blocking
// stream (cudaStreamCreate's) and the legacy stream wait for each other's earlier work, a non-blocking
// one waits for nobody. While a stream captures, its work is recorded instead, and launching the graph
// made of it queues the recorded work in order, as the device would run it.
struct CUstream_st {
  bool capturing = false;
  bool blocking = true;  // cudaStreamCreate's; cudaStreamNonBlocking's is not
  std::vector<std::function<void()>> recorded;
  // The queue: work not yet run, and how many items were ever queued and run (events wait for a count).
  std::mutex mutex;
  std::vector<std::function<void()>> queue;
  std::uint64_t queued = 0, done = 0;
};
struct CUgraph_st {
  std::vector<std::function<void()>> work;
};
struct CUgraphExec_st {
  std::vector<std::function<void()>> work;
};
using cudaStream_t = CUstream_st*;
using cudaGraph_t = CUgraph_st*;
using cudaGraphExec_t = CUgraphExec_st*;

namespace fastmlp_emu {
struct Streams {
  std::mutex mutex;
  std::vector<CUstream_st*> live;  // every stream not destroyed
};
inline Streams& streams() {
  static Streams s;
  return s;
}
inline CUstream_st& legacy_stream() {
  static CUstream_st* legacy = [] {
    auto* s = new CUstream_st;  // never destroyed: work may be queued on it until the process ends
    s->blocking = true;
    return s;
  }();
  return *legacy;
}
// Runs stream s's queued work, up to item number `upto` (all of it by default). Items run under the
// stream's mutex, in order; one that fails (a launch error a kernel's run reports) leaves its error
// for the next cudaGetLastError, and this returns it, as the synchronizing call on a device does.
inline cudaError_t drain(CUstream_st& s, std::uint64_t upto = ~std::uint64_t(0)) {
  std::lock_guard<std::mutex> lock(s.mutex);
  std::size_t k = 0;
  for (; k < s.queue.size() && s.done < upto; ++k, ++s.done) s.queue[k]();
  s.queue.erase(s.queue.begin(), s.queue.begin() + std::ptrdiff_t(k));
  return last_error == cudaErrorLaunchFailure ? cudaErrorLaunchFailure : cudaSuccess;
}
// Every blocking stream's queue (the legacy stream waits for them), or every stream's.
inline cudaError_t drain_streams(bool blocking_only) {
  std::vector<CUstream_st*> all;
  {
    std::lock_guard<std::mutex> lock(streams().mutex);
    all = streams().live;
  }
  cudaError_t e = cudaSuccess;
  for (CUstream_st* s : all)
    if (!blocking_only || s->blocking)
      if (const cudaError_t f = drain(*s)) e = f;
  return e;
}
inline cudaError_t drain_all() {
  const cudaError_t a = drain_streams(false), b = drain(legacy_stream());
  return a ? a : b;
}
// Queues work on stream s (0: the legacy stream), with the implicit waits between the legacy stream
// and blocking streams: what one queued before runs first (a schedule a device may choose).
inline void enqueue(cudaStream_t s, std::function<void()> work) {
  CUstream_st& q = s ? *s : legacy_stream();
  if (!s)
    drain_streams(true);
  else if (s->blocking)
    drain(legacy_stream());
  std::lock_guard<std::mutex> lock(q.mutex);
  q.queue.push_back(std::move(work));
  ++q.queued;
}
}  // namespace fastmlp_emu

inline cudaError_t cudaDeviceSynchronize() {
  if (const cudaError_t e = fastmlp_emu::legacy_work()) return e;
  return fastmlp_emu::drain_all();
}
// Host to device from pageable memory returns once the host's bytes are staged (taken here at once),
// the device's copy is queued on the legacy stream; to the host it returns once the copy is done, after
// the legacy stream's (and the blocking streams') earlier work; device to device is queued.
inline cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  if (const cudaError_t e = fastmlp_emu::legacy_work()) return e;
  if (const cudaError_t e = fastmlp_emu::copy_error(dst, src, bytes, kind)) return e;
  if (kind == cudaMemcpyDeviceToHost) {
    fastmlp_emu::drain_streams(true);
    const cudaError_t e = fastmlp_emu::drain(fastmlp_emu::legacy_stream());
    std::memmove(dst, src, bytes);
    return e;
  }
  if (kind == cudaMemcpyHostToDevice) {
    auto staged = std::make_shared<std::vector<char>>(static_cast<const char*>(src), static_cast<const char*>(src) + bytes);
    fastmlp_emu::enqueue(nullptr, [=] { std::memcpy(dst, staged->data(), bytes); });
  } else {
    fastmlp_emu::enqueue(nullptr, [=] { std::memmove(dst, src, bytes); });
  }
  return cudaSuccess;
}
inline cudaError_t cudaMemset(void* p, int value, std::size_t bytes) {
  if (const cudaError_t e = fastmlp_emu::legacy_work()) return e;
  if (bytes && !fastmlp_emu::on_device(p, bytes, true)) return cudaErrorInvalidValue;  // not device memory
  fastmlp_emu::enqueue(nullptr, [=] { std::memset(p, value, bytes); });
  return cudaSuccess;
}

inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags) {
  *s = new CUstream_st;
  (*s)->blocking = (flags & 1u) == 0;  // cudaStreamNonBlocking
  std::lock_guard<std::mutex> lock(fastmlp_emu::streams().mutex);
  fastmlp_emu::streams().live.push_back(*s);
  return cudaSuccess;
}
inline cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, 0); }
constexpr unsigned cudaStreamNonBlocking = 1;
// Copies and fills on a stream: queued, or recorded while it captures (as CUDA records them); on the
// legacy stream (0) under capture's rules. From pageable host memory the bytes are staged at once; to
// pageable host memory the call returns when the copy is done (the stream's earlier work first).
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
  if (const cudaError_t e = fastmlp_emu::copy_error(dst, src, bytes, kind)) return e;
  if (!s)
    if (const cudaError_t e = fastmlp_emu::legacy_work()) return e;
  std::function<void()> work;
  if (kind == cudaMemcpyHostToDevice) {
    auto staged = std::make_shared<std::vector<char>>(static_cast<const char*>(src), static_cast<const char*>(src) + bytes);
    work = [=] { std::memcpy(dst, staged->data(), bytes); };
  } else {
    work = [=] { std::memmove(dst, src, bytes); };
  }
  if (s && s->capturing) {
    s->recorded.push_back(std::move(work));
    return cudaSuccess;
  }
  fastmlp_emu::enqueue(s, std::move(work));
  if (kind != cudaMemcpyDeviceToHost) return cudaSuccess;
  return fastmlp_emu::drain(s ? *s : fastmlp_emu::legacy_stream());
}
inline cudaError_t cudaMemsetAsync(void* p, int value, std::size_t bytes, cudaStream_t s) {
  if (!s)
    if (const cudaError_t e = fastmlp_emu::legacy_work()) return e;
  if (bytes && !fastmlp_emu::on_device(p, bytes, true)) return cudaErrorInvalidValue;
  if (s && s->capturing)
    s->recorded.push_back([=] { std::memset(p, value, bytes); });
  else
    fastmlp_emu::enqueue(s, [=] { std::memset(p, value, bytes); });
  return cudaSuccess;
}
// The stream's queued work still runs (as on a device, which finishes it before releasing the stream).
inline cudaError_t cudaStreamDestroy(cudaStream_t s) {
  if (!s) return cudaErrorInvalidValue;
  fastmlp_emu::drain(*s);
  {
    auto& all = fastmlp_emu::streams();
    std::lock_guard<std::mutex> lock(all.mutex);
    for (auto it = all.live.begin(); it != all.live.end(); ++it)
      if (*it == s) {
        all.live.erase(it);
        break;
      }
  }
  delete s;
  return cudaSuccess;
}
// A capturing stream cannot be waited for (its work has not run), nor can the legacy stream while
// this thread captures.
inline cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  if (s && s->capturing) {
    fastmlp_emu::capture_invalidated = true;
    return cudaErrorStreamCaptureUnsupported;
  }
  if (!s) {
    if (const cudaError_t e = fastmlp_emu::legacy_work()) return e;
    fastmlp_emu::drain_streams(true);
  }
  return fastmlp_emu::drain(s ? *s : fastmlp_emu::legacy_stream());
}
inline cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode) {
  if (!s || s->capturing || fastmlp_emu::capturing_here) return cudaErrorStreamCaptureUnsupported;
  s->capturing = true;
  s->recorded.clear();
  fastmlp_emu::capturing_here = true;
  fastmlp_emu::capture_invalidated = false;
  if (s->blocking) ++fastmlp_emu::blocking_captures;
  return cudaSuccess;
}
inline cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* g) {
  if (!s->capturing) return cudaErrorStreamCaptureUnsupported;
  s->capturing = false;
  fastmlp_emu::capturing_here = false;
  if (s->blocking) --fastmlp_emu::blocking_captures;
  if (fastmlp_emu::capture_invalidated) {  // what was recorded is not a graph to run
    s->recorded.clear();
    *g = nullptr;
    return cudaErrorStreamCaptureInvalidated;
  }
  *g = new CUgraph_st{std::move(s->recorded)};
  s->recorded.clear();
  return cudaSuccess;
}
inline cudaError_t cudaGraphInstantiate(cudaGraphExec_t* e, cudaGraph_t g, unsigned long long) {
  *e = new CUgraphExec_st{g->work};
  return cudaSuccess;
}
// The graph's work, queued on the stream as one item (a copy: the executable graph may be destroyed
// before the queued launch runs, as CUDA allows).
inline cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s) {
  if (!s)
    if (const cudaError_t err = fastmlp_emu::legacy_work()) return err;
  fastmlp_emu::enqueue(s, [work = e->work] {
    for (auto& w : work) w();
  });
  return cudaSuccess;
}
inline cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  fastmlp_emu::drain_all();  // cudaFree synchronizes the device: queued work may still use the memory
  auto& mem = fastmlp_emu::device_memory();
  {
    std::lock_guard<std::mutex> lock(mem.mutex);
    for (auto it = mem.blocks.begin(); it != mem.blocks.end(); ++it)
      if (it->first == p) {
        mem.held -= it->second;
        if (it->second > fastmlp_emu::kMappedBytes)
          munmap(p, it->second);
        else
          std::free(p);
        mem.blocks.erase(it);
        return cudaSuccess;
      }
  }
  return cudaErrorInvalidValue;  // not a pointer cudaMalloc gave
}
// Events: the point in a stream's queue where it was recorded; waiting for it runs the stream's work
// up to there.
struct CUevent_st {
  CUstream_st* stream = nullptr;
  std::uint64_t upto = 0;
};
using cudaEvent_t = CUevent_st*;
constexpr unsigned cudaEventDisableTiming = 2;
inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) {
  *e = new CUevent_st;
  return cudaSuccess;
}
inline cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  if (s && s->capturing) return cudaErrorStreamCaptureUnsupported;  // fastmlp records none in a graph
  CUstream_st& q = s ? *s : fastmlp_emu::legacy_stream();
  std::lock_guard<std::mutex> lock(q.mutex);
  e->stream = &q;
  e->upto = q.queued;
  return cudaSuccess;
}
// An event recorded on a stream since destroyed has completed (the destroy ran the stream's work).
inline cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  if (!e->stream) return cudaSuccess;
  {
    auto& all = fastmlp_emu::streams();
    std::lock_guard<std::mutex> lock(all.mutex);
    bool live = e->stream == &fastmlp_emu::legacy_stream();
    for (CUstream_st* s : all.live) live = live || s == e->stream;
    if (!live) return cudaSuccess;
  }
  return fastmlp_emu::drain(*e->stream, e->upto);
}
inline cudaError_t cudaGraphDestroy(cudaGraph_t g) {
  delete g;
  return cudaSuccess;
}
inline cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
  delete e;
  return cudaSuccess;
}

namespace fastmlp_emu {

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define FASTMLP_EMU_FAST_SWITCH 1
// Saves the callee-saved registers on the current stack, stores its pointer in *save, continues on the
// stack `next` (made by switch_stack or by new_stack) where the same registers were saved. Weak, so
// that every source file including this header may define it. Floating-point control words are not
// switched: no kernel changes them.
extern "C" void fastmlp_emu_switch_stack(void** save, void* next);
asm(R"(
  .text
  .weak fastmlp_emu_switch_stack
  .hidden fastmlp_emu_switch_stack
  .type fastmlp_emu_switch_stack, @function
fastmlp_emu_switch_stack:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size fastmlp_emu_switch_stack, .-fastmlp_emu_switch_stack
)");
#endif

struct Fiber {
#ifdef FASTMLP_EMU_FAST_SWITCH
  void* sp = nullptr;
#else
  ucontext_t ctx;
#endif
  std::vector<char> stack;
  bool done = true;
  dim3 tid;
  const char* file = nullptr;  // the __syncthreads() it waits at
  int line = 0;
};

#ifdef FASTMLP_EMU_FAST_SWITCH
inline thread_local void* scheduler = nullptr;
#else
inline thread_local ucontext_t scheduler;
#endif
inline thread_local Fiber* current = nullptr;
inline thread_local std::vector<Fiber> fibers;  // one pool per host thread: kernels do not launch kernels
inline thread_local std::function<void()> body;
// A launch's dynamic shared memory (FASTMLP_DYNAMIC_SHARED), NaN-filled for every block like device
// memory, so a read of what no thread of the block wrote shows.
inline thread_local std::vector<double> dynamic_shared;
inline thread_local std::size_t dynamic_shared_bytes = 0;

// From a fiber back to the launch's loop (at a barrier, or when the thread returns).
FASTMLP_EMU_UNCHECKED inline void yield_to_scheduler() {
#ifdef FASTMLP_EMU_FAST_SWITCH
  fastmlp_emu_switch_stack(&current->sp, scheduler);
#else
  swapcontext(&current->ctx, &scheduler);
#endif
}

[[noreturn]] FASTMLP_EMU_UNCHECKED inline void trampoline() {
  body();
  current->done = true;
  yield_to_scheduler();
  std::abort();  // a finished fiber is never resumed
}

// Makes f start at trampoline() the next time it is resumed.
FASTMLP_EMU_UNCHECKED inline void new_stack(Fiber& f) {
  if (f.stack.empty()) f.stack.resize(1 << 16);
#ifdef FASTMLP_EMU_FAST_SWITCH
  // What switch_stack pops: six registers, then the address it returns to (trampoline); above that a
  // zero return address for trampoline itself, which never returns. On entry the stack pointer is
  // 8 modulo 16, as after a call.
  auto top = reinterpret_cast<std::uintptr_t>(f.stack.data() + f.stack.size()) & ~std::uintptr_t(15);
  void** sp = reinterpret_cast<void**>(top);
  *--sp = nullptr;
  *--sp = reinterpret_cast<void*>(&trampoline);
  for (int r = 0; r < 6; ++r) *--sp = nullptr;
  f.sp = sp;
#else
  getcontext(&f.ctx);
  f.ctx.uc_stack.ss_sp = f.stack.data();
  f.ctx.uc_stack.ss_size = f.stack.size();
  f.ctx.uc_link = nullptr;
  makecontext(&f.ctx, trampoline, 0);
#endif
}

// From the launch's loop into fiber f, until it reaches a barrier or returns.
FASTMLP_EMU_UNCHECKED inline void resume(Fiber& f) {
  current = &f;
#ifdef FASTMLP_EMU_FAST_SWITCH
  fastmlp_emu_switch_stack(&scheduler, f.sp);
#else
  swapcontext(&scheduler, &f.ctx);
#endif
  current = nullptr;  // back in the launch's loop: no fiber runs
}

// The order the emulator runs a grid's blocks in, and a block's threads within each round between two
// barriers: FASTMLP_EMU_ORDER=forward (the default: index order), reverse, or shuffle (a new order for
// every launch and round, from FASTMLP_EMU_SEED). A device promises no order at all, so a kernel whose
// results change with these has a race: between blocks (a block reading what another writes), or
// between a block's threads with a barrier missing.
enum class RunOrder { forward, reverse, shuffle };
inline RunOrder run_order() {
  static const RunOrder order = [] {
    const char* v = std::getenv("FASTMLP_EMU_ORDER");
    if (!v || !*v || std::strcmp(v, "forward") == 0) return RunOrder::forward;
    if (std::strcmp(v, "reverse") == 0) return RunOrder::reverse;
    if (std::strcmp(v, "shuffle") == 0) return RunOrder::shuffle;
    // A mistyped setting: no run should pass under an order it did not ask for.
    throw std::invalid_argument(std::string("FASTMLP_EMU_ORDER must be forward, reverse or shuffle, not ") + v);
  }();
  return order;
}
// The k-th of n indices to run, in run_order()'s order; a shuffle draws a new permutation per
// arrange() call (xorshift64* from FASTMLP_EMU_SEED), the other orders need no memory.
struct Order {
  RunOrder mode = run_order();
  unsigned n = 0;
  std::vector<unsigned> perm;
  void arrange(unsigned count) {
    n = count;
    if (mode != RunOrder::shuffle) return;
    static thread_local std::uint64_t x = [] {
      const char* v = std::getenv("FASTMLP_EMU_SEED");
      return (v ? std::strtoull(v, nullptr, 10) : 0) * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    }();
    perm.resize(n);
    for (unsigned i = 0; i < n; ++i) perm[i] = i;
    for (unsigned i = n; i > 1; --i) {  // Fisher-Yates
      x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
      std::swap(perm[i - 1], perm[unsigned(((x * 0x2545F4914F6CDD1Dull) >> 32) % i)]);
    }
  }
  unsigned operator[](unsigned k) const {
    return mode == RunOrder::forward ? k : mode == RunOrder::reverse ? n - 1 - k : perm[k];
  }
};

// Runs kernel(args...) over the grid, one block at a time, its threads as fibers.
template <class Kernel, class... Args>
FASTMLP_EMU_UNCHECKED void run_grid(const char* name, dim3 grid, dim3 block, Kernel kernel, Args... args) {
  race.kernel = name;
  race_launch_starts();
  const unsigned threads = block.x * block.y * block.z;
  std::vector<Fiber>& pool = fibers;  // looked up once, not per thread
  if (pool.size() < threads) pool.resize(threads);
  gridDim = grid;
  blockDim = block;
  body = [&] { kernel(args...); };
  const auto tid = [&](unsigned i) { return dim3(i % block.x, (i / block.x) % block.y, i / (block.x * block.y)); };
  // Most kernels have no barrier: their threads run as plain calls. Whether this one has is seen in
  // the first block run: a kernel none of whose threads stopped at a barrier there has none (every
  // thread of a block reaches the same barriers, as CUDA requires).
  bool barriers = true, first_block = true;
  Order blocks, order;
  blocks.arrange(grid.x * grid.y * grid.z);  // the emulated grids are far below 2^32 blocks
  for (unsigned k = 0; k < blocks.n; ++k) {
    const unsigned b = blocks[k];
    blockIdx = dim3(b % grid.x, (b / grid.x) % grid.y, b / (grid.x * grid.y));
    if (dynamic_shared_bytes) std::memset(dynamic_shared.data(), 0xFF, dynamic_shared_bytes);
    race.block = b;
    race.interval = 0;
    if (!barriers) {
      order.arrange(threads);
      race.stack_lo = race.stack_hi = nullptr;  // on the host thread's stack, which is never checked
      for (unsigned j = 0; j < threads; ++j) {
        threadIdx = tid(order[j]);
        race.thread = order[j];
        race.on = true;
        kernel(args...);
        race.on = false;
      }
      continue;
    }
    for (unsigned i = 0; i < threads; ++i) {
      Fiber& f = pool[i];
      new_stack(f);
      f.done = false;
      f.tid = tid(i);
    }
    for (bool alive = true, first = first_block; alive; first = false, ++race.interval) {
      alive = false;  // one round: every live thread up to its next barrier
      order.arrange(threads);
      const Fiber* waiting = nullptr;  // a thread that stopped at a barrier this round
      const Fiber* exited = nullptr;   // one that returned this round
      for (unsigned j = 0; j < threads; ++j) {
        Fiber& f = pool[order[j]];
        if (f.done) continue;
        threadIdx = f.tid;
        race.thread = order[j];
        race.stack_lo = f.stack.data();
        race.stack_hi = f.stack.data() + f.stack.size();
        race.on = true;
        resume(f);
        race.on = false;
        alive = alive || !f.done;
        if (f.done) {
          exited = &f;
          continue;
        }
        if (!waiting) {
          waiting = &f;
        } else if ((f.line != waiting->line || std::strcmp(f.file, waiting->file) != 0) &&
                   last_error != cudaErrorLaunchFailure) {  // said once per launch
          // The threads of a block wait at different __syncthreads(): divergent barriers, undefined on
          // a device (it may hang or let them pass each other). The launch fails, as a device's might.
          std::fprintf(stderr,
                       "fastmlp_emu: block (%u, %u, %u): thread %u waits at the barrier of %s:%d, thread %u at "
                       "%s:%d\n",
                       blockIdx.x, blockIdx.y, blockIdx.z, waiting->tid.x, waiting->file, waiting->line, f.tid.x,
                       f.file, f.line);
          last_error = cudaErrorLaunchFailure;
        }
      }
      if (waiting && exited && last_error != cudaErrorLaunchFailure) {
        // Some threads returned while others wait at a barrier: a barrier in code not every thread of
        // the block reaches, which CUDA leaves undefined.
        std::fprintf(stderr,
                     "fastmlp_emu: block (%u, %u, %u): thread %u returned while thread %u waits at the barrier of "
                     "%s:%d\n",
                     blockIdx.x, blockIdx.y, blockIdx.z, exited->tid.x, waiting->tid.x, waiting->file, waiting->line);
        last_error = cudaErrorLaunchFailure;
      }
      if (first && !alive) barriers = false;  // every thread ran through: no barrier
    }
    first_block = false;
  }
}

inline dim3 as_dim3(dim3 d) { return d; }
inline dim3 as_dim3(unsigned n) { return dim3(n); }
inline dim3 as_dim3(int n) { return dim3(unsigned(n)); }

// Whether the device would take this launch: at most 1024 threads per block (and at least one), a
// grid of at most 2^31 - 1 blocks in x and 65535 in y and z, and no more dynamic shared memory than
// the kernel may have (48 KiB unless cudaFuncSetAttribute allowed more).
inline cudaError_t launch_error(dim3 grid, dim3 block, std::size_t shared_bytes, int max_dynamic) {
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  if (threads == 0 || threads > 1024 || block.z > 64 || grid.x == 0 || grid.y == 0 || grid.z == 0 ||
      grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535)
    return cudaErrorInvalidConfiguration;
  if (shared_bytes > std::size_t(max_dynamic)) return cudaErrorInvalidValue;
  return cudaSuccess;
}

template <class Kernel>
auto launch(const char* name, dim3 grid, dim3 block, Kernel kernel, std::size_t shared_bytes = 0,
            cudaStream_t stream = nullptr) {
  return [=](auto... args) FASTMLP_EMU_UNCHECKED {
    cudaError_t e = launch_error(grid, block, shared_bytes, kernel_limits().get(kernel_key(kernel)));
    if (!e && !stream) e = legacy_work();  // a launch on the legacy stream, under capture's rules
    if (e) {
      last_error = e;  // refused: nothing runs, and the next cudaGetLastError says why
      return;
    }
    auto run = [=]() FASTMLP_EMU_UNCHECKED {
      dynamic_shared.resize((shared_bytes + sizeof(double) - 1) / sizeof(double));
      dynamic_shared_bytes = shared_bytes;
      run_grid(name, grid, block, kernel, args...);
    };
    if (stream && stream->capturing)
      stream->recorded.push_back(run);  // the arguments as they are now, as a captured launch keeps them
    else
      enqueue(stream, run);
  };
}

}  // namespace fastmlp_emu

// A barrier: this fiber's round ends here (noting which barrier it waits at). Outside a fiber (a
// kernel the first block showed to have none), a barrier is a launch error.
FASTMLP_EMU_UNCHECKED inline void fastmlp_emu_barrier(const char* file, int line) {
  if (!fastmlp_emu::current) {
    if (fastmlp_emu::last_error == cudaErrorLaunchFailure) return;  // said once per launch
    std::fprintf(stderr, "fastmlp_emu: a barrier at %s:%d that the launch's first block never reached\n", file, line);
    fastmlp_emu::last_error = cudaErrorLaunchFailure;
    return;
  }
  fastmlp_emu::current->file = file;
  fastmlp_emu::current->line = line;
  fastmlp_emu::yield_to_scheduler();
}
#define __syncthreads() fastmlp_emu_barrier(__FILE__, __LINE__)

#define FASTMLP_LAUNCH(kernel, grid, block) \
  ::fastmlp_emu::launch(#kernel, ::fastmlp_emu::as_dim3(grid), ::fastmlp_emu::as_dim3(block), kernel)
#define FASTMLP_LAUNCH_ON(kernel, grid, block, bytes, stream) \
  ::fastmlp_emu::launch(#kernel, ::fastmlp_emu::as_dim3(grid), ::fastmlp_emu::as_dim3(block), kernel, bytes, stream)
#define FASTMLP_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(::fastmlp_emu::dynamic_shared.data())
