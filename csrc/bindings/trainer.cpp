// fastmlp._core's trainer: TrainOptions (fit's options as one object), Trainer (the C++ trainer of fit's
// epochs, over the model's own arrays), and what a trainer will take before one is made: the bytes of
// its buffer plan, the steps of its epoch, the CUDA path it chooses.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bindings/common.h"
#include "bindings/network_args.h"
#include "fastmlp/block_cache.h"
#include "fastmlp/epoch_plan.h"
#include "fastmlp/fused_plan.h"

namespace fastmlp::bindings {
namespace {

// fit's options for a trainer, as one object (_core.TrainOptions): checked here as far as they can be
// without the network and the data; the trainer checks the loss against the network's outputs and the
// rows against the data. `opt` holds all but the loss and the reduce, which the trainer sets.
struct PyTrainOptions {
  TrainOptions opt;
  py::object loss, reduce;
  py::dict optimizer;
  std::string device;
  bool gpu = false;
};

PyTrainOptions train_options(py::object loss, const py::dict& optimizer, index_t batch_size, bool shuffle,
                             bool drop_last, std::uint64_t seed, double clip_grad_norm, double clip_grad_value,
                             const std::string& device, double l2, index_t global_rows, index_t row_offset,
                             py::object reduce, const std::vector<double>& dropout) {
  PyTrainOptions o;
  o.gpu = use_cuda(device);
  o.device = device;
  o.loss = std::move(loss);
  o.optimizer = optimizer;
  TrainOptions& opt = o.opt;
  if (!(l2 >= 0.0) || !std::isfinite(l2)) value_error("l2 (alpha) must be a finite number >= 0");
  opt.l2 = l2;
  opt.optimizer = optimizer_spec(optimizer);
  opt.shuffle = shuffle;
  opt.drop_last = drop_last;
  opt.seed = seed;
  if (!(clip_grad_norm >= 0.0) || !(clip_grad_value >= 0.0))
    value_error("clip_grad_norm and clip_grad_value must be > 0 (or 0/None for no clipping)");
  opt.clip_grad_norm = clip_grad_norm;
  opt.clip_grad_value = clip_grad_value;
  if (batch_size < 0) value_error("batch_size must be >= 1 (or None for the full batch)");
  opt.batch_size = batch_size;
  // Data parallel (global_rows != 0): this process's block of the global rows (checked against the
  // data by the trainer), and the per-step reduce.
  if (global_rows != 0 && (reduce.is_none() || !PyCallable_Check(reduce.ptr())))
    type_error("a data parallel trainer needs reduce, a callable that sums an array over all processes");
  opt.global_rows = global_rows;
  opt.row_offset = row_offset;
  o.reduce = std::move(reduce);
  for (double p : dropout)
    if (!(p >= 0.0 && p < 1.0))
      value_error("dropout rates must be numbers in [0, 1), got " + shortest(p) + " (1 would drop every output)");
  bool any = false;
  for (double p : dropout) any = any || p > 0.0;
  if (any) opt.dropout = dropout;  // all zeros: no dropout at all, the same trainer as without
  return o;
}

// The dropout rates must name one per hidden layer of the network (or none).
void check_dropout_layers(const TrainOptions& opt, size_t layers) {
  if (!opt.dropout.empty() && opt.dropout.size() + 1 != layers)
    value_error("dropout lists " + std::to_string(opt.dropout.size()) + " rates but the network has " +
                std::to_string(layers - 1) + " hidden layers: give one rate per hidden layer");
}

// A fit's trainer: the C++ trainer plus the Python arrays it points into, so none is freed under it.
class PyTrainer {
 public:
  PyTrainer(const py::list& weights, const py::list& biases, const std::vector<std::string>& acts,
            double negative_slope, const py::list& w_states, const py::list& b_states, py::handle x_obj,
            py::handle y_obj, const PyTrainOptions& options) {
    const bool gpu = options.gpu;
    net_ = network_args(weights, biases, acts, negative_slope, true);
    TrainOptions opt = options.opt;
    check_dropout_layers(opt, net_.w.size());
    parse_loss_arg(options.loss, net_.out.back(), loss_);
    opt.loss = loss_.spec;
    x_ = data_array(x_obj, "x", net_, net_.in.front(), "(n, in)", &x_max_);
    y_ = data_array(y_obj, "y", net_, target_columns(opt.loss, net_.out.back()), "(n, out)");
    check_targets(opt.loss, y_, net_.out.back(), "y");
    const index_t n = x_.shape(0);
    if (y_.shape(0) != n)
      value_error("x has " + std::to_string(n) + " samples but y has " + std::to_string(y_.shape(0)));
    const index_t global_rows = opt.global_rows, row_offset = opt.row_offset;
    if (n == 0 && global_rows == 0) value_error("x and y are empty; there is nothing to train on");
    if (global_rows != 0) {  // data parallel: this process's block of the global rows, and the reduce
      if (global_rows < 1 || row_offset < 0 || row_offset + n > global_rows)
        value_error("rows [" + std::to_string(row_offset) + ", " + std::to_string(row_offset + n) +
                    ") are not a block of a data set of " + std::to_string(global_rows) + " rows");
      reduce_ = options.reduce;
      opt.reduce = [this](void* data, std::size_t count) { call_reduce(data, count); };
    } else {
      opt.row_offset = 0;  // one process: no block, no reduce
    }
    const index_t total = global_rows != 0 ? global_rows : n;
    if (opt.drop_last && opt.batch_size > total)
      value_error("drop_last=True with batch_size " + std::to_string(opt.batch_size) + " > " + std::to_string(total) +
                  " samples would leave no batch at all");
    const size_t L = net_.w.size();
    const int n_state = optimizer_state_count(opt.optimizer);
    if (w_states.size() != L || b_states.size() != L) value_error("optimizer state must have one entry per layer");
    trainer_ = dispatch(net_.dtype, [&](auto t) -> std::unique_ptr<TrainerBase> {
      using T = decltype(t);
      auto layers = layer_refs<T>(net_);
      for (size_t l = 0; l < L; ++l) {
        py::list ws = w_states[l], bs = b_states[l];
        if (int(ws.size()) != n_state || int(bs.size()) != n_state)
          value_error("optimizer state of layer " + std::to_string(l) + " must hold " + std::to_string(n_state) +
                      " buffers per parameter");
        for (int s = 0; s < n_state; ++s) {
          py::array wa = output_array(ws[s], "optimizer state"), ba = output_array(bs[s], "optimizer state");
          if (dtype_of(wa, "optimizer state") != net_.dtype || dtype_of(ba, "optimizer state") != net_.dtype ||
              wa.size() != layers[l].in * layers[l].out || ba.size() != layers[l].out)
            value_error("optimizer state of layer " + std::to_string(l) + " does not match its parameters");
          layers[l].w_state.push_back(static_cast<T*>(wa.mutable_data()));
          layers[l].b_state.push_back(static_cast<T*>(ba.mutable_data()));
          state_.push_back(wa);
          state_.push_back(ba);
        }
      }
#ifdef FASTMLP_WITH_CUDA
      if (gpu) {
        py::gil_scoped_release nogil;  // the upload of the data set can take a while
        return cuda::make_trainer<T>(std::move(layers), cmat<T>(x_), cmat<T>(y_), opt);
      }
#endif
      (void)gpu;
      return make_trainer<T>(std::move(layers), cmat<T>(x_), cmat<T>(y_), opt);
    });
    watched_ = list_watched();
  }

