"""Every optimizer and its variants everywhere they run: the in-place ops.optimizer_update kernel
against reference.optimizer_step, plain SGD's in-place ops.sgd_update kernel and its checks, every
optimizer through MLP.fit against reference.train_epoch,
convergence on the women regression, optimizer state across fit calls and through save/load, and
gradient clipping. Against torch.optim: tests/test_optimizers_torch.py; hyperparameter validation:
tests/test_optimizer_constraints.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastmlp
from fastmlp import ops, reference
from fastmlp.optim import SGD, Adagrad, Adam, Adamax, AdamW, NAdam, RAdam, RMSprop, from_config
from helpers import assert_weights_bitwise, fit_data, fit_model, rel_close, shape_id

DTYPES = [pytest.param(np.float32, id="f32"), pytest.param(np.float64, id="f64")]
SHAPES = [pytest.param((1,), id="1"), pytest.param((17,), id="17"), pytest.param((3, 129), id="3x129")]
KERNEL_STEPS = 60

# Every optimizer with its interesting variants (ids name them): the kernel tests against the reference.
KERNEL_CASES = [
    pytest.param(SGD, {"lr": 0.05}, id="sgd-plain"),
    pytest.param(SGD, {"lr": 0.05, "weight_decay": 0.02}, id="sgd-wd"),
    pytest.param(SGD, {"lr": 0.05, "momentum": 0.9}, id="sgd-momentum"),
    pytest.param(SGD, {"lr": 0.04, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01}, id="sgd-dampening-wd"),
    pytest.param(SGD, {"lr": 0.03, "momentum": 0.9, "nesterov": True, "weight_decay": 0.02}, id="sgd-nesterov-wd"),
    pytest.param(Adam, {"lr": 0.01}, id="adam-default"),
    pytest.param(Adam, {"lr": 0.02, "betas": (0.8, 0.95), "eps": 1e-6}, id="adam-betas-eps"),
    pytest.param(Adam, {"lr": 0.01, "betas": (0.0, 0.5), "eps": 0.0}, id="adam-beta1-0-eps-0"),
    pytest.param(Adam, {"lr": 0.01, "weight_decay": 0.05}, id="adam-wd"),
    pytest.param(Adam, {"lr": 0.01, "betas": (0.85, 0.9), "amsgrad": True}, id="adam-amsgrad"),
    pytest.param(
        Adam,
        {"lr": 0.02, "betas": (0.7, 0.99), "eps": 1e-5, "weight_decay": 0.1, "amsgrad": True},
        id="adam-amsgrad-wd",
    ),
    pytest.param(AdamW, {"lr": 0.01}, id="adamw-default"),
    pytest.param(AdamW, {"lr": 0.02, "betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.1}, id="adamw-custom"),
    pytest.param(AdamW, {"lr": 0.02, "weight_decay": 0.3, "amsgrad": True}, id="adamw-amsgrad"),
    pytest.param(RMSprop, {"lr": 0.01}, id="rmsprop-plain"),
    pytest.param(RMSprop, {"lr": 0.01, "alpha": 0.9, "eps": 1e-6}, id="rmsprop-alpha-eps"),
    pytest.param(RMSprop, {"lr": 0.01, "momentum": 0.7}, id="rmsprop-momentum"),
    pytest.param(RMSprop, {"lr": 0.01, "centered": True}, id="rmsprop-centered"),
    pytest.param(RMSprop, {"lr": 0.005, "momentum": 0.5, "centered": True}, id="rmsprop-centered-momentum"),
    pytest.param(RMSprop, {"lr": 0.01, "weight_decay": 0.1}, id="rmsprop-wd"),
    pytest.param(
        RMSprop,
        {"lr": 0.005, "alpha": 0.95, "eps": 1e-4, "weight_decay": 0.05, "momentum": 0.6, "centered": True},
        id="rmsprop-all",
    ),
    pytest.param(Adagrad, {"lr": 0.1}, id="adagrad-default"),
    pytest.param(Adagrad, {"lr": 0.1, "lr_decay": 0.05}, id="adagrad-lr_decay"),
    pytest.param(Adagrad, {"lr": 0.1, "initial_accumulator_value": 0.3}, id="adagrad-init-acc"),
    pytest.param(Adagrad, {"lr": 0.1, "weight_decay": 0.1}, id="adagrad-wd"),
    pytest.param(
        Adagrad,
        {"lr": 0.2, "lr_decay": 0.02, "weight_decay": 0.05, "initial_accumulator_value": 0.5, "eps": 1e-6},
        id="adagrad-all",
    ),
    pytest.param(NAdam, {"lr": 0.01}, id="nadam-default"),
    pytest.param(NAdam, {"lr": 0.02, "betas": (0.8, 0.95), "eps": 1e-6, "momentum_decay": 0.02}, id="nadam-custom"),
    pytest.param(NAdam, {"lr": 0.01, "momentum_decay": 0.0}, id="nadam-no-momentum-decay"),
    pytest.param(NAdam, {"lr": 0.01, "weight_decay": 0.05}, id="nadam-wd"),
    pytest.param(NAdam, {"lr": 0.02, "weight_decay": 0.1, "decoupled_weight_decay": True}, id="nadam-decoupled"),
    pytest.param(RAdam, {"lr": 0.01}, id="radam-default"),  # unrectified up to step 5, rectified after
    pytest.param(RAdam, {"lr": 0.02, "betas": (0.8, 0.9), "eps": 1e-6}, id="radam-betas-eps"),
    pytest.param(RAdam, {"lr": 0.02, "betas": (0.9, 0.5)}, id="radam-never-rectified"),  # rho_inf = 3
    pytest.param(RAdam, {"lr": 0.01, "weight_decay": 0.05}, id="radam-wd"),
    pytest.param(RAdam, {"lr": 0.02, "weight_decay": 0.1, "decoupled_weight_decay": True}, id="radam-decoupled"),
    pytest.param(Adamax, {"lr": 0.01}, id="adamax-default"),
    pytest.param(Adamax, {"lr": 0.02, "betas": (0.8, 0.95), "eps": 1e-3}, id="adamax-betas-eps"),
    pytest.param(Adamax, {"lr": 0.01, "betas": (0.0, 0.5)}, id="adamax-beta1-0"),
    pytest.param(Adamax, {"lr": 0.01, "weight_decay": 0.05}, id="adamax-wd"),
]

# One non-default configuration per optimizer (plus the SGD/Adam variants that keep extra state).
FIT_CASES = [
    pytest.param(SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}, id="sgd-nesterov"),
    pytest.param(SGD, {"lr": 0.05, "momentum": 0.8, "dampening": 0.2}, id="sgd-dampening"),
    pytest.param(Adam, {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.02}, id="adam"),
    pytest.param(Adam, {"lr": 0.01, "betas": (0.85, 0.99), "amsgrad": True, "weight_decay": 0.01}, id="adam-amsgrad"),
    pytest.param(AdamW, {"lr": 0.01, "betas": (0.85, 0.98), "eps": 1e-7, "weight_decay": 0.1}, id="adamw"),
    pytest.param(AdamW, {"lr": 0.01, "weight_decay": 0.05, "amsgrad": True}, id="adamw-amsgrad"),
    pytest.param(RMSprop, {"lr": 0.005, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.01}, id="rmsprop"),
    pytest.param(
        RMSprop,
        {"lr": 0.003, "alpha": 0.95, "momentum": 0.5, "centered": True, "weight_decay": 0.01},
        id="rmsprop-centered-momentum",
    ),
    pytest.param(
        Adagrad,
        {"lr": 0.05, "lr_decay": 0.01, "weight_decay": 0.01, "initial_accumulator_value": 0.1, "eps": 1e-8},
        id="adagrad",
    ),
    pytest.param(NAdam, {"lr": 0.01, "betas": (0.85, 0.99), "momentum_decay": 0.01, "weight_decay": 0.01}, id="nadam"),
    pytest.param(NAdam, {"lr": 0.01, "weight_decay": 0.05, "decoupled_weight_decay": True}, id="nadam-decoupled"),
    pytest.param(RAdam, {"lr": 0.01, "betas": (0.85, 0.99), "eps": 1e-7, "weight_decay": 0.01}, id="radam"),
    pytest.param(RAdam, {"lr": 0.01, "weight_decay": 0.05, "decoupled_weight_decay": True}, id="radam-decoupled"),
    pytest.param(Adamax, {"lr": 0.01, "betas": (0.85, 0.99), "eps": 1e-6, "weight_decay": 0.01}, id="adamax"),
]


def _rel_close(assert_close, got, want, what, rel=1e-10, dtype=np.float64):
    """Relative error below `rel`, measured against the array's largest value (normwise)."""
    want = np.asarray(want, np.float64)
    scale = float(np.abs(want).max()) if want.size else 0.0
    assert_close(got, want, dtype, what, rtol=rel, atol=rel * scale)


