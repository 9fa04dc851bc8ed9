// Passes over a whole data set, outside the trainer's epoch: the forward pass of predict() and the
// loss and gradient of every row (MLP.gradients, L-BFGS's objective in fastmlp.sklearn). Both cut the
// rows into chunks and run them side by side as the trainer runs a step's parts (network_pass.h).
#include "network_pass.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <vector>

#include "fastmlp/ops.h"
#include "fastmlp/parallel.h"

namespace fastmlp {
using namespace pass;

namespace {
// Rows of a chunk of mlp_loss_grad (a full-batch pass): a 100-wide layer's chunk output is 200 KB in
// float64, so a chunk's activations stay in L2 between the forward and the backward pass.
constexpr index_t kLossChunk = 256;

// What mlp_loss_grad keeps on a thread between calls: its parts and transposed weights for one shape
// (the chunk's rows, x's and y's columns, the part count, every layer's in and out).
template <class T>
struct LossGradScratch {
  std::vector<index_t> shape;
  std::vector<Part<T>> parts;
  std::vector<T> sum1;
  std::vector<std::vector<T>> w_t;
};
constexpr double kKeptScratchBytes = 64.0 * 1024 * 1024;
}  // namespace

template <class T>
void mlp_forward(const std::vector<LayerRef<T>>& layers, Matrix<const T> x, Matrix<T> out) {
  // Chunks bound the workspace to chunk x widest whatever the data set's size. Inference keeps no
  // layer's output for a backward pass: hidden layers alternate between two buffers, and the last
  // layer writes straight into `out`. A network whose chunk products stay below 2^27 multiply-adds
  // (the rule of parts_for) runs its chunks side by side, one per thread, each with its own two
  // buffers; larger ones run chunk after chunk, every product split by the GEMM. A chunk is computed
  // the same way on any thread, so the bits never depend on the count.
  constexpr index_t kChunk = 4096;
  const index_t chunk = std::min(kChunk, std::max<index_t>(x.rows, 1));
  const index_t chunks = (x.rows + chunk - 1) / chunk;
  double biggest = 0.0;
  index_t widest_hidden = 0;
  for (size_t l = 0; l < layers.size(); ++l) {
    biggest = std::max(biggest, double(chunk) * double(layers[l].in) * double(layers[l].out));
    if (l + 1 < layers.size()) widest_hidden = std::max(widest_hidden, layers[l].out);
  }
  const int threads = biggest < kMaxSideBySideProduct ? int(std::min<index_t>(get_num_threads(), chunks)) : 1;
  const size_t buffer = size_t(chunk * widest_hidden);
  std::vector<T> buffers(size_t(std::max(threads, 1)) * 2 * buffer);  // before any work: may throw
  auto run = [&](index_t c, int t) {
    const index_t begin = c * chunk, rows = std::min(chunk, x.rows - begin);
    T* ping = buffers.data() + size_t(t) * 2 * buffer;
    forward(layers, Matrix<const T>(x.row(begin), rows, x.cols, x.stride), [&](size_t l) {
      if (l + 1 == layers.size()) return Matrix<T>(out.row(begin), rows, out.cols, out.stride);
      return Matrix<T>(ping + (l % 2) * buffer, rows, layers[l].out);
    });
  };
  if (threads <= 1) {
    for (index_t c = 0; c < chunks; ++c) {
      poll_interrupt();
      run(c, 0);
    }
    return;
  }
  // Rounds of one chunk per thread, with a Ctrl-C poll between rounds (a region cannot be left early).
  for (index_t round = 0; round < chunks; round += threads) {
    poll_interrupt();
    const index_t last = std::min(chunks, round + threads);
    std::exception_ptr failure;  // kept and rethrown after the region: nothing may leave it by an exception
#pragma omp parallel for num_threads(start_team(threads)) schedule(static)
    for (index_t c = round; c < last; ++c) {
      try {
        run(c, team_rank());
      } catch (...) {
#pragma omp critical(fastmlp_forward_failure)
        if (!failure) failure = std::current_exception();
      }
    }
    if (failure) std::rethrow_exception(failure);
  }
}

template <class T>
double mlp_loss_grad(const std::vector<LayerRef<T>>& layers, const LossSpec& loss, Matrix<const T> x, Matrix<const T> y,
                     const std::vector<T*>& grads) {
  // The whole data set's loss and gradient (L-BFGS calls this once per iteration). Its rows go through
  // in chunks: a chunk's activations stay in cache, and its products are small enough to skip packing
  // (the trainer's step, with its transposed copies of small weights). The chunks are cut into at most
  // two parts by parts_for's rule, the parts run side by side, each part sums its chunks' gradients in
  // order, and part 1's sum is added to part 0's: the cut depends on the shape alone, so one thread or
  // two give the same bits.
  const double weight = loss_denominator(loss, y, layers.back().out);
  const double scale = weight > 0.0 ? 1.0 / weight : 0.0;
  // Chunks of equal size (at most kLossChunk rows), an even count of them, so that the two parts are
  // equal too; two chunks even when the rows would fit one, if half of them is worth a thread.
  const index_t n = x.rows;
  index_t chunks = std::max<index_t>(1, (n + kLossChunk - 1) / kLossChunk);
  if (chunks == 1 && parts_for(layers, (n + 1) / 2) == 2) chunks = 2;
  if (chunks > 1 && chunks % 2 == 1) ++chunks;
  const index_t chunk = (n + chunks - 1) / chunks;
  chunks = (n + chunk - 1) / chunk;
  const int parts = chunks >= 2 && parts_for(layers, chunk) == 2 ? 2 : 1;
  // Part p: its workspace and the gradients of its current chunk; part 1 also keeps its running sum
  // (part 0 sums straight into `grads`). Made before any parallel region, and kept on this thread for
  // the next call with the same shapes (L-BFGS makes hundreds): fresh buffers of this size come from
  // mmap, a page fault per page, which cost more than the products of a small data set.
  thread_local LossGradScratch<T> cache;
  std::vector<index_t> shape = {chunk, x.cols, y.cols, parts};
  for (const auto& L : layers) shape.insert(shape.end(), {L.in, L.out, index_t(activation_needs_z(L.act.kind))});
  if (cache.shape != shape) {
    cache = LossGradScratch<T>();
    for (int p = 0; p < parts; ++p) cache.parts.emplace_back(layers, chunk, x.cols, y.cols, false);
    cache.sum1.resize(parts == 2 ? cache.parts[0].params : 0);
    for (size_t l = 0; l < layers.size(); ++l) {
      const LayerRef<T>& L = layers[l];
      const bool small = l > 0 && double(chunk) * double(L.in) * double(L.out) < kSmallLayerProduct;
      cache.w_t.emplace_back(small ? size_t(L.in * L.out) : 0);
    }
    cache.shape = shape;
  }
  std::vector<Part<T>>& work = cache.parts;
  std::vector<std::vector<T>>& w_t = cache.w_t;
  for (size_t l = 0; l < layers.size(); ++l) {
    const LayerRef<T>& L = layers[l];
    for (index_t i = 0; !w_t[l].empty() && i < L.in; ++i)
      for (index_t j = 0; j < L.out; ++j) w_t[l][size_t(j * L.in + i)] = L.w[i * L.out + j];
  }
  std::vector<T>& sum1 = cache.sum1;
  std::vector<T*> sum1_ptrs;
  for (size_t l = 0, at = 0; parts == 2 && l < layers.size(); ++l) {
    sum1_ptrs.push_back(sum1.data() + at);
    sum1_ptrs.push_back(sum1.data() + at + size_t(layers[l].in * layers[l].out));
    at += size_t(layers[l].in * layers[l].out + layers[l].out);
  }
  const index_t split = parts == 2 ? (chunks + 1) / 2 : chunks;  // part 0: chunks [0, split)
  double sums[2] = {0.0, 0.0};
  // A part that fails (Ctrl-C, seen between chunks or inside a product, or out of memory) stops the
  // other at its next chunk; the failure is rethrown once both have ended.
  std::atomic<bool> stop{false};
  auto chunk_of = [&](int p, index_t c) {
    const std::vector<T*>& total = p == 0 ? grads : sum1_ptrs;
    Part<T>& part = work[size_t(p)];
    poll_interrupt();  // acts on Python's main thread only: whichever part that thread runs
    const index_t begin = c * chunk, rows = std::min(chunk, n - begin);
    const bool first = c == (p == 0 ? 0 : split);
    sums[p] += forward_backward(layers, loss, Matrix<const T>(x.row(begin), rows, x.cols, x.stride),
                                Matrix<const T>(y.row(begin), rows, y.cols, y.stride), part.ws,
                                first ? total : part.grads, scale, &w_t);
    if (!first) add_gradients(layers, total, part.grads);
  };
  auto run = [&](int p) {
    for (index_t c = p == 0 ? 0 : split, last = p == 0 ? split : chunks; c < last; ++c) {
      if (stop.load(std::memory_order_relaxed)) return;
      try {
        chunk_of(p, c);
      } catch (...) {
        stop.store(true);
        throw;
      }
    }
  };
  if (parts == 2)
    side_by_side([&](int p) { run(p); });
  else
    run(0);
  if (parts == 2) add_gradients(layers, grads, sum1_ptrs);
  double bytes = 0.0;
  for (const auto& p : work) bytes += double(p.bytes());
  if (bytes > kKeptScratchBytes) cache = LossGradScratch<T>();  // a big network's: not held between calls
  return (sums[0] + sums[1]) * scale;
}

#define FASTMLP_INSTANTIATE(T)                                                                                         \
  template void mlp_forward<T>(const std::vector<LayerRef<T>>&, Matrix<const T>, Matrix<T>);                           \
  template double mlp_loss_grad<T>(const std::vector<LayerRef<T>>&, const LossSpec&, Matrix<const T>, Matrix<const T>, \
                                   const std::vector<T*>&);
FASTMLP_INSTANTIATE(float)
FASTMLP_INSTANTIATE(double)
#undef FASTMLP_INSTANTIATE

}  // namespace fastmlp
