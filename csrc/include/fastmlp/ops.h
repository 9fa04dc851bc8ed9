// The operations both backends implement: GEMM, dense layer, activations, losses, initializers,
// optimizer updates and the whole-epoch training loop. Plain C++ types only: no pybind11 and no CUDA
// headers here, so the binding layer and the CUDA backend both include it as it is.
// Shapes use n (batch), k (inputs), m (outputs). Kernels trust their arguments: validation happens in
// csrc/bindings/ before any of these is called.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fastmlp/optimizers/list.h"
#include "fastmlp/tensor.h"

namespace fastmlp {

// ---- GEMM ------------------------------------------------------------------------------------------
// C (m x n) = alpha * op(A) op(B) + beta * C, row-major; op(A) is m x k. beta == 0 never reads C.
template <class T>
void gemm(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda, const T* b,
          index_t ldb, T beta, T* c, index_t ldc);
template <class T>
const char* gemm_isa();  // which microkernel runs: "avx512", "avx2" or "generic"

// ---- Activations -----------------------------------------------------------------------------------
// The formulas, and which derivatives need the pre-activation z, are in fastmlp/activation_math.h.
enum class Activation { identity, step, sigmoid, tanh, relu, leaky_relu, gelu, gelu_tanh, silu, elu, softplus, selu };

// An activation and its parameters, named as in torch.nn; each kind reads its own.
struct ActivationSpec {
  Activation kind = Activation::identity;
  double negative_slope = 0.01;  // leaky_relu; >= 0 so the derivative can be read off the output
  double alpha = 1.0;            // elu
  double beta = 1.0;             // softplus (> 0)
  double threshold = 20.0;       // softplus: linear where beta z > threshold
};

// C (m x n) = act(A B + bias), A (m x k) and B (k x n) row-major, bias (n,) added to every row: the
// dense layer's forward with bias and activation applied to each tile of C as the GEMM finishes it.
// The same bits as C = bias, gemm(beta = 1), then activation_forward on every row.
template <class T>
void gemm_bias_act(index_t m, index_t n, index_t k, const T* a, index_t lda, const T* b, index_t ldb, const T* bias,
                   ActivationSpec act, T* c, index_t ldc);

template <class T>
void activation_forward(ActivationSpec act, const T* z, T* a, index_t count);

// Whether no element of p[0..n) is NaN or +-Inf.
template <class T>
bool all_finite(const T* p, index_t n);
// grad_z = grad_a * act'(z). The unit step's derivative is taken as 0 everywhere (also at 0).
template <class T>
void activation_backward(ActivationSpec act, const T* z, const T* grad_a, T* grad_z, index_t count);
// The same derivative in place on grad, read off what training keeps of a layer (`saved`): the output
// a = act(z) where the derivative can be read off it (sigmoid' = a(1-a), tanh' = 1-a^2, relu' = [a > 0]),
// the pre-activation z where it cannot (GELU, SiLU, ELU, softplus, SELU: activation_needs_z).
template <class T>
void activation_backward_saved(ActivationSpec act, const T* saved, T* grad, index_t count);

// The CPU's own transcendental functions (fastmlp/vec_math.h), y[i] = f(x[i]), for their tests
// against the float64 reference: every value in, NaN and +-Inf included.
enum class VectorFunction { exp, expm1, log1p, tanh, logistic, erf };
template <class T>
void vector_function(VectorFunction f, const T* x, T* y, index_t count);

// ---- Dense layer -----------------------------------------------------------------------------------
// y = act(x w + b): x (n x k), w (k x m), b (m), y (n x m).
template <class T>
void dense_forward(Matrix<const T> x, Matrix<const T> w, const T* b, ActivationSpec act, Matrix<T> y);
// Backward of y = act(x w + b) given grad_y = dL/dy. grad_y is overwritten with dL/dz. `saved` is the
// forward output y, or the pre-activation z for an activation whose derivative needs it
// (activation_needs_z); it is read only when act is not the identity. grad_x may have data == nullptr
// (not wanted).
template <class T>
void dense_backward(Matrix<const T> x, Matrix<const T> w, Matrix<const T> saved, ActivationSpec act, Matrix<T> grad_y,
                    Matrix<T> grad_x, Matrix<T> grad_w, T* grad_b);

// ---- Losses ----------------------------------------------------------------------------------------
// Formulas and sources: cpu/loss.cpp's opening comment; the scalar forms are in fastmlp/loss_math.h.
enum class Loss { mse, mae, huber, poisson, cross_entropy, bce };
enum class Reduction { mean, sum };

// A loss and the layout of its targets. pred is n x m. target is n x m, except for cross_entropy with
// labels: n x 1 holding each row's class index (a float with an integer value in [0, m)). When
// weighted, target has one more column, last: the row's (sample) weight, >= 0.
struct LossSpec {
  Loss kind = Loss::mse;
  double delta = 1.0;                    // huber: where the quadratic turns linear (> 0)
  bool labels = false;                   // cross_entropy: targets are class indices, not one-hot/probability rows
  bool weighted = false;                 // target's last column is a per-row weight
  double factor = 1.0;                   // the loss (and its gradient) times this (scikit-learn's scalings)
  const double* class_weight = nullptr;  // cross_entropy: m per-class weights (host memory), or none
};

// Terms per row that a mean divides by: m for the elementwise losses, 1 for cross_entropy (a row's
// distribution is one term). The mean of a batch divides by this times its rows (or their weights' sum).
inline index_t loss_terms_per_row(const LossSpec& loss, index_t m) { return loss.kind == Loss::cross_entropy ? 1 : m; }

// The loss of pred against target summed over rows (each row's terms times its weight and
// loss.factor), and, unless grad is null, grad (n x m, packed) = scale * d(sum)/dpred. Sums run in
// double in one fixed order, so the value does not depend on the thread count.
template <class T>
double loss_sum_and_grad(const LossSpec& loss, Matrix<const T> pred, Matrix<const T> target, T* grad, double scale);
// The reduction's divisor for these targets: rows (or the sum of their weights) times terms per row.
template <class T>
double loss_denominator(const LossSpec& loss, Matrix<const T> target, index_t m);
// Loss (sum, or mean: the sum over loss_denominator) and, unless grad is null, its gradient.
template <class T>
double loss_and_grad(const LossSpec& loss, Reduction red, Matrix<const T> pred, Matrix<const T> target, T* grad);

// ---- Initializers ----------------------------------------------------------------------------------
enum class Init {
  zeros,
  ones,
  constant,
  uniform,
  normal,
  lecun_uniform,
  lecun_normal,
  xavier_uniform,
  xavier_normal,
  he_uniform,
  he_normal
};

struct InitSpec {
  Init kind = Init::zeros;
  double value = 0.0;            // constant
  double low = 0.0, high = 1.0;  // uniform
  double mean = 0.0, std = 1.0;  // normal
  bool truncated = false;        // normal kinds: redraw outside +-2 sigma (Keras' truncated normal)
};

// Fills out[0..count) for a tensor with the given fans; element i depends only on (seed, stream, i).
template <class T>
void init_fill(InitSpec spec, index_t fan_in, index_t fan_out, std::uint64_t seed, std::uint32_t stream, T* out,
               index_t count);

// Fisher-Yates permutation of 0..n-1 drawn from (seed, epoch): the order of one epoch.
void permutation(std::uint64_t seed, std::uint64_t epoch, std::int64_t* out, index_t n);

// ---- Optimizers ------------------------------------------------------------------------------------
// One header per optimizer in fastmlp/optimizers/ (its hyperparameters, state, coefficients and element
// update), listed once in fastmlp/optimizers/list.h, from which this enum is generated.
enum class Optimizer {
#define FASTMLP_OPTIMIZER_ENUM(id, Type) id,
  FASTMLP_OPTIMIZERS(FASTMLP_OPTIMIZER_ENUM)
#undef FASTMLP_OPTIMIZER_ENUM
};

// Hyperparameters of every optimizer, named as in torch.optim; each optimizer reads its own (the
// fields its header lists). fastmlp.optim validates them; the kernels take them as they are.
struct OptimizerSpec {
  Optimizer kind = Optimizer::sgd;
  double lr = 0.01;
  double weight_decay = 0.0;                      // all (AdamW: decoupled)
  double momentum = 0.0, dampening = 0.0;         // SGD; momentum also RMSprop
  bool nesterov = false;                          // SGD
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // the Adams (and Adamax); eps also RMSprop, Adagrad
  bool amsgrad = false;                           // Adam, AdamW
  double alpha = 0.99;                            // RMSprop smoothing constant
  bool centered = false;                          // RMSprop
  double lr_decay = 0.0;                          // Adagrad
  double initial_accumulator_value = 0.0;         // Adagrad
  double momentum_decay = 4e-3;                   // NAdam
  bool decoupled_weight_decay = false;            // NAdam, RAdam: AdamW's decay instead of the L2 term
};

// How many state buffers (each the size of the parameter) an optimizer keeps per parameter with these
// hyperparameters: its header's state(), e.g. SGD [momentum_buffer] when momentum != 0, Adam
// [exp_avg, exp_avg_sq] + [max_exp_avg_sq] when amsgrad.
int optimizer_state_count(const OptimizerSpec& spec);

// One fused step on a parameter. `state` holds optimizer_state_count(spec) buffers of `count`
// elements; `step` is the 1-based step number (the first step seeds the momentum buffer, as PyTorch).
template <class T>
void optimizer_step(const OptimizerSpec& spec, double lr, std::int64_t step, T* param, const T* grad, T* const* state,
                    index_t count);

// The per-step coefficients of an optimizer (bias corrections, 1 - beta, ...): computed once per step
// on the host and shared by the CPU loop and the CUDA kernels (fastmlp/optimizers/registry.h).
template <class T>
struct StepCoefficients;
template <class T>
StepCoefficients<T> step_coefficients(const OptimizerSpec& spec, double lr, std::int64_t step);
// optimizer_step with the step's coefficients computed once (step_coefficients), for a step that
// updates several parameters: the same bits.
template <class T>
void optimizer_apply(const OptimizerSpec& spec, const StepCoefficients<T>& c, T* param, const T* grad, T* const* state,
                     index_t count);

// ---- The network and its training loop -------------------------------------------------------------
template <class T>
struct LayerRef {
  T* w = nullptr;  // in x out
  T* b = nullptr;  // out
  index_t in = 0, out = 0;
  ActivationSpec act;
  std::vector<T*> w_state, b_state;  // optimizer state buffers, owned by the caller
};

struct TrainOptions {
  LossSpec loss;                 // y's layout follows it (labels, a weight column)
  double l2 = 0.0;               // > 0: scikit-learn's alpha, (l2 / 2) ||W||^2 / (batch weight) on weights only
  double clip_grad_norm = 0.0;   // > 0: scale all gradients so their global L2 norm is at most this
  double clip_grad_value = 0.0;  // > 0: clamp every gradient element to [-v, v]
  index_t batch_size = 0;        // 0: the whole data set (full-batch gradient descent)
  bool shuffle = true;
  bool drop_last = false;
  std::uint64_t seed = 0;
  OptimizerSpec optimizer;
  // Data parallel (fastmlp.distributed): this process holds rows [row_offset, row_offset + n) of a
  // data set of global_rows rows. Batches, the order and the gradient's scale are the global data
  // set's; each step computes the gradient of the rows it holds (maybe none) and calls `reduce` on one
  // flat buffer, every gradient followed by a status value (0: this process's step went well), which
  // must return the elementwise sum over all processes (an in-place all-reduce). global_rows = 0: one
  // process, no reduce.
  index_t global_rows = 0;
  index_t row_offset = 0;
  std::function<void(void* data, std::size_t count)> reduce;
  // Inverted dropout (fastmlp/dropout.h): dropout[l] is the probability, in [0, 1), that an output of
  // hidden layer l is zeroed in a training step; empty or all 0: none. One entry per hidden layer.
  std::vector<double> dropout;
};

// Forward over a whole data set in chunks: out (n x last width). Threads as set by set_num_threads.
template <class T>
void mlp_forward(const std::vector<LayerRef<T>>& layers, Matrix<const T> x, Matrix<T> out);

// Loss of the batch (mean reduction) and the gradient of every parameter, written into grads
// (grads[2l] is dL/dW_l, grads[2l+1] is dL/db_l).
template <class T>
double mlp_loss_grad(const std::vector<LayerRef<T>>& layers, const LossSpec& loss, Matrix<const T> x, Matrix<const T> y,
                     const std::vector<T*>& grads);

// One fit's worth of training state: workspaces are allocated in the constructor and reused by every
// epoch. x and y must outlive the trainer (the binding keeps their arrays alive).
class TrainerBase {
 public:
  virtual ~TrainerBase() = default;
  // Runs one epoch; step s of it uses learning rate lr[s] (steps_per_epoch() values: schedules are
  // evaluated ahead, so no Python runs between steps). Returns the sample-weighted mean of the batch
  // losses, each taken before its step's update. `step` is the optimizer's step count, advanced per batch.
  virtual double run_epoch(std::uint64_t epoch, const double* lr, std::int64_t& step) = 0;
  virtual index_t steps_per_epoch() const = 0;
  // The last epoch's loss summed over the rows this process ran, and their count (data parallel fits
  // add them up over all processes).
  double epoch_loss_sum() const { return epoch_loss_sum_; }
  index_t epoch_rows() const { return epoch_rows_; }
  // Bytes of the buffers the trainer itself holds (host memory on the CPU, device memory on CUDA),
  // counted from the buffers as allocated; trainer_bytes predicts it before anything is allocated.
  virtual std::size_t allocated_bytes() const = 0;
  // Which code runs the steps: on the CPU "cpu-small" (a small network's plain loops, each layer
  // updated right after its gradients) or "cpu-gemm" (the GEMM per layer), on CUDA "cuda-gemm" (per-layer
  // GEMMs) or "cuda-fused" (the fused narrow-MLP kernels, chosen by fastmlp/fused_plan.h); and why.
  virtual const char* path() const = 0;
  virtual std::string path_reason() const = 0;

 protected:
  double epoch_loss_sum_ = 0.0;
  index_t epoch_rows_ = 0;
};

// The shape of a dense layer, and whether training keeps its pre-activation z (activation_needs_z):
// all that a trainer's memory depends on.
struct LayerShape {
  index_t in = 0, out = 0;
  bool keeps_z = false;
};

// The bytes a CPU trainer for these layers, n samples and these options will hold
// (TrainerBase::allocated_bytes); item is the size of an element (4 or 8). The optimizer state and the
// parameters are the caller's arrays, not counted.
std::size_t trainer_bytes(const std::vector<LayerShape>& layers, std::size_t item, index_t n,
                          const TrainOptions& options);

template <class T>
std::unique_ptr<TrainerBase> make_trainer(std::vector<LayerRef<T>> layers, Matrix<const T> x, Matrix<const T> y,
                                          const TrainOptions& options);

}  // namespace fastmlp