def _address(a):
    return a.__array_interface__["data"][0]


def _fresh_state(opt, shape, dtype):
    return [np.full(shape, v, dtype=dtype) for v in opt.state_initial_values()]


# ---- ops.optimizer_update vs reference.optimizer_step ----------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("cls, kwargs", KERNEL_CASES)
def test_optimizer_update_float64_matches_reference(rng, cls, kwargs, shape):
    """60 steps run independently by the kernel and the reference: parameter and every state buffer
    within 1e-10 relative error after each step; everything updated in place."""
    opt = cls(**kwargs)
    p = rng.standard_normal(shape)
    state = _fresh_state(opt, shape, np.float64)
    addresses = [_address(p)] + [_address(s) for s in state]
    state_list = list(state)
    want_p, want_state = p.copy(), [None] * len(state)
    for step in range(1, KERNEL_STEPS + 1):
        g = rng.standard_normal(shape) * (1.0 + step % 3)
        result = ops.optimizer_update(opt, p, g, state, step)
        assert result is None, f"optimizer_update returned {type(result).__name__}; it updates in place"
        want_p, want_state = reference.optimizer_step(opt.config(), want_p, g, want_state, step, opt.lr)
        rel_close(p, want_p, f"{opt!r} param after step {step}")
        assert len(want_state) == len(state) == len(opt.state_names())
        for name, got, want in zip(opt.state_names(), state, want_state):
            rel_close(got, want, f"{opt!r} state {name!r} after step {step}")
    assert [_address(p)] + [_address(s) for s in state] == addresses, "a buffer was reallocated"
    assert state == state_list and all(a is b for a, b in zip(state, state_list)), "the state list was changed"


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("cls, kwargs", KERNEL_CASES)
def test_optimizer_update_float32_matches_reference(rng, assert_close, cls, kwargs, shape):
    """float32 in lockstep: at each of 60 steps the reference is fed the kernel's current (float32)
    parameter and state, and the kernel's float32 arithmetic must agree within float32 tolerance."""
    opt = cls(**kwargs)
    p = rng.standard_normal(shape).astype(np.float32)
    state = _fresh_state(opt, shape, np.float32)
    addresses = [_address(p)] + [_address(s) for s in state]
    for step in range(1, KERNEL_STEPS + 1):
        g = (rng.standard_normal(shape) * (1.0 + step % 3)).astype(np.float32)
        before_p, before_state = p.copy(), [s.copy() for s in state]
        ops.optimizer_update(opt, p, g, state, step)
        # Step 1 starts from fresh buffers (None) exactly as the reference's own first step does.
        ref_state = [None] * len(state) if step == 1 else before_state
        want_p, want_state = reference.optimizer_step(opt.config(), before_p, g, ref_state, step, opt.lr)
        assert_close(p, want_p, np.float32, f"{opt!r} float32 param at step {step}")
        for name, got, want in zip(opt.state_names(), state, want_state):
            assert_close(got, want, np.float32, f"{opt!r} float32 state {name!r} at step {step}")
    assert [_address(p)] + [_address(s) for s in state] == addresses, "a buffer was reallocated"


