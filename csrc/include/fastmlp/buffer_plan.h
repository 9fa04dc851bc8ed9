// The buffers a training step works in, in elements, decided from the layers' shapes alone: the CPU
// trainer's parts (cpu/network_pass.h) and the CUDA GEMM trainer's workspace (cuda/train_loop.cu)
// allocate exactly these, and trainer_bytes adds them up before anything exists, so the memory a fit
// will take is known from one plan.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fastmlp/activation_math.h"
#include "fastmlp/checked.h"
#include "fastmlp/ops.h"

namespace fastmlp {

// Whether training keeps layer L's pre-activation z, for a layer of either kind.
inline bool keeps_z(const LayerShape& L) { return L.keeps_z; }
template <class T>
bool keeps_z(const LayerRef<T>& L) {
  return activation_needs_z(L.act.kind);
}

// The buffers of a step over `rows` samples (the CPU's Part: one part of a mini-batch). Counted without
// wrapping (Count throws past 2^64), so an absurd shape is refused instead of under-allocated.
struct PartSizes {
  std::vector<Count> act, pre;  // per layer: its output, and its z where kept (else 0)
  std::vector<Count> drop;      // per layer: its output after dropout, where it has a rate (else 0)
  Count grad_ab = 0;            // each of the two ping-pong gradient buffers, rows x the widest layer
  Count xb = 0, yb = 0;         // the gathered input and target rows (0 without gathering)
  Count params = 0, grad = 0;   // every parameter's gradient, then `extra` elements
  // The forward and backward pass's own buffers: outputs, kept z and the two gradient buffers (all
  // that the CUDA trainer's workspace holds).
  Count workspace() const {
    Count sum = Count(2) * grad_ab;
    for (size_t l = 0; l < act.size(); ++l) sum = sum + act[l] + pre[l] + drop[l];
    return sum;
  }
  Count total() const { return workspace() + xb + yb + grad; }
};

// Whether hidden layer l has a dropout rate (TrainOptions::dropout).
inline bool drops(const std::vector<double>& dropout, size_t l) { return l < dropout.size() && dropout[l] > 0.0; }

template <class Layers>
PartSizes part_sizes(const Layers& layers, index_t rows, index_t x_cols, index_t y_cols, bool gather, std::size_t extra,
                     const std::vector<double>& dropout = {}) {
  PartSizes s;
  const Count r = std::uint64_t(rows);
  std::uint64_t widest = 0;
  for (size_t l = 0; l < layers.size(); ++l) {
    const auto& L = layers[l];
    const Count out = std::uint64_t(L.out);
    s.act.push_back(r * out);
    s.pre.push_back(keeps_z(L) ? r * out : Count(0));
    s.drop.push_back(drops(dropout, l) ? r * out : Count(0));
    widest = std::max<std::uint64_t>({widest, std::uint64_t(L.in), std::uint64_t(L.out)});
    s.params = s.params + Count(std::uint64_t(L.in)) * out + out;
  }
  s.grad_ab = r * Count(widest);
  if (gather) {
    s.xb = r * Count(std::uint64_t(x_cols));
    s.yb = r * Count(std::uint64_t(y_cols));
  }
  s.grad = s.params + Count(std::uint64_t(extra));
  return s;
}

}  // namespace fastmlp
