"""Learning-rate schedules: each closed form against torch.optim.lr_scheduler stepped t times (when torch
is importable) and against hand-computed values (always), ReduceLROnPlateau against torch fed the same
metrics, the schedules through MLP.fit (history["lr"] and the fitted weights against reference.train_epoch
fed the same per-step rates), scale_lr, and fit's lr_scaling / base_batch_size / warmup_epochs.

Semantics as tested (and where they differ from PyTorch):
- lr(base_lr, t) is the rate PyTorch's optimizer holds after t calls of scheduler.step(); t restarts at 0
  with every fit() call (a PyTorch scheduler object keeps counting).
- CosineAnnealingLR is the closed form; PyTorch's step() uses a recursive form. The two agree to rounding
  within [0, T_max], which is what is compared at 1e-12. (With torch 2.x they also agree beyond T_max,
  where both rise again with period 2 T_max; that is compared at a looser 1e-9.)
- interval="step" makes any schedule count optimizer steps instead of epochs.
- ReduceLROnPlateau takes the rate in force from the optimizer (the base rate) when it first sees a
  metric, and its state persists across fit() calls.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastmlp
from fastmlp import reference
from fastmlp import schedules as S
from fastmlp.optim import SGD, Adam
from helpers import fit_data, fit_model, rel_close

BASE = 0.1


def _torch_rates(torch, make, n, base=BASE):
    """The lr a torch optimizer holds before each of n epochs, the scheduler stepped once per epoch."""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base)
    sched = make(torch.optim.lr_scheduler, opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


# (fastmlp schedule factory, torch factory, epochs compared)
TORCH_CASES = [
    pytest.param(lambda: S.StepLR(3, 0.5), lambda L, o: L.StepLR(o, 3, 0.5), 20, id="StepLR-3-0.5"),
    pytest.param(lambda: S.StepLR(1, 0.9), lambda L, o: L.StepLR(o, 1, 0.9), 15, id="StepLR-1-0.9"),
    pytest.param(lambda: S.StepLR(4), lambda L, o: L.StepLR(o, 4), 13, id="StepLR-default-gamma"),
    pytest.param(
        lambda: S.MultiStepLR([2, 5, 9], 0.3), lambda L, o: L.MultiStepLR(o, [2, 5, 9], 0.3), 20, id="MultiStepLR"
    ),
    pytest.param(
        lambda: S.MultiStepLR([6, 3, 3]),
        lambda L, o: L.MultiStepLR(o, [6, 3, 3]),
        10,
        id="MultiStepLR-unsorted-repeated",
    ),
    pytest.param(lambda: S.ExponentialLR(0.9), lambda L, o: L.ExponentialLR(o, 0.9), 30, id="ExponentialLR"),
    pytest.param(
        lambda: S.CosineAnnealingLR(10, 0.01), lambda L, o: L.CosineAnnealingLR(o, 10, 0.01), 11, id="Cosine-10-etamin"
    ),
    pytest.param(lambda: S.CosineAnnealingLR(7), lambda L, o: L.CosineAnnealingLR(o, 7), 8, id="Cosine-7"),
    pytest.param(lambda: S.CosineAnnealingLR(1), lambda L, o: L.CosineAnnealingLR(o, 1), 2, id="Cosine-1"),
    pytest.param(lambda: S.LinearLR(0.2, 0.9, 6), lambda L, o: L.LinearLR(o, 0.2, 0.9, 6), 12, id="LinearLR"),
    pytest.param(lambda: S.LinearLR(), lambda L, o: L.LinearLR(o), 9, id="LinearLR-default"),
    pytest.param(lambda: S.LinearLR(1.0, 0.25, 4), lambda L, o: L.LinearLR(o, 1.0, 0.25, 4), 8, id="LinearLR-down"),
    pytest.param(lambda: S.ConstantLR(0.25, 4), lambda L, o: L.ConstantLR(o, 0.25, 4), 8, id="ConstantLR"),
    pytest.param(lambda: S.ConstantLR(), lambda L, o: L.ConstantLR(o), 8, id="ConstantLR-default"),
    pytest.param(
        lambda: S.SequentialLR([S.LinearLR(0.2, 1.0, 3), S.CosineAnnealingLR(8, 0.001)], [3]),
        lambda L, o: L.SequentialLR(o, [L.LinearLR(o, 0.2, 1.0, 3), L.CosineAnnealingLR(o, 8, 0.001)], [3]),
        12,
        id="Sequential-Linear-Cosine",
    ),
    pytest.param(
        lambda: S.SequentialLR([S.ConstantLR(0.5, 2), S.ExponentialLR(0.8), S.StepLR(2, 0.5)], [3, 7]),
        lambda L, o: L.SequentialLR(o, [L.ConstantLR(o, 0.5, 2), L.ExponentialLR(o, 0.8), L.StepLR(o, 2, 0.5)], [3, 7]),
        14,
        id="Sequential-three",
    ),
    pytest.param(
        lambda: S.warmup(S.CosineAnnealingLR(6), 3),
        lambda L, o: L.SequentialLR(o, [L.LinearLR(o, 0.1, 1.0, 3), L.CosineAnnealingLR(o, 6)], [3]),
        10,
        id="warmup-cosine",
    ),
]


@pytest.mark.parametrize("make, make_torch, n", TORCH_CASES)
def test_schedule_matches_torch(assert_close, make, make_torch, n):
    torch = pytest.importorskip("torch")
    want = _torch_rates(torch, make_torch, n)
    got = make().lr(BASE, np.arange(n))
    assert_close(got, want, np.float64, f"{make()!r} over {n} epochs vs torch", rtol=1e-12, atol=0.0)


@pytest.mark.parametrize("t_max, eta_min", [(10, 0.01), (3, 0.0)])
def test_cosine_beyond_t_max_matches_torch(assert_close, t_max, eta_min):
    """Past T_max the closed form and torch's recursion both rise again (period 2 T_max)."""
    torch = pytest.importorskip("torch")
    n = 4 * t_max + 1
    want = _torch_rates(torch, lambda L, o: L.CosineAnnealingLR(o, t_max, eta_min), n)
    got = S.CosineAnnealingLR(t_max, eta_min).lr(BASE, np.arange(n))
    assert_close(got, want, np.float64, "cosine beyond T_max vs torch", rtol=1e-9, atol=0.0)


