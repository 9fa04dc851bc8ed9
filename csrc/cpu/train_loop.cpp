// The whole training epoch in C++: shuffle, gather a mini-batch, forward, loss, backward, update, for
// every batch, with no Python in between (reference: fastmlp.reference.train_epoch). Everything a step
// needs is allocated once, when the trainer is made for a fit; a step allocates nothing.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>

#include "fastmlp/checked.h"
#include "fastmlp/data_parallel.h"
#include "fastmlp/epoch_plan.h"
#include "fastmlp/ops.h"
#include "fastmlp/optimizers/registry.h"
#include "fastmlp/parallel.h"
#include "network_pass.h"
#include "small_net.h"

namespace fastmlp {
using namespace pass;

namespace {

// What a trainer allocates, decided from the shapes alone, so that trainer_bytes can tell it before.
struct Plan {
  EpochPlan epoch;               // the (global) data set's steps
  index_t rows = 0;              // most rows a step of this process runs: a batch, or its share of one
  bool gather = false;           // batches are gathered through a shuffled order
  index_t half = 0;              // rows of the second part's buffers; 0 when no step of the epoch is cut
  std::vector<bool> transposed;  // layer l keeps a transposed copy of W_l
  bool small = false;            // the small network's loops (small_net.h) instead of a GEMM per layer
  std::string reason;            // why that path
};

// The small path takes a network whose every width is at most kSmallWidth and whose steps are at most
// kSmallStepWork multiply-adds (so they run in one part), on one process: such steps are so short that
// the GEMM's dispatch, the transposed copies of W and a pass over all gradients before the update
// cost more than the arithmetic.
template <class Layers>
void choose_path(Plan& p, const Layers& layers, const TrainOptions& opt) {
  index_t widest = 0;
  double work = 0.0;  // multiply-adds of a step's forward pass
  for (const auto& L : layers) {
    widest = std::max({widest, L.in, L.out});
    work += double(p.rows) * double(L.in) * double(L.out);
  }
  // The environment can keep a process on the GEMM path: to compare the two (tests, benchmarks).
  const char* env = std::getenv("FASTMLP_CPU_PATH");
  bool dropout = false;
  for (size_t l = 0; l < layers.size(); ++l) dropout = dropout || drops(opt.dropout, l);
  if (env && std::strcmp(env, "gemm") == 0)
    p.reason = "FASTMLP_CPU_PATH=gemm";
  else if (dropout)
    p.reason = "dropout (the small path has none)";
  else if (opt.global_rows > 0)
    p.reason = "data parallel";
  else if (widest > small::kSmallWidth)
    p.reason = "a layer " + std::to_string(widest) + " wide (the small path takes up to " +
               std::to_string(small::kSmallWidth) + ")";
  else if (work > small::kSmallStepWork)
    p.reason = "a step's forward pass of " + std::to_string(std::int64_t(work)) +
               " multiply-adds (the small path takes up to " + std::to_string(std::int64_t(small::kSmallStepWork)) +
               ")";
  else
    p.small = true;
  if (!p.small) return;
  const bool clipped = opt.clip_grad_norm > 0.0 || opt.clip_grad_value > 0.0;
  p.reason = "every layer at most " + std::to_string(small::kSmallWidth) + " wide and a step of at most " +
             std::to_string(std::int64_t(small::kSmallStepWork)) + " multiply-adds: plain loops, " +
             (clipped ? "the update after clipping" : "each layer updated right after its gradients");
}

template <class Layers>
Plan plan_for(const Layers& layers, index_t n, const TrainOptions& opt) {
  Plan p;
  p.epoch = epoch_plan(opt.global_rows > 0 ? opt.global_rows : n, opt.batch_size, opt.drop_last);
  const index_t batch = p.epoch.batch;
  p.gather = opt.shuffle && batch < p.epoch.rows;  // a full batch's gradient does not depend on the order
  // Part 0 holds a whole batch (steps that are not cut use it alone); part 1 half of one, made only
  // when some step of the epoch is cut (the last, shorter batch may be cut when a full one is not).
  if (opt.global_rows == 0) {
    p.rows = batch;
    const index_t last = opt.drop_last ? 0 : n % batch;  // a dropped last batch is never run
    if (parts_for(layers, batch) == 2 || (last > 0 && parts_for(layers, last) == 2)) p.half = (batch + 1) / 2;
  } else {
    // A process's share of a batch may be any count up to min(batch, n): cut when the largest is, or
    // when the largest count still run side by side is (parts_for stops cutting past 2^27 products).
    p.rows = std::max<index_t>(1, std::min(batch, n));
    double widest = 1.0;
    for (const auto& L : layers) widest = std::max(widest, double(L.in) * double(L.out));
    const index_t side_by_side = index_t(std::min(double(p.rows), std::ceil(kMaxSideBySideProduct / widest) - 1));
    if (parts_for(layers, p.rows) == 2 || (side_by_side > 0 && parts_for(layers, side_by_side) == 2))
      p.half = (p.rows + 1) / 2;
  }
  choose_path(p, layers, opt);
  const double part_rows = double((p.rows + 1) / 2);
  for (size_t l = 0; l < layers.size(); ++l)
    p.transposed.push_back(!p.small && l > 0 &&
                           part_rows * double(layers[l].in) * double(layers[l].out) < kSmallLayerProduct);
  return p;
}

// The rows of one step that this process runs: order[first .. first + count) when gathered through
// an order, else the contiguous rows first .. first + count.
struct StepRows {
  const std::int64_t* order = nullptr;
  index_t first = 0, count = 0;
  StepRows part(index_t begin, index_t rows) const { return {order, first + begin, rows}; }
};

template <class T>
class Trainer final : public TrainerBase {
 public:
  Trainer(std::vector<LayerRef<T>> layers, Matrix<const T> x, Matrix<const T> y, const TrainOptions& opt)
      : layers_(std::move(layers)), x_(x), y_(y), opt_(opt) {
    const Plan plan = plan_for(layers_, x_.rows, opt_);
    epoch_ = plan.epoch;
    gather_ = plan.gather;
    small_ = plan.small;
    reason_ = plan.reason;
    distributed_ = opt_.global_rows > 0;
    if (gather_) order_.resize(size_t(distributed_ ? epoch_.rows : x_.rows));
    if (distributed_ && gather_) local_order_.resize(size_t(x_.rows));
    if (distributed_) step_first_.resize(size_t(epoch_.steps + 1));
    parts_.emplace_back(layers_, plan.rows, x_.cols, y_.cols, gather_, distributed_ ? 1 : 0, opt_.dropout);
    if (plan.half > 0) parts_.emplace_back(layers_, plan.half, x_.cols, y_.cols, gather_, 0, opt_.dropout);
    for (size_t l = 0; l < layers_.size(); ++l) dropout_ = dropout_ || drops(opt_.dropout, l);
    for (size_t l = 0; l < layers_.size(); ++l)
      w_t_.emplace_back(plan.transposed[l] ? size_t(layers_[l].in * layers_[l].out) : 0);
  }

