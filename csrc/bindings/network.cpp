// fastmlp._core's network functions: a whole MLP's forward pass and gradients in one call, and the
// checks fit's guard asks between epochs (trainer.cpp binds the trainer itself). Python's fastmlp.MLP
// owns the parameter arrays; these point into them.
#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bindings/common.h"
#include "bindings/network_args.h"

namespace fastmlp::bindings {
namespace {

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

// Whether the bytes of two arrays intersect (both C-contiguous here: [data, data + nbytes)).
bool overlap(const py::array& a, const py::array& b) {
  const auto* a0 = static_cast<const char*>(a.data());
  const auto* b0 = static_cast<const char*>(b.data());
  return a.nbytes() > 0 && b.nbytes() > 0 && a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}

// out: None (new arrays), or [(dW_l, dB_l), ...] to write into, e.g. views of L-BFGS's flat gradient.
py::tuple mlp_loss_grad_py(const py::list& weights, const py::list& biases, const std::vector<std::string>& acts,
                           double negative_slope, py::handle loss_obj, py::handle x_obj, py::handle y_obj,
                           const std::string& device, py::handle out) {
  const bool gpu = use_cuda(device);
  Network net = network_args(weights, biases, acts, negative_slope, false);
  LossArg loss;
  parse_loss_arg(loss_obj, net.out.back(), loss);
  py::array x = data_array(x_obj, "x", net, net.in.front(), "(n, in)");
  py::array y = data_array(y_obj, "y", net, target_columns(loss.spec, net.out.back()), "(n, out)");
  check_targets(loss.spec, y, net.out.back(), "y");
  if (x.shape(0) != y.shape(0))
    value_error("x has " + std::to_string(x.shape(0)) + " samples but y has " + std::to_string(y.shape(0)));
  if (x.shape(0) == 0) value_error("x and y are empty; the loss of no samples is undefined");
  const size_t L = net.w.size();
  std::vector<py::array> given;
  if (!out.is_none()) {
    if (!py::isinstance<py::list>(out) && !py::isinstance<py::tuple>(out))
      type_error("out must be None or a list of (dW, db) pairs, one per layer");
    py::sequence pairs = py::reinterpret_borrow<py::sequence>(out);
    if (pairs.size() != L) value_error("out must hold one (dW, db) pair per layer (" + std::to_string(L) + ")");
    for (size_t l = 0; l < L; ++l) {
      py::sequence pair = py::reinterpret_borrow<py::sequence>(pairs[l]);
      if (pair.size() != 2) value_error("out[" + std::to_string(l) + "] must be a (dW, db) pair");
      for (int k = 0; k < 2; ++k) {
        const std::string name = "out[" + std::to_string(l) + "][" + std::to_string(k) + "]";
        py::array a = output_array(pair[size_t(k)], name.c_str());
        check_same_dtype(a, name.c_str(), net.keep[2 * l], "the weights");
        const bool shape_ok = k == 0 ? a.ndim() == 2 && a.shape(0) == net.in[l] && a.shape(1) == net.out[l]
                                     : a.ndim() == 1 && a.shape(0) == net.out[l];
        if (!shape_ok)
          value_error(name + " has shape " + shape_str(a) + "; it must have the shape of layer " + std::to_string(l) +
                      "'s " + (k == 0 ? "weights" : "biases"));
        given.push_back(a);
      }
    }
    // A gradient written over an input (or over another gradient) would be read back half-written.
    std::vector<std::pair<py::array, std::string>> inputs = {{x, "x"}, {y, "y"}};
    for (size_t i = 0; i < net.keep.size(); ++i)  // W0, b0, W1, b1, ...
      inputs.emplace_back(net.keep[i], (i % 2 == 0 ? "weights[" : "biases[") + std::to_string(i / 2) + "]");
    for (size_t i = 0; i < given.size(); ++i) {
      const std::string name = "out[" + std::to_string(i / 2) + "][" + std::to_string(i % 2) + "]";
      for (const auto& in : inputs)
        if (overlap(given[i], in.first)) value_error(name + " shares memory with " + in.second);
      for (size_t j = 0; j < i; ++j)
        if (overlap(given[i], given[j]))
          value_error(name + " shares memory with out[" + std::to_string(j / 2) + "][" + std::to_string(j % 2) + "]");
    }
  }
  return dispatch(net.dtype, [&](auto t) -> py::tuple {
    using T = decltype(t);
    py::list grads;
    std::vector<T*> ptrs;
    for (size_t l = 0; l < L; ++l) {
      py::array gw = given.empty() ? py::array(empty2<T>(net.in[l], net.out[l])) : given[2 * l];
      py::array gb = given.empty() ? py::array(py::array_t<T>({py::ssize_t(net.out[l])})) : given[2 * l + 1];
      ptrs.push_back(static_cast<T*>(gw.mutable_data()));
      ptrs.push_back(static_cast<T*>(gb.mutable_data()));
      grads.append(py::make_tuple(gw, gb));
    }
    auto layers = layer_refs<T>(net);
    double value;
    {
      py::gil_scoped_release nogil;
      value = on_device(gpu, mlp_loss_grad<T>)(layers, loss.spec, cmat<T>(x), cmat<T>(y), ptrs);
    }
    return py::make_tuple(value, grads);
  });
}

// The first of `arrays` (float32/float64, any shape) that holds a NaN or an Inf, as its index; -1 when
// all are finite. One pass, no temporaries: fit asks it of the weights and optimizer state every epoch.
long all_finite_py(const py::list& arrays) {
  for (size_t i = 0; i < arrays.size(); ++i) {
    py::array a = input_array(arrays[i], "arrays[i]");
    const bool ok = dispatch(dtype_of(a, "arrays[i]"), [&](auto t) {
      using T = decltype(t);
      return all_finite(static_cast<const T*>(a.data()), index_t(a.size()));
    });
    if (!ok) return long(i);
  }
  return -1;
}

// An upper bound on |every value the forward pass computes| (each product's partial sums included),
// for inputs with |x| <= x_max: per layer, max_j sum_i |W_ij| times the bound of its input, plus
// max |b|, then the activation's own bound (1 for step, sigmoid and tanh; the leaky slope scales it
// when above 1; ELU and SELU below zero are bounded by their alpha). In double, so it reaches Inf only far past any
// float range. fit compares it with the dtype's largest value, so that a forward pass over the training data is needed
// only when the bound cannot rule out an overflow.
double output_bound_py(const py::list& weights, const py::list& biases, const std::vector<std::string>& acts,
                       double negative_slope, double x_max) {
  Network net = network_args(weights, biases, acts, negative_slope, false);
  double bound = x_max;
  for (size_t l = 0; l < net.w.size(); ++l) {
    const index_t in = net.in[l], out = net.out[l];
    std::vector<double> column(size_t(out), 0.0);
    double b_max = 0.0;
    dispatch(net.dtype, [&](auto t) {
      using T = decltype(t);
      const T* w = static_cast<const T*>(net.w[l]);
      const T* b = static_cast<const T*>(net.b[l]);
      for (index_t i = 0; i < in; ++i)
        for (index_t j = 0; j < out; ++j) column[size_t(j)] += std::fabs(double(w[i * out + j]));
      for (index_t j = 0; j < out; ++j) b_max = std::max(b_max, std::fabs(double(b[j])));
      return 0;
    });
    const double gain = out > 0 ? *std::max_element(column.begin(), column.end()) : 0.0;
    const double z = gain * bound + b_max;
    switch (net.acts[l].kind) {
      case Activation::step:
      case Activation::sigmoid:
      case Activation::tanh:
        bound = std::max(1.0, z);  // z itself is computed before the activation squashes it
        break;
      case Activation::leaky_relu:
        bound = z * std::max(1.0, net.acts[l].negative_slope);
        break;
      case Activation::elu:  // alpha (e^z - 1) lies within |alpha| for z <= 0
        bound = std::max(z, std::fabs(net.acts[l].alpha));
        break;
      case Activation::selu:
        bound = kSeluScale * std::max(z, kSeluAlpha);
        break;
      case Activation::softplus:  // beta z is computed too; the value is at most max(z, 0) + log(2) / beta
        bound = std::max(z * std::max(1.0, net.acts[l].beta), z + std::log(2.0) / net.acts[l].beta);
        break;
      case Activation::gelu_tanh:  // its tanh's argument holds z^3
        bound = std::max(z, kSqrt2OverPi * (z + kGeluCubic * z * z * z));
        break;
      default:  // identity, relu, and |gelu(z)|, |silu(z)| <= |z|
        bound = z;
    }
  }
  return bound;
}

}  // namespace

void bind_networks(py::module_& m) {
  m.def("mlp_forward", &mlp_forward_py, py::arg("weights"), py::arg("biases"), py::arg("activations"),
        py::arg("negative_slope"), py::arg("x"), py::arg("device") = "cpu");
  m.def("mlp_loss_grad", &mlp_loss_grad_py, py::arg("weights"), py::arg("biases"), py::arg("activations"),
        py::arg("negative_slope"), py::arg("loss"), py::arg("x"), py::arg("y"), py::arg("device") = "cpu",
        py::arg("out") = py::none());
  m.def("all_finite", &all_finite_py, py::arg("arrays"));
  m.def("output_bound", &output_bound_py, py::arg("weights"), py::arg("biases"), py::arg("activations"),
        py::arg("negative_slope"), py::arg("x_max"));
}

}  // namespace fastmlp::bindings
