"""How targets travel to the kernels for each loss, and what classification adds on top of them.

The C++ trainer sees one target array per fit, in the model's dtype, one row per sample:

- regression losses and bce: the target row itself (n, outputs);
- cross_entropy with class indices: one column holding the class index as a float (exact for any
  class count below 2^24 in float32); with one-hot or probability rows: (n, classes);
- with sample weights: one more column, last, holding the row's weight.

The values are checked once, at the boundary (labels whole numbers in [0, classes), weights >= 0, bce
targets in [0, 1], ...), so the epoch loop never checks them again. `loss_targets` builds that array
and the loss spec for fastmlp._core; the rest of this module turns logits into probabilities, classes
and scores, and a log-link loss's outputs (poisson's log-rates) into predictions.
"""

from __future__ import annotations

import numpy as np

from . import _core
from .losses import CLASSIFICATION_LOSSES, check_loss

__all__ = ["loss_targets", "probabilities", "mean_response", "accuracy", "confusion_matrix"]


def _float_rows(a, name, dtype):
    arr = np.asarray(a)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} has dtype {arr.dtype}; expected numbers")
    out = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(out).all():
        raise ValueError(f"{name} contains NaN or Inf")
    return out


def loss_targets(model, y, n, loss, sample_weight=None, class_weight=None, name="y"):
    """(spec, targets) for training or scoring `model` on y with `loss`: spec is the loss's name when
    nothing else needs saying, else a dict for fastmlp._core; targets is the 2-D array laid out as the
    module docstring says."""
    loss = check_loss(loss)
    outputs = model.sizes[-1]
    dtype = model.dtype
    spec = {"name": loss}
    if loss == "cross_entropy":
        if outputs < 2:
            raise ValueError("loss='cross_entropy' needs one output per class (at least 2); for two classes with "
                             "a single output use loss='bce'")
        y_arr = np.asarray(y)
        if y_arr.ndim == 1:  # class indices
            if y_arr.dtype.kind == "f" and not np.all(np.isfinite(y_arr)):
                raise ValueError(f"{name} contains NaN or Inf")
            if y_arr.dtype.kind not in "iuf" or y_arr.dtype == bool:
                raise TypeError(f"{name} holds class labels of dtype {y_arr.dtype}; expected integers 0..{outputs - 1}")
            if y_arr.shape[0] != n:
                raise ValueError(f"X has {n} samples but {name} has {y_arr.shape[0]}")
            spec["labels"] = True
            targets = _float_rows(y_arr.reshape(-1, 1), name, dtype)
        else:
            targets = model._y(y, n, name)
        if class_weight is not None:
            if isinstance(class_weight, dict):
                unknown = [c for c in class_weight if isinstance(c, bool) or not isinstance(c, (int, np.integer))
                           or not 0 <= c < outputs]
                if unknown:  # a weight for a class the network does not have would be dropped silently
                    raise ValueError(f"class_weight names class(es) {unknown[:5]} that this network does not "
                                     f"have: its classes are 0 to {outputs - 1}")
            cw = np.asarray([class_weight.get(c, 1.0) for c in range(outputs)] if isinstance(class_weight, dict)
                            else class_weight, np.float64).ravel()
            if cw.shape != (outputs,):
                raise ValueError(f"class_weight must have one weight per class ({outputs}), got shape {cw.shape}")
            spec["class_weight"] = [float(w) for w in cw]
    else:
        if class_weight is not None:
            raise ValueError("class_weight goes with loss='cross_entropy' only")
        if loss == "bce" and np.asarray(y).dtype.kind in "iub":  # 0/1 labels as integers or booleans
            y = np.asarray(y, dtype)
        targets = model._y(y, n, name)
    if sample_weight is not None:
        sw = _float_rows(sample_weight, "sample_weight", dtype).ravel()
        if sw.shape != (n,):
            raise ValueError(f"sample_weight must have one weight per sample ({n}), got shape {np.shape(sample_weight)}")
        if (sw < 0).any():
            raise ValueError("sample_weight must be >= 0")
        if n and not sw.sum() > 0:
            raise ValueError("sample_weight sums to 0: there is nothing to weigh the loss by")
        spec["weighted"] = True
        targets = np.ascontiguousarray(np.hstack([targets, sw.reshape(-1, 1)]), dtype=dtype)
    spec = loss if len(spec) == 1 else spec
    # The values, checked here as the trainer checks them, naming `name`: validation rows (given, or
    # held out by validation_split) never reach the trainer, and evaluate's would be named "target".
    _core.check_targets(spec, targets, outputs, name)
    return spec, targets


