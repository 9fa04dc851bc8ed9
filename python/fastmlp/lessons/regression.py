"""Lessons on one regression problem: the loss landscape of ax + b, the learning rate, the optimizers
and the batch size (seed points 4-8, 12 and 13). Every number is computed by fastmlp's kernels."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import ops, optim
from ..callbacks import Callback
from ..data import load_women
from ..model import MLP
from ..optim import Optimizer
from ..schedules import scale_lr


def _women_standardized() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    h, w = load_women()
    return (h - h.mean()) / h.std(), (w - w.mean()) / w.std()


def landscape(grid: int = 121, lr: float = 0.1, steps: int = 40, seed: int = 0, device: str = "cpu") -> dict[str, Any]:
    """MSE of y = a x + b on the women data (x standardized, y in pounds) over an (a, b) grid, and the
    path gradient descent takes from a random start. The whole grid is one batched dense_forward:
    every (a, b) pair is one output unit of a 1 -> grid^2 layer."""
    h, w = load_women()
    x = ((h - h.mean()) / h.std()).reshape(-1, 1)
    a_star, b_star = np.polyfit(x.ravel(), w, 1)
    a_axis = np.linspace(a_star - 25, a_star + 25, grid)
    b_axis = np.linspace(b_star - 50, b_star + 50, grid)
    A, B = np.meshgrid(a_axis, b_axis)
    pred = ops.dense_forward(x, A.reshape(1, -1), B.ravel(), device=device)  # (15, grid^2), one call
    pred_t = np.ascontiguousarray(pred.T)  # row j: the 15 predictions of pair j
    loss = np.array([ops.loss("mse", row, w) for row in pred_t]).reshape(A.shape)  # the MSE kernel per pair
    rng = np.random.default_rng(seed)
    start = np.array([a_star + rng.uniform(-22, 22), b_star + rng.uniform(-45, -25)])
    model = MLP([1, 1], dtype="float64", device=device)
    model.set_weights([(start[:1].reshape(1, 1), start[1:])])
    path = [start.copy()]
    for _ in range(steps):  # full-batch GD, one step per fit call so the path can be drawn
        model.fit(x, w, optimizer=optim.SGD(lr=lr), batch_size=None, epochs=1)
        ((wt, bt),) = model.get_weights()
        path.append(np.array([wt[0, 0], bt[0]]))
    i = np.unravel_index(np.argmin(loss), loss.shape)
    return {
        "a": a_axis,
        "b": b_axis,
        "loss": loss,
        "grid_min": (A[i], B[i]),
        "least_squares": (a_star, b_star),
        "path": np.array(path),
        "lr": lr,
    }


def learning_rate(rates: Sequence[float] = (0.002, 0.1, 1.05), epochs: int = 60, device: str = "cpu") -> dict[str, Any]:
    """Full-batch GD on the standardized women data with a too small, a good and a too large rate.
    With standardized x the MSE's curvature is 2, so any rate above 1 overshoots more every step."""
    x, y = _women_standardized()
    curves: dict[float, NDArray[np.float64]] = {}
    verdicts: dict[float, str] = {}
    for lr in rates:
        model = MLP([1, 1], dtype="float64", seed=3, device=device)
        model.set_weights([(np.array([[-1.0]]), np.array([1.0]))])
        hist = model.fit(x, y, optimizer=optim.SGD(lr=lr), batch_size=None, epochs=epochs, on_nonfinite="stop")
        loss = np.array(hist.history["loss"])
        curves[lr] = loss
        if hist.stopped_reason or loss[-1] > loss[0]:
            verdicts[lr] = "diverges"
        elif loss[-1] > 0.1 * loss[0] + 0.02:
            verdicts[lr] = "too slow"
        else:
            verdicts[lr] = "converges"
    return {"curves": curves, "verdicts": verdicts, "epochs": epochs}


def _curve_problem(n: int = 1000, seed: int = 0) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, size=(n, 1)).astype(np.float32)
    y = (np.sin(2 * x) + 0.5 * x + 0.05 * rng.standard_normal(x.shape)).astype(np.float32)
    return x, y