# ---- hand-computed values (run without torch) -------------------------------------------------------------
HAND = [
    pytest.param(S.StepLR(3, 0.5), [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125], id="StepLR"),
    pytest.param(S.MultiStepLR([2, 5], 0.1), [0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001], id="MultiStepLR"),
    pytest.param(S.MultiStepLR([4, 1, 4], 0.5), [0.1, 0.05, 0.05, 0.05, 0.0125, 0.0125], id="MultiStepLR-repeated"),
    pytest.param(S.ExponentialLR(0.5), [0.1, 0.05, 0.025, 0.0125, 0.00625], id="ExponentialLR"),
    pytest.param(
        S.CosineAnnealingLR(4, 0.02),
        [
            0.1,
            0.02 + 0.08 * (1 + math.sqrt(0.5)) / 2,
            0.06,
            0.02 + 0.08 * (1 - math.sqrt(0.5)) / 2,
            0.02,
            0.02 + 0.08 * (1 - math.sqrt(0.5)) / 2,
            0.06,
        ],
        id="Cosine",
    ),
    pytest.param(S.LinearLR(0.25, 1.0, 3), [0.025, 0.05, 0.075, 0.1, 0.1, 0.1], id="LinearLR"),
    pytest.param(S.LinearLR(1.0, 0.5, 2), [0.1, 0.075, 0.05, 0.05], id="LinearLR-down"),
    pytest.param(S.ConstantLR(0.5, 3), [0.05, 0.05, 0.05, 0.1, 0.1], id="ConstantLR"),
    pytest.param(S.ConstantLR(), [0.1 / 3] * 5 + [0.1, 0.1], id="ConstantLR-default"),
    pytest.param(
        S.SequentialLR([S.LinearLR(0.5, 1.0, 2), S.CosineAnnealingLR(2)], [2]),
        [0.05, 0.075, 0.1, 0.05, 0.0, 0.05],
        id="Sequential",
    ),
    pytest.param(
        S.SequentialLR([S.ConstantLR(0.5, 5), S.StepLR(1, 0.5), S.ExponentialLR(0.1)], [2, 4]),
        [0.05, 0.05, 0.1, 0.05, 0.1, 0.01, 0.001],
        id="Sequential-three",
    ),
    pytest.param(
        S.warmup(S.StepLR(2, 0.5), 2, start_factor=0.2), [0.02, 0.06, 0.1, 0.1, 0.05, 0.05, 0.025], id="warmup"
    ),
]


@pytest.mark.parametrize("schedule, want", HAND)
def test_schedule_hand_computed(assert_close, schedule, want):
    got = schedule.lr(BASE, np.arange(len(want)))
    assert_close(got, want, np.float64, f"{schedule!r}", rtol=1e-13, atol=1e-17)
    # scalar t works too and gives the same numbers
    for t, w in enumerate(want):
        assert float(schedule.lr(BASE, t)) == pytest.approx(w, rel=1e-13, abs=1e-17)


def test_cosine_is_periodic_past_t_max(assert_close):
    s = S.CosineAnnealingLR(5, 0.01)
    t = np.arange(0, 11)
    assert_close(s.lr(BASE, t + 10), s.lr(BASE, t), np.float64, "cosine period 2 T_max", rtol=1e-12, atol=1e-18)
    assert_close(s.lr(BASE, 10 - t), s.lr(BASE, t), np.float64, "cosine symmetric about T_max", rtol=1e-12, atol=1e-18)


