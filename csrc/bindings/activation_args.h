// An activation as the bindings take it: a name from names.h, with its parameters written after it as
// torch.nn names them, "elu(alpha=0.5)" or "softplus(beta=2, threshold=10)". Also the table of what the
// rest of fastmlp needs to know of each kind (its parameters and defaults, whether training keeps z,
// its default initializer, its ONNX operator), exported as fastmlp._core.activation_table.
#pragma once
#include <pybind11/pybind11.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "bindings/names.h"
#include "fastmlp/activation_math.h"
#include "fastmlp/ops.h"

namespace fastmlp {

// One parameter: its name, where it lives in ActivationSpec, its default, and the rule on its value.
struct ActivationParam {
  const char* name;
  double ActivationSpec::* field;
  double fallback;   // the default (negative_slope's is the model's own, passed in)
  const char* rule;  // "finite", ">= 0" or "> 0"
};

struct ActivationTraits {
  Activation kind;
  const char* init;  // the initializer whose derivation assumes this family (fastmlp.init.default_for)
  const char* onnx;  // the ONNX operator that computes it alone, or "" where export composes it
  std::vector<ActivationParam> params;
};

inline const std::vector<ActivationTraits>& activation_traits() {
  static const std::vector<ActivationTraits> table = {
      {Activation::identity, "xavier_uniform", "", {}},
      {Activation::step, "xavier_uniform", "", {}},
      {Activation::sigmoid, "xavier_uniform", "Sigmoid", {}},
      {Activation::tanh, "xavier_uniform", "Tanh", {}},
      {Activation::relu, "he_uniform", "Relu", {}},
      {Activation::leaky_relu, "he_uniform", "", {{"negative_slope", &ActivationSpec::negative_slope, 0.01, ">= 0"}}},
      {Activation::gelu, "he_uniform", "", {}},
      {Activation::gelu_tanh, "he_uniform", "", {}},
      {Activation::silu, "he_uniform", "", {}},
      {Activation::elu, "he_uniform", "", {{"alpha", &ActivationSpec::alpha, 1.0, "finite"}}},
      {Activation::softplus,
       "he_uniform",
       "",
       {{"beta", &ActivationSpec::beta, 1.0, "> 0"}, {"threshold", &ActivationSpec::threshold, 20.0, "finite"}}},
      // SELU's self-normalization holds for LeCun normal weights (Klambauer et al. 2017).
      {Activation::selu, "lecun_normal", "", {}},
  };
  return table;
}

inline const ActivationTraits& traits_of(Activation kind) {
  for (const auto& t : activation_traits())
    if (t.kind == kind) return t;
  throw std::logic_error("an activation missing from activation_traits()");
}

inline std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// The shortest decimal that reads back as v.
inline std::string shortest(double v) {
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

// "name" or "name(key=value, ...)" -> the spec. negative_slope: the model's, for a leaky_relu that does
// not name its own. Every mistake is a ValueError that names the activation and what it takes. given
// (when not null) receives the parameters the text names.
inline ActivationSpec parse_activation_spec(const std::string& text, double negative_slope,
                                            std::vector<const ActivationParam*>* given_params = nullptr) {
  const auto open = text.find('(');
  const std::string base = trim(text.substr(0, open));
  ActivationSpec s;
  s.kind = parse_activation(base);
  s.negative_slope = negative_slope;
  const ActivationTraits& traits = traits_of(s.kind);
  std::vector<std::string> given;
  if (open != std::string::npos) {
    const std::string inside = trim(text.substr(open + 1));
    if (inside.empty() || inside.back() != ')')
      value_error("activation '" + text + "': parameters go in one pair of parentheses, as 'elu(alpha=0.5)'");
    std::string list = inside.substr(0, inside.size() - 1);
    std::string known;
    for (const auto& p : traits.params) known += (known.empty() ? "" : ", ") + std::string(p.name);
    if (known.empty()) known = "none";
    size_t at = 0;
    while (at <= list.size() && !trim(list).empty()) {
      const size_t comma = list.find(',', at);
      const std::string item = trim(list.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
      const size_t eq = item.find('=');
      if (eq == std::string::npos)
        value_error("activation '" + text + "': '" + item + "' is not key=value; " + base + " takes: " + known);
      const std::string key = trim(item.substr(0, eq)), value = trim(item.substr(eq + 1));
      const ActivationParam* param = nullptr;
      for (const auto& p : traits.params)
        if (key == p.name) param = &p;
      if (!param)
        value_error("activation '" + text + "': unknown parameter '" + key + "'; " + base + " takes: " + known);
      for (const auto& g : given)
        if (g == key) value_error("activation '" + text + "': " + key + " is given twice");
      given.push_back(key);
      if (given_params) given_params->push_back(param);
      char* end = nullptr;
      const double v = std::strtod(value.c_str(), &end);
      if (value.empty() || end != value.c_str() + value.size())
        value_error("activation '" + text + "': " + key + " must be a number, got '" + value + "'");
      s.*(param->field) = v;
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
  }
  for (const auto& p : traits.params) {
    const double v = s.*(p.field);
    const std::string rule = p.rule;
    const bool ok =
        std::isfinite(v) && (rule == "finite" || (rule == ">= 0" && v >= 0.0) || (rule == "> 0" && v > 0.0));
    if (!ok)
      value_error(std::string(p.name) + " of " + base + " must be a finite number" +
                  (rule == "finite" ? std::string() : " " + rule) + ", got " + shortest(v));
  }
  return s;
}

// The canonical spelling: the canonical name, then the parameters given, in the table's order, each
// as the shortest number that reads back the same ("swish(  )" -> "silu", "elu(alpha=.50)" ->
// "elu(alpha=0.5)").
inline std::string canonical_activation(const std::string& text) {
  std::vector<const ActivationParam*> given;
  const ActivationSpec s = parse_activation_spec(text, ActivationSpec{}.negative_slope, &given);
  std::string params;
  for (const auto& p : traits_of(s.kind).params)
    for (const ActivationParam* g : given)
      if (g == &p) params += (params.empty() ? "" : ", ") + std::string(p.name) + "=" + shortest(s.*(p.field));
  const std::string name = name_of(s.kind, kActivations);
  return params.empty() ? name : name + "(" + params + ")";
}

}  // namespace fastmlp
