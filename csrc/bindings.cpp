// fastmlp._core: the only pybind11 file. Each function validates its arguments (validate.h), makes
// its outputs, releases the GIL and calls the plain C++ ops of ops.h. Python's fastmlp.ops wraps these
// with keyword defaults and docs; nothing here is meant to be called by users directly.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "fastmlp/ops.h"
#include "fastmlp/parallel.h"
#include "fastmlp/rng.h"
#include "validate.h"
#ifdef FASTMLP_WITH_CUDA
#include "fastmlp/cuda_ops.h"
#endif

namespace py = pybind11;
using namespace fastmlp;

namespace {

// Calls f(T{}) with T = float or double according to dt.
template <class F>
auto dispatch(DType dt, F&& f) {
  if (dt == DType::f32) return f(float{});
  return f(double{});
}

template <class T>
py::array_t<T> empty2(index_t rows, index_t cols) {
  return py::array_t<T>({py::ssize_t(rows), py::ssize_t(cols)});
}

void check_positive_scalar(double v, const char* name) {
  if (!(v > 0.0) || !std::isfinite(v))
    value_error(std::string(name) + " must be a finite number > 0, got " + std::to_string(v));
}

// ---- devices --------------------------------------------------------------------------------------
int cuda_device_count() {
#ifdef FASTMLP_WITH_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

// true for "cuda", false for "cpu"; "auto" is CUDA when it can be used. A RuntimeError that says why
// when CUDA is asked for and cannot be used.
bool use_cuda(const std::string& device) {
  if (device == "cpu") return false;
  if (device != "cuda" && device != "auto")
    value_error("device must be 'cpu', 'cuda' or 'auto', got '" + device + "'");
#ifndef FASTMLP_WITH_CUDA
  if (device == "auto") return false;
  throw std::runtime_error(
      "device='cuda' but this build of fastmlp has no CUDA kernels (no CUDA compiler was found when it was "
      "built, or FASTMLP_CUDA=OFF); reinstall with nvcc on PATH, or use device='cpu'");
#else
  const bool present = cuda::device_count() > 0;
  if (device == "auto") return present;
  if (!present)
    throw std::runtime_error("device='cuda' but no CUDA device is available (no GPU, or no driver); use device='cpu'");
  return true;
#endif
}


// The CPU kernel, or its CUDA twin (cuda_ops.h: same signature, host arrays) when gpu; `fn` names a
// template instance: on_device(gpu, dense_forward<T>)(args...).
#ifdef FASTMLP_WITH_CUDA
#define on_device(gpu, fn) ((gpu) ? &cuda::fn : &::fastmlp::fn)
#else
template <class F>
F* cpu_kernel(bool /*gpu: always false here, use_cuda refused it*/, F* f) {
  return f;
}
#define on_device(gpu, fn) cpu_kernel(gpu, &::fastmlp::fn)
#endif

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
    value_error("x has " + std::to_string(x.shape(1)) + " features (shape " + shape_str(x) +
                ") but w expects " + std::to_string(w.shape(0)) + " (shape " + shape_str(w) +
                "); weights are (in, out)");
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

py::tuple dense_backward_py(py::handle x_obj, py::handle w_obj, py::handle gy_obj, const std::string& act,
                            py::handle y_obj, double negative_slope, const std::string& device) {
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
    if (y_obj.is_none())
      value_error("activation '" + act + "' needs y, the forward output, to compute its derivative");
    y = finite_input(y_obj, "y");
    check_same_dtype(y, "y", x, "x");
    if (y.ndim() != 2 || y.shape(0) != gy.shape(0) || y.shape(1) != gy.shape(1))
      value_error("y has shape " + shape_str(y) + "; expected the shape of grad_y " + shape_str(gy));
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

// ---- activations and losses ------------------------------------------------------------------------
py::array activation_forward_py(const std::string& act, py::handle z_obj, double negative_slope,
                                const std::string& device) {
  const bool gpu = use_cuda(device);
  const ActivationSpec spec = activation_spec(act, negative_slope);
  py::array z = finite_input(z_obj, "z");
  return dispatch(dtype_of(z, "z"), [&](auto t) -> py::array {
    using T = decltype(t);
    py::array_t<T> a(std::vector<py::ssize_t>(z.shape(), z.shape() + z.ndim()));
    const T* zp = static_cast<const T*>(z.data());
    T* ap = a.mutable_data();
    const index_t count = z.size();
    py::gil_scoped_release nogil;
    on_device(gpu, activation_forward<T>)(spec, zp, ap, count);
    return a;
  });
}

py::array activation_backward_py(const std::string& act, py::handle z_obj, py::handle ga_obj,
                                 double negative_slope, const std::string& device) {
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

std::pair<py::array, py::array> loss_args(py::handle p_obj, py::handle t_obj) {
  py::array p = finite_input(p_obj, "pred"), t = finite_input(t_obj, "target");
  check_same_dtype(t, "target", p, "pred");
  if (shape_str(p) != shape_str(t))
    value_error("pred has shape " + shape_str(p) + " but target has " + shape_str(t) +
                "; they must match (reshape target, e.g. target.reshape(-1, 1))");
  if (p.size() == 0) value_error("pred and target are empty; the loss of no samples is undefined");
  return {p, t};
}

double loss_py(const std::string& name, py::handle p_obj, py::handle t_obj, const std::string& reduction,
               const std::string& device) {
  const bool gpu = use_cuda(device);
  const Loss loss = parse_loss(name);
  const Reduction red = parse_reduction(reduction);
  auto [p, t] = loss_args(p_obj, t_obj);
  return dispatch(dtype_of(p, "pred"), [&](auto tag) -> double {
    using T = decltype(tag);
    const T *pp = static_cast<const T*>(p.data()), *tp = static_cast<const T*>(t.data());
    const index_t count = p.size();
    py::gil_scoped_release nogil;
    return on_device(gpu, loss_value<T>)(loss, red, pp, tp, count);
  });
}

py::array loss_grad_py(const std::string& name, py::handle p_obj, py::handle t_obj,
                       const std::string& reduction, const std::string& device) {
  const bool gpu = use_cuda(device);
  const Loss loss = parse_loss(name);
  const Reduction red = parse_reduction(reduction);
  auto [p, t] = loss_args(p_obj, t_obj);
  return dispatch(dtype_of(p, "pred"), [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array_t<T> g(std::vector<py::ssize_t>(p.shape(), p.shape() + p.ndim()));
    const T *pp = static_cast<const T*>(p.data()), *tp = static_cast<const T*>(t.data());
    T* gp = g.mutable_data();
    const index_t count = p.size();
    py::gil_scoped_release nogil;
    on_device(gpu, loss_and_grad<T>)(loss, red, pp, tp, gp, count);
    return g;
  });
}

// ---- initializers, shuffle, SGD --------------------------------------------------------------------
py::array init_py(const std::string& name, index_t fan_in, index_t fan_out, std::uint64_t seed,
                  std::vector<py::ssize_t> shape, const std::string& dtype, std::uint32_t stream,
                  bool truncated, double value, double low, double high, double mean, double std_,
                  const std::string& device) {
  const bool gpu = use_cuda(device);
  InitSpec spec;
  spec.kind = parse_init(name);
  const DType dt = parse_dtype(dtype);
  if (fan_in < 1 || fan_out < 1)
    value_error("fan_in and fan_out must be >= 1, got " + std::to_string(fan_in) + " and " +
                std::to_string(fan_out));
  for (py::ssize_t s : shape)
    if (s < 0) value_error("shape must not have negative sizes");
  const bool normal_kind = spec.kind == Init::normal || spec.kind == Init::lecun_normal ||
                           spec.kind == Init::xavier_normal || spec.kind == Init::he_normal;
  if (truncated && !normal_kind)
    value_error("truncated=True applies to normal initializers only, not '" + name + "'");
  if (!std::isfinite(value)) value_error("value must be finite");
  if (!(std::isfinite(low) && std::isfinite(high) && low <= high))
    value_error("uniform needs finite low <= high, got low=" + std::to_string(low) +
                ", high=" + std::to_string(high));
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

void sgd_update_py(py::handle param_obj, py::handle grad_obj, double lr, const std::string& device) {
  const bool gpu = use_cuda(device);
  py::array p = output_array(param_obj, "param");
  check_finite(p, "param");
  py::array g = finite_input(grad_obj, "grad");
  check_same_dtype(g, "grad", p, "param");
  if (shape_str(p) != shape_str(g))
    value_error("grad has shape " + shape_str(g) + " but param has " + shape_str(p));
  check_positive_scalar(lr, "lr");
  OptimizerSpec spec;
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

// ---- networks --------------------------------------------------------------------------------------
// The parameters of an MLP as Python passes them: lists of W (in, out) and b (out,) arrays that the
// model owns, the activation names and the leaky slope. Checked once; kept alive by `keep`.
struct Network {
  DType dtype;
  std::vector<py::array> keep;
  std::vector<ActivationSpec> acts;
  std::vector<index_t> in, out;
  std::vector<void*> w, b;
};

Network network_args(const py::list& weights, const py::list& biases, const std::vector<std::string>& acts,
                     double negative_slope, bool writable) {
  const size_t L = weights.size();
  if (L == 0) value_error("a network needs at least one layer");
  if (biases.size() != L || acts.size() != L)
    value_error("weights, biases and activations must have one entry per layer");
  Network net;
  for (size_t l = 0; l < L; ++l) {
    const std::string wn = "weights[" + std::to_string(l) + "]", bn = "biases[" + std::to_string(l) + "]";
    py::array w = writable ? output_array(weights[l], wn.c_str()) : input_array(weights[l], wn.c_str());
    py::array b = writable ? output_array(biases[l], bn.c_str()) : input_array(biases[l], bn.c_str());
    check_finite(w, wn.c_str());
    check_finite(b, bn.c_str());
    check_ndim(w, wn.c_str(), 2, "(in, out)");
    check_ndim(b, bn.c_str(), 1, "(out,)");
    if (l == 0) net.dtype = dtype_of(w, wn.c_str());
    if (dtype_of(w, wn.c_str()) != net.dtype || dtype_of(b, bn.c_str()) != net.dtype)
      type_error("all weights and biases must share one dtype (" + wn + " or " + bn + " differs)");
    if (b.shape(0) != w.shape(1)) value_error(bn + " has shape " + shape_str(b) + " but " + wn + " has shape " + shape_str(w));
    if (l > 0 && w.shape(0) != net.out.back())
      value_error(wn + " takes " + std::to_string(w.shape(0)) + " inputs but layer " + std::to_string(l - 1) +
                  " gives " + std::to_string(net.out.back()));
    net.acts.push_back(activation_spec(acts[l], negative_slope));
    net.in.push_back(w.shape(0));
    net.out.push_back(w.shape(1));
    // Read-only callers (predict, evaluate, gradients) never write through these pointers, so a
    // read-only array (frozen by the user, or a memory map) is used as it is, without a copy.
    net.w.push_back(writable ? w.mutable_data() : const_cast<void*>(w.data()));
    net.b.push_back(writable ? b.mutable_data() : const_cast<void*>(b.data()));
    net.keep.push_back(w);
    net.keep.push_back(b);
  }
  return net;
}

template <class T>
std::vector<LayerRef<T>> layer_refs(const Network& net) {
  std::vector<LayerRef<T>> layers(net.w.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    layers[l].w = static_cast<T*>(net.w[l]);
    layers[l].b = static_cast<T*>(net.b[l]);
    layers[l].in = net.in[l];
    layers[l].out = net.out[l];
    layers[l].act = net.acts[l];
  }
  return layers;
}

// The data of a fit or an evaluation: x (n, in) and y (n, out) in the network's dtype.
py::array data_array(py::handle obj, const char* name, const Network& net, index_t cols, const char* what) {
  py::array a = finite_input(obj, name);
  check_ndim(a, name, 2, what);
  if (dtype_of(a, name) != net.dtype)
    type_error(std::string(name) + " has dtype " + std::string(py::str(a.dtype())) +
               " but the network's parameters are " + (net.dtype == DType::f32 ? "float32" : "float64"));
  if (a.shape(1) != cols)
    value_error(std::string(name) + " has " + std::to_string(a.shape(1)) + " columns (shape " + shape_str(a) +
                ") but the network expects " + std::to_string(cols));
  return a;
}

py::array mlp_forward_py(const py::list& weights, const py::list& biases, const std::vector<std::string>& acts,
                         double negative_slope, py::handle x_obj, const std::string& device) {
  const bool gpu = use_cuda(device);
  Network net = network_args(weights, biases, acts, negative_slope, false);
  py::array x = data_array(x_obj, "x", net, net.in.front(), "(n, in)");
  return dispatch(net.dtype, [&](auto t) -> py::array {
    using T = decltype(t);
    auto out = empty2<T>(x.shape(0), net.out.back());
    Matrix<T> om = mmat<T>(out);
    auto layers = layer_refs<T>(net);
    py::gil_scoped_release nogil;
    on_device(gpu, mlp_forward<T>)(layers, cmat<T>(x), om);
    return out;
  });
}

py::tuple mlp_loss_grad_py(const py::list& weights, const py::list& biases, const std::vector<std::string>& acts,
                           double negative_slope, const std::string& loss_name, py::handle x_obj,
                           py::handle y_obj, const std::string& device) {
  const bool gpu = use_cuda(device);
  Network net = network_args(weights, biases, acts, negative_slope, false);
  const Loss loss = parse_loss(loss_name);
  py::array x = data_array(x_obj, "x", net, net.in.front(), "(n, in)");
  py::array y = data_array(y_obj, "y", net, net.out.back(), "(n, out)");
  if (x.shape(0) != y.shape(0))
    value_error("x has " + std::to_string(x.shape(0)) + " samples but y has " + std::to_string(y.shape(0)));
  if (x.shape(0) == 0) value_error("x and y are empty; the loss of no samples is undefined");
  return dispatch(net.dtype, [&](auto t) -> py::tuple {
    using T = decltype(t);
    py::list grads;
    std::vector<T*> ptrs;
    for (size_t l = 0; l < net.w.size(); ++l) {
      auto gw = empty2<T>(net.in[l], net.out[l]);
      py::array_t<T> gb({py::ssize_t(net.out[l])});
      ptrs.push_back(gw.mutable_data());
      ptrs.push_back(gb.mutable_data());
      grads.append(py::make_tuple(gw, gb));
    }
    auto layers = layer_refs<T>(net);
    double value;
    {
      py::gil_scoped_release nogil;
      value = on_device(gpu, mlp_loss_grad<T>)(layers, loss, cmat<T>(x), cmat<T>(y), ptrs);
    }
    return py::make_tuple(value, grads);
  });
}

// An optimizer's configuration as fastmlp.optim's config() gives it: {"name": ..., hyperparameters}.
// fastmlp.optim validates with messages for users; these checks keep the kernels safe from any caller.
OptimizerSpec optimizer_spec(const py::dict& d) {
  static const Named<Optimizer> table[] = {{"sgd", Optimizer::sgd},
                                           {"adam", Optimizer::adam},
                                           {"adamw", Optimizer::adamw},
                                           {"rmsprop", Optimizer::rmsprop},
                                           {"adagrad", Optimizer::adagrad}};
  OptimizerSpec s;
  s.kind = parse_name("optimizer", py::str(d["name"]), table);
  auto num = [&](const char* key, double& out) {
    if (d.contains(key)) out = d[key].cast<double>();
    if (!std::isfinite(out)) value_error(std::string(key) + " must be finite");
  };
  auto flag = [&](const char* key, bool& out) {
    if (d.contains(key)) out = d[key].cast<bool>();
  };
  num("lr", s.lr);
  num("weight_decay", s.weight_decay);
  num("momentum", s.momentum);
  num("dampening", s.dampening);
  num("eps", s.eps);
  num("alpha", s.alpha);
  num("lr_decay", s.lr_decay);
  num("initial_accumulator_value", s.initial_accumulator_value);
  flag("nesterov", s.nesterov);
  flag("amsgrad", s.amsgrad);
  flag("centered", s.centered);
  if (d.contains("betas")) {
    auto betas = d["betas"].cast<std::pair<double, double>>();
    s.beta1 = betas.first;
    s.beta2 = betas.second;
  }
  check_positive_scalar(s.lr, "lr");
  if (!(s.momentum >= 0.0)) value_error("momentum must be >= 0");
  if (!(s.weight_decay >= 0.0)) value_error("weight_decay must be >= 0");
  if (!(s.eps >= 0.0)) value_error("eps must be >= 0");
  if (!(s.beta1 >= 0.0 && s.beta1 < 1.0 && s.beta2 >= 0.0 && s.beta2 < 1.0))
    value_error("betas must lie in [0, 1)");
  return s;
}

// Updates param in place with one optimizer step (state buffers in place too).
void optimizer_update_py(py::handle param_obj, py::handle grad_obj, const py::list& state, std::int64_t step,
                         double lr, const py::dict& config, const std::string& device) {
  const bool gpu = use_cuda(device);
  const OptimizerSpec spec = optimizer_spec(config);
  check_positive_scalar(lr, "lr");
  if (step < 1) value_error("step must be >= 1 (the 1-based number of this update)");
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

// A fit's trainer: the C++ trainer plus the Python arrays it points into, so none is freed under it.
class PyTrainer {
 public:
  PyTrainer(const py::list& weights, const py::list& biases, const std::vector<std::string>& acts,
            double negative_slope, const py::list& w_states, const py::list& b_states, py::handle x_obj,
            py::handle y_obj, const std::string& loss, index_t batch_size, bool shuffle, bool drop_last,
            std::uint64_t seed, const py::dict& optimizer, double clip_grad_norm, double clip_grad_value,
            const std::string& device) {
    const bool gpu = use_cuda(device);
    net_ = network_args(weights, biases, acts, negative_slope, true);
    TrainOptions opt;
    opt.loss = parse_loss(loss);
    opt.optimizer = optimizer_spec(optimizer);
    opt.shuffle = shuffle;
    opt.drop_last = drop_last;
    opt.seed = seed;
    if (!(clip_grad_norm >= 0.0) || !(clip_grad_value >= 0.0))
      value_error("clip_grad_norm and clip_grad_value must be > 0 (or 0/None for no clipping)");
    opt.clip_grad_norm = clip_grad_norm;
    opt.clip_grad_value = clip_grad_value;
    x_ = data_array(x_obj, "x", net_, net_.in.front(), "(n, in)");
    y_ = data_array(y_obj, "y", net_, net_.out.back(), "(n, out)");
    const index_t n = x_.shape(0);
    if (y_.shape(0) != n)
      value_error("x has " + std::to_string(n) + " samples but y has " + std::to_string(y_.shape(0)));
    if (n == 0) value_error("x and y are empty; there is nothing to train on");
    if (batch_size < 0) value_error("batch_size must be >= 1 (or None for the full batch)");
    opt.batch_size = batch_size;
    if (drop_last && batch_size > n)
      value_error("drop_last=True with batch_size " + std::to_string(batch_size) + " > " + std::to_string(n) +
                  " samples would leave no batch at all");
    const size_t L = net_.w.size();
    const int n_state = optimizer_state_count(opt.optimizer);
    if (w_states.size() != L || b_states.size() != L)
      value_error("optimizer state must have one entry per layer");
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
  }

  // lr: one learning rate per step of the epoch (a schedule evaluated ahead by Python).
  py::tuple run_epoch(std::uint64_t epoch, py::handle lr_obj, std::int64_t step) {
    py::array lr = input_array(lr_obj, "lr");
    if (lr.ndim() != 1 || lr.shape(0) != trainer_->steps_per_epoch() || dtype_of(lr, "lr") != DType::f64)
      value_error("lr must be a float64 array with one rate per step (" +
                  std::to_string(trainer_->steps_per_epoch()) + ")");
    const double* rates = static_cast<const double*>(lr.data());
    for (index_t s = 0; s < lr.shape(0); ++s)
      if (!(rates[s] >= 0.0) || !std::isfinite(rates[s]))
        value_error("every learning rate of a schedule must be finite and >= 0");
    double loss;
    {
      py::gil_scoped_release nogil;
      loss = trainer_->run_epoch(epoch, rates, step);
    }
    return py::make_tuple(loss, step);
  }

  index_t steps_per_epoch() const { return trainer_->steps_per_epoch(); }

 private:
  Network net_;
  py::array x_, y_;
  std::vector<py::array> state_;
  std::unique_ptr<TrainerBase> trainer_;
};

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastmlp's C++ kernels (private: use fastmlp.ops and fastmlp.MLP)";
#ifdef FASTMLP_VERSION
  m.attr("__version__") = FASTMLP_VERSION;
#endif
#ifdef FASTMLP_WITH_CUDA
  m.attr("cuda_built") = true;
#else
  m.attr("cuda_built") = false;
#endif
  m.def("get_num_threads", &get_num_threads);
  m.def("set_num_threads", [](int n) {
    if (n < 1) value_error("set_num_threads needs n >= 1, got " + std::to_string(n));
    set_num_threads(n);
  });
  m.def("gemm_isa", [](const std::string& dtype) -> std::string {
    return parse_dtype(dtype) == DType::f32 ? gemm_isa<float>() : gemm_isa<double>();
  });
  m.def("matmul", &matmul, py::arg("a"), py::arg("b"), py::arg("trans_a") = false, py::arg("trans_b") = false,
        py::arg("device") = "cpu");
  m.def("cuda_device_count", &cuda_device_count);
  m.def("check_device", &use_cuda, py::arg("device"),
        "True for 'cuda', False for 'cpu'; raises when the name is unknown or CUDA cannot be used");
  m.def("cuda_device_description", []() -> std::string {
#ifdef FASTMLP_WITH_CUDA
    use_cuda("cuda");
    return cuda::device_description();
#else
    use_cuda("cuda");
    return "";
#endif
  });
  m.def("cuda_memory_info", []() -> std::pair<std::size_t, std::size_t> {
    use_cuda("cuda");
    std::size_t free_bytes = 0, total_bytes = 0;
#ifdef FASTMLP_WITH_CUDA
    cuda::memory_info(free_bytes, total_bytes);
#endif
    return {free_bytes, total_bytes};
  });
  m.def("dense_forward", &dense_forward_py, py::arg("x"), py::arg("w"), py::arg("b"), py::arg("activation"),
        py::arg("negative_slope"), py::arg("device") = "cpu");
  m.def("dense_backward", &dense_backward_py, py::arg("x"), py::arg("w"), py::arg("grad_y"),
        py::arg("activation"), py::arg("y"), py::arg("negative_slope"), py::arg("device") = "cpu");
  m.def("activation_forward", &activation_forward_py, py::arg("name"), py::arg("z"), py::arg("negative_slope"),
        py::arg("device") = "cpu");
  m.def("activation_backward", &activation_backward_py, py::arg("name"), py::arg("z"), py::arg("grad_a"),
        py::arg("negative_slope"), py::arg("device") = "cpu");
  m.def("loss", &loss_py, py::arg("name"), py::arg("pred"), py::arg("target"), py::arg("reduction"),
        py::arg("device") = "cpu");
  m.def("loss_grad", &loss_grad_py, py::arg("name"), py::arg("pred"), py::arg("target"), py::arg("reduction"),
        py::arg("device") = "cpu");
  m.def("init", &init_py, py::arg("name"), py::arg("fan_in"), py::arg("fan_out"), py::arg("seed"),
        py::arg("shape"), py::arg("dtype"), py::arg("stream"), py::arg("truncated"), py::arg("value"),
        py::arg("low"), py::arg("high"), py::arg("mean"), py::arg("std"), py::arg("device") = "cpu");
  m.def("philox4x32", [](std::array<std::uint32_t, 4> ctr, std::array<std::uint32_t, 2> key) {
    Philox4 r = philox4x32(Philox4{{ctr[0], ctr[1], ctr[2], ctr[3]}}, key[0], key[1]);
    return std::array<std::uint32_t, 4>{r.v[0], r.v[1], r.v[2], r.v[3]};
  }, py::arg("counter"), py::arg("key"));
  m.def("permutation", &permutation_py, py::arg("n"), py::arg("seed"), py::arg("epoch"));
  m.def("sgd_update", &sgd_update_py, py::arg("param"), py::arg("grad"), py::arg("lr"), py::arg("device") = "cpu");
  m.def("optimizer_update", &optimizer_update_py, py::arg("param"), py::arg("grad"), py::arg("state"),
        py::arg("step"), py::arg("lr"), py::arg("config"), py::arg("device") = "cpu");
  m.def("mlp_forward", &mlp_forward_py, py::arg("weights"), py::arg("biases"), py::arg("activations"),
        py::arg("negative_slope"), py::arg("x"), py::arg("device") = "cpu");
  m.def("mlp_loss_grad", &mlp_loss_grad_py, py::arg("weights"), py::arg("biases"), py::arg("activations"),
        py::arg("negative_slope"), py::arg("loss"), py::arg("x"), py::arg("y"), py::arg("device") = "cpu");
  py::class_<PyTrainer>(m, "Trainer")
      .def(py::init<const py::list&, const py::list&, const std::vector<std::string>&, double, const py::list&,
                    const py::list&, py::handle, py::handle, const std::string&, index_t, bool, bool,
                    std::uint64_t, const py::dict&, double, double, const std::string&>(),
           py::arg("weights"), py::arg("biases"), py::arg("activations"), py::arg("negative_slope"),
           py::arg("w_states"), py::arg("b_states"), py::arg("x"), py::arg("y"), py::arg("loss"),
           py::arg("batch_size"), py::arg("shuffle"), py::arg("drop_last"), py::arg("seed"), py::arg("optimizer"),
           py::arg("clip_grad_norm") = 0.0, py::arg("clip_grad_value") = 0.0, py::arg("device") = "cpu")
      .def("run_epoch", &PyTrainer::run_epoch, py::arg("epoch"), py::arg("lr"), py::arg("step"))
      .def_property_readonly("steps_per_epoch", &PyTrainer::steps_per_epoch);
}
