// The trainer of the fused path (fastmlp/fused_plan.h says when): the epoch of cuda/train_loop.cu's
// Trainer with each step as two launches, fused_step and fused_update, and nothing else on the way:
// the rows are gathered through the epoch's order inside fused_step, the loss is summed on the device,
// the host only computes the optimizer's step coefficients and enqueues. Parameters and optimizer state
// live in flat device arrays (one pointer each for the update), copied from and to the caller's
// per-layer arrays at each epoch's start and end, as the GEMM path's trainer does.
#include <algorithm>
#include <exception>
#include <vector>

#include "common.cuh"
#include "fastmlp/parallel.h"
#include "fused_mlp.cuh"

namespace fastmlp {
namespace cuda {
namespace {

class FusedTrainer final : public TrainerBase {
 public:
  FusedTrainer(std::vector<LayerRef<float>> layers, Matrix<const float> x, Matrix<const float> y,
               const TrainOptions& opt, FusedPlan plan)
      : host_(std::move(layers)), opt_(opt), plan_(plan), n_(x.rows),
        batch_(opt.batch_size > 0 ? std::min(opt.batch_size, x.rows) : x.rows), x_(to_device(x.data, x.rows * x.cols)),
        y_(to_device(y.data, y.rows * y.cols)), acc_(1) {
    net_.layers = int(host_.size());
    net_.width[0] = int(host_.front().in);
    for (size_t l = 0; l < host_.size(); ++l) {
      const auto& L = host_[l];
      net_.width[l + 1] = int(L.out);
      net_.act[l] = L.act.kind;
      net_.slope[l] = float(L.act.negative_slope);
      net_.w_off[l] = net_.params;
      net_.b_off[l] = net_.params + L.in * L.out;
      net_.params += L.in * L.out + L.out;
    }
    loss_.kind = opt.loss.kind;
    loss_.labels = opt.loss.labels;
    loss_.tcols = int(y.cols);
    loss_.delta = float(opt.loss.delta);
    loss_.factor = opt.loss.factor;
    if (opt.loss.class_weight) class_weight_ = to_device(opt.loss.class_weight, host_.back().out);
    params_ = DeviceBuffer<float>(net_.params);
    for (size_t s = 0; s < host_.front().w_state.size(); ++s) state_.emplace_back(net_.params);
    for (auto& s : state_) state_ptr_.push_back(s.get());
    const index_t blocks = fused_blocks(batch_, plan_.rows);
    slots_ = DeviceBuffer<float>(blocks * net_.params);
    loss_slots_ = DeviceBuffer<double>(blocks);
    if (opt_.shuffle && batch_ < n_) {
      order_host_.resize(size_t(n_));
      order_ = DeviceBuffer<std::int64_t>(n_);
    }
  }

  index_t steps_per_epoch() const override { return opt_.drop_last ? n_ / batch_ : (n_ + batch_ - 1) / batch_; }

  std::size_t allocated_bytes() const override {
    return sizeof(float) * std::size_t(x_.size() + y_.size() + params_.size() * index_t(1 + state_.size()) +
                                       slots_.size()) +
           sizeof(double) * std::size_t(loss_slots_.size() + acc_.size()) +
           sizeof(std::int64_t) * std::size_t(order_.size());
  }

  const char* path() const override { return "cuda-fused"; }

