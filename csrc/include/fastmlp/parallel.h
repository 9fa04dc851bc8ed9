// The thread count that every CPU kernel uses, and a parallel-for over index ranges. OpenMP when the
// compiler has it, a plain loop otherwise. Work below a threshold runs on the calling thread: waking a
// team costs microseconds, which is the whole budget of a tiny network's training step.
#pragma once
#include <cstdint>

namespace fastmlp {

int get_num_threads();
void set_num_threads(int n);

// Threads worth using for `work` multiply-adds (or comparable units), never more than the setting.
int threads_for(double work);

// Inside a parallel region: this thread's number and the team's size (0 and 1 outside, or without
// OpenMP).
int team_rank();
int team_size();

}  // namespace fastmlp
