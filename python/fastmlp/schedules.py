"""Learning-rate schedules, with the formulas of torch.optim.lr_scheduler in closed form.

A schedule maps a count t = 0, 1, 2, ... to a learning rate given the optimizer's base rate. With
interval="epoch" (the default, as PyTorch users step schedulers once per epoch) t counts epochs and the
rate is constant within an epoch; with interval="step" t counts optimizer steps and the rate changes at
every step. Either way fit() evaluates the rates of a whole epoch ahead and hands them to the C++ loop,
so no Python runs between steps. t starts at 0 with each fit() call.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "Schedule", "ConstantLR", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR",
    "SequentialLR", "ReduceLROnPlateau", "warmup", "scale_lr", "goyal_warmup",
]


def _interval(value):
    if value not in ("epoch", "step"):
        raise ValueError(f"interval must be 'epoch' or 'step', got {value!r}")
    return value


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def _nonnegative_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    return int(value)


def _finite(name, value, low=None, high=None):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be a finite number in [{low}, {high}], got {value}")
    return value


class Schedule:
    """Base class: lr(base_lr, t) for an array of counts t; `interval` says what t counts."""

    interval = "epoch"

    def lr(self, base_lr, t):
        raise NotImplementedError

    def rates(self, base_lr, epoch, steps, first_step):
        """The learning rate of each step of epoch `epoch` (0-based within the fit), whose steps are
        number first_step .. first_step + steps - 1 (0-based within the fit)."""
        if self.interval == "epoch":
            t = np.full(steps, epoch, dtype=np.int64)
        else:
            t = np.arange(first_step, first_step + steps, dtype=np.int64)
        return np.asarray(self.lr(base_lr, t), dtype=np.float64).reshape(steps)

    def end_epoch(self, logs):
        """Called after each epoch with its logs (ReduceLROnPlateau watches them)."""

    def monitors(self):
        """Names of the logged values this schedule reads (fit checks they will exist)."""
        return set()

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class ConstantLR(Schedule):
    """factor * base_lr until total_iters, then base_lr (torch.optim.lr_scheduler.ConstantLR)."""

    def __init__(self, factor=1.0 / 3, total_iters=5, interval="epoch"):
        self.factor = _finite("factor", factor, 0.0, 1.0)
        self.total_iters = _nonnegative_int("total_iters", total_iters)
        self.interval = _interval(interval)

    def lr(self, base_lr, t):
        return base_lr * np.where(np.asarray(t) < self.total_iters, self.factor, 1.0)


class StepLR(Schedule):
    """base_lr * gamma ** floor(t / step_size)."""

    def __init__(self, step_size, gamma=0.1, interval="epoch"):
        self.step_size = _positive_int("step_size", step_size)
        self.gamma = _finite("gamma", gamma, 0.0)
        self.interval = _interval(interval)

    def lr(self, base_lr, t):
        return base_lr * self.gamma ** (np.asarray(t) // self.step_size)


class MultiStepLR(Schedule):
    """base_lr * gamma ** (number of milestones <= t)."""

    def __init__(self, milestones, gamma=0.1, interval="epoch"):
        self.milestones = sorted(_nonnegative_int("milestones[i]", m) for m in milestones)
        self.gamma = _finite("gamma", gamma, 0.0)
        self.interval = _interval(interval)

    def lr(self, base_lr, t):
        return base_lr * self.gamma ** np.searchsorted(self.milestones, np.asarray(t), side="right")


class ExponentialLR(Schedule):
    """base_lr * gamma ** t."""

    def __init__(self, gamma, interval="epoch"):
        self.gamma = _finite("gamma", gamma, 0.0)
        self.interval = _interval(interval)

    def lr(self, base_lr, t):
        return base_lr * self.gamma ** np.asarray(t, dtype=np.float64)


class CosineAnnealingLR(Schedule):
    """eta_min + (base_lr - eta_min) (1 + cos(pi t / T_max)) / 2 (Loshchilov & Hutter 2017, SGDR without
    restarts; the closed form PyTorch documents)."""

    def __init__(self, T_max, eta_min=0.0, interval="epoch"):  # noqa: N803 (PyTorch's name)
        self.T_max = _positive_int("T_max", T_max)
        self.eta_min = _finite("eta_min", eta_min, 0.0)
        self.interval = _interval(interval)

    def lr(self, base_lr, t):
        t = np.asarray(t, dtype=np.float64)
        return self.eta_min + (base_lr - self.eta_min) * (1.0 + np.cos(np.pi * t / self.T_max)) / 2.0


class LinearLR(Schedule):
    """base_lr * (start_factor + (end_factor - start_factor) min(t, total_iters) / total_iters): a linear
    warmup from start_factor * base_lr to end_factor * base_lr."""

    def __init__(self, start_factor=1.0 / 3, end_factor=1.0, total_iters=5, interval="epoch"):
        self.start_factor = _finite("start_factor", start_factor, 0.0, 1.0)
        if self.start_factor == 0.0:
            raise ValueError("start_factor must be > 0 (a learning rate of 0 is not a step)")
        self.end_factor = _finite("end_factor", end_factor, 0.0, 1.0)
        self.total_iters = _positive_int("total_iters", total_iters)
        self.interval = _interval(interval)

    def lr(self, base_lr, t):
        t = np.minimum(np.asarray(t, dtype=np.float64), self.total_iters)
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * t / self.total_iters)


class SequentialLR(Schedule):
    """schedules[i] from milestones[i-1] on, its count restarting at 0 there (as PyTorch's SequentialLR).
    All parts must count the same interval."""

    def __init__(self, schedules, milestones):
        self.schedules = list(schedules)
        self.milestones = [int(m) for m in milestones]
        if len(self.milestones) != len(self.schedules) - 1:
            raise ValueError("SequentialLR needs one milestone fewer than schedules")
        if sorted(self.milestones) != self.milestones or any(m < 1 for m in self.milestones):
            raise ValueError(f"milestones must be increasing ints >= 1, got {self.milestones}")
        intervals = {s.interval for s in self.schedules}
        if len(intervals) != 1:
            raise ValueError("every schedule of a SequentialLR must have the same interval")
        self.interval = intervals.pop()

    def end_epoch(self, logs):
        for sched in self.schedules:
            sched.end_epoch(logs)

    def monitors(self):
        return set().union(*(s.monitors() for s in self.schedules))

    def lr(self, base_lr, t):
        t = np.asarray(t, dtype=np.int64)
        out = np.empty(t.shape, dtype=np.float64)
        starts = [0] + self.milestones
        ends = self.milestones + [np.iinfo(np.int64).max]
        for sched, start, end in zip(self.schedules, starts, ends):
            part = (t >= start) & (t < end)
            if part.any():
                out[part] = sched.lr(base_lr, t[part] - start)
        return out


def warmup(schedule, warmup_iters, start_factor=0.1):
    """A linear warmup over warmup_iters (in the schedule's interval) followed by `schedule`."""
    first = LinearLR(start_factor, 1.0, warmup_iters, interval=schedule.interval)
    return SequentialLR([first, schedule], [warmup_iters])


class ReduceLROnPlateau(Schedule):
    """Multiply the rate by `factor` once `monitor` has not improved for `patience` epochs
    (torch.optim.lr_scheduler.ReduceLROnPlateau: mode, threshold, threshold_mode, cooldown, min_lr, eps).
    Per epoch only; monitor is "val_loss" (needs validation_data) or "loss". The reduction is kept as a
    scale on the base rate, so inside warmup() or after lr_scaling it scales whatever rate it is given;
    its state persists across fit() calls."""

    interval = "epoch"

    def __init__(self, monitor="val_loss", mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a name such as 'val_loss' or 'loss', got {type(monitor).__name__}")
        self.monitor, self.mode, self.threshold_mode = monitor, mode, threshold_mode
        self.factor = _finite("factor", factor, 0.0, 1.0)
        if self.factor >= 1.0:
            raise ValueError("factor must be < 1")
        self.patience = _nonnegative_int("patience", patience)
        self.threshold = _finite("threshold", threshold, 0.0)
        self.cooldown = _nonnegative_int("cooldown", cooldown)
        self.min_lr = _finite("min_lr", min_lr, 0.0)
        self.eps = _finite("eps", eps, 0.0)
        self._scale = 1.0      # product of the reductions so far
        self._base = None      # the base rate last asked for
        self._best = None
        self._bad_epochs = 0
        self._cooldown_left = 0

    def monitors(self):
        return {self.monitor}

    def lr(self, base_lr, t):
        self._base = float(base_lr)
        return np.full(np.shape(t), self._rate(), dtype=np.float64)

    def _rate(self):
        return max(self._base * self._scale, self.min_lr) if self._scale != 1.0 else self._base

    def _better(self, value):
        if self._best is None:
            return True
        if self.mode == "min":
            edge = self._best * (1 - self.threshold) if self.threshold_mode == "rel" else self._best - self.threshold
            return value < edge
        edge = self._best * (1 + self.threshold) if self.threshold_mode == "rel" else self._best + self.threshold
        return value > edge

    def end_epoch(self, logs):
        if self.monitor not in logs:
            raise ValueError(f"ReduceLROnPlateau monitors {self.monitor!r}, which this fit does not log "
                             f"(logged: {', '.join(logs)}); pass validation_data or monitor='loss'")
        value = float(logs[self.monitor])
        if self._better(value):
            self._best, self._bad_epochs = value, 0
        else:
            self._bad_epochs += 1
        if self._cooldown_left > 0:
            self._cooldown_left -= 1
            self._bad_epochs = 0
        if self._bad_epochs > self.patience:
            if self._base is not None:
                old = self._rate()
                new = max(old * self.factor, self.min_lr)
                if old - new > self.eps:
                    self._scale = new / self._base
            self._cooldown_left, self._bad_epochs = self.cooldown, 0


def scale_lr(base_lr, base_batch, batch, rule="linear"):
    """The learning rate for `batch` given one tuned at `base_batch`: "linear" multiplies by
    batch / base_batch (Goyal et al. 2017, "Accurate, Large Minibatch SGD": when the minibatch size is
    multiplied by k, multiply the learning rate by k); "sqrt" by sqrt(batch / base_batch) (Krizhevsky
    2014, "One weird trick", keeping the variance of the update constant)."""
    base_lr = _finite("base_lr", base_lr, 0.0)
    base_batch = _positive_int("base_batch", base_batch)
    batch = _positive_int("batch", batch)
    if rule == "linear":
        return base_lr * batch / base_batch
    if rule == "sqrt":
        return base_lr * math.sqrt(batch / base_batch)
    raise ValueError(f"rule must be 'linear' or 'sqrt', got {rule!r}")


class goyal_warmup(Schedule):  # noqa: N801 (a function-like name for a small adapter)
    """Gradual warmup of Goyal et al. 2017: from base_lr / k at the first step, rise by a constant amount
    per step to the scaled base_lr after warmup_steps, then follow `after` (or stay). base_lr here is the
    already scaled rate; k is the scaling factor."""

    interval = "step"

    def __init__(self, k, warmup_steps, after=None, steps_per_epoch=1):
        self.k = float(k)
        self.warmup_steps = int(warmup_steps)
        self.after = after
        self._steps_per_epoch = int(steps_per_epoch)

    def lr(self, base_lr, t):
        t = np.asarray(t, dtype=np.int64)
        if self.after is None:
            rest = np.full(t.shape, base_lr, dtype=np.float64)
        elif self.after.interval == "step":
            rest = self.after.lr(base_lr, t)
        else:
            rest = self.after.lr(base_lr, t // self._steps_per_epoch)
        if self.warmup_steps <= 0:
            return rest
        start = base_lr / self.k
        ramp = start + (base_lr - start) * np.minimum(t, self.warmup_steps) / self.warmup_steps
        return np.where(t < self.warmup_steps, ramp, rest)

    def end_epoch(self, logs):
        if self.after is not None:
            self.after.end_epoch(logs)

    def monitors(self):
        return set() if self.after is None else self.after.monitors()