  // lr: one learning rate per step of the epoch (a schedule evaluated ahead by Python). snapshot: first
  // keep a copy of the weights, biases and optimizer state (restore_snapshot puts it back): fit's last
  // finite epoch. Returns (loss, step, what is non-finite after the epoch: -1 nothing, l < L weights
  // l, L + l biases l, 2L the optimizer state), so that fit's guard needs no pass of its own.
  py::tuple run_epoch(std::uint64_t epoch, py::handle lr_obj, std::int64_t step, bool snapshot) {
    if (snapshot) copy_watched(true);  // first, so that a call that fails below has still kept it
    py::array lr = input_array(lr_obj, "lr");
    if (lr.ndim() != 1 || lr.shape(0) != trainer_->steps_per_epoch() || dtype_of(lr, "lr") != DType::f64)
      value_error("lr must be a float64 array with one rate per step (" + std::to_string(trainer_->steps_per_epoch()) +
                  ")");
    const double* rates = static_cast<const double*>(lr.data());
    for (index_t s = 0; s < lr.shape(0); ++s)
      if (!(rates[s] >= 0.0) || !std::isfinite(rates[s]))
        value_error("every learning rate of a schedule must be finite and >= 0");
    double loss;
    long bad;
    step_ = step;
    {
      py::gil_scoped_release nogil;
      loss = trainer_->run_epoch(epoch, rates, step_);  // advances step_ per completed step, even if it throws
      bad = first_nonfinite();
    }
    return py::make_tuple(loss, step_, bad);
  }

