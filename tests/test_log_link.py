"""A log-link loss (poisson) trains the network's output as a log-rate; the model records it (link_loss)
and predicts in the targets' units, exp(output), while evaluate, gradients and fit's validation loss keep
the output itself. Saved and loaded, exported to ONNX as an Exp node, cleared by a fit with another
loss; refused beside target standardization. The scikit-learn regressor applies its own exp and is
unchanged."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

import fastmlp
from fastmlp import _core, ops
from fastmlp.losses import MEAN_FUNCTIONS
from fastmlp.persist import ModelFileError
from helpers import assert_bitwise

DTYPES = ["float32", "float64"]


def _counts(rng, n=61, k=3, m=2, dtype="float64"):
    """Poisson counts whose log-rate is linear in the features."""
    x = rng.standard_normal((n, k))
    rate = np.exp(0.4 * x[:, :1] - 0.3 * x[:, 1:2] + np.linspace(0.0, 0.5, m))
    return x.astype(dtype), rng.poisson(rate).astype(dtype)


def _fitted(rng, dtype, **fit):
    x, y = _counts(rng, dtype=dtype)
    model = fastmlp.MLP([3, 9, 2], activation="tanh", seed=2, dtype=dtype)
    hist = model.fit(x, y, loss="poisson", optimizer=fastmlp.optim.Adam(lr=0.01), epochs=4, batch_size=8, **fit)
    return model, x, y, hist


def _raw(model, x):
    """The network's output, as the model without its link predicts it."""
    plain = copy.deepcopy(model)
    plain.link_loss = None
    return plain.predict(x)


def test_the_loss_table_names_each_mean_function():
    assert MEAN_FUNCTIONS == {"poisson": "exp"}
    assert all("mean" in info for info in _core.loss_table.values())
    assert not set(MEAN_FUNCTIONS) & set(fastmlp.losses.CLASSIFICATION_LOSSES)