def _timed_fit(
    model: MLP, x: NDArray[Any], y: NDArray[Any], epochs: int, **kw: Any
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-epoch losses and cumulative wall time (one fit call per epoch, seeds varied per epoch)."""
    losses: list[float] = []
    times: list[float] = []
    total = 0.0
    for e in range(epochs):
        start = time.perf_counter()
        hist = model.fit(x, y, epochs=1, seed=e, on_nonfinite="stop", **kw)
        total += time.perf_counter() - start
        if not hist.history["loss"]:
            break
        losses.append(hist.history["loss"][0])
        times.append(total)
    return np.array(losses), np.array(times)


OPTIMIZER_RUNS: dict[str, tuple[int | None, Callable[[], Optimizer]]] = {
    "GD (full batch)": (None, lambda: optim.SGD(lr=0.005)),  # 0.01 overshoots for a few epochs
    "SGD (batch 1)": (1, lambda: optim.SGD(lr=0.005)),
    "mini-batch (32)": (32, lambda: optim.SGD(lr=0.02)),
    "momentum 0.9 (32)": (32, lambda: optim.SGD(lr=0.005, momentum=0.9)),
    "Adam (32)": (32, lambda: optim.Adam(lr=3e-3)),
    "RMSprop (32)": (32, lambda: optim.RMSprop(lr=1e-3)),
    "Adagrad (32)": (32, lambda: optim.Adagrad(lr=0.05)),
    "NAdam (32)": (32, lambda: optim.NAdam(lr=3e-3)),
    "RAdam (32)": (32, lambda: optim.RAdam(lr=3e-3)),
    "Adamax (32)": (32, lambda: optim.Adamax(lr=3e-3)),
}


def optimizers(epochs: int = 40, seed: int = 0, device: str = "cpu") -> dict[str, Any]:
    """Each optimizer trains the same 1-32-32-1 ReLU network from the same initial weights on a curve
    y = sin(2x) + x/2 + noise: loss per epoch and against wall time."""
    x, y = _curve_problem(seed=seed)
    out: dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}
    for name, (batch, make) in OPTIMIZER_RUNS.items():
        model = MLP([1, 32, 32, 1], activation="relu", seed=seed, device=device)
        out[name] = _timed_fit(model, x, y, epochs, optimizer=make(), batch_size=batch)
    return {"runs": out, "epochs": epochs}


class _EpochClock(Callback):
    """Wall time from the start of a fit to the end of each epoch."""

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self.start: float = time.perf_counter()
        self.times: list[float] = []

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.times.append(time.perf_counter() - self.start)


def batch_size(
    batches: Sequence[int | None] = (1, 8, 64, 512, None),
    base_lr: float = 0.002,
    base_batch: int = 8,
    epochs: int = 15,
    n: int = 4096,
    seed: int = 0,
    device: str = "cpu",
) -> dict[str, Any]:
    """The same network trained with batch 1, 8, 64, 512 and the full batch, once at one learning rate
    and once with fit(lr_scaling="linear"): the rate tuned for base_batch is multiplied by
    batch / base_batch and reached by Goyal et al.'s gradual warmup over the first 2 epochs. Loss
    against optimizer steps and against wall time; a run whose loss blows up is marked diverged."""
    x, y = _curve_problem(n=n, seed=seed)
    runs: dict[tuple[int | None, bool], dict[str, Any]] = {}
    for scaled in (False, True):
        for b in batches:
            size = n if b is None else b
            model = MLP([1, 32, 32, 1], activation="relu", seed=seed, device=device)
            kw: dict[str, Any] = (
                {"lr_scaling": "linear", "base_batch_size": base_batch, "warmup_epochs": 2} if scaled else {}
            )
            clock = _EpochClock()
            hist = model.fit(
                x,
                y,
                optimizer=optim.SGD(lr=base_lr),
                batch_size=b,
                epochs=epochs,
                seed=seed,
                on_nonfinite="stop",
                callbacks=[clock],
                **kw,
            )
            losses = np.array(hist.history["loss"])
            steps_per_epoch = hist.params["steps"]
            runs[(b, scaled)] = {
                "lr": scale_lr(base_lr, base_batch, size, "linear") if scaled else base_lr,
                "loss": losses,
                "time": np.array(clock.times[: len(losses)]),
                "steps": steps_per_epoch * np.arange(1, len(losses) + 1),
                "diverged": hist.stopped_reason is not None or (len(losses) > 0 and losses[-1] > 10 * losses[0]),
            }
    return {"runs": runs, "epochs": epochs, "n": n, "base_lr": base_lr, "base_batch": base_batch}