  // Puts back what the last run_epoch(snapshot=True) kept.
  void restore_snapshot() {
    if (snapshot_.empty()) value_error("restore_snapshot: no snapshot was taken");
    copy_watched(false);
  }

  index_t steps_per_epoch() const { return trainer_->steps_per_epoch(); }
  // Data parallel: the last epoch's loss summed over this process's rows, and their count.
  double epoch_loss_sum() const { return trainer_->epoch_loss_sum(); }
  index_t epoch_rows() const { return trainer_->epoch_rows(); }

  // The optimizer's step count after the last run_epoch: after an interrupted one, the steps it completed.
  std::int64_t step() const { return step_; }
  // max |x| over the training data, for output_bound.
  double x_max() const { return x_max_; }
  std::size_t allocated_bytes() const { return trainer_->allocated_bytes(); }
  std::string path() const { return trainer_->path(); }
  std::string path_reason() const { return trainer_->path_reason(); }

 private:
  // The per-step reduce: the Python callable (an mpi4py all-reduce) gets a NumPy view of the trainer's
  // flat gradient buffer, made once (the buffer never moves), and sums it in place.
  void call_reduce(void* data, std::size_t count) {
    py::gil_scoped_acquire gil;
    if (data != reduce_data_) {
      const py::dtype dt = net_.dtype == DType::f32 ? py::dtype::of<float>() : py::dtype::of<double>();
      reduce_view_ = py::array(dt, {py::ssize_t(count)}, {py::ssize_t(dt.itemsize())}, data,
                               py::capsule(data, [](void*) {}));  // a view: the trainer owns the memory
      reduce_data_ = data;
    }
    reduce_(reduce_view_);
  }

  // The arrays fit's guard watches, in its order: weights, biases, then the optimizer state. Listed
  // once, by the constructor: the trainer holds them for its life, so they never move.
  std::vector<std::pair<void*, std::size_t>> list_watched() const {
    std::vector<std::pair<void*, std::size_t>> out;
    const std::size_t item = net_.dtype == DType::f32 ? sizeof(float) : sizeof(double);
    for (size_t l = 0; l < net_.w.size(); ++l)
      out.emplace_back(net_.w[l], std::size_t(net_.in[l] * net_.out[l]) * item);
    for (size_t l = 0; l < net_.b.size(); ++l) out.emplace_back(net_.b[l], std::size_t(net_.out[l]) * item);
    for (const py::array& a : state_) out.emplace_back(const_cast<void*>(a.data()), std::size_t(a.nbytes()));
    return out;
  }

  void copy_watched(bool keep) {
    const auto& arrays = watched_;
    std::size_t total = 0;
    for (const auto& a : arrays) total += a.second;
    if (keep && snapshot_.size() != total) snapshot_.assign(total, 0);
    unsigned char* at = snapshot_.data();
    for (const auto& a : arrays) {
      if (a.second > 0) {
        if (keep)
          std::memcpy(at, a.first, a.second);
        else
          std::memcpy(a.first, at, a.second);
      }
      at += a.second;
    }
  }

  long first_nonfinite() const {
    const auto& arrays = watched_;
    const long L = long(net_.w.size());
    for (size_t i = 0; i < arrays.size(); ++i) {
      const bool ok = dispatch(net_.dtype, [&](auto t) {
        using T = decltype(t);
        return all_finite(static_cast<const T*>(arrays[i].first), index_t(arrays[i].second / sizeof(T)));
      });
      if (!ok) return long(i) < 2 * L ? long(i) : 2 * L;
    }
    return -1;
  }

