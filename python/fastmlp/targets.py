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

from typing import TYPE_CHECKING, Any

import numpy as np

from . import _core
from .losses import CLASSIFICATION_LOSSES, check_loss

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, DTypeLike, NDArray

    from ._core import LossArg
    from .model import MLP

__all__ = ["loss_targets", "probabilities", "mean_response", "accuracy", "confusion_matrix"]


def _float_rows(a: ArrayLike, name: str, dtype: DTypeLike) -> NDArray[np.floating[Any]]:
    arr = np.asarray(a)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} has dtype {arr.dtype}; expected numbers")
    out = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(out).all():
        raise ValueError(f"{name} contains NaN or Inf")
    return out


def loss_targets(
    model: MLP,
    y: ArrayLike,
    n: int,
    loss: str,
    sample_weight: ArrayLike | None = None,
    class_weight: ArrayLike | dict[int, float] | None = None,
    name: str = "y",
) -> tuple[LossArg, NDArray[np.floating[Any]]]:
    """The loss spec and target array for training or scoring a model on y with a loss.

    The values are checked here, as the trainer checks them, naming `name`.

    Parameters
    ----------
    model : MLP
        The model (its output count and dtype lay out the targets).
    y : array_like
        The targets: class indices (n,) or rows (n, outputs) for cross_entropy, rows otherwise.
    n : int
        The number of samples X has.
    loss : str
        A name of fastmlp.losses.LOSSES.
    sample_weight : array_like of shape (n,), optional
        One weight per sample (>= 0, with a positive sum).
    class_weight : array_like of shape (classes,) or dict, optional
        One weight per class, or {class: weight} (cross_entropy only; unnamed classes weigh 1).
    name : str, default "y"
        What y is, for the error messages.

    Returns
    -------
    spec : str or dict
        The loss's name when nothing else needs saying, else a dict for fastmlp._core.
    targets : numpy.ndarray
        The 2-D array in the model's dtype, laid out as the module text says.

    Raises
    ------
    TypeError
        For labels or weights that are not numbers (class labels must be integers).
    ValueError
        For an unknown loss, shapes that do not fit, NaN or Inf, labels outside [0, classes), targets
        outside the loss's range, negative weights or weights that sum to 0, a class_weight that names
        classes the network lacks or goes with another loss than cross_entropy, and cross_entropy with
        fewer than 2 outputs.

    Examples
    --------
    >>> import fastmlp
    >>> from fastmlp import targets
    >>> model = fastmlp.MLP([2, 3])
    >>> spec, t = targets.loss_targets(model, [0, 2, 1], 3, "cross_entropy", sample_weight=[1, 2, 1])
    >>> spec
    {'name': 'cross_entropy', 'labels': True, 'weighted': True}
    >>> t
    array([[0., 1.],
           [2., 2.],
           [1., 1.]], dtype=float32)
    """
    loss = check_loss(loss)
    outputs = model.sizes[-1]
    dtype = model.dtype
    spec: LossArg  # a dict until the end, which gives the bare name when the dict says nothing more
    spec = {"name": loss}
    if loss == "cross_entropy":
        if outputs < 2:
            raise ValueError(
                "loss='cross_entropy' needs one output per class (at least 2); for two classes with "
                "a single output use loss='bce'"
            )
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
                unknown = [
                    c
                    for c in class_weight
                    if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c < outputs
                ]
                if unknown:  # a weight for a class the network does not have would be dropped silently
                    raise ValueError(
                        f"class_weight names class(es) {unknown[:5]} that this network does not "
                        f"have: its classes are 0 to {outputs - 1}"
                    )
            cw = np.asarray(
                [class_weight.get(c, 1.0) for c in range(outputs)] if isinstance(class_weight, dict) else class_weight,
                np.float64,
            ).ravel()
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
            raise ValueError(
                f"sample_weight must have one weight per sample ({n}), got shape {np.shape(sample_weight)}"
            )
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


def probabilities(logits: ArrayLike, kind: str) -> NDArray[np.float64]:
    """Class probabilities from a network's logits, computed in float64 without overflow.

    Parameters
    ----------
    logits : array_like of shape (n, outputs)
        The network's outputs.
    kind : {"softmax", "sigmoid"}
        "softmax" over each row (cross_entropy), or "sigmoid" elementwise (bce: binary or multi-label).

    Returns
    -------
    numpy.ndarray of shape (n, outputs)
        The probabilities, float64.

    Raises
    ------
    ValueError
        If kind is neither "softmax" nor "sigmoid".

    Examples
    --------
    >>> from fastmlp import targets
    >>> targets.probabilities([[0.0, 0.0], [1.0, -1.0]], "softmax")
    array([[0.5       , 0.5       ],
           [0.88079708, 0.11920292]])
    """
    z = np.asarray(logits, np.float64)
    if kind == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if kind == "sigmoid":
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    raise ValueError(f"kind must be 'softmax' or 'sigmoid', got {kind!r}")


