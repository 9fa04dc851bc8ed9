"""Evaluation metrics in plain NumPy (float64), each matching a scikit-learn function (named in its
docstring; scikit-learn's definitions are the specification, tests/test_metrics.py checks them against
it) without depending on scikit-learn.

Regression metrics take 1-D targets of shape (n,) or 2-D targets of shape (n, k) (k outputs, averaged
uniformly); a 1-D array and an (n, 1) array are interchangeable, as in scikit-learn. Classification
metrics take 1-D label arrays of ints, floats, bools or strings (y_true and the predicted labels must be
of the same kind: both numeric or both strings). Probability-based metrics take `proba` of shape (n,)
(the positive class's probability, binary only) or (n, k), whose columns follow `classes` (default: the
sorted unique labels of y_true, which must then number k; 2 for a 1-D `proba`).

Every function raises ValueError, naming the argument, for empty input, mismatched lengths or shapes,
and NaN or infinite values. regression_report and classification_report collect the metrics in a dict
of floats for the command-line tool to print.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "accuracy",
    "classification_report",
    "f1_macro",
    "log_loss",
    "mae",
    "mean_poisson_deviance",
    "r2",
    "regression_report",
    "rmse",
    "roc_auc",
]


# --- validation --------------------------------------------------------------------------------------


def _finite(a: NDArray[Any], name: str) -> None:
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinity")


def _float_array(x: ArrayLike, name: str) -> NDArray[np.float64]:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be numeric: {e}") from None
    if a.size == 0 or (a.ndim >= 1 and a.shape[0] == 0):
        raise ValueError(f"{name} is empty")
    _finite(a, name)
    return a


def _targets(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Both as float64 (n, k) arrays; 1-D inputs become (n, 1), as scikit-learn's _check_reg_targets."""
    out: list[NDArray[np.float64]] = []
    for x, name in ((y_true, "y_true"), (y_pred, "y_pred")):
        a = _float_array(x, name)
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2 or a.shape[1] == 0:
            raise ValueError(f"{name} must have shape (n,) or (n, k) with k >= 1, got {np.shape(x)}")
        out.append(a)
    t, p = out
    if t.shape[0] != p.shape[0]:
        raise ValueError(f"y_true and y_pred have different lengths: {t.shape[0]} vs {p.shape[0]}")
    if t.shape[1] != p.shape[1]:
        raise ValueError(f"y_true and y_pred have different numbers of outputs: {t.shape[1]} vs {p.shape[1]}")
    return t, p


def _label_kind(a: NDArray[Any]) -> str:
    return {"U": "str", "S": "bytes"}.get(a.dtype.kind, "num")


