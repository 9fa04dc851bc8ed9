// The CUDA trainer's general path (twin of cpu/train_loop.cpp) and the whole-network passes (twin of
// cpu/network_pass.cpp: predict's forward, mlp_loss_grad). The data set moves to the device once per
// fit; weights and optimizer state are uploaded at the start of every epoch (so that what Python changed
// between epochs counts, as on the CPU) and downloaded at its end. Per step: gather, forward (GEMM
// with fused bias + activation), loss and gradient, backward, clipping, update — all kernel launches,
// with no host round trip except in a data-parallel fit, whose gradients are summed through the host
// (reduce). The epoch's order is drawn on the host (the same Philox permutation as the CPU) and
// uploaded once per epoch. Also here: device queries, matmul, and trainer_bytes (what a fit allocates).
// Narrow float32 networks train on the fused path instead (fused_train.cu): make_trainer and
// trainer_bytes ask fastmlp/fused_plan.h, the one place that decides.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "common.cuh"
#include "fastmlp/activation_math.h"
#include "fastmlp/buffer_plan.h"
#include "fastmlp/checked.h"
#include "fastmlp/cuda_ops.h"
#include "fastmlp/data_parallel.h"
#include "fastmlp/epoch_plan.h"
#include "fastmlp/parallel.h"
#include "fused_mlp.cuh"
#include "kernels.cuh"