def mean_response(outputs: ArrayLike, kind: str, what: str = "predict") -> NDArray[np.floating[Any]]:
    """A log-link loss's predictions from the network's outputs.

    Kind "exp" (see fastmlp.losses.MEAN_FUNCTIONS) gives exp(outputs), computed in float64 and rounded
    once to the outputs' dtype. A value past the dtype's range is refused rather than returned as Inf:
    a rate that large is the network extrapolating, not a prediction.

    Parameters
    ----------
    outputs : numpy.ndarray of shape (n, m)
        The network's outputs (log-rates).
    kind : str
        The mean function: "exp".
    what : str, default "predict"
        The caller, named in the message.

    Returns
    -------
    numpy.ndarray of shape (n, m)
        The predictions, in the outputs' dtype.

    Raises
    ------
    ValueError
        If kind is not "exp", or a prediction passes the dtype's largest value.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import targets
    >>> targets.mean_response(np.array([[0.0], [1.0]]), "exp")
    array([[1.        ],
           [2.71828183]])
    """
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
        raise ValueError(
            f"{what}: the network's log-rate at row {row}, output {col} is {float(z.flat[first]):.6g}, "
            f"and its exp passes the largest {z.dtype.name} ({big:.4g} = exp({np.log(big):.4g})); such "
            f"inputs lie far outside the data the model was fitted on (check their units)"
            + (", or use a float64 model" if z.dtype == np.float32 else "")
        )
    return out


def predicted_classes(logits: ArrayLike, loss: str) -> NDArray[np.integer[Any]]:
    """cross_entropy: the index of the largest logit per row; bce: 1 where the logit is > 0 (p > 1/2)."""
    z = np.asarray(logits)
    return z.argmax(axis=1) if loss == "cross_entropy" else (z > 0).astype(np.int64)


def true_classes(y: ArrayLike, loss: str) -> NDArray[np.integer[Any]]:
    """The classes a target array names: class indices as they are, one-hot/probability rows by their
    largest entry (cross_entropy); bce targets rounded at 1/2."""
    y = np.asarray(y)
    if loss == "cross_entropy":
        return y.astype(np.int64) if y.ndim == 1 else y.argmax(axis=1)
    return (y.reshape(len(y), -1) >= 0.5).astype(np.int64)


def accuracy(logits: ArrayLike, y: ArrayLike, loss: str) -> float:
    """The fraction of rows classified right.

    cross_entropy takes the largest logit of a row as its class; bce a logit > 0 (p > 1/2) as 1, and
    with several labels a row counts as right when every label is (as scikit-learn's accuracy_score).

    Parameters
    ----------
    logits : array_like of shape (n, outputs)
        The network's outputs.
    y : array_like
        The targets: class indices or one-hot/probability rows (cross_entropy, by their largest
        entry), or 0/1 targets (bce, rounded at 1/2).
    loss : str
        "cross_entropy" or "bce".

    Returns
    -------
    float
        The fraction, nan for no rows.

    Raises
    ------
    ValueError
        If loss is not a classification loss.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import targets
    >>> logits = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    >>> round(targets.accuracy(logits, np.array([0, 1, 1]), "cross_entropy"), 4)
    0.6667
    """
    if loss not in CLASSIFICATION_LOSSES:
        raise ValueError(f"accuracy applies to the classification losses {CLASSIFICATION_LOSSES}, not {loss!r}")
    pred, true = predicted_classes(logits, loss), true_classes(y, loss)
    right = pred == true if loss == "cross_entropy" else (pred == true).all(axis=1)
    return float(right.mean()) if right.size else float("nan")


def confusion_matrix(true: ArrayLike, pred: ArrayLike, n_classes: int) -> NDArray[np.int64]:
    """The confusion matrix: counts[i, j] samples of class i predicted as class j.

    Parameters
    ----------
    true : array_like of int
        The true classes, in [0, n_classes).
    pred : array_like of int
        The predicted classes, of the same length.
    n_classes : int
        The number of classes.

    Returns
    -------
    numpy.ndarray of shape (n_classes, n_classes)
        The counts, int64.

    Examples
    --------
    >>> from fastmlp import targets
    >>> targets.confusion_matrix([0, 1, 1, 2], [0, 1, 0, 2], 3)
    array([[1, 0, 0],
           [1, 1, 0],
           [0, 0, 1]])
    """
    counts = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(counts, (np.asarray(true, np.int64), np.asarray(pred, np.int64)), 1)
    return counts
