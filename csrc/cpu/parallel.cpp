// The process-wide thread setting shared by every CPU kernel, what fork does to it, and the rate-limited
// Ctrl-C poll (see parallel.h).
#include "fastmlp/parallel.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
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

std::atomic<int> g_threads{0};            // 0: not set yet, use the default
std::atomic<bool> g_team_started{false};  // a team of 2+ threads has run in this process
std::atomic<bool> g_forked{false};        // this process is a fork of one whose team had started
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

namespace {
thread_local bool t_in_part = false;  // running a part of side_by_side

inline void relax() {  // a spinning thread's pause: lets the core's other hardware thread run
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// The helper thread of side_by_side and the one item it may be given. Made on first use and never
// destroyed (the thread is detached and may still wait on it while the process exits).
struct Helper {
  enum : int { kOpen, kHelper, kCaller, kDone };
  std::atomic<bool> owned{false};        // a caller has posted an item and not yet returned
  std::atomic<std::uint64_t> posted{0};  // items posted so far
  std::atomic<int> state{kDone};         // the latest item's part 1: open, taken by whom, done
  std::atomic<bool> sleeping{false};
  // Backing off: when the helper, awake, keeps missing (the caller finished part 0 before the helper
  // began part 1, or then waited for it longer than part 0 took: it had no core), the next `skip`
  // calls run in order without posting, so that a spinning helper does not take CPU time from the
  // thread doing the work; each further run of four misses doubles the pause, and a part the helper
  // runs in time ends the back-off.
  int misses = 0, skip = 0, pause = kFirstPause;
  static constexpr int kFirstPause = 16, kLongestPause = 4096;
  void (*fn)(void*, int) = nullptr;
  void* ctx = nullptr;
  std::exception_ptr error;  // what part 1 threw on the helper
  std::mutex m;
  std::condition_variable cv;

  void loop() {
    std::uint64_t seen = 0;
    for (;;) {
      // Spin up to 2 ms for the next item, then sleep: the steps of an epoch come back to back, and
      // the Python between epochs, or between L-BFGS's evaluations, takes a few hundred microseconds.
      auto start = std::chrono::steady_clock::now();
      for (int i = 0; posted.load(std::memory_order_acquire) == seen; ++i) {
        relax();
        if ((i & 255) == 255 && std::chrono::steady_clock::now() - start > std::chrono::milliseconds(2)) {
          std::unique_lock<std::mutex> lock(m);
          sleeping.store(true);
          cv.wait(lock, [&] { return posted.load() != seen; });
          sleeping.store(false);
          start = std::chrono::steady_clock::now();
        }
      }
      seen = posted.load(std::memory_order_acquire);
      int open = kOpen;
      if (!state.compare_exchange_strong(open, kHelper, std::memory_order_acq_rel)) continue;
      t_in_part = true;
      try {
        fn(ctx, 1);
      } catch (...) {
        error = std::current_exception();
      }
      t_in_part = false;
      state.store(kDone, std::memory_order_release);
    }
  }
};

// The helper, started on first use; null where no thread could be made (then parts run in order).
Helper* helper() {
  static Helper* h = [] {
    auto* made = new Helper;  // never freed: see Helper
    try {
      std::thread([made] { made->loop(); }).detach();
    } catch (...) {
      delete made;
      return static_cast<Helper*>(nullptr);
    }
    start_team(2);  // a thread now exists that a forked child will not have
    return made;
  }();
  return h;
}

void run_part(void (*fn)(void*, int), void* ctx, int part, std::exception_ptr& error) {
  t_in_part = true;
  try {
    fn(ctx, part);
  } catch (...) {
    if (!error) error = std::current_exception();
  }
  t_in_part = false;
}
}  // namespace

void side_by_side(void (*fn)(void*, int), void* ctx) {
  std::exception_ptr error;
  Helper* h = get_num_threads() > 1 && !t_in_part ? helper() : nullptr;
  bool expected = false;
  if (h != nullptr && !h->owned.compare_exchange_strong(expected, true)) h = nullptr;  // another caller's
  if (h != nullptr && h->skip > 0) {                                                   // backing off (see Helper)
    --h->skip;
    h->owned.store(false, std::memory_order_release);
    h = nullptr;
  }
  if (h != nullptr && h->sleeping.load()) {
    // Waking a sleeping helper takes tens of microseconds, and one that then began part 1 late would
    // be waited for: this call runs in order, and the helper is only woken (an item with nothing to
    // take), so that it is spinning, ready, for the calls that follow.
    h->posted.fetch_add(1);
    {
      std::lock_guard<std::mutex> lock(h->m);
      h->cv.notify_one();
    }
    h->owned.store(false, std::memory_order_release);
    h = nullptr;
  }
  if (h == nullptr) {  // in order, on this thread
    run_part(fn, ctx, 0, error);
    run_part(fn, ctx, 1, error);
    if (error) std::rethrow_exception(error);
    return;
  }
  h->fn = fn;
  h->ctx = ctx;
  h->error = nullptr;
  h->state.store(Helper::kOpen, std::memory_order_release);
  h->posted.fetch_add(1);  // seq_cst, as the helper's `sleeping` store: one of the two sees the other
  const bool was_sleeping = h->sleeping.load();  // it fell asleep just now
  if (was_sleeping) {
    std::lock_guard<std::mutex> lock(h->m);
    h->cv.notify_one();
  }
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  run_part(fn, ctx, 0, error);
  const Clock::time_point done = Clock::now();
  bool missed = false;
  int open = Helper::kOpen;
  if (h->state.compare_exchange_strong(open, Helper::kCaller, std::memory_order_acq_rel)) {
    run_part(fn, ctx, 1, error);  // the helper had not begun it
    missed = true;
  } else {
    // The helper runs part 1: spin briefly, then give up the core at each look (on a busy machine the
    // helper may share it with this thread).
    for (int i = 0; h->state.load(std::memory_order_acquire) != Helper::kDone; ++i) {
      relax();
      if (i > 2000) std::this_thread::yield();
    }
    if (!error && h->error) error = h->error;
    // Waited longer than part 0 took (and than timer noise): the helper lost its core on the way.
    missed = Clock::now() - done > std::max<Clock::duration>(done - start, std::chrono::microseconds(20));
  }
  // A miss counts only when the helper was awake: waking one takes tens of microseconds anyway.
  if (!missed) {
    h->misses = 0;
    h->pause = Helper::kFirstPause;
  } else if (!was_sleeping && ++h->misses >= 4) {
    h->misses = 0;
    h->skip = h->pause;
    h->pause = std::min(2 * h->pause, Helper::kLongestPause);
  }
  h->error = nullptr;
  h->owned.store(false, std::memory_order_release);
  if (error) std::rethrow_exception(error);
}

int threads_for(double work) {
  if (t_in_part) return 1;  // a part of a step runs its products on its own thread
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
