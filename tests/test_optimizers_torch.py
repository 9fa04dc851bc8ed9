"""Every optimizer against its outside oracle, torch.optim: 200 steps of ops.optimizer_update and of
torch's step from the same parameter with the same gradients, parameter and every state buffer
compared, in float64 (within 1e-12) and float32 (within its rounding); and the kernel against
reference.optimizer_step on odd sizes, 0 included. The kernels' state buffer names are torch's."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest

from fastmlp import ops, reference
from fastmlp.optim import OPTIMIZERS, SGD, Adagrad, Adam, Adamax, AdamW, NAdam, RAdam, RMSprop

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
    pytest.param(NAdam, {"lr": 0.01}, id="nadam-default"),
    pytest.param(
        NAdam,
        {"lr": 0.02, "betas": (0.8, 0.95), "eps": 1e-6, "momentum_decay": 0.02, "weight_decay": 0.05},
        id="nadam-custom-wd",
    ),
    pytest.param(NAdam, {"lr": 0.02, "weight_decay": 0.1, "decoupled_weight_decay": True}, id="nadam-decoupled"),
    pytest.param(RAdam, {"lr": 0.01}, id="radam-default"),
    pytest.param(RAdam, {"lr": 0.02, "betas": (0.8, 0.9), "eps": 1e-6, "weight_decay": 0.05}, id="radam-custom-wd"),
    pytest.param(RAdam, {"lr": 0.01, "betas": (0.9, 0.6)}, id="radam-never-rectified"),  # rho_inf = 4
    pytest.param(RAdam, {"lr": 0.02, "weight_decay": 0.1, "decoupled_weight_decay": True}, id="radam-decoupled"),
    pytest.param(Adamax, {"lr": 0.01}, id="adamax-default"),
    pytest.param(Adamax, {"lr": 0.02, "betas": (0.8, 0.95), "eps": 1e-3, "weight_decay": 0.05}, id="adamax-custom-wd"),
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
    pytest.param(NAdam, {"lr": 0.02, "momentum_decay": 0.01, "weight_decay": 0.05}, id="nadam"),
    pytest.param(RAdam, {"lr": 0.02, "betas": (0.9, 0.9), "weight_decay": 0.05}, id="radam"),
    pytest.param(Adamax, {"lr": 0.02, "betas": (0.8, 0.9), "eps": 1e-4, "weight_decay": 0.05}, id="adamax"),
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


# ---- NAdam's mu_product: derived from the step count ------------------------------------------------------
@pytest.mark.parametrize("betas, momentum_decay", [((0.9, 0.999), 4e-3), ((0.8, 0.99), 0.05), ((0.99, 0.9), 0.0)])
def test_nadam_mu_product_is_torchs_state(betas, momentum_decay):
    """torch keeps mu_product per parameter; fastmlp's reference derives it from the step count, and in
    float64 the two are the same number at every step (the same products in the same order)."""
    torch = pytest.importorskip("torch")
    with _torch_default_dtype(torch, np.float64):
        tp = torch.zeros(3, requires_grad=True)
        topt = torch.optim.NAdam([tp], betas=betas, momentum_decay=momentum_decay)
        for step in range(1, 301):
            tp.grad = torch.full((3,), 0.5)
            topt.step()
            want = float(topt.state[tp]["mu_product"])
            got = reference.nadam_mu_product(betas[0], momentum_decay, step)
            assert got == want, f"step {step}: derived {got!r}, torch keeps {want!r}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_nadam_step_does_not_depend_on_the_steps_before(rng, assert_close, assert_bitwise, dtype):
    """The kernel's product comes from a per-thread memo of the last step: step t gives the same bits
    cold, after steps 1..t-1, after a later step and after another NAdam's steps (t = 50, before the
    product becomes negligible, and 5000, after)."""
    opt, other = NAdam(lr=0.01), NAdam(lr=0.01, betas=(0.5, 0.9))
    p0 = rng.standard_normal(19).astype(dtype)
    g = rng.standard_normal(19).astype(dtype)
    s0 = [rng.uniform(0.0, 1.0, 19).astype(dtype) for _ in range(2)]

    def step(t):
        p, s = p0.copy(), [a.copy() for a in s0]
        ops.optimizer_update(opt, p, g, s, t)
        return p, s

    def run(history):
        for o, t in history:
            ops.optimizer_update(o, np.zeros(3, dtype), np.ones(3, dtype), [np.zeros(3, dtype), np.zeros(3, dtype)], t)

    for t in (50, 5000):
        run([(opt, 100000)])
        want_p, want_s = step(t)
        histories = {
            "after the steps before": [(opt, u) for u in range(1, t)],
            "after a later step": [(opt, t + 7)],
            "after another NAdam": [(other, u) for u in range(1, 60)],
            "again": [],
        }
        for what, history in histories.items():
            run(history)
            p, s = step(t)
            assert_bitwise(p, want_p, f"NAdam step {t} {what}")
            for a, b in zip(s, want_s):
                assert_bitwise(a, b, f"NAdam state at step {t} {what}")
        ref_p, _ = reference.optimizer_step(opt.config(), p0, g, s0, t, opt.lr)
        assert_close(want_p, ref_p, dtype, f"NAdam step {t} vs the reference")


def test_nadam_once_the_product_is_negligible(assert_close):
    """Past ~350 steps (beta1 = 0.9) prod mu_i < 2^-54, so 1 - prod rounds to 1 and the kernel stops
    multiplying; at step 8000 the update is still the reference's, whose product is the true (subnormal) one."""
    opt = NAdam(lr=0.01)
    assert 0.0 < reference.nadam_mu_product(0.9, 4e-3, 8000) < 2.0**-54
    p, g = np.linspace(-1.0, 1.0, 5), np.linspace(0.5, -2.0, 5)
    state = [np.full(5, 0.1), np.full(5, 0.2)]
    want_p, want_s = reference.optimizer_step(opt.config(), p, g, state, 8000, opt.lr)
    ops.optimizer_update(opt, p, g, state, 8000)
    assert np.isfinite(p).all()
    assert_close(p, want_p, np.float64, "NAdam at step 8000")
    for name, got, want in zip(opt.state_names(), state, want_s):
        assert_close(got, want, np.float64, f"NAdam {name} at step 8000")