@pytest.mark.parametrize("dtype", DTYPES)
def test_predict_is_exp_of_the_network_output(rng, dtype):
    model, x, _, _ = _fitted(rng, dtype)
    assert model.link_loss == "poisson" and model.classification_loss is None
    raw = _raw(model, x)
    assert_bitwise(
        raw,
        _core.mlp_forward(model.weights, model.biases, model.activations, model.negative_slope, x, "cpu"),
        "the raw output",
    )
    pred = model.predict(x)
    # exp in float64, rounded once to the model's dtype
    assert_bitwise(pred, np.exp(raw.astype(np.float64)).astype(dtype), "predict")
    np.testing.assert_allclose(pred, np.exp(raw), rtol=2 * np.finfo(dtype).eps)
    assert (pred > 0).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_evaluate_and_gradients_read_the_network_output(rng, dtype):
    model, x, y, _ = _fitted(rng, dtype)
    raw = _raw(model, x)
    assert model.evaluate(x, y, loss="poisson") == ops.loss("poisson", raw, y)
    # the trainer-spec branch (y laid out for the spec) reads the same output
    assert model.evaluate(x, y, loss={"name": "poisson"}) == model.evaluate(x, y, loss="poisson")
    value, _ = model.gradients(x, y, loss="poisson")
    assert value == pytest.approx(ops.loss("poisson", raw, y), rel=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_validation_loss_is_evaluates(rng, dtype):
    xv, yv = _counts(np.random.default_rng(7), n=17, dtype=dtype)
    model, _, _, hist = _fitted(rng, dtype, validation_data=(xv, yv))
    assert hist.history["val_loss"][-1] == model.evaluate(xv, yv, loss="poisson")
    assert model.training_summary["last"]["final_val_loss"] == model.evaluate(xv, yv, loss="poisson")


@pytest.mark.parametrize("dtype", DTYPES)
def test_save_and_load_keep_the_link(tmp_path, rng, dtype):
    model, x, _, _ = _fitted(rng, dtype)
    loaded = fastmlp.load(model.save(tmp_path / "m.npz"))
    assert loaded.link_loss == "poisson"
    assert_bitwise(loaded.predict(x), model.predict(x), "predict after load")
    # A file written before the entry existed loads as it did: the raw output.
    with np.load(tmp_path / "m.npz") as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    del meta["link_loss"]
    np.savez(tmp_path / "old.npz", **{**arrays, "meta": np.array(json.dumps(meta))})
    old = fastmlp.load(tmp_path / "old.npz")
    assert old.link_loss is None
    assert_bitwise(old.predict(x), _raw(model, x), "an old file's predict")
    for bad in ("mse", 3):
        meta["link_loss"] = bad
        np.savez(tmp_path / "bad.npz", **{**arrays, "meta": np.array(json.dumps(meta))})
        with pytest.raises(ModelFileError, match="link_loss"):
            fastmlp.load(tmp_path / "bad.npz")


def test_pickles_and_copies_keep_the_link(rng):
    import pickle

    model, x, _, _ = _fitted(rng, "float64")
    for other in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert other.link_loss == "poisson"
        assert_bitwise(other.predict(x), model.predict(x), "predict of a copy")
    state = model.__getstate__()
    del state["_link_loss"]  # a model pickled before the attribute existed
    old = fastmlp.MLP.__new__(fastmlp.MLP)
    old.__setstate__(state)
    assert old.link_loss is None


@pytest.mark.parametrize("dtype", DTYPES)
def test_onnx_graph_ends_in_exp(tmp_path, rng, dtype):
    onnx = pytest.importorskip("onnx", reason="the onnx package is not installed (pip install 'fastmlp[onnx]')")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (it is in the test extra)")
    model, x, _, _ = _fitted(rng, dtype)
    tol = 1e-5 if dtype == "float32" else 1e-12  # test_export's: relative to the outputs' scale
    for head, want, output in (
        ("auto", model.predict(x), "predictions"),
        ("logits", _raw(model, x), "log_predictions"),
    ):
        path = model.to_onnx(tmp_path / f"{head}.onnx", head=head)
        proto = onnx.load(path)
        assert ("Exp" in [n.op_type for n in proto.graph.node]) == (head == "auto")
        props = {p.key: p.value for p in proto.metadata_props}
        assert props["output"] == output and props["link_loss"] == "poisson" and props["mean_function"] == "exp"
        got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
        assert got.dtype == model.dtype
        scale = max(1.0, float(np.abs(want).max()))
        err = float(np.abs(got.astype(np.float64) - want).max())
        assert err <= tol * scale, f"head={head}: onnxruntime differs from predict by {err:.3e} > {tol * scale:.1e}"
    plain = fastmlp.MLP([3, 2], dtype=dtype).to_onnx(tmp_path / "plain.onnx")
    props = {p.key: p.value for p in onnx.load(plain).metadata_props}
    assert props["output"] == "predictions" and "link_loss" not in props


def test_a_fit_with_another_loss_clears_the_link(rng):
    model, x, y, _ = _fitted(rng, "float64")
    model.fit(x, y, loss="mse", epochs=1)
    assert model.link_loss is None
    assert_bitwise(model.predict(x), _raw(model, x), "predict after an mse fit")
    model.fit(x, y, loss="poisson", epochs=1)
    assert model.link_loss == "poisson"
    model.fit(x, (y > 0).astype(np.float64), loss="bce", epochs=1)
    assert model.link_loss is None and model.classification_loss == "bce"
    model.fit(x, y, loss="poisson", epochs=1)
    assert model.link_loss == "poisson" and model.classification_loss is None


def test_target_standardization_is_refused_beside_the_log_link(rng):
    x, y = _counts(rng)
    model = fastmlp.MLP([3, 4, 2], seed=0, dtype="float64")
    model.set_standardization(y_mean=y.mean(0), y_std=y.std(0))
    before = model.get_weights()
    for call in (
        lambda: model.fit(x, y, loss="poisson", epochs=1),
        lambda: model.evaluate(x, y, loss="poisson"),
        lambda: model.gradients(x, y, loss="poisson"),
    ):
        with pytest.raises(
            ValueError,
            match=r"loss='poisson' fits targets in their own units.*standardize the "
            r"features only",
        ) as info:
            call()
        assert "must be >= 0" not in str(info.value)  # not blamed on the data
    assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(model.get_weights(), before))
    assert model.link_loss is None
    with pytest.raises(ValueError, match="standardize"):
        model.link_loss = "poisson"
    # Features only: fitted and predicted in the targets' units.
    model.set_standardization(x_mean=x.mean(0), x_std=x.std(0))
    model.fit(x, y, loss="poisson", epochs=2)
    assert model.link_loss == "poisson" and (model.predict(x) > 0).all()
    with pytest.raises(ValueError, match=r"y_mean and y_std do not apply.*loss='poisson'.*link_loss = None"):
        model.set_standardization(x.mean(0), x.std(0), y.mean(0), y.std(0))
    model.set_standardization(x_mean=x.mean(0) + 1.0, x_std=x.std(0))  # features alone stay allowed


