// Inverted dropout (Srivastava et al. 2014, JMLR 15, "Dropout: a simple way to prevent neural networks
// from overfitting"; torch.nn.Dropout's form): in a training step each output of a hidden layer with
// rate p is zeroed with probability p and the others are multiplied by 1 / (1 - p), so that its
// expectation is the output itself; predict runs the layer as it is. The gradient flows through the
// same mask: dL/da = dL/da' * mask * 1 / (1 - p).
//
// Whether an output is kept is a pure function of (seed, step, layer, data row, unit), from the Philox
// stream of domain kDomainDropout (fastmlp/rng.h): element g = row * width + unit of layer l in optimizer
// step s reads word g mod 4 of the draw at counter (g / 4 as two words, s mod 2^32, 3 << 24 | l) under
// the key seed, whose high word is XORed with s / 2^32. `row` is the sample's index in the (global) data set, not its
// place in the batch: the mask does not depend on how a batch is cut into parts, on the thread count, on the processes
// of a data-parallel fit or on the device. The output is dropped when that 32-bit word is below floor(p 2^32).
// fastmlp.reference.dropout_keep is the NumPy twin.
#pragma once
#include <cstdint>

#include "fastmlp/rng.h"

namespace fastmlp {

// The 32-bit word below which an output is dropped: floor(p 2^32), for p in [0, 1).
inline std::uint32_t dropout_threshold(double p) {
  if (!(p > 0.0)) return 0;
  const double t = p * 4294967296.0;
  return t >= 4294967295.0 ? 4294967295u : std::uint32_t(t);
}

// The draw that decides elements [4 group, 4 group + 4) of layer `layer` in step `step`.
FASTMLP_HD Philox4 dropout_draw(std::uint64_t seed, std::int64_t step, std::uint32_t layer, std::uint64_t group) {
  const std::uint64_t s = std::uint64_t(step);
  return philox_at(seed ^ ((s >> 32) << 32), kDomainDropout, std::uint32_t(s), group, layer);
}

// Whether element g = row * width + unit of layer `layer` is kept in step `step`.
FASTMLP_HD bool dropout_keeps(std::uint64_t seed, std::int64_t step, std::uint32_t layer, std::uint64_t g,
                              std::uint32_t threshold) {
  return dropout_draw(seed, step, layer, g >> 2).v[g & 3] >= threshold;
}

}  // namespace fastmlp
