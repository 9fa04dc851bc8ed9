// What the trainer's step (train_loop.cpp) and the whole-data passes (network_pass.cpp: predict's
// forward, L-BFGS's loss and gradient) share: a layer-by-layer forward and backward pass over a block
// of rows, its workspaces, and the rule that cuts a block of rows into two parts run side by side.
// Internal to the CPU backend.
#pragma once
#include <algorithm>
#include <cstring>
#include <vector>

#include "fastmlp/activation_math.h"
#include "fastmlp/block_cache.h"
#include "fastmlp/buffer_plan.h"
#include "fastmlp/dropout.h"
#include "fastmlp/ops.h"

namespace fastmlp {
namespace pass {

// A buffer of a trainer's plan: its memory comes back to the next trainer (fastmlp/block_cache.h).
template <class T>
using Scratch = std::vector<T, ReusedAllocator<T>>;

// Workspaces for a forward and backward pass of up to `rows` samples, sized by part_sizes.
template <class T>
struct Workspace {
  std::vector<Scratch<T>> act;   // act[l]: output of layer l (rows x out_l)
  std::vector<Scratch<T>> pre;   // pre[l]: its pre-activation z where the derivative needs it, else empty
  std::vector<Scratch<T>> drop;  // drop[l]: its output after dropout (what layer l + 1 reads), else empty
  Scratch<T> grad_a, grad_b;     // ping-pong buffers for dL/d(activation), rows x widest layer

  explicit Workspace(const PartSizes& s) : grad_a(size_t(s.grad_ab.v)), grad_b(size_t(s.grad_ab.v)) {
    for (size_t l = 0; l < s.act.size(); ++l) {
      act.emplace_back(size_t(s.act[l].v));
      pre.emplace_back(size_t(s.pre[l].v));
      drop.emplace_back(size_t(s.drop[l].v));
    }
  }

  // What layer l + 1 reads of layer l: its output, after dropout where it has a rate.
  const T* input_of_next(size_t l) const { return drop[l].empty() ? act[l].data() : drop[l].data(); }
};

// A training step's dropout (fastmlp/dropout.h) for the rows one pass runs: row i of the pass is row
// order[first + i] (or first + i without an order) of this process's data, offset + that of the data set.
struct Dropout {
  const std::vector<double>* rates = nullptr;  // per hidden layer (TrainOptions::dropout)
  std::uint64_t seed = 0;
  std::int64_t step = 0;
  const std::int64_t* order = nullptr;
  index_t first = 0;
  std::int64_t offset = 0;

  bool on(size_t l) const { return rates && drops(*rates, l); }
  std::int64_t row(index_t i) const { return (order ? order[first + i] : first + i) + offset; }

