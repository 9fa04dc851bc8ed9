// The one table of names for each kind of op (activations, losses, reductions, initializers,
// optimizers, dtypes): the bindings parse names with it and export it as fastmlp._core.names, which
// fastmlp.ops, the model, the CLI and the estimators read. Adding an op's name means one line here
// (an optimizer's comes from its header, through fastmlp/optimizers/list.h).
#pragma once
#include <pybind11/pybind11.h>

#include <cstddef>
#include <string>

#include "fastmlp/ops.h"
#include "fastmlp/optimizers/registry.h"

namespace fastmlp {
namespace py = pybind11;

enum class DType { f32, f64 };

[[noreturn]] inline void value_error(const std::string& msg) { throw py::value_error(msg); }
[[noreturn]] inline void type_error(const std::string& msg) { throw py::type_error(msg); }

// One name of an op: its enum value, a one-line description and, for a second spelling of the same op,
// alias = true (aliases parse but are not listed among the canonical names).
template <class E>
struct Named {
  const char* name;
  E value;
  const char* doc = "";
  bool alias = false;
};

inline constexpr Named<Activation> kActivations[] = {
    {"identity", Activation::identity, "z (a linear layer)"},
    {"linear", Activation::identity, "", true},
    {"step", Activation::step, "Heaviside unit step, 1 if z >= 0 else 0 (derivative taken as 0)"},
    {"sigmoid", Activation::sigmoid, "logistic function 1 / (1 + e^-z)"},
    {"logistic", Activation::sigmoid, "", true},
    {"tanh", Activation::tanh, "hyperbolic tangent"},
    {"relu", Activation::relu, "max(z, 0)"},
    {"leaky_relu", Activation::leaky_relu, "z if z > 0 else negative_slope * z"},
    {"gelu", Activation::gelu, "Gaussian error linear unit z * Phi(z), Phi the standard normal CDF (exact, erf)"},
    {"gelu_tanh", Activation::gelu_tanh,
     "GELU's tanh approximation 0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3))) (torch's approximate='tanh')"},
    {"silu", Activation::silu, "sigmoid linear unit z * sigmoid(z)"},
    {"swish", Activation::silu, "", true},
    {"elu", Activation::elu, "z if z > 0 else alpha * (e^z - 1)"},
    {"softplus", Activation::softplus, "log(1 + e^(beta z)) / beta, z where beta z > threshold"},
    {"selu", Activation::selu, "scale * (z if z > 0 else alpha * (e^z - 1)), the self-normalizing constants"},
};

inline constexpr Named<Loss> kLosses[] = {
    {"mse", Loss::mse, "mean squared error, mean((pred - target)^2)"},
    {"mae", Loss::mae, "mean absolute error, mean(|pred - target|)"},
    {"huber", Loss::huber,
     "Huber loss: (pred - target)^2 / 2 within delta, delta (|pred - target| - delta / 2) beyond"},
    {"poisson", Loss::poisson, "Poisson deviance with log link: exp(pred) - target * pred (pred is the log-rate)"},
    {"cross_entropy", Loss::cross_entropy,
     "softmax cross-entropy over class logits (targets: class indices, one-hot or probabilities); mean over rows"},
    {"bce", Loss::bce, "binary cross-entropy with logits, sigmoid fused (also multi-label targets in [0, 1])"},
};

inline constexpr Named<Reduction> kReductions[] = {
    {"mean", Reduction::mean, "mean over elements (over rows for cross_entropy)"},
    {"sum", Reduction::sum, "sum"},
};

inline constexpr Named<Init> kInits[] = {
    {"zeros", Init::zeros, "0 (every unit identical: the symmetry problem)"},
    {"ones", Init::ones, "1 (saturates sigmoid/tanh, explodes ReLU)"},
    {"constant", Init::constant, "value"},
    {"uniform", Init::uniform, "U[low, high), default U[0, 1)"},
    {"normal", Init::normal, "N(mean, std^2), default N(0, 1)"},
    {"lecun_uniform", Init::lecun_uniform, "U(-sqrt(3/fan_in), +sqrt(3/fan_in))"},
    {"lecun_normal", Init::lecun_normal, "N(0, 1/fan_in)"},
    {"xavier_uniform", Init::xavier_uniform, "U(+-sqrt(6/(fan_in+fan_out)))"},
    {"glorot_uniform", Init::xavier_uniform, "", true},
    {"xavier_normal", Init::xavier_normal, "N(0, 2/(fan_in+fan_out))"},
    {"glorot_normal", Init::xavier_normal, "", true},
    {"he_uniform", Init::he_uniform, "U(+-sqrt(6/fan_in))"},
    {"kaiming_uniform", Init::he_uniform, "", true},
    {"he_normal", Init::he_normal, "N(0, 2/fan_in)"},
    {"kaiming_normal", Init::he_normal, "", true},
};

// Generated from the optimizers' registry (fastmlp/optimizers/list.h): each header's name and doc.
inline constexpr Named<Optimizer> kOptimizers[] = {
#define FASTMLP_OPTIMIZER_NAME(id, Type) {Type::name, Optimizer::id, Type::doc},
    FASTMLP_OPTIMIZERS(FASTMLP_OPTIMIZER_NAME)
#undef FASTMLP_OPTIMIZER_NAME
};

inline constexpr Named<DType> kDTypes[] = {
    {"float32", DType::f32, "IEEE single precision"},
    {"float64", DType::f64, "IEEE double precision"},
};

template <class E, std::size_t N>
E parse_name(const std::string& what, const std::string& name, const Named<E> (&table)[N]) {
  for (const auto& entry : table)
    if (name == entry.name) return entry.value;
  std::string known;
  for (std::size_t i = 0; i < N; ++i) known += (i ? ", " : "") + std::string(table[i].name);
  value_error("unknown " + what + " '" + name + "'; expected one of: " + known);
}

// The canonical name of an enum value (the first entry that is not an alias).
template <class E, std::size_t N>
const char* name_of(E value, const Named<E> (&table)[N]) {
  for (const auto& entry : table)
    if (entry.value == value && !entry.alias) return entry.name;
  return "?";
}

inline Activation parse_activation(const std::string& name) { return parse_name("activation", name, kActivations); }
inline Loss parse_loss(const std::string& name) { return parse_name("loss", name, kLosses); }
inline Reduction parse_reduction(const std::string& name) { return parse_name("reduction", name, kReductions); }
inline Init parse_init(const std::string& name) { return parse_name("initializer", name, kInits); }
inline Optimizer parse_optimizer(const std::string& name) { return parse_name("optimizer", name, kOptimizers); }
inline DType parse_dtype(const std::string& name) { return parse_name("dtype", name, kDTypes); }

}  // namespace fastmlp
