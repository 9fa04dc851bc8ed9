"""fastmlp.sklearn's extras beyond scikit-learn's arguments, each against a hand-computed or
scikit-learn-computed expectation: class_weight (scikit-learn's definition, as its other classifiers
take it) and one activation per hidden layer."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", reason="scikit-learn is not installed (extra 'sklearn')")

from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.class_weight import compute_sample_weight

from fastmlp.sklearn import MLPClassifier, MLPRegressor


def _params(est):
    return est.coefs_ + est.intercepts_


def _same_fit(a, b):
    assert all(np.array_equal(p, q) for p, q in zip(_params(a), _params(b))), "the two fits differ"


@pytest.fixture
def imbalanced():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(240, 5))
    y = np.where(X[:, 0] + 0.5 * rng.normal(size=240) > 1.0, "rare", "common").astype(object)
    y[X[:, 1] > 1.6] = "odd"
    return X, y


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


# ---- class_weight ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("classes", [2, 3])
def test_balanced_class_weight_is_the_sample_weight_n_over_k_count(imbalanced, solver, classes):
    X, y = imbalanced
    if classes == 2:
        y = np.where(y == "odd", "common", y)
    names, counts = np.unique(y, return_counts=True)
    assert len(names) == classes and counts.min() < counts.max() / 3
    by_hand = (len(y) / (classes * counts))[np.searchsorted(names, y)]
    np.testing.assert_allclose(by_hand, compute_sample_weight("balanced", y), rtol=1e-15)
    kw = dict(hidden_layer_sizes=(7,), solver=solver, max_iter=15, random_state=1)
    _same_fit(
        MLPClassifier(class_weight="balanced", **kw).fit(X, y), MLPClassifier(**kw).fit(X, y, sample_weight=by_hand)
    )


def test_a_dict_class_weight_multiplies_the_sample_weight(imbalanced):
    X, y = imbalanced
    cw = {"rare": 4.0, "odd": 0.5}  # "common" keeps 1, as in scikit-learn's classifiers
    sw = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    rows = np.array([cw.get(label, 1.0) for label in y])
    kw = dict(hidden_layer_sizes=(6,), max_iter=10, random_state=2)
    _same_fit(
        MLPClassifier(class_weight=cw, **kw).fit(X, y, sample_weight=sw),
        MLPClassifier(**kw).fit(X, y, sample_weight=sw * rows),
    )
    np.testing.assert_allclose(rows, compute_sample_weight(cw, y), rtol=0)


def test_a_dict_class_weight_in_partial_fit_is_the_same_sample_weight(imbalanced):
    X, y = imbalanced
    cw = {"rare": 3.0, "common": 1.0, "odd": 2.0}
    classes = ["common", "odd", "rare"]
    a = MLPClassifier((5,), class_weight=cw, random_state=0)
    b = MLPClassifier((5,), random_state=0)
    for part in np.array_split(np.arange(len(y)), 3):
        a.partial_fit(X[part], y[part], classes=classes)
        b.partial_fit(X[part], y[part], classes=classes, sample_weight=np.array([cw[v] for v in y[part]]))
    _same_fit(a, b)


def test_balanced_weights_raise_the_recall_of_the_rare_class(imbalanced):
    X, y = imbalanced
    y = np.where(y == "odd", "common", y)
    kw = dict(hidden_layer_sizes=(8,), max_iter=60, random_state=0, learning_rate_init=0.01)
    plain = MLPClassifier(**kw).fit(X, y).predict(X)
    weighted = MLPClassifier(class_weight="balanced", **kw).fit(X, y).predict(X)
    rare = y == "rare"
    assert (weighted[rare] == "rare").mean() > (plain[rare] == "rare").mean()


def test_class_weight_with_early_stopping_weights_the_validation_score_too(imbalanced):
    X, y = imbalanced
    kw = dict(hidden_layer_sizes=(6,), max_iter=8, random_state=3, early_stopping=True, n_iter_no_change=100)
    a = MLPClassifier(class_weight="balanced", **kw).fit(X, y)
    b = MLPClassifier(**kw).fit(X, y, sample_weight=compute_sample_weight("balanced", y))
    _same_fit(a, b)
    assert a.validation_scores_ == b.validation_scores_


@pytest.mark.parametrize(
    ("cw", "match"),
    [
        ({"nope": 2.0}, r"class_weight names \['nope'\], which are not classes of y"),
        ({"rare": -1.0}, "finite and >= 0"),
        ({"rare": float("nan")}, "finite and >= 0"),
        ("heavy", "class_weight"),
        (3.0, "class_weight"),
    ],
)
def test_a_bad_class_weight_is_refused_by_name(imbalanced, cw, match):
    X, y = imbalanced
    with pytest.raises(ValueError, match=match):
        MLPClassifier((4,), class_weight=cw, max_iter=2).fit(X, y)


def test_class_weight_is_refused_for_multilabel_targets_and_balanced_in_partial_fit(imbalanced):
    X, _ = imbalanced
    Y = (X[:, :3] > 0).astype(int)
    with pytest.raises(ValueError, match="not to multi-label ones; weight the rows with sample_weight"):
        MLPClassifier((4,), class_weight={0: 1.0, 1: 2.0}, max_iter=2).fit(X, Y)
    with pytest.raises(ValueError, match="partial_fit does not see; pass the weights as a dict"):
        MLPClassifier((4,), class_weight="balanced").partial_fit(X, Y[:, 0], classes=[0, 1])


def test_class_weight_is_a_parameter_scikit_learn_can_clone():
    est = MLPClassifier(class_weight={"a": 2.0})
    assert est.get_params()["class_weight"] == {"a": 2.0}
    assert clone(est).class_weight == {"a": 2.0}
    assert "class_weight" not in MLPRegressor().get_params()


# ---- one activation per hidden layer ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["relu", "logistic", "tanh", "gelu"])
@pytest.mark.parametrize("est", [MLPClassifier, MLPRegressor])
def test_a_list_of_one_name_per_layer_is_the_same_fit_as_the_name(imbalanced, name, est):
    X, y = imbalanced
    y = (y == "rare").astype(int) if est is MLPClassifier else X @ np.arange(5.0)
    kw = dict(hidden_layer_sizes=(6, 4), max_iter=6, random_state=5)
    a = est(activation=name, **kw).fit(X, y)
    b = est(activation=[name, name], **kw).fit(X, y)
    _same_fit(a, b)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_mixed_activations_reach_the_network_and_its_initialization(imbalanced):
    X, _ = imbalanced
    y = X @ np.arange(5.0)
    est = MLPRegressor(hidden_layer_sizes=(6, 4), activation=("logistic", "silu"), max_iter=1, random_state=0)
    est.fit(X, y)
    assert est.model_.activations == ["sigmoid", "silu", "identity"]
    np.testing.assert_allclose(est.model_.predict(X).ravel(), est.predict(X), rtol=1e-6)
    # scikit-learn's Glorot bound per layer, from the activation after it: sqrt(2/(in+out)) for the
    # logistic, sqrt(6/(in+out)) else; the output layer's from the last hidden layer's (silu).
    fresh = MLPRegressor(hidden_layer_sizes=(6, 4), activation=("logistic", "silu"), random_state=0)
    rs = np.random.RandomState(0)
    want = []
    for (fan_in, fan_out), factor in zip([(5, 6), (6, 4), (4, 1)], [2.0, 6.0, 6.0]):
        bound = np.sqrt(factor / (fan_in + fan_out))
        want.append(rs.uniform(-bound, bound, (fan_in, fan_out)))
        rs.uniform(-bound, bound, fan_out)
    fresh._random_state = np.random.RandomState(0)
    fresh.n_outputs_ = 1
    fresh._initialize(np.zeros((1, 1)), [5, 6, 4, 1], np.dtype(np.float64))
    for got, w in zip(fresh.coefs_, want):
        np.testing.assert_array_equal(got, w)


@pytest.mark.parametrize(
    ("activation", "match"),
    [
        (["relu"], "activation lists 1 names but hidden_layer_sizes has 2 hidden layers"),
        (["relu", "relu", "tanh"], "activation lists 3 names"),
        (["relu", "swish!"], "activation 'swish!' is not one of"),
        (["relu", 3], "activation 3 is not one of"),
        ("nope", "activation"),
    ],
)
def test_a_bad_activation_list_is_refused_by_name(imbalanced, activation, match):
    X, y = imbalanced
    with pytest.raises(ValueError, match=match):
        MLPClassifier(hidden_layer_sizes=(4, 3), activation=activation, max_iter=2).fit(X, y)


# ---- early stopping: the validation loss and the score of one's choice ---------------------------------------
class _Recorder:
    """A scorer that keeps what it was called with (the held-out split, the weights at that moment)."""

    def __init__(self, inner):
        self.inner, self.calls, self.scores = inner, [], []

    def __call__(self, est, X, y):
        self.calls.append((X.copy(), np.array(y), [c.copy() for c in est.coefs_], [b.copy() for b in est.intercepts_]))
        self.scores.append(self.inner(est, X, y))
        return self.scores[-1]


def _predict_with(est, coefs, intercepts, X):
    keep = est.coefs_, est.intercepts_
    est.coefs_, est.intercepts_ = coefs, intercepts
    try:
        return est.predict_proba(X) if hasattr(est, "predict_proba") else est.predict(X)
    finally:
        est.coefs_, est.intercepts_ = keep


def test_the_regressors_validation_loss_is_half_the_mean_squared_error_plus_alphas_term():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 * rng.normal(size=200)
    scorer = _Recorder(lambda est, X, y: est.score(X, y))
    est = MLPRegressor(
        hidden_layer_sizes=(8,), alpha=0.05, early_stopping=True, max_iter=6, n_iter_no_change=50, random_state=0
    )
    est.set_params(scoring=scorer).fit(X, y)
    assert len(est.validation_loss_curve_) == len(scorer.calls) == est.n_iter_ == 6
    for loss, (Xv, yv, coefs, intercepts) in zip(est.validation_loss_curve_, scorer.calls):
        assert Xv.shape[0] == 20  # validation_fraction 0.1 of 200 rows
        p = _predict_with(est, coefs, intercepts, Xv)
        want = (
            0.5 * np.mean((yv.reshape(p.shape) - p) ** 2) + 0.5 * 0.05 * sum((c**2).sum() for c in coefs) / Xv.shape[0]
        )
        assert loss == pytest.approx(want, rel=1e-10)
    assert est.validation_scores_ == scorer.scores
    assert est.history_.history["val_loss"] == est.validation_loss_curve_


def test_the_classifiers_validation_loss_is_scikit_learns_log_loss(imbalanced):
    from sklearn.metrics import log_loss

    X, y = imbalanced
    scorer = _Recorder(lambda est, X, y: est.score(X, y))
    est = MLPClassifier((6,), alpha=0.0, early_stopping=True, max_iter=5, n_iter_no_change=50, random_state=1)
    est.set_params(scoring=scorer).fit(X, y)
    for loss, (Xv, yv, coefs, intercepts) in zip(est.validation_loss_curve_, scorer.calls):
        proba = _predict_with(est, coefs, intercepts, Xv)
        assert loss == pytest.approx(log_loss(yv, proba, labels=est.classes_), rel=1e-8)


def test_scoring_names_what_early_stopping_watches():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(150, 3))
    y = X[:, 0] - X[:, 1] + 0.1 * rng.normal(size=150)
    kw = dict(hidden_layer_sizes=(8,), early_stopping=True, max_iter=8, n_iter_no_change=50, random_state=2)
    by_loss = MLPRegressor(scoring="loss", **kw).fit(X, y)
    assert by_loss.validation_scores_ == [-v for v in by_loss.validation_loss_curve_]
    assert by_loss.best_validation_score_ == max(by_loss.validation_scores_)
    mae = MLPRegressor(scoring="neg_mean_absolute_error", **kw).fit(X, y)
    default = MLPRegressor(**kw).fit(X, y)
    _same_fit(mae, default)  # the score watched changes which weights are kept, not the training
    assert all(s < 0 for s in mae.validation_scores_) and mae.validation_scores_ != default.validation_scores_


def test_a_score_that_never_improves_stops_after_n_iter_no_change_epochs():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(100, 2)), rng.normal(size=100)
    est = MLPRegressor(hidden_layer_sizes=(4,), early_stopping=True, n_iter_no_change=3, max_iter=50, random_state=0)
    est.set_params(scoring=lambda est, X, y: 0.0).fit(X, y)
    assert est.n_iter_ == 5  # the first epoch sets the best, then four without improvement end the fit
    assert est.validation_scores_ == [0.0] * 5


def test_without_early_stopping_there_is_no_validation_loss():
    rng = np.random.default_rng(3)
    est = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3).fit(rng.normal(size=(30, 2)), rng.normal(size=30))
    assert est.validation_loss_curve_ is None and "val_loss" not in est.history_.history


def test_a_bad_scoring_is_refused():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(40, 2)), rng.normal(size=40)
    with pytest.raises(ValueError, match="not_a_scorer"):
        MLPRegressor(hidden_layer_sizes=(4,), early_stopping=True, max_iter=2, scoring="not_a_scorer").fit(X, y)
    with pytest.raises(ValueError, match="scoring"):
        MLPRegressor(hidden_layer_sizes=(4,), scoring=3).fit(X, y)


# ---- dropout -----------------------------------------------------------------------------------------------
def test_the_estimators_dropout_reaches_the_trainer_and_the_model(imbalanced):
    X, y = imbalanced
    kw = dict(hidden_layer_sizes=(16, 8), max_iter=5, random_state=0)
    plain = MLPClassifier(**kw).fit(X, y)
    dropped = MLPClassifier(dropout=[0.5, 0.2], **kw).fit(X, y)
    assert dropped.model_.dropout == [0.5, 0.2] and plain.model_.dropout == [0.0, 0.0]
    assert not np.array_equal(dropped.coefs_[0], plain.coefs_[0])
    np.testing.assert_allclose(dropped.model_.predict(X), dropped._logits(X), rtol=1e-6)
    # The same estimator twice: the masks come from random_state, so the fit repeats.
    _same_fit(dropped, MLPClassifier(dropout=[0.5, 0.2], **kw).fit(X, y))
    assert MLPClassifier(dropout=0.0, **kw).fit(X, y).coefs_[0].tobytes() == plain.coefs_[0].tobytes()


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(dropout=1.0), "dropout"),
        (dict(dropout=[0.1]), "dropout lists 1 rates but the network has 2 hidden layers"),
        (dict(dropout=0.2, solver="lbfgs"), "dropout needs a stochastic solver"),
    ],
)
def test_a_bad_estimator_dropout_is_refused_by_name(imbalanced, kw, match):
    X, y = imbalanced
    with pytest.raises(ValueError, match=match):
        MLPClassifier(hidden_layer_sizes=(4, 3), max_iter=2, **kw).fit(X, y)
