"""SGD: the in-place ops.sgd_update kernel and its argument checks, fastmlp.optim.SGD's validation, and
SGD with momentum / Nesterov / weight decay / dampening through MLP.fit against reference.train_epoch."""

from __future__ import annotations

import numpy as np
import pytest

import fastmlp
from fastmlp import ops, reference
from fastmlp.optim import SGD

from helpers import rel_close, shape_id

DTYPES = [pytest.param(np.float32, id="f32"), pytest.param(np.float64, id="f64")]


@pytest.mark.parametrize("shape", [(1,), (17,), (17, 4), (3, 5, 2), (0, 3)], ids=shape_id)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_update_in_place(rng, assert_close, dtype, shape):
    p = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    p0 = p.copy()
    buffer_before = p.__array_interface__["data"][0]
    result = ops.sgd_update(p, g, 0.37)
    assert result is None, f"sgd_update returned {type(result).__name__}; it updates in place"
    assert p.__array_interface__["data"][0] == buffer_before
    assert_close(p, reference.sgd_update(p0, g, 0.37), dtype, f"sgd_update {shape}")


def test_sgd_update_noncontiguous_grad_is_fine(rng, assert_close):
    p = rng.standard_normal((6, 4))
    wide = rng.standard_normal((6, 8))
    p0 = p.copy()
    ops.sgd_update(p, wide[:, ::2], 0.1)
    assert_close(p, reference.sgd_update(p0, wide[:, ::2], 0.1), np.float64, "sgd_update with strided grad")


def _noncontiguous():
    return np.ones((4, 6))[:, ::2]


def _fortran():
    return np.asfortranarray(np.ones((4, 3)))


def _readonly():
    p = np.ones((4, 3))
    p.setflags(write=False)
    return p


@pytest.mark.parametrize("make, word", [
    pytest.param(_noncontiguous, "contiguous", id="strided"),
    pytest.param(_fortran, "contiguous", id="fortran"),
    pytest.param(_readonly, "read-only", id="readonly"),
])
def test_sgd_update_rejects_unwritable_param(assert_bitwise, make, word):
    p = make()
    before = p.copy()
    with pytest.raises(ValueError) as info:
        ops.sgd_update(p, np.ones(p.shape), 0.1)
    assert "param" in str(info.value) and word in str(info.value), f"message: {info.value}"
    assert_bitwise(p, before, "rejected param (must be untouched)")


def test_sgd_update_rejects_non_array_param():
    with pytest.raises(TypeError, match="param"):
        ops.sgd_update([1.0, 2.0], np.ones(2), 0.1)


@pytest.mark.parametrize("lr", [0.0, -0.1, float("nan"), float("inf")], ids=["zero", "negative", "nan", "inf"])
def test_sgd_update_rejects_bad_lr(assert_bitwise, lr):
    p = np.ones(3)
    with pytest.raises(ValueError, match="lr"):
        ops.sgd_update(p, np.ones(3), lr)
    assert_bitwise(p, np.ones(3), "param after a rejected lr")


@pytest.mark.parametrize("grad, exc, word", [
    pytest.param(np.ones(4), ValueError, "grad", id="shape"),
    pytest.param(np.ones(3, np.float32), TypeError, "grad", id="dtype"),
    pytest.param(np.array([1.0, np.nan, 1.0]), ValueError, "grad", id="nan"),
])
def test_sgd_update_rejects_bad_grad(grad, exc, word):
    with pytest.raises(exc, match=word):
        ops.sgd_update(np.ones(3), grad, 0.1)


# ---- fastmlp.optim.SGD validation ----------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, word", [
    ({"lr": 0.0}, "lr"), ({"lr": -1.0}, "lr"), ({"lr": float("nan")}, "lr"),
    ({"momentum": -0.1}, "momentum"),
    ({"nesterov": True}, "momentum"), ({"nesterov": True, "momentum": 0.0}, "momentum"),
    ({"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "dampening"),
    ({"dampening": -0.5}, "dampening"), ({"dampening": 1.5}, "dampening"),
    ({"weight_decay": -1e-4}, "weight_decay"),
], ids=["lr0", "lr-neg", "lr-nan", "momentum-neg", "nesterov-no-momentum", "nesterov-momentum0",
        "nesterov-dampening", "dampening-neg", "dampening>1", "weight_decay-neg"])
