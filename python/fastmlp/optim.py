"""Optimizers: their hyperparameters, validated here from one table of constraints (CONSTRAINTS), and
the update itself, one fused C++ pass per parameter whose formula lives in the optimizer's own header
(csrc/include/fastmlp/optimizers/<name>.h). The kernels' registry says which optimizers exist, the
hyperparameters each reads and the state buffers each keeps; this module reads it. Names, arguments
and formulas follow torch.optim."""

from __future__ import annotations

import inspect

from . import _core
from ._constraints import Flag, Interval, Pair

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam", "RAdam", "Adamax",
           "from_config", "CONSTRAINTS",
           "check_hyperparameter"]


# Every hyperparameter of every optimizer, by its torch.optim name: the one place they are validated
# (the kernels take them as they are). A name means the same thing in every optimizer that takes it.
CONSTRAINTS = {
    "lr": Interval(">", 0.0),
    "momentum": Interval(">=", 0.0),
    "dampening": Interval(">=", 0.0, "<=", 1.0),
    "nesterov": Flag(),
    "weight_decay": Interval(">=", 0.0),
    "betas": Pair(Interval(">=", 0.0, "<", 1.0)),
    "eps": Interval(">=", 0.0),
    "amsgrad": Flag(),
    "alpha": Interval(">=", 0.0, "<=", 1.0),
    "centered": Flag(),
    "lr_decay": Interval(">=", 0.0),
    "initial_accumulator_value": Interval(">=", 0.0),
    "momentum_decay": Interval(">=", 0.0),
    "decoupled_weight_decay": Flag(),
}


def check_hyperparameter(name, value):
    """value checked against CONSTRAINTS[name] (TypeError or ValueError naming it), as a plain Python value."""
    return CONSTRAINTS[name].check(name, value)


class Optimizer:
    """Base class: `name` selects the C++ kernel, `config()` is what the trainer and save() see.

    A subclass's __init__ takes its hyperparameters by their torch.optim names and defaults (they become
    `hyperparameters`, config()'s keys in order) and hands them to _set, which checks each against
    CONSTRAINTS. The kernels' registry (csrc/include/fastmlp/optimizers/) must read the same keys."""

    name = ""
    hyperparameters = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.hyperparameters = tuple(inspect.signature(cls.__init__).parameters)[1:]

    def _set(self, arguments):
        for key in self.hyperparameters:
            setattr(self, key, check_hyperparameter(key, arguments[key]))
        self._check_combination()

    def _check_combination(self):
        """Rules that tie hyperparameters together (each alone is checked by CONSTRAINTS)."""

    def config(self):
        cfg = {"name": self.name}
        for key in self.hyperparameters:
            value = getattr(self, key)
            cfg[key] = list(value) if isinstance(value, tuple) else value
        return cfg

    def _states(self):
        return _core.optimizer_states(self.config())

    def state_names(self):
        """Names of the state buffers kept per parameter (each the parameter's shape), in kernel order."""
        return [name for name, _ in self._states()]

    def state_count(self):
        return len(self.state_names())

    def state_initial_values(self):
        """The value each state buffer starts at (all zeros except Adagrad's accumulator)."""
        return [value for _, value in self._states()]

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
        self._set(locals())

    def _check_combination(self):
        if self.nesterov and (self.momentum <= 0.0 or self.dampening != 0.0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening = 0")


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), torch.optim.Adam's algorithm at step t:

        g <- g + weight_decay * p                                   (L2 penalty, coupled)
        m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
        amsgrad: v_max <- max(v_max, v), used in place of v          (Reddi et al. 2018)
        p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """

    name = "adam"

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        self._set(locals())


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay, p <- p (1 - lr weight_decay)
    before the Adam step instead of adding weight_decay * p to the gradient."""

    name = "adamw"

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        self._set(locals())


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
        self._set(locals())


class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan & Singer 2011), torch.optim.Adagrad's algorithm at step t:

        g <- g + weight_decay * p
        clr <- lr / (1 + (t - 1) lr_decay)
        s <- s + g^2                      (s starts at initial_accumulator_value)
        p <- p - clr g / (sqrt(s) + eps)
    """

    name = "adagrad"

    def __init__(self, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
        self._set(locals())


class NAdam(Optimizer):
    """NAdam (Dozat 2016, "Incorporating Nesterov Momentum into Adam"), torch.optim.NAdam's algorithm at
    step t, with the momentum schedule mu_t = b1 (1 - 0.96^(t momentum_decay) / 2):

        g <- g + weight_decay * p         (decoupled_weight_decay: p <- p (1 - lr weight_decay) instead)
        m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
        p <- p - lr [(1 - mu_t) g / (1 - prod_{i<=t} mu_i) + mu_{t+1} m / (1 - prod_{i<=t+1} mu_i)]
                    / (sqrt(v / (1 - b2^t)) + eps)

    torch keeps prod_{i<=t} mu_i (its mu_product) per parameter; fastmlp derives it from the step count,
    which the model saves, so it survives save/load and agrees across data-parallel ranks. A change of
    betas[0] or momentum_decay between fits therefore applies to the product of past steps too (torch
    would go on from the product so far).
    """

    name = "nadam"

    def __init__(self, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
                 decoupled_weight_decay=False):
        self._set(locals())


class RAdam(Optimizer):
    """RAdam (Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and Beyond"), torch.optim.RAdam's
    algorithm at step t:

        g <- g + weight_decay * p         (decoupled_weight_decay: p <- p (1 - lr weight_decay) instead)
        m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2;   m^ = m / (1 - b1^t)
        rho_inf = 2 / (1 - b2) - 1;   rho_t = rho_inf - 2 t b2^t / (1 - b2^t)
        rho_t > 5:  r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
                    p <- p - lr m^ r sqrt(1 - b2^t) / (sqrt(v) + eps)
        otherwise:  p <- p - lr m^         (the variance is not tractable yet: SGD with momentum)
    """

    name = "radam"

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False):
        self._set(locals())


class Adamax(Optimizer):
    """Adamax (Kingma & Ba 2015, section 7.1: Adam with the infinity norm), torch.optim.Adamax's algorithm
    at step t:

        g <- g + weight_decay * p
        m <- b1 m + (1 - b1) g;   u <- max(b2 u, |g| + eps)      (eps inside the max, as torch has it)
        p <- p - lr / (1 - b1^t) * m / u
    """

    name = "adamax"

    def __init__(self, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self._set(locals())


# Every optimizer of the kernels' registry that has its class here, in the registry's order
# (csrc/include/fastmlp/optimizers/list.h); tests check that none lacks one.
_CLASSES = {cls.name: cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, NAdam, RAdam, Adamax)}
OPTIMIZERS = {name: _CLASSES[name] for name in _core.names["optimizer"] if name in _CLASSES}


def from_config(config):
    """The optimizer a config() dict describes (used by load())."""
    config = dict(config)
    name = config.pop("name", None)
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](**config)