@pytest.mark.parametrize(
    "cls, kwargs",
    [
        pytest.param(Adam, {"lr": 0.01, "amsgrad": True}, id="adam-amsgrad"),
        pytest.param(RMSprop, {"lr": 0.01, "momentum": 0.5, "centered": True}, id="rmsprop-centered-momentum"),
        pytest.param(Adagrad, {"lr": 0.1, "lr_decay": 0.1}, id="adagrad-lr_decay"),
    ],
)
def test_optimizer_update_lr_override(rng, cls, kwargs):
    """lr= overrides the optimizer's rate for one step (what a schedule does), step by step."""
    opt = cls(**kwargs)
    p = rng.standard_normal((4, 5))
    state = _fresh_state(opt, p.shape, np.float64)
    want_p, want_state = p.copy(), [None] * len(state)
    for step in range(1, 21):
        lr = 0.003 * (1 + step % 4)
        g = rng.standard_normal(p.shape)
        ops.optimizer_update(opt, p, g, state, step, lr=lr)
        want_p, want_state = reference.optimizer_step(opt.config(), want_p, g, want_state, step, lr)
    rel_close(p, want_p, f"{opt!r} with per-step lr")


@pytest.mark.parametrize(
    "cls, kwargs, expected",
    [
        pytest.param(Adam, {"lr": 0.01}, lambda g: [0.1 * g, 0.001 * g * g], id="adam-default"),
        pytest.param(
            Adam,
            {"lr": 0.01, "betas": (0.9, 0.9999), "amsgrad": True},
            lambda g: [0.1 * g, 1e-4 * g * g, 1e-4 * g * g],
            id="adam-beta2-0.9999",
        ),
        pytest.param(AdamW, {"lr": 0.01, "weight_decay": 0.0}, lambda g: [0.1 * g, 0.001 * g * g], id="adamw"),
        pytest.param(RMSprop, {"lr": 0.01}, lambda g: [0.01 * g * g], id="rmsprop-default"),
        pytest.param(
            RMSprop,
            {"lr": 0.01, "alpha": 0.999, "centered": True},
            lambda g: [0.001 * g * g, 0.001 * g],
            id="rmsprop-centered",
        ),
    ],
)
def test_float32_first_step_state_is_accurate(rng, assert_close, cls, kwargs, expected):
    """From zero state the first step's buffers are (1 - beta) g and (1 - beta2) g^2: one or two float32
    roundings of the exact value (torch.optim gets them within 1.5e-7, computing 1 - beta2 in double and
    rounding once). Computing 1 - beta2 in float32 from the rounded beta2 instead scales the second moment
    by (1 - fl32(0.999)) / 0.001 = 1 - 1.3e-5, ~200 ulp off, and biases every later step the same way."""
    opt = cls(**kwargs)
    g = rng.uniform(0.5, 2.0, 257).astype(np.float32) * rng.choice([-1.0, 1.0], 257).astype(np.float32)
    p = np.zeros(257, np.float32)
    state = _fresh_state(opt, p.shape, np.float32)
    ops.optimizer_update(opt, p, g, state, 1)
    want = expected(g.astype(np.float64))
    for name, got, w in zip(opt.state_names(), state, want):
        assert_close(got, w, np.float32, f"{opt!r} float32 {name} after step 1 (<= 4 ulp)", rtol=2.4e-7, atol=0.0)


def test_adam_amsgrad_keeps_the_running_maximum(assert_bitwise):
    """A large gradient then small ones: max_exp_avg_sq never decreases and stays >= exp_avg_sq."""
    opt = Adam(lr=0.01, betas=(0.9, 0.9), amsgrad=True)
    p = np.zeros(3)
    state = _fresh_state(opt, p.shape, np.float64)
    grads = [np.array([10.0, -5.0, 1.0])] + [np.full(3, 0.01)] * 10
    previous = np.zeros(3)
    for step, g in enumerate(grads, start=1):
        ops.optimizer_update(opt, p, g, state, step)
        m, v, vmax = state
        assert np.all(vmax >= previous) and np.all(vmax >= v), f"step {step}: vmax {vmax}, v {v}"
        previous = vmax.copy()
    assert np.all(state[2] > state[1] * 2), "the maximum did not stay above the decaying average"


