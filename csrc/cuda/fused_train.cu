// The trainer of the fused path (fastmlp/fused_plan.h says when): the epoch of cuda/train_loop.cu's
// Trainer with each step as two launches, fused_step and fused_update, and nothing else on the way:
// the rows are gathered through the epoch's order inside fused_step, the loss is summed on the device,
// and the optimizer's coefficients of every step of the epoch go up in one copy. Steps are captured
// once as CUDA graphs, a few at a time, and replayed every epoch: the host launches one graph for up
// to 32 steps (2^16 rows at the most, so that Ctrl-C, looked at between graphs, still stops within
// milliseconds), so at small batches the launches' own cost no longer sets the pace.
// Parameters and optimizer state live in flat device arrays (one pointer each for the update),
// copied from and to the caller's per-layer arrays at each epoch's start and end, as the GEMM path's
// trainer does.
#include <algorithm>
#include <exception>
#include <vector>

#include "common.cuh"
#include "fastmlp/dropout.h"
#include "fastmlp/epoch_plan.h"
#include "fastmlp/parallel.h"
#include "fused_mlp.cuh"

namespace fastmlp {
namespace cuda {
namespace {

// A stream and the graphs captured on it, released with the trainer. The stream is non-blocking: while it
// captures, a blocking one would make the legacy stream unusable in the whole context (another thread's
// CUDA fit, a cudaMemcpy, a cudaMemset: cudaErrorStreamCaptureImplicit). Being non-blocking, it is not
// ordered with the legacy stream either: what the trainer copies to or from the buffers its graphs use
// goes on this stream (copy_to), and the host reads them only after sync(). At most two graphs are in flight:
// the host waits for the one before the last before it launches another, so the device stays busy
// while the host never runs more than a graph ahead (Ctrl-C, seen by the host, then waits for two
// graphs' work at the most, not for a queue of a thousand launches).
class StepGraphs {
 public:
  StepGraphs() {
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    for (cudaEvent_t& e : done_) CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  }
  StepGraphs(const StepGraphs&) = delete;
  StepGraphs& operator=(const StepGraphs&) = delete;
  ~StepGraphs() {  // no throw from a destructor; a failure shows at the next call
    for (cudaGraphExec_t g : graphs_)
      if (g) cudaGraphExecDestroy(g);
    for (cudaEvent_t e : done_) cudaEventDestroy(e);
    cudaStreamDestroy(stream_);
  }

  // Launches graph i on the stream; the first time, what enqueue(stream) enqueues is captured into it.
  template <class Enqueue>
  void run(size_t i, Enqueue&& enqueue) {
    if (graphs_.size() <= i) graphs_.resize(i + 1, nullptr);
    if (!graphs_[i]) {
      cudaGraph_t graph = nullptr;
      CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
      try {
        enqueue(stream_);
      } catch (...) {
        if (cudaStreamEndCapture(stream_, &graph) == cudaSuccess && graph) cudaGraphDestroy(graph);
        throw;
      }
      CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
      cudaGraphExec_t exec = nullptr;
      const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
      cudaGraphDestroy(graph);
      CUDA_CHECK(err);
      graphs_[i] = exec;
    }
    cudaEvent_t& done = done_[launched_++ % 2];
    if (launched_ > 2) CUDA_CHECK(cudaEventSynchronize(done));  // the graph before the last has finished
    CUDA_CHECK(cudaGraphLaunch(graphs_[i], stream_));
    CUDA_CHECK(cudaEventRecord(done, stream_));
  }

