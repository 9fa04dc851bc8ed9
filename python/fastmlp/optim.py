"""Optimizers: hyperparameters and validation here, the update itself in one fused C++ pass per
parameter (csrc/cpu/optim.cpp). Names, arguments and formulas follow torch.optim."""

from __future__ import annotations

import math

__all__ = ["Optimizer", "SGD"]


def _check(name, value, *, low=None, low_inclusive=True, high=None, high_inclusive=False):
    """A finite float within bounds, else ValueError naming the hyperparameter."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    ok = math.isfinite(value)
    if ok and low is not None:
        ok = value >= low if low_inclusive else value > low
    if ok and high is not None:
        ok = value <= high if high_inclusive else value < high
    if not ok:
        lo = "" if low is None else f"{'>=' if low_inclusive else '>'} {low}"
        hi = "" if high is None else f"{'<=' if high_inclusive else '<'} {high}"
        raise ValueError(f"{name} must be a finite number {' and '.join(s for s in (lo, hi) if s)}, got {value}")
    return value


class Optimizer:
    """Base class: `name` selects the C++ kernel, `config()` is what the trainer and save() see."""

    name = ""

    def config(self):
        raise NotImplementedError

    def state_count(self):
        """Buffers of optimizer state kept per parameter (each the parameter's shape)."""
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, torch.optim.SGD's algorithm:

        g <- g + weight_decay * p
        buf <- g (first step) or momentum * buf + (1 - dampening) * g      (when momentum > 0)
        g <- g + momentum * buf (nesterov) or buf
        p <- p - lr * g
    """

    name = "sgd"

    def __init__(self, lr=0.01, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        self.lr = _check("lr", lr, low=0.0, low_inclusive=False)
        self.momentum = _check("momentum", momentum, low=0.0)
        self.dampening = _check("dampening", dampening, low=0.0, high=1.0, high_inclusive=True)
        self.weight_decay = _check("weight_decay", weight_decay, low=0.0)
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum <= 0.0 or self.dampening != 0.0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening = 0")

    def config(self):
        return {"name": self.name, "lr": self.lr, "momentum": self.momentum, "dampening": self.dampening,
                "nesterov": self.nesterov, "weight_decay": self.weight_decay}

    def state_count(self):
        return 1 if self.momentum != 0.0 else 0


def from_config(config):
    """The optimizer a config() dict describes (used by load())."""
    config = dict(config)
    name = config.pop("name", None)
    if name == "sgd":
        return SGD(**config)
    raise ValueError(f"unknown optimizer {name!r} in a saved configuration")