@pytest.mark.parametrize(
    "schedule",
    [S.StepLR(2, 0.5, interval="step"), S.CosineAnnealingLR(9, interval="step"), S.ExponentialLR(0.9)],
    ids=["step-StepLR", "step-cosine", "epoch-exp"],
)
def test_rates_per_interval(schedule):
    """rates(): one rate per step of an epoch; constant within the epoch for interval='epoch'."""
    rates = schedule.rates(BASE, 3, 4, 12)
    assert rates.shape == (4,) and rates.dtype == np.float64
    if schedule.interval == "epoch":
        assert np.array_equal(rates, np.full(4, schedule.lr(BASE, 3)))
    else:
        assert np.array_equal(rates, schedule.lr(BASE, np.arange(12, 16)))


# ---- ReduceLROnPlateau -----------------------------------------------------------------------------------
METRICS = [
    1.0,
    0.9,
    0.95,
    0.9,
    0.89995,
    0.92,
    0.91,
    0.7,
    0.71,
    0.72,
    0.73,
    0.69,
    0.69,
    0.69,
    0.5,
    0.6,
    0.6,
    0.6,
    0.6,
    0.6,
    0.45,
    0.46,
    0.47,
    0.48,
    0.49,
]
PLATEAU_CONFIGS = [
    pytest.param({"patience": 2, "factor": 0.5}, id="min-rel"),
    pytest.param({"mode": "max", "threshold_mode": "abs", "threshold": 0.05, "patience": 1}, id="max-abs"),
    pytest.param({"mode": "max", "patience": 1, "threshold": 0.02}, id="max-rel"),
    pytest.param({"threshold_mode": "abs", "threshold": 0.015, "patience": 1}, id="min-abs"),
    pytest.param({"patience": 0, "cooldown": 2, "factor": 0.5}, id="cooldown"),
    pytest.param({"patience": 0, "factor": 0.3, "min_lr": 0.02}, id="min_lr"),
    pytest.param({"patience": 1, "factor": 0.5, "threshold": 0.0, "eps": 0.02}, id="eps"),
]


def _plateau_rates(schedule, metrics, base=BASE, monitor="val_loss"):
    """The rate in force in each epoch when `metrics` are logged after each epoch (as fit logs them)."""
    out = []
    for m in metrics:
        lr = float(schedule.lr(base, np.zeros(1, np.int64))[0])
        out.append(lr)
        schedule.end_epoch({"loss": m if monitor == "loss" else 1.0, monitor: m, "lr": lr})
    return out


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["metrics", "negated"])
@pytest.mark.parametrize("kwargs", PLATEAU_CONFIGS)
def test_reduce_on_plateau_matches_torch(kwargs, sign):
    torch = pytest.importorskip("torch")
    metrics = [sign * m for m in METRICS]
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=BASE)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    want = []
    for m in metrics:
        want.append(opt.param_groups[0]["lr"])
        sched.step(m)
    got = _plateau_rates(S.ReduceLROnPlateau(**kwargs), metrics)
    assert np.allclose(got, want, rtol=1e-15, atol=0), f"{kwargs}:\n got  {got}\n want {want}"


def test_reduce_on_plateau_hand_computed():
    # min mode, rel threshold 1e-4, patience 2: the first value sets best; three epochs without beating
    # best * (1 - 1e-4) reduce the rate, after which the count starts again.
    s = S.ReduceLROnPlateau(factor=0.5, patience=2)
    got = _plateau_rates(s, [1.0, 0.9, 0.95, 0.9, 0.89995, 0.92, 0.91, 0.7, 0.71, 0.72, 0.73])
    assert got == [0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05]
    # cooldown 2, patience 0: a reduction, then two epochs in which bad epochs are not counted
    s = S.ReduceLROnPlateau(factor=0.5, patience=0, cooldown=2)
    assert _plateau_rates(s, [1.0] * 8) == [0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025]
    # min_lr is a floor
    s = S.ReduceLROnPlateau(factor=0.1, patience=0, min_lr=0.003)
    assert _plateau_rates(s, [1.0] * 5) == pytest.approx([0.1, 0.1, 0.01, 0.003, 0.003], rel=1e-15)
    # max mode with an absolute threshold: an increase by less than 0.1 is no improvement
    s = S.ReduceLROnPlateau(mode="max", threshold_mode="abs", threshold=0.1, factor=0.5, patience=1)
    assert _plateau_rates(s, [0.0, 0.05, 0.09, 0.2, 0.25, 0.28, 0.31]) == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]
    # a reduction smaller than eps is not made
    s = S.ReduceLROnPlateau(factor=0.5, patience=0, eps=0.04)
    assert _plateau_rates(s, [1.0] * 4) == [0.1, 0.1, 0.05, 0.05]


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"mode": "mean"}, "mode"),
        ({"threshold_mode": "pct"}, "threshold_mode"),
        ({"factor": 1.0}, "factor"),
        ({"factor": 1.5}, "factor"),
        ({"factor": -0.1}, "factor"),
        ({"threshold": -1e-4}, "threshold"),
        ({"min_lr": -1.0}, "min_lr"),
        ({"min_lr": float("nan")}, "min_lr"),
    ],
)
def test_reduce_on_plateau_validation(kwargs, word):
    with pytest.raises(ValueError, match=word):
        S.ReduceLROnPlateau(**kwargs)