def _labels(x: ArrayLike, name: str, ndim: int = 1) -> NDArray[Any]:
    """A label array: numeric (finite) or strings; object arrays of str become str arrays."""
    a = np.asarray(x)
    if a.dtype == object:
        flat = a.ravel().tolist()
        if all(isinstance(v, str) for v in flat):
            a = a.astype(str)
        else:
            try:
                a = a.astype(np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"{name} mixes label types (strings and numbers) or holds non-labels") from None
    if a.dtype.kind not in "biufUS":
        raise ValueError(f"{name} must hold numbers or strings, got dtype {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if a.dtype.kind == "f":
        _finite(a, name)
    return a


def _same_kind(a: NDArray[Any], name_a: str, b: NDArray[Any], name_b: str) -> None:
    if _label_kind(a) != _label_kind(b):
        raise ValueError(f"{name_a} and {name_b} mix label types: {a.dtype} and {b.dtype}")


def _same_length(a: NDArray[Any], name_a: str, b: NDArray[Any], name_b: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{name_a} and {name_b} have different lengths: {len(a)} vs {len(b)}")


def _unique_labels(a: NDArray[Any], name: str) -> NDArray[Any]:
    u = np.unique(a)
    if len(u) != len(a):
        raise ValueError(f"{name} must not repeat a label")
    return u


def _index(y: NDArray[Any], classes: NDArray[Any]) -> NDArray[np.intp]:
    """Index of each y in classes (any order), -1 where y is not among them."""
    order = np.argsort(classes, kind="stable")
    sorted_classes = classes[order]
    pos = np.clip(np.searchsorted(sorted_classes, y), 0, len(classes) - 1)
    return np.where(sorted_classes[pos] == y, order[pos], -1)


def _encode(
    y: NDArray[Any], classes: NDArray[Any], name: str = "y_true", classes_name: str = "classes"
) -> NDArray[np.intp]:
    """Index of each y in classes (any order); ValueError for labels missing from classes."""
    idx = _index(y, classes)
    if np.any(idx < 0):
        raise ValueError(f"{name} contains labels not in {classes_name}: {np.unique(y[idx < 0]).tolist()}")
    return idx


def _proba(proba: ArrayLike, n: int) -> tuple[NDArray[np.float64], np.dtype[Any]]:
    """proba as a 2-D float array (1-D -> [1 - p, p]), the dtype it came in (for eps) and its width k."""
    p = np.asarray(proba)
    if p.dtype.kind not in "biuf":
        raise ValueError(f"proba must be numeric, got dtype {p.dtype}")
    dtype = p.dtype if p.dtype.kind == "f" else np.dtype(np.float64)
    p = p.astype(np.float64)
    if p.ndim not in (1, 2) or (p.ndim == 2 and p.shape[1] < 2):
        raise ValueError(f"proba must have shape (n,) or (n, k) with k >= 2, got {p.shape}")
    if p.shape[0] == 0:
        raise ValueError("proba is empty")
    if p.shape[0] != n:
        raise ValueError(f"y_true and proba have different lengths: {n} vs {p.shape[0]}")
    _finite(p, "proba")
    return p, dtype


def _classes(classes: ArrayLike | None, y_true: NDArray[Any], k: int) -> NDArray[Any]:
    """The column labels: given (unique, k of them, covering y_true) or y_true's sorted unique labels."""
    if classes is None:
        c = np.unique(y_true)
        if len(c) != k:
            raise ValueError(
                f"y_true has {len(c)} distinct labels {c.tolist()} but proba has {k} columns; "
                "pass classes= to give the column order"
            )
        return c
    c = _labels(classes, "classes")
    _same_kind(y_true, "y_true", c, "classes")
    _unique_labels(c, "classes")
    if len(c) != k:
        raise ValueError(f"classes has {len(c)} labels but proba has {k} columns")
    return c


# --- regression --------------------------------------------------------------------------------------


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error, uniformly averaged over outputs.

    ``mean_j sqrt(mean_i (y_ij - p_ij)^2)`` (per-output RMSE, then the mean over the k outputs; for 1-D
    targets simply ``sqrt(mean((y - p)^2))``). Matches ``sklearn.metrics.root_mean_squared_error``
    (multioutput="uniform_average").

    Parameters
    ----------
    y_true : array_like of shape (n,) or (n, k)
        The targets.
    y_pred : array_like of shape (n,) or (n, k)
        The predictions, of the same shape.

    Returns
    -------
    float
        The RMSE.

    Raises
    ------
    ValueError
        For empty input, mismatched lengths or shapes, non-numeric values, and NaN or infinite values.

    Examples
    --------
    >>> from fastmlp import metrics
    >>> round(metrics.rmse([3, -0.5, 2, 7], [2.5, 0.0, 2, 8]), 6)
    0.612372
    """
    t, p = _targets(y_true, y_pred)
    return float(np.mean(np.sqrt(np.mean((t - p) ** 2, axis=0))))


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error, uniformly averaged over outputs: ``mean_j mean_i |y_ij - p_ij|``.

    Matches ``sklearn.metrics.mean_absolute_error`` (multioutput="uniform_average").

    Parameters
    ----------
    y_true : array_like of shape (n,) or (n, k)
        The targets.
    y_pred : array_like of shape (n,) or (n, k)
        The predictions, of the same shape.

    Returns
    -------
    float
        The MAE.

    Raises
    ------
    ValueError
        For empty input, mismatched lengths or shapes, non-numeric values, and NaN or infinite values.

    Examples
    --------
    >>> from fastmlp import metrics
    >>> metrics.mae([3, -0.5, 2, 7], [2.5, 0.0, 2, 8])
    0.5
    """
    t, p = _targets(y_true, y_pred)
    return float(np.mean(np.mean(np.abs(t - p), axis=0)))


def r2(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Coefficient of determination, uniformly averaged over outputs.

    ``R2_j = 1 - sum_i (y_ij - p_ij)^2 / sum_i (y_ij - mean_i y_ij)^2``, then the mean over j.
    Matches ``sklearn.metrics.r2_score`` (multioutput="uniform_average", force_finite=True): an output
    whose target is constant scores 1.0 if its predictions are exact, else 0.0; fewer than two samples
    give nan (scikit-learn also warns). A column counts as constant when all its values are equal; where
    scikit-learn's mean of such a column rounds (e.g. [0.1, 0.1, 0.1]) it leaves a tiny nonzero
    denominator and a huge negative score, and this function returns 0.0, the documented convention.

    Parameters
    ----------
    y_true : array_like of shape (n,) or (n, k)
        The targets.
    y_pred : array_like of shape (n,) or (n, k)
        The predictions, of the same shape.

    Returns
    -------
    float
        The mean R2 over the outputs (nan for fewer than two samples).

    Raises
    ------
    ValueError
        For empty input, mismatched lengths or shapes, non-numeric values, and NaN or infinite values.

    Examples
    --------
    >>> from fastmlp import metrics
    >>> round(metrics.r2([3, -0.5, 2, 7], [2.5, 0.0, 2, 8]), 6)
    0.948608
    >>> metrics.r2([1, 1, 1], [1, 1, 1]), metrics.r2([1, 1, 1], [1, 2, 1])
    (1.0, 0.0)
    """
    t, p = _targets(y_true, y_pred)
    if t.shape[0] < 2:
        return float("nan")
    numerator = np.sum((t - p) ** 2, axis=0)
    denominator = np.sum((t - np.mean(t, axis=0)) ** 2, axis=0)
    constant = np.all(t == t[0], axis=0)
    safe = np.where(constant, 1.0, denominator)
    scores = np.where(constant, np.where(numerator == 0, 1.0, 0.0), 1.0 - numerator / safe)
    return float(np.mean(scores))


def mean_poisson_deviance(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean Poisson deviance: ``mean_i 2 (y_i log(y_i / mu_i) - y_i + mu_i)``.

    The y_i log(...) term is 0 where y_i = 0. Matches ``sklearn.metrics.mean_poisson_deviance``.

    Parameters
    ----------
    y_true : array_like of shape (n,) or (n, 1)
        The targets, >= 0 (counts or rates).
    y_pred : array_like of shape (n,) or (n, 1)
        The predicted means mu, > 0.

    Returns
    -------
    float
        The mean deviance.

    Raises
    ------
    ValueError
        If y_true has negative values, y_pred values <= 0, either more than one output, or for empty
        input, mismatched shapes and NaN or infinite values.

    Examples
    --------
    >>> from fastmlp import metrics
    >>> round(metrics.mean_poisson_deviance([2, 0, 1, 4], [0.5, 0.5, 2.0, 2.0]), 6)
    1.426015
    """
    t, p = _targets(y_true, y_pred)
    if t.shape[1] != 1:
        raise ValueError(f"mean_poisson_deviance takes a single output, got {t.shape[1]} columns")
    if np.any(t < 0):
        raise ValueError("mean_poisson_deviance needs y_true >= 0 (counts or rates); y_true has negative values")
    if np.any(p <= 0):
        raise ValueError("mean_poisson_deviance needs y_pred > 0 (a Poisson mean); y_pred has values <= 0")
    t, p = t[:, 0], p[:, 0]
    positive = t > 0
    ylogy = np.where(positive, t * np.log(np.where(positive, t / p, 1.0)), 0.0)
    return float(np.mean(2.0 * (ylogy - t + p)))


# --- classification ----------------------------------------------------------------------------------


def _two_label_arrays(y_true: ArrayLike, y_pred: ArrayLike, pred_name: str) -> tuple[NDArray[Any], NDArray[Any]]:
    t = _labels(y_true, "y_true")
    p = _labels(y_pred, pred_name)
    _same_length(t, "y_true", p, pred_name)
    _same_kind(t, "y_true", p, pred_name)
    return t, p


def accuracy(y_true: ArrayLike, y_pred_labels: ArrayLike) -> float:
    """Fraction of exact label matches: ``mean_i [y_i == yhat_i]``.

    Matches ``sklearn.metrics.accuracy_score`` (normalize=True).

    Parameters
    ----------
    y_true : array_like of shape (n,)
        The true labels: ints, floats, bools or strings.
    y_pred_labels : array_like of shape (n,)
        The predicted labels, of the same kind (both numeric or both strings).

    Returns
    -------
    float
        The fraction, in [0, 1].

    Raises
    ------
    ValueError
        For empty input, mismatched lengths, labels of different kinds, and NaN or infinite values.

    Examples
    --------
    >>> from fastmlp import metrics
    >>> metrics.accuracy([0, 1, 2, 3], [0, 2, 1, 3])
    0.5
    >>> metrics.accuracy(["a", "b", "c"], ["a", "b", "b"])
    0.6666666666666666
    """
    t, p = _two_label_arrays(y_true, y_pred_labels, "y_pred_labels")
    return float(np.mean(t == p))


def f1_macro(y_true: ArrayLike, y_pred_labels: ArrayLike, labels: ArrayLike | None = None) -> float:
    """Unweighted mean over labels of the per-class F1 = 2 TP / (2 TP + FP + FN).

    F1 is the harmonic mean of precision and recall. Matches ``sklearn.metrics.f1_score(average="macro")``.
    `labels` defaults to the sorted union of the labels in y_true and y_pred_labels; given, only those classes
    are averaged (samples of other classes still count as false positives/negatives for them). A class with no
    true and no predicted samples scores 0.0, as scikit-learn's default zero_division="warn" (which also warns;
    this function does not).

    Parameters
    ----------
    y_true : array_like of shape (n,)
        The true labels: ints, floats, bools or strings.
    y_pred_labels : array_like of shape (n,)
        The predicted labels, of the same kind (both numeric or both strings).
    labels : array_like of shape (k,), optional
        The classes to average over, distinct and of the same kind as y_true.

    Returns
    -------
    float
        The macro-averaged F1, in [0, 1].

    Raises
    ------
    ValueError
        For empty input, mismatched lengths, labels of different kinds, and NaN or infinite values.

    Examples
    --------
    >>> from fastmlp import metrics
    >>> round(metrics.f1_macro([0, 1, 2, 0, 1, 2], [0, 2, 1, 0, 0, 1]), 6)
    0.266667
    """
    t, p = _two_label_arrays(y_true, y_pred_labels, "y_pred_labels")
    if labels is None:
        labs = np.union1d(t, p)
    else:
        labs = _labels(labels, "labels")
        _same_kind(t, "y_true", labs, "labels")
        _unique_labels(labs, "labels")
    k = len(labs)
    ti, pi = _index(t, labs), _index(p, labs)
    tp = np.bincount(ti[(ti == pi) & (ti >= 0)], minlength=k)
    denom = np.bincount(ti[ti >= 0], minlength=k) + np.bincount(pi[pi >= 0], minlength=k)
    f1 = np.where(denom > 0, 2.0 * tp / np.maximum(denom, 1), 0.0)
    return float(np.mean(f1))


def _binary_auc(positive: NDArray[np.bool_], score: NDArray[np.float64]) -> float:
    """Mann-Whitney form: P(score_pos > score_neg) + 0.5 P(tie), from the counts at each distinct score."""
    n_pos = int(np.sum(positive))
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse = np.unique(score, return_inverse=True)
    inverse = inverse.ravel()
    pos_counts = np.bincount(inverse, weights=positive.astype(np.float64))
    neg_counts = np.bincount(inverse, weights=(~positive).astype(np.float64))
    neg_below = np.cumsum(neg_counts) - neg_counts
    u = np.sum(pos_counts * (neg_below + 0.5 * neg_counts))
    return float(u / (n_pos * n_neg))


def roc_auc(y_true: ArrayLike, proba: ArrayLike, classes: ArrayLike | None = None) -> float:
    """Area under the ROC curve, in its rank (Mann-Whitney) form.

    ``AUC = (sum_{i pos, j neg} [s_i > s_j] + 0.5 [s_i == s_j]) / (n_pos n_neg)``, so tied scores count
    one half. Binary (proba of shape (n,), or (n, 2) whose column 1 is used; the positive class is
    classes[1]): matches ``sklearn.metrics.roc_auc_score``; any finite scores are accepted. Multiclass
    (n, k), k >= 3: the unweighted mean over classes of each class's one-vs-rest AUC, matching
    ``roc_auc_score(multi_class="ovr", average="macro", labels=classes)``; as there, rows must sum to 1.

    Returns nan, not an error, when y_true holds only one class (the AUC is undefined), and, in the
    multiclass case, when any class of `classes` is absent from y_true (scikit-learn's macro average is
    then nan too). Unlike scikit-learn, `classes` need not be sorted: it gives proba's column order.

    Parameters
    ----------
    y_true : array_like of shape (n,)
        The true labels.
    proba : array_like of shape (n,) or (n, k)
        The probabilities: of the positive class (n,), binary only, or one column per class (n, k).
    classes : array_like of shape (k,), optional
        The label of each column of proba (default: the sorted unique labels of y_true, which must
        then number k; 2 for a 1-D proba).

    Returns
    -------
    float
        The AUC, or nan where it is undefined.

    Raises
    ------
    ValueError
        For empty input, mismatched lengths or shapes, labels missing from `classes`, NaN or infinite
        values, and multiclass rows that do not sum to 1.

    Examples
    --------
    >>> from fastmlp import metrics
    >>> metrics.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    >>> metrics.roc_auc([1, 1], [0.2, 0.3])
    nan
    """
    t = _labels(y_true, "y_true")
    p, _ = _proba(proba, len(t))
    k = 2 if p.ndim == 1 else p.shape[1]
    if classes is None and len(np.unique(t)) < 2:
        return float("nan")
    c = _classes(classes, t, k)
    idx = _encode(t, c)
    if k == 2:
        score = p if p.ndim == 1 else p[:, 1]
        return _binary_auc(idx == 1, score)
    if not np.allclose(1.0, p.sum(axis=1)):
        raise ValueError("proba rows must sum to 1 for multiclass roc_auc (probabilities, not scores)")
    return float(np.mean([_binary_auc(idx == j, p[:, j]) for j in range(k)]))


def log_loss(y_true: ArrayLike, proba: ArrayLike, classes: ArrayLike | None = None) -> float:
    """Mean negative log-likelihood of the true class.

    ``-mean_i log(clip(p_{i, y_i}, eps, 1 - eps))`` with eps = np.finfo(proba.dtype).eps (float64's eps for
    integer input); the arithmetic is float64. A 1-D proba is the positive class's probability (columns [1 - p,
    p]). Matches ``sklearn.metrics.log_loss`` (labels=classes): values outside [0, 1] raise ValueError; rows are
    not renormalized (scikit-learn >= 1.5 no longer does) but, as there, a UserWarning says when a row's sum is
    not 1 (rtol sqrt(eps), atol 1e-8). At least two classes are needed: y_true with a single label and no
    `classes` is a ValueError.

    Parameters
    ----------
    y_true : array_like of shape (n,)
        The true labels.
    proba : array_like of shape (n,) or (n, k)
        The probabilities: of the positive class (n,), binary only, or one column per class (n, k).
    classes : array_like of shape (k,), optional
        The label of each column of proba (default: the sorted unique labels of y_true, which must
        then number k; 2 for a 1-D proba).

    Returns
    -------
    float
        The log-loss.

    Raises
    ------
    ValueError
        If proba has values outside [0, 1], y_true has a single label and `classes` is not given, or
        for empty input, mismatched lengths or shapes, labels missing from `classes`, and NaN or
        infinite values.

    Warns
    -----
    UserWarning
        When a row of proba does not sum to 1.

    Examples
    --------
    >>> from fastmlp import metrics
    >>> proba = [[0.1, 0.9], [0.9, 0.1], [0.8, 0.2], [0.35, 0.65]]
    >>> round(metrics.log_loss(["spam", "ham", "ham", "spam"], proba), 6)
    0.216162
    """
    t = _labels(y_true, "y_true")
    p, dtype = _proba(proba, len(t))
    if p.max() > 1 or p.min() < 0:
        raise ValueError(f"proba must lie in [0, 1], got values in [{p.min()}, {p.max()}]")
    if p.ndim == 1:
        p = np.column_stack([1.0 - p, p])
    if classes is None and len(np.unique(t)) < 2:
        raise ValueError(f"y_true contains only one label ({t[0]!r}); pass classes= to give all the classes")
    c = _classes(classes, t, p.shape[1])
    idx = _encode(t, c)
    eps = float(np.finfo(dtype).eps)
    if not np.all(np.isclose(p.sum(axis=1), 1.0, rtol=np.sqrt(eps), atol=1e-8)):
        warnings.warn("proba rows do not sum to one; pass probabilities", UserWarning, stacklevel=2)
    chosen = np.clip(p[np.arange(len(t)), idx], eps, 1.0 - eps)
    return float(-np.mean(np.log(chosen)))


# --- reports -----------------------------------------------------------------------------------------


def regression_report(y_true: ArrayLike, y_pred: ArrayLike, poisson: bool = False) -> dict[str, float]:
    """The regression metrics of predictions as a dict of Python floats.

    Parameters
    ----------
    y_true : array_like of shape (n,) or (n, k)
        The targets.
    y_pred : array_like of shape (n,) or (n, k)
        The predictions, of the same shape.
    poisson : bool, default False
        Also report "poisson_deviance" (mean_poisson_deviance).

    Returns
    -------
    dict of str to float
        "r2", "rmse" and "mae" (see r2, rmse, mae), and "poisson_deviance" when poisson is true.

    Raises
    ------
    ValueError
        As the metrics it collects.

    Examples
    --------
    >>> from fastmlp import metrics
    >>> report = metrics.regression_report([3, -0.5, 2, 7], [2.5, 0.0, 2, 8])
    >>> {name: round(value, 4) for name, value in report.items()}
    {'r2': 0.9486, 'rmse': 0.6124, 'mae': 0.5}
    """
    report = {"r2": r2(y_true, y_pred), "rmse": rmse(y_true, y_pred), "mae": mae(y_true, y_pred)}
    if poisson:
        report["poisson_deviance"] = mean_poisson_deviance(y_true, y_pred)
    return report


def classification_report(
    y_true: ArrayLike, labels_pred: ArrayLike, proba: ArrayLike, classes: ArrayLike | None = None
) -> dict[str, float]:
    """The classification metrics of predicted labels and probabilities as a dict of Python floats.

    Parameters
    ----------
    y_true : array_like of shape (n,)
        The true labels.
    labels_pred : array_like of shape (n,)
        The predicted labels.
    proba : array_like of shape (n,) or (n, k)
        The predicted probabilities (see roc_auc).
    classes : array_like of shape (k,), optional
        The label of each column of proba.

    Returns
    -------
    dict of str to float
        "accuracy" and "f1_macro" (over the labels present in y_true or labels_pred, scikit-learn's
        default) of the predicted labels, "roc_auc" and "log_loss" of proba, whose columns follow
        `classes` (see roc_auc; nan AUC when it is undefined).

    Raises
    ------
    ValueError
        As the metrics it collects.

    Examples
    --------
    >>> from fastmlp import metrics
    >>> report = metrics.classification_report([0, 1, 1, 0], [0, 1, 0, 0], [0.2, 0.9, 0.4, 0.3])
    >>> {name: round(value, 4) for name, value in report.items()}
    {'accuracy': 0.75, 'f1_macro': 0.7333, 'roc_auc': 1.0, 'log_loss': 0.4004}
    """
    return {
        "accuracy": accuracy(y_true, labels_pred),
        "f1_macro": f1_macro(y_true, labels_pred),
        "roc_auc": roc_auc(y_true, proba, classes),
        "log_loss": log_loss(y_true, proba, classes),
    }
