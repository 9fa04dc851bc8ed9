// fastmlp._core's kernel functions: GEMM, the dense layer, activations, losses, initializers and the
// optimizer updates, the shuffle and the raw Philox stream, one call each, on the CPU or (device="cuda") on the GPU.
#include <array>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "bindings/common.h"
#include "cpu/small_net.h"
#include "fastmlp/rng.h"

namespace fastmlp::bindings {
namespace {

// ---- GEMM and the dense layer ----------------------------------------------------------------------
py::array matmul(py::handle a_obj, py::handle b_obj, bool trans_a, bool trans_b, const std::string& device) {
  const bool gpu = use_cuda(device);
  py::array a = finite_input(a_obj, "a"), b = finite_input(b_obj, "b");
  check_ndim(a, "a", 2, "(rows, cols)");
  check_ndim(b, "b", 2, "(rows, cols)");
  check_same_dtype(b, "b", a, "a");
  const index_t m = trans_a ? a.shape(1) : a.shape(0), k = trans_a ? a.shape(0) : a.shape(1);
  const index_t kb = trans_b ? b.shape(1) : b.shape(0), n = trans_b ? b.shape(0) : b.shape(1);
  if (k != kb)
    value_error("inner dimensions differ: op(a) is " + std::to_string(m) + " x " + std::to_string(k) +
                " but op(b) is " + std::to_string(kb) + " x " + std::to_string(n));
  return dispatch(dtype_of(a, "a"), [&](auto t) -> py::array {
    using T = decltype(t);
    auto c = empty2<T>(m, n);
    T* cp = c.mutable_data();
    const T *ap = static_cast<const T*>(a.data()), *bp = static_cast<const T*>(b.data());
    const index_t lda = a.shape(1), ldb = b.shape(1);
    py::gil_scoped_release nogil;
#ifdef FASTMLP_WITH_CUDA
    if (gpu) {
      cuda::matmul<T>(trans_a, trans_b, m, n, k, ap, lda, bp, ldb, cp);
      return c;
    }
#endif
    (void)gpu;
    gemm<T>(trans_a, trans_b, m, n, k, T(1), ap, lda, bp, ldb, T(0), cp, n);
    return c;
  });
}

// x (n, k), w (k, m), b (m,): the shapes every dense call checks.
void check_dense_shapes(const py::array& x, const py::array& w) {
  check_ndim(x, "x", 2, "(n, in)");
  check_ndim(w, "w", 2, "(in, out)");
  check_same_dtype(w, "w", x, "x");
  if (x.shape(1) != w.shape(0))
    value_error("x has " + std::to_string(x.shape(1)) + " features (shape " + shape_str(x) + ") but w expects " +
                std::to_string(w.shape(0)) + " (shape " + shape_str(w) + "); weights are (in, out)");
}

py::array dense_forward_py(py::handle x_obj, py::handle w_obj, py::handle b_obj, const std::string& act,
                           double negative_slope, const std::string& device) {
  const bool gpu = use_cuda(device);
  py::array x = finite_input(x_obj, "x"), w = finite_input(w_obj, "w"), b = finite_input(b_obj, "b");
  check_dense_shapes(x, w);
  check_ndim(b, "b", 1, "(out,)");
  check_same_dtype(b, "b", x, "x");
  if (b.shape(0) != w.shape(1))
    value_error("b has shape " + shape_str(b) + " but w has " + std::to_string(w.shape(1)) + " outputs");
  const ActivationSpec spec = activation_spec(act, negative_slope);
  return dispatch(dtype_of(x, "x"), [&](auto t) -> py::array {
    using T = decltype(t);
    auto y = empty2<T>(x.shape(0), w.shape(1));
    Matrix<T> ym = mmat<T>(y);
    py::gil_scoped_release nogil;
    on_device(gpu, dense_forward<T>)(cmat<T>(x), cmat<T>(w), static_cast<const T*>(b.data()), spec, ym);
    return y;
  });
}

// The derivative is read off y, the forward output, or for the activations that need it
// (activation_needs_z) computed from z = x w + b, which the caller then passes instead.
py::tuple dense_backward_py(py::handle x_obj, py::handle w_obj, py::handle gy_obj, const std::string& act,
                            py::handle y_obj, double negative_slope, const std::string& device, py::handle z_obj) {
  const bool gpu = use_cuda(device);
  py::array x = finite_input(x_obj, "x"), w = finite_input(w_obj, "w"), gy = finite_input(gy_obj, "grad_y");
  check_dense_shapes(x, w);
  check_ndim(gy, "grad_y", 2, "(n, out)");
  check_same_dtype(gy, "grad_y", x, "x");
  if (gy.shape(0) != x.shape(0) || gy.shape(1) != w.shape(1))
    value_error("grad_y has shape " + shape_str(gy) + "; expected (" + std::to_string(x.shape(0)) + ", " +
                std::to_string(w.shape(1)) + ") = (n of x, out of w)");
  const ActivationSpec spec = activation_spec(act, negative_slope);
  py::array y;
  if (spec.kind != Activation::identity) {
    const bool needs_z = activation_needs_z(spec.kind);
    const char* what = needs_z ? "z" : "y";
    if ((needs_z ? z_obj : y_obj).is_none())
      value_error(needs_z ? "activation '" + act +
                                "' needs z, the pre-activation x @ w + b, to compute its "
                                "derivative (it cannot be read off the output y): pass z="
                          : "activation '" + act + "' needs y, the forward output, to compute its derivative");
    y = finite_input(needs_z ? z_obj : y_obj, what);
    check_same_dtype(y, what, x, "x");
    if (y.ndim() != 2 || y.shape(0) != gy.shape(0) || y.shape(1) != gy.shape(1))
      value_error(std::string(what) + " has shape " + shape_str(y) + "; expected the shape of grad_y " + shape_str(gy));
  }
  return dispatch(dtype_of(x, "x"), [&](auto t) -> py::tuple {
    using T = decltype(t);
    const index_t n = x.shape(0), k = x.shape(1), m = w.shape(1);
    auto gz = empty2<T>(n, m);  // a copy: the kernel turns grad_y into grad_z in place
    std::copy_n(static_cast<const T*>(gy.data()), n * m, gz.mutable_data());
    auto gx = empty2<T>(n, k);
    auto gw = empty2<T>(k, m);
    py::array_t<T> gb({py::ssize_t(m)});
    Matrix<const T> ym = y ? cmat<T>(y) : Matrix<const T>();
    Matrix<T> gzm = mmat<T>(gz), gxm = mmat<T>(gx), gwm = mmat<T>(gw);
    T* gbp = gb.mutable_data();
    {
      py::gil_scoped_release nogil;
      on_device(gpu, dense_backward<T>)(cmat<T>(x), cmat<T>(w), ym, spec, gzm, gxm, gwm, gbp);
    }
    return py::make_tuple(gx, gw, gb);
  });
}

// The small path's dense layer (csrc/cpu/small_net.h) on its own, for its tests against the reference:
// z = x w + b and, from grad_z, (grad_x, grad_w, grad_b). No activation: the trainer applies it with
// activation_forward and activation_backward_saved, which have their own tests.
py::tuple small_dense_py(py::handle x_obj, py::handle w_obj, py::handle b_obj, py::handle gz_obj) {
  py::array x = finite_input(x_obj, "x"), w = finite_input(w_obj, "w"), b = finite_input(b_obj, "b"),
            gz = finite_input(gz_obj, "grad_z");
  check_dense_shapes(x, w);
  check_ndim(b, "b", 1, "(out,)");
  check_ndim(gz, "grad_z", 2, "(n, out)");
  check_same_dtype(b, "b", x, "x");
  check_same_dtype(gz, "grad_z", x, "x");
  if (b.shape(0) != w.shape(1))
    value_error("b has shape " + shape_str(b) + " but w has " + std::to_string(w.shape(1)) + " outputs");
  if (gz.shape(0) != x.shape(0) || gz.shape(1) != w.shape(1))
    value_error("grad_z has shape " + shape_str(gz) + "; expected (n of x, out of w)");
  if (w.shape(0) < 1 || w.shape(1) < 1 || w.shape(0) > small::kSmallWidth || w.shape(1) > small::kSmallWidth)
    value_error("the small path's layers are 1 to " + std::to_string(small::kSmallWidth) + " wide; w has shape " +
                shape_str(w));
  return dispatch(dtype_of(x, "x"), [&](auto t) -> py::tuple {
    using T = decltype(t);
    const index_t n = x.shape(0), k = x.shape(1), m = w.shape(1);
    auto z = empty2<T>(n, m);
    auto gx = empty2<T>(n, k);
    auto gw = empty2<T>(k, m);
    py::array_t<T> gb({py::ssize_t(m)});
    const T* xp = static_cast<const T*>(x.data());
    const T* wp = static_cast<const T*>(w.data());
    T *zp = z.mutable_data(), *gxp = gx.mutable_data(), *gwp = gw.mutable_data(), *gbp = gb.mutable_data();
    {
      py::gil_scoped_release nogil;
      small::dense_forward<T>(n, k, m, xp, k, wp, static_cast<const T*>(b.data()), zp);
      small::dense_backward<T>(n, k, m, xp, k, wp, static_cast<const T*>(gz.data()), gwp, gbp, gxp);
    }
    return py::make_tuple(z, gx, gw, gb);
  });
}

// ---- activations and losses ------------------------------------------------------------------------
// A new array of x's shape and dtype, filled by f(x's elements, the new ones, count) with the GIL
// released: the shape of every elementwise kernel call.
template <class F>
py::array map_elements(const py::array& x, const char* name, F&& f) {
  return dispatch(dtype_of(x, name), [&](auto t) -> py::array {
    using T = decltype(t);
    py::array_t<T> y(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    const T* xp = static_cast<const T*>(x.data());
    T* yp = y.mutable_data();
    const index_t count = x.size();
    py::gil_scoped_release nogil;
    f(xp, yp, count);
    return y;
  });
}

// fastmlp/vec_math.h's functions over any float array (NaN and Inf included: their handling is part of
// what the tests check), into a new array of its shape and dtype.
py::array vector_function_py(const std::string& name, py::handle x_obj) {
  static const std::pair<const char*, VectorFunction> names[] = {
      {"exp", VectorFunction::exp},   {"expm1", VectorFunction::expm1},       {"log1p", VectorFunction::log1p},
      {"tanh", VectorFunction::tanh}, {"logistic", VectorFunction::logistic}, {"erf", VectorFunction::erf}};
  const VectorFunction* f = nullptr;
  std::string known;
  for (const auto& n : names) {
    if (name == n.first) f = &n.second;
    known += std::string(known.empty() ? "" : ", ") + n.first;
  }
  if (!f) value_error("unknown function '" + name + "'; expected one of: " + known);
  py::array x = input_array(x_obj, "x");
  return map_elements(x, "x", [&](auto* xp, auto* yp, index_t count) {
    using T = std::remove_pointer_t<decltype(yp)>;
    vector_function<T>(*f, xp, yp, count);
  });
}

py::array activation_forward_py(const std::string& act, py::handle z_obj, double negative_slope,
                                const std::string& device) {
  const bool gpu = use_cuda(device);
  const ActivationSpec spec = activation_spec(act, negative_slope);
  py::array z = finite_input(z_obj, "z");
  return map_elements(z, "z", [&](auto* zp, auto* ap, index_t count) {
    using T = std::remove_pointer_t<decltype(ap)>;
    on_device(gpu, activation_forward<T>)(spec, zp, ap, count);
  });
}

py::array activation_backward_py(const std::string& act, py::handle z_obj, py::handle ga_obj, double negative_slope,
                                 const std::string& device) {
  const bool gpu = use_cuda(device);
  const ActivationSpec spec = activation_spec(act, negative_slope);
  py::array z = finite_input(z_obj, "z"), ga = finite_input(ga_obj, "grad_a");
  check_same_dtype(ga, "grad_a", z, "z");
  if (shape_str(z) != shape_str(ga))
    value_error("grad_a has shape " + shape_str(ga) + " but z has " + shape_str(z) + "; they must match");
  return dispatch(dtype_of(z, "z"), [&](auto t) -> py::array {
    using T = decltype(t);
    py::array_t<T> gz(std::vector<py::ssize_t>(z.shape(), z.shape() + z.ndim()));
    const T *zp = static_cast<const T*>(z.data()), *gp = static_cast<const T*>(ga.data());
    T* out = gz.mutable_data();
    const index_t count = z.size();
    py::gil_scoped_release nogil;
    on_device(gpu, activation_backward<T>)(spec, zp, gp, out, count);
    return gz;
  });
}

// pred (n, m) (or any shape for an elementwise loss without labels or weights: then each element is a
// row of one) and target (n, target_columns) in pred's dtype, checked against the loss.
struct LossCall {
  LossArg arg;
  py::array p, t;
  index_t rows = 0, m = 0;
};

void loss_args(py::handle spec, py::handle p_obj, py::handle t_obj, LossCall& c) {
  c.p = finite_input(p_obj, "pred");
  c.t = finite_input(t_obj, "target");
  check_same_dtype(c.t, "target", c.p, "pred");
  if (c.p.size() == 0) value_error("pred and target are empty; the loss of no samples is undefined");
  const bool rowwise = c.p.ndim() == 2;
  c.m = rowwise ? c.p.shape(1) : 1;
  parse_loss_arg(spec, c.m, c.arg);
  const LossSpec& s = c.arg.spec;
  const bool flat = !s.labels && !s.weighted && s.kind != Loss::cross_entropy;
  if (flat) {  // elementwise: any shape, as long as pred and target agree
    if (shape_str(c.p) != shape_str(c.t))
      value_error("pred has shape " + shape_str(c.p) + " but target has " + shape_str(c.t) +
                  "; they must match (reshape target, e.g. target.reshape(-1, 1))");
    c.rows = c.p.size();
    c.m = 1;
  } else {
    if (!rowwise) value_error("pred must be 2-D (n, m) for this loss, got shape " + shape_str(c.p));
    c.rows = c.p.shape(0);
    const index_t cols = target_columns(s, c.m);
    if (c.t.ndim() != 2 || c.t.shape(0) != c.rows || c.t.shape(1) != cols)
      value_error("target has shape " + shape_str(c.t) + " but must be (" + std::to_string(c.rows) + ", " +
                  std::to_string(cols) + ")" + (s.labels ? ": one class index per row" : "") +
                  (s.weighted ? ", plus the sample weight as last column" : ""));
  }
  check_targets(s, c.t, c.m, "target");
}

double loss_py(py::handle spec, py::handle p_obj, py::handle t_obj, const std::string& reduction,
               const std::string& device) {
  const bool gpu = use_cuda(device);
  const Reduction red = parse_reduction(reduction);
  LossCall c;
  loss_args(spec, p_obj, t_obj, c);
  return dispatch(dtype_of(c.p, "pred"), [&](auto tag) -> double {
    using T = decltype(tag);
    Matrix<const T> pm(static_cast<const T*>(c.p.data()), c.rows, c.m);
    Matrix<const T> tm(static_cast<const T*>(c.t.data()), c.rows, target_columns(c.arg.spec, c.m));
    if (red == Reduction::mean && !(loss_denominator<T>(c.arg.spec, tm, c.m) > 0.0))
      value_error("the sample weights sum to 0: the mean of the loss is undefined");
    py::gil_scoped_release nogil;
    return on_device(gpu, loss_and_grad<T>)(c.arg.spec, red, pm, tm, nullptr);
  });
}

// check_targets(spec, target, outputs, name): the values of a target array laid out for the loss
// (fastmlp.targets) checked as the trainer checks them, for data it never sees (fit's validation rows)
// or before it does; the error names `name`.
void check_targets_py(py::handle spec, py::handle t_obj, index_t outputs, const std::string& name) {
  if (outputs < 1) value_error("outputs must be >= 1");
  LossArg arg;
  parse_loss_arg(spec, outputs, arg);
  py::array t = finite_input(t_obj, name.c_str());
  const index_t cols = target_columns(arg.spec, outputs);
  if (t.ndim() != 2 || t.shape(1) != cols)
    value_error(name + " has shape " + shape_str(t) + " but must be (n, " + std::to_string(cols) + ") for this loss");
  check_targets(arg.spec, t, outputs, name.c_str());
}

py::array loss_grad_py(py::handle spec, py::handle p_obj, py::handle t_obj, const std::string& reduction,
                       const std::string& device) {
  const bool gpu = use_cuda(device);
  const Reduction red = parse_reduction(reduction);
  LossCall c;
  loss_args(spec, p_obj, t_obj, c);
  return dispatch(dtype_of(c.p, "pred"), [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array_t<T> g(std::vector<py::ssize_t>(c.p.shape(), c.p.shape() + c.p.ndim()));
    Matrix<const T> pm(static_cast<const T*>(c.p.data()), c.rows, c.m);
    Matrix<const T> tm(static_cast<const T*>(c.t.data()), c.rows, target_columns(c.arg.spec, c.m));
    if (red == Reduction::mean && !(loss_denominator<T>(c.arg.spec, tm, c.m) > 0.0))
      value_error("the sample weights sum to 0: the mean of the loss is undefined");
    T* gp = g.mutable_data();
    py::gil_scoped_release nogil;
    on_device(gpu, loss_and_grad<T>)(c.arg.spec, red, pm, tm, gp);
    return g;
  });
}

// ---- initializers, shuffle, SGD --------------------------------------------------------------------
py::array init_py(const std::string& name, index_t fan_in, index_t fan_out, std::uint64_t seed,
                  std::vector<py::ssize_t> shape, const std::string& dtype, std::uint32_t stream, bool truncated,
                  double value, double low, double high, double mean, double std_, const std::string& device) {
  const bool gpu = use_cuda(device);
  InitSpec spec;
  spec.kind = parse_init(name);
  const DType dt = parse_dtype(dtype);
  if (fan_in < 1 || fan_out < 1)
    value_error("fan_in and fan_out must be >= 1, got " + std::to_string(fan_in) + " and " + std::to_string(fan_out));
  for (py::ssize_t s : shape)
    if (s < 0) value_error("shape must not have negative sizes");
  const bool normal_kind = spec.kind == Init::normal || spec.kind == Init::lecun_normal ||
                           spec.kind == Init::xavier_normal || spec.kind == Init::he_normal;
  if (truncated && !normal_kind) value_error("truncated=True applies to normal initializers only, not '" + name + "'");
  if (!std::isfinite(value)) value_error("value must be finite");
  if (!(std::isfinite(low) && std::isfinite(high) && low <= high))
    value_error("uniform needs finite low <= high, got low=" + std::to_string(low) + ", high=" + std::to_string(high));
  if (!(std::isfinite(mean) && std::isfinite(std_) && std_ >= 0.0))
    value_error("normal needs a finite mean and std >= 0, got std=" + std::to_string(std_));
  spec.truncated = truncated;
  spec.value = value;
  spec.low = low;
  spec.high = high;
  spec.mean = mean;
  spec.std = std_;
  return dispatch(dt, [&](auto t) -> py::array {
    using T = decltype(t);
    py::array_t<T> out(shape);
    T* p = out.mutable_data();
    const index_t count = out.size();
    py::gil_scoped_release nogil;
    on_device(gpu, init_fill<T>)(spec, fan_in, fan_out, seed, stream, p, count);
    return out;
  });
}

py::array permutation_py(index_t n, std::uint64_t seed, std::uint64_t epoch) {
  if (n < 0) value_error("n must be >= 0, got " + std::to_string(n));
  py::array_t<std::int64_t> out({py::ssize_t(n)});
  std::int64_t* p = out.mutable_data();
  py::gil_scoped_release nogil;
  permutation(seed, epoch, p, n);
  return out;
}

// lr is fastmlp.ops.sgd_update's to check (fastmlp.optim's table of constraints).
void sgd_update_py(py::handle param_obj, py::handle grad_obj, double lr, const std::string& device) {
  const bool gpu = use_cuda(device);
  py::array p = output_array(param_obj, "param");
  check_finite(p, "param");
  py::array g = finite_input(grad_obj, "grad");
  check_same_dtype(g, "grad", p, "param");
  if (shape_str(p) != shape_str(g)) value_error("grad has shape " + shape_str(g) + " but param has " + shape_str(p));
  OptimizerSpec spec;
  spec.lr = lr;
  dispatch(dtype_of(p, "param"), [&](auto t) {
    using T = decltype(t);
    T* pp = static_cast<T*>(p.mutable_data());
    const T* gp = static_cast<const T*>(g.data());
    const index_t count = p.size();
    py::gil_scoped_release nogil;
    on_device(gpu, optimizer_step<T>)(spec, lr, 1, pp, gp, nullptr, count);
    return 0;
  });
}

// The keys of a config dict that an optimizer reads, in its header's order: "lr, momentum, ...".
template <class O>
std::string hyperparameter_keys() {
  std::string keys;
  for (const Hyperparameter& h : O::hyperparameters) keys += (keys.empty() ? "" : ", ") + std::string(h.key);
  return keys;
}

}  // namespace

// An optimizer's configuration as fastmlp.optim's config() gives it: {"name": ..., hyperparameters},
// read through the fields its header declares (a key it does not read is refused rather than
// ignored). The values are fastmlp.optim's to validate, from its one table of constraints; what is
// checked here keeps the kernels in bounds: a known name, and a state layout they can hold.
OptimizerSpec optimizer_spec(const py::dict& d) {
  OptimizerSpec s;
  if (!d.contains("name")) value_error("an optimizer config needs its 'name'");
  s.kind = parse_optimizer(py::str(d["name"]));
  dispatch_optimizer(s.kind, [&](auto opt) {
    using O = decltype(opt);
    for (auto item : d) {
      const std::string key = py::str(item.first);
      if (key == "name") continue;
      const Hyperparameter* field = nullptr;
      for (const Hyperparameter& h : O::hyperparameters)
        if (key == h.key) field = &h;
      if (!field)
        value_error("optimizer '" + std::string(O::name) + "' has no hyperparameter '" + key +
                    "'; it takes: " + hyperparameter_keys<O>());
      if (field->flag) {
        s.*(field->flag) = item.second.cast<bool>();
      } else if (field->second) {
        const auto both = item.second.cast<std::pair<double, double>>();
        s.*(field->number) = both.first;
        s.*(field->second) = both.second;
      } else {
        s.*(field->number) = item.second.cast<double>();
      }
    }
  });
  if (optimizer_state_layout(s).count > kMaxOptimizerStates)
    value_error("this optimizer would keep more than " + std::to_string(kMaxOptimizerStates) +
                " state buffers per parameter (raise kMaxOptimizerStates in fastmlp/optimizers/common.h)");
  return s;
}

namespace {

// Updates param in place with one optimizer step (state buffers in place too). step and lr are
// fastmlp.ops.optimizer_update's to check.
void optimizer_update_py(py::handle param_obj, py::handle grad_obj, const py::list& state, std::int64_t step, double lr,
                         const py::dict& config, const std::string& device) {
  const bool gpu = use_cuda(device);
  const OptimizerSpec spec = optimizer_spec(config);
  py::array p = output_array(param_obj, "param");
  check_finite(p, "param");
  py::array g = finite_input(grad_obj, "grad");
  check_same_dtype(g, "grad", p, "param");
  if (shape_str(p) != shape_str(g)) value_error("grad has shape " + shape_str(g) + " but param has " + shape_str(p));
  const int want = optimizer_state_count(spec);
  if (int(state.size()) != want)
    value_error("this optimizer keeps " + std::to_string(want) + " state buffers per parameter, got " +
                std::to_string(state.size()));
  std::vector<py::array> bufs;
  for (size_t i = 0; i < state.size(); ++i) {
    py::array b = output_array(state[i], "state");
    check_same_dtype(b, "state", p, "param");
    if (shape_str(b) != shape_str(p)) value_error("state buffers must have the parameter's shape " + shape_str(p));
    bufs.push_back(b);
  }
  dispatch(dtype_of(p, "param"), [&](auto t) {
    using T = decltype(t);
    std::vector<T*> ptrs;
    for (auto& b : bufs) ptrs.push_back(static_cast<T*>(b.mutable_data()));
    T* pp = static_cast<T*>(p.mutable_data());
    const T* gp = static_cast<const T*>(g.data());
    const index_t count = p.size();
    py::gil_scoped_release nogil;
    on_device(gpu, optimizer_step<T>)(spec, lr, step, pp, gp, ptrs.data(), count);
    return 0;
  });
}

// The state buffers a config's optimizer keeps per parameter: [(name, initial value)] in kernel order.
py::list optimizer_states_py(const py::dict& config) {
  const StateLayout layout = optimizer_state_layout(optimizer_spec(config));
  py::list out;
  for (int i = 0; i < layout.count; ++i) out.append(py::make_tuple(layout.names[i], layout.initial[i]));
  return out;
}

}  // namespace

// fastmlp._core.activation_table and loss_table: what the rest of fastmlp needs to know of each op.
// activation_table: canonical name -> {"doc", "params" {name: default}, "needs_z", "init",
// "onnx"}, in the enum's order; canonical_activation(text) spells an activation as the model stores it.
void bind_activation_table(py::module_& m) {
  py::dict table;
  for (const auto& t : activation_traits()) {
    py::dict entry, params;
    for (const auto& p : t.params) params[p.name] = p.fallback;
    for (const auto& named : kActivations)
      if (named.value == t.kind && !named.alias) entry["doc"] = named.doc;
    entry["params"] = params;
    entry["needs_z"] = activation_needs_z(t.kind);
    entry["init"] = t.init;
    entry["onnx"] = t.onnx;
    table[name_of(t.kind, kActivations)] = entry;
  }
  m.attr("activation_table") = table;
  m.def("canonical_activation", &canonical_activation, py::arg("name"));
  // The losses' table: canonical name -> {"doc", "head", "mean"}; head is the output function of a
  // classifier's logits (predict_proba, ONNX export), "" for a regression loss; mean is the inverse link
  // that turns a log-link loss's outputs into predictions (predict, ONNX export), "" for the others.
  py::dict losses;
  for (const auto& named : kLosses) {
    if (named.alias) continue;
    py::dict entry;
    entry["doc"] = named.doc;
    entry["head"] = loss_head(named.value);
    entry["mean"] = loss_mean(named.value);
    losses[named.name] = entry;
  }
  m.attr("loss_table") = losses;
}

void bind_kernels(py::module_& m) {
  m.def(
      "cuda_gemm_seconds",
      [](index_t n, int repeats) {
        use_cuda("cuda");  // raises in a build without CUDA or without a device
        if (n < 1 || repeats < 1) value_error("n and repeats must be >= 1");
#ifdef FASTMLP_WITH_CUDA
        py::gil_scoped_release nogil;
        return cuda::gemm_seconds(n, repeats);
#else
        return 0.0;
#endif
      },
      py::arg("n"), py::arg("repeats"), "median seconds of an n^3 float32 GEMM on device-resident operands");
  m.def("matmul", &matmul, py::arg("a"), py::arg("b"), py::arg("trans_a") = false, py::arg("trans_b") = false,
        py::arg("device") = "cpu");
  m.def("dense_forward", &dense_forward_py, py::arg("x"), py::arg("w"), py::arg("b"), py::arg("activation"),
        py::arg("negative_slope"), py::arg("device") = "cpu");
  m.def("dense_backward", &dense_backward_py, py::arg("x"), py::arg("w"), py::arg("grad_y"), py::arg("activation"),
        py::arg("y"), py::arg("negative_slope"), py::arg("device") = "cpu", py::arg("z") = py::none());
  m.def("small_dense", &small_dense_py, py::arg("x"), py::arg("w"), py::arg("b"), py::arg("grad_z"));
  m.def("vector_function", &vector_function_py, py::arg("name"), py::arg("x"));
  m.def("activation_forward", &activation_forward_py, py::arg("name"), py::arg("z"), py::arg("negative_slope"),
        py::arg("device") = "cpu");
  m.def("activation_backward", &activation_backward_py, py::arg("name"), py::arg("z"), py::arg("grad_a"),
        py::arg("negative_slope"), py::arg("device") = "cpu");
  m.def("loss", &loss_py, py::arg("spec"), py::arg("pred"), py::arg("target"), py::arg("reduction"),
        py::arg("device") = "cpu");
  m.def("check_targets", &check_targets_py, py::arg("spec"), py::arg("target"), py::arg("outputs"),
        py::arg("name") = "target");
  m.def("loss_grad", &loss_grad_py, py::arg("spec"), py::arg("pred"), py::arg("target"), py::arg("reduction"),
        py::arg("device") = "cpu");
  m.def("init", &init_py, py::arg("name"), py::arg("fan_in"), py::arg("fan_out"), py::arg("seed"), py::arg("shape"),
        py::arg("dtype"), py::arg("stream"), py::arg("truncated"), py::arg("value"), py::arg("low"), py::arg("high"),
        py::arg("mean"), py::arg("std"), py::arg("device") = "cpu");
  m.def(
      "philox4x32",
      [](std::array<std::uint32_t, 4> ctr, std::array<std::uint32_t, 2> key) {
        Philox4 r = philox4x32(Philox4{{ctr[0], ctr[1], ctr[2], ctr[3]}}, key[0], key[1]);
        return std::array<std::uint32_t, 4>{r.v[0], r.v[1], r.v[2], r.v[3]};
      },
      py::arg("counter"), py::arg("key"));
  m.def("permutation", &permutation_py, py::arg("n"), py::arg("seed"), py::arg("epoch"));
  m.def("sgd_update", &sgd_update_py, py::arg("param"), py::arg("grad"), py::arg("lr"), py::arg("device") = "cpu");
  m.def("optimizer_update", &optimizer_update_py, py::arg("param"), py::arg("grad"), py::arg("state"), py::arg("step"),
        py::arg("lr"), py::arg("config"), py::arg("device") = "cpu");
  m.def("optimizer_states", &optimizer_states_py, py::arg("config"),
        "the state buffers the config's optimizer keeps per parameter: [(name, initial value)], in kernel order");
  // The registry as Python reads it: each optimizer's hyperparameters (its config's keys, in its
  // header's order) and the most state buffers any may keep. Names and docs are in names["optimizer"].
  py::dict hyper;
  for_each_optimizer([&](Optimizer, auto opt) {
    py::list keys;
    for (const Hyperparameter& h : decltype(opt)::hyperparameters) keys.append(h.key);
    hyper[decltype(opt)::name] = keys;
  });
  m.attr("optimizer_hyperparameters") = hyper;
  m.attr("max_optimizer_states") = kMaxOptimizerStates;
  bind_activation_table(m);
}

}  // namespace fastmlp::bindings