# ---- schedule validation ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make, word",
    [
        pytest.param(lambda: S.StepLR(0), "step_size", id="StepLR-0"),
        pytest.param(lambda: S.StepLR(2.5), "step_size", id="StepLR-float"),
        pytest.param(lambda: S.StepLR(2, gamma=-0.5), "gamma", id="StepLR-gamma"),
        pytest.param(lambda: S.StepLR(2, interval="batch"), "interval", id="interval"),
        pytest.param(lambda: S.ExponentialLR(float("nan")), "gamma", id="Exponential-nan"),
        pytest.param(lambda: S.CosineAnnealingLR(0), "T_max", id="Cosine-0"),
        pytest.param(lambda: S.CosineAnnealingLR(5, eta_min=-1.0), "eta_min", id="Cosine-eta"),
        pytest.param(lambda: S.LinearLR(0.0), "start_factor", id="Linear-start0"),
        pytest.param(lambda: S.LinearLR(1.5), "start_factor", id="Linear-start>1"),
        pytest.param(lambda: S.LinearLR(0.5, 1.5), "end_factor", id="Linear-end>1"),
        pytest.param(lambda: S.LinearLR(0.5, 1.0, 0), "total_iters", id="Linear-iters0"),
        pytest.param(lambda: S.ConstantLR(1.5), "factor", id="Constant-factor"),
        pytest.param(lambda: S.MultiStepLR([2], gamma=float("inf")), "gamma", id="MultiStep-gamma"),
        pytest.param(lambda: S.SequentialLR([S.StepLR(2), S.StepLR(3)], [1, 2]), "milestone", id="Seq-count"),
        pytest.param(
            lambda: S.SequentialLR([S.StepLR(2), S.StepLR(3), S.StepLR(1)], [4, 2]), "milestones", id="Seq-order"
        ),
        pytest.param(lambda: S.SequentialLR([S.StepLR(2), S.StepLR(3)], [0]), "milestones", id="Seq-zero"),
        pytest.param(
            lambda: S.SequentialLR([S.StepLR(2), S.StepLR(3, interval="step")], [2]), "interval", id="Seq-intervals"
        ),
    ],
)
def test_schedule_validation(make, word):
    with pytest.raises(ValueError, match=word):
        make()


# ---- schedules through fit ---------------------------------------------------------------------------------
BATCH = 7  # fit_data's 23 rows: 4 steps per epoch, the last of 2 samples
STEPS = 4


def _reference(model, x, y, opt, batch, seed, per_epoch_rates):
    """reference.train_epoch from the model's current weights with the given per-step rate arrays."""
    weights = [w.copy() for w in model.weights]
    biases = [b.copy() for b in model.biases]
    state, step, losses = None, 0, []
    for epoch, rates in enumerate(per_epoch_rates):
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
            np.asarray(rates),
            optimizer=opt.config(),
            state=state,
            step=step,
        )
        losses.append(value)
    return losses, weights, biases


def _check_fit_against_reference(model, start, x, y, opt, hist, per_epoch_rates, batch=BATCH, seed=11):
    losses, weights, biases = _reference(start, x, y, opt, batch, seed, per_epoch_rates)
    rel_close(hist.history["loss"], losses, "loss per epoch")
    for l in range(model.n_layers):
        rel_close(model.weights[l], weights[l], f"W{l}")
        rel_close(model.biases[l], biases[l], f"b{l}")


EPOCH_SCHEDULES = [
    pytest.param(lambda: S.StepLR(2, 0.5), id="StepLR"),
    pytest.param(lambda: S.MultiStepLR([1, 4], 0.2), id="MultiStepLR"),
    pytest.param(lambda: S.ExponentialLR(0.7), id="ExponentialLR"),
    pytest.param(lambda: S.CosineAnnealingLR(5, 0.001), id="Cosine"),
    pytest.param(lambda: S.LinearLR(0.1, 1.0, 4), id="LinearLR"),
    pytest.param(lambda: S.ConstantLR(0.3, 2), id="ConstantLR"),
    pytest.param(lambda: S.SequentialLR([S.LinearLR(0.2, 1.0, 2), S.CosineAnnealingLR(4)], [2]), id="Sequential"),
]
STEP_SCHEDULES = [
    pytest.param(lambda: S.StepLR(5, 0.7, interval="step"), id="StepLR"),
    pytest.param(lambda: S.ExponentialLR(0.95, interval="step"), id="ExponentialLR"),
    pytest.param(lambda: S.CosineAnnealingLR(15, 0.002, interval="step"), id="Cosine"),
    pytest.param(lambda: S.LinearLR(0.1, 1.0, 10, interval="step"), id="LinearLR"),
    pytest.param(lambda: S.warmup(S.CosineAnnealingLR(12, interval="step"), 6), id="warmup-cosine"),
    pytest.param(lambda: S.MultiStepLR([3, 7, 13], 0.5, interval="step"), id="MultiStepLR"),
]