def test_adagrad_initial_accumulator_and_first_step_by_hand():
    """Adagrad's first step by hand: s = iav + g^2, p -= lr g / (sqrt(s) + eps); lr_decay starts at step 2."""
    opt = Adagrad(lr=0.5, lr_decay=1.0, initial_accumulator_value=3.0, eps=0.0)
    p = np.array([1.0, -2.0])
    state = _fresh_state(opt, p.shape, np.float64)
    assert np.array_equal(state[0], [3.0, 3.0])
    ops.optimizer_update(opt, p, np.array([1.0, 4.0]), state, 1)
    assert np.allclose(state[0], [4.0, 19.0], rtol=0, atol=1e-15)
    assert np.allclose(p, [1.0 - 0.5 * 1.0 / 2.0, -2.0 - 0.5 * 4.0 / math.sqrt(19.0)], rtol=1e-15, atol=0)
    before = p.copy()
    ops.optimizer_update(opt, p, np.array([0.0, 0.0]), state, 2)  # zero gradient: nothing moves
    assert np.array_equal(p, before)
    ops.optimizer_update(opt, p, np.array([5.0, 0.0]), state, 2)  # clr = 0.5 / (1 + 1 * 1.0)
    assert np.allclose(p[0], before[0] - 0.25 * 5.0 / math.sqrt(29.0), rtol=1e-15, atol=0)


def test_adam_first_step_is_lr_times_sign():
    """Bias correction makes Adam's first step lr * g / (|g| + eps') ~ lr * sign(g)."""
    opt = Adam(lr=0.1, eps=0.0)
    p = np.array([0.0, 0.0, 1.0])
    state = _fresh_state(opt, p.shape, np.float64)
    ops.optimizer_update(opt, p, np.array([3.0, -1e-3, 7.0]), state, 1)
    assert np.allclose(p, [-0.1, 0.1, 0.9], rtol=1e-14, atol=1e-15), p


def test_adamw_decay_is_decoupled():
    """With a zero gradient AdamW only shrinks p by (1 - lr wd); Adam's coupled L2 term moves it by ~lr."""
    p = np.array([2.0, -4.0])
    opt = AdamW(lr=0.1, weight_decay=0.5)
    ops.optimizer_update(opt, p, np.zeros(2), _fresh_state(opt, p.shape, np.float64), 1)
    assert np.allclose(p, [2.0 * 0.95, -4.0 * 0.95], rtol=1e-15, atol=0), p
    q = np.array([2.0, -4.0])
    opt = Adam(lr=0.1, weight_decay=0.5)
    ops.optimizer_update(opt, q, np.zeros(2), _fresh_state(opt, q.shape, np.float64), 1)
    assert np.allclose(q, [1.9, -3.9], rtol=1e-7, atol=0), q


# ---- ops.optimizer_update argument checks ----------------------------------------------------------------
def test_optimizer_update_checks_step_and_lr(assert_bitwise):
    opt = Adam(lr=0.01)
    p = np.ones(4)
    state = _fresh_state(opt, p.shape, np.float64)
    with pytest.raises(ValueError, match="step"):
        ops.optimizer_update(opt, p, np.ones(4), state, 0)
    for lr in (0.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="lr"):
            ops.optimizer_update(opt, p, np.ones(4), state, 1, lr=lr)
    assert_bitwise(p, np.ones(4), "param after rejected calls")
    for s in state:
        assert_bitwise(s, np.zeros(4), "state after rejected calls")


@pytest.mark.parametrize(
    "make_state, exc, word",
    [
        pytest.param(lambda: [np.zeros(4)], ValueError, "state", id="too-few"),
        pytest.param(lambda: [np.zeros(4)] * 3, ValueError, "state", id="too-many"),
        pytest.param(lambda: [np.zeros(4), np.zeros(5)], ValueError, "shape", id="shape"),
        pytest.param(lambda: [np.zeros(4), np.zeros(4, np.float32)], TypeError, "state", id="dtype"),
        pytest.param(lambda: [np.zeros(4), np.zeros(8)[::2]], ValueError, "contiguous", id="strided"),
    ],
)
def test_optimizer_update_checks_state(assert_bitwise, make_state, exc, word):
    p = np.ones(4)
    with pytest.raises(exc, match=word):
        ops.optimizer_update(Adam(lr=0.01), p, np.ones(4), make_state(), 1)
    assert_bitwise(p, np.ones(4), "param after a rejected state")


# ---- ops.sgd_update: plain SGD's in-place kernel ------------------------------------------------------
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


@pytest.mark.parametrize(
    "make, word",
    [
        pytest.param(_noncontiguous, "contiguous", id="strided"),
        pytest.param(_fortran, "contiguous", id="fortran"),
        pytest.param(_readonly, "read-only", id="readonly"),
    ],
)
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


@pytest.mark.parametrize(
    "grad, exc, word",
    [
        pytest.param(np.ones(4), ValueError, "grad", id="shape"),
        pytest.param(np.ones(3, np.float32), TypeError, "grad", id="dtype"),
        pytest.param(np.array([1.0, np.nan, 1.0]), ValueError, "grad", id="nan"),
    ],
)
def test_sgd_update_rejects_bad_grad(grad, exc, word):
    with pytest.raises(exc, match=word):
        ops.sgd_update(np.ones(3), grad, 0.1)


# ---- against torch.optim: tests/test_optimizers_torch.py (200 steps, float32 and float64) ------------------


