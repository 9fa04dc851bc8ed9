// The process-wide thread setting shared by every CPU kernel, what fork does to it, and the rate-limited
// Ctrl-C poll (see parallel.h).
#include "fastmlp/parallel.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace fastmlp {
namespace {

// Cores this process may run on (its affinity mask: a container's cpuset or `taskset`), at least 1.
int usable_cores() {
#ifdef CPU_COUNT
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return std::max(1, int(std::thread::hardware_concurrency()));
}

std::atomic<int> g_threads{0};             // 0: not set yet, use the default
std::atomic<bool> g_team_started{false};   // a team of 2+ threads has run in this process
std::atomic<bool> g_forked{false};         // this process is a fork of one whose team had started
std::atomic<InterruptCheck> g_interrupt{nullptr};

void after_fork_in_child() {
  if (g_team_started.load()) g_forked.store(true);
}

// Registered once, when the library is loaded: the handler runs in every child of every fork(), from
// Python's os.fork and multiprocessing as much as from C.
const bool g_atfork_registered = pthread_atfork(nullptr, nullptr, after_fork_in_child) == 0;

int default_threads() {
#ifdef _OPENMP
  return std::clamp(omp_get_max_threads(), 1, max_threads());  // OMP_NUM_THREADS, capped
#else
  return 1;
#endif
}

}  // namespace

int max_threads() {
  static const int limit = 4 * usable_cores();
  return limit;
}

bool forked_after_threads() { return g_forked.load(std::memory_order_relaxed); }

int get_num_threads() {
  if (forked_after_threads()) return 1;
  int n = g_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : default_threads();
}

int team_rank() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

int team_size() {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

void set_num_threads(int n) { g_threads.store(std::clamp(n, 1, max_threads()), std::memory_order_relaxed); }

int start_team(int n) {
  if (n > 1 && !g_team_started.load(std::memory_order_relaxed)) g_team_started.store(true);
  return n;
}

int threads_for(double work) {
#ifdef _OPENMP
  if (omp_in_parallel()) return 1;  // already one of a team (a part of a cut batch): no nested team
#endif
  // Waking a team costs a few microseconds, more on a busy machine: only products of 2M+ multiply-adds
  // (~50 microseconds on one core) are split.
  constexpr double kWorkPerThread = 128.0 * 128.0 * 128.0;
  int want = int(std::min(work / kWorkPerThread, 1e6));
  return start_team(std::max(1, std::min(get_num_threads(), want)));
}

void set_interrupt_check(InterruptCheck check) { g_interrupt.store(check); }

void poll_interrupt() {
  // The check takes the GIL, so it runs at most every 5 ms. The coarse monotonic clock (a few ns, a
  // resolution of a few ms) is read rather than the precise one: the smallest steps take ~1 us.
  constexpr std::int64_t kEveryNs = 5'000'000;
  InterruptCheck check = g_interrupt.load(std::memory_order_relaxed);
  if (check == nullptr) return;
  thread_local std::int64_t last = 0;
  timespec ts;
#ifdef CLOCK_MONOTONIC_COARSE
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
#else
  clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
  const std::int64_t now = std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  if (now - last < kEveryNs) return;
  last = now;
  check();
}

}  // namespace fastmlp