@pytest.mark.parametrize("make", EPOCH_SCHEDULES)
def test_fit_epoch_schedule(rng, assert_close, make):
    x, y = fit_data(rng)
    epochs, opt = 13, Adam(lr=0.02, betas=(0.8, 0.99))  # 52 steps
    model, start = fit_model(), fit_model()
    hist = model.fit(x, y, optimizer=opt, batch_size=BATCH, epochs=epochs, seed=11, schedule=make())
    want = [float(make().lr(0.02, e)) for e in range(epochs)]
    assert hist.history["lr"] == pytest.approx(want, rel=1e-15, abs=0), f"history lr {hist.history['lr']} != {want}"
    assert len(set(hist.history["lr"])) > 1
    _check_fit_against_reference(model, start, x, y, opt, hist, [[r] * STEPS for r in want])
    assert model.optimizer.lr == 0.02, "the schedule changed the optimizer's base rate"


@pytest.mark.parametrize("make", STEP_SCHEDULES)
def test_fit_step_schedule(rng, assert_close, make):
    x, y = fit_data(rng)
    epochs, opt = 13, SGD(lr=0.1, momentum=0.8)  # 52 steps
    model, start = fit_model(), fit_model()
    hist = model.fit(x, y, optimizer=opt, batch_size=BATCH, epochs=epochs, seed=11, schedule=make())
    sched = make()
    per_epoch = [sched.lr(0.1, np.arange(e * STEPS, (e + 1) * STEPS)) for e in range(epochs)]
    for e in range(epochs):
        assert np.array_equal(per_epoch[e], sched.rates(0.1, e, STEPS, e * STEPS))
    assert hist.history["lr"] == pytest.approx([r[0] for r in per_epoch], rel=1e-15, abs=0)
    assert any(len(set(r)) > 1 for r in per_epoch), "the rate never changed within an epoch"
    _check_fit_against_reference(model, start, x, y, opt, hist, per_epoch)


def test_step_schedule_differs_from_epoch_schedule(rng):
    """interval='step' really changes the rate within epochs: the weights differ from interval='epoch'."""
    x, y = fit_data(rng)
    a, b = fit_model(), fit_model()
    a.fit(x, y, optimizer=SGD(lr=0.1), batch_size=BATCH, epochs=3, schedule=S.ExponentialLR(0.8))
    b.fit(x, y, optimizer=SGD(lr=0.1), batch_size=BATCH, epochs=3, schedule=S.ExponentialLR(0.8, interval="step"))
    assert not np.array_equal(a.weights[0], b.weights[0])


def test_schedule_restarts_with_each_fit(rng):
    x, y = fit_data(rng)
    model = fit_model()
    sched = S.StepLR(1, 0.5)
    h1 = model.fit(x, y, optimizer=SGD(lr=0.08), batch_size=BATCH, epochs=3, schedule=sched)
    h2 = model.fit(x, y, optimizer=SGD(lr=0.08), batch_size=BATCH, epochs=3, schedule=sched)
    assert h1.history["lr"] == h2.history["lr"] == [0.08, 0.04, 0.02]


def test_fit_without_schedule_logs_constant_lr(rng):
    x, y = fit_data(rng)
    hist = fit_model().fit(x, y, optimizer=Adam(lr=0.003), batch_size=BATCH, epochs=4)
    assert hist.history["lr"] == [0.003] * 4


def test_fit_refuses_a_schedule_that_is_not_one(rng):
    x, y = fit_data(rng)
    with pytest.raises(TypeError, match="schedule"):
        fit_model().fit(x, y, epochs=1, schedule=lambda t: 0.1)


class _Negative(S.Schedule):
    def lr(self, base_lr, t):
        return base_lr - 0.05 * np.asarray(t, dtype=np.float64)


def test_fit_refuses_a_negative_rate_from_a_schedule(rng):
    x, y = fit_data(rng)
    with pytest.raises(ValueError, match="negative or non-finite learning rate in epoch 4"):
        fit_model().fit(x, y, optimizer=SGD(lr=0.1), batch_size=BATCH, epochs=5, schedule=_Negative())


# ---- ReduceLROnPlateau through fit ---------------------------------------------------------------------------
def _plateau_expected(n_epochs, base, factor, patience):
    """Rates when no epoch after the first improves on it: reduced every patience + 1 epochs."""
    out, lr, bad = [], base, 0
    for e in range(n_epochs):
        out.append(lr)
        if e > 0:
            bad += 1
            if bad > patience:
                lr, bad = lr * factor, 0
    return out