# ---- every optimizer through MLP.fit vs reference.train_epoch ------------------------------------------
def _reference_epochs(
    model,
    weights,
    biases,
    x,
    y,
    opt,
    batch,
    seed,
    epochs,
    *,
    state=None,
    step=0,
    lr=None,
    clip_grad_norm=None,
    clip_grad_value=None,
):
    """reference.train_epoch for `epochs` (an iterable of epoch numbers) from (weights, biases)."""
    losses = []
    for epoch in epochs:
        value, weights, biases, state, step = reference.train_epoch(
            weights,
            biases,
            list(model.activations),
            x,
            y,
            "mse",
            batch,
            True,
            seed,
            epoch,
            opt.lr if lr is None else lr,
            optimizer=opt.config(),
            state=state,
            step=step,
            clip_grad_norm=clip_grad_norm,
            clip_grad_value=clip_grad_value,
        )
        losses.append(value)
    return losses, weights, biases, state, step


# relative error bound for fit vs the reference: the issue asks for 1e-5; observed errors are ~1e-15.
FIT_REL = 1e-10

# SGD's other variants, each alone and all at once (FIT_CASES has Nesterov and dampening).
SGD_FIT_CASES = [
    pytest.param(SGD, {"lr": 0.05}, id="sgd-plain"),
    pytest.param(SGD, {"lr": 0.05, "momentum": 0.9}, id="sgd-momentum"),
    pytest.param(SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}, id="sgd-nesterov-no-wd"),
    pytest.param(SGD, {"lr": 0.05, "weight_decay": 0.01}, id="sgd-wd"),
    pytest.param(SGD, {"lr": 0.03, "momentum": 0.7, "dampening": 0.2, "weight_decay": 0.02}, id="sgd-all"),
]


@pytest.mark.parametrize("cls, kwargs", FIT_CASES + SGD_FIT_CASES)
def test_fit_matches_reference(rng, cls, kwargs):
    x, y = fit_data(rng)
    batch, epochs = 7, 15  # 4 steps per epoch (the last one of 2 samples): 60 steps
    model = fit_model()
    opt = cls(**kwargs)
    weights = [w.copy() for w in model.weights]
    biases = [b.copy() for b in model.biases]
    hist = model.fit(x, y, optimizer=opt, batch_size=batch, epochs=epochs, shuffle=True, seed=11)
    losses, weights, biases, state, step = _reference_epochs(
        model, weights, biases, x, y, opt, batch, 11, range(epochs)
    )
    assert step == 60 and model._opt["step"] == 60
    assert model._opt["config"] == opt.config()
    assert model.optimizer.config() == opt.config()
    rel_close(hist.history["loss"], losses, f"{opt!r} loss per epoch", FIT_REL)
    for l in range(3):
        rel_close(model.weights[l], weights[l], f"{opt!r} W{l} after 60 steps", FIT_REL)
        rel_close(model.biases[l], biases[l], f"{opt!r} b{l} after 60 steps", FIT_REL)
        for s, name in enumerate(opt.state_names()):
            rel_close(model._opt["w"][l][s], state[l][0][s], f"{opt!r} W{l} {name}", FIT_REL)
            rel_close(model._opt["b"][l][s], state[l][1][s], f"{opt!r} b{l} {name}", FIT_REL)
    assert hist.history["loss"][-1] < hist.history["loss"][0], f"{opt!r} did not reduce the loss"


@pytest.mark.parametrize("cls, kwargs", [FIT_CASES[2], FIT_CASES[7], FIT_CASES[8]])
def test_fit_float32_matches_reference(rng, assert_close, cls, kwargs):
    """A float32 model trains in float32 and stays near the float64 reference over 60 steps."""
    x, y = fit_data(rng)
    model = fit_model("float32")
    opt = cls(**kwargs)
    weights = [w.astype(np.float64) for w in model.weights]
    biases = [b.astype(np.float64) for b in model.biases]
    model.fit(x.astype(np.float32), y.astype(np.float32), optimizer=opt, batch_size=7, epochs=15, seed=11)
    x32, y32 = x.astype(np.float32).astype(np.float64), y.astype(np.float32).astype(np.float64)
    _, weights, biases, _, _ = _reference_epochs(model, weights, biases, x32, y32, opt, 7, 11, range(15))
    for l in range(3):
        assert model.weights[l].dtype == np.float32
        assert_close(model.weights[l], weights[l], np.float32, f"{opt!r} float32 W{l}", rtol=1e-4, atol=1e-4)
        assert_close(model.biases[l], biases[l], np.float32, f"{opt!r} float32 b{l}", rtol=1e-4, atol=1e-4)


NAN, INF = float("nan"), float("inf")  # hyperparameter validation: tests/test_optimizer_constraints.py


@pytest.mark.parametrize("cls, kwargs", FIT_CASES)
def test_config_round_trip(cls, kwargs):
    opt = cls(**kwargs)
    cfg = opt.config()
    assert cfg["name"] == cls.name
    again = from_config(cfg)
    assert type(again) is cls and again.config() == cfg
    assert again.state_names() == opt.state_names()
    assert len(opt.state_initial_values()) == len(opt.state_names()) == opt.state_count()
    assert repr(opt).startswith(cls.__name__ + "(")


def test_sgd_config_round_trip():
    opt = SGD(lr=0.05, momentum=0.9, dampening=0.0, nesterov=True, weight_decay=1e-3)
    cfg = opt.config()
    assert cfg == {
        "name": "sgd",
        "lr": 0.05,
        "momentum": 0.9,
        "dampening": 0.0,
        "nesterov": True,
        "weight_decay": 1e-3,
    }, cfg
    assert fastmlp.optim.from_config(cfg).config() == cfg


