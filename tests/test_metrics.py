"""fastmlp.metrics against sklearn.metrics on seeded random data: sizes down to n=1 (where the metric is
defined) and n=2, odd numbers of outputs/classes, tied scores, int/float/string labels, perfect and
imperfect predictions, constant targets, classes absent from the predictions or from y_true; plus the
ValueError cases."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from fastmlp import metrics as fm

skm = pytest.importorskip("sklearn.metrics")

TOL = 1e-12


def sk(fn, *args, **kwargs):
    """Call a scikit-learn metric with its warnings (UndefinedMetricWarning, ...) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(fn(*args, **kwargs))


def check(got, want, what, tol=TOL):
    assert isinstance(got, float), f"{what}: returned {type(got).__name__}, not float"
    if np.isnan(want):
        assert np.isnan(got), f"{what}: got {got}, scikit-learn gives nan"
        return
    err = abs(got - want)
    assert err <= tol * max(1.0, abs(want)), f"{what}: got {got!r}, want {want!r}, max error {err:.3g}"


def make_labels(kind, k):
    if kind == "int":
        return np.arange(k) * 3 - 2
    if kind == "float":
        return np.linspace(-1.5, 2.25, k)  # non-integral: scikit-learn rejects these, so compare on codes
    return np.array([f"class_{chr(ord('a') + i)}" for i in range(k)])


def sk_labels(y, classes):
    """What scikit-learn is given: float labels as their codes, others unchanged."""
    return np.searchsorted(classes, y) if classes.dtype.kind == "f" else y


# --- regression --------------------------------------------------------------------------------------


def make_targets(rng, n, k, case):
    shape = (n,) if k is None else (n, k)
    y = rng.normal(size=shape) * 3.0 + 1.0
    p = y + rng.normal(size=shape)
    if case == "perfect":
        p = y.copy()
    elif case.startswith("const"):
        y2 = y.reshape(n, -1)
        y2[:, 0] = 2.5  # exact mean: scikit-learn's denominator is then exactly 0
        p2 = p.reshape(n, -1)
        p2[:, 0] = 2.5 if case == "const_perfect" else 2.5 + rng.normal(size=n)
    return y, p


@pytest.mark.parametrize("case", ["random", "perfect", "const_imperfect", "const_perfect"])
@pytest.mark.parametrize("k", [None, 1, 3])
@pytest.mark.parametrize("n", [1, 2, 3, 17, 200])
def test_regression(rng, n, k, case):
    y, p = make_targets(rng, n, k, case)
    what = f"n={n} k={k} {case}"
    check(fm.rmse(y, p), sk(skm.root_mean_squared_error, y, p), f"rmse {what}")
    check(fm.mae(y, p), sk(skm.mean_absolute_error, y, p), f"mae {what}")
    check(fm.r2(y, p), sk(skm.r2_score, y, p), f"r2 {what}")
    rep = fm.regression_report(y, p)
    assert list(rep) == ["r2", "rmse", "mae"]
    for key, fn in (("r2", fm.r2), ("rmse", fm.rmse), ("mae", fm.mae)):
        check(rep[key], fn(y, p), f"report {key} {what}", 0.0)


def test_r2_conventions():
    # 1.0 for a perfect constant column, 0.0 otherwise, even where a rounded mean leaves scikit-learn
    # with a tiny nonzero denominator (it returns about -5e31 for this one).
    assert fm.r2([0.1, 0.1, 0.1], [0.1, 0.1, 0.1]) == 1.0
    assert fm.r2([0.1, 0.1, 0.1], [0.2, 0.2, 0.2]) == 0.0
    assert np.isnan(fm.r2([1.0], [2.0]))


