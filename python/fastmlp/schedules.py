"""Learning-rate schedules, with the formulas of torch.optim.lr_scheduler in closed form.

A schedule maps a count t = 0, 1, 2, ... to a learning rate given the optimizer's base rate. With
interval="epoch" (the default, as PyTorch users step schedulers once per epoch) t counts epochs and the
rate is constant within an epoch; with interval="step" t counts optimizer steps and the rate changes at
every step. Either way fit() evaluates the rates of a whole epoch ahead and hands them to the C++ loop,
so no Python runs between steps. t starts at 0 with each fit() call.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    # What a schedule's count t counts: epochs, or optimizer steps.
    Interval = Literal["epoch", "step"]
    # A rate per count.
    Rates = NDArray[np.floating[Any]]

__all__ = [
    "Schedule",
    "ConstantLR",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "SequentialLR",
    "ReduceLROnPlateau",
    "warmup",
    "scale_lr",
    "goyal_warmup",
]


def _interval(value: object) -> Interval:
    if value not in ("epoch", "step"):
        raise ValueError(f"interval must be 'epoch' or 'step', got {value!r}")
    return value


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def _nonnegative_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    return int(value)


def _finite(name: str, value: object, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be a finite number in [{low}, {high}], got {value}")
    return value


class Schedule:
    """Base class of the schedules: the learning rate as a function of a count t.

    A subclass defines lr(base_lr, t) for an array of counts t; `interval` says what t counts.

    Attributes
    ----------
    interval : {"epoch", "step"}
        What t counts: epochs (the default) or optimizer steps.

    Examples
    --------
    A schedule of one's own, the base rate halved every 10 epochs:

    >>> import numpy as np
    >>> from fastmlp import schedules
    >>> class Halving(schedules.Schedule):
    ...     def lr(self, base_lr, t):
    ...         return base_lr * 0.5 ** (np.asarray(t) // 10)
    >>> Halving().lr(0.1, [0, 9, 10, 25])
    array([0.1  , 0.1  , 0.05 , 0.025])
    """

    interval: Interval = "epoch"

    def lr(self, base_lr: float, t: ArrayLike) -> Rates:
        """The learning rate at each count of t.

        Parameters
        ----------
        base_lr : float
            The optimizer's base rate (after lr_scaling, the scaled rate).
        t : array_like of int
            Counts from 0 within the fit, of epochs or steps as `interval` says.

        Returns
        -------
        numpy.ndarray
            One rate per count, float64.

        Raises
        ------
        NotImplementedError
            In the base class; each subclass defines it.
        """
        raise NotImplementedError

    def rates(self, base_lr: float, epoch: int, steps: int, first_step: int) -> NDArray[np.float64]:
        """The learning rate of each step of one epoch.

        Parameters
        ----------
        base_lr : float
            The optimizer's base rate.
        epoch : int
            The epoch, 0-based within the fit.
        steps : int
            The epoch's number of steps.
        first_step : int
            The number of the epoch's first step, 0-based within the fit: its steps are number
            first_step .. first_step + steps - 1.

        Returns
        -------
        numpy.ndarray
            The `steps` rates, float64.

        Examples
        --------
        >>> from fastmlp import schedules
        >>> schedules.StepLR(2, gamma=0.5, interval="step").rates(0.1, epoch=1, steps=3, first_step=3)
        array([0.05 , 0.025, 0.025])
        """
        if self.interval == "epoch":
            t = np.full(steps, epoch, dtype=np.int64)
        else:
            t = np.arange(first_step, first_step + steps, dtype=np.int64)
        return np.asarray(self.lr(base_lr, t), dtype=np.float64).reshape(steps)

    def end_epoch(self, logs: dict[str, float]) -> None:
        """Called after each epoch with its logs (ReduceLROnPlateau watches them).

        Parameters
        ----------
        logs : dict
            The epoch's logged values ("loss", "lr", and "val_loss" with validation data).
        """

    def monitors(self) -> set[str]:
        """Names of the logged values this schedule reads (fit checks they will exist).

        Returns
        -------
        set of str
            The names; empty for the schedules that read none.
        """
        return set()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class ConstantLR(Schedule):
    """factor * base_lr until total_iters, then base_lr (torch.optim.lr_scheduler.ConstantLR).

    Parameters
    ----------
    factor : float, default 1/3
        The factor of the base rate before total_iters, in [0, 1].
    total_iters : int, default 5
        The count (>= 0) from which the base rate applies.
    interval : {"epoch", "step"}, default "epoch"
        What t counts: epochs (the rate is constant within an epoch) or optimizer steps.

    Raises
    ------
    TypeError
        If a number is given as another type.
    ValueError
        If a value is out of range, or `interval` is neither "epoch" nor "step".

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import schedules
    >>> schedules.ConstantLR(factor=0.5, total_iters=2).lr(0.1, np.arange(4))
    array([0.05, 0.05, 0.1 , 0.1 ])
    """

    def __init__(self, factor: float = 1.0 / 3, total_iters: int = 5, interval: Interval = "epoch") -> None:
        self.factor = _finite("factor", factor, 0.0, 1.0)
        self.total_iters = _nonnegative_int("total_iters", total_iters)
        self.interval = _interval(interval)

    def lr(self, base_lr: float, t: ArrayLike) -> Rates:
        return base_lr * np.where(np.asarray(t) < self.total_iters, self.factor, 1.0)


class StepLR(Schedule):
    """base_lr * gamma ** floor(t / step_size) (torch.optim.lr_scheduler.StepLR).

    Parameters
    ----------
    step_size : int
        The counts (>= 1) between two decays.
    gamma : float, default 0.1
        The factor of each decay (>= 0).
    interval : {"epoch", "step"}, default "epoch"
        What t counts: epochs (the rate is constant within an epoch) or optimizer steps.

    Raises
    ------
    TypeError
        If a number is given as another type.
    ValueError
        If a value is out of range, or `interval` is neither "epoch" nor "step".

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import schedules
    >>> schedules.StepLR(step_size=2, gamma=0.5).lr(0.1, np.arange(6))
    array([0.1  , 0.1  , 0.05 , 0.05 , 0.025, 0.025])
    """

    def __init__(self, step_size: int, gamma: float = 0.1, interval: Interval = "epoch") -> None:
        self.step_size = _positive_int("step_size", step_size)
        self.gamma = _finite("gamma", gamma, 0.0)
        self.interval = _interval(interval)

    def lr(self, base_lr: float, t: ArrayLike) -> Rates:
        return base_lr * self.gamma ** (np.asarray(t) // self.step_size)


class MultiStepLR(Schedule):
    """base_lr * gamma ** (number of milestones <= t) (torch.optim.lr_scheduler.MultiStepLR).

    Parameters
    ----------
    milestones : iterable of int
        The counts (>= 0) at which the rate decays, in any order.
    gamma : float, default 0.1
        The factor of each decay (>= 0).
    interval : {"epoch", "step"}, default "epoch"
        What t counts: epochs (the rate is constant within an epoch) or optimizer steps.

    Raises
    ------
    TypeError
        If a number is given as another type.
    ValueError
        If a value is out of range, or `interval` is neither "epoch" nor "step".

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import schedules
    >>> schedules.MultiStepLR([1, 4], gamma=0.1).lr(0.1, np.arange(6)).round(6)
    array([0.1  , 0.01 , 0.01 , 0.01 , 0.001, 0.001])
    """

    def __init__(self, milestones: Iterable[int], gamma: float = 0.1, interval: Interval = "epoch") -> None:
        self.milestones = sorted(_nonnegative_int("milestones[i]", m) for m in milestones)
        self.gamma = _finite("gamma", gamma, 0.0)
        self.interval = _interval(interval)

    def lr(self, base_lr: float, t: ArrayLike) -> Rates:
        return base_lr * self.gamma ** np.searchsorted(self.milestones, np.asarray(t), side="right")


class ExponentialLR(Schedule):
    """base_lr * gamma ** t (torch.optim.lr_scheduler.ExponentialLR).

    Parameters
    ----------
    gamma : float
        The factor per count (>= 0).
    interval : {"epoch", "step"}, default "epoch"
        What t counts: epochs (the rate is constant within an epoch) or optimizer steps.

    Raises
    ------
    TypeError
        If a number is given as another type.
    ValueError
        If a value is out of range, or `interval` is neither "epoch" nor "step".

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import schedules
    >>> schedules.ExponentialLR(gamma=0.5).lr(0.1, np.arange(4))
    array([0.1   , 0.05  , 0.025 , 0.0125])
    """

    def __init__(self, gamma: float, interval: Interval = "epoch") -> None:
        self.gamma = _finite("gamma", gamma, 0.0)
        self.interval = _interval(interval)

    def lr(self, base_lr: float, t: ArrayLike) -> Rates:
        return base_lr * self.gamma ** np.asarray(t, dtype=np.float64)


class CosineAnnealingLR(Schedule):
    """eta_min + (base_lr - eta_min) (1 + cos(pi t / T_max)) / 2: cosine annealing.

    Loshchilov & Hutter 2017, SGDR without restarts; the closed form PyTorch documents
    (torch.optim.lr_scheduler.CosineAnnealingLR). Past T_max the cosine rises again.

    Parameters
    ----------
    T_max : int
        The count (>= 1) at which the rate reaches eta_min.
    eta_min : float, default 0.0
        The least rate (>= 0).
    interval : {"epoch", "step"}, default "epoch"
        What t counts: epochs (the rate is constant within an epoch) or optimizer steps.

    Raises
    ------
    TypeError
        If a number is given as another type.
    ValueError
        If a value is out of range, or `interval` is neither "epoch" nor "step".

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import schedules
    >>> schedules.CosineAnnealingLR(T_max=4).lr(0.1, np.arange(5)).round(6)
    array([0.1     , 0.085355, 0.05    , 0.014645, 0.      ])
    """

    def __init__(self, T_max: int, eta_min: float = 0.0, interval: Interval = "epoch") -> None:
        self.T_max = _positive_int("T_max", T_max)
        self.eta_min = _finite("eta_min", eta_min, 0.0)
        self.interval = _interval(interval)

    def lr(self, base_lr: float, t: ArrayLike) -> Rates:
        t = np.asarray(t, dtype=np.float64)
        return self.eta_min + (base_lr - self.eta_min) * (1.0 + np.cos(np.pi * t / self.T_max)) / 2.0


class LinearLR(Schedule):
    """A linear warmup from start_factor * base_lr to end_factor * base_lr.

    The rate is base_lr * (start_factor + (end_factor - start_factor) min(t, total_iters) / total_iters)
    (torch.optim.lr_scheduler.LinearLR).

    Parameters
    ----------
    start_factor : float, default 1/3
        The factor at t = 0, in (0, 1] (a rate of 0 is not a step).
    end_factor : float, default 1.0
        The factor from total_iters on, in [0, 1].
    total_iters : int, default 5
        The counts (>= 1) the ramp takes.
    interval : {"epoch", "step"}, default "epoch"
        What t counts: epochs (the rate is constant within an epoch) or optimizer steps.

    Raises
    ------
    TypeError
        If a number is given as another type.
    ValueError
        If a value is out of range, or `interval` is neither "epoch" nor "step".

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import schedules
    >>> schedules.LinearLR(start_factor=0.25, total_iters=4).lr(0.1, np.arange(6))
    array([0.025  , 0.04375, 0.0625 , 0.08125, 0.1    , 0.1    ])
    """

    def __init__(
        self, start_factor: float = 1.0 / 3, end_factor: float = 1.0, total_iters: int = 5, interval: Interval = "epoch"
    ) -> None:
        self.start_factor = _finite("start_factor", start_factor, 0.0, 1.0)
        if self.start_factor == 0.0:
            raise ValueError("start_factor must be > 0 (a learning rate of 0 is not a step)")
        self.end_factor = _finite("end_factor", end_factor, 0.0, 1.0)
        self.total_iters = _positive_int("total_iters", total_iters)
        self.interval = _interval(interval)

    def lr(self, base_lr: float, t: ArrayLike) -> Rates:
        t = np.minimum(np.asarray(t, dtype=np.float64), self.total_iters)
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * t / self.total_iters)


class SequentialLR(Schedule):
    """Schedules one after another: schedules[i] from milestones[i-1] on.

    Each part's count restarts at 0 at its milestone (as PyTorch's SequentialLR). All parts must count
    the same interval, which becomes this schedule's.

    Parameters
    ----------
    schedules : iterable of Schedule
        The parts, in order.
    milestones : iterable of int
        The increasing counts (>= 1) at which each part after the first begins: one fewer than
        schedules.

    Raises
    ------
    ValueError
        If the numbers of milestones and schedules do not fit, the milestones are not increasing ints
        >= 1, or the parts count different intervals.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import schedules
    >>> both = schedules.SequentialLR([schedules.ConstantLR(0.1, total_iters=10),
    ...                                schedules.ExponentialLR(0.5)], milestones=[2])
    >>> both.lr(0.1, np.arange(6))
    array([0.01  , 0.01  , 0.1   , 0.05  , 0.025 , 0.0125])
    """

    def __init__(self, schedules: Iterable[Schedule], milestones: Iterable[int]) -> None:
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

    def end_epoch(self, logs: dict[str, float]) -> None:
        """Pass the epoch's logs on to every part.

        Parameters
        ----------
        logs : dict
            The epoch's logged values.
        """
        for sched in self.schedules:
            sched.end_epoch(logs)

    def monitors(self) -> set[str]:
        """The logged values any part reads.

        Returns
        -------
        set of str
            The union of the parts' monitors.
        """
        return set().union(*(s.monitors() for s in self.schedules))

    def lr(self, base_lr: float, t: ArrayLike) -> Rates:
        t = np.asarray(t, dtype=np.int64)
        out = np.empty(t.shape, dtype=np.float64)
        starts = [0] + self.milestones
        ends = self.milestones + [np.iinfo(np.int64).max]
        for sched, start, end in zip(self.schedules, starts, ends):
            part = (t >= start) & (t < end)
            if part.any():
                out[part] = sched.lr(base_lr, t[part] - start)
        return out


def warmup(schedule: Schedule, warmup_iters: int, start_factor: float = 0.1) -> SequentialLR:
    """A linear warmup over warmup_iters followed by `schedule`.

    Parameters
    ----------
    schedule : Schedule
        The schedule after the warmup; its count starts at 0 when the warmup ends.
    warmup_iters : int
        The length of the warmup (>= 1), in the schedule's interval.
    start_factor : float, default 0.1
        The factor of the base rate at the start of the warmup, in (0, 1].

    Returns
    -------
    SequentialLR
        A LinearLR from start_factor to 1, then `schedule`.

    Raises
    ------
    ValueError
        If warmup_iters or start_factor is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import schedules
    >>> schedules.warmup(schedules.StepLR(2, gamma=0.5), 2).lr(0.1, np.arange(6))
    array([0.01 , 0.055, 0.1  , 0.1  , 0.05 , 0.05 ])
    """
    first = LinearLR(start_factor, 1.0, warmup_iters, interval=schedule.interval)
    return SequentialLR([first, schedule], [warmup_iters])


class ReduceLROnPlateau(Schedule):
    """Multiply the rate by `factor` once `monitor` has not improved for `patience` epochs.

    The rules of torch.optim.lr_scheduler.ReduceLROnPlateau: mode, threshold, threshold_mode, cooldown,
    min_lr, eps. Per epoch only; monitor is "val_loss" (needs validation_data) or "loss". The reduction
    is kept as a scale on the base rate, so inside warmup() or after lr_scaling it scales whatever rate
    it is given; its state persists across fit() calls.

    Parameters
    ----------
    monitor : str, default "val_loss"
        The logged value to watch.
    mode : {"min", "max"}, default "min"
        Whether the value improves by falling or by rising.
    factor : float, default 0.1
        The factor of each reduction, in [0, 1).
    patience : int, default 10
        The epochs (>= 0) without improvement that are borne before a reduction.
    threshold : float, default 1e-4
        The least improvement that counts (>= 0).
    threshold_mode : {"rel", "abs"}, default "rel"
        Whether `threshold` is relative to the best value (best * (1 - threshold) in mode "min") or
        absolute (best - threshold).
    cooldown : int, default 0
        The epochs (>= 0) after a reduction during which epochs without improvement are not counted.
    min_lr : float, default 0.0
        The least rate a reduction gives (>= 0).
    eps : float, default 1e-8
        A reduction smaller than this is not made (>= 0).

    Raises
    ------
    TypeError
        If `monitor` is not a str, or a number is given as another type.
    ValueError
        If `mode` or `threshold_mode` is not one of its options, or a number is out of range.

    Examples
    --------
    >>> from fastmlp import schedules
    >>> plateau = schedules.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1)
    >>> rates = []
    >>> for loss in [1.0, 0.9, 0.9, 0.9, 0.9]:  # fit asks for the epoch's rate, then reports its loss
    ...     rates.append(float(plateau.lr(0.1, [0])[0]))
    ...     plateau.end_epoch({"loss": loss})
    >>> rates
    [0.1, 0.1, 0.1, 0.1, 0.05]
    """

    interval: Interval = "epoch"

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: Literal["min", "max"] = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: Literal["rel", "abs"] = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
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
        self._scale = 1.0  # product of the reductions so far
        self._base: float | None = None  # the base rate last asked for
        self._best: float | None = None
        self._bad_epochs = 0
        self._cooldown_left = 0

    def monitors(self) -> set[str]:
        """The logged value this schedule reads.

        Returns
        -------
        set of str
            ``{monitor}``.
        """
        return {self.monitor}

    def lr(self, base_lr: float, t: ArrayLike) -> NDArray[np.float64]:
        """The current rate, the same for every count: base_lr times the reductions so far.

        Parameters
        ----------
        base_lr : float
            The rate to scale.
        t : array_like of int
            The counts; only their shape is used.

        Returns
        -------
        numpy.ndarray
            The rate at each count, float64, at least min_lr once a reduction was made.
        """
        self._base = float(base_lr)
        return np.full(np.shape(t), self._rate(), dtype=np.float64)

    def _rate(self) -> float:
        base = typing.cast(float, self._base)  # lr() has set it: asked before any epoch ends
        return max(base * self._scale, self.min_lr) if self._scale != 1.0 else base

    def _better(self, value: float) -> bool:
        if self._best is None:
            return True
        if self.mode == "min":
            edge = self._best * (1 - self.threshold) if self.threshold_mode == "rel" else self._best - self.threshold
            return value < edge
        edge = self._best * (1 + self.threshold) if self.threshold_mode == "rel" else self._best + self.threshold
        return value > edge

    def end_epoch(self, logs: dict[str, float]) -> None:
        """Record the epoch's value of `monitor` and reduce the rate when it has stopped improving.

        Parameters
        ----------
        logs : dict
            The epoch's logged values; they must hold `monitor`.

        Raises
        ------
        ValueError
            If the logs do not hold the monitored value.
        """
        if self.monitor not in logs:
            raise ValueError(
                f"ReduceLROnPlateau monitors {self.monitor!r}, which this fit does not log "
                f"(logged: {', '.join(logs)}); pass validation_data or monitor='loss'"
            )
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


def scale_lr(base_lr: float, base_batch: int, batch: int, rule: Literal["linear", "sqrt"] = "linear") -> float:
    """The learning rate for a batch size, given one tuned at another.

    "linear" multiplies by batch / base_batch (Goyal et al. 2017, "Accurate, Large Minibatch SGD": when
    the minibatch size is multiplied by k, multiply the learning rate by k); "sqrt" by
    sqrt(batch / base_batch) (Krizhevsky 2014, "One weird trick", keeping the variance of the update
    constant). MLP.fit(lr_scaling=...) applies it.

    Parameters
    ----------
    base_lr : float
        The learning rate tuned for base_batch (>= 0).
    base_batch : int
        The batch size it was tuned for (>= 1).
    batch : int
        The batch size to scale it for (>= 1).
    rule : {"linear", "sqrt"}, default "linear"
        The scaling rule.

    Returns
    -------
    float
        The scaled learning rate.

    Raises
    ------
    TypeError
        If base_lr is not a number.
    ValueError
        If a value is out of range, or `rule` is neither "linear" nor "sqrt".

    Examples
    --------
    >>> import fastmlp
    >>> fastmlp.scale_lr(0.1, 256, 1024)
    0.4
    >>> fastmlp.scale_lr(0.1, 256, 1024, rule="sqrt")
    0.2
    """
    base_lr = _finite("base_lr", base_lr, 0.0)
    base_batch = _positive_int("base_batch", base_batch)
    batch = _positive_int("batch", batch)
    if rule == "linear":
        return base_lr * batch / base_batch
    if rule == "sqrt":
        return base_lr * math.sqrt(batch / base_batch)
    raise ValueError(f"rule must be 'linear' or 'sqrt', got {rule!r}")


class goyal_warmup(Schedule):
    """Gradual warmup of Goyal et al. 2017, per step.

    From base_lr / k at the first step, rise by a constant amount per step to the scaled base_lr after
    warmup_steps, then follow `after` (or stay). base_lr here is the already scaled rate; k is the
    scaling factor. MLP.fit(lr_scaling=...) puts it in front of the fit's schedule.

    Parameters
    ----------
    k : float
        The scaling factor of the learning rate.
    warmup_steps : int
        The steps of the warmup (0 or less: none).
    after : Schedule, optional
        The schedule after the warmup; None keeps base_lr. Its count is the fit's (steps, or epochs
        as steps // steps_per_epoch), not restarted at the end of the warmup.
    steps_per_epoch : int, default 1
        Steps per epoch, to convert the count for an `after` that counts epochs.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import schedules
    >>> schedules.goyal_warmup(k=4, warmup_steps=4).lr(0.1, np.arange(6))
    array([0.025  , 0.04375, 0.0625 , 0.08125, 0.1    , 0.1    ])
    """

    interval: Interval = "step"

    def __init__(self, k: float, warmup_steps: int, after: Schedule | None = None, steps_per_epoch: int = 1) -> None:
        self.k = float(k)
        self.warmup_steps = int(warmup_steps)
        self.after = after
        self._steps_per_epoch = int(steps_per_epoch)

    def lr(self, base_lr: float, t: ArrayLike) -> Rates:
        t = np.asarray(t, dtype=np.int64)
        rest: Rates
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

    def end_epoch(self, logs: dict[str, float]) -> None:
        """Pass the epoch's logs on to `after`.

        Parameters
        ----------
        logs : dict
            The epoch's logged values.
        """
        if self.after is not None:
            self.after.end_epoch(logs)

    def monitors(self) -> set[str]:
        """The logged values `after` reads.

        Returns
        -------
        set of str
            Those of `after`; empty without one.
        """
        return set() if self.after is None else self.after.monitors()
