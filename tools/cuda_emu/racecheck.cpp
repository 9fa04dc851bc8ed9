// The emulator's race check (FASTMLP_CUDA_EMULATE_RACECHECK=ON): the CUDA sources are compiled with
// GCC's thread-sanitizer instrumentation (-fsanitize=thread at compile time only), which calls
// __tsan_readN / __tsan_writeN before every load and store the compiler cannot prove private. This
// file is not the thread sanitizer's runtime: it defines those entry points itself and keeps a shadow
// record per 4-byte word that a kernel thread touches, for the launch running on this host thread.
// It reports, as compute-sanitizer's racecheck does on a device:
// - two threads of one block touching a word between the same two barriers, one of them writing
//   (shared or global memory: nothing orders them);
// - a word of device memory written by one block and read or written by another in the same launch
//   (blocks are not ordered either);
// - a read of shared memory that the reading block has not written in this launch: on a device that
//   memory holds another block's or another launch's leftovers. For dynamic shared memory every such
//   read is seen. A static __shared__ array is a host thread_local here, which the check knows only
//   once a kernel thread has written it: reads that come before any write to the word ever (in the
//   first blocks of its kernel's first launch) are not seen, those of later blocks and launches are.
// Kernel threads' own stacks and the host thread's stack are not checked (locals are private), and
// memory that no kernel thread writes (constants, the emulator's own state) is never reported. The
// first race of a launch is printed and fails the launch (cudaErrorLaunchFailure, seen at the next
// synchronizing call); every one is counted (fastmlp_emu::race_count()).
#include <pthread.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cuda_runtime.h"

namespace fastmlp_emu {
namespace {

// Who touched a word at one level (the blocks of a launch, or the threads of a block between two
// barriers): the first that wrote it, and the one that read it (kSeveral: more than one).
constexpr int kNone = -1, kSeveral = -2;
struct Touches {
  int writer = kNone, reader = kNone;
};
// A word's record for the launch running now: its blocks (kept for device memory) and its threads in
// one barrier interval of one block (iv_block, iv).
struct Word {
  std::uintptr_t key = 0;  // the address / 4
  std::uint64_t launch = 0;  // 0: an empty slot; another launch's: free for this launch's use
  Touches blocks;
  unsigned iv_block, iv;
  Touches threads;
};

// Open addressing with linear probing. A slot of another launch is as good as empty: every record of
// this launch was put in the first slot of its probe sequence that was not this launch's, and none of
// those becomes another launch's during a launch, so a lookup may stop at the first such slot. The
// table therefore never needs clearing between launches; it grows (keeping this launch's records)
// when they fill half of it.
struct Table {
  std::vector<Word> slots = std::vector<Word>(1 << 12);
  std::size_t live = 0;
  std::uint64_t launch = 0;