@pytest.mark.parametrize("shape", ["1d", "column"])
@pytest.mark.parametrize("n", [1, 2, 17, 200])
def test_poisson_deviance(rng, n, shape):
    mu = np.exp(rng.normal(size=n))
    y = rng.poisson(mu).astype(float)
    y[0] = 0.0  # the y = 0 term
    if shape == "column":
        y, mu = y[:, None], mu[:, None]
    check(fm.mean_poisson_deviance(y, mu), sk(skm.mean_poisson_deviance, y, mu), f"n={n} {shape}")
    check(fm.mean_poisson_deviance(y + 1.0, y + 1.0), 0.0, "perfect")
    assert fm.regression_report(y, mu, poisson=True)["poisson_deviance"] == fm.mean_poisson_deviance(y, mu)


# --- labels ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["random", "perfect", "absent"])
@pytest.mark.parametrize("kind", ["int", "float", "str"])
@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("n", [1, 2, 5, 60, 301])
def test_accuracy_f1(rng, n, k, kind, case):
    classes = make_labels(kind, k)
    y = classes[rng.integers(0, k, n)]
    if case == "perfect":
        yhat = y.copy()
    else:  # "absent": the last class is never predicted (and, for small n, some never occur at all)
        yhat = classes[rng.integers(0, k - 1 if case == "absent" else k, n)]
    st, sp = sk_labels(y, classes), sk_labels(yhat, classes)
    what = f"n={n} k={k} {kind} {case}"
    check(fm.accuracy(y, yhat), sk(skm.accuracy_score, st, sp), f"accuracy {what}")
    check(fm.f1_macro(y, yhat), sk(skm.f1_score, st, sp, average="macro"), f"f1 {what}")
    # Explicit labels: all classes (some maybe in neither array: zero_division -> 0), and a subset.
    check(
        fm.f1_macro(y, yhat, labels=classes),
        sk(skm.f1_score, st, sp, average="macro", labels=sk_labels(classes, classes)),
        f"f1 all {what}",
    )
    sub = classes[::2]
    check(
        fm.f1_macro(y, yhat, labels=sub),
        sk(skm.f1_score, st, sp, average="macro", labels=sk_labels(sub, classes)),
        f"f1 subset {what}",
    )


def test_f1_class_in_neither():
    assert fm.f1_macro([0, 1, 1], [0, 1, 1], labels=[0, 1, 2]) == pytest.approx(2 / 3, abs=TOL)
    assert fm.f1_macro(["a", "a"], ["a", "a"]) == 1.0


# --- probabilities -----------------------------------------------------------------------------------


def make_proba(rng, n, k, ties):
    """Rows of class probabilities; with ties, drawn from a pool of 3 rows so that scores repeat."""
    pool = rng.dirichlet(np.ones(k), size=3 if ties else n)
    return pool[rng.integers(0, 3, n)] if ties else pool