  std::size_t allocated_bytes() const override {
    std::size_t bytes = sizeof(std::int64_t) * (order_.size() + local_order_.size() + step_first_.size());
    for (const auto& p : parts_) bytes += p.bytes();
    for (const auto& w : w_t_) bytes += sizeof(T) * w.size();
    return bytes;
  }

  index_t steps_per_epoch() const override { return epoch_.steps; }
  const char* path() const override { return small_ ? "cpu-small" : "cpu-gemm"; }
  std::string path_reason() const override { return reason_; }

  double run_epoch(std::uint64_t epoch, const double* lr, std::int64_t& step) override {
    if (gather_) permutation(opt_.seed, epoch, order_.data(), epoch_.rows);
    if (distributed_) share_of_steps();
    transpose_weights();  // Python may have changed the weights since the last epoch
    epoch_loss_sum_ = 0.0;
    epoch_rows_ = 0;
    for (index_t s = 0; s < epoch_.steps; ++s) {
      const index_t begin = epoch_.first(s), rows = epoch_.count(s);
      StepRows mine{gather_ ? order_.data() : nullptr, begin, rows};
      if (distributed_)
        mine = {gather_ ? local_order_.data() : nullptr, step_first_[s], step_first_[s + 1] - step_first_[s]};
      epoch_loss_sum_ += train_step(mine, begin, rows, lr[s], step + 1);
      ++step;
      epoch_rows_ += mine.count;
    }
    return epoch_rows_ > 0 ? epoch_loss_sum_ / double(epoch_rows_) : 0.0;
  }