namespace fastmlp {
namespace cuda {

namespace {
const char* g_device_count_error = "";
}

int device_count() noexcept {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    g_device_count_error = cudaGetErrorString(err);
    return 0;
  }
  g_device_count_error = "";
  return n;
}

const char* device_count_error() noexcept { return g_device_count_error; }

std::string device_description() {
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  char buf[320];
  std::snprintf(buf, sizeof(buf), "%s (sm_%d%d, %.1f GiB)", prop.name, prop.major, prop.minor,
                double(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

void memory_info(std::size_t& free_bytes, std::size_t& total_bytes) {
  CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
}

template <class T>
void matmul(bool ta, bool tb, index_t m, index_t n, index_t k, const T* a, index_t lda, const T* b, index_t ldb, T* c) {
  const index_t a_rows = ta ? k : m, b_rows = tb ? n : k;
  DeviceBuffer<T> da(a_rows * lda), db(b_rows * ldb), dc(m * n);
  da.upload(a, a_rows * lda);
  db.upload(b, b_rows * ldb);
  cuda::gemm<T>(ta, tb, m, n, k, da.get(), lda, db.get(), ldb, T(0), dc.get(), n, nullptr, ActivationSpec{});
  dc.download(c, m * n);  // synchronizes: execution errors surface here
}

namespace {

// Device copies of a network's parameters (and, for training, optimizer state and gradients).
template <class T>
struct DeviceNet {
  std::vector<LayerRef<T>> host;
  std::vector<DeviceBuffer<T>> w, b, gw, gb;
  std::vector<std::vector<DeviceBuffer<T>>> ws, bs;  // optimizer state per layer

  DeviceNet(std::vector<LayerRef<T>> layers, bool training) : host(std::move(layers)) {
    for (const auto& L : host) {
      w.emplace_back(L.in * L.out);
      b.emplace_back(L.out);
      if (!training) continue;
      gw.emplace_back(L.in * L.out);
      gb.emplace_back(L.out);
      ws.emplace_back();
      bs.emplace_back();
      for (size_t s = 0; s < L.w_state.size(); ++s) ws.back().emplace_back(L.in * L.out);
      for (size_t s = 0; s < L.b_state.size(); ++s) bs.back().emplace_back(L.out);
    }
    upload();
  }

  // Host parameters (and optimizer state) to the device: at the start of every epoch, so that what
  // Python changed before it (a callback, set_weights) counts, as it does on the CPU.
  void upload() {
    for (size_t l = 0; l < host.size(); ++l) {
      const auto& L = host[l];
      w[l].upload(L.w, L.in * L.out);
      b[l].upload(L.b, L.out);
      if (l >= ws.size()) continue;  // inference: no optimizer state
      for (size_t s = 0; s < L.w_state.size(); ++s) ws[l][s].upload(L.w_state[s], L.in * L.out);
      for (size_t s = 0; s < L.b_state.size(); ++s) bs[l][s].upload(L.b_state[s], L.out);
    }
  }

  void download() const {
    for (size_t l = 0; l < host.size(); ++l) {
      const auto& L = host[l];
      w[l].download(L.w, L.in * L.out);
      b[l].download(L.b, L.out);
      for (size_t s = 0; s < L.w_state.size(); ++s) ws[l][s].download(L.w_state[s], L.in * L.out);
      for (size_t s = 0; s < L.b_state.size(); ++s) bs[l][s].download(L.b_state[s], L.out);
    }
  }
};

// Activations of every layer for up to `rows` samples, and the pre-activations z of the layers whose
// derivative needs them (activation_needs_z; empty buffers elsewhere).
template <class T>
struct DeviceWorkspace {
  std::vector<DeviceBuffer<T>> act, pre, drop;  // drop[l]: layer l's output after dropout, where it has a rate
  DeviceBuffer<T> grad_a, grad_b;

  // Sized by fastmlp/buffer_plan.h's plan of a step over `rows` samples, as trainer_bytes counts it.
  DeviceWorkspace(const std::vector<LayerRef<T>>& layers, index_t rows, const std::vector<double>& dropout = {}) {
    const PartSizes s = part_sizes(layers, rows, 0, 0, false, 0, dropout);
    for (size_t l = 0; l < layers.size(); ++l) {
      act.emplace_back(index_t(s.act[l].v));
      pre.emplace_back(index_t(s.pre[l].v));
      drop.emplace_back(index_t(s.drop[l].v));
    }
    grad_a = DeviceBuffer<T>(index_t(s.grad_ab.v));
    grad_b = DeviceBuffer<T>(index_t(s.grad_ab.v));
  }
};

// x through every layer (GEMM with fused bias and activation); layer l writes into out(l), a device
// buffer of rows x out_l. Returns the last layer's output.
template <class T, class Out>
const T* forward(const DeviceNet<T>& net, const T* x, index_t rows, Out out) {
  const T* in = x;
  for (size_t l = 0; l < net.host.size(); ++l) {
    const auto& L = net.host[l];
    T* o = out(l);
    cuda::gemm<T>(false, false, rows, L.out, L.in, in, L.in, net.w[l].get(), L.out, T(0), o, L.out, net.b[l].get(),
                  L.act);
    in = o;
  }
  return in;
}

// A training step's dropout (fastmlp/dropout.h) for its rows: row i is data row ids[i] (device memory) or
// first + i, plus offset (data parallel: this process's first row), as the CPU trainer's Dropout.
struct StepDropout {
  const std::vector<double>* rates = nullptr;
  std::uint64_t seed = 0;
  std::int64_t step = 0;
  const std::int64_t* ids = nullptr;
  std::int64_t first = 0, offset = 0;

  bool on(size_t l) const { return rates && drops(*rates, l); }
  template <class T>
  void apply(size_t l, index_t rows, index_t width, const T* src, T* dst) const {
    cuda::dropout_apply<T>(src, dst, rows, width, ids, first, offset, seed, step, std::uint32_t(l), (*rates)[l]);
  }
};

// Loss of a batch and the gradient of every parameter into net.gw / net.gb: forward, loss and its
// gradient (acc[0] += weight * mean loss), then each layer's backward from the last. Shared by the
// trainer's step and mlp_loss_grad. With `dropout`, a layer with a rate passes its output after dropout
// (ws.drop[l]) to the next, and the gradient that flows back into it goes through the same mask.
template <class T>
void loss_and_gradients(DeviceNet<T>& net, const LossSpec& loss, const double* class_weight, const T* xb, const T* yb,
                        index_t rows, double scale, DeviceWorkspace<T>& ws, double weight, double* partial, double* acc,
                        const double* denom = nullptr, const StepDropout* dropout = nullptr) {
  const auto& layers = net.host;
  // The forward keeps z where the backward needs it: the product without the activation into pre[l],
  // then the activation into act[l] (the same bits as the fused epilogue).
  const T* out = xb;
  for (size_t l = 0; l < layers.size(); ++l) {
    const auto& L = layers[l];
    T* a = ws.act[l].get();
    if (ws.pre[l].size() == 0) {
      cuda::gemm<T>(false, false, rows, L.out, L.in, out, L.in, net.w[l].get(), L.out, T(0), a, L.out, net.b[l].get(),
                    L.act);
    } else {
      T* z = ws.pre[l].get();
      cuda::gemm<T>(false, false, rows, L.out, L.in, out, L.in, net.w[l].get(), L.out, T(0), z, L.out, net.b[l].get(),
                    ActivationSpec{});
      cuda::activation_apply<T>(L.act, z, a, rows * L.out);
    }
    out = a;
    if (dropout && dropout->on(l)) {
      dropout->apply<T>(l, rows, L.out, a, ws.drop[l].get());
      out = ws.drop[l].get();
    }
  }
  T* g = ws.grad_a.get();
  T* g_next = ws.grad_b.get();
  cuda::loss_and_grad<T>(loss, out, yb, g, rows, layers.back().out, class_weight, scale, weight, partial, acc, denom);
  for (size_t l = layers.size(); l-- > 0;) {
    const auto& Ly = layers[l];
    const bool dropped_in = l > 0 && dropout && dropout->on(l - 1);
    const T* in = l == 0 ? xb : (dropped_in ? ws.drop[l - 1].get() : ws.act[l - 1].get());
    const T* saved = ws.pre[l].size() == 0 ? ws.act[l].get() : ws.pre[l].get();
    cuda::dense_backward<T>(in, net.w[l].get(), saved, Ly.act, rows, Ly.in, Ly.out, g, l > 0 ? g_next : nullptr,
                            net.gw[l].get(), net.gb[l].get());
    if (dropped_in) dropout->apply<T>(l - 1, rows, Ly.in, g_next, g_next);
    std::swap(g, g_next);
  }
}

template <class T>
class Trainer final : public TrainerBase {
 public:
  Trainer(std::vector<LayerRef<T>> layers, Matrix<const T> x, Matrix<const T> y, const TrainOptions& opt)
      : opt_(opt),
        n_(x.rows),
        in_(x.cols),
        out_(y.cols),
        epoch_(epoch_plan(opt.global_rows > 0 ? opt.global_rows : x.rows, opt.batch_size, opt.drop_last)),
        net_(std::move(layers), true),
        ws_(net_.host, std::max<index_t>(1, std::min(epoch_.batch, x.rows)), opt.dropout),
        x_(x.rows * x.cols),
        y_(y.rows * y.cols),
        partial_(loss_partials()),
        acc_(2) {
    if (opt.loss.class_weight) class_weight_ = to_device(opt.loss.class_weight, net_.host.back().out);
    x_.upload(x.data, x.rows * x.cols);  // the data set moves to the device once per fit
    y_.upload(y.data, y.rows * y.cols);
    for (size_t l = 0; l < net_.host.size(); ++l) {  // the state pointers every step hands the optimizer
      w_state_.emplace_back();
      b_state_.emplace_back();
      for (auto& s : net_.ws[l]) w_state_.back().push_back(s.get());
      for (auto& s : net_.bs[l]) b_state_.back().push_back(s.get());
    }
    gather_ = opt_.shuffle && epoch_.batch < epoch_.rows;
    const index_t rows = std::max<index_t>(1, std::min(epoch_.batch, n_));  // most rows of a step here
    if (gather_) {
      order_host_.resize(size_t(epoch_.rows));
      order_ = DeviceBuffer<std::int64_t>(std::max<index_t>(n_, 1));
      xb_ = DeviceBuffer<T>(rows * in_);
      yb_ = DeviceBuffer<T>(rows * out_);
    }
    if (opt_.global_rows > 0) {  // data parallel: the host's share of each step, and the staged gradients
      if (gather_) local_order_host_.resize(size_t(n_));
      step_first_.resize(size_t(epoch_.steps + 1));
      for (const auto& L : net_.host) params_ += size_t(L.in * L.out + L.out);
      staged_.resize(params_ + 1);
    }
  }

  index_t steps_per_epoch() const override { return epoch_.steps; }

  std::size_t allocated_bytes() const override {
    std::size_t count = x_.size() + y_.size() + xb_.size() + yb_.size() + ws_.grad_a.size() + ws_.grad_b.size();
    for (const auto& a : ws_.act) count += a.size();
    for (const auto& z : ws_.pre) count += z.size();
    for (const auto& d : ws_.drop) count += d.size();
    for (const auto* group : {&net_.w, &net_.b, &net_.gw, &net_.gb})
      for (const auto& p : *group) count += p.size();
    for (const auto* states : {&net_.ws, &net_.bs})
      for (const auto& layer : *states)
        for (const auto& p : layer) count += p.size();
    return sizeof(T) * count + sizeof(double) * (partial_.size() + acc_.size()) + sizeof(std::int64_t) * order_.size();
  }

  const char* path() const override { return "cuda-gemm"; }
  std::string path_reason() const override { return reason; }
  std::string reason = "the fused kernel is float32 only";  // why not the fused path (fused_plan's reason)

  double run_epoch(std::uint64_t epoch, const double* lr, std::int64_t& step) override {
    net_.upload();  // what Python changed since the trainer was made (on_train_begin, between epochs)
    const bool distributed = opt_.global_rows > 0;
    if (gather_) {
      permutation(opt_.seed, epoch, order_host_.data(), epoch_.rows);
      if (!distributed) order_.upload(order_host_.data(), n_);
    }
    if (distributed) {
      share_of_steps(gather_ ? order_host_.data() : nullptr, epoch_, opt_.row_offset, n_, local_order_host_.data(),
                     step_first_.data());
      if (gather_ && n_ > 0) order_.upload(local_order_host_.data(), n_);
    }
    CUDA_CHECK(cudaMemset(acc_.get(), 0, sizeof(double) * 2));
    index_t seen = 0;
    for (index_t s = 0; s < epoch_.steps; ++s) {
      const index_t begin = epoch_.first(s), batch_rows = epoch_.count(s);
      const index_t first = distributed ? step_first_[size_t(s)] : begin;
      const index_t rows = distributed ? step_first_[size_t(s) + 1] - first : batch_rows;
      std::exception_ptr failure;
      const double* denom = nullptr;
      try {
        poll_interrupt();  // Ctrl-C: the host gets the weights and state of the steps done, then it raises
        if (rows > 0) {
          const T *xb = x_.get() + first * in_, *yb = y_.get() + first * out_;
          if (gather_) {
            cuda::gather_rows<T>(x_.get(), order_.get() + first, rows, in_, xb_.get());
            cuda::gather_rows<T>(y_.get(), order_.get() + first, rows, out_, yb_.get());
            xb = xb_.get();
            yb = yb_.get();
          }
          // The batch mean: over rows times terms per row, or, with sample weights, over their sum (on
          // the device). Data parallel, over the global batch's rows (weighted losses are refused there),
          // and the epoch sum gets this process's rows' losses.
          const index_t terms = loss_terms_per_row(opt_.loss, net_.host.back().out);
          if (opt_.loss.weighted) {
            cuda::weight_sum<T>(yb, rows, out_, partial_.get(), weight_sum_.get());
            denom = weight_sum_.get();
          }
          const double mean_rows = double(distributed ? batch_rows : rows);
          const double scale = denom ? 1.0 / double(terms) : 1.0 / (mean_rows * double(terms));
          // Dropout's rows: the gathered batch's data rows, or the batch's own (global: + row_offset).
          const StepDropout dropout{&opt_.dropout,
                                    opt_.seed,
                                    step + 1,
                                    gather_ ? order_.get() + first : nullptr,
                                    gather_ ? 0 : std::int64_t(first),
                                    distributed ? std::int64_t(opt_.row_offset) : 0};
          loss_and_gradients(net_, opt_.loss, class_weight_.get(), xb, yb, rows, scale, ws_, mean_rows, partial_.get(),
                             acc_.get(), denom, opt_.dropout.empty() ? nullptr : &dropout);
        } else {
          zero_gradients();  // none of this batch's rows lives here: this process adds zero
        }
      } catch (...) {
        failure = std::current_exception();
      }
      if (distributed) {
        reduce(failure);
      } else if (failure) {
        net_.download();
        std::rethrow_exception(failure);
      }
      step_once(lr[s], step + 1, distributed ? batch_rows : rows, denom, double(rows) / double(batch_rows));
      ++step;
      seen += rows;
    }
    double sum = 0.0;
    CUDA_CHECK(cudaMemcpy(&sum, acc_.get(), sizeof(double), cudaMemcpyDeviceToHost));
    net_.download();
    epoch_loss_sum_ = sum;
    epoch_rows_ = seen;
    return seen > 0 ? sum / double(seen) : 0.0;
  }

 private:
  void zero_gradients() {
    const auto& layers = net_.host;
    for (size_t l = 0; l < layers.size(); ++l) {
      CUDA_CHECK(cudaMemset(net_.gw[l].get(), 0, sizeof(T) * size_t(layers[l].in * layers[l].out)));
      CUDA_CHECK(cudaMemset(net_.gb[l].get(), 0, sizeof(T) * size_t(layers[l].out)));
    }
  }

  // Data parallel: the gradients (already scaled by the global batch) go to the host, into one flat
  // buffer with the step's status after them, are summed over all processes by opt_.reduce, and come
  // back. Host staging works with any MPI; NCCL on the device is
  // the faster way (README). A failure here or elsewhere makes every process throw after the sum.
  void reduce(const std::exception_ptr& failure) {
    const auto& layers = net_.host;
    size_t at = 0;
    if (!failure) {
      for (size_t l = 0; l < layers.size(); ++l) {
        net_.gw[l].download(staged_.data() + at, layers[l].in * layers[l].out);
        at += size_t(layers[l].in * layers[l].out);
        net_.gb[l].download(staged_.data() + at, layers[l].out);
        at += size_t(layers[l].out);
      }
    }
    staged_[params_] = failure ? T(1) : T(0);
    opt_.reduce(staged_.data(), staged_.size());
    if (failure) {
      net_.download();
      std::rethrow_exception(failure);
    }
    if (staged_[params_] != T(0)) {
      net_.download();
      throw std::runtime_error(
          "another process of this data parallel fit failed in the same step (its own "
          "error says why); every process stops");
    }
    at = 0;
    for (size_t l = 0; l < layers.size(); ++l) {
      net_.gw[l].upload(staged_.data() + at, layers[l].in * layers[l].out);
      at += size_t(layers[l].in * layers[l].out);
      net_.gb[l].upload(staged_.data() + at, layers[l].out);
      at += size_t(layers[l].out);
    }
  }

  // Clipping, the L2 term and the update, on the gradients in net_.gw / net_.gb. rows: what the batch's
  // mean divides by (denom on the device when weighted); loss_share: this process's part of the batch.
  void step_once(double lr, std::int64_t step, index_t rows, const double* denom, double loss_share) {
    const auto& layers = net_.host;
    const size_t L = layers.size();
    clip();
    if (opt_.l2 > 0.0) add_l2_penalty(rows, denom, loss_share);
    const StepCoefficients<T> c = step_coefficients<T>(opt_.optimizer, lr, step);
    for (size_t l = 0; l < L; ++l) {
      cuda::optimizer_step<T>(opt_.optimizer, c, net_.w[l].get(), net_.gw[l].get(), w_state_[l].data(),
                              layers[l].in * layers[l].out);
      cuda::optimizer_step<T>(opt_.optimizer, c, net_.b[l].get(), net_.gb[l].get(), b_state_[l].data(), layers[l].out);
    }
  }

  // scikit-learn's L2 term, as the CPU trainer: (l2 / 2) ||W||^2 / rows joins the batch's mean loss (the
  // epoch sum takes it times rows), and l2 W / rows each weight's gradient, after clipping, biases exempt.
  // With sample weights, the batch's weight sum (denom, on the device) takes the place of rows.
  // Data parallel, each process's epoch sum takes its share of the batch's term (loss_share).
  void add_l2_penalty(index_t rows, const double* denom, double loss_share) {
    const auto& layers = net_.host;
    for (size_t l = 0; l < layers.size(); ++l) {
      const index_t count = layers[l].in * layers[l].out;
      if (denom) {
        cuda::sum_squares<T>(net_.w[l].get(), count, partial_.get(), acc_.get(), 0.5 * opt_.l2 * double(rows), denom);
        cuda::add_scaled<T>(net_.gw[l].get(), net_.w[l].get(), count, opt_.l2, denom);
      } else {
        cuda::sum_squares<T>(net_.w[l].get(), count, partial_.get(), acc_.get(), 0.5 * opt_.l2 * loss_share);
        cuda::add_scaled<T>(net_.gw[l].get(), net_.w[l].get(), count, opt_.l2 / double(rows));
      }
    }
  }

  // Value clamp, then global-norm scaling, as the CPU trainer (torch.nn.utils' semantics).
  void clip() {
    const auto& layers = net_.host;
    if (opt_.clip_grad_value > 0.0)
      for (size_t l = 0; l < layers.size(); ++l) {
        cuda::clamp<T>(net_.gw[l].get(), layers[l].in * layers[l].out, T(opt_.clip_grad_value));
        cuda::clamp<T>(net_.gb[l].get(), layers[l].out, T(opt_.clip_grad_value));
      }
    if (opt_.clip_grad_norm > 0.0) {
      double* sumsq = acc_.get() + 1;
      CUDA_CHECK(cudaMemset(sumsq, 0, sizeof(double)));
      for (size_t l = 0; l < layers.size(); ++l) {
        cuda::sum_squares<T>(net_.gw[l].get(), layers[l].in * layers[l].out, partial_.get(), sumsq);
        cuda::sum_squares<T>(net_.gb[l].get(), layers[l].out, partial_.get(), sumsq);
      }
      for (size_t l = 0; l < layers.size(); ++l) {
        cuda::scale_by_norm<T>(net_.gw[l].get(), layers[l].in * layers[l].out, sumsq, opt_.clip_grad_norm);
        cuda::scale_by_norm<T>(net_.gb[l].get(), layers[l].out, sumsq, opt_.clip_grad_norm);
      }
    }
  }

  TrainOptions opt_;
  index_t n_, in_, out_;
  EpochPlan epoch_;  // the (global) data set's steps
  DeviceNet<T> net_;
  DeviceWorkspace<T> ws_;
  DeviceBuffer<T> x_, y_, xb_, yb_;
  DeviceBuffer<double> partial_, acc_;  // acc_[0]: epoch loss sum, acc_[1]: squared gradient norm
  DeviceBuffer<double> class_weight_;   // cross_entropy's class weights, when given
  DeviceBuffer<double> weight_sum_{1};  // the current batch's sample-weight sum (weighted losses)
  bool gather_ = false;
  std::vector<std::vector<T*>> w_state_, b_state_;
  std::vector<std::int64_t> order_host_;
  std::vector<std::int64_t> local_order_host_, step_first_;  // data parallel: see share_of_steps
  std::vector<T> staged_;  // data parallel: the step's gradients and status, on the host
  size_t params_ = 0;
  DeviceBuffer<std::int64_t> order_;
};

}  // namespace

template <class T>
void mlp_forward(const std::vector<LayerRef<T>>& layers, Matrix<const T> x, Matrix<T> out) {
  // Inference keeps no activations for a backward pass: two buffers as wide as the widest layer take
  // turns. Rows go in chunks of at most 65536, fewer when those buffers would pass 1 GiB.
  index_t widest = 1;
  for (const auto& L : layers) widest = std::max(widest, L.out);
  const index_t by_bytes = std::max<index_t>(1, (index_t(1) << 30) / index_t(2 * widest * sizeof(T)));
  const index_t chunk = std::min({index_t(65536), by_bytes, std::max<index_t>(x.rows, 1)});
  DeviceNet<T> net(layers, false);
  DeviceBuffer<T> ping(chunk * widest), pong(chunk * widest), xd(chunk * x.cols);
  for (index_t begin = 0; begin < x.rows; begin += chunk) {
    const index_t rows = std::min(chunk, x.rows - begin);
    xd.upload(x.row(begin), rows * x.cols);
    const T* y = forward(net, xd.get(), rows, [&](size_t l) { return (l % 2 ? pong : ping).get(); });
    CUDA_CHECK(cudaMemcpy(out.row(begin), y, sizeof(T) * size_t(rows * out.cols), cudaMemcpyDeviceToHost));
  }
}

template <class T>
double mlp_loss_grad(const std::vector<LayerRef<T>>& layers, const LossSpec& loss, Matrix<const T> x, Matrix<const T> y,
                     const std::vector<T*>& grads) {
  DeviceNet<T> net(layers, true);
  DeviceWorkspace<T> ws(layers, x.rows);
  DeviceBuffer<T> xd = to_device(x.data, x.rows * x.cols), yd = to_device(y.data, y.rows * y.cols);
  DeviceBuffer<double> partial(loss_partials()), acc(1);
  CUDA_CHECK(cudaMemset(acc.get(), 0, sizeof(double)));
  DeviceBuffer<double> cw;
  if (loss.class_weight) cw = to_device(loss.class_weight, layers.back().out);
  const double scale =
      1.0 / fastmlp::loss_denominator<T>(loss, y, layers.back().out);  // the mean (weights: on the host)
  loss_and_gradients(net, loss, cw.get(), xd.get(), yd.get(), x.rows, scale, ws, 1.0, partial.get(), acc.get());
  for (size_t l = 0; l < layers.size(); ++l) {
    net.gw[l].download(grads[2 * l], layers[l].in * layers[l].out);
    net.gb[l].download(grads[2 * l + 1], layers[l].out);
  }
  double value = 0.0;
  acc.download(&value, 1);
  return value;
}

template <class T>
std::vector<LayerShape> shapes_of(const std::vector<LayerRef<T>>& layers) {
  std::vector<LayerShape> shapes;
  for (const auto& L : layers) shapes.push_back({L.in, L.out, activation_needs_z(L.act.kind)});
  return shapes;
}

template <class T>
std::unique_ptr<TrainerBase> make_trainer(std::vector<LayerRef<T>> layers, Matrix<const T> x, Matrix<const T> y,
                                          const TrainOptions& options) {
  const char* reason = "the fused kernel is float32 only";
  if constexpr (std::is_same_v<T, float>) {
    const FusedPlan plan = fused_plan(shapes_of(layers), sizeof(T), options, fused_shared_limit());
    if (plan.fused()) return make_fused_trainer(std::move(layers), x, y, options, plan);
    reason = plan.reason;
  }
  auto trainer = std::make_unique<Trainer<T>>(std::move(layers), x, y, options);
  trainer->reason = reason;
  return trainer;
}

std::size_t trainer_bytes(const std::vector<LayerShape>& layers, std::size_t item, index_t n, int state_buffers,
                          const TrainOptions& options) {
  if (layers.empty() || n < 1) return 0;
  if (const FusedPlan plan = fused_plan(layers, item, options, fused_shared_limit()); plan.fused())
    return fused_trainer_bytes(layers, n, state_buffers, options, plan);
  const index_t batch_rows = epoch_plan(n, options.batch_size, options.drop_last).batch;
  const bool gather = options.shuffle && batch_rows < n;
  // The targets are as wide as the loss lays them out: one column of class labels, one more for a
  // sample weight.
  const index_t y_cols = (options.loss.labels ? 1 : layers.back().out) + (options.loss.weighted ? 1 : 0);
  const Count in = std::uint64_t(layers.front().in), out = std::uint64_t(y_cols);
  const Count batch = std::uint64_t(batch_rows), rows = std::uint64_t(n);
  const PartSizes step = part_sizes(layers, batch_rows, 0, 0, false, 0, options.dropout);
  // Parameters, gradients and optimizer state; a batch's workspace (buffer_plan.h); the data set;
  // gathered batches and the order when shuffling (as Trainer allocates them). Counted without
  // wrapping (Count throws past 2^64).
  const Count count = step.params * Count(std::uint64_t(2 + state_buffers)) + step.workspace() + rows * (in + out) +
                      (gather ? batch * (in + out) : Count(0));
  return (Count(item) * count + Count(sizeof(double)) * Count(std::uint64_t(loss_partials() + 2)) +
          (gather ? Count(sizeof(std::int64_t)) * rows : Count(0)))
      .v;
}

#define FASTMLP_INSTANTIATE(T)                                                                                         \
  template void matmul<T>(bool, bool, index_t, index_t, index_t, const T*, index_t, const T*, index_t, T*);            \
  template void mlp_forward<T>(const std::vector<LayerRef<T>>&, Matrix<const T>, Matrix<T>);                           \
  template double mlp_loss_grad<T>(const std::vector<LayerRef<T>>&, const LossSpec&, Matrix<const T>, Matrix<const T>, \
                                   const std::vector<T*>&);                                                            \
  template std::unique_ptr<TrainerBase> make_trainer<T>(std::vector<LayerRef<T>>, Matrix<const T>, Matrix<const T>,    \
                                                        const TrainOptions&);
FASTMLP_INSTANTIATE(float)
FASTMLP_INSTANTIATE(double)
#undef FASTMLP_INSTANTIATE

}  // namespace cuda
}  // namespace fastmlp