def draw_y(rng, n, k):
    """Labels codes with every class present (n >= k)."""
    y = rng.integers(0, k, n)
    y[:k] = rng.permutation(k)
    return y


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("kind", ["int", "float", "str"])
@pytest.mark.parametrize("n", [2, 3, 10, 257])
def test_binary_auc_log_loss(rng, n, kind, ties):
    classes = make_labels(kind, 2)
    y = classes[draw_y(rng, n, 2)]
    p = make_proba(rng, n, 2, ties)
    st = sk_labels(y, classes)
    what = f"n={n} {kind} ties={ties}"
    want_auc = sk(skm.roc_auc_score, st, p[:, 1])
    check(fm.roc_auc(y, p), want_auc, f"auc (n,2) {what}")
    check(fm.roc_auc(y, p[:, 1]), want_auc, f"auc (n,) {what}")
    check(fm.roc_auc(y, p[:, 0], classes=classes[::-1]), want_auc, f"auc reversed classes {what}")
    check(fm.roc_auc(y, np.round(p[:, 1] * 3)), sk(skm.roc_auc_score, st, np.round(p[:, 1] * 3)), f"auc {what}")
    want_ll = sk(skm.log_loss, st, p)
    check(fm.log_loss(y, p), want_ll, f"log_loss (n,2) {what}")
    check(fm.log_loss(y, p[:, 1]), want_ll, f"log_loss (n,) {what}")
    check(fm.log_loss(y, p[:, ::-1], classes=classes[::-1]), want_ll, f"log_loss reversed {what}")


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("kind", ["int", "float", "str"])
@pytest.mark.parametrize("k,n", [(3, 3), (3, 40), (5, 7), (5, 300)])
def test_multiclass_auc_log_loss(rng, n, k, kind, ties):
    classes = make_labels(kind, k)
    y = classes[draw_y(rng, n, k)]
    p = make_proba(rng, n, k, ties)
    st, sc = sk_labels(y, classes), sk_labels(classes, classes)
    what = f"n={n} k={k} {kind} ties={ties}"
    want_auc = sk(skm.roc_auc_score, st, p, multi_class="ovr", average="macro", labels=sc)
    check(fm.roc_auc(y, p), want_auc, f"auc {what}")
    check(fm.roc_auc(y, p, classes=classes), want_auc, f"auc classes {what}")
    perm = rng.permutation(k)
    check(fm.roc_auc(y, p[:, perm], classes=classes[perm]), want_auc, f"auc permuted {what}")
    want_ll = sk(skm.log_loss, st, p, labels=sc)
    check(fm.log_loss(y, p), want_ll, f"log_loss {what}")
    check(fm.log_loss(y, p[:, perm], classes=classes[perm]), want_ll, f"log_loss permuted {what}")
    yhat = classes[p.argmax(axis=1)]
    rep = fm.classification_report(y, yhat, p, classes)
    assert list(rep) == ["accuracy", "f1_macro", "roc_auc", "log_loss"]
    want = (
        sk(skm.accuracy_score, st, sk_labels(yhat, classes)),
        sk(skm.f1_score, st, sk_labels(yhat, classes), average="macro"),
        want_auc,
        want_ll,
    )
    for key, value in zip(rep, want):
        check(rep[key], value, f"report {key} {what}")


def test_auc_undefined_is_nan():
    assert np.isnan(fm.roc_auc([1, 1, 1], [0.2, 0.5, 0.9]))
    assert np.isnan(fm.roc_auc(["a"], [[0.4, 0.6]], classes=["a", "b"]))
    assert np.isnan(fm.roc_auc(["x", "x"], np.full((2, 3), 1 / 3)))
    # Multiclass with a class absent from y_true: scikit-learn's macro average is nan as well.
    y, p = np.array([0, 1, 1, 0, 1]), np.random.default_rng(0).dirichlet(np.ones(3), 5)
    want = sk(skm.roc_auc_score, y, p, multi_class="ovr", labels=[0, 1, 2])
    check(fm.roc_auc(y, p, classes=[0, 1, 2]), want, "absent class")


def test_perfect_scores():
    y = np.array(["b", "a", "c", "a", "c"])
    p = (y[:, None] == np.array(["a", "b", "c"])).astype(float)
    assert fm.roc_auc(y, p) == 1.0
    assert fm.accuracy(y, y) == 1.0 and fm.f1_macro(y, y) == 1.0
    eps = np.finfo(np.float64).eps
    check(fm.log_loss(y, p), -np.log(1 - eps), "perfect log_loss")
    check(fm.log_loss(y, p[:, ::-1], classes=["c", "b", "a"]), sk(skm.log_loss, y, p), "perfect permuted")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_loss_clipping(dtype):
    y = [0, 1, 1, 0]
    p = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.3, 0.7]], dtype=dtype)  # two hard mistakes
    tol = TOL if dtype == np.float64 else 1e-6  # scikit-learn computes in float32 there, fastmlp in float64
    check(fm.log_loss(y, p), sk(skm.log_loss, y, p), f"clipped {dtype.__name__}", tol)
    check(fm.log_loss([1], [0.25], classes=[0, 1]), sk(skm.log_loss, [1], [0.25], labels=[0, 1]), "n=1")


def test_log_loss_unnormalized_rows_warn_not_renormalized():
    y, p = [0, 1, 2], np.array([[0.5, 0.2, 0.2], [0.1, 0.6, 0.1], [0.2, 0.2, 0.5]])
    with pytest.warns(UserWarning, match="do not sum to one"):
        got = fm.log_loss(y, p)
    check(got, sk(skm.log_loss, y, p), "unnormalized")