@pytest.mark.parametrize("monitor", ["val_loss", "loss"])
def test_fit_reduce_on_plateau(rng, assert_close, monitor):
    """A tiny lr keeps the loss almost constant; with threshold=0.5 (rel) no epoch counts as an improvement,
    so the rate halves after every patience + 1 = 3 epochs (and the weights follow those rates)."""
    x, y = fit_data(rng)
    xv, yv = fit_data(rng, 9)
    opt = SGD(lr=1e-6)
    model, start = fit_model(), fit_model()
    sched = S.ReduceLROnPlateau(monitor=monitor, factor=0.5, patience=2, threshold=0.5)
    kw = {"validation_data": (xv, yv)} if monitor == "val_loss" else {}
    hist = model.fit(x, y, optimizer=opt, batch_size=BATCH, epochs=13, seed=11, schedule=sched, **kw)  # 52 steps
    want = _plateau_expected(13, 1e-6, 0.5, 2)
    assert want[3] == 1e-6 and want[4] == 5e-7
    assert hist.history["lr"] == pytest.approx(want, rel=1e-15, abs=0), hist.history["lr"]
    _check_fit_against_reference(model, start, x, y, opt, hist, [[r] * STEPS for r in want])


def test_fit_reduce_on_plateau_improving_loss_keeps_the_rate(rng):
    x, y = fit_data(rng)
    sched = S.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, threshold=0.0)
    hist = fit_model().fit(x, y, optimizer=SGD(lr=0.05), batch_size=BATCH, epochs=6, schedule=sched)
    assert all(b < a for a, b in zip(hist.history["loss"], hist.history["loss"][1:]))
    assert hist.history["lr"] == [0.05] * 6


def test_fit_reduce_on_plateau_matches_torch_on_the_logged_losses(rng):
    torch = pytest.importorskip("torch")
    x, y = fit_data(rng)
    xv, yv = fit_data(rng, 9)
    sched = S.ReduceLROnPlateau(factor=0.3, patience=1, threshold=1e-3, cooldown=1, min_lr=1e-4)
    hist = fit_model().fit(
        x, y, optimizer=Adam(lr=0.05), batch_size=BATCH, epochs=25, seed=2, schedule=sched, validation_data=(xv, yv)
    )
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.05)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=0.3, patience=1, threshold=1e-3, cooldown=1, min_lr=1e-4
    )
    want = []
    for v in hist.history["val_loss"]:
        want.append(opt.param_groups[0]["lr"])
        tsched.step(v)
    assert hist.history["lr"] == pytest.approx(want, rel=1e-15, abs=0)
    assert len(set(want)) > 1, "the case never reduced the rate"


def test_fit_reduce_on_plateau_val_loss_needs_validation_data(rng):
    x, y = fit_data(rng)
    with pytest.raises(ValueError) as info:
        fit_model().fit(x, y, epochs=3, schedule=S.ReduceLROnPlateau(monitor="val_loss"))
    assert "validation_data" in str(info.value), f"the message does not mention validation_data: {info.value}"


def test_fit_reduce_on_plateau_val_loss_without_validation_data_refused_before_training(rng, assert_bitwise):
    """A fit that cannot run as asked is refused before it changes the model (as for bad validation data):
    not after an epoch has already updated the weights and created optimizer state."""
    x, y = fit_data(rng)
    model = fit_model()
    before = model.get_weights()
    with pytest.raises(ValueError, match="validation_data"):
        model.fit(
            x, y, optimizer=Adam(lr=0.01), batch_size=BATCH, epochs=3, schedule=S.ReduceLROnPlateau(monitor="val_loss")
        )
    for l, ((w, b), (w0, b0)) in enumerate(zip(model.get_weights(), before)):
        assert_bitwise(w, w0, f"W{l} after the refused fit")
        assert_bitwise(b, b0, f"b{l} after the refused fit")
    assert model._opt is None, "the refused fit left optimizer state behind"


def test_reduce_on_plateau_inside_warmup_still_reduces(rng):
    """warmup(ReduceLROnPlateau) is accepted, so it must forward the epoch logs to the plateau schedule:
    with no improvement (threshold 0.9) and patience 0 the rate must drop below the base rate after the
    warmup instead of staying at it for good."""
    x, y = fit_data(rng)
    sched = S.warmup(S.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, threshold=0.9), 2, start_factor=0.5)
    hist = fit_model().fit(x, y, optimizer=SGD(lr=1e-6), batch_size=BATCH, epochs=6, schedule=sched)
    lrs = hist.history["lr"]
    assert lrs[:2] == pytest.approx([5e-7, 7.5e-7], rel=1e-12), lrs
    assert min(lrs[2:]) < 1e-6, f"the plateau never reduced the rate: {lrs}"


# ---- scale_lr ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "base_lr, base_batch, batch, rule, want",
    [
        (0.1, 32, 256, "linear", 0.8),
        (0.1, 32, 256, "sqrt", 0.1 * math.sqrt(8)),
        (0.1, 256, 32, "linear", 0.0125),
        (0.1, 256, 64, "sqrt", 0.05),
        (0.01, 7, 7, "linear", 0.01),
        (0.01, 7, 7, "sqrt", 0.01),
        (0.02, 3, 5, "linear", 0.02 * 5 / 3),
        (0.5, np.int64(4), np.int64(16), "sqrt", 1.0),
    ],
)
def test_scale_lr(base_lr, base_batch, batch, rule, want):
    got = fastmlp.scale_lr(base_lr, base_batch, batch, rule)
    assert got == pytest.approx(want, rel=1e-15)
    assert S.scale_lr is fastmlp.scale_lr