def test_sgd_optimizer_validation(kwargs, word):
    with pytest.raises(ValueError) as info:
        SGD(**kwargs)
    assert word in str(info.value), f"ValueError does not name {word!r}: {info.value}"


def test_sgd_optimizer_type_errors():
    with pytest.raises(TypeError, match="lr"):
        SGD(lr="0.1")


def test_sgd_config_round_trip():
    opt = SGD(lr=0.05, momentum=0.9, dampening=0.0, nesterov=True, weight_decay=1e-3)
    cfg = opt.config()
    assert cfg == {"name": "sgd", "lr": 0.05, "momentum": 0.9, "dampening": 0.0, "nesterov": True,
                   "weight_decay": 1e-3}, cfg
    assert fastmlp.optim.from_config(cfg).config() == cfg


# ---- SGD variants through MLP.fit vs reference.train_epoch ---------------------------------------------
SGD_CONFIGS = [
    pytest.param({"lr": 0.05}, id="plain"),
    pytest.param({"lr": 0.05, "momentum": 0.9}, id="momentum"),
    pytest.param({"lr": 0.05, "momentum": 0.9, "nesterov": True}, id="nesterov"),
    pytest.param({"lr": 0.05, "weight_decay": 0.01}, id="weight_decay"),
    pytest.param({"lr": 0.05, "momentum": 0.8, "dampening": 0.3}, id="dampening"),
    pytest.param({"lr": 0.03, "momentum": 0.7, "dampening": 0.2, "weight_decay": 0.02}, id="all"),
    pytest.param({"lr": 0.03, "momentum": 0.9, "nesterov": True, "weight_decay": 0.02}, id="nesterov-wd"),
]


@pytest.mark.parametrize("config", SGD_CONFIGS)
def test_sgd_fit_matches_reference(rng, config):
    n, batch, epochs = 20, 4, 12  # 5 steps per epoch, 60 steps
    x = rng.standard_normal((n, 3))
    y = np.stack([np.sin(x[:, 0]) + x[:, 1], x[:, 2] * x[:, 0]], axis=1)
    model = fastmlp.MLP([3, 6, 2], activation="tanh", seed=4, dtype="float64", bias_init="uniform")
    opt = SGD(**config)
    weights = [w.copy() for w in model.weights]
    biases = [b.copy() for b in model.biases]
    hist = model.fit(x, y, optimizer=opt, batch_size=batch, epochs=epochs, shuffle=True, seed=11)

    acts = list(model.activations)
    state, step, losses = None, 0, []
    for epoch in range(epochs):
        value, weights, biases, state, step = reference.train_epoch(
            weights, biases, acts, x, y, "mse", batch, True, 11, epoch, opt.lr, optimizer=opt.config(),
            state=state, step=step)
        losses.append(value)
    assert step == 60
    rel_close(hist.history["loss"], losses, f"SGD{config} loss per epoch")
    for l in range(len(weights)):
        rel_close(model.weights[l], weights[l], f"SGD{config} W{l} after {step} steps")
        rel_close(model.biases[l], biases[l], f"SGD{config} b{l} after {step} steps")


def test_sgd_momentum_carries_over_between_fits(rng):
    """A second fit with the same kind of optimizer continues from the kept momentum buffers and step."""
    x = rng.standard_normal((12, 3))
    y = rng.standard_normal((12, 2))
    model = fastmlp.MLP([3, 4, 2], activation="sigmoid", seed=1, dtype="float64")
    opt = SGD(lr=0.1, momentum=0.9)
    weights = [w.copy() for w in model.weights]
    biases = [b.copy() for b in model.biases]
    model.fit(x, y, optimizer=opt, batch_size=5, epochs=2, shuffle=True, seed=3)
    model.fit(x, y, optimizer=opt, batch_size=5, epochs=2, shuffle=True, seed=3)
    state, step = None, 0
    for epoch in (0, 1, 0, 1):  # each fit counts its epochs from 0
        _, weights, biases, state, step = reference.train_epoch(
            weights, biases, model.activations, x, y, "mse", 5, True, 3, epoch, 0.1, optimizer=opt.config(),
            state=state, step=step)
    for l in range(2):
        rel_close(model.weights[l], weights[l], f"W{l} after two fits")
        rel_close(model.biases[l], biases[l], f"b{l} after two fits")