  static std::size_t hash(std::uintptr_t key) { return std::size_t((key * 0x9E3779B97F4A7C15ull) >> 20); }
  Word& find(std::uintptr_t key, bool& fresh) {
    if (2 * (live + 1) > slots.size()) grow();
    const std::size_t mask = slots.size() - 1;
    for (std::size_t h = hash(key) & mask;; h = (h + 1) & mask) {
      Word& w = slots[h];
      if (w.launch == launch && w.key == key) {
        fresh = false;
        return w;
      }
      if (w.launch != launch) {
        w = Word{key, launch, Touches{}, 0, 0, Touches{}};
        ++live;
        fresh = true;
        return w;
      }
    }
  }
  void grow() {
    std::vector<Word> old(slots.size() * 2);
    old.swap(slots);
    const std::size_t mask = slots.size() - 1;
    for (const Word& w : old)
      if (w.launch == launch) {
        std::size_t h = hash(w.key) & mask;
        while (slots[h].launch == launch) h = (h + 1) & mask;
        slots[h] = w;
      }
  }
};

struct HostThread {
  Table table;
  // Shared memory's last writer, across launches: (launch, block) by word.
  std::unordered_map<std::uintptr_t, std::pair<std::uint64_t, unsigned>> shared_writes;
  std::vector<std::pair<const char*, const char*>> device;  // device blocks at the launch's start, sorted
  const char* dynamic_lo = nullptr;  // the launch's dynamic shared memory
  const char* dynamic_hi = nullptr;
  const char* stack_lo = nullptr;
  const char* stack_hi = nullptr;
  bool reported = false;  // this launch's first race was printed
};
thread_local HostThread host;
std::atomic<std::uint64_t> races{0};

void host_stack(const char*& lo, const char*& hi) {
  pthread_attr_t attr;
  void* base = nullptr;
  std::size_t size = 0;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstack(&attr, &base, &size);
    pthread_attr_destroy(&attr);
  }
  lo = static_cast<const char*>(base);
  hi = lo + size;
}

bool on_device(const char* a) {
  const auto& d = host.device;
  auto it = std::upper_bound(d.begin(), d.end(), a, [](const char* p, const auto& b) { return p < b.first; });
  return it != d.begin() && a < (--it)->second;
}

dim3 unflatten(unsigned i, dim3 d) { return dim3(i % d.x, (i / d.x) % d.y, i / (d.x * d.y)); }

void report(const char* what, std::uintptr_t word, bool device, const char* other, int other_id) {
  ++races;
  last_error = cudaErrorLaunchFailure;
  if (host.reported) return;
  host.reported = true;
  const dim3 b = unflatten(race.block, gridDim), t = unflatten(race.thread, blockDim);
  std::fprintf(stderr,
               "fastmlp_emu racecheck: kernel %s, block (%u, %u, %u) thread (%u, %u, %u), after %u barriers: %s %s "
               "memory at %p",
               race.kernel, b.x, b.y, b.z, t.x, t.y, t.z, race.interval, what,
               device ? "global" : "shared", reinterpret_cast<void*>(word * 4));
  if (other) {
    const bool block = std::strcmp(other, "block") == 0;
    const dim3 o = block ? unflatten(unsigned(other_id), gridDim) : unflatten(unsigned(other_id), blockDim);
    if (other_id >= 0)
      std::fprintf(stderr, " that %s (%u, %u, %u) %s", other, o.x, o.y, o.z,
                   block ? "touched in the same launch" : "of the same block touched");
    else
      std::fprintf(stderr, " that several other %ss read", other);
  }
  std::fprintf(stderr, "\n");
}

// The one rule at either level: `me` writing a word another wrote or read, or reading a word another
// wrote, with nothing ordering the two. who: "block" or "thread", for the report.
void touch(Touches& t, int me, bool write, std::uintptr_t key, bool device, const char* who) {
  if (write) {
    if (t.writer >= 0 && t.writer != me)
      report("writes", key, device, who, t.writer);
    else if (t.reader == kSeveral || (t.reader >= 0 && t.reader != me))
      report("writes", key, device, who, t.reader);
    if (t.writer == kNone) t.writer = me;
  } else {
    if (t.writer >= 0 && t.writer != me) report("reads", key, device, who, t.writer);
    t.reader = t.reader == kNone || t.reader == me ? me : kSeveral;
  }
}

void check(std::uintptr_t key, bool write, bool device, bool dynamic) {
  bool fresh = false;
  Word& w = host.table.find(key, fresh);
  if (fresh) {
    w.iv_block = race.block;
    w.iv = race.interval;
  }
  if (device) {  // between blocks of the launch
    touch(w.blocks, int(race.block), write, key, true, "block");
  } else if (write) {
    host.shared_writes[key] = {host.table.launch, race.block};
  } else {
    auto it = host.shared_writes.find(key);
    if (it == host.shared_writes.end() ? dynamic
                                       : it->second.first != host.table.launch || it->second.second != race.block)
      report("reads (before its block wrote it)", key, false, nullptr, 0);
  }
  if (w.iv_block != race.block || w.iv != race.interval) {  // a new interval (or another block's shared memory)
    w.iv_block = race.block;
    w.iv = race.interval;
    w.threads = Touches{};
  }
  touch(w.threads, int(race.thread), write, key, device, "thread");
}

inline void access(const void* p, std::size_t size, bool write) {
  if (!race.on) return;
  const char* a = static_cast<const char*>(p);
  if ((a >= race.stack_lo && a < race.stack_hi) || (a >= host.stack_lo && a < host.stack_hi)) return;
  const bool device = on_device(a), dynamic = a >= host.dynamic_lo && a < host.dynamic_hi;
  const std::uintptr_t first = reinterpret_cast<std::uintptr_t>(a) / 4;
  const std::uintptr_t last = (reinterpret_cast<std::uintptr_t>(a) + (size ? size : 1) - 1) / 4;
  for (std::uintptr_t w = first; w <= last; ++w) check(w, write, device, dynamic);
}

}  // namespace

void race_launch() {
  if (!host.stack_hi) host_stack(host.stack_lo, host.stack_hi);
  ++host.table.launch;
  host.table.live = 0;
  host.reported = false;
  host.dynamic_lo = reinterpret_cast<const char*>(dynamic_shared.data());
  host.dynamic_hi = host.dynamic_lo + dynamic_shared_bytes;
  auto& m = device_memory();
  std::lock_guard<std::mutex> lock(m.mutex);
  host.device.clear();
  for (const auto& b : m.blocks)
    host.device.emplace_back(static_cast<const char*>(b.first), static_cast<const char*>(b.first) + b.second);
  std::sort(host.device.begin(), host.device.end());
}

