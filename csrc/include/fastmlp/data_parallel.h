// Data parallel training (fastmlp.distributed), the part both trainers share: which of this
// process's rows each step of an epoch runs. Every process walks the same global order of the epoch
// (the same Philox permutation of all rows), and a step's rows are those of its global batch that
// fall in this process's block [lo, lo + n) of the global rows, kept in the order's order.
#pragma once
#include <algorithm>
#include <cstdint>

#include "fastmlp/tensor.h"

namespace fastmlp {

// Step s runs local rows local_order[step_first[s] .. step_first[s + 1]) when `order` (the epoch's
// global order, `total` entries) is given, else the contiguous local rows step_first[s] ..
// step_first[s + 1] (without shuffling a batch is a range of global rows). step_first has steps + 1
// entries, local_order (when order is given) n.
inline void share_of_steps(const std::int64_t* order, index_t total, index_t batch, index_t steps, index_t lo,
                           index_t n, std::int64_t* local_order, std::int64_t* step_first) {
  if (order == nullptr) {
    for (index_t s = 0; s <= steps; ++s) step_first[s] = std::clamp<index_t>(std::min(s * batch, total) - lo, 0, n);
    return;
  }
  index_t count = 0;
  for (index_t s = 0; s < steps; ++s) {
    step_first[s] = count;
    for (index_t pos = s * batch, end = std::min(total, pos + batch); pos < end; ++pos) {
      const std::int64_t g = order[pos];
      if (g >= lo && g < lo + n) local_order[count++] = g - lo;
    }
  }
  step_first[steps] = count;
}

}  // namespace fastmlp