def test_state_names_and_initial_values():
    assert SGD().state_names() == []
    assert SGD(momentum=0.9).state_names() == ["momentum_buffer"]
    assert Adam().state_names() == ["exp_avg", "exp_avg_sq"]
    assert Adam(amsgrad=True).state_names() == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
    assert AdamW(amsgrad=True).state_names() == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
    assert RMSprop().state_names() == ["square_avg"]
    assert RMSprop(momentum=0.9, centered=True).state_names() == ["square_avg", "momentum_buffer", "grad_avg"]
    assert RMSprop(centered=True).state_names() == ["square_avg", "grad_avg"]
    assert Adagrad().state_names() == ["sum"]
    assert Adagrad(initial_accumulator_value=0.25).state_initial_values() == [0.25]
    assert Adam(amsgrad=True).state_initial_values() == [0.0, 0.0, 0.0]
    assert AdamW().weight_decay == 0.01 and Adam().weight_decay == 0.0  # torch's defaults


def test_from_config_rejects_unknown_names():
    with pytest.raises(ValueError, match="lion"):
        from_config({"name": "lion", "lr": 0.1})
    with pytest.raises(ValueError, match="betas"):
        from_config({"name": "adam", "lr": 0.1, "betas": [1.0, 0.9]})


# ---- convergence on the women regression ----------------------------------------------------------------
@pytest.mark.parametrize(
    "opt",
    [
        pytest.param(SGD(lr=0.05), id="sgd"),
        pytest.param(SGD(lr=0.02, momentum=0.9, nesterov=True), id="sgd-nesterov"),
        pytest.param(Adam(lr=0.05), id="adam"),
        pytest.param(Adam(lr=0.05, amsgrad=True), id="adam-amsgrad"),
        pytest.param(AdamW(lr=0.05, weight_decay=0.01), id="adamw"),
        pytest.param(RMSprop(lr=0.03), id="rmsprop"),
        pytest.param(RMSprop(lr=0.01, momentum=0.5, centered=True), id="rmsprop-centered-momentum"),
        pytest.param(Adagrad(lr=0.5), id="adagrad"),
        pytest.param(NAdam(lr=0.05), id="nadam"),
        pytest.param(RAdam(lr=0.05), id="radam"),
        pytest.param(Adamax(lr=0.05), id="adamax"),
    ],
)
def test_each_optimizer_fits_women(opt):
    """Standardized height -> weight is almost exactly linear (r = 0.995): every optimizer takes the MSE
    from several units to near the least-squares optimum 1 - r^2 ~ 0.009."""
    h, w = fastmlp.data.load_women()
    x = (h - h.mean()) / h.std()
    y = (w - w.mean()) / w.std()
    best = 1.0 - np.corrcoef(h, w)[0, 1] ** 2
    model = fastmlp.MLP([1, 1], seed=3)
    initial = model.evaluate(x, y)
    hist = model.fit(x, y, optimizer=opt, batch_size=5, epochs=100, seed=1)
    final = model.evaluate(x, y)
    assert initial > 1.0
    assert final < 0.02 and final < initial / 100, f"{opt!r}: MSE {initial:.4g} -> {final:.4g} (optimum {best:.4g})"
    assert hist.history["loss"][-1] < hist.history["loss"][0] / 50


# ---- optimizer state across fit calls --------------------------------------------------------------------
@pytest.mark.parametrize("cls, kwargs", FIT_CASES)
def test_warm_start_keeps_state_and_step(rng, cls, kwargs):
    """Two fits of 2 epochs each = the reference continuing its state and step count over 4 epochs (each
    fit numbers its epochs from 0, so the shuffles are those of epochs 0, 1, 0, 1)."""
    x, y = fit_data(rng)
    model = fit_model()
    opt = cls(**kwargs)
    weights = [w.copy() for w in model.weights]
    biases = [b.copy() for b in model.biases]
    model.fit(x, y, optimizer=opt, batch_size=7, epochs=2, seed=5)
    buffers = [a for bufs in model._opt["w"] + model._opt["b"] for a in bufs]
    assert model._opt["step"] == 8
    model.fit(x, y, optimizer=opt, batch_size=7, epochs=2, seed=5)
    assert model._opt["step"] == 16, "the step count restarted"
    kept = [a for bufs in model._opt["w"] + model._opt["b"] for a in bufs]
    assert all(a is b for a, b in zip(buffers, kept)) and len(kept) == len(buffers)
    _, weights, biases, state, step = _reference_epochs(model, weights, biases, x, y, opt, 7, 5, (0, 1, 0, 1))
    assert step == 16
    for l in range(3):
        rel_close(model.weights[l], weights[l], f"{opt!r} W{l} after two fits", FIT_REL)
        rel_close(model.biases[l], biases[l], f"{opt!r} b{l} after two fits", FIT_REL)
        for s, name in enumerate(opt.state_names()):
            rel_close(model._opt["w"][l][s], state[l][0][s], f"{opt!r} W{l} {name}", FIT_REL)


def test_warm_start_with_new_hyperparameters_of_the_same_kind(rng):
    """Same kind and state layout, different lr and betas: the buffers and the step carry over and the
    new hyperparameters apply from the next step."""
    x, y = fit_data(rng)
    model = fit_model()
    first, second = Adam(lr=0.01), Adam(lr=0.003, betas=(0.5, 0.9), weight_decay=0.1)
    weights = [w.copy() for w in model.weights]
    biases = [b.copy() for b in model.biases]
    model.fit(x, y, optimizer=first, batch_size=7, epochs=2, seed=5)
    model.fit(x, y, optimizer=second, batch_size=7, epochs=2, seed=5)
    assert model._opt["step"] == 16 and model._opt["config"] == second.config()
    _, weights, biases, state, step = _reference_epochs(model, weights, biases, x, y, first, 7, 5, (0, 1))
    _, weights, biases, state, step = _reference_epochs(
        model, weights, biases, x, y, second, 7, 5, (0, 1), state=state, step=step
    )
    for l in range(3):
        rel_close(model.weights[l], weights[l], f"W{l}", FIT_REL)