  double run_epoch(std::uint64_t epoch, const double* lr, std::int64_t& step) override {
    copy_parameters(true);  // what Python changed since the last epoch counts, as on the CPU
    if (order_.size() > 0) {
      permutation(opt_.seed, epoch, order_host_.data(), n_);
      order_.upload(order_host_.data(), n_);
    }
    CUDA_CHECK(cudaMemset(acc_.get(), 0, sizeof(double)));
    const index_t steps = steps_per_epoch(), terms = loss_terms_per_row(opt_.loss, host_.back().out);
    index_t seen = 0;
    for (index_t s = 0; s < steps; ++s) {
      const index_t first = s * batch_, rows = std::min(batch_, n_ - first);
      try {
        poll_interrupt();  // Ctrl-C: the host gets the weights and state of the steps done, then it raises
        // The batch mean: the gradient is scaled by 1 / (rows x terms), and the epoch sum gets the
        // batch's mean loss times its rows (as the GEMM path's loss_and_grad).
        const double scale = 1.0 / double(rows * terms);
        fused_step(net_, loss_, plan_.rows, params_.get(), x_.get(), y_.get(), order_.size() ? order_.get() : nullptr,
                   first, rows, class_weight_.get(), scale, slots_.get(), loss_slots_.get());
        const StepCoefficients<float> c = step_coefficients<float>(opt_.optimizer, lr[s], step + 1);
        fused_update(opt_.optimizer, c, params_.get(), state_ptr_.data(), slots_.get(),
                     fused_blocks(rows, plan_.rows), net_.params, opt_.clip_grad_value, loss_slots_.get(),
                     double(rows) * scale, acc_.get());
      } catch (...) {
        copy_parameters(false);
        throw;
      }
      ++step;
      seen += rows;
    }
    double sum = 0.0;
    acc_.download(&sum, 1);  // synchronizes: an execution error of any step surfaces here
    copy_parameters(false);
    epoch_loss_sum_ = sum;
    epoch_rows_ = seen;
    return seen > 0 ? sum / double(seen) : 0.0;
  }

 private:
  // Between the caller's per-layer arrays and the flat device ones: to the device (up) or back.
  void copy_parameters(bool up) {
    for (size_t l = 0; l < host_.size(); ++l) {
      const auto& L = host_[l];
      const index_t w = net_.w_off[l], b = net_.b_off[l];
      copy(L.w, params_.get() + w, L.in * L.out, up);
      copy(L.b, params_.get() + b, L.out, up);
      for (size_t s = 0; s < state_.size(); ++s) {
        copy(L.w_state[s], state_[s].get() + w, L.in * L.out, up);
        copy(L.b_state[s], state_[s].get() + b, L.out, up);
      }
    }
  }

  static void copy(float* host, float* device, index_t count, bool up) {
    if (count == 0) return;
    const std::size_t bytes = sizeof(float) * std::size_t(count);
    if (up)
      CUDA_CHECK(cudaMemcpy(device, host, bytes, cudaMemcpyHostToDevice));
    else
      CUDA_CHECK(cudaMemcpy(host, device, bytes, cudaMemcpyDeviceToHost));
  }

  std::vector<LayerRef<float>> host_;
  TrainOptions opt_;
  FusedPlan plan_;
  index_t n_, batch_;
  FusedNet net_;
  FusedLoss loss_;
  DeviceBuffer<float> x_, y_, params_, slots_;
  std::vector<DeviceBuffer<float>> state_;
  std::vector<float*> state_ptr_;
  DeviceBuffer<double> loss_slots_, acc_, class_weight_;
  std::vector<std::int64_t> order_host_;
  DeviceBuffer<std::int64_t> order_;
};

}  // namespace

std::unique_ptr<TrainerBase> make_fused_trainer(std::vector<LayerRef<float>> layers, Matrix<const float> x,
                                                Matrix<const float> y, const TrainOptions& options, FusedPlan plan) {
  return std::make_unique<FusedTrainer>(std::move(layers), x, y, options, plan);
}

std::size_t fused_trainer_bytes(const std::vector<LayerShape>& layers, index_t n, int state_buffers,
                                const TrainOptions& options, FusedPlan plan) {
  const index_t batch = options.batch_size > 0 ? std::min(options.batch_size, n) : n;
  index_t params = 0;
  for (const auto& L : layers) params += L.in * L.out + L.out;
  const index_t blocks = fused_blocks(batch, plan.rows);
  const bool gather = options.shuffle && batch < n;
  // The data set (targets as wide as the outputs), parameters and optimizer state, the slots; the
  // loss slots and the epoch sum; the order when shuffling. (Small: no overflow check needed past the
  // data set's own size, which the caller has allocated on the host.)
  return sizeof(float) * std::size_t(n * (layers.front().in + layers.back().out) + params * (1 + state_buffers) +
                                     blocks * params) +
         sizeof(double) * std::size_t(blocks + 1) + sizeof(std::int64_t) * std::size_t(gather ? n : 0);
}

}  // namespace cuda
}  // namespace fastmlp
