// The parameters of an MLP and its data as the network and trainer bindings take them (network.cpp,
// trainer.cpp): checked once at the boundary, then handed to the kernels as pointers.
#pragma once
#include <string>
#include <vector>

#include "bindings/common.h"

namespace fastmlp::bindings {

// The parameters of an MLP as Python passes them: lists of W (in, out) and b (out,) arrays that the
// model owns, the activation names and the leaky slope. Checked once; kept alive by `keep`.
struct Network {
  DType dtype;
  std::vector<py::array> keep;
  std::vector<ActivationSpec> acts;
  std::vector<index_t> in, out;
  std::vector<void*> w, b;
};

inline Network network_args(const py::list& weights, const py::list& biases, const std::vector<std::string>& acts,
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
    if (b.shape(0) != w.shape(1))
      value_error(bn + " has shape " + shape_str(b) + " but " + wn + " has shape " + shape_str(w));
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
inline std::vector<LayerRef<T>> layer_refs(const Network& net) {
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
inline py::array data_array(py::handle obj, const char* name, const Network& net, index_t cols, const char* what,
                            double* max_abs = nullptr) {
  py::array a = input_array(obj, name);
  check_finite(a, name, max_abs);
  check_ndim(a, name, 2, what);
  if (dtype_of(a, name) != net.dtype)
    type_error(std::string(name) + " has dtype " + std::string(py::str(a.dtype())) +
               " but the network's parameters are " + (net.dtype == DType::f32 ? "float32" : "float64"));
  if (a.shape(1) != cols)
    value_error(std::string(name) + " has " + std::to_string(a.shape(1)) + " columns (shape " + shape_str(a) +
                ") but the network expects " + std::to_string(cols));
  return a;
}

}  // namespace fastmlp::bindings
