"""The Python API around the kernels: fastmlp.MLP (construction, predict, evaluate, weights, fit, warm
starts, save/load, divergence handling, reproducibility, threads) and the package's top-level helpers.

Small data only (the `women` table has 15 rows): the whole file runs in a few seconds.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import stat
import threading
import time
import warnings
import zipfile

import numpy as np
import pytest

import fastmlp
import fastmlp.model
from fastmlp import ops
from helpers import assert_weights_bitwise


# ---- local helpers (test files do not import from each other) ---------------------------------------
def women_standardized():
    """The women data as z-scores: x = height, y = weight, both mean 0 and std 1 (float64)."""
    height, weight = fastmlp.data.load_women()
    x = (height - height.mean()) / height.std()
    y = (weight - weight.mean()) / weight.std()
    return x, y


def toy_regression(n=64, n_in=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n_in))
    y = np.sin(x[:, :1]) + x[:, 1:2] * x[:, -1:]
    return x, y


def weights_differ(a, b):
    return any(not np.array_equal(p, q) for pa, pb in zip(a, b) for p, q in zip(pa, pb))


def numpy_forward(model, x):
    """The network's output computed here in float64 NumPy, for the activations used below."""
    acts = {
        "identity": lambda z: z,
        "relu": lambda z: np.maximum(z, 0),
        "tanh": np.tanh,
        "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    }
    a = np.asarray(x, np.float64)
    for (w, b), act in zip(model.get_weights(), model.activations):
        a = acts[act](a @ w.astype(np.float64) + b.astype(np.float64))
    return a


# ---- construction ------------------------------------------------------------------------------------
@pytest.mark.parametrize("sizes", [[], [3], [1, 0], [0, 1], [2, -1, 1], [4, 3, 0]])
def test_bad_sizes_raise_value_error(sizes):
    with pytest.raises(ValueError, match="size"):
        fastmlp.MLP(sizes)


@pytest.mark.parametrize("sizes", [[2.5, 1], [2, 1.5], ["a", 1]])
def test_non_integer_sizes_are_refused(sizes):
    # A fractional layer size is a mistake, not something to truncate silently (MLP([2.5, 1]) must not
    # quietly become MLP([2, 1])); the message should say that a size is at fault.
    with pytest.raises((TypeError, ValueError), match="(?i)size"):
        fastmlp.MLP(sizes)


def test_structure_and_shapes():
    model = fastmlp.MLP([3, 5, 4, 2])
    assert model.sizes == [3, 5, 4, 2]
    assert model.n_layers == 3
    assert [w.shape for w in model.weights] == [(3, 5), (5, 4), (4, 2)]
    assert [b.shape for b in model.biases] == [(5,), (4,), (2,)]
    assert model.n_params == 3 * 5 + 5 + 5 * 4 + 4 + 4 * 2 + 2
    assert model.activations == ["relu", "relu", "identity"]
    assert "MLP([3, 5, 4, 2]" in repr(model)


def test_per_hidden_layer_activation_list():
    model = fastmlp.MLP([2, 3, 4, 5, 1], activation=["relu", "tanh", "linear"], output_activation="sigmoid")
    assert model.activations == ["relu", "tanh", "identity", "sigmoid"]
    x = np.random.default_rng(1).standard_normal((7, 2))
    np.testing.assert_allclose(model.predict(x), numpy_forward(model, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("acts", [["relu"], ["relu", "tanh", "tanh"], []])
def test_activation_list_of_wrong_length(acts):
    with pytest.raises(ValueError, match="hidden"):
        fastmlp.MLP([2, 3, 4, 1], activation=acts)


@pytest.mark.parametrize(
    "kw", [{"activation": "mish"}, {"activation": ["relu", "mish"]}, {"output_activation": "softmax"}]
)
def test_unknown_activation_lists_the_choices(kw):
    with pytest.raises(ValueError) as info:
        fastmlp.MLP([2, 3, 4, 1], **kw)
    msg = str(info.value)
    assert "unknown" in msg
    for name in ops.ACTIVATIONS:
        assert name in msg, f"{name!r} missing from the message: {msg}"


@pytest.mark.parametrize("kw", [{"init": "glorot_magic"}, {"bias_init": "he_something"}])
def test_unknown_initializer_lists_the_choices(kw):
    with pytest.raises(ValueError) as info:
        fastmlp.MLP([2, 3, 1], **kw)
    msg = str(info.value)
    for name in ("zeros", "xavier_uniform", "he_uniform", "lecun_normal"):
        assert name in msg, f"{name!r} missing from the message: {msg}"


@pytest.mark.parametrize("dtype", ["float32", "float64", np.float32, np.float64])
def test_dtype(dtype):
    model = fastmlp.MLP([3, 4, 2], dtype=dtype)
    want = np.dtype(dtype)
    assert model.dtype == want
    assert all(w.dtype == want and b.dtype == want for w, b in model.get_weights())
    x = np.ones((5, 3), dtype=np.float64)
    assert model.predict(x).dtype == want
    assert model.predict(x.astype(np.float32)).dtype == want


@pytest.mark.parametrize("dtype", ["float16", "int32", "complex64"])
def test_unsupported_dtype(dtype):
    with pytest.raises(TypeError, match="float32 or float64"):
        fastmlp.MLP([2, 1], dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_auto_init_is_he_for_relu_and_xavier_otherwise(dtype):
    sizes = [3, 6, 5, 4, 2]
    acts = ["relu", "tanh", "leaky_relu"]
    model = fastmlp.MLP(sizes, activation=acts, output_activation="identity", seed=7, dtype=dtype)
    want_names = ["he_uniform", "xavier_uniform", "he_uniform", "xavier_uniform"]
    for layer, name in enumerate(want_names):
        want = ops.init(name, sizes[layer], sizes[layer + 1], 7, dtype=dtype, stream=2 * layer)
        got = model.weights[layer]
        assert got.tobytes() == want.tobytes(), f"layer {layer} ({model.activations[layer]}) is not {name}"
        other = "xavier_uniform" if name == "he_uniform" else "he_uniform"
        assert not np.array_equal(
            got, ops.init(other, sizes[layer], sizes[layer + 1], 7, dtype=dtype, stream=2 * layer)
        )
        assert np.array_equal(model.biases[layer], np.zeros(sizes[layer + 1], dtype))


@pytest.mark.parametrize(
    "act,name", [("relu", "he_uniform"), ("tanh", "xavier_uniform"), ("sigmoid", "xavier_uniform")]
)
def test_auto_init_single_activation(act, name):
    model = fastmlp.MLP([4, 8, 1], activation=act, seed=3)
    assert np.array_equal(model.weights[0], ops.init(name, 4, 8, 3, stream=0))
    assert np.array_equal(model.weights[1], ops.init("xavier_uniform", 8, 1, 3, stream=2))


def test_explicit_init_and_seed():
    model = fastmlp.MLP([4, 8, 2], init="he_normal", bias_init="ones", seed=11)
    for layer, (fi, fo) in enumerate([(4, 8), (8, 2)]):
        assert np.array_equal(model.weights[layer], ops.init("he_normal", fi, fo, 11, stream=2 * layer))
        assert np.array_equal(model.biases[layer], np.ones(fo, np.float32))
    assert weights_differ(fastmlp.MLP([4, 8, 2], seed=1).get_weights(), fastmlp.MLP([4, 8, 2], seed=2).get_weights())
    assert not weights_differ(
        fastmlp.MLP([4, 8, 2], seed=5).get_weights(), fastmlp.MLP([4, 8, 2], seed=5).get_weights()
    )


# ---- predict / evaluate ------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 7, 4097])  # 4097: mlp_forward works in chunks of 4096 rows
def test_predict_shape_and_values(n):
    model = fastmlp.MLP([3, 16, 2], activation="tanh", seed=2, dtype="float64")
    x = np.random.default_rng(n).standard_normal((n, 3))
    out = model.predict(x)
    assert out.shape == (n, 2)
    np.testing.assert_allclose(out, numpy_forward(model, x), rtol=1e-12, atol=1e-12)


def test_predict_accepts_1d_input_when_one_feature():
    model = fastmlp.MLP([1, 4, 3], seed=1)
    x = np.linspace(-1, 1, 9)
    out = model.predict(x)
    assert out.shape == (9, 3)
    assert np.array_equal(out, model.predict(x.reshape(-1, 1)))
    assert model.predict([0.5]).shape == (1, 3)
    assert model.predict(np.zeros((0, 1))).shape == (0, 3)


def test_predict_refuses_1d_input_with_several_features():
    model = fastmlp.MLP([2, 1])
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        model.predict(np.ones(2))
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        model.predict(np.ones((4, 3)))


def test_y_as_vector_or_column():
    x, y = toy_regression(n=20, n_in=2)
    y = y.ravel()
    model = fastmlp.MLP([2, 4, 1], seed=0)
    assert model.evaluate(x, y) == model.evaluate(x, y.reshape(-1, 1))
    a, b = fastmlp.MLP([2, 4, 1], seed=0), fastmlp.MLP([2, 4, 1], seed=0)
    a.fit(x, y, batch_size=5, epochs=3)
    b.fit(x, y.reshape(-1, 1), batch_size=5, epochs=3)
    assert_weights_bitwise(a.get_weights(), b.get_weights(), "y of shape (n,) vs (n, 1)")
    with pytest.raises(ValueError, match=r"\(n,\) or \(n, 1\)"):
        model.fit(x, np.ones((20, 2)), epochs=1)


def test_y_vector_refused_for_several_outputs():
    model = fastmlp.MLP([2, 3])
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        model.evaluate(np.ones((4, 2)), np.ones(4))


@pytest.mark.parametrize("loss", ["mse", "mae"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_evaluate_is_the_loss_of_predict(loss, dtype):
    x, y = toy_regression(n=30)
    model = fastmlp.MLP([3, 8, 1], seed=4, dtype=dtype)
    want = ops.loss(loss, model.predict(x), y.astype(dtype))
    assert model.evaluate(x, y, loss=loss) == want
    assert isinstance(model.evaluate(x, y, loss=loss), float)


# ---- get_weights / set_weights -----------------------------------------------------------------------
def test_get_weights_returns_copies():
    model = fastmlp.MLP([2, 3, 1], seed=0)
    x = np.ones((4, 2))
    before = model.predict(x)
    weights = model.get_weights()
    for w, b in weights:
        w[...] = 1e3
        b[...] = -1e3
    assert np.array_equal(model.predict(x), before)
    assert weights_differ(weights, model.get_weights())


def test_set_weights_round_trip_and_no_aliasing():
    model = fastmlp.MLP([2, 3, 1], seed=0, dtype="float64")
    rng = np.random.default_rng(0)
    new = [(rng.standard_normal((2, 3)), rng.standard_normal(3)), (rng.standard_normal((3, 1)), rng.standard_normal(1))]
    model.set_weights(new)
    assert_weights_bitwise(model.get_weights(), new)
    new[0][0][...] = 0.0  # the model keeps its own arrays
    assert not np.array_equal(model.weights[0], new[0][0])


def test_set_weights_converts_to_the_model_dtype():
    model = fastmlp.MLP([2, 1], dtype="float32")
    model.set_weights([(np.array([[0.5], [0.25]]), np.array([0.125]))])  # float64 in
    assert model.weights[0].dtype == np.float32
    np.testing.assert_array_equal(model.predict(np.array([[1.0, 1.0]])), [[0.875]])


@pytest.mark.parametrize(
    "case,match",
    [
        ("wrong_w_shape", "layer 1"),
        ("wrong_b_shape", "layer 1"),
        ("nan", "NaN"),
        ("inf", "Inf"),
        ("too_few", "pairs"),
        ("too_many", "pairs"),
    ],
)
def test_set_weights_validates_and_is_all_or_nothing(case, match):
    model = fastmlp.MLP([2, 3, 1], seed=0)
    before = model.get_weights()
    good0 = (np.full((2, 3), 0.5, np.float32), np.full(3, 0.5, np.float32))
    good1 = (np.full((3, 1), 0.5, np.float32), np.full(1, 0.5, np.float32))
    bad1 = {
        "wrong_w_shape": (np.ones((1, 3), np.float32), np.ones(1, np.float32)),
        "wrong_b_shape": (np.ones((3, 1), np.float32), np.ones(2, np.float32)),
        "nan": (np.array([[1.0], [np.nan], [1.0]]), np.ones(1)),
        "inf": (np.ones((3, 1)), np.array([np.inf])),
    }
    pairs = {"too_few": [good0], "too_many": [good0, good1, good1]}.get(case, [good0, bad1.get(case)])
    with pytest.raises(ValueError, match=match):
        model.set_weights(pairs)
    # Layer 0 was valid, but nothing may have been written.
    assert_weights_bitwise(model.get_weights(), before, "weights after a refused set_weights")


def test_set_weights_refuses_integer_arrays():
    model = fastmlp.MLP([2, 1])
    with pytest.raises(TypeError, match="dtype"):
        model.set_weights([(np.ones((2, 1), int), np.ones(1))])


# ---- training: convergence ---------------------------------------------------------------------------
def test_single_neuron_recovers_line_from_noiseless_data():
    # y = 3x - 2 exactly: the loss's minimum is 0 at (a, b) = (3, -2) and every per-sample gradient
    # vanishes there too, so mini-batch SGD converges to it (no noise floor); 1e-3 is float32 slack.
    x = np.linspace(-1.0, 1.0, 41)
    y = 3.0 * x - 2.0
    model = fastmlp.MLP([1, 1], seed=0)
    hist = model.fit(x, y, optimizer=fastmlp.optim.SGD(lr=0.1), batch_size=4, epochs=200)
    ((w, b),) = model.get_weights()
    assert abs(w[0, 0] - 3.0) < 1e-3 and abs(b[0] + 2.0) < 1e-3, (w, b)
    assert hist.history["loss"][-1] < 1e-6


# Standardized women data: the least-squares line is y = r x (r = 0.9955, intercept 0) with residual
# variance s^2 = 1 - r^2 = 0.009, and the MSE's Hessian is 2 I (x has mean 0 and variance 1).
#  * Full-batch GD with lr 0.1 contracts the error by |1 - 2 lr| = 0.8 per epoch: after 300 epochs
#    0.8^300 ~ 1e-29, so only float32 rounding remains -> tolerance 1e-5.
#  * Constant-step SGD does not converge to a point but fluctuates around it; with batch B the
#    stationary variance per coordinate is about lr s^2 / B (Ornstein-Uhlenbeck approximation, for
#    sampling with replacement, an upper bound for the reshuffled epochs used here). The tolerance is
#    3 standard deviations, 3 sqrt(lr s^2 / B): 0.028 for (lr 0.01, B 1), 0.032 for (lr 0.05, B 4).
#    (Over 30 fit seeds the observed worst errors were 0.003 and 0.008.)
@pytest.mark.parametrize(
    "batch_size,lr,epochs",
    [(None, 0.1, 300), (1, 0.01, 200), (4, 0.05, 200)],
    ids=["full-batch-GD", "SGD", "mini-batch"],
)
def test_women_converges_to_least_squares(batch_size, lr, epochs):
    x, y = women_standardized()
    a_ls, b_ls = np.polyfit(x, y, 1)
    s2 = float(np.mean((a_ls * x + b_ls - y) ** 2))
    tol = 1e-5 if batch_size is None else 3 * np.sqrt(lr * s2 / batch_size)
    model = fastmlp.MLP([1, 1], seed=0)
    hist = model.fit(x, y, optimizer=fastmlp.optim.SGD(lr=lr), batch_size=batch_size, epochs=epochs, seed=1)
    ((w, b),) = model.get_weights()
    assert abs(w[0, 0] - a_ls) < tol, f"slope {w[0, 0]} vs least squares {a_ls} (tol {tol:.3g})"
    assert abs(b[0] - b_ls) < tol, f"intercept {b[0]} vs least squares {b_ls} (tol {tol:.3g})"
    loss = np.array(hist.history["loss"])
    assert loss.shape == (epochs,) and np.all(np.isfinite(loss))
    assert hist.epoch == list(range(epochs))
    assert loss[-1] < loss[0] / 10
    assert loss[-20:].mean() < loss[:20].mean()
    if batch_size is None:
        # Gradient descent with lr < 1/L decreases the loss every epoch (up to float32 rounding).
        assert np.all(np.diff(loss) <= 1e-6), np.diff(loss).max()
        assert loss[-1] == pytest.approx(s2, rel=1e-4)
    else:
        assert loss[-1] < 1.5 * s2


def test_validation_loss_is_evaluate_at_each_epoch_end():
    x, y = toy_regression(n=48)
    xv, yv = toy_regression(n=16, seed=1)
    opt = fastmlp.optim.SGD(lr=0.05, momentum=0.5)
    model = fastmlp.MLP([3, 8, 1], seed=0)
    hist = model.fit(x, y, optimizer=opt, batch_size=8, epochs=4, seed=3, validation_data=(xv, yv))
    val = hist.history["val_loss"]
    assert len(val) == 4 and len(hist.history["loss"]) == 4
    assert val[-1] == model.evaluate(xv, yv)
    # Epoch k's value: a fresh model trained k epochs (same seeds, so the same shuffles) evaluated.
    for k in range(1, 4):
        ref = fastmlp.MLP([3, 8, 1], seed=0)
        ref.fit(x, y, optimizer=opt, batch_size=8, epochs=k, seed=3)
        assert val[k - 1] == ref.evaluate(xv, yv), f"epoch {k}"
    # The validation pass does not change training.
    plain = fastmlp.MLP([3, 8, 1], seed=0)
    plain.fit(x, y, optimizer=opt, batch_size=8, epochs=4, seed=3)
    assert_weights_bitwise(model.get_weights(), plain.get_weights())


def test_validation_loss_uses_the_fit_loss():
    x, y = toy_regression(n=32)
    model = fastmlp.MLP([3, 4, 1], seed=0)
    hist = model.fit(x, y, loss="mae", batch_size=8, epochs=2, validation_data=(x[:8], y[:8]))
    assert hist.history["val_loss"][-1] == model.evaluate(x[:8], y[:8], loss="mae")


# ---- warm starts -------------------------------------------------------------------------------------
def test_optimizer_step_persists_across_fits():
    x, y = toy_regression(n=40)
    model = fastmlp.MLP([3, 4, 1], seed=0)
    assert model.optimizer is None
    opt = fastmlp.optim.SGD(lr=0.01, momentum=0.9)
    model.fit(x, y, optimizer=opt, batch_size=8, epochs=3)
    assert model._opt["step"] == 3 * 5
    model.fit(x, y, optimizer=opt, batch_size=8, epochs=2)
    assert model._opt["step"] == 5 * 5
    model.fit(x, y, optimizer=opt, batch_size=None, epochs=2)
    assert model._opt["step"] == 5 * 5 + 2
    assert isinstance(model.optimizer, fastmlp.optim.SGD) and model.optimizer.momentum == 0.9


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_two_fits_equal_one_longer_fit_full_batch(momentum):
    x, y = toy_regression(n=40)
    opt = fastmlp.optim.SGD(lr=0.05, momentum=momentum)
    a = fastmlp.MLP([3, 8, 8, 1], activation="tanh", seed=1)
    h1 = a.fit(x, y, optimizer=opt, batch_size=None, shuffle=False, epochs=5)
    h2 = a.fit(x, y, optimizer=fastmlp.optim.SGD(lr=0.05, momentum=momentum), batch_size=None, shuffle=False, epochs=5)
    b = fastmlp.MLP([3, 8, 8, 1], activation="tanh", seed=1)
    h = b.fit(x, y, optimizer=opt, batch_size=None, shuffle=False, epochs=10)
    assert_weights_bitwise(a.get_weights(), b.get_weights(), "2 x 5 epochs vs 10 epochs")
    assert h1.history["loss"] + h2.history["loss"] == h.history["loss"]
    assert a._opt["step"] == b._opt["step"] == 10
    for bufs_a, bufs_b in zip(a._opt["w"] + a._opt["b"], b._opt["w"] + b._opt["b"]):
        assert len(bufs_a) == len(bufs_b) == (1 if momentum else 0)
        for s, t in zip(bufs_a, bufs_b):
            assert s.tobytes() == t.tobytes(), "momentum buffers differ"


def test_momentum_state_matters_for_warm_start():
    # Control for the test above: restarting the momentum buffers gives a different result, so that
    # test would notice if the state were dropped between fits.
    x, y = toy_regression(n=40)
    a = fastmlp.MLP([3, 8, 1], seed=1)
    a.fit(x, y, optimizer=fastmlp.optim.SGD(lr=0.05, momentum=0.9), batch_size=None, epochs=5)
    w_mid = a.get_weights()
    a.fit(x, y, optimizer=fastmlp.optim.SGD(lr=0.05, momentum=0.9), batch_size=None, epochs=5)
    c = fastmlp.MLP([3, 8, 1], seed=1)
    c.set_weights(w_mid)
    c.fit(x, y, optimizer=fastmlp.optim.SGD(lr=0.05, momentum=0.9), batch_size=None, epochs=5)
    assert weights_differ(a.get_weights(), c.get_weights())


# ---- save / load -------------------------------------------------------------------------------------
def trained_model(dtype="float32", momentum=0.9, fit=True):
    x, y = toy_regression(n=32)
    model = fastmlp.MLP([3, 5, 4, 1], activation=["tanh", "leaky_relu"], seed=9, dtype=dtype, negative_slope=0.2)
    if fit:
        model.fit(
            x, y, optimizer=fastmlp.optim.SGD(lr=0.02, momentum=momentum, nesterov=momentum > 0), batch_size=8, epochs=3
        )
    return model, x, y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fit", [True, False], ids=["trained", "untrained"])
def test_save_load_round_trip_bit_for_bit(tmp_path, dtype, fit):
    model, x, y = trained_model(dtype, fit=fit)
    path = tmp_path / "model.npz"
    model.save(path)
    same = fastmlp.load(path)
    assert same.sizes == model.sizes
    assert same.activations == model.activations
    assert same.dtype == model.dtype
    assert same.negative_slope == model.negative_slope
    assert_weights_bitwise(same.get_weights(), model.get_weights(), "loaded weights")
    assert same.predict(x).tobytes() == model.predict(x).tobytes()
    if not fit:
        assert same._opt is None
        return
    assert same._opt["step"] == model._opt["step"] == 12
    assert same._opt["config"] == model._opt["config"]
    for bufs_a, bufs_b in zip(same._opt["w"] + same._opt["b"], model._opt["w"] + model._opt["b"]):
        assert len(bufs_a) == len(bufs_b) == 1
        assert bufs_a[0].dtype == bufs_b[0].dtype and bufs_a[0].tobytes() == bufs_b[0].tobytes()
    # Continuing training from the file is continuing training from memory.
    opt = model.optimizer
    model.fit(x, y, optimizer=opt, batch_size=8, epochs=2)
    same.fit(x, y, optimizer=same.optimizer, batch_size=8, epochs=2)
    assert_weights_bitwise(same.get_weights(), model.get_weights(), "after resuming training")


def test_save_load_keeps_activations_with_parameters(tmp_path, rng):
    model = fastmlp.MLP(
        [3, 8, 8, 2],
        activation=["elu(alpha=0.25)", "softplus(beta=2, threshold=5)"],
        output_activation="gelu_tanh",
        dtype="float64",
        seed=2,
    )
    x = rng.standard_normal((40, 3))
    model.fit(x, np.tanh(x[:, :2]), optimizer=fastmlp.optim.Adam(lr=0.01), batch_size=8, epochs=2)
    model.save(tmp_path / "m.npz")
    same = fastmlp.load(tmp_path / "m.npz")
    assert same.activations == ["elu(alpha=0.25)", "softplus(beta=2, threshold=5)", "gelu_tanh"]
    assert same.predict(x).tobytes() == model.predict(x).tobytes()
    # the parameters reach the kernels: another alpha predicts otherwise
    other = fastmlp.MLP(
        [3, 8, 8, 2],
        activation=["elu(alpha=0.5)", "softplus(beta=2, threshold=5)"],
        output_activation="gelu_tanh",
        dtype="float64",
    )
    other.set_weights(model.get_weights())
    assert not np.array_equal(other.predict(x), model.predict(x))


def test_save_accepts_str_and_overwrites(tmp_path):
    model, x, _ = trained_model()
    path = str(tmp_path / "m.npz")
    fastmlp.MLP([3, 5, 4, 1]).save(path)
    model.save(path)
    assert fastmlp.load(path).predict(x).tobytes() == model.predict(x).tobytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_save_is_atomic(tmp_path, monkeypatch):
    old, _, _ = trained_model(fit=False)
    path = tmp_path / "model.npz"
    old.save(path)
    before = path.read_bytes()

    def failing_savez(file, *args, **kwargs):
        file.write(b"PK\x03\x04 half a zip file")  # partial data, then the disk "fills up"
        raise OSError("simulated failure in the middle of numpy.savez")

    monkeypatch.setattr(fastmlp.model.np, "savez", failing_savez)
    new, _, _ = trained_model()
    with pytest.raises(OSError, match="simulated failure"):
        new.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before, "the target file changed although save failed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"], "temporary files left behind"
    assert_weights_bitwise(fastmlp.load(path).get_weights(), old.get_weights())
    # A failed save to a new name leaves nothing at all.
    monkeypatch.setattr(fastmlp.model.np, "savez", failing_savez)
    with pytest.raises(OSError):
        new.save(tmp_path / "other.npz")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def truncated_copies(tmp_path):
    model, _, _ = trained_model()
    good = tmp_path / "good.npz"
    model.save(good)
    data = good.read_bytes()
    paths = []
    for cut in (len(data) // 2, len(data) - 10, 30):
        bad = tmp_path / f"cut{cut}.npz"
        bad.write_bytes(data[:cut])
        paths.append(bad)
    return paths


def test_load_refuses_truncated_file(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # see test_load_closes_a_refused_file
        for bad in truncated_copies(tmp_path):
            with pytest.raises(ValueError, match="not a"):
                fastmlp.load(bad)
        gc.collect()


def test_load_closes_a_refused_file(tmp_path):
    # A refused file must not stay open (an unclosed-file ResourceWarning, an fd leak per call).
    paths = truncated_copies(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for bad in paths:
            with contextlib.suppress(ValueError):
                fastmlp.load(bad)
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, f"fastmlp.load left {len(leaks)} file(s) open: {leaks[0]}"


def test_load_refuses_random_bytes(tmp_path):
    path = tmp_path / "noise.npz"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="not a"):
        fastmlp.load(path)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(ValueError):
        fastmlp.load(empty)


class _OpensAFile:
    """Unpickling this creates `marker`: proof that a loader unpickled data it should have refused."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_load_refuses_object_arrays_and_never_unpickles(tmp_path):
    model, _, _ = trained_model(fit=False)
    good = tmp_path / "good.npz"
    model.save(good)
    with np.load(good) as f:
        arrays = {k: f[k] for k in f.files}
    marker = tmp_path / "unpickled"
    arrays["W0"] = np.array([_OpensAFile(marker), 1.0], dtype=object)
    bad = tmp_path / "pickled.npz"
    np.savez(bad, **arrays)
    with pytest.raises(ValueError):
        fastmlp.load(bad)
    assert not marker.exists(), "load() unpickled an object array"


def _edited_copy(tmp_path, edit, name="edited.npz"):
    """A trained model's file with edit(arrays, meta) applied to its entries."""
    model, _, _ = trained_model()
    good = tmp_path / "good.npz"
    model.save(good)
    with np.load(good) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    edit(arrays, meta)
    arrays["meta"] = np.array(json.dumps(meta))
    bad = tmp_path / name
    np.savez(bad, **arrays)
    return bad


def test_load_refuses_other_format_versions(tmp_path):
    def next_version(arrays, meta):
        assert meta["version"] == fastmlp.model.FORMAT_VERSION
        meta["version"] = fastmlp.model.FORMAT_VERSION + 1

    with pytest.raises(ValueError, match="version"):
        fastmlp.load(_edited_copy(tmp_path, next_version, "future.npz"))


def test_load_refuses_a_flipped_byte(tmp_path):
    model, _, _ = trained_model()
    path = tmp_path / "m.npz"
    model.save(path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:  # a byte inside W1's stored data (np.savez does not compress)
        info = z.getinfo("W1.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + info.compress_size - 3] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="not a readable fastmlp model file.*CRC"):
        fastmlp.load(path)


@pytest.mark.parametrize("key", sorted(fastmlp.model._META_KEYS))
def test_load_names_a_missing_meta_entry(tmp_path, key):
    bad = _edited_copy(tmp_path, lambda arrays, meta: meta.pop(key))
    with pytest.raises(
        ValueError,
        match="version" if key == "version" else ("not a fastmlp model" if key == "format" else f"lacks '{key}'"),
    ):
        fastmlp.load(bad)


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("sizes", "3,5", "'sizes' is '3,5'"),
        ("sizes", [3, 0, 1], "no valid network"),
        ("activations", ["tanh"], "no valid network"),
        ("dtype", "float16", "no valid network"),
        ("seed", -4, "no valid network"),
        ("negative_slope", None, "'negative_slope' is None"),
    ],
)
def test_load_refuses_ill_typed_meta(tmp_path, key, value, match):
    bad = _edited_copy(tmp_path, lambda arrays, meta: meta.__setitem__(key, value))
    with pytest.raises(ValueError, match=match):
        fastmlp.load(bad)


def test_load_refuses_weights_that_do_not_fit_the_network(tmp_path):
    bad = _edited_copy(tmp_path, lambda arrays, meta: arrays.__setitem__("W1", np.ones((4, 5), np.float32)))
    with pytest.raises(ValueError, match="do not fit"):
        fastmlp.load(bad)


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda arrays, meta: arrays.__setitem__("opt_W1_0", np.ones((4, 5), np.float32)), "opt_W1_0.*shaped like"),
        (lambda arrays, meta: arrays.__setitem__("opt_b0_0", np.full(5, np.nan, np.float32)), "opt_b0_0.*non-finite"),
        (lambda arrays, meta: arrays.pop("opt_b2_0"), "lacks the optimizer array 'opt_b2_0'"),
        (lambda arrays, meta: meta["optimizer"].__setitem__("names", ["exp_avg"]), "optimizer's state is"),
        (lambda arrays, meta: meta["optimizer"].__setitem__("step", -1), "step count"),
        (lambda arrays, meta: meta["optimizer"]["config"].__setitem__("name", "lion"), "invalid optimizer entry"),
    ],
    ids=["state-shape", "state-nan", "state-missing", "state-names", "step", "unknown-optimizer"],
)
def test_load_refuses_optimizer_state_that_does_not_fit(tmp_path, edit, match):
    bad = _edited_copy(tmp_path, edit)
    with pytest.raises(ValueError, match=match):
        fastmlp.load(bad)


def test_saved_file_gets_the_mode_a_new_file_would(tmp_path):
    model, _, _ = trained_model(fit=False)
    old = os.umask(0o027)
    try:
        model.save(tmp_path / "new.npz")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new.npz").st_mode) == 0o640
    kept = tmp_path / "kept.npz"
    model.save(kept)
    os.chmod(kept, 0o604)
    model.save(kept)  # overwriting keeps the file's mode
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o604


def test_load_refuses_an_npz_that_is_not_a_model(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, a=np.ones(3))
    with pytest.raises(ValueError, match="not a fastmlp model"):
        fastmlp.load(path)


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastmlp.load(tmp_path / "missing.npz")


def test_saved_file_is_a_plain_npz(tmp_path):
    model, _, _ = trained_model()
    path = tmp_path / "m.npz"
    model.save(path)
    assert zipfile.is_zipfile(path)
    with np.load(path, allow_pickle=False) as f:  # readable without pickle by plain NumPy
        assert {"meta", "W0", "b0", "W2", "b2"} <= set(f.files)


# ---- divergence --------------------------------------------------------------------------------------
def diverging_fit(model, epochs=50, batch_size=None, **kw):
    """lr = 1e6 on the women data: the weights grow ~1e6-fold per step until they overflow."""
    x, y = women_standardized()
    return model.fit(
        x, y, optimizer=fastmlp.optim.SGD(lr=1e6, momentum=0.5), batch_size=batch_size, epochs=epochs, **kw
    )


@pytest.mark.parametrize("batch_size", [None, 4], ids=["full-batch", "mini-batch"])
@pytest.mark.parametrize("sizes", [[1, 1], [1, 4, 1]])
def test_divergence_raises_and_restores_last_finite_weights(sizes, batch_size):
    model = fastmlp.MLP(sizes, activation="tanh", seed=0)
    with pytest.raises(fastmlp.DivergenceError) as info:
        diverging_fit(model, batch_size=batch_size)
    msg = str(info.value)
    assert "learning rate" in msg
    m = re.search(r"epoch (\d+)", msg)
    assert m, f"no epoch in the message: {msg}"
    epoch = int(m.group(1))  # 1-based: the epoch that produced the non-finite values
    assert 1 <= epoch <= 50
    assert isinstance(info.value, FloatingPointError)
    for w, b in model.get_weights():
        assert np.all(np.isfinite(w)) and np.all(np.isfinite(b))
    ref = fastmlp.MLP(sizes, activation="tanh", seed=0)
    if epoch > 1:
        diverging_fit(ref, epochs=epoch - 1, batch_size=batch_size)  # the same run, stopped before it diverged
        assert ref._opt["step"] == model._opt["step"]
        for bufs_a, bufs_b in zip(ref._opt["w"] + ref._opt["b"], model._opt["w"] + model._opt["b"]):
            assert all(s.tobytes() == t.tobytes() for s, t in zip(bufs_a, bufs_b)), "momentum not restored"
    assert_weights_bitwise(model.get_weights(), ref.get_weights(), "weights after DivergenceError")


def test_divergence_message_names_the_non_finite_value():
    # The message says "loss became X"; X must then be the non-finite loss. When it is a weight that
    # overflowed while the loss (summed in double) was still finite, saying "loss became 2.4e+75" is
    # misleading: the message should name what became NaN/Inf.
    for sizes in ([1, 1], [1, 4, 1]):
        model = fastmlp.MLP(sizes, activation="tanh", seed=0)
        with pytest.raises(fastmlp.DivergenceError) as info:
            diverging_fit(model)
        msg = str(info.value)
        m = re.search(r"loss became (\S+) in epoch", msg)
        if m:
            assert not np.isfinite(float(m.group(1))), f"MLP({sizes}): message blames a finite loss: {msg}"
        else:
            assert re.search(r"(?i)\b(nan|inf)\b", msg), msg


def test_divergence_stop_returns_history():
    model = fastmlp.MLP([1, 1], seed=0)
    hist = diverging_fit(model, on_nonfinite="stop")
    assert isinstance(hist, fastmlp.History)
    assert isinstance(hist.stopped_reason, str) and "learning rate" in hist.stopped_reason
    k = hist.stopped_epoch
    assert k is not None and 0 <= k < 50
    assert len(hist.history["loss"]) == len(hist.epoch) == k
    assert all(np.isfinite(hist.history["loss"]))
    ref = fastmlp.MLP([1, 1], seed=0)
    if k:
        diverging_fit(ref, epochs=k)
    assert_weights_bitwise(model.get_weights(), ref.get_weights(), "weights after on_nonfinite='stop'")


def test_normal_fit_has_no_stopped_reason():
    x, y = women_standardized()
    hist = fastmlp.MLP([1, 1]).fit(x, y, epochs=3)
    assert hist.stopped_reason is None and hist.stopped_epoch is None


def test_zero_epochs():
    x, y = women_standardized()
    model = fastmlp.MLP([1, 3, 1], seed=0)
    before = model.get_weights()
    hist = model.fit(x, y, epochs=0)
    assert isinstance(hist, fastmlp.History)
    assert hist.history["loss"] == [] and hist.epoch == []
    assert hist.stopped_reason is None
    assert_weights_bitwise(model.get_weights(), before)


# ---- reproducibility and threads ---------------------------------------------------------------------
def fit_copy(seed=0, fit_seed=0, x=None, y=None, **kw):
    if x is None:
        x, y = toy_regression(n=96)
    model = fastmlp.MLP([x.shape[1], 16, 16, 1], seed=seed)
    kw = {"optimizer": fastmlp.optim.SGD(lr=0.02, momentum=0.9), "batch_size": 8, "epochs": 4, **kw}
    model.fit(x, y, seed=fit_seed, **kw)
    return model.get_weights()


def test_same_seeds_give_identical_weights():
    assert_weights_bitwise(fit_copy(seed=3, fit_seed=5), fit_copy(seed=3, fit_seed=5))


def test_different_fit_seeds_shuffle_differently():
    assert weights_differ(fit_copy(fit_seed=1), fit_copy(fit_seed=2))
    # ... and without shuffling the fit seed has nothing to act on.
    assert_weights_bitwise(fit_copy(fit_seed=1, shuffle=False), fit_copy(fit_seed=2, shuffle=False))


@pytest.mark.slow
@pytest.mark.parametrize("call", ["fit", "predict", "matmul"])
def test_kernels_release_the_gil(num_threads, call):
    # While one thread is inside a long C++ call, a Python thread keeps running: the largest pause
    # between its loop iterations stays far below the call's length. A call that held the GIL would
    # stop it for the whole call.
    num_threads(1)  # the kernel on one core, the Python loop on the other
    rng = np.random.default_rng(0)
    model = fastmlp.MLP([64, 384, 384, 1], seed=0)
    x = rng.standard_normal((16384, 64)).astype(np.float32)
    y = rng.standard_normal(16384).astype(np.float32)
    a = rng.standard_normal((1536, 1536))
    run = {
        "fit": lambda: model.fit(x, y, batch_size=None, epochs=1),
        "predict": lambda: [model.predict(x) for _ in range(3)],
        "matmul": lambda: ops.matmul(a, a),
    }[call]
    run()  # warm-up: workspaces, pages
    span = {}

    def worker():
        start = time.perf_counter()
        run()
        span["call"] = time.perf_counter() - start

    t = threading.Thread(target=worker)
    last = time.perf_counter()
    gaps = []
    t.start()
    while t.is_alive():
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
    t.join()
    worst = max(gaps)
    assert span["call"] > 0.08, f"{call} took only {span['call'] * 1e3:.0f} ms: too short to tell"
    assert worst < span["call"] / 3, (
        f"the Python thread stalled {worst * 1e3:.0f} ms during a {span['call'] * 1e3:.0f} ms {call}: the GIL was held"
    )


def test_concurrent_fits_in_threads_match_sequential():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1024, 16)).astype(np.float32)
    y = np.tanh(x[:, :2].sum(axis=1, keepdims=True))
    seeds = [1, 2, 3]
    sequential = [fit_copy(seed=s, fit_seed=s, x=x, y=y, batch_size=16, epochs=2) for s in seeds]
    results, errors = [None] * len(seeds), []
    barrier = threading.Barrier(len(seeds))

    def work(i):
        try:
            barrier.wait()
            results[i] = fit_copy(seed=seeds[i], fit_seed=seeds[i], x=x, y=y, batch_size=16, epochs=2)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(seeds))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for i in range(len(seeds)):
        assert_weights_bitwise(results[i], sequential[i], f"thread {i}")


def test_thread_count_does_not_change_results():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((512, 32)).astype(np.float32)
    y = np.sin(x[:, :1]) * x[:, 1:2]
    before = fastmlp.get_num_threads()
    try:
        out = []
        for n in (1, 2):
            fastmlp.set_num_threads(n)
            assert fastmlp.get_num_threads() == n
            model = fastmlp.MLP([32, 96, 64, 1], seed=2)
            hist = model.fit(x, y, optimizer=fastmlp.optim.SGD(lr=0.01, momentum=0.9), batch_size=128, epochs=3)
            out.append((model.get_weights(), hist.history["loss"], model.predict(x)))
    finally:
        fastmlp.set_num_threads(before)
    assert fastmlp.get_num_threads() == before
    assert_weights_bitwise(out[0][0], out[1][0], "1 thread vs 2 threads")
    assert out[0][1] == out[1][1]
    assert out[0][2].tobytes() == out[1][2].tobytes()


# ---- package ------------------------------------------------------------------------------------------
def test_version_and_cuda():
    assert isinstance(fastmlp.__version__, str) and fastmlp.__version__
    assert re.match(r"\d+\.\d+", fastmlp.__version__)
    assert isinstance(fastmlp.cuda_available(), bool)
    assert isinstance(fastmlp.cuda_built(), bool)


def test_set_num_threads_validates():
    before = fastmlp.get_num_threads()
    try:
        with pytest.raises(TypeError):
            fastmlp.set_num_threads(1.5)
        with pytest.raises(TypeError):
            fastmlp.set_num_threads(True)
        with pytest.raises(ValueError):
            fastmlp.set_num_threads(0)
    finally:
        fastmlp.set_num_threads(before)
    assert fastmlp.get_num_threads() == before