std::uint64_t race_count() { return races.load(); }

}  // namespace fastmlp_emu

// The instrumentation's entry points (their names and signatures are the compiler's).
extern "C" {
void __tsan_init() {}
void __tsan_func_entry(void*) {}
void __tsan_func_exit() {}
void __tsan_vptr_update(void**, void*) {}
void __tsan_vptr_read(void**) {}
void __tsan_read_range(void* p, unsigned long size) { fastmlp_emu::access(p, size, false); }
void __tsan_write_range(void* p, unsigned long size) { fastmlp_emu::access(p, size, true); }
#define FASTMLP_EMU_ACCESS(n)                                                           \
  void __tsan_read##n(void* p) { fastmlp_emu::access(p, n, false); }                    \
  void __tsan_write##n(void* p) { fastmlp_emu::access(p, n, true); }                    \
  void __tsan_unaligned_read##n(void* p) { fastmlp_emu::access(p, n, false); }          \
  void __tsan_unaligned_write##n(void* p) { fastmlp_emu::access(p, n, true); }          \
  void __tsan_volatile_read##n(void* p) { fastmlp_emu::access(p, n, false); }           \
  void __tsan_volatile_write##n(void* p) { fastmlp_emu::access(p, n, true); }           \
  void __tsan_unaligned_volatile_read##n(void* p) { fastmlp_emu::access(p, n, false); } \
  void __tsan_unaligned_volatile_write##n(void* p) { fastmlp_emu::access(p, n, true); }
FASTMLP_EMU_ACCESS(1)
FASTMLP_EMU_ACCESS(2)
FASTMLP_EMU_ACCESS(4)
FASTMLP_EMU_ACCESS(8)
FASTMLP_EMU_ACCESS(16)
#undef FASTMLP_EMU_ACCESS

// Atomic operations (the emulator's and the host code's std::atomic, never a kernel's): done, with
// sequential consistency whatever order was asked for, and not checked.
#define FASTMLP_EMU_ATOMIC(n, T)                                                                           \
  T __tsan_atomic##n##_load(const volatile T* a, int) { return __atomic_load_n(a, __ATOMIC_SEQ_CST); }    \
  void __tsan_atomic##n##_store(volatile T* a, T v, int) { __atomic_store_n(a, v, __ATOMIC_SEQ_CST); }    \
  T __tsan_atomic##n##_exchange(volatile T* a, T v, int) { return __atomic_exchange_n(a, v, __ATOMIC_SEQ_CST); } \
  T __tsan_atomic##n##_fetch_add(volatile T* a, T v, int) { return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST); } \
  T __tsan_atomic##n##_fetch_sub(volatile T* a, T v, int) { return __atomic_fetch_sub(a, v, __ATOMIC_SEQ_CST); } \
  T __tsan_atomic##n##_fetch_and(volatile T* a, T v, int) { return __atomic_fetch_and(a, v, __ATOMIC_SEQ_CST); } \
  T __tsan_atomic##n##_fetch_or(volatile T* a, T v, int) { return __atomic_fetch_or(a, v, __ATOMIC_SEQ_CST); }   \
  T __tsan_atomic##n##_fetch_xor(volatile T* a, T v, int) { return __atomic_fetch_xor(a, v, __ATOMIC_SEQ_CST); } \
  T __tsan_atomic##n##_fetch_nand(volatile T* a, T v, int) {                                               \
    return __atomic_fetch_nand(a, v, __ATOMIC_SEQ_CST);                                                    \
  }                                                                                                        \
  int __tsan_atomic##n##_compare_exchange_strong(volatile T* a, T* c, T v, int, int) {                     \
    return __atomic_compare_exchange_n(a, c, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);                \
  }                                                                                                        \
  int __tsan_atomic##n##_compare_exchange_weak(volatile T* a, T* c, T v, int, int) {                       \
    return __atomic_compare_exchange_n(a, c, v, true, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);                 \
  }                                                                                                        \
  T __tsan_atomic##n##_compare_exchange_val(volatile T* a, T c, T v, int, int) {                           \
    __atomic_compare_exchange_n(a, &c, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);                      \
    return c;                                                                                              \
  }
FASTMLP_EMU_ATOMIC(8, std::uint8_t)
FASTMLP_EMU_ATOMIC(16, std::uint16_t)
FASTMLP_EMU_ATOMIC(32, std::uint32_t)
FASTMLP_EMU_ATOMIC(64, std::uint64_t)
#undef FASTMLP_EMU_ATOMIC
void __tsan_atomic_thread_fence(int) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
void __tsan_atomic_signal_fence(int) { __atomic_signal_fence(__ATOMIC_SEQ_CST); }
}