# ---- RAdam's rectification threshold ---------------------------------------------------------------------
def _rho(beta2, t):
    rho_inf = 2 / (1 - beta2) - 1
    return rho_inf - 2 * t * beta2**t / (1 - beta2**t)


@pytest.mark.parametrize("beta2, first", [(0.999, 6), (0.9, 6), (0.8, 7), (0.6, None)])
def test_radam_switches_to_the_adaptive_step_once_rho_passes_5(beta2, first):
    """With beta1 = 0 (m^ = g) and eps = 0 a step moves p by exactly lr g until rho_t > 5, then by
    lr g r sqrt(1 - b2^t) / sqrt(v): checked step by step, so a switch one step early or late fails (a
    gradient of 100 at step 1 keeps v, and the two forms, far apart). beta2 = 0.6: rho_inf = 4, never."""
    want = next((t for t in range(1, 200) if _rho(beta2, t) > 5), None)
    assert want == first, f"rho_t first passes 5 at step {want}"
    lr, rho_inf = 0.1, 2 / (1 - beta2) - 1
    opt = RAdam(lr=lr, betas=(0.0, beta2), eps=0.0)
    p, state = np.zeros(1), [np.zeros(1), np.zeros(1)]
    for t in range(1, 41):
        g = 100.0 if t == 1 else 1.0
        before = float(p[0])
        ops.optimizer_update(opt, p, np.array([g]), state, t)
        moved, rho = before - float(p[0]), _rho(beta2, t)
        if first is not None and t >= first:
            r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            want_moved = lr * g * r * math.sqrt(1 - beta2**t) / math.sqrt(float(state[1][0]))
        else:
            want_moved = lr * g
        assert moved == pytest.approx(want_moved, rel=1e-12), f"step {t} (rho_t = {rho:.3f}): moved {moved}"
        assert abs(want_moved - lr * g) > 1e-3 * lr or not (first and t >= first), f"step {t}: forms too close"