 private:
  // Data parallel: which of this process's rows each step of the epoch runs (see data_parallel.h).
  void share_of_steps() {
    fastmlp::share_of_steps(gather_ ? order_.data() : nullptr, epoch_, opt_.row_offset, x_.rows, local_order_.data(),
                            step_first_.data());
  }

  // One optimizer step in its phases: the gradients of this process's rows of the batch (in one or two
  // parts), their sum over processes (data parallel), clipping, the update. batch_rows is the whole
  // (global) batch, whose rows (or weight) scale the mean. Returns the sum over the rows run of each
  // row's loss (the mean over its terms, plus its share of the L2 term).
  double train_step(const StepRows& mine, index_t begin, index_t batch_rows, double lr, std::int64_t step) {
    const bool fuse_update = !opt_.reduce && opt_.clip_grad_norm <= 0.0 && opt_.clip_grad_value <= 0.0;
    // The mean over the whole batch: its rows (or their weights' sum) times the loss's terms per row.
    // Data parallel, the global batch's rows (a weighted loss is refused there).
    const double weight = distributed_ ? double(batch_rows) : batch_weight(begin, batch_rows);
    const double scale = weight > 0.0 ? 1.0 / (weight * double(terms_per_row_)) : 0.0;
    const double penalty = l2_penalty(weight);                     // of the weights before this step's update
    const double l2_coef = weight > 0.0 ? opt_.l2 / weight : 0.0;  // d penalty / dW = l2 W / weight
    double sum = 0.0;
    bool updated = false;
    std::exception_ptr failure;
    try {
      // Ctrl-C between steps: the weights are those of the last completed step. A small step takes
      // well under 10 us, so the small path asks every kSmallPollSteps steps (the check reads a clock).
      if (!small_ || small_steps_++ % kSmallPollSteps == 0) poll_interrupt();
      sum = gradients(mine, scale, fuse_update ? &lr : nullptr, step, l2_coef, updated);
    } catch (...) {
      if (!opt_.reduce) throw;
      failure = std::current_exception();  // every process must still join this step's reduce
    }
    if (opt_.reduce) reduce_gradients(failure);
    if (!updated) {
      clip_gradients();
      update(lr, step, l2_coef, 0, 1);
    }
    // Each row's loss (and its share of the batch's L2 term), summed over the rows run here.
    return sum * scale * double(batch_rows) + penalty * double(mine.count);
  }

