// An epoch's steps: how many there are and which positions of the epoch's order each one takes, for
// `rows` rows in batches of `batch_size` (0: the whole set), the last short batch kept unless
// drop_last. One definition for the three trainers (CPU, CUDA GEMM, CUDA fused), their trainer_bytes
// and Python's fit (_core.epoch_steps); fastmlp.reference.train_epoch spells the rule out on its own.
#pragma once
#include <algorithm>

#include "fastmlp/tensor.h"

namespace fastmlp {

struct EpochPlan {
  index_t rows = 0;   // of the (global) data set
  index_t batch = 0;  // rows of a full batch: batch_size, at most the data set (0 only when rows is)
  index_t steps = 0;  // per epoch

  // Step s takes positions [first(s), first(s) + count(s)) of the epoch's order (of the rows themselves
  // when they are not shuffled); first(steps) is where the last step run ends (before a dropped batch).
  index_t first(index_t s) const { return std::min(s * batch, rows); }
  index_t count(index_t s) const { return std::min(batch, rows - first(s)); }
};

inline EpochPlan epoch_plan(index_t rows, index_t batch_size, bool drop_last) {
  EpochPlan p;
  p.rows = rows;
  p.batch = batch_size > 0 ? std::min(batch_size, rows) : rows;
  if (p.batch > 0) p.steps = drop_last ? rows / p.batch : (rows + p.batch - 1) / p.batch;
  return p;
}

}  // namespace fastmlp