# --- errors ------------------------------------------------------------------------------------------

P3 = np.full((3, 3), 1 / 3)
ERRORS = {
    "length": (fm.rmse, ([1.0, 2.0], [1.0]), "different lengths"),
    "outputs": (fm.r2, (np.ones((3, 2)), np.ones((3, 3))), "outputs"),
    "3-d": (fm.mae, (np.ones((2, 2, 2)), np.ones((2, 2, 2))), "shape"),
    "empty": (fm.mae, ([], []), "y_true is empty"),
    "nan y_true": (fm.rmse, ([1.0, np.nan], [1.0, 2.0]), "y_true contains NaN"),
    "inf y_pred": (fm.r2, ([1.0, 2.0], [1.0, np.inf]), "y_pred contains NaN"),
    "text target": (fm.mae, (["a", "b"], [1.0, 2.0]), "y_true must be numeric"),
    "poisson y<0": (fm.mean_poisson_deviance, ([-1.0, 2.0], [1.0, 2.0]), "y_true >= 0"),
    "poisson mu=0": (fm.mean_poisson_deviance, ([1.0, 2.0], [0.0, 2.0]), "y_pred > 0"),
    "poisson 2-d": (fm.mean_poisson_deviance, (np.ones((2, 2)), np.ones((2, 2))), "single output"),
    "acc length": (fm.accuracy, ([0, 1], [0]), "different lengths"),
    "acc empty": (fm.accuracy, ([], []), "y_true is empty"),
    "acc nan": (fm.accuracy, ([0.0, 1.0], [np.nan, 1.0]), "y_pred_labels contains NaN"),
    "acc 2-d": (fm.accuracy, (np.zeros((2, 2)), np.zeros((2, 2))), "1-D"),
    "mixed types": (fm.f1_macro, ([0, 1], ["a", "b"]), "mix label types"),
    "mixed object": (fm.accuracy, (np.array([0, "a"], dtype=object), [0, 1]), "mixes label types"),
    "duplicate labels": (fm.f1_macro, ([0, 1], [0, 1], [0, 0, 1]), "repeat"),
    "auc length": (fm.roc_auc, ([0, 1, 1], [0.1, 0.9]), "different lengths"),
    "auc nan": (fm.roc_auc, ([0, 1], [0.1, np.nan]), "proba contains NaN"),
    "auc nan y": (fm.roc_auc, ([0.0, np.nan], [0.1, 0.2]), "y_true contains NaN"),
    "auc (n,1)": (fm.roc_auc, ([0, 1], [[0.1], [0.9]]), "shape"),
    "auc columns": (fm.roc_auc, ([0, 1, 2], P3[:, :2].copy()), "y_true has 3 distinct labels"),
    "auc 1-d multiclass": (fm.roc_auc, ([0, 1, 2], [0.1, 0.5, 0.9]), "2 columns"),
    "auc missing label": (fm.roc_auc, ([0, 1, 3], P3, [0, 1, 2]), "not in classes"),
    "auc class count": (fm.roc_auc, ([0, 1, 2], P3, [0, 1]), "classes has 2 labels"),
    "auc rows": (fm.roc_auc, ([0, 1, 2], P3 * 2, None), "sum to 1"),
    "auc classes kind": (fm.roc_auc, ([0, 1], [0.2, 0.8], ["a", "b"]), "mix label types"),
    "ll range": (fm.log_loss, ([0, 1], [0.5, 1.5]), r"\[0, 1\]"),
    "ll one label": (fm.log_loss, ([1, 1], [0.5, 0.7]), "only one label"),
    "ll empty": (fm.log_loss, ([], []), "y_true is empty"),
    "ll proba empty": (fm.log_loss, ([0], np.zeros((0, 2))), "proba is empty"),
    "ll text proba": (fm.log_loss, ([0, 1], ["a", "b"]), "proba must be numeric"),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors(name):
    fn, args, match = ERRORS[name]
    with pytest.raises(ValueError, match=match):
        fn(*args)