  // Phase 1: the gradients of `mine` into parts_[0].grad, scaled by `scale`. Cut in two parts when the
  // rows are many; with two threads the parts run side by side, and then (given `lr`: no clipping, no
  // reduce) the update too, split between the threads, in the same parallel region.
  double gradients(const StepRows& mine, double scale, const double* lr, std::int64_t step, double l2_coef,
                   bool& updated) {
    if (mine.count == 0) {  // none of this batch's rows lives here: this process adds zero
      std::fill(parts_[0].grad.begin(), parts_[0].grad.begin() + std::ptrdiff_t(parts_[0].params), T(0));
      return 0.0;
    }
    if (small_) return small_gradients(mine, scale, lr, step, l2_coef, updated);
    const int parts = parts_for(layers_, mine.count);
    const index_t first = parts == 2 ? (mine.count + 1) / 2 : mine.count;
    double sums[2] = {0.0, 0.0};
    auto run = [&](int p) {
      sums[p] =
          run_part(parts_[size_t(p)], p == 0 ? mine.part(0, first) : mine.part(first, mine.count - first), scale, step);
    };
    if (parts == 2 && get_num_threads() > 1) {
      // The parts side by side (parallel.h: on a busy machine this thread runs both rather than wait
      // for a helper that has no core), then the sum of the parts and the update, halved the same way.
      side_by_side([&](int p) { run(p); });
      side_by_side([&](int t) {
        sum_parts(t, 2);
        if (lr) update(*lr, step, l2_coef, t, 2);
      });
      updated = lr != nullptr;
    } else {
      for (int p = 0; p < parts; ++p) run(p);
      if (parts == 2) sum_parts(0, 1);
    }
    return sums[0] + sums[1];
  }

  // Phase 1 on the small path (small_net.h): forward and backward through plain loops over part 0's
  // buffers; given `lr` (no clipping), each layer is updated as soon as its gradients are done: after
  // dL/dx, which reads the old W, and while its gradients are still in L1. Elementwise updates, so the
  // same bits as one update after the whole backward pass.
  double small_gradients(const StepRows& mine, double scale, const double* lr, std::int64_t step, double l2_coef,
                         bool& updated) {
    Part<T>& part = parts_[0];
    Workspace<T>& ws = part.ws;
    const auto [xb, yb] = rows_of(part, mine);
    const index_t rows = mine.count;
    Matrix<const T> in = xb;
    for (size_t l = 0; l < layers_.size(); ++l) {
      const LayerRef<T>& L = layers_[l];
      T* out = ws.act[l].data();
      T* z = ws.pre[l].empty() ? out : ws.pre[l].data();
      small::dense_forward<T>(rows, L.in, L.out, in.data, in.stride, L.w, L.b, z);
      if (L.act.kind != Activation::identity) activation_forward<T>(L.act, z, out, rows * L.out);
      in = Matrix<const T>(out, rows, L.out);
    }
    T* g = ws.grad_a.data();
    T* g_next = ws.grad_b.data();
    const double value = loss_sum_and_grad<T>(opt_.loss, in, yb, g, scale);
    const StepCoefficients<T> coefficients =
        lr ? step_coefficients<T>(opt_.optimizer, *lr, step) : StepCoefficients<T>{};
    for (size_t l = layers_.size(); l-- > 0;) {
      const LayerRef<T>& L = layers_[l];
      if (L.act.kind != Activation::identity)
        activation_backward_saved<T>(L.act, saved(ws, l, rows, L.out).data, g, rows * L.out);
      const Matrix<const T> x = l == 0 ? xb : Matrix<const T>(ws.act[l - 1].data(), rows, L.in);
      small::dense_backward<T>(rows, L.in, L.out, x.data, x.stride, L.w, g, part.grads[2 * l], part.grads[2 * l + 1],
                               l == 0 ? nullptr : g_next);
      if (lr) update_layer(l, coefficients, 0, 1, l2_coef);
      std::swap(g, g_next);
    }
    updated = lr != nullptr;
    return value;
  }

  // Phase 2 (data parallel): the sum over all processes, in place, with each one's status after the
  // gradients. Every process calls it once per step, failed or not, so none waits forever for one that
  // threw; then all stop together.
  void reduce_gradients(const std::exception_ptr& failure) {
    Part<T>& p = parts_[0];
    p.grad[p.params] = failure ? T(1) : T(0);
    opt_.reduce(p.grad.data(), p.grad.size());
    if (failure) std::rethrow_exception(failure);
    if (p.grad[p.params] != T(0))
      throw std::runtime_error(
          "another process of this data parallel fit failed in the same step (its own "
          "error says why); every process stops");
  }

  // Part 0's gradients plus part 1's, elementwise. Thread t of `team` adds the same share of each
  // parameter that update(t, team) then updates, so the two need no barrier between them.
  void sum_parts(int t, int team) { add_gradients(layers_, parts_[0].grads, parts_[1].grads, t, team); }