def test_negative_targets_name_the_loss(rng):
    x, y = _counts(rng)
    model = fastmlp.MLP([3, 2], dtype="float64")
    y[5, 1] = -1.0
    for call, name in (
        (lambda: model.fit(x, y, loss="poisson", epochs=1), r"y\[5, 1\]"),
        (lambda: model.fit(x, np.abs(y), loss="poisson", epochs=1, validation_data=(x, y)), r"y_val\[5, 1\]"),
        (lambda: model.evaluate(x, y, loss="poisson"), r"y\[5, 1\]"),
    ):
        with pytest.raises(ValueError, match=name + r" is -1\.0+; loss='poisson' needs targets >= 0"):
            call()


@pytest.mark.parametrize("bad", [None, "exp", "mse", "cross_entropy", 1])
def test_link_loss_takes_a_log_link_loss_or_none(bad):
    model = fastmlp.MLP([2, 1])
    if bad is None:
        model.link_loss = None
        return
    with pytest.raises(ValueError, match="link_loss must be None or a log-link loss"):
        model.link_loss = bad


@pytest.mark.parametrize("dtype, logs", [("float32", (88.0, 89.0)), ("float64", (709.0, 710.0))])
def test_a_prediction_past_the_dtype_is_refused(dtype, logs):
    model = fastmlp.MLP([1, 1], init="ones", dtype=dtype)  # output = x
    model.link_loss = "poisson"
    fits, overflows = logs
    assert np.isfinite(model.predict([[fits]])).all()
    assert model.predict([[-1e4]])[0, 0] == 0.0  # an underflow is a rate of 0, not an error
    with pytest.raises(
        ValueError,
        match=rf"predict: the network's log-rate at row 1, output 0 is {overflows:g}.*"
        rf"largest {dtype}",
    ):
        model.predict([[0.0], [overflows]])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_sklearn_poisson_regressor_applies_its_own_exp_once(rng, dtype, solver):
    pytest.importorskip("sklearn", reason="needs scikit-learn")
    import warnings

    from fastmlp.sklearn import MLPRegressor

    x, y = _counts(rng, m=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs's ConvergenceWarning after a few iterations
        est = MLPRegressor(
            loss="poisson", hidden_layer_sizes=(8,), solver=solver, max_iter=20, random_state=1, dtype=dtype
        ).fit(x, y.ravel())
    network = est.model_
    assert network.link_loss is None  # model_ gives the output layer before out_activation_
    z = network.predict(x)
    assert z.dtype == np.dtype(dtype)
    # scikit-learn's out_activation_ "exp" in the parameters' dtype, returned in X's
    assert_bitwise(est.predict(x), np.exp(z).astype(x.dtype).ravel(), "MLPRegressor.predict")
