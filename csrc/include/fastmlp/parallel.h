// The thread count that every CPU kernel uses, and a parallel-for over index ranges. OpenMP when the
// compiler has it, a plain loop otherwise. Work below a threshold runs on the calling thread: waking a
// team costs microseconds, which is the whole budget of a tiny network's training step.
#pragma once
#include <cstdint>
#include <type_traits>

namespace fastmlp {

int get_num_threads();
// n in [1, max_threads()]; the bindings refuse anything else with a message (see max_threads).
void set_num_threads(int n);

// The most threads a setting may ask for: 4 per core this process may run on. More never speeds up a
// compute-bound kernel, and a runaway count (OMP_NUM_THREADS=100000) makes thread creation fail
// inside the OpenMP runtime, which aborts the process.
int max_threads();

// True in a child made by fork() after this process had started a team of threads: GNU OpenMP's
// threads do not survive fork, and a team started in the child waits for them forever. Such a child
// runs every kernel on its own thread.
bool forked_after_threads();

// Threads worth using for `work` multiply-adds (or comparable units), never more than the setting.
int threads_for(double work);

// Every parallel region with more than one thread asks here first: returns n, and remembers that a
// team now exists (what forked_after_threads needs to know).
int start_team(int n);

// Inside a parallel region: this thread's number and the team's size (0 and 1 outside, or without
// OpenMP).
int team_rank();
int team_size();

// Runs fn(ctx, 0) and fn(ctx, 1), the two fixed parts of a training step: part 0 on this thread, part
// 1 on a helper thread, unless this thread finishes part 0 before the helper has begun part 1, in which
// case it runs part 1 itself. On a busy machine the helper may wait milliseconds for a core; an OpenMP
// team would wait for it at every step (a step of a few hundred microseconds then took 10 ms), while
// this waits only for a part the helper has actually begun. Which thread runs a part changes nothing in
// its result. Both run here, in order, when the setting is one thread, in a forked child, or while
// another caller has the helper. What a part throws is rethrown here (part 0's first) after both ended.
// Inside a part, threads_for() is 1: a part's products do not start a team of their own.
void side_by_side(void (*fn)(void* ctx, int part), void* ctx);

template <class F>
void side_by_side(F&& f) {
  side_by_side([](void* ctx, int part) { (*static_cast<std::remove_reference_t<F>*>(ctx))(part); },
               static_cast<void*>(&f));
}

// Ctrl-C. The bindings install a check that raises the pending KeyboardInterrupt (it throws); long
// loops call poll_interrupt() between pieces of work. It calls the check at most every few
// milliseconds per thread, and the check acts only on Python's main thread, so a loop may call it as
// often as it likes. Inside a parallel region (a thread of a team may be the main thread) the caller
// must catch what it throws before the region ends: nothing may leave a region by an exception.
using InterruptCheck = void (*)();
void set_interrupt_check(InterruptCheck check);
void poll_interrupt();

}  // namespace fastmlp