  // dst = src * mask / (1 - p) for layer l's rows x width block (dst may be src): the forward pass's
  // output, and in the backward pass the gradient through the same mask. One draw serves four
  // consecutive elements of a row.
  template <class T>
  void apply(size_t l, index_t rows, index_t width, const T* src, T* dst) const {
    const double p = (*rates)[l];
    const std::uint32_t threshold = dropout_threshold(p);
    const T scale = T(1.0 / (1.0 - p));
    for (index_t i = 0; i < rows; ++i) {
      const std::uint64_t base = std::uint64_t(row(i)) * std::uint64_t(width);
      const T* s = src + i * width;
      T* d = dst + i * width;
      std::uint64_t group = ~std::uint64_t(0);
      Philox4 draw{};
      for (index_t j = 0; j < width; ++j) {
        const std::uint64_t g = base + std::uint64_t(j);
        if ((g >> 2) != group) {
          group = g >> 2;
          draw = dropout_draw(seed, step, std::uint32_t(l), group);
        }
        d[j] = draw.v[g & 3] >= threshold ? s[j] * scale : T(0);
      }
    }
  }
};

// Forward pass of a batch x (rows x in_0) through every layer; layer l writes its output to
// buffer(l) (rows x out_l, packed unless buffer returns a Matrix). Returns the last layer's output.
template <class T, class Buffer>
Matrix<T> forward(const std::vector<LayerRef<T>>& layers, Matrix<const T> x, Buffer buffer) {
  Matrix<const T> in = x;
  Matrix<T> out;
  for (size_t l = 0; l < layers.size(); ++l) {
    const LayerRef<T>& L = layers[l];
    out = buffer(l);
    dense_forward<T>(in, Matrix<const T>(L.w, L.in, L.out), L.b, L.act, out);
    in = out;
  }
  return out;
}

// Forward pass into ws.act, where the backward pass reads every layer's output, and into ws.pre the
// pre-activations of the layers whose derivative needs z: their product stops before the activation
// (the same bits as the fused epilogue, which runs activation_forward's code on each tile).
// With `dropout`, a hidden layer with a rate writes its output after dropout to ws.drop[l], which the
// next layer reads; ws.act[l] keeps the output itself, for the derivative.
template <class T>
Matrix<T> forward(const std::vector<LayerRef<T>>& layers, Matrix<const T> x, Workspace<T>& ws,
                  const Dropout* dropout = nullptr) {
  const index_t rows = x.rows;
  Matrix<const T> in = x;
  for (size_t l = 0; l < layers.size(); ++l) {
    const LayerRef<T>& L = layers[l];
    T* out = ws.act[l].data();
    if (ws.pre[l].empty()) {
      dense_forward<T>(in, Matrix<const T>(L.w, L.in, L.out), L.b, L.act, Matrix<T>(out, rows, L.out));
    } else {
      dense_forward<T>(in, Matrix<const T>(L.w, L.in, L.out), L.b, ActivationSpec{},
                       Matrix<T>(ws.pre[l].data(), rows, L.out));
      activation_forward<T>(L.act, ws.pre[l].data(), out, rows * L.out);
    }
    if (dropout && dropout->on(l)) dropout->apply(l, rows, L.out, out, ws.drop[l].data());
    in = Matrix<const T>(ws.input_of_next(l), rows, L.out);
  }
  return Matrix<T>(ws.act.back().data(), rows, layers.back().out);
}

// What layer l's backward reads of its forward: z where the derivative needs it, else the output.
template <class T>
Matrix<const T> saved(const Workspace<T>& ws, size_t l, index_t rows, index_t cols) {
  return Matrix<const T>(ws.pre[l].empty() ? ws.act[l].data() : ws.pre[l].data(), rows, cols);
}

// The loss summed over the elements of batch (x, y), and the gradient of every parameter scaled by
// grad_scale (1 / the element count of the whole mini-batch, of which (x, y) may be a part).
// grads[2l], grads[2l+1] receive dL/dW_l, dL/db_l. Where w_t[l] is not empty (W_l transposed, out x
// in), dL/dx = g W^T reads W^T row by row: a plain product, which small layers run without packing
// (the same sums in the same order, so the same bits).
// With `dropout` (a training step), the forward pass drops outputs as above and the backward pass takes
// dL/d(output) through the same mask.
template <class T>
double forward_backward(const std::vector<LayerRef<T>>& layers, const LossSpec& loss, Matrix<const T> x,
                        Matrix<const T> y, Workspace<T>& ws, const std::vector<T*>& grads, double grad_scale,
                        const std::vector<std::vector<T>>* w_t = nullptr, const Dropout* dropout = nullptr) {
  const index_t rows = x.rows;
  Matrix<T> out = forward(layers, x, ws, dropout);
  T* g = ws.grad_a.data();
  T* g_next = ws.grad_b.data();
  const double value = loss_sum_and_grad<T>(loss, out, y, g, grad_scale);
  for (size_t l = layers.size(); l-- > 0;) {
    const LayerRef<T>& L = layers[l];
    Matrix<const T> in = l == 0 ? x : Matrix<const T>(ws.input_of_next(l - 1), rows, L.in);
    const bool via_transpose = w_t && l > 0 && !(*w_t)[l].empty();
    Matrix<T> grad_x = l == 0 || via_transpose ? Matrix<T>() : Matrix<T>(g_next, rows, L.in);
    dense_backward<T>(in, Matrix<const T>(L.w, L.in, L.out), saved(ws, l, rows, L.out), L.act,
                      Matrix<T>(g, rows, L.out), grad_x, Matrix<T>(grads[2 * l], L.in, L.out), grads[2 * l + 1]);
    if (via_transpose)  // g now holds dL/dz
      gemm<T>(false, false, rows, L.in, L.out, T(1), g, L.out, (*w_t)[l].data(), L.in, T(0), g_next, L.in);
    if (l > 0 && dropout && dropout->on(l - 1)) dropout->apply(l - 1, rows, L.in, g_next, g_next);
    std::swap(g, g_next);
  }
  return value;
}

// Copies rows idx[0..rows) of src into dst (rows x src.cols, packed). Narrow rows (a single feature)
// are copied as scalars: a memcpy call per 4-byte row costs more than the copy.
template <class T>
void gather(Matrix<const T> src, const std::int64_t* idx, index_t rows, T* dst) {
  const index_t cols = src.cols;
  if (cols == 1) {
    for (index_t i = 0; i < rows; ++i) dst[i] = src.data[idx[i] * src.stride];
    return;
  }
  for (index_t i = 0; i < rows; ++i) std::memcpy(dst + i * cols, src.row(idx[i]), sizeof(T) * cols);
}

// How many parts a mini-batch of `rows` is cut into, their gradients computed side by side (one per
// core) and added in a fixed order. Two, unless the batch is too small to pay for a second thread's
// wake-up, or its biggest product is so large that the GEMM's own threads use both cores as well
// (1024-wide layers and up; measured about 2% faster there, and no second workspace). The cut depends
// on the shape alone, never on the thread count: one thread runs the two parts one after the other
// and gets the very same bits.
// A product of this many multiply-adds (2^27, a 512^3 product) or more keeps both cores busy on its
// own: work on such a network is split inside each GEMM, not between batch parts or predict chunks.
constexpr double kMaxSideBySideProduct = 134217728.0;

template <class Layers>
int parts_for(const Layers& layers, index_t rows) {
  constexpr index_t kMinPartRows = 32;
  constexpr double kMinWork = 65536.0;  // multiply-adds of a forward pass: a few microseconds
  if (rows < 2 * kMinPartRows) return 1;
  double total = 0.0, biggest = 0.0;
  for (const auto& L : layers) {
    const double w = double(rows) * double(L.in) * double(L.out);
    total += w;
    biggest = std::max(biggest, w);
  }
  return total >= kMinWork && biggest < kMaxSideBySideProduct ? 2 : 1;
}

// What one part of a mini-batch needs: its workspace, its gathered rows and its gradients. The
// gradients of all parameters lie in one flat buffer (W0, b0, W1, b1, ...), which a data parallel step
// sums over processes in one call; `extra` more elements follow them (the step's status there).
template <class T>
struct Part {
  PartSizes sizes;  // what the buffers below are allocated from
  Workspace<T> ws;
  Scratch<T> xb, yb;
  Scratch<T> grad;        // every parameter's gradient, then `extra` elements
  std::vector<T*> grads;  // grads[2l], grads[2l+1]: dL/dW_l, dL/db_l inside `grad`
  std::size_t params = 0;