@pytest.mark.parametrize("dtype", DTYPES)
def test_radam_threshold_steps_match_torch_one_by_one(rng, assert_close, dtype):
    """Each of the first 12 steps (5 unrectified, then rectified) against torch's, from the same state."""
    torch = pytest.importorskip("torch")
    opt = RAdam(lr=0.05, betas=(0.8, 0.999), weight_decay=0.01)
    p = rng.standard_normal(33).astype(dtype)
    state = [np.zeros(33, dtype), np.zeros(33, dtype)]
    with _torch_default_dtype(torch, dtype):
        tp = torch.tensor(p.copy(), requires_grad=True)
        topt = torch.optim.RAdam([tp], lr=0.05, betas=(0.8, 0.999), weight_decay=0.01)
        for t in range(1, 13):
            g = rng.standard_normal(33).astype(dtype)
            ops.optimizer_update(opt, p, g, state, t)
            tp.grad = torch.tensor(g)
            topt.step()
            _normwise(assert_close, p, tp.detach().numpy(), dtype, f"RAdam step {t} (rho_t = {_rho(0.999, t):.3f})")
            tp.data = torch.tensor(p.copy())  # the next step from the kernel's parameter: one step's rounding each


# ---- Adamax's infinity norm ------------------------------------------------------------------------------
def test_adamax_keeps_eps_inside_the_max(assert_bitwise):
    """u = max(b2 u, |g| + eps): from zero state a zero gradient leaves u = eps and p where it was (eps
    outside the max would leave u = 0 and divide 0 by 0); a gradient g gives u = |g| + eps exactly, as
    torch's exp_inf; then a run of small gradients lets the large one decay by b2 per step."""
    opt = Adamax(lr=0.1, betas=(0.9, 0.5), eps=1e-3)
    p, state = np.array([1.0, -2.0]), [np.zeros(2), np.zeros(2)]
    ops.optimizer_update(opt, p, np.zeros(2), state, 1)
    assert_bitwise(p, np.array([1.0, -2.0]), "p after a zero gradient")
    assert_bitwise(state[1], np.full(2, 1e-3), "exp_inf after a zero gradient")
    ops.optimizer_update(opt, p, np.array([-8.0, 0.25]), state, 2)
    assert_bitwise(state[1], np.array([8.0 + 1e-3, 0.25 + 1e-3]), "exp_inf after |g| + eps took over")
    for t in range(3, 6):
        ops.optimizer_update(opt, p, np.array([1e-6, 1e-6]), state, t)
    assert state[1][0] == (8.0 + 1e-3) * 0.5**3, state[1]
    assert state[1][1] == max((0.25 + 1e-3) * 0.5**3, 1e-6 + 1e-3), state[1]


@pytest.mark.parametrize("dtype", DTYPES)
def test_adamax_exp_inf_is_torchs_step_by_step(rng, assert_close, dtype):
    torch = pytest.importorskip("torch")
    opt = Adamax(lr=0.01, betas=(0.9, 0.8), eps=1e-4)
    p = rng.standard_normal(29).astype(dtype)
    state = [np.zeros(29, dtype), np.zeros(29, dtype)]
    with _torch_default_dtype(torch, dtype):
        tp = torch.tensor(p.copy(), requires_grad=True)
        topt = torch.optim.Adamax([tp], lr=0.01, betas=(0.9, 0.8), eps=1e-4)
        for t in range(1, 31):
            g = (rng.standard_normal(29) * (3.0 if t % 7 == 1 else 0.1)).astype(dtype)  # spikes that then decay
            ops.optimizer_update(opt, p, g, state, t)
            tp.grad = torch.tensor(g)
            topt.step()
            # The max and the decay are exact operations on the same inputs: the same bits as torch's.
            want = topt.state[tp]["exp_inf"].numpy()
            assert state[1].tobytes() == want.tobytes(), (
                f"step {t}: exp_inf differs by {np.abs(state[1] - want).max():.3e}"
            )
            _normwise(assert_close, p, tp.detach().numpy(), dtype, f"Adamax step {t}")
