"""Optimizers: their hyperparameters, validated here from one table of constraints (CONSTRAINTS), and
the update itself, one fused C++ pass per parameter whose formula lives in the optimizer's own header
(csrc/include/fastmlp/optimizers/<name>.h). The kernels' registry says which optimizers exist, the
hyperparameters each reads and the state buffers each keeps; this module reads it. Names, arguments
and formulas follow torch.optim."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, ClassVar

from . import _core
from ._constraints import Flag, Interval, Pair

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Protocol

    from ._constraints import Constraint

    class OptimizerClass(Protocol):
        """An optimizer class of OPTIMIZERS: its kernel's name, its hyperparameters' names, and its
        constructor, which takes those hyperparameters (each with a default)."""

        name: str
        hyperparameters: tuple[str, ...]

        def __call__(self, *args: Any, **kwargs: Any) -> Optimizer: ...


__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "NAdam",
    "RAdam",
    "Adamax",
    "from_config",
    "CONSTRAINTS",
    "check_hyperparameter",
]


# Every hyperparameter of every optimizer, by its torch.optim name: the one place they are validated
# (the kernels take them as they are). A name means the same thing in every optimizer that takes it.
#: Every hyperparameter of every optimizer, by its torch.optim name, and its constraint.
#:
#: name -> the constraint its values must meet (a fastmlp._constraints rule: an interval, a flag or a
#: pair). A name means the same thing in every optimizer that takes it; this is the one place the
#: values are validated.
CONSTRAINTS: dict[str, Constraint] = {
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


def check_hyperparameter(name: str, value: object) -> Any:  # Any: the kind depends on the name
    """Check a hyperparameter's value against its constraint in `CONSTRAINTS`.

    Parameters
    ----------
    name : str
        A hyperparameter name, a key of `CONSTRAINTS`.
    value : object
        The value to check.

    Returns
    -------
    object
        The value as a plain Python value (a float, a bool, or a tuple of two floats for betas).

    Raises
    ------
    KeyError
        If `name` is not a key of `CONSTRAINTS`.
    TypeError
        If the value has the wrong type; the message names the hyperparameter.
    ValueError
        If the value is out of range; the message names the hyperparameter.

    Examples
    --------
    >>> from fastmlp import optim
    >>> optim.check_hyperparameter("lr", 1)
    1.0
    >>> optim.check_hyperparameter("lr", -1)
    Traceback (most recent call last):
    ...
    ValueError: lr must be a finite number > 0.0, got -1.0
    """
    return CONSTRAINTS[name].check(name, value)


class Optimizer:
    """Base class of the optimizers.

    A subclass's __init__ takes its hyperparameters by their torch.optim names and defaults (they become
    `hyperparameters`, config()'s keys in order) and hands them to _set, which checks each against
    CONSTRAINTS. The kernels' registry (csrc/include/fastmlp/optimizers/) must read the same keys.

    Attributes
    ----------
    name : str
        Selects the C++ kernel ("sgd", "adam", ...).
    hyperparameters : tuple of str
        The hyperparameters' names, in the order of the subclass's __init__.

    See Also
    --------
    from_config : The optimizer a `config` dict describes.

    Examples
    --------
    >>> from fastmlp import optim
    >>> issubclass(optim.Adam, optim.Optimizer)
    True
    >>> optim.Adam.hyperparameters
    ('lr', 'betas', 'eps', 'weight_decay', 'amsgrad')
    """

    name: ClassVar[str] = ""
    hyperparameters: ClassVar[tuple[str, ...]] = ()
    # Set by _set from the subclass's __init__: the learning rate, which every optimizer takes.
    lr: float

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.hyperparameters = tuple(inspect.signature(cls.__init__).parameters)[1:]

    def _set(self, arguments: Mapping[str, Any]) -> None:
        for key in self.hyperparameters:
            setattr(self, key, check_hyperparameter(key, arguments[key]))
        self._check_combination()

    def _check_combination(self) -> None:
        """Rules that tie hyperparameters together (each alone is checked by CONSTRAINTS)."""

    def config(self) -> dict[str, Any]:
        """The optimizer as a dict: what the trainer and save() see.

        Returns
        -------
        dict
            "name" and every hyperparameter (a pair such as betas as a list).

        Examples
        --------
        >>> from fastmlp import optim
        >>> optim.SGD(lr=0.1).config()
        {'name': 'sgd', 'lr': 0.1, 'momentum': 0.0, 'dampening': 0.0, 'nesterov': False, 'weight_decay': 0.0}
        """
        cfg: dict[str, Any] = {"name": self.name}
        for key in self.hyperparameters:
            value = getattr(self, key)
            cfg[key] = list(value) if isinstance(value, tuple) else value
        return cfg

    def _states(self) -> list[tuple[str, float]]:
        return _core.optimizer_states(self.config())

    def state_names(self) -> list[str]:
        """Names of the state buffers kept per parameter, in kernel order.

        Each buffer has its parameter's shape.

        Returns
        -------
        list of str
            The buffers' names, as torch names its `state` entries.

        Examples
        --------
        >>> from fastmlp import optim
        >>> optim.Adam().state_names()
        ['exp_avg', 'exp_avg_sq']
        """
        return [name for name, _ in self._states()]

    def state_count(self) -> int:
        """The number of state buffers kept per parameter.

        Returns
        -------
        int
            ``len(state_names())``.
        """
        return len(self.state_names())

    def state_initial_values(self) -> list[float]:
        """The value each state buffer starts at.

        Returns
        -------
        list of float
            One value per buffer of `state_names`: all zeros except Adagrad's accumulator, which
            starts at initial_accumulator_value.

        Examples
        --------
        >>> from fastmlp import optim
        >>> optim.Adagrad(initial_accumulator_value=0.1).state_initial_values()
        [0.1]
        """
        return [value for _, value in self._states()]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, torch.optim.SGD's algorithm.

    Per step, for a parameter p with gradient g::

        g <- g + weight_decay * p
        buf <- g (first step) or momentum * buf + (1 - dampening) * g      (when momentum > 0)
        g <- g + momentum * buf (nesterov) or buf
        p <- p - lr * g

    Parameters
    ----------
    lr : float, default 0.01
        The learning rate (> 0).
    momentum : float, default 0.0
        The momentum factor (>= 0; 0 keeps no buffer's effect).
    dampening : float, default 0.0
        The dampening of the momentum, in [0, 1].
    nesterov : bool, default False
        Nesterov momentum (needs momentum > 0 and dampening = 0).
    weight_decay : float, default 0.0
        The L2 penalty (>= 0) added to the gradient.

    Raises
    ------
    TypeError
        If a hyperparameter has the wrong type.
    ValueError
        If a hyperparameter is out of range, or nesterov=True without momentum > 0 and dampening = 0.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import ops, optim
    >>> opt = optim.SGD(lr=0.1, momentum=0.9)
    >>> opt
    SGD(lr=0.1, momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.0)
    >>> opt.state_names()
    ['momentum_buffer']

    The first step sets the buffer to the gradient, then p <- p - lr * buf:

    >>> p, g, buf = np.array([1.0, 2.0]), np.array([0.5, -0.5]), np.zeros(2)
    >>> ops.optimizer_update(opt, p, g, [buf], step=1)
    >>> p
    array([0.95, 2.05])
    """

    name = "sgd"
    momentum: float
    dampening: float
    nesterov: bool
    weight_decay: float

    def __init__(
        self,
        lr: float = 0.01,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        self._set(locals())

    def _check_combination(self) -> None:
        if self.nesterov and (self.momentum <= 0.0 or self.dampening != 0.0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening = 0")


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), torch.optim.Adam's algorithm.

    At step t, for a parameter p with gradient g::

        g <- g + weight_decay * p                                   (L2 penalty, coupled)
        m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
        amsgrad: v_max <- max(v_max, v), used in place of v          (Reddi et al. 2018)
        p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    Parameters
    ----------
    lr : float, default 1e-3
        The learning rate (> 0).
    betas : tuple of (float, float), default (0.9, 0.999)
        b1 and b2, the decay rates of the first and second moment estimates, each in [0, 1).
    eps : float, default 1e-8
        Added to the denominator (>= 0).
    weight_decay : float, default 0.0
        The L2 penalty (>= 0), added to the gradient (coupled).
    amsgrad : bool, default False
        Use the running maximum of v (Reddi et al. 2018).

    Raises
    ------
    TypeError
        If a hyperparameter has the wrong type.
    ValueError
        If a hyperparameter is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import ops, optim
    >>> opt = optim.Adam(lr=0.1)
    >>> opt.state_names()
    ['exp_avg', 'exp_avg_sq']

    The first step moves each element by about lr, against the sign of its gradient:

    >>> p, g = np.array([1.0, 2.0]), np.array([0.5, -0.5])
    >>> state = [np.zeros(2), np.zeros(2)]
    >>> ops.optimizer_update(opt, p, g, state, step=1)
    >>> p.round(6)
    array([0.9, 2.1])
    """

    name = "adam"
    betas: tuple[float, float]
    eps: float
    weight_decay: float
    amsgrad: bool

    def __init__(
        self,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        self._set(locals())


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay.

    The weight decay multiplies the parameter, p <- p (1 - lr weight_decay), before the Adam step,
    instead of adding weight_decay * p to the gradient.

    Parameters
    ----------
    lr : float, default 1e-3
        The learning rate (> 0).
    betas : tuple of (float, float), default (0.9, 0.999)
        b1 and b2, the decay rates of the moment estimates, each in [0, 1).
    eps : float, default 1e-8
        Added to the denominator (>= 0).
    weight_decay : float, default 1e-2
        The decoupled weight decay (>= 0).
    amsgrad : bool, default False
        Use the running maximum of v (Reddi et al. 2018).

    Raises
    ------
    TypeError
        If a hyperparameter has the wrong type.
    ValueError
        If a hyperparameter is out of range.

    Examples
    --------
    >>> from fastmlp import optim
    >>> optim.AdamW(lr=0.1)
    AdamW(lr=0.1, betas=[0.9, 0.999], eps=1e-08, weight_decay=0.01, amsgrad=False)
    """

    name = "adamw"

    def __init__(
        self,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        self._set(locals())


class RMSprop(Optimizer):
    """RMSprop (Hinton, Coursera lecture 6e, 2012), torch.optim.RMSprop's algorithm.

    Per step, for a parameter p with gradient g::

        g <- g + weight_decay * p
        v <- alpha v + (1 - alpha) g^2
        centered: g_avg <- alpha g_avg + (1 - alpha) g, and v - g_avg^2 replaces v below
        d <- g / (sqrt(v) + eps)
        momentum > 0: buf <- momentum buf + d, p <- p - lr buf;  else p <- p - lr d

    Parameters
    ----------
    lr : float, default 1e-2
        The learning rate (> 0).
    alpha : float, default 0.99
        The smoothing constant of the squared-gradient average, in [0, 1].
    eps : float, default 1e-8
        Added to the denominator (>= 0).
    weight_decay : float, default 0.0
        The L2 penalty (>= 0) added to the gradient.
    momentum : float, default 0.0
        The momentum factor (>= 0).
    centered : bool, default False
        Normalize by the estimated variance of the gradient instead of its second moment.

    Raises
    ------
    TypeError
        If a hyperparameter has the wrong type.
    ValueError
        If a hyperparameter is out of range.

    Examples
    --------
    >>> from fastmlp import optim
    >>> optim.RMSprop(momentum=0.9, centered=True).state_names()
    ['square_avg', 'momentum_buffer', 'grad_avg']
    """

    name = "rmsprop"
    alpha: float
    eps: float
    weight_decay: float
    momentum: float
    centered: bool

    def __init__(
        self,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        self._set(locals())


class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan & Singer 2011), torch.optim.Adagrad's algorithm.

    At step t, for a parameter p with gradient g::

        g <- g + weight_decay * p
        clr <- lr / (1 + (t - 1) lr_decay)
        s <- s + g^2                      (s starts at initial_accumulator_value)
        p <- p - clr g / (sqrt(s) + eps)

    Parameters
    ----------
    lr : float, default 1e-2
        The learning rate (> 0).
    lr_decay : float, default 0.0
        The decay of the learning rate per step (>= 0).
    weight_decay : float, default 0.0
        The L2 penalty (>= 0) added to the gradient.
    initial_accumulator_value : float, default 0.0
        The value the accumulator s starts at (>= 0).
    eps : float, default 1e-10
        Added to the denominator (>= 0).

    Raises
    ------
    TypeError
        If a hyperparameter has the wrong type.
    ValueError
        If a hyperparameter is out of range.

    Examples
    --------
    >>> from fastmlp import optim
    >>> opt = optim.Adagrad(lr=0.5, initial_accumulator_value=0.1)
    >>> opt.state_names(), opt.state_initial_values()
    (['sum'], [0.1])
    """

    name = "adagrad"
    lr_decay: float
    weight_decay: float
    initial_accumulator_value: float
    eps: float

    def __init__(
        self,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        self._set(locals())


class NAdam(Optimizer):
    """NAdam (Dozat 2016, "Incorporating Nesterov Momentum into Adam"), torch.optim.NAdam's algorithm.

    At step t, with the momentum schedule mu_t = b1 (1 - 0.96^(t momentum_decay) / 2)::

        g <- g + weight_decay * p         (decoupled_weight_decay: p <- p (1 - lr weight_decay) instead)
        m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
        p <- p - lr [(1 - mu_t) g / (1 - prod_{i<=t} mu_i) + mu_{t+1} m / (1 - prod_{i<=t+1} mu_i)]
                    / (sqrt(v / (1 - b2^t)) + eps)

    torch keeps prod_{i<=t} mu_i (its mu_product) per parameter; fastmlp derives it from the step count,
    which the model saves, so it survives save/load and agrees across data-parallel ranks. A change of
    betas[0] or momentum_decay between fits therefore applies to the product of past steps too (torch
    would go on from the product so far).

    Parameters
    ----------
    lr : float, default 2e-3
        The learning rate (> 0).
    betas : tuple of (float, float), default (0.9, 0.999)
        b1 and b2, the decay rates of the moment estimates, each in [0, 1).
    eps : float, default 1e-8
        Added to the denominator (>= 0).
    weight_decay : float, default 0.0
        The weight decay (>= 0): an L2 penalty added to the gradient, or decoupled (see below).
    momentum_decay : float, default 4e-3
        The momentum_decay of the schedule mu_t (>= 0).
    decoupled_weight_decay : bool, default False
        Multiply p by (1 - lr weight_decay) instead of adding weight_decay * p to the gradient.

    Raises
    ------
    TypeError
        If a hyperparameter has the wrong type.
    ValueError
        If a hyperparameter is out of range.

    Examples
    --------
    >>> from fastmlp import optim
    >>> optim.NAdam(lr=0.1).state_names()
    ['exp_avg', 'exp_avg_sq']
    """

    name = "nadam"
    betas: tuple[float, float]
    eps: float
    weight_decay: float
    momentum_decay: float
    decoupled_weight_decay: bool

    def __init__(
        self,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
    ) -> None:
        self._set(locals())


class RAdam(Optimizer):
    """RAdam (Liu et al. 2020), torch.optim.RAdam's algorithm.

    From "On the Variance of the Adaptive Learning Rate and Beyond"; at step t::

        g <- g + weight_decay * p         (decoupled_weight_decay: p <- p (1 - lr weight_decay) instead)
        m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2;   m^ = m / (1 - b1^t)
        rho_inf = 2 / (1 - b2) - 1;   rho_t = rho_inf - 2 t b2^t / (1 - b2^t)
        rho_t > 5:  r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
                    p <- p - lr m^ r sqrt(1 - b2^t) / (sqrt(v) + eps)
        otherwise:  p <- p - lr m^         (the variance is not tractable yet: SGD with momentum)

    Parameters
    ----------
    lr : float, default 1e-3
        The learning rate (> 0).
    betas : tuple of (float, float), default (0.9, 0.999)
        b1 and b2, the decay rates of the moment estimates, each in [0, 1).
    eps : float, default 1e-8
        Added to the denominator (>= 0).
    weight_decay : float, default 0.0
        The weight decay (>= 0): an L2 penalty added to the gradient, or decoupled (see below).
    decoupled_weight_decay : bool, default False
        Multiply p by (1 - lr weight_decay) instead of adding weight_decay * p to the gradient.

    Raises
    ------
    TypeError
        If a hyperparameter has the wrong type.
    ValueError
        If a hyperparameter is out of range.

    Examples
    --------
    >>> from fastmlp import optim
    >>> optim.RAdam(lr=0.1, decoupled_weight_decay=True, weight_decay=0.01).config()["decoupled_weight_decay"]
    True
    """

    name = "radam"
    betas: tuple[float, float]
    eps: float
    weight_decay: float
    decoupled_weight_decay: bool

    def __init__(
        self,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
    ) -> None:
        self._set(locals())


class Adamax(Optimizer):
    """Adamax (Kingma & Ba 2015, section 7.1: Adam with the infinity norm), torch.optim.Adamax's algorithm.

    At step t, for a parameter p with gradient g::

        g <- g + weight_decay * p
        m <- b1 m + (1 - b1) g;   u <- max(b2 u, |g| + eps)      (eps inside the max, as torch has it)
        p <- p - lr / (1 - b1^t) * m / u

    Parameters
    ----------
    lr : float, default 2e-3
        The learning rate (> 0).
    betas : tuple of (float, float), default (0.9, 0.999)
        b1 and b2, the decay rates of the first moment and of the infinity norm, each in [0, 1).
    eps : float, default 1e-8
        Added inside the max (>= 0).
    weight_decay : float, default 0.0
        The L2 penalty (>= 0) added to the gradient.

    Raises
    ------
    TypeError
        If a hyperparameter has the wrong type.
    ValueError
        If a hyperparameter is out of range.

    Examples
    --------
    >>> from fastmlp import optim
    >>> optim.Adamax(lr=0.1).state_names()
    ['exp_avg', 'exp_inf']
    """

    name = "adamax"
    betas: tuple[float, float]
    eps: float
    weight_decay: float

    def __init__(
        self, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0
    ) -> None:
        self._set(locals())


# Every optimizer of the kernels' registry that has its class here, in the registry's order
# (csrc/include/fastmlp/optimizers/list.h); tests check that none lacks one.
_CLASSES: dict[str, OptimizerClass] = {
    cls.name: cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, NAdam, RAdam, Adamax)
}
OPTIMIZERS: dict[str, OptimizerClass] = {name: _CLASSES[name] for name in _core.names["optimizer"] if name in _CLASSES}


def from_config(config: Mapping[str, Any]) -> Optimizer:
    """The optimizer a config() dict describes (used by load()).

    Parameters
    ----------
    config : dict
        "name" (a key of OPTIMIZERS: "sgd", "adam", ...) and any of that optimizer's hyperparameters;
        those left out take their defaults.

    Returns
    -------
    Optimizer
        A new optimizer of that kind.

    Raises
    ------
    ValueError
        If the name is unknown, or a hyperparameter is out of range.
    TypeError
        If a hyperparameter is not one the optimizer takes, or has the wrong type.

    Examples
    --------
    >>> from fastmlp import optim
    >>> optim.from_config({"name": "adam", "lr": 0.01})
    Adam(lr=0.01, betas=[0.9, 0.999], eps=1e-08, weight_decay=0.0, amsgrad=False)
    >>> opt = optim.SGD(lr=0.1, momentum=0.9)
    >>> optim.from_config(opt.config()).config() == opt.config()
    True
    """
    config = dict(config)
    name = config.pop("name", None)
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](**config)