@pytest.mark.parametrize(
    "first, second",
    [
        pytest.param(Adam(lr=0.01), RMSprop(lr=0.005, momentum=0.5), id="adam-to-rmsprop"),
        pytest.param(Adam(lr=0.01), AdamW(lr=0.01, weight_decay=0.1), id="adam-to-adamw"),  # same buffer names
        pytest.param(AdamW(lr=0.01), Adam(lr=0.01), id="adamw-to-adam"),
        pytest.param(Adagrad(lr=0.05, initial_accumulator_value=0.2), SGD(lr=0.05, momentum=0.9), id="adagrad-to-sgd"),
        pytest.param(Adam(lr=0.01), Adam(lr=0.01, amsgrad=True), id="adam-to-amsgrad"),
        pytest.param(RMSprop(lr=0.005), RMSprop(lr=0.005, centered=True), id="rmsprop-to-centered"),
        pytest.param(SGD(lr=0.05, momentum=0.9), Adagrad(lr=0.05, initial_accumulator_value=0.3), id="sgd-to-adagrad"),
    ],
)
def test_switching_optimizer_resets_state(rng, first, second):
    """A different kind (or state layout) starts from fresh buffers and step 1."""
    x, y = fit_data(rng)
    model = fit_model()
    model.fit(x, y, optimizer=first, batch_size=7, epochs=2, seed=5)
    weights = [w.copy() for w in model.weights]
    biases = [b.copy() for b in model.biases]
    model.fit(x, y, optimizer=second, batch_size=7, epochs=2, seed=5)
    assert model._opt["step"] == 8, "the step count was not reset"
    assert model._opt["config"] == second.config() and model._opt["names"] == second.state_names()
    _, weights, biases, state, _ = _reference_epochs(model, weights, biases, x, y, second, 7, 5, (0, 1))
    for l in range(3):
        rel_close(model.weights[l], weights[l], f"{first!r} -> {second!r} W{l}", FIT_REL)
        rel_close(model.biases[l], biases[l], f"{first!r} -> {second!r} b{l}", FIT_REL)
        for s, name in enumerate(second.state_names()):
            rel_close(model._opt["b"][l][s], state[l][1][s], f"b{l} {name}", FIT_REL)


# ---- save / load of the optimizer state ------------------------------------------------------------------
def _assert_same_optimizer_state(assert_bitwise, a, b, what):
    assert a._opt["step"] == b._opt["step"], f"{what}: step {a._opt['step']} != {b._opt['step']}"
    assert a._opt["config"] == b._opt["config"], f"{what}: config {a._opt['config']} != {b._opt['config']}"
    assert a._opt["names"] == b._opt["names"]
    assert a.optimizer.config() == b.optimizer.config()
    for l in range(a.n_layers):
        assert len(a._opt["w"][l]) == len(b._opt["w"][l]) == len(a._opt["names"])
        for s, name in enumerate(a._opt["names"]):
            assert_bitwise(a._opt["w"][l][s], b._opt["w"][l][s], f"{what}: W{l} {name}")
            assert_bitwise(a._opt["b"][l][s], b._opt["b"][l][s], f"{what}: b{l} {name}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cls, kwargs", FIT_CASES)
def test_save_load_round_trips_optimizer_state_and_resumes_bitwise(rng, tmp_path, assert_bitwise, cls, kwargs, dtype):
    x, y = fit_data(rng)
    x, y = x.astype(dtype), y.astype(dtype)
    opt = cls(**kwargs)
    model = fit_model(dtype)
    model.fit(x, y, optimizer=opt, batch_size=7, epochs=3, seed=2)
    path = model.save(tmp_path / "m.npz")
    loaded = fastmlp.load(path)
    assert_weights_bitwise(loaded.get_weights(), model.get_weights(), f"{opt!r} after load")
    _assert_same_optimizer_state(assert_bitwise, loaded, model, f"{opt!r} after load")
    assert loaded._opt["step"] == 12
    for bufs in loaded._opt["w"] + loaded._opt["b"]:
        assert all(a.dtype == np.dtype(dtype) and a.flags.c_contiguous and a.flags.writeable for a in bufs)
    # Training resumed from the file = training continued in memory, bit for bit.
    model.fit(x, y, optimizer=opt, batch_size=7, epochs=2, seed=9)
    loaded.fit(x, y, optimizer=opt, batch_size=7, epochs=2, seed=9)
    assert_weights_bitwise(loaded.get_weights(), model.get_weights(), f"{opt!r} resumed after load")
    _assert_same_optimizer_state(assert_bitwise, loaded, model, f"{opt!r} resumed after load")
    assert loaded._opt["step"] == 20


def test_load_restores_the_optimizer_property(tmp_path):
    model = fit_model()
    assert model.optimizer is None
    opt = RMSprop(lr=0.004, alpha=0.8, momentum=0.3, centered=True, weight_decay=0.02, eps=1e-7)
    model.fit(np.ones((4, 3)), np.zeros((4, 2)), optimizer=opt, batch_size=2, epochs=1)
    again = fastmlp.load(model.save(tmp_path / "m.npz")).optimizer
    assert type(again) is RMSprop and again.config() == opt.config()


