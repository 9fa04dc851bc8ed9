// The process-wide thread setting shared by every CPU kernel (see parallel.h).
#include "fastmlp/parallel.h"

#include <algorithm>
#include <atomic>
#include <thread>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace fastmlp {
namespace {

int default_threads() {
#ifdef _OPENMP
  return std::max(1, omp_get_max_threads());
#else
  return 1;
#endif
}

std::atomic<int> g_threads{0};  // 0: not set yet, use the default

}  // namespace

int get_num_threads() {
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

void set_num_threads(int n) { g_threads.store(std::max(1, n), std::memory_order_relaxed); }

int threads_for(double work) {
#ifdef _OPENMP
  if (omp_in_parallel()) return 1;  // already one of a team (a part of a cut batch): no nested team
#endif
  // Waking a team costs a few microseconds, more on a busy machine: only products of 2M+ multiply-adds
  // (~50 microseconds on one core) are split.
  constexpr double kWorkPerThread = 128.0 * 128.0 * 128.0;
  int want = int(work / kWorkPerThread);
  return std::max(1, std::min(get_num_threads(), want));
}

}  // namespace fastmlp
