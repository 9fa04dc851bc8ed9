// Data parallel training (fastmlp.distributed), the part both trainers share: which of this
// process's rows each step of an epoch runs. Every process walks the same global order of the epoch
// (the same Philox permutation of all rows), and a step's rows are those of its global batch that
// fall in this process's block [lo, lo + n) of the global rows, kept in the order's order.
#pragma once
#include <algorithm>
#include <cstdint>

#include "fastmlp/epoch_plan.h"
#include "fastmlp/tensor.h"

namespace fastmlp {

// Step s runs local rows local_order[step_first[s] .. step_first[s + 1]) when `order` (the epoch's
// global order, plan.rows entries) is given, else the contiguous local rows step_first[s] ..
// step_first[s + 1] (without shuffling a batch is a range of global rows). step_first has
// plan.steps + 1 entries, local_order (when order is given) n.
inline void share_of_steps(const std::int64_t* order, const EpochPlan& plan, index_t lo, index_t n,
                           std::int64_t* local_order, std::int64_t* step_first) {
  if (order == nullptr) {
    for (index_t s = 0; s <= plan.steps; ++s) step_first[s] = std::clamp<index_t>(plan.first(s) - lo, 0, n);
    return;
  }
  index_t count = 0;
  for (index_t s = 0; s < plan.steps; ++s) {
    step_first[s] = count;
    for (index_t pos = plan.first(s), end = pos + plan.count(s); pos < end; ++pos) {
      const std::int64_t g = order[pos];
      if (g >= lo && g < lo + n) local_order[count++] = g - lo;
    }
  }
  step_first[plan.steps] = count;
}

}  // namespace fastmlp
