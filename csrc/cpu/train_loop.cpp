// The whole training epoch in C++: shuffle, gather a mini-batch, forward, loss, backward, update, for
// every batch, with no Python in between (reference: fastmlp.reference.train_epoch). Everything a step
// needs is allocated once, when the trainer is made for a fit; a step allocates nothing.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>

#include "fastmlp/ops.h"
#include "fastmlp/parallel.h"

namespace fastmlp {
namespace {

// Workspaces for a forward and backward pass of up to `rows` samples.
template <class T>
struct Workspace {
  std::vector<std::vector<T>> act;  // act[l]: output of layer l (rows x out_l)
  std::vector<T> grad_a, grad_b;    // ping-pong buffers for dL/d(activation), rows x widest layer

  Workspace(const std::vector<LayerRef<T>>& layers, index_t rows) {
    index_t widest = 0;
    for (const auto& l : layers) {
      act.emplace_back(size_t(rows * l.out));
      widest = std::max(widest, l.out);
    }
    for (const auto& l : layers) widest = std::max(widest, l.in);
    grad_a.resize(size_t(rows * widest));
    grad_b.resize(size_t(rows * widest));
  }
};

// Forward pass of a batch x (rows x in_0) through every layer into ws.act; returns the output view.
template <class T>
Matrix<T> forward(const std::vector<LayerRef<T>>& layers, Matrix<const T> x, Workspace<T>& ws) {
  Matrix<const T> in = x;
  Matrix<T> out;
  for (size_t l = 0; l < layers.size(); ++l) {
    const LayerRef<T>& L = layers[l];
    out = Matrix<T>(ws.act[l].data(), x.rows, L.out);
    dense_forward<T>(in, Matrix<const T>(L.w, L.in, L.out), L.b, L.act, out);
    in = out;
  }
  return out;
}

// The loss summed over the elements of batch (x, y), and the gradient of every parameter scaled by
// grad_scale (1 / the element count of the whole mini-batch, of which (x, y) may be a part).
// grads[2l], grads[2l+1] receive dL/dW_l, dL/db_l. Where w_t[l] is not empty (W_l transposed, out x
// in), dL/dx = g W^T reads W^T row by row: a plain product, which small layers run without packing
// (the same sums in the same order, so the same bits).
template <class T>
double forward_backward(const std::vector<LayerRef<T>>& layers, const LossSpec& loss, Matrix<const T> x,
                        Matrix<const T> y, Workspace<T>& ws, const std::vector<T*>& grads, double grad_scale,
                        const std::vector<std::vector<T>>* w_t = nullptr) {
  const index_t rows = x.rows;
  Matrix<T> out = forward(layers, x, ws);
  T* g = ws.grad_a.data();
  T* g_next = ws.grad_b.data();
  const double value = loss_sum_and_grad<T>(loss, out, y, g, grad_scale);
  for (size_t l = layers.size(); l-- > 0;) {
    const LayerRef<T>& L = layers[l];
    Matrix<const T> in = l == 0 ? x : Matrix<const T>(ws.act[l - 1].data(), rows, L.in);
    const bool via_transpose = w_t && l > 0 && !(*w_t)[l].empty();
    Matrix<T> grad_x = l == 0 || via_transpose ? Matrix<T>() : Matrix<T>(g_next, rows, L.in);
    dense_backward<T>(in, Matrix<const T>(L.w, L.in, L.out), Matrix<const T>(ws.act[l].data(), rows, L.out),
                      L.act, Matrix<T>(g, rows, L.out), grad_x, Matrix<T>(grads[2 * l], L.in, L.out),
                      grads[2 * l + 1]);
    if (via_transpose)  // g now holds dL/dz
      gemm<T>(false, false, rows, L.in, L.out, T(1), g, L.out, (*w_t)[l].data(), L.in, T(0), g_next, L.in);
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

// What one part of a mini-batch needs: its workspace, its gathered rows and its gradients.
template <class T>
struct Part {
  Workspace<T> ws;
  std::vector<T> xb, yb;
  std::vector<std::vector<T>> grad_store;
  std::vector<T*> grads;

  Part(const std::vector<LayerRef<T>>& layers, index_t rows, index_t x_cols, index_t y_cols, bool gather)
      : ws(layers, rows) {
    if (gather) {
      xb.resize(size_t(rows * x_cols));
      yb.resize(size_t(rows * y_cols));
    }
    for (const auto& L : layers) {
      grad_store.emplace_back(size_t(L.in * L.out));
      grad_store.emplace_back(size_t(L.out));
    }
    for (auto& g : grad_store) grads.push_back(g.data());
  }

  std::size_t bytes() const {
    std::size_t count = ws.grad_a.size() + ws.grad_b.size() + xb.size() + yb.size();
    for (const auto& a : ws.act) count += a.size();
    for (const auto& g : grad_store) count += g.size();
    return sizeof(T) * count;
  }
};

// Multiply-adds of a part's dL/dx product below which the trainer keeps a transposed copy of W.
constexpr double kSmallLayerProduct = 128.0 * 128.0 * 128.0;

// What a trainer allocates, decided from the shapes alone, so that trainer_bytes can tell it before.
struct Plan {
  index_t batch = 0;             // rows of a full batch
  bool gather = false;           // batches are gathered through a shuffled order
  index_t half = 0;              // rows of the second part's buffers; 0 when no step of the epoch is cut
  std::vector<bool> transposed;  // layer l keeps a transposed copy of W_l
};

template <class Layers>
Plan plan_for(const Layers& layers, index_t n, const TrainOptions& opt) {
  Plan p;
  p.batch = opt.batch_size > 0 ? std::min(opt.batch_size, n) : n;
  p.gather = opt.shuffle && p.batch < n;  // a full batch's gradient does not depend on the order
  // Part 0 holds a whole batch (steps that are not cut use it alone); part 1 half of one, made only
  // when some step of the epoch is cut (the last, shorter batch may be cut when a full one is not).
  const index_t last = opt.drop_last ? 0 : n % p.batch;  // a dropped last batch is never run
  if (parts_for(layers, p.batch) == 2 || (last > 0 && parts_for(layers, last) == 2)) p.half = (p.batch + 1) / 2;
  const double part_rows = double((p.batch + 1) / 2);
  for (size_t l = 0; l < layers.size(); ++l)
    p.transposed.push_back(l > 0 && part_rows * double(layers[l].in) * double(layers[l].out) < kSmallLayerProduct);
  return p;
}

template <class T>
class Trainer final : public TrainerBase {
 public:
  Trainer(std::vector<LayerRef<T>> layers, Matrix<const T> x, Matrix<const T> y, const TrainOptions& opt)
      : layers_(std::move(layers)), x_(x), y_(y), opt_(opt) {
    const Plan plan = plan_for(layers_, x_.rows, opt_);
    batch_ = plan.batch;
    gather_ = plan.gather;
    if (gather_) order_.resize(size_t(x_.rows));
    parts_.emplace_back(layers_, batch_, x_.cols, y_.cols, gather_);
    if (plan.half > 0) parts_.emplace_back(layers_, plan.half, x_.cols, y_.cols, gather_);
    for (size_t l = 0; l < layers_.size(); ++l)
      w_t_.emplace_back(plan.transposed[l] ? size_t(layers_[l].in * layers_[l].out) : 0);
  }

  std::size_t allocated_bytes() const override {
    std::size_t bytes = sizeof(std::int64_t) * order_.size();
    for (const auto& p : parts_) bytes += p.bytes();
    for (const auto& w : w_t_) bytes += sizeof(T) * w.size();
    return bytes;
  }

  index_t steps_per_epoch() const override {
    const index_t n = x_.rows;
    return opt_.drop_last ? n / batch_ : (n + batch_ - 1) / batch_;
  }

  double run_epoch(std::uint64_t epoch, const double* lr, std::int64_t& step) override {
    if (gather_) permutation(opt_.seed, epoch, order_.data(), x_.rows);
    transpose_weights();  // Python may have changed the weights since the last epoch
    const index_t n = x_.rows, steps = steps_per_epoch();
    double loss_sum = 0.0;
    index_t seen = 0;
    const std::vector<T*>& grads = parts_[0].grads;
    for (index_t s = 0; s < steps; ++s) {
      const index_t begin = s * batch_, rows = std::min(batch_, n - begin);
      const int parts = parts_for(layers_, rows);
      const index_t first = parts == 2 ? (rows + 1) / 2 : rows;
      // The mean over the whole batch: its rows (or their weights' sum) times the loss's terms per row.
      const double weight = batch_weight(begin, rows);
      const double scale = weight > 0.0 ? 1.0 / (weight * double(terms_per_row_)) : 0.0;
      const double penalty = l2_penalty(weight);  // of the weights before this step's update
      double sums[2] = {0.0, 0.0};
      auto run = [&](int p) {
        sums[p] = run_part(parts_[size_t(p)], begin + (p == 0 ? 0 : first), p == 0 ? first : rows - first, scale);
      };
      // Part 0's gradients plus part 1's, elementwise (thread t of `team` adds its share of each buffer).
      auto add_parts = [&](int t, int team) {
        for (size_t g = 0; g < parts_[0].grad_store.size(); ++g) {
          T* dst = parts_[0].grad_store[g].data();
          const T* add = parts_[1].grad_store[g].data();
          const size_t size = parts_[0].grad_store[g].size(), lo = size * t / team, hi = size * (t + 1) / team;
          for (size_t i = lo; i < hi; ++i) dst[i] += add[i];
        }
      };
      // The optimizer step on thread t's share of every parameter (elementwise: any split, same bits).
      const bool clipping = opt_.clip_grad_norm > 0.0 || opt_.clip_grad_value > 0.0;
      const double l2_coef = weight > 0.0 ? opt_.l2 / weight : 0.0;  // d penalty / dW = l2 W / weight
      ++step;
      auto update = [&](int t, int team) {
        for (size_t l = 0; l < layers_.size(); ++l) {
          const LayerRef<T>& L = layers_[l];
          update_share(L.w, grads[2 * l], L.w_state, L.in * L.out, lr[s], step, t, team, l2_coef);
          transpose_share(l, t, team);
          update_share(L.b, grads[2 * l + 1], L.b_state, L.out, lr[s], step, t, team, 0.0);
        }
      };
      if (parts == 2 && get_num_threads() > 1) {
        // The only parallel region of a step: one part per thread, then the sum of their gradients
        // and (without clipping, which needs them all) the update, split between the two threads.
        // Around a step that is not cut, a region would make the GEMM's own threads a nested team.
        // Nothing may leave a parallel region by an exception (a thread past the barrier would wait
        // forever, and OpenMP terminates the process): a failure (e.g. out of memory in a GEMM's
        // scratch buffer) is kept and rethrown after the region.
        std::exception_ptr failure;
#pragma omp parallel num_threads(2)
        {
          const int t = team_rank(), team = team_size();
          try {
            for (int p = t; p < 2; p += team) run(p);
          } catch (...) {
#pragma omp critical(fastmlp_train_failure)
            if (!failure) failure = std::current_exception();
          }
#pragma omp barrier
          if (!failure) {
            add_parts(t, team);
            if (!clipping) update(t, team);
          }
        }
        if (failure) std::rethrow_exception(failure);
        if (clipping) {
          clip_gradients();
          update(0, 1);
        }
      } else {
        for (int p = 0; p < parts; ++p) run(p);
        if (parts == 2) add_parts(0, 1);
        clip_gradients();
        update(0, 1);
      }
      loss_sum += ((sums[0] + sums[1]) * scale + penalty) * double(rows);
      seen += rows;
    }
    return seen > 0 ? loss_sum / double(seen) : 0.0;
  }

 private:
  // w_t_[l] = W_l transposed, for the layers (after the first) whose dL/dx product is small enough to
  // skip packing; larger ones pack W^T inside the GEMM, which costs less than a transposed copy per step.
  // Kept in step with W: whole at the start of an epoch, then each thread, right after its share of
  // an update, copies the elements it has just written (no step waits for a transpose).
  void transpose_weights() {
    for (size_t l = 1; l < layers_.size(); ++l) transpose_share(l, 0, 1);
  }

  // Elements [count t / team, count (t + 1) / team) of W_l in row-major order, the share of
  // update_share, into w_t_[l].
  void transpose_share(size_t l, int t, int team) {
    if (w_t_[l].empty()) return;
    const LayerRef<T>& L = layers_[l];
    const index_t count = L.in * L.out, lo = count * t / team, hi = count * (t + 1) / team;
    T* dst = w_t_[l].data();
    for (index_t e = lo; e < hi;) {
      const index_t i = e / L.out, j0 = e - i * L.out, j1 = std::min(L.out, j0 + (hi - e));
      for (index_t j = j0; j < j1; ++j) dst[j * L.in + i] = L.w[i * L.out + j];
      e += j1 - j0;
    }
  }

  // One optimizer step on elements [count t / team, count (t + 1) / team) of a parameter, after adding
  // the L2 penalty's gradient decay * param to its gradient (weights only; decay = 0 for biases).
  void update_share(T* param, T* grad, const std::vector<T*>& state, index_t count, double lr,
                    std::int64_t step, int t, int team, double decay) {
    const index_t lo = count * t / team, hi = count * (t + 1) / team;
    if (decay != 0.0)
      for (index_t i = lo; i < hi; ++i) grad[i] += T(decay) * param[i];
    T* shifted[4] = {nullptr, nullptr, nullptr, nullptr};  // at most 3 state buffers per parameter
    for (size_t i = 0; i < state.size(); ++i) shifted[i] = state[i] + lo;
    optimizer_step<T>(opt_.optimizer, lr, step, param + lo, grad + lo, shifted, hi - lo);
  }

  // What a batch's mean divides by, per term: its rows, or the sum of its rows' weights (y's last column).
  double batch_weight(index_t begin, index_t rows) const {
    if (!opt_.loss.weighted) return double(rows);
    double sum = 0.0;
    const index_t wcol = y_.cols - 1;
    for (index_t i = 0; i < rows; ++i) sum += double(y_.row(gather_ ? order_[size_t(begin + i)] : begin + i)[wcol]);
    return sum;
  }

  // scikit-learn's L2 term of a batch's loss: (l2 / 2) sum ||W_l||^2 / weight (biases are not penalized).
  double l2_penalty(double weight) const {
    if (opt_.l2 == 0.0 || !(weight > 0.0)) return 0.0;
    double sq = 0.0;
    for (const auto& L : layers_)
      for (index_t i = 0; i < L.in * L.out; ++i) sq += double(L.w[i]) * double(L.w[i]);
    return 0.5 * opt_.l2 * sq / weight;
  }

  // Rows [start, start + rows) of the epoch's order through `part`: the loss summed over them, their
  // gradients scaled by `scale` into part.grads.
  double run_part(Part<T>& part, index_t start, index_t rows, double scale) {
    Matrix<const T> xb, yb;
    if (gather_) {
      gather(x_, order_.data() + start, rows, part.xb.data());
      gather(y_, order_.data() + start, rows, part.yb.data());
      xb = Matrix<const T>(part.xb.data(), rows, x_.cols);
      yb = Matrix<const T>(part.yb.data(), rows, y_.cols);
    } else {
      xb = Matrix<const T>(x_.row(start), rows, x_.cols, x_.stride);
      yb = Matrix<const T>(y_.row(start), rows, y_.cols, y_.stride);
    }
    return forward_backward(layers_, opt_.loss, xb, yb, part.ws, part.grads, scale, &w_t_);
  }

  // As torch.nn.utils.clip_grad_norm_ (scale by max_norm / (norm + 1e-6) when that is below 1) and
  // clip_grad_value_; the norm is summed in double in a fixed order.
  void clip_gradients() {
    if (opt_.clip_grad_value > 0.0) {
      const T v = T(opt_.clip_grad_value);
      for (auto& g : parts_[0].grad_store)
        for (T& x : g) x = x > v ? v : (x < -v ? -v : x);  // a NaN stays NaN (as torch)
    }
    if (opt_.clip_grad_norm > 0.0) {
      double sq = 0.0;
      for (const auto& g : parts_[0].grad_store)
        for (T x : g) sq += double(x) * double(x);
      const double coef = opt_.clip_grad_norm / (std::sqrt(sq) + 1e-6);
      if (coef < 1.0)
        for (auto& g : parts_[0].grad_store)
          for (T& x : g) x *= T(coef);
    }
  }

  std::vector<LayerRef<T>> layers_;
  Matrix<const T> x_, y_;
  TrainOptions opt_;
  index_t batch_ = 0;
  bool gather_ = false;
  std::vector<std::int64_t> order_;
  std::vector<Part<T>> parts_;  // [0]: the whole batch and the step's gradients; [1]: a cut batch's second half
  std::vector<std::vector<T>> w_t_;  // transposed weights of layers 1.. (layer 0's grad_x is not needed)
  index_t terms_per_row_ = loss_terms_per_row(opt_.loss, layers_.back().out);
};

}  // namespace

template <class T>
void mlp_forward(const std::vector<LayerRef<T>>& layers, Matrix<const T> x, Matrix<T> out) {
  // Chunks bound the workspace to chunk x widest whatever the data set's size. A network whose chunk
  // products stay below 2^27 multiply-adds (the rule of parts_for) runs its chunks side by side, one
  // per thread, each with its own workspace; larger ones run chunk after chunk, every product split by
  // the GEMM. A chunk is computed the same way on any thread, so the bits never depend on the count.
  constexpr index_t kChunk = 4096;
  const index_t chunk = std::min(kChunk, std::max<index_t>(x.rows, 1));
  const index_t chunks = (x.rows + chunk - 1) / chunk;
  double biggest = 0.0;
  for (const auto& L : layers) biggest = std::max(biggest, double(chunk) * double(L.in) * double(L.out));
  const int threads = biggest < kMaxSideBySideProduct ? int(std::min<index_t>(get_num_threads(), chunks)) : 1;
  std::vector<Workspace<T>> ws;
  for (int t = 0; t < std::max(threads, 1); ++t) ws.emplace_back(layers, chunk);
  auto run = [&](index_t c, Workspace<T>& w) {
    const index_t begin = c * chunk, rows = std::min(chunk, x.rows - begin);
    Matrix<T> y = forward(layers, Matrix<const T>(x.row(begin), rows, x.cols, x.stride), w);
    for (index_t i = 0; i < rows; ++i) std::memcpy(out.row(begin + i), y.row(i), sizeof(T) * y.cols);
  };
  if (threads <= 1) {
    for (index_t c = 0; c < chunks; ++c) run(c, ws[0]);
    return;
  }
  std::exception_ptr failure;  // kept and rethrown after the region: nothing may leave it by an exception
#pragma omp parallel for num_threads(threads) schedule(static)
  for (index_t c = 0; c < chunks; ++c) {
    try {
      run(c, ws[size_t(team_rank())]);
    } catch (...) {
#pragma omp critical(fastmlp_forward_failure)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

template <class T>
double mlp_loss_grad(const std::vector<LayerRef<T>>& layers, const LossSpec& loss, Matrix<const T> x,
                     Matrix<const T> y, const std::vector<T*>& grads) {
  Workspace<T> ws(layers, x.rows);
  const double weight = loss_denominator(loss, y, layers.back().out);
  const double scale = weight > 0.0 ? 1.0 / weight : 0.0;
  return forward_backward(layers, loss, x, y, ws, grads, scale) * scale;
}

template <class T>
std::unique_ptr<TrainerBase> make_trainer(std::vector<LayerRef<T>> layers, Matrix<const T> x,
                                          Matrix<const T> y, const TrainOptions& options) {
  return std::make_unique<Trainer<T>>(std::move(layers), x, y, options);
}

std::size_t trainer_bytes(const std::vector<LayerShape>& layers, std::size_t item, index_t n,
                          const TrainOptions& options) {
  if (layers.empty() || n < 1) return 0;
  const Plan plan = plan_for(layers, n, options);
  index_t widths = 0, widest = 0, params = 0, transposed = 0;
  for (size_t l = 0; l < layers.size(); ++l) {
    widths += layers[l].out;
    widest = std::max({widest, layers[l].in, layers[l].out});
    params += layers[l].in * layers[l].out + layers[l].out;
    if (plan.transposed[l]) transposed += layers[l].in * layers[l].out;
  }
  // A part of `rows`: each layer's output, two gradient buffers as wide as the widest layer, the
  // gathered input and target rows, and a gradient per parameter (as Part allocates them).
  const index_t gathered = plan.gather ? layers.front().in + layers.back().out : 0;
  auto part = [&](index_t rows) { return rows * (widths + 2 * widest + gathered) + params; };
  index_t count = part(plan.batch) + transposed + (plan.half > 0 ? part(plan.half) : 0);
  return item * std::size_t(count) + (plan.gather ? sizeof(std::int64_t) * std::size_t(n) : 0);
}

#define FASTMLP_INSTANTIATE(T)                                                                    \
  template void mlp_forward<T>(const std::vector<LayerRef<T>>&, Matrix<const T>, Matrix<T>);      \
  template double mlp_loss_grad<T>(const std::vector<LayerRef<T>>&, const LossSpec&, Matrix<const T>, \
                                   Matrix<const T>, const std::vector<T*>&);                      \
  template std::unique_ptr<TrainerBase> make_trainer<T>(std::vector<LayerRef<T>>, Matrix<const T>, \
                                                        Matrix<const T>, const TrainOptions&);
FASTMLP_INSTANTIATE(float)
FASTMLP_INSTANTIATE(double)
#undef FASTMLP_INSTANTIATE

}  // namespace fastmlp
