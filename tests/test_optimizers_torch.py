"""Every optimizer against its outside oracle, torch.optim: 200 steps of ops.optimizer_update and of
torch's step from the same parameter with the same gradients, parameter and every state buffer
compared, in float64 (within 1e-12) and float32 (within its rounding); and the kernel against
reference.optimizer_step on odd sizes, 0 included. The kernels' state buffer names are torch's."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from fastmlp import ops, reference
from fastmlp.optim import OPTIMIZERS, SGD, Adagrad, Adam, AdamW, RMSprop

DTYPES = [pytest.param(np.float32, id="f32"), pytest.param(np.float64, id="f64")]
TORCH_STEPS = 200

# Normwise relative error (against the largest |value| of the array) allowed after TORCH_STEPS steps.
# float64: observed <= 6e-16. float32: each step rounds the update and the state a few times (6e-8
# each) and torch orders a few operations differently (its exp_avg is a lerp); observed <= 3.3e-7 after
# 200 steps, so 4e-6 leaves room while a wrong term (a bias correction, a decay applied twice) is
# off by 1e-3 or more.
TORCH_REL = {np.float64: 1e-12, np.float32: 4e-6}

# Every option of every optimizer, with torch.optim's keyword arguments (fastmlp's are the same names).
TORCH_CASES = [
    pytest.param(SGD, {"lr": 0.05}, id="sgd-plain"),
    pytest.param(SGD, {"lr": 0.04, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01}, id="sgd-dampening-wd"),
    pytest.param(SGD, {"lr": 0.03, "momentum": 0.9, "nesterov": True, "weight_decay": 0.02}, id="sgd-nesterov-wd"),
    pytest.param(Adam, {"lr": 0.01}, id="adam-default"),
    pytest.param(Adam, {"lr": 0.02, "betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.05}, id="adam-custom"),
    pytest.param(Adam, {"lr": 0.02, "betas": (0.7, 0.99), "weight_decay": 0.1, "amsgrad": True}, id="adam-amsgrad"),
    pytest.param(AdamW, {"lr": 0.02, "betas": (0.8, 0.95), "weight_decay": 0.1}, id="adamw"),
    pytest.param(AdamW, {"lr": 0.02, "weight_decay": 0.3, "amsgrad": True}, id="adamw-amsgrad"),
    pytest.param(RMSprop, {"lr": 0.01, "alpha": 0.9, "eps": 1e-6}, id="rmsprop-plain"),
    pytest.param(RMSprop, {"lr": 0.01, "momentum": 0.7, "weight_decay": 0.1}, id="rmsprop-momentum-wd"),
    pytest.param(RMSprop, {"lr": 0.005, "alpha": 0.95, "momentum": 0.6, "centered": True}, id="rmsprop-centered"),
    pytest.param(Adagrad, {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1}, id="adagrad-lr_decay-wd"),
    pytest.param(Adagrad, {"lr": 0.2, "initial_accumulator_value": 0.5, "eps": 1e-6}, id="adagrad-init-acc"),
]


@contextlib.contextmanager
def _torch_default_dtype(torch, dtype):
    """torch keeps a step's scalars (step, NAdam's mu_product) in its default dtype: float64 for a float64
    comparison, as a float64 user sets it; float32 for a float32 one, torch's own default."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64 if dtype == np.float64 else torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def _normwise(assert_close, got, want, dtype, what):
    want = np.asarray(want, np.float64)
    rel = TORCH_REL[dtype]
    assert_close(got, want, dtype, what, rtol=rel, atol=rel * float(np.abs(want).max()))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cls, kwargs", TORCH_CASES)
def test_optimizer_update_matches_torch_over_many_steps(rng, assert_close, cls, kwargs, dtype):
    torch = pytest.importorskip("torch")
    opt = cls(**kwargs)
    shape = (3, 43)
    p = rng.standard_normal(shape).astype(dtype)
    state = [np.full(shape, v, dtype) for v in opt.state_initial_values()]
    grads = [(rng.standard_normal(shape) * (1.0 + step % 3)).astype(dtype) for step in range(TORCH_STEPS)]
    with _torch_default_dtype(torch, dtype):
        tp = torch.tensor(p.copy(), requires_grad=True)
        topt = getattr(torch.optim, cls.__name__)([tp], **kwargs)
        for step, g in enumerate(grads, start=1):
            ops.optimizer_update(opt, p, g, state, step)
            tp.grad = torch.tensor(g)
            topt.step()
    _normwise(assert_close, p, tp.detach().numpy(), dtype, f"{opt!r} vs torch.optim after {TORCH_STEPS} steps")
    tstate = topt.state[tp]
    for name, got in zip(opt.state_names(), state):
        assert name in tstate, f"torch keeps no {name!r} (it has {sorted(tstate)})"
        _normwise(assert_close, got, tstate[name].detach().numpy(), dtype, f"{opt!r} state {name!r} vs torch")
    if "step" in tstate:  # torch's SGD keeps no step count
        assert int(tstate["step"]) == TORCH_STEPS


# ---- the kernel against the reference on odd sizes ------------------------------------------------------
# One configuration per optimizer that keeps its every state buffer busy.
SIZE_CASES = [
    pytest.param(SGD, {"lr": 0.03, "momentum": 0.9, "nesterov": True, "weight_decay": 0.02}, id="sgd"),
    pytest.param(Adam, {"lr": 0.02, "weight_decay": 0.05, "amsgrad": True}, id="adam"),
    pytest.param(AdamW, {"lr": 0.02, "weight_decay": 0.1, "amsgrad": True}, id="adamw"),
    pytest.param(RMSprop, {"lr": 0.005, "momentum": 0.6, "centered": True, "weight_decay": 0.05}, id="rmsprop"),
    pytest.param(Adagrad, {"lr": 0.2, "lr_decay": 0.02, "initial_accumulator_value": 0.5}, id="adagrad"),
]


def test_size_cases_cover_every_optimizer():
    covered = {p.values[0].name for p in SIZE_CASES} | {p.values[0].name for p in TORCH_CASES}
    assert covered == set(OPTIMIZERS), f"no test case for {sorted(set(OPTIMIZERS) - covered)}"


@pytest.mark.parametrize("size", [0, 1, 3, 17, 129])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cls, kwargs", SIZE_CASES)
def test_optimizer_update_matches_reference_on_odd_sizes(rng, assert_close, cls, kwargs, dtype, size):
    """30 steps in lockstep: each step the reference starts from the kernel's parameter and state, so
    float32 is held to one step's rounding (conftest's TOL) and float64 to 1e-12."""
    opt = cls(**kwargs)
    p = rng.standard_normal(size).astype(dtype)
    state = [np.full(size, v, dtype) for v in opt.state_initial_values()]
    for step in range(1, 31):
        g = (rng.standard_normal(size) * (1.0 + step % 3)).astype(dtype)
        before = [None] * len(state) if step == 1 else [s.copy() for s in state]
        want_p, want_state = reference.optimizer_step(opt.config(), p.copy(), g, before, step, opt.lr)
        ops.optimizer_update(opt, p, g, state, step)
        assert_close(p, want_p, dtype, f"{opt!r} param, size {size}, step {step}")
        assert len(want_state) == len(state)
        for name, got, want in zip(opt.state_names(), state, want_state):
            assert got.shape == (size,) and got.dtype == dtype
            assert_close(got, want, dtype, f"{opt!r} state {name!r}, size {size}, step {step}")