  Network net_;
  std::vector<unsigned char, ReusedAllocator<unsigned char>> snapshot_;  // run_epoch(snapshot=True)'s copy
  LossArg loss_;  // the trainer's LossSpec points into its class weights
  py::array x_, y_;
  py::object reduce_ = py::none();
  py::array reduce_view_;
  void* reduce_data_ = nullptr;
  std::vector<py::array> state_;
  std::vector<std::pair<void*, std::size_t>> watched_;  // list_watched()
  std::unique_ptr<TrainerBase> trainer_;
  std::int64_t step_ = 0;
  double x_max_ = 0.0;
};

// The layers' shapes from [in, hidden..., out], and from their activations (one per layer) which of
// them training keeps z for.
std::vector<LayerShape> layer_shapes(const std::vector<index_t>& sizes, const std::vector<std::string>& activations) {
  if (sizes.size() < 2) value_error("sizes must list at least the input and output widths");
  for (index_t s : sizes)
    if (s < 1) value_error("every layer size must be >= 1");
  if (activations.size() + 1 != sizes.size())
    value_error("activations must name one activation per layer (" + std::to_string(sizes.size() - 1) + "), got " +
                std::to_string(activations.size()));
  std::vector<LayerShape> layers;
  for (size_t l = 0; l + 1 < sizes.size(); ++l)
    layers.push_back({sizes[l], sizes[l + 1], activation_needs_z(activation_spec(activations[l], 0.01).kind)});
  return layers;
}

// The options a trainer of a network with `outputs` outputs runs with: options' own, with its loss
// parsed against the outputs (the targets' layout: class labels, a sample weight column).
TrainOptions planned_options(const PyTrainOptions& options, const std::vector<LayerShape>& layers) {
  const index_t outputs = layers.back().out;
  TrainOptions opt = options.opt;
  check_dropout_layers(opt, layers.size());
  LossArg loss;
  parse_loss_arg(options.loss, outputs, loss);
  opt.loss = loss.spec;
  return opt;
}

// The bytes a trainer of these layers allocates for n rows (this process's) under `options`: its buffer
// plan (fastmlp/buffer_plan.h), the same one the trainer allocates from. Host memory on the CPU; device
// memory on CUDA, where the parameters, the optimizer state and the data set are copied too.
std::size_t trainer_bytes_py(const std::vector<index_t>& sizes, const std::string& dtype,
                             const std::vector<std::string>& activations, index_t n, const PyTrainOptions& options) {
  const std::size_t item = parse_dtype(dtype) == DType::f32 ? sizeof(float) : sizeof(double);
  const std::vector<LayerShape> layers = layer_shapes(sizes, activations);
  const TrainOptions opt = planned_options(options, layers);
  const index_t global_rows = opt.global_rows;
  if (n < (global_rows > 0 ? 0 : 1)) value_error("n must be >= 1, got " + std::to_string(n));
  if (global_rows < 0 || (global_rows > 0 && global_rows < n))
    value_error("global_rows must be 0 (one process) or at least n, got " + std::to_string(global_rows));
  try {  // the counts throw past 2^64 bytes rather than wrap
#ifdef FASTMLP_WITH_CUDA
    if (options.gpu) return cuda::trainer_bytes(layers, item, n, optimizer_state_count(opt.optimizer), opt);
#endif
    return trainer_bytes(layers, item, n, opt);
  } catch (const std::overflow_error& e) {
    value_error(e.what());
  }
}

// Which CUDA path a fit of these layer sizes and options takes (fastmlp/fused_plan.h): (rows per block
// tile, reason); rows 0 means the GEMM path, for the reason given. shared_limit: the shared memory per
// block to plan for (bytes), or -1 for the CUDA device's own (a CUDA build with a device only).
py::tuple fused_plan_py(const std::vector<index_t>& sizes, const std::string& dtype,
                        const std::vector<std::string>& activations, const PyTrainOptions& options,
                        long long shared_limit) {
  const std::vector<LayerShape> layers = layer_shapes(sizes, activations);
  const TrainOptions opt = planned_options(options, layers);
  if (shared_limit < 0) {
    use_cuda("cuda");  // raises without a usable device
#ifdef FASTMLP_WITH_CUDA
    shared_limit = static_cast<long long>(cuda::fused_shared_limit());
#endif
  }
  const std::size_t item = parse_dtype(dtype) == DType::f32 ? sizeof(float) : sizeof(double);
  const FusedPlan plan = fused_plan(layers, item, opt, std::size_t(shared_limit));
  return py::make_tuple(plan.rows, std::string(plan.reason));
}

// The steps of an epoch of n rows (fastmlp/epoch_plan.h), as every trainer counts them: Python's fit
// asks it before a trainer exists (lr_scaling's warmup is counted in steps).
index_t epoch_steps_py(index_t n, index_t batch_size, bool drop_last) {
  if (n < 0) value_error("n must be >= 0, got " + std::to_string(n));
  if (batch_size < 0)
    value_error("batch_size must be >= 1 (or 0 for the full batch), got " + std::to_string(batch_size));
  return epoch_plan(n, batch_size, drop_last).steps;
}

std::size_t cuda_gemm_scratch_bytes(const std::string& dtype) {
  use_cuda("cuda");  // raises in a build without CUDA
  const std::size_t item = parse_dtype(dtype) == DType::f32 ? sizeof(float) : sizeof(double);
#ifdef FASTMLP_WITH_CUDA
  return cuda::gemm_scratch_bytes(item);
#else
  (void)item;
  return 0;
#endif
}

}  // namespace

void bind_trainer(py::module_& m) {
  py::class_<PyTrainOptions>(m, "TrainOptions")
      .def(py::init(&train_options), py::kw_only(), py::arg("loss"), py::arg("optimizer"), py::arg("batch_size") = 0,
           py::arg("shuffle") = true, py::arg("drop_last") = false, py::arg("seed") = 0,
           py::arg("clip_grad_norm") = 0.0, py::arg("clip_grad_value") = 0.0, py::arg("device") = "cpu",
           py::arg("l2") = 0.0, py::arg("global_rows") = 0, py::arg("row_offset") = 0, py::arg("reduce") = py::none(),
           py::arg("dropout") = std::vector<double>())
      .def_readonly("loss", &PyTrainOptions::loss)
      .def_readonly("optimizer", &PyTrainOptions::optimizer)
      .def_property_readonly("batch_size", [](const PyTrainOptions& o) { return o.opt.batch_size; })
      .def_property_readonly("shuffle", [](const PyTrainOptions& o) { return o.opt.shuffle; })
      .def_property_readonly("drop_last", [](const PyTrainOptions& o) { return o.opt.drop_last; })
      .def_property_readonly("seed", [](const PyTrainOptions& o) { return o.opt.seed; })
      .def_property_readonly("clip_grad_norm", [](const PyTrainOptions& o) { return o.opt.clip_grad_norm; })
      .def_property_readonly("clip_grad_value", [](const PyTrainOptions& o) { return o.opt.clip_grad_value; })
      .def_readonly("device", &PyTrainOptions::device)
      .def_property_readonly("l2", [](const PyTrainOptions& o) { return o.opt.l2; })
      .def_property_readonly("global_rows", [](const PyTrainOptions& o) { return o.opt.global_rows; })
      .def_property_readonly("row_offset", [](const PyTrainOptions& o) { return o.opt.row_offset; })
      .def_readonly("reduce", &PyTrainOptions::reduce)
      .def_property_readonly("dropout", [](const PyTrainOptions& o) { return o.opt.dropout; });
  py::class_<PyTrainer>(m, "Trainer")
      .def(py::init<const py::list&, const py::list&, const std::vector<std::string>&, double, const py::list&,
                    const py::list&, py::handle, py::handle, const PyTrainOptions&>(),
           py::arg("weights"), py::arg("biases"), py::arg("activations"), py::arg("negative_slope"),
           py::arg("w_states"), py::arg("b_states"), py::arg("x"), py::arg("y"), py::arg("options"))
      .def("run_epoch", &PyTrainer::run_epoch, py::arg("epoch"), py::arg("lr"), py::arg("step"),
           py::arg("snapshot") = false)
      .def("restore_snapshot", &PyTrainer::restore_snapshot)
      .def_property_readonly("steps_per_epoch", &PyTrainer::steps_per_epoch)
      .def_property_readonly("step", &PyTrainer::step)
      .def_property_readonly("epoch_loss_sum", &PyTrainer::epoch_loss_sum)
      .def_property_readonly("epoch_rows", &PyTrainer::epoch_rows)
      .def_property_readonly("x_max", &PyTrainer::x_max)
      .def_property_readonly("allocated_bytes", &PyTrainer::allocated_bytes)
      .def_property_readonly("path", &PyTrainer::path)
      .def_property_readonly("path_reason", &PyTrainer::path_reason);
  m.def("trainer_bytes", &trainer_bytes_py, py::arg("sizes"), py::arg("dtype"), py::arg("activations"), py::arg("n"),
        py::arg("options"));
  m.def("epoch_steps", &epoch_steps_py, py::arg("n"), py::arg("batch_size"), py::arg("drop_last"));
  m.def("cuda_gemm_scratch_bytes", &cuda_gemm_scratch_bytes, py::arg("dtype"));
  m.def("fused_plan", &fused_plan_py, py::arg("sizes"), py::arg("dtype"), py::arg("activations"), py::arg("options"),
        py::arg("shared_limit") = -1);
  m.def(
      "workspace_cache_bytes", [] { return BlockCache::kept_bytes(); },
      "bytes of freed trainer workspaces kept for the next trainer (fastmlp/block_cache.h)");
}

}  // namespace fastmlp::bindings
