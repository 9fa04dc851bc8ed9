"""Optimizers: hyperparameters and validation here, the update itself in one fused C++ pass per
parameter (csrc/cpu/optim.cpp). Names, arguments and formulas follow torch.optim."""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import _core
from ._args import check_bool

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "from_config"]


def is_number(value):
    """A real number (Python or NumPy scalar), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _check(name, value, *, low=None, low_inclusive=True, high=None, high_inclusive=False):
    """A finite float within bounds, else ValueError naming the hyperparameter."""
    if not is_number(value):
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

    def state_names(self):
        """Names of the state buffers kept per parameter (each the parameter's shape), in kernel order."""
        raise NotImplementedError

    def state_count(self):
        return len(self.state_names())

    def state_initial_values(self):
        """The value each state buffer starts at (all zeros except Adagrad's accumulator)."""
        return [0.0] * self.state_count()

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
        self.nesterov = check_bool(nesterov, "nesterov")
        if self.nesterov and (self.momentum <= 0.0 or self.dampening != 0.0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening = 0")

    def config(self):
        return {"name": self.name, "lr": self.lr, "momentum": self.momentum, "dampening": self.dampening,
                "nesterov": self.nesterov, "weight_decay": self.weight_decay}

    def state_names(self):
        return ["momentum_buffer"] if self.momentum != 0.0 else []


def _betas(betas):
    try:
        b1, b2 = betas
    except TypeError:
        raise TypeError(f"betas must be a pair of numbers, got {betas!r}") from None
    except ValueError:
        raise ValueError(f"betas must be a pair of numbers (beta1, beta2), got {betas!r}") from None
    return (_check("betas[0]", b1, low=0.0, high=1.0), _check("betas[1]", b2, low=0.0, high=1.0))


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), torch.optim.Adam's algorithm at step t:

        g <- g + weight_decay * p                                   (L2 penalty, coupled)
        m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
        amsgrad: v_max <- max(v_max, v), used in place of v          (Reddi et al. 2018)
        p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """

    name = "adam"

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        self.lr = _check("lr", lr, low=0.0, low_inclusive=False)
        self.betas = _betas(betas)
        self.eps = _check("eps", eps, low=0.0)
        self.weight_decay = _check("weight_decay", weight_decay, low=0.0)
        self.amsgrad = check_bool(amsgrad, "amsgrad")

    def config(self):
        return {"name": self.name, "lr": self.lr, "betas": list(self.betas), "eps": self.eps,
                "weight_decay": self.weight_decay, "amsgrad": self.amsgrad}

    def state_names(self):
        return ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if self.amsgrad else [])


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay, p <- p (1 - lr weight_decay)
    before the Adam step instead of adding weight_decay * p to the gradient."""

    name = "adamw"

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


class RMSprop(Optimizer):
    """RMSprop (Hinton, Coursera lecture 6e, 2012), torch.optim.RMSprop's algorithm:

        g <- g + weight_decay * p
        v <- alpha v + (1 - alpha) g^2
        centered: g_avg <- alpha g_avg + (1 - alpha) g, and v - g_avg^2 replaces v below
        d <- g / (sqrt(v) + eps)
        momentum > 0: buf <- momentum buf + d, p <- p - lr buf;  else p <- p - lr d
    """

    name = "rmsprop"

    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        self.lr = _check("lr", lr, low=0.0, low_inclusive=False)
        self.alpha = _check("alpha", alpha, low=0.0, high=1.0, high_inclusive=True)
        self.eps = _check("eps", eps, low=0.0)
        self.weight_decay = _check("weight_decay", weight_decay, low=0.0)
        self.momentum = _check("momentum", momentum, low=0.0)
        self.centered = check_bool(centered, "centered")

    def config(self):
        return {"name": self.name, "lr": self.lr, "alpha": self.alpha, "eps": self.eps,
                "weight_decay": self.weight_decay, "momentum": self.momentum, "centered": self.centered}

    def state_names(self):
        return (["square_avg"] + (["momentum_buffer"] if self.momentum != 0.0 else [])
                + (["grad_avg"] if self.centered else []))


class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan & Singer 2011), torch.optim.Adagrad's algorithm at step t:

        g <- g + weight_decay * p
        clr <- lr / (1 + (t - 1) lr_decay)
        s <- s + g^2                      (s starts at initial_accumulator_value)
        p <- p - clr g / (sqrt(s) + eps)
    """

    name = "adagrad"

    def __init__(self, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
        self.lr = _check("lr", lr, low=0.0, low_inclusive=False)
        self.lr_decay = _check("lr_decay", lr_decay, low=0.0)
        self.weight_decay = _check("weight_decay", weight_decay, low=0.0)
        self.initial_accumulator_value = _check("initial_accumulator_value", initial_accumulator_value, low=0.0)
        self.eps = _check("eps", eps, low=0.0)

    def config(self):
        return {"name": self.name, "lr": self.lr, "lr_decay": self.lr_decay, "weight_decay": self.weight_decay,
                "initial_accumulator_value": self.initial_accumulator_value, "eps": self.eps}

    def state_names(self):
        return ["sum"]

    def state_initial_values(self):
        return [self.initial_accumulator_value]


# In the order of the kernels' table (csrc/bindings/names.h), which must know each class's name.
OPTIMIZERS = {cls.name: cls for cls in sorted((SGD, Adam, AdamW, RMSprop, Adagrad),
                                              key=lambda c: list(_core.names["optimizer"]).index(c.name))}


def from_config(config):
    """The optimizer a config() dict describes (used by load())."""
    config = dict(config)
    name = config.pop("name", None)
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](**config)