  Part(const std::vector<LayerRef<T>>& layers, index_t rows, index_t x_cols, index_t y_cols, bool gather,
       std::size_t extra = 0, const std::vector<double>& dropout = {})
      : sizes(part_sizes(layers, rows, x_cols, y_cols, gather, extra, dropout)),
        ws(sizes),
        xb(size_t(sizes.xb.v)),
        yb(size_t(sizes.yb.v)),
        grad(size_t(sizes.grad.v)),
        params(size_t(sizes.params.v)) {
    T* at = grad.data();
    for (const auto& L : layers) {
      grads.push_back(at);
      grads.push_back(at + L.in * L.out);
      at += L.in * L.out + L.out;
    }
  }

  // Counted from the buffers themselves, so that a plan the allocation did not follow shows up as a
  // difference from trainer_bytes (tests/test_memory.py).
  std::size_t bytes() const {
    std::size_t count = ws.grad_a.size() + ws.grad_b.size() + xb.size() + yb.size() + grad.size();
    for (const auto& a : ws.act) count += a.size();
    for (const auto& z : ws.pre) count += z.size();
    for (const auto& d : ws.drop) count += d.size();
    return sizeof(T) * count;
  }
};

// Multiply-adds of a part's dL/dx product below which the trainer keeps a transposed copy of W.
constexpr double kSmallLayerProduct = 128.0 * 128.0 * 128.0;

// dst[g] += src[g] on elements [size t / team, size (t + 1) / team) of every parameter g (W0, b0, W1,
// ...): thread t's share of adding one part's gradients to another's (elementwise: any split, the
// same bits).
template <class T>
void add_gradients(const std::vector<LayerRef<T>>& layers, const std::vector<T*>& dst, const std::vector<T*>& src,
                   int t = 0, int team = 1) {
  for (size_t g = 0; g < dst.size(); ++g) {
    const LayerRef<T>& L = layers[g / 2];
    const index_t size = g % 2 == 0 ? L.in * L.out : L.out, lo = size * t / team, hi = size * (t + 1) / team;
    for (index_t i = lo; i < hi; ++i) dst[g][i] += src[g][i];
  }
}

}  // namespace pass
}  // namespace fastmlp