def test_scale_lr_default_rule_is_linear():
    assert fastmlp.scale_lr(0.1, 16, 64) == pytest.approx(0.4, rel=1e-15)


@pytest.mark.parametrize(
    "args, word",
    [
        ((0.1, 0, 32, "linear"), "base_batch"),
        ((0.1, -8, 32, "linear"), "base_batch"),
        ((0.1, 32.0, 64, "linear"), "base_batch"),
        ((0.1, True, 64, "linear"), "base_batch"),
        ((0.1, 32, 0, "linear"), "batch"),
        ((0.1, 32, 2.5, "sqrt"), "batch"),
        ((0.1, 32, 64, "cubic"), "rule"),
        ((0.1, 32, 64, "Linear"), "rule"),
        ((-0.1, 32, 64, "linear"), "base_lr"),
        ((float("nan"), 32, 64, "linear"), "base_lr"),
        ((float("inf"), 32, 64, "sqrt"), "base_lr"),
    ],
)
def test_scale_lr_bad_arguments(args, word):
    with pytest.raises(ValueError, match=word):
        fastmlp.scale_lr(*args)


# ---- lr_scaling / base_batch_size / warmup_epochs through fit -----------------------------------------
NS = 40  # samples for the scaling tests: batch 8 -> 5 steps per epoch


def _goyal_rates(lr, k, warm_steps, total_steps, after=None):
    """Goyal et al.'s gradual warmup: lr/k at step 0, + (lr - lr/k)/warm_steps per step, then lr (or after)."""
    t = np.arange(total_steps)
    rest = np.full(total_steps, lr) if after is None else after(t)
    if warm_steps == 0:
        return rest
    return np.where(t < warm_steps, lr / k + (lr - lr / k) * t / warm_steps, rest)


@pytest.mark.parametrize(
    "rule, base_batch, warmup_epochs, k",
    [
        pytest.param("linear", 2, 2, 4.0, id="linear-k4-warm2"),
        pytest.param("linear", 4, 3, 2.0, id="linear-k2-warm3"),
        pytest.param("sqrt", 2, 2, 2.0, id="sqrt-k2-warm2"),
        pytest.param("linear", 2, 0, 4.0, id="linear-no-warmup"),
        pytest.param("linear", 2, None, 4.0, id="linear-default-warmup-5"),
        pytest.param("linear", 32, 2, 0.25, id="linear-scaling-down-no-warmup"),
        pytest.param("sqrt", 8, 2, 1.0, id="sqrt-same-batch"),
    ],
)
def test_fit_lr_scaling_with_goyal_warmup(rng, assert_close, rule, base_batch, warmup_epochs, k):
    x, y = fit_data(rng, NS)
    batch, epochs, steps, lr = 8, 10, 5, 0.01  # 50 steps
    opt = SGD(lr=lr, momentum=0.5)
    model, start = fit_model(), fit_model()
    kw = {} if warmup_epochs is None else {"warmup_epochs": warmup_epochs}
    hist = model.fit(
        x, y, optimizer=opt, batch_size=batch, epochs=epochs, seed=11, lr_scaling=rule, base_batch_size=base_batch, **kw
    )
    scaled = lr * k
    warm = (5 if warmup_epochs is None else warmup_epochs) * steps if k > 1 else 0
    rates = _goyal_rates(scaled, k, warm, epochs * steps)
    assert rates[0] == pytest.approx(lr if warm else scaled, rel=1e-15)
    assert hist.history["lr"] == pytest.approx(list(rates[::steps]), rel=1e-13, abs=0), hist.history["lr"]
    if warm:
        assert hist.history["lr"][0] == pytest.approx(lr, rel=1e-15)
        assert np.all(np.diff(rates[: warm + 1]) > 0), "the warmup does not rise step by step"
        assert np.allclose(np.diff(rates[: warm + 1]), (scaled - lr) / warm, rtol=1e-10, atol=0)
    if warm < epochs * steps:
        assert hist.history["lr"][-1] == pytest.approx(scaled, rel=1e-15)
    assert model.optimizer.lr == pytest.approx(scaled, rel=1e-15)
    scaled_opt = SGD(lr=scaled, momentum=0.5)
    _check_fit_against_reference(
        model, start, x, y, scaled_opt, hist, [rates[e * steps : (e + 1) * steps] for e in range(epochs)], batch=batch
    )


