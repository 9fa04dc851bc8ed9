"""The common case of scikit-learn's input checks, without their generic machinery.

scikit-learn's validation (check_array, type_of_target, LabelBinarizer) handles every container and
target type there is; on a small data set it costs about as much as training. When X and y are plain
NumPy arrays that need no conversion (X 2-D float32/float64 and finite, y 1-D labels or numeric
targets), the answer is known from a few array operations: the same arrays, the same
`n_features_in_`, the same classes and one-hot matrix, the same fitted LabelBinarizer. Anything else
(lists, DataFrames, sparse X, NaN, a feature count that does not match, continuous class labels, a
single class, ...) returns None, and the caller runs scikit-learn's own checks, which raise their own
errors and warnings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    from sklearn.preprocessing import LabelBinarizer

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _plain_x(est: Any, X: NDArray[Any], reset: bool) -> bool:
    if type(X) is not np.ndarray or X.ndim != 2 or X.dtype not in _FLOATS or X.shape[0] < 1 or X.shape[1] < 1:
        return False
    if not np.isfinite(X.sum()):  # a NaN or Inf anywhere makes the sum non-finite (so may an overflow:
        return False  # then scikit-learn's element-wise check decides)
    if reset:
        est.n_features_in_ = X.shape[1]
        est.__dict__.pop("feature_names_in_", None)  # fitted on an array: no feature names
        return True
    return getattr(est, "n_features_in_", None) == X.shape[1] and not hasattr(est, "feature_names_in_")


def regression_xy(est: Any, X: object, y: object, reset: bool) -> tuple[NDArray[Any], NDArray[Any]] | None:
    """(X, y) as scikit-learn's validate_data(..., multi_output=True, y_numeric=True) returns them, or None."""
    if (
        type(X) is not np.ndarray
        or type(y) is not np.ndarray
        or y.dtype.kind not in "fiu"
        or y.ndim not in (1, 2)
        or len(y) != len(X)
    ):
        return None
    if y.ndim == 2 and y.shape[1] < 2:  # (n, 1): scikit-learn warns and ravels; (n, 0) is refused
        return None
    if y.dtype.kind == "f" and not np.isfinite(y.sum()):
        return None
    return (X, y) if _plain_x(est, X, reset) else None


def classification_xy(
    est: Any, X: object, y: object, reset: bool
) -> tuple[NDArray[Any], NDArray[Any], NDArray[np.intp]] | None:
    """(X, classes, class index of each row) for 1-D labels of two or more classes, or None."""
    if (
        type(X) is not np.ndarray
        or type(y) is not np.ndarray
        or y.ndim != 1
        or len(y) != len(X)
        or y.dtype.kind not in "biufU"
    ):
        return None
    if y.dtype.kind == "f" and not (np.isfinite(y.sum()) and np.array_equal(y, np.floor(y))):
        return None  # continuous labels (an error) or NaN: scikit-learn's checks say so
    classes, index = np.unique(y, return_inverse=True)
    if len(classes) < 2 or not _plain_x(est, X, reset):
        return None
    return X, classes, index.reshape(-1)


def fitted_binarizer(classes: NDArray[Any]) -> LabelBinarizer:
    """A LabelBinarizer as LabelBinarizer().fit(y) leaves it for 1-D labels with these classes."""
    from sklearn.preprocessing import LabelBinarizer

    lb = LabelBinarizer()
    lb.y_type_ = "binary" if len(classes) == 2 else "multiclass"
    lb.sparse_input_ = False
    lb.classes_ = classes
    return lb


def one_hot(index: NDArray[np.integer[Any]], n_classes: int) -> NDArray[np.bool_]:
    """LabelBinarizer's transform as booleans: one column (the second class) for two classes."""
    if n_classes == 2:
        return (index == 1).reshape(-1, 1)
    out = np.zeros((len(index), n_classes), dtype=bool)
    out[np.arange(len(index)), index] = True
    return out


def r2(y: NDArray[Any], pred: NDArray[Any], sample_weight: ArrayLike | None = None) -> float:
    """sklearn.metrics.r2_score(y, pred, sample_weight) for 1-D or 2-D float arrays of one shape: 1 -
    SS_res / SS_tot per output, averaged over outputs; an output with SS_tot = 0 scores 1 when SS_res is 0
    too, else 0 (scikit-learn's force_finite)."""
    y = y.reshape(len(y), -1).astype(np.float64, copy=False)
    pred = pred.reshape(len(pred), -1).astype(np.float64, copy=False)
    w = np.ones((len(y), 1)) if sample_weight is None else np.asarray(sample_weight, np.float64).reshape(-1, 1)
    mean = (w * y).sum(axis=0) / w.sum()
    num = (w * (y - pred) ** 2).sum(axis=0)
    den = (w * (y - mean) ** 2).sum(axis=0)
    score = np.ones(y.shape[1])
    ok = den != 0
    score[ok] = 1.0 - num[ok] / den[ok]
    score[~ok & (num != 0)] = 0.0
    return float(score.mean())
