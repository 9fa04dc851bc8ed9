// A loss as Python passes it (a name, or a dict {"name", "delta", "labels", "weighted", "factor",
// "class_weight"}) made into a LossSpec, and the check of targets against it: the one place that
// decides how class labels and sample weights travel (as columns of the target array, see LossSpec).
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <string>
#include <vector>

#include "bindings/validate.h"
#include "fastmlp/ops.h"

namespace fastmlp {

// The spec plus the storage its class_weight points into (keep this object alive while the spec is used).
struct LossArg {
  LossSpec spec;
  std::vector<double> class_weight;
  LossArg() = default;
  LossArg(const LossArg&) = delete;  // spec.class_weight points into this object
  LossArg& operator=(const LossArg&) = delete;
};

// What turns a classification loss's inputs (logits) into probabilities: the softmax fused into
// cross_entropy, the sigmoid fused into bce; "" for the regression losses.
inline const char* loss_head(Loss kind) {
  switch (kind) {
    case Loss::cross_entropy:
      return "softmax";
    case Loss::bce:
      return "sigmoid";
    default:
      return "";
  }
}

// The inverse link of a loss that reads the network's outputs as the log of the mean (poisson's
// log-rate): predictions in the targets' units are exp(output). "" for a loss whose outputs are the
// predictions themselves (the regression losses) or logits (the classifiers, see loss_head).
inline const char* loss_mean(Loss kind) {
  switch (kind) {
    case Loss::poisson:
      return "exp";
    default:
      return "";
  }
}

// m: the prediction's width (the network's outputs, or pred's columns).
inline void parse_loss_arg(py::handle obj, index_t m, LossArg& out) {
  LossSpec& s = out.spec;
  if (py::isinstance<py::str>(obj)) {
    s.kind = parse_loss(py::str(obj));
    return;
  }
  if (!py::isinstance<py::dict>(obj)) type_error("loss must be a name (str) or a dict with a 'name'");
  py::dict d = py::reinterpret_borrow<py::dict>(obj);
  if (!d.contains("name")) value_error("a loss dict needs a 'name'");
  s.kind = parse_loss(py::str(d["name"]));
  if (d.contains("delta")) s.delta = d["delta"].cast<double>();
  if (d.contains("labels")) s.labels = d["labels"].cast<bool>();
  if (d.contains("weighted")) s.weighted = d["weighted"].cast<bool>();
  if (d.contains("factor")) s.factor = d["factor"].cast<double>();
  if (!(s.delta > 0.0) || !std::isfinite(s.delta)) value_error("huber's delta must be a finite number > 0");
  if (!(s.factor > 0.0) || !std::isfinite(s.factor)) value_error("the loss factor must be a finite number > 0");
  if (s.labels && s.kind != Loss::cross_entropy)
    value_error("class-index targets (labels=True) go with loss='cross_entropy' only");
  if (d.contains("class_weight") && !d["class_weight"].is_none()) {
    if (s.kind != Loss::cross_entropy) value_error("class_weight goes with loss='cross_entropy' only");
    out.class_weight = d["class_weight"].cast<std::vector<double>>();
    if (index_t(out.class_weight.size()) != m)
      value_error("class_weight has " + std::to_string(out.class_weight.size()) + " entries but there are " +
                  std::to_string(m) + " classes (outputs)");
    for (double w : out.class_weight)
      if (!(w >= 0.0) || !std::isfinite(w)) value_error("class_weight must hold finite numbers >= 0");
    s.class_weight = out.class_weight.data();
  }
}

// The columns the targets of `loss` have for m outputs: m, or 1 for class indices, plus a weight column.
inline index_t target_columns(const LossSpec& s, index_t m) { return (s.labels ? 1 : m) + (s.weighted ? 1 : 0); }

template <class T>
void check_targets_typed(const LossSpec& s, const py::array& t, index_t m, const char* name) {
  const T* p = static_cast<const T*>(t.data());
  // Without labels or weights every element is a target: an elementwise loss's target of any shape
  // (_core.loss takes one; read as rows of one unless 2-D) is checked whole, not its first column only.
  const bool plain = !s.labels && !s.weighted;
  const index_t rows = t.ndim() == 2 ? t.shape(0) : plain ? index_t(t.size()) : t.ndim() >= 1 ? t.shape(0) : 1;
  const index_t cols = t.ndim() == 2 ? t.shape(1) : 1;
  const index_t values = s.labels ? 1 : plain ? cols : m;
  auto fail = [&](index_t i, index_t j, const std::string& what) {
    value_error(std::string(name) + "[" + std::to_string(i) + ", " + std::to_string(j) + "] is " +
                std::to_string(double(p[i * cols + j])) + "; " + what);
  };
  for (index_t i = 0; i < rows; ++i) {
    const T* r = p + i * cols;
    if (s.weighted && !(r[values] >= T(0))) fail(i, values, "sample weights must be >= 0");
    for (index_t j = 0; j < values; ++j) {
      const T v = r[j];
      if (s.labels) {
        if (!(v >= T(0) && v < T(m) && v == std::floor(v)))
          fail(i, j, "class labels must be whole numbers in [0, " + std::to_string(m) + ") (one per output class)");
      } else if (s.kind == Loss::bce && !(v >= T(0) && v <= T(1))) {
        fail(i, j, "binary cross-entropy targets must lie in [0, 1]");
      } else if ((s.kind == Loss::cross_entropy || s.kind == Loss::poisson) && !(v >= T(0))) {
        fail(i, j,
             s.kind == Loss::poisson ? "loss='poisson' needs targets >= 0 (counts or rates)"
                                     : "cross-entropy target probabilities must be >= 0");
      }
    }
  }
}

// Checks the values of a target array (already of the right dtype and shape) against the loss.
inline void check_targets(const LossSpec& s, const py::array& t, index_t m, const char* name) {
  if (!s.labels && !s.weighted && s.kind != Loss::bce && s.kind != Loss::cross_entropy && s.kind != Loss::poisson)
    return;
  if (dtype_of(t, name) == DType::f32)
    check_targets_typed<float>(s, t, m, name);
  else
    check_targets_typed<double>(s, t, m, name);
}

}  // namespace fastmlp