def test_fit_lr_scaling_full_batch(rng):
    """batch_size=None (and a batch larger than the data) is a batch of all samples for the scaling."""
    x, y = fit_data(rng, NS)
    for batch_size in (None, 64):
        hist = fit_model().fit(
            x,
            y,
            optimizer=SGD(lr=0.01),
            batch_size=batch_size,
            epochs=5,
            lr_scaling="linear",
            base_batch_size=10,
            warmup_epochs=4,
        )
        assert hist.history["lr"] == pytest.approx([0.01, 0.0175, 0.025, 0.0325, 0.04], rel=1e-13)


def test_fit_lr_scaling_then_schedule(rng, assert_close):
    """A schedule passed with lr_scaling follows the warmup, applied to the scaled rate."""
    x, y = fit_data(rng, NS)
    batch, epochs, steps = 8, 10, 5  # 50 steps
    model, start = fit_model(), fit_model()
    hist = model.fit(
        x,
        y,
        optimizer=SGD(lr=0.01),
        batch_size=batch,
        epochs=epochs,
        seed=11,
        lr_scaling="linear",
        base_batch_size=2,
        warmup_epochs=2,
        schedule=S.StepLR(3, 0.5),
    )
    rates = _goyal_rates(0.04, 4.0, 10, epochs * steps, after=lambda t: 0.04 * 0.5 ** ((t // steps) // 3))
    assert hist.history["lr"] == pytest.approx(
        [0.01, 0.025, 0.04, 0.02, 0.02, 0.02, 0.01, 0.01, 0.01, 0.005], rel=1e-13
    )
    _check_fit_against_reference(
        model, start, x, y, SGD(lr=0.04), hist, [rates[e * steps : (e + 1) * steps] for e in range(epochs)], batch=batch
    )


def test_fit_lr_scaling_then_reduce_on_plateau_reaches_the_scaled_rate(rng):
    """After the warmup the rate is the scaled one until a plateau reduces it. (A ReduceLROnPlateau that
    took its starting rate from the first epoch's log would fall back to the warmup's start, lr/k.)"""
    x, y = fit_data(rng, NS)
    sched = S.ReduceLROnPlateau(monitor="loss", patience=100)
    hist = fit_model().fit(
        x,
        y,
        optimizer=SGD(lr=0.01),
        batch_size=8,
        epochs=5,
        lr_scaling="linear",
        base_batch_size=2,
        warmup_epochs=2,
        schedule=sched,
    )
    assert hist.history["lr"] == pytest.approx([0.01, 0.025, 0.04, 0.04, 0.04], rel=1e-13), hist.history["lr"]


@pytest.mark.parametrize(
    "kw, word",
    [
        pytest.param({"lr_scaling": "linear"}, "base_batch_size", id="no-base_batch_size"),
        pytest.param({"lr_scaling": "sqrt", "warmup_epochs": 2}, "base_batch_size", id="no-base_batch_size-warm"),
        pytest.param({"warmup_epochs": 3}, "lr_scaling", id="warmup-without-scaling"),
        pytest.param({"warmup_epochs": 0}, "lr_scaling", id="warmup0-without-scaling"),
        pytest.param({"base_batch_size": 4, "warmup_epochs": 3}, "lr_scaling", id="warmup-base-without-scaling"),
        pytest.param({"base_batch_size": 4}, "lr_scaling", id="base-without-scaling"),
        pytest.param(
            {"lr_scaling": "linear", "base_batch_size": 4, "warmup_epochs": -1}, "warmup_epochs", id="negative-warmup"
        ),
    ],
)
def test_fit_lr_scaling_argument_errors(rng, kw, word):
    x, y = fit_data(rng, NS)
    model = fit_model()
    before = model.get_weights()
    with pytest.raises(ValueError) as info:
        model.fit(x, y, optimizer=SGD(lr=0.01), batch_size=8, epochs=2, **kw)
    assert word in str(info.value), f"the ValueError does not mention {word}: {info.value}"
    assert all(np.array_equal(a, b) for pa, pb in zip(before, model.get_weights()) for a, b in zip(pa, pb))


@pytest.mark.parametrize(
    "kw, word",
    [
        pytest.param({"lr_scaling": "cubic", "base_batch_size": 4}, "lr_scaling", id="unknown-rule"),
        pytest.param({"lr_scaling": "linear", "base_batch_size": 0}, "base_batch_size", id="base_batch_size-0"),
        pytest.param({"lr_scaling": "linear", "base_batch_size": 2.5}, "base_batch_size", id="base_batch_size-float"),
    ],
)
def test_fit_lr_scaling_errors_name_fit_arguments(rng, kw, word):
    """Errors about fit's arguments name them as the caller wrote them (not scale_lr's parameter names);
    a value of the wrong type (a float base_batch_size) is a TypeError, as everywhere in fit."""
    x, y = fit_data(rng, NS)
    error = TypeError if isinstance(kw.get("base_batch_size"), float) else ValueError
    with pytest.raises(error) as info:
        fit_model().fit(x, y, optimizer=SGD(lr=0.01), batch_size=8, epochs=1, **kw)
    assert word in str(info.value), f"the ValueError does not name {word}: {info.value}"