def probabilities(logits, kind):
    """Class probabilities from a network's logits: "softmax" over each row (cross_entropy), or
    "sigmoid" elementwise (bce: binary or multi-label). Computed in float64, without overflow."""
    z = np.asarray(logits, np.float64)
    if kind == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if kind == "sigmoid":
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    raise ValueError(f"kind must be 'softmax' or 'sigmoid', got {kind!r}")


def mean_response(outputs, kind, what="predict"):
    """A log-link loss's predictions from the network's outputs (n, m): kind "exp" (see
    fastmlp.losses.MEAN_FUNCTIONS) gives exp(outputs), computed in float64 and rounded once to the
    outputs' dtype. A value past the dtype's range is refused rather than returned as Inf: a rate that
    large is the network extrapolating, not a prediction. `what` names the caller in the message."""
    if kind != "exp":
        raise ValueError(f"unknown mean function {kind!r}; expected 'exp'")
    z = np.asarray(outputs)
    with np.errstate(over="ignore"):  # refused below, naming the first row that overflows
        out = np.exp(z.astype(np.float64)).astype(z.dtype, copy=False)
    over = np.isposinf(out) & np.isfinite(z)
    if over.any():
        first = int(over.argmax())  # the first overflow in row order
        row, col = divmod(first, z.shape[1]) if z.ndim == 2 else (first, 0)
        big = np.finfo(z.dtype).max
        raise ValueError(f"{what}: the network's log-rate at row {row}, output {col} is {float(z.flat[first]):.6g}, "
                         f"and its exp passes the largest {z.dtype.name} ({big:.4g} = exp({np.log(big):.4g})); such "
                         f"inputs lie far outside the data the model was fitted on (check their units)"
                         + (", or use a float64 model" if z.dtype == np.float32 else ""))
    return out


def predicted_classes(logits, loss):
    """cross_entropy: the index of the largest logit per row; bce: 1 where the logit is > 0 (p > 1/2)."""
    z = np.asarray(logits)
    return z.argmax(axis=1) if loss == "cross_entropy" else (z > 0).astype(np.int64)


def true_classes(y, loss):
    """The classes a target array names: class indices as they are, one-hot/probability rows by their
    largest entry (cross_entropy); bce targets rounded at 1/2."""
    y = np.asarray(y)
    if loss == "cross_entropy":
        return y.astype(np.int64) if y.ndim == 1 else y.argmax(axis=1)
    return (y.reshape(len(y), -1) >= 0.5).astype(np.int64)


def accuracy(logits, y, loss):
    """The fraction of rows classified right (multi-label bce: every label of the row right, as
    scikit-learn's accuracy_score)."""
    if loss not in CLASSIFICATION_LOSSES:
        raise ValueError(f"accuracy applies to the classification losses {CLASSIFICATION_LOSSES}, not {loss!r}")
    pred, true = predicted_classes(logits, loss), true_classes(y, loss)
    right = pred == true if loss == "cross_entropy" else (pred == true).all(axis=1)
    return float(right.mean()) if right.size else float("nan")


def confusion_matrix(true, pred, n_classes):
    """counts[i, j]: samples of class i predicted as class j."""
    counts = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(counts, (np.asarray(true, np.int64), np.asarray(pred, np.int64)), 1)
    return counts