  // Phase 4: the optimizer step on thread t's share of every parameter (elementwise: any split, same
  // bits), and the transposed copies of what it wrote.
  void update(double lr, std::int64_t step, double l2_coef, int t, int team) {
    const StepCoefficients<T> coefficients = step_coefficients<T>(opt_.optimizer, lr, step);
    for (size_t l = 0; l < layers_.size(); ++l) update_layer(l, coefficients, t, team, l2_coef);
  }

  // Thread t's share of layer l's update (W_l, its transposed copy, b_l).
  void update_layer(size_t l, const StepCoefficients<T>& coefficients, int t, int team, double l2_coef) {
    const std::vector<T*>& grads = parts_[0].grads;
    const LayerRef<T>& L = layers_[l];
    update_share(L.w, grads[2 * l], L.w_state, L.in * L.out, coefficients, t, team, l2_coef);
    transpose_share(l, t, team);
    update_share(L.b, grads[2 * l + 1], L.b_state, L.out, coefficients, t, team, 0.0);
  }

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
  void update_share(T* param, T* grad, const std::vector<T*>& state, index_t count,
                    const StepCoefficients<T>& coefficients, int t, int team, double decay) {
    const index_t lo = team == 1 ? 0 : count * t / team, hi = team == 1 ? count : count * (t + 1) / team;
    if (decay != 0.0)
      for (index_t i = lo; i < hi; ++i) grad[i] += T(decay) * param[i];
    T* shifted[4] = {nullptr, nullptr, nullptr, nullptr};  // at most 3 state buffers per parameter
    for (size_t i = 0; i < state.size(); ++i) shifted[i] = state[i] + lo;
    optimizer_apply<T>(opt_.optimizer, coefficients, param + lo, grad + lo, shifted, hi - lo);
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

  // The rows `rows` through `part`: the loss summed over them, their gradients scaled by `scale` into
  // part.grads. With dropout, the masks of optimizer step `step` for those rows (their indices in the
  // data set: this process's plus row_offset when data parallel).
  double run_part(Part<T>& part, const StepRows& rows, double scale, std::int64_t step) {
    const auto [xb, yb] = rows_of(part, rows);
    if (!dropout_) return forward_backward(layers_, opt_.loss, xb, yb, part.ws, part.grads, scale, &w_t_);
    const Dropout dropout{&opt_.dropout, opt_.seed,  step,
                          rows.order,    rows.first, distributed_ ? std::int64_t(opt_.row_offset) : 0};
    return forward_backward(layers_, opt_.loss, xb, yb, part.ws, part.grads, scale, &w_t_, &dropout);
  }

  // The rows `rows` of x and y: gathered into part's buffers through the epoch's order, or where they lie.
  std::pair<Matrix<const T>, Matrix<const T>> rows_of(Part<T>& part, const StepRows& rows) const {
    if (!rows.order)
      return {Matrix<const T>(x_.row(rows.first), rows.count, x_.cols, x_.stride),
              Matrix<const T>(y_.row(rows.first), rows.count, y_.cols, y_.stride)};
    gather(x_, rows.order + rows.first, rows.count, part.xb.data());
    gather(y_, rows.order + rows.first, rows.count, part.yb.data());
    return {Matrix<const T>(part.xb.data(), rows.count, x_.cols), Matrix<const T>(part.yb.data(), rows.count, y_.cols)};
  }

  // Phase 3: as torch.nn.utils.clip_grad_norm_ (scale by max_norm / (norm + 1e-6) when that is below 1)
  // and clip_grad_value_; the norm is summed in double in a fixed order.
  void clip_gradients() {
    T* g = parts_[0].grad.data();
    const size_t n = parts_[0].params;
    if (opt_.clip_grad_value > 0.0) {
      const T v = T(opt_.clip_grad_value);
      for (size_t i = 0; i < n; ++i) g[i] = g[i] > v ? v : (g[i] < -v ? -v : g[i]);  // a NaN stays NaN (as torch)
    }
    if (opt_.clip_grad_norm > 0.0) {
      double sq = 0.0;
      for (size_t i = 0; i < n; ++i) sq += double(g[i]) * double(g[i]);
      const double coef = opt_.clip_grad_norm / (std::sqrt(sq) + 1e-6);
      if (coef < 1.0)
        for (size_t i = 0; i < n; ++i) g[i] *= T(coef);
    }
  }

  std::vector<LayerRef<T>> layers_;
  Matrix<const T> x_, y_;
  TrainOptions opt_;
  EpochPlan epoch_;  // the (global) data set's steps
  bool gather_ = false, distributed_ = false;
  bool small_ = false;    // the small path (Plan::small)
  bool dropout_ = false;  // some hidden layer has a dropout rate
  static constexpr unsigned kSmallPollSteps = 16;
  unsigned small_steps_ = 0;
  std::string reason_;
  std::vector<std::int64_t> order_;                     // the epoch's (global) order
  std::vector<std::int64_t> local_order_, step_first_;  // data parallel: see share_of_steps
  std::vector<Part<T>> parts_;       // [0]: the whole batch and the step's gradients; [1]: a cut batch's second half
  std::vector<std::vector<T>> w_t_;  // transposed weights of layers 1.. (layer 0's grad_x is not needed)
  index_t terms_per_row_ = loss_terms_per_row(opt_.loss, layers_.back().out);
};

}  // namespace

template <class T>
std::unique_ptr<TrainerBase> make_trainer(std::vector<LayerRef<T>> layers, Matrix<const T> x, Matrix<const T> y,
                                          const TrainOptions& options) {
  return std::make_unique<Trainer<T>>(std::move(layers), x, y, options);
}

std::size_t trainer_bytes(const std::vector<LayerShape>& layers, std::size_t item, index_t n,
                          const TrainOptions& options) {
  if (layers.empty() || (n < 1 && options.global_rows == 0)) return 0;
  const Plan plan = plan_for(layers, n, options);
  const bool distributed = options.global_rows > 0;
  Count transposed = 0;
  for (size_t l = 0; l < layers.size(); ++l)
    if (plan.transposed[l])
      transposed = transposed + Count(std::uint64_t(layers[l].in)) * Count(std::uint64_t(layers[l].out));
  // The parts as Part allocates them (part_sizes; data parallel, part 0 also holds the step's status).
  // The targets' columns follow the loss: class labels are one column, a sample weight one more.
  const index_t x_cols = layers.front().in;
  const index_t y_cols = (options.loss.labels ? 1 : layers.back().out) + (options.loss.weighted ? 1 : 0);
  auto part = [&](index_t rows, std::size_t extra) {
    return part_sizes(layers, rows, x_cols, y_cols, plan.gather, extra, options.dropout).total();
  };
  const Count count =
      part(plan.rows, distributed ? 1 : 0) + transposed + (plan.half > 0 ? part(plan.half, 0) : Count(0));
  // The epoch's order (global when data parallel, with the local rows' order and the steps' bounds).
  Count orders = plan.gather ? Count(std::uint64_t(plan.epoch.rows)) : Count(0);
  if (distributed)
    orders = orders + Count(plan.gather ? std::uint64_t(n) : 0) + Count(std::uint64_t(plan.epoch.steps + 1));
  return (Count(item) * count + Count(sizeof(std::int64_t)) * orders).v;
}

#define FASTMLP_INSTANTIATE(T)                                                                                      \
  template std::unique_ptr<TrainerBase> make_trainer<T>(std::vector<LayerRef<T>>, Matrix<const T>, Matrix<const T>, \
                                                        const TrainOptions&);
FASTMLP_INSTANTIATE(float)
FASTMLP_INSTANTIATE(double)
#undef FASTMLP_INSTANTIATE

}  // namespace fastmlp