# ---- gradient clipping ---------------------------------------------------------------------------------
CLIPS = [
    pytest.param({"clip_grad_norm": 0.3}, id="norm"),
    pytest.param({"clip_grad_value": 0.02}, id="value"),
    pytest.param({"clip_grad_norm": 0.05, "clip_grad_value": 0.03}, id="both"),
]


@pytest.mark.parametrize("clip", CLIPS)
@pytest.mark.parametrize(
    "opt",
    [
        pytest.param(SGD(lr=0.1, momentum=0.9), id="sgd-momentum"),
        pytest.param(Adam(lr=0.01, amsgrad=True), id="adam-amsgrad"),
        pytest.param(Adagrad(lr=0.1), id="adagrad"),
    ],
)
def test_fit_with_clipping_matches_reference(rng, opt, clip):
    x, y = fit_data(rng)
    y = 5.0 * y  # large errors: the gradients are well above the clipping thresholds
    model = fit_model()
    weights = [w.copy() for w in model.weights]
    biases = [b.copy() for b in model.biases]
    hist = model.fit(x, y, optimizer=opt, batch_size=7, epochs=15, seed=11, **clip)
    losses, weights, biases, _, step = _reference_epochs(model, weights, biases, x, y, opt, 7, 11, range(15), **clip)
    assert step == 60
    rel_close(hist.history["loss"], losses, f"{opt!r} {clip} loss", FIT_REL)
    for l in range(3):
        rel_close(model.weights[l], weights[l], f"{opt!r} {clip} W{l}", FIT_REL)
        rel_close(model.biases[l], biases[l], f"{opt!r} {clip} b{l}", FIT_REL)
    # The clipping was active: without it the reference ends somewhere clearly different.
    plain = fit_model()
    _, free, _, _, _ = _reference_epochs(
        plain, [w.copy() for w in plain.weights], [b.copy() for b in plain.biases], x, y, opt, 7, 11, range(15)
    )
    assert max(np.abs(a - b).max() for a, b in zip(free, weights)) > 1e-3, "the clipping never triggered"


def test_clip_gradients_reference_matches_torch(rng, assert_close):
    torch = pytest.importorskip("torch")
    grads = [rng.standard_normal((4, 3)) * 3, rng.standard_normal(3), rng.standard_normal((3, 2)) * 0.1]
    for norm, value in [(0.5, None), (None, 0.7), (1.0, 0.4), (1e6, None)]:
        want = reference.clip_gradients(grads, norm, value)
        ts = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
        for t, g in zip(ts, grads):
            t.grad = torch.tensor(g)
        if value is not None:
            torch.nn.utils.clip_grad_value_(ts, value)
        if norm is not None:
            torch.nn.utils.clip_grad_norm_(ts, norm)
        for i, (t, w) in enumerate(zip(ts, want)):
            assert_close(t.grad.numpy(), w, np.float64, f"clip norm={norm} value={value} grad {i}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "kw",
    [{"clip_grad_norm": 1e6}, {"clip_grad_value": 1e6}, {"clip_grad_norm": 1e6, "clip_grad_value": 1e6}],
    ids=["norm", "value", "both"],
)
def test_loose_clipping_changes_nothing(rng, assert_bitwise, dtype, kw):
    x, y = fit_data(rng)
    x, y = x.astype(dtype), y.astype(dtype)
    a, b = fit_model(dtype), fit_model(dtype)
    opt = Adam(lr=0.01)
    ha = a.fit(x, y, optimizer=opt, batch_size=7, epochs=5, seed=3)
    hb = b.fit(x, y, optimizer=opt, batch_size=7, epochs=5, seed=3, **kw)
    assert ha.history["loss"] == hb.history["loss"]
    assert_weights_bitwise(b.get_weights(), a.get_weights(), f"loose clipping {kw}")
    _assert_same_optimizer_state(assert_bitwise, b, a, f"loose clipping {kw}")


@pytest.mark.parametrize("name", ["clip_grad_norm", "clip_grad_value"])
@pytest.mark.parametrize("value", [0, 0.0, -1.0, -1e-9, NAN], ids=["0", "0.0", "-1", "-tiny", "nan"])
def test_invalid_clipping_raises_value_error(rng, assert_bitwise, name, value):
    x, y = fit_data(rng)
    model = fit_model()
    before = model.get_weights()
    with pytest.raises(ValueError) as info:
        model.fit(x, y, optimizer=Adam(lr=0.01), batch_size=7, epochs=1, **{name: value})
    assert name in str(info.value), f"the ValueError does not name {name}: {info.value}"
    for (w, _b), (w0, _b0) in zip(model.get_weights(), before):
        assert_bitwise(w, w0, "weights after a refused clip value")
    assert model._opt is None


@pytest.mark.parametrize("name", ["clip_grad_norm", "clip_grad_value"])
def test_numpy_scalar_clip_values_are_numbers(rng, name):
    """np.float32(0.25) is a number > 0 like 0.25 (and exactly equal to it): same training, bit for bit."""
    x, y = fit_data(rng)
    a, b = fit_model(), fit_model()
    a.fit(x, y, optimizer=SGD(lr=0.1), batch_size=7, epochs=2, seed=3, **{name: 0.25})
    b.fit(x, y, optimizer=SGD(lr=0.1), batch_size=7, epochs=2, seed=3, **{name: np.float32(0.25)})
    assert_weights_bitwise(b.get_weights(), a.get_weights(), f"{name}=np.float32(0.25) vs 0.25")
