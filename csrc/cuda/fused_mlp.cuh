// The fused narrow-MLP path (chosen by fastmlp/fused_plan.h): a training step in two launches.
// fused_step (fused_mlp.cu) runs forward, loss and backward of every layer for a block's tiles of rows
// and leaves the block's gradient sum in its own slot; fused_update (fused_update.cu) adds the slots in
// slot order and applies the optimizer. fused_train.cu holds the trainer that drives them.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "common.cuh"
#include "fastmlp/activation_math.h"
#include "fastmlp/cuda_ops.h"
#include "fastmlp/fused_plan.h"
#include "fastmlp/ops.h"
#include "fastmlp/optimizers/registry.h"

namespace fastmlp {
namespace cuda {

// A network's shape as the kernels read it (by value, as a kernel argument). The parameters live in one
// flat array: layer l's weights (width[l] x width[l + 1]) at w_off[l], its bias at b_off[l].
struct FusedNet {
  int layers = 0;
  int width[kFusedMaxLayers + 1] = {};  // width[0]: the inputs; width[l + 1]: layer l's outputs
  Activation act[kFusedMaxLayers] = {};
  ActivationParams<float> param[kFusedMaxLayers] = {};  // never an activation_needs_z kind (fused_plan)
  index_t w_off[kFusedMaxLayers] = {}, b_off[kFusedMaxLayers] = {};
  index_t params = 0;  // the length of the flat array (and of a gradient slot)
};

// The loss as the step kernel reads it; targets have tcols columns (1 for class labels).
struct FusedLoss {
  Loss kind = Loss::mse;
  bool labels = false;
  int tcols = 1;
  float delta = 1.0f;
  double factor = 1.0;
};

// Inverted dropout in the fused step (fastmlp/dropout.h), by value: each hidden layer's threshold
// (dropout_threshold; 0: the layer keeps every output) and scale 1 / (1 - p), and the fit's seed.
struct FusedDropout {
  std::uint32_t threshold[kFusedMaxLayers] = {};
  float scale[kFusedMaxLayers] = {};
  std::uint64_t seed = 0;
  bool any = false;
};

// One block's share of a step: rows [first, first + rows) of the epoch's order (order null: no
// shuffle, the rows themselves) in tiles of plan.rows rows, blocks = min(tiles, kFusedMaxSlots). Block z
// writes its gradient sum to slots + z * net.params and its loss sum (times loss.factor) to
// loss_slots[z]. The gradient is scale * d(loss sum)/d(parameters). With dropout.any, the masks of the
// optimizer step *step (device memory: a captured step reads each epoch's number). Enqueued on `stream`.
void fused_step(const FusedNet& net, const FusedLoss& loss, const FusedPlan& plan, const float* params, const float* x,
                const float* y, const std::int64_t* order, index_t first, index_t rows, const double* class_weight,
                double scale, float* slots, double* loss_slots, const FusedDropout& dropout, const std::int64_t* step,
                cudaStream_t stream);

// Blocks (= slots) a step of `rows` rows takes.
index_t fused_blocks(index_t rows, int tile_rows);

// Lets fused_step use the shared memory fused_plan planned with (once per process, before a capture).
void fused_allow_shared_memory();

// params -= the optimizer's step for the gradient sum of slots [0, slot_count) (each clamped to
// [-clip_value, clip_value] when clip_value > 0), with the step's coefficients read from the device
// (coefs: so that a captured step takes each epoch's new ones); acc[0] += loss_weight * (sum of
// loss_slots). Enqueued on `stream`.
void fused_update(Optimizer kind, StateBuffers<float> state, const StepCoefficients<float>* coefs, float* params,
                  const float* slots, index_t slot_count, index_t count, double clip_value, const double* loss_slots,
                  double loss_weight, double* acc, cudaStream_t stream);

// The fused trainer, and the device bytes it holds (trainer_bytes' fused case).
std::unique_ptr<TrainerBase> make_fused_trainer(std::vector<LayerRef<float>> layers, Matrix<const float> x,
                                                Matrix<const float> y, const TrainOptions& options, FusedPlan plan);
std::size_t fused_trainer_bytes(const std::vector<LayerShape>& layers, index_t n, int state_buffers,
                                const TrainOptions& options, FusedPlan plan);

}  // namespace cuda
}  // namespace fastmlp
