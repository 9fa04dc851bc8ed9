// Which CUDA path a fit takes: the fused narrow-MLP kernels (cuda/fused_mlp.cu, a step in two launches)
// or the per-layer GEMM path (cuda/train_loop.cu). Decided here and nowhere else, from the shapes and
// options alone; the trainer, the memory planner and fastmlp's Python side all ask fused_plan.
// Plain C++ (no CUDA header), so the bindings can say which path a fit would take in any build.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "fastmlp/ops.h"

namespace fastmlp {

constexpr index_t kFusedMaxWidth = 128;  // every layer's inputs and outputs, the data's columns included
constexpr std::size_t kFusedMaxLayers = 32;
constexpr int kFusedThreads = 256;                // threads of a fused block: 8 warps
constexpr int kFusedRowChoices[] = {64, 32, 16};  // rows per block tile, the largest that fits first
constexpr index_t kFusedMaxSlots = 264;           // blocks of a step (= gradient slots): 2 per SM of a 132-SM H200

struct FusedPlan {
  int rows = 0;                 // rows of a block's tile; 0: the GEMM path
  const char* reason = "";      // why the GEMM path, when rows == 0
  bool staged_weights = false;  // kernel version 2: each layer's weights staged in shared memory
  bool fused() const { return rows > 0; }
};

// Shared memory of a fused block with `rows` rows: the activations of every layer (the input tile
// included) for the backward pass, and two gradient tiles as wide as the widest layer; with staged
// weights also the largest layer's weights, rows padded by one float (in x (out + 1)).
inline std::size_t fused_shared_bytes(const std::vector<LayerShape>& layers, int rows, bool staged_weights) {
  index_t widths = layers.front().in, widest = layers.front().in, weights = 0;
  for (const auto& L : layers) {
    widths += L.out;
    widest = widest > L.out ? widest : L.out;
    weights = weights > L.in * (L.out + 1) ? weights : L.in * (L.out + 1);
  }
  return sizeof(float) *
         (std::size_t(rows) * std::size_t(widths + 2 * widest) + (staged_weights ? std::size_t(weights) : 0));
}

// item: bytes per element (4: float32); shared_limit: the device's shared memory per block (opt-in).
inline FusedPlan fused_plan(const std::vector<LayerShape>& layers, std::size_t item, const TrainOptions& opt,
                            std::size_t shared_limit) {
  // The environment can keep a process on the GEMM path: to compare the two paths (tests, benchmarks).
  if (const char* env = std::getenv("FASTMLP_CUDA_PATH"); env && std::strcmp(env, "gemm") == 0)
    return {0, "FASTMLP_CUDA_PATH=gemm"};
  if (item != sizeof(float)) return {0, "the fused kernel is float32 only"};
  if (layers.empty() || layers.size() > kFusedMaxLayers) return {0, "more than 32 layers"};
  for (const auto& L : layers)
    if (L.in > kFusedMaxWidth || L.out > kFusedMaxWidth) return {0, "a layer wider than 128"};
  // The fused step keeps each layer's output in shared memory and reads the derivative off it; an
  // activation whose derivative needs z would need a second tile per layer.
  for (const auto& L : layers)
    if (L.keeps_z) return {0, "an activation whose derivative needs z (gelu, gelu_tanh, silu, elu, softplus, selu)"};
  // What the fused step leaves out, each needing a reduction over the whole batch or all parameters
  // before the update (the GEMM path has those kernels).
  if (opt.global_rows > 0) return {0, "data parallel (gradients staged through the host)"};
  if (opt.loss.weighted) return {0, "sample weights"};
  if (opt.l2 > 0.0) return {0, "an L2 penalty"};
  if (opt.clip_grad_norm > 0.0) return {0, "clip_grad_norm"};
  // FASTMLP_FUSED_KERNEL=2 picks the version that stages each layer's weights in shared memory (fewer
  // rows per tile, weights read from L2 once per tile instead of once per 4 rows), until a GPU has
  // measured which is faster.
  const char* version = std::getenv("FASTMLP_FUSED_KERNEL");
  const bool staged = version && std::strcmp(version, "2") == 0;
  for (int rows : kFusedRowChoices)
    if (fused_shared_bytes(layers, rows, staged) <= shared_limit) return {rows, "", staged};
  return {0, "the activations of 16 rows do not fit in shared memory"};
}

}  // namespace fastmlp
