// The whole training epoch in C++: shuffle, gather a mini-batch, forward, loss, backward, update, for
// every batch, with no Python in between (reference: fastmlp.reference.train_epoch). Everything a step
// needs is allocated once, when the trainer is made for a fit; a step allocates nothing.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "fastmlp/ops.h"

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

// Loss (mean over the batch's elements) and gradients of every parameter for batch (x, y).
// grads[2l], grads[2l+1] receive dL/dW_l, dL/db_l.
template <class T>
double forward_backward(const std::vector<LayerRef<T>>& layers, Loss loss, Matrix<const T> x,
                        Matrix<const T> y, Workspace<T>& ws, const std::vector<T*>& grads) {
  const index_t rows = x.rows;
  Matrix<T> out = forward(layers, x, ws);
  T* g = ws.grad_a.data();
  T* g_next = ws.grad_b.data();
  const double value = loss_and_grad<T>(loss, Reduction::mean, out.data, y.data, g, out.size());
  for (size_t l = layers.size(); l-- > 0;) {
    const LayerRef<T>& L = layers[l];
    Matrix<const T> in = l == 0 ? x : Matrix<const T>(ws.act[l - 1].data(), rows, L.in);
    Matrix<T> grad_x = l == 0 ? Matrix<T>() : Matrix<T>(g_next, rows, L.in);
    dense_backward<T>(in, Matrix<const T>(L.w, L.in, L.out), Matrix<const T>(ws.act[l].data(), rows, L.out),
                      L.act, Matrix<T>(g, rows, L.out), grad_x, Matrix<T>(grads[2 * l], L.in, L.out),
                      grads[2 * l + 1]);
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

template <class T>
class Trainer final : public TrainerBase {
 public:
  Trainer(std::vector<LayerRef<T>> layers, Matrix<const T> x, Matrix<const T> y, const TrainOptions& opt)
      : layers_(std::move(layers)), x_(x), y_(y), opt_(opt),
        batch_(opt.batch_size > 0 ? std::min(opt.batch_size, x.rows) : x.rows),
        ws_(layers_, batch_) {
    const bool full = batch_ == x_.rows;
    gather_ = opt_.shuffle && !full;  // a full batch's gradient does not depend on the order
    if (gather_) {
      order_.resize(size_t(x_.rows));
      xb_.resize(size_t(batch_ * x_.cols));
      yb_.resize(size_t(batch_ * y_.cols));
    }
    for (const auto& L : layers_) {
      grad_store_.emplace_back(size_t(L.in * L.out));
      grad_store_.emplace_back(size_t(L.out));
    }
    for (auto& g : grad_store_) grads_.push_back(g.data());
  }

  index_t steps_per_epoch() const override {
    const index_t n = x_.rows;
    return opt_.drop_last ? n / batch_ : (n + batch_ - 1) / batch_;
  }

  double run_epoch(std::uint64_t epoch, const double* lr, std::int64_t& step) override {
    if (gather_) permutation(opt_.seed, epoch, order_.data(), x_.rows);
    const index_t n = x_.rows, steps = steps_per_epoch();
    double loss_sum = 0.0;
    index_t seen = 0;
    for (index_t s = 0; s < steps; ++s) {
      const index_t begin = s * batch_, rows = std::min(batch_, n - begin);
      Matrix<const T> xb, yb;
      if (gather_) {
        gather(x_, order_.data() + begin, rows, xb_.data());
        gather(y_, order_.data() + begin, rows, yb_.data());
        xb = Matrix<const T>(xb_.data(), rows, x_.cols);
        yb = Matrix<const T>(yb_.data(), rows, y_.cols);
      } else {
        xb = Matrix<const T>(x_.row(begin), rows, x_.cols, x_.stride);
        yb = Matrix<const T>(y_.row(begin), rows, y_.cols, y_.stride);
      }
      loss_sum += forward_backward(layers_, opt_.loss, xb, yb, ws_, grads_) * double(rows);
      seen += rows;
      ++step;
      clip_gradients();
      for (size_t l = 0; l < layers_.size(); ++l) {
        const LayerRef<T>& L = layers_[l];
        optimizer_step<T>(opt_.optimizer, lr[s], step, L.w, grads_[2 * l], L.w_state.data(), L.in * L.out);
        optimizer_step<T>(opt_.optimizer, lr[s], step, L.b, grads_[2 * l + 1], L.b_state.data(), L.out);
      }
    }
    return seen > 0 ? loss_sum / double(seen) : 0.0;
  }

 private:
  // As torch.nn.utils.clip_grad_norm_ (scale by max_norm / (norm + 1e-6) when that is below 1) and
  // clip_grad_value_; the norm is summed in double in a fixed order.
  void clip_gradients() {
    if (opt_.clip_grad_value > 0.0) {
      const T v = T(opt_.clip_grad_value);
      for (size_t g = 0; g < grads_.size(); ++g)
        for (T& x : grad_store_[g]) x = x > v ? v : (x < -v ? -v : x);  // a NaN stays NaN (as torch)
    }
    if (opt_.clip_grad_norm > 0.0) {
      double sq = 0.0;
      for (const auto& g : grad_store_)
        for (T x : g) sq += double(x) * double(x);
      const double coef = opt_.clip_grad_norm / (std::sqrt(sq) + 1e-6);
      if (coef < 1.0)
        for (auto& g : grad_store_)
          for (T& x : g) x *= T(coef);
    }
  }

  std::vector<LayerRef<T>> layers_;
  Matrix<const T> x_, y_;
  TrainOptions opt_;
  index_t batch_;
  Workspace<T> ws_;
  bool gather_ = false;
  std::vector<std::int64_t> order_;
  std::vector<T> xb_, yb_;
  std::vector<std::vector<T>> grad_store_;
  std::vector<T*> grads_;
};

}  // namespace

template <class T>
void mlp_forward(const std::vector<LayerRef<T>>& layers, Matrix<const T> x, Matrix<T> out) {
  // Chunks bound the workspace to chunk x widest whatever the data set's size.
  constexpr index_t kChunk = 4096;
  const index_t chunk = std::min(kChunk, std::max<index_t>(x.rows, 1));
  Workspace<T> ws(layers, chunk);
  for (index_t begin = 0; begin < x.rows; begin += chunk) {
    const index_t rows = std::min(chunk, x.rows - begin);
    Matrix<T> y = forward(layers, Matrix<const T>(x.row(begin), rows, x.cols, x.stride), ws);
    for (index_t i = 0; i < rows; ++i) std::memcpy(out.row(begin + i), y.row(i), sizeof(T) * y.cols);
  }
}

template <class T>
double mlp_loss_grad(const std::vector<LayerRef<T>>& layers, Loss loss, Matrix<const T> x,
                     Matrix<const T> y, const std::vector<T*>& grads) {
  Workspace<T> ws(layers, x.rows);
  return forward_backward(layers, loss, x, y, ws, grads);
}

template <class T>
std::unique_ptr<TrainerBase> make_trainer(std::vector<LayerRef<T>> layers, Matrix<const T> x,
                                          Matrix<const T> y, const TrainOptions& options) {
  return std::make_unique<Trainer<T>>(std::move(layers), x, y, options);
}

#define FASTMLP_INSTANTIATE(T)                                                                    \
  template void mlp_forward<T>(const std::vector<LayerRef<T>>&, Matrix<const T>, Matrix<T>);      \
  template double mlp_loss_grad<T>(const std::vector<LayerRef<T>>&, Loss, Matrix<const T>,        \
                                   Matrix<const T>, const std::vector<T*>&);                      \
  template std::unique_ptr<TrainerBase> make_trainer<T>(std::vector<LayerRef<T>>, Matrix<const T>, \
                                                        Matrix<const T>, const TrainOptions&);
FASTMLP_INSTANTIATE(float)
FASTMLP_INSTANTIATE(double)
#undef FASTMLP_INSTANTIATE

}  // namespace fastmlp