  // count elements from the host to device memory, in stream order (before the next graph reads them).
  // From pageable memory the call returns once the host's bytes are staged: `host` may change after.
  template <class T>
  void copy_to(T* device, const T* host, index_t count) {
    if (count > 0)
      CUDA_CHECK(cudaMemcpyAsync(device, host, sizeof(T) * std::size_t(count), cudaMemcpyHostToDevice, stream_));
  }
  template <class T>
  void zero(T* device, index_t count) {
    if (count > 0) CUDA_CHECK(cudaMemsetAsync(device, 0, sizeof(T) * std::size_t(count), stream_));
  }
  // Waits for all the stream's work: the graphs' results may then be read on the host.
  void sync() { CUDA_CHECK(cudaStreamSynchronize(stream_)); }

 private:
  cudaStream_t stream_ = nullptr;
  cudaEvent_t done_[2] = {nullptr, nullptr};
  std::uint64_t launched_ = 0;
  std::vector<cudaGraphExec_t> graphs_;
};

// Steps per graph: at most 32, and at most 2^16 rows.
index_t steps_per_graph(index_t batch) {
  return std::max<index_t>(1, std::min<index_t>(32, (index_t(1) << 16) / batch));
}

class FusedTrainer final : public TrainerBase {
 public:
  FusedTrainer(std::vector<LayerRef<float>> layers, Matrix<const float> x, Matrix<const float> y,
               const TrainOptions& opt, FusedPlan plan)
      : host_(std::move(layers)),
        opt_(opt),
        plan_(plan),
        n_(x.rows),
        epoch_(epoch_plan(x.rows, opt.batch_size, opt.drop_last)),
        x_(to_device(x.data, x.rows * x.cols)),
        y_(to_device(y.data, y.rows * y.cols)),
        acc_(1) {
    net_.layers = int(host_.size());
    net_.width[0] = int(host_.front().in);
    for (size_t l = 0; l < host_.size(); ++l) {
      const auto& L = host_[l];
      net_.width[l + 1] = int(L.out);
      net_.act[l] = L.act.kind;
      if (activation_needs_z(L.act.kind))  // fused_plan sends such nets to the GEMM path
        throw std::logic_error("the fused kernel keeps no pre-activations");
      net_.param[l] = activation_params<float>(L.act);
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
    for (size_t s = 0; s < host_.front().w_state.size(); ++s) state_buffers_.emplace_back(net_.params);
    for (auto& s : state_buffers_) state_ptr_.push_back(s.get());
    // Which buffers the update reads depends on the hyperparameters only, not on the step.
    state_ = state_buffers(opt_.optimizer, state_ptr_.data());
    coefs_host_.resize(size_t(epoch_.steps));
    coefs_ = DeviceBuffer<StepCoefficients<float>>(epoch_.steps);
    fused_allow_shared_memory();
    const index_t blocks = fused_blocks(epoch_.batch, plan_.rows);
    slots_ = DeviceBuffer<float>(blocks * net_.params);
    loss_slots_ = DeviceBuffer<double>(blocks);
    if (opt_.shuffle && epoch_.batch < n_) {
      order_host_.resize(size_t(n_));
      order_ = DeviceBuffer<std::int64_t>(n_);
    }
    for (size_t l = 0; l < opt_.dropout.size(); ++l) {
      dropout_.threshold[l] = dropout_threshold(opt_.dropout[l]);
      dropout_.scale[l] = float(1.0 / (1.0 - opt_.dropout[l]));
      dropout_.any = dropout_.any || dropout_.threshold[l] != 0;
    }
    dropout_.seed = opt_.seed;
    if (dropout_.any) {  // each step's number, for its masks (uploaded per epoch, read by the captured steps)
      steps_host_.resize(size_t(epoch_.steps));
      steps_ = DeviceBuffer<std::int64_t>(epoch_.steps);
    }
    // The data set and class weights went up on the legacy stream, which the trainer's non-blocking
    // stream does not wait for: their copies are done before any graph reads them.
    CUDA_CHECK(cudaStreamSynchronize(nullptr));
  }

  index_t steps_per_epoch() const override { return epoch_.steps; }

  std::size_t allocated_bytes() const override {
    return sizeof(float) * std::size_t(x_.size() + y_.size() + params_.size() * index_t(1 + state_buffers_.size()) +
                                       slots_.size()) +
           sizeof(StepCoefficients<float>) * std::size_t(coefs_.size()) +
           sizeof(double) * std::size_t(loss_slots_.size() + acc_.size()) +
           sizeof(std::int64_t) * std::size_t(order_.size() + steps_.size());
  }

  const char* path() const override { return "cuda-fused"; }
  std::string path_reason() const override {
    return "float32, every layer at most 128 wide, no sample weights, L2 penalty or clip_grad_norm: one kernel "
           "per step, " +
           std::to_string(plan_.rows) + " rows per block" + (plan_.staged_weights ? ", weights staged" : "") +
           (dropout_.any ? ", dropout in the kernel" : "");
  }

  double run_epoch(std::uint64_t epoch, const double* lr, std::int64_t& step) override {
    copy_parameters(true);  // what Python changed since the last epoch counts, as on the CPU
    if (order_.size() > 0) {
      permutation(opt_.seed, epoch, order_host_.data(), n_);
      graphs_.copy_to(order_.get(), order_host_.data(), n_);
    }
    const index_t steps = epoch_.steps, chunk = steps_per_graph(epoch_.batch);
    for (index_t s = 0; s < steps; ++s)
      coefs_host_[size_t(s)] = step_coefficients<float>(opt_.optimizer, lr[s], step + 1 + s);
    graphs_.copy_to(coefs_.get(), coefs_host_.data(), steps);
    if (dropout_.any) {
      for (index_t s = 0; s < steps; ++s) steps_host_[size_t(s)] = step + 1 + s;
      graphs_.copy_to(steps_.get(), steps_host_.data(), steps);
    }
    graphs_.zero(acc_.get(), 1);
    index_t seen = 0;
    for (index_t begin = 0; begin < steps; begin += chunk) {
      const index_t end = std::min(steps, begin + chunk);
      try {
        poll_interrupt();  // Ctrl-C: the host gets the weights and state of the steps done, then it raises
        graphs_.run(size_t(begin / chunk), [&](cudaStream_t stream) {
          for (index_t s = begin; s < end; ++s) enqueue_step(s, stream);
        });
      } catch (...) {
        graphs_.sync();  // the graphs launched so far, then their weights and state back to the host
        copy_parameters(false);
        throw;
      }
      step += end - begin;
      seen = epoch_.first(end);
    }
    double sum = 0.0;
    graphs_.sync();          // an execution error of any step surfaces here
    acc_.download(&sum, 1);  // then the legacy stream may read what the graphs wrote
    copy_parameters(false);
    epoch_loss_sum_ = sum;
    epoch_rows_ = seen;
    return seen > 0 ? sum / double(seen) : 0.0;
  }

 private:
  // Step s of every epoch: its rows, its gradient, its update with the coefficients coefs_[s].
  void enqueue_step(index_t s, cudaStream_t stream) {
    const index_t first = epoch_.first(s), rows = epoch_.count(s);
    // The batch mean: the gradient is scaled by 1 / (rows x terms), and the epoch sum gets the batch's
    // mean loss times its rows (as the GEMM path's loss_and_grad).
    const double scale = 1.0 / double(rows * loss_terms_per_row(opt_.loss, host_.back().out));
    fused_step(net_, loss_, plan_, params_.get(), x_.get(), y_.get(), order_.size() ? order_.get() : nullptr, first,
               rows, class_weight_.get(), scale, slots_.get(), loss_slots_.get(), dropout_,
               dropout_.any ? steps_.get() + s : nullptr, stream);
    fused_update(opt_.optimizer.kind, state_, coefs_.get() + s, params_.get(), slots_.get(),
                 fused_blocks(rows, plan_.rows), net_.params, opt_.clip_grad_value, loss_slots_.get(),
                 double(rows) * scale, acc_.get(), stream);
  }

  // Between the caller's per-layer arrays and the flat device ones: to the device (up, in the stream's
  // order) or back (after sync()).
  void copy_parameters(bool up) {
    for (size_t l = 0; l < host_.size(); ++l) {
      const auto& L = host_[l];
      const index_t w = net_.w_off[l], b = net_.b_off[l];
      copy(L.w, params_.get() + w, L.in * L.out, up);
      copy(L.b, params_.get() + b, L.out, up);
      for (size_t s = 0; s < state_buffers_.size(); ++s) {
        copy(L.w_state[s], state_buffers_[s].get() + w, L.in * L.out, up);
        copy(L.b_state[s], state_buffers_[s].get() + b, L.out, up);
      }
    }
  }

  void copy(float* host, float* device, index_t count, bool up) {
    if (count == 0) return;
    if (up)
      graphs_.copy_to(device, host, count);
    else
      CUDA_CHECK(cudaMemcpy(host, device, sizeof(float) * std::size_t(count), cudaMemcpyDeviceToHost));
  }

  std::vector<LayerRef<float>> host_;
  TrainOptions opt_;
  FusedPlan plan_;
  index_t n_;
  EpochPlan epoch_;  // the steps of an epoch
  FusedNet net_;
  FusedLoss loss_;
  DeviceBuffer<float> x_, y_, params_, slots_;
  std::vector<DeviceBuffer<float>> state_buffers_;
  std::vector<float*> state_ptr_;
  DeviceBuffer<double> loss_slots_, acc_, class_weight_;
  std::vector<std::int64_t> order_host_;
  DeviceBuffer<std::int64_t> order_;
  StateBuffers<float> state_;  // the optimizer's buffers as its update reads them
  std::vector<StepCoefficients<float>> coefs_host_;
  DeviceBuffer<StepCoefficients<float>> coefs_;  // this epoch's coefficients, one per step
  FusedDropout dropout_;                         // the hidden layers' dropout, as the kernel reads it
  std::vector<std::int64_t> steps_host_;
  DeviceBuffer<std::int64_t> steps_;  // with dropout: this epoch's optimizer step numbers, one per step
  StepGraphs graphs_;                 // last: its graphs are released before the buffers they point into
};

}  // namespace

std::unique_ptr<TrainerBase> make_fused_trainer(std::vector<LayerRef<float>> layers, Matrix<const float> x,
                                                Matrix<const float> y, const TrainOptions& options, FusedPlan plan) {
  return std::make_unique<FusedTrainer>(std::move(layers), x, y, options, plan);
}

std::size_t fused_trainer_bytes(const std::vector<LayerShape>& layers, index_t n, int state_buffers,
                                const TrainOptions& options, FusedPlan plan) {
  const EpochPlan epoch = epoch_plan(n, options.batch_size, options.drop_last);
  const index_t batch = epoch.batch;
  index_t params = 0;
  for (const auto& L : layers) params += L.in * L.out + L.out;
  const index_t blocks = fused_blocks(batch, plan.rows);
  const bool gather = options.shuffle && batch < n;
  // The data set (targets as wide as the outputs), parameters and optimizer state, the slots; the
  // loss slots and the epoch sum; the order when shuffling; each step's optimizer coefficients.
  // (No overflow check: all of it is small next to the data set, which the host already holds.)
  return sizeof(float) *
             std::size_t(n * (layers.front().in + layers.back().out) + params * (1 + state_buffers) + blocks * params) +
         sizeof(double) * std::size_t(blocks + 1) + sizeof(std::int64_t) * std::size_t(gather ? n : 0) +
         sizeof(StepCoefficients<float>) * std::size_t(epoch.steps) +
         sizeof(std::int64_t) * std::size_t(options.dropout.empty() ? 0 : epoch.steps);  // dropout's step numbers
}

}  // namespace cuda
}  // namespace fastmlp
