"""The NumPy float64 twins of the optimizers' kernels (fastmlp.ops.optimizer_update), re-exported by
fastmlp.reference: one function per optimizer, the formula and its source in its docstring, and
optimizer_step, which runs the one a fastmlp.optim config() names."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, cast

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from numpy.typing import ArrayLike, NDArray

    #: An optimizer's state buffers as the twins take them: None for a fresh one.
    State = Sequence[ArrayLike | None]
    #: (the new parameter, the new state buffers), float64.
    Stepped = tuple[NDArray[np.float64], list[NDArray[np.float64]]]
    #: What _STEPS holds: (param, grad, state padded or not, step, lr, the other hyperparameters).
    Twin = Callable[[ArrayLike, ArrayLike, list[ArrayLike | None], int, float, dict[str, Any]], Stepped]


def sgd_update(param: ArrayLike, grad: ArrayLike, lr: float) -> NDArray[np.float64]:
    """Plain gradient descent: p <- p - lr * g.

    Parameters
    ----------
    param : array_like
        The parameter p.
    grad : array_like
        Its gradient g.
    lr : float
        The learning rate.

    Returns
    -------
    numpy.ndarray
        The new parameter, float64.

    Examples
    --------
    >>> from fastmlp import reference
    >>> reference.sgd_update([1.0, 2.0], [1.0, 1.0], 0.1)
    array([0.9, 1.9])
    """
    return np.asarray(param, np.float64) - lr * np.asarray(grad, np.float64)


def sgd_step(
    param: ArrayLike,
    grad: ArrayLike,
    buf: ArrayLike | None,
    step: int,
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
) -> tuple[NDArray[np.float64], ArrayLike | None]:
    """SGD, torch.optim.SGD's documented algorithm.

    g += weight_decay p; with momentum, buf = g on the first step else momentum buf + (1 - dampening) g,
    and g = g + momentum buf (nesterov) or buf; p -= lr g.

    Parameters
    ----------
    param : array_like
        The parameter p.
    grad : array_like
        Its gradient g.
    buf : array_like or None
        The momentum buffer (not read on the first step).
    step : int
        The 1-based number of this step.
    lr : float
        The learning rate.
    momentum : float, default 0.0
        The momentum factor.
    dampening : float, default 0.0
        The dampening of the momentum.
    nesterov : bool, default False
        Nesterov momentum.
    weight_decay : float, default 0.0
        The L2 penalty.

    Returns
    -------
    param : numpy.ndarray
        The new parameter, float64.
    buf : numpy.ndarray or None
        The new momentum buffer (buf as given without momentum).

    Examples
    --------
    >>> from fastmlp import reference
    >>> reference.sgd_step([1.0, 2.0], [0.5, -0.5], None, 1, 0.1, momentum=0.9)
    (array([0.95, 2.05]), array([ 0.5, -0.5]))
    """
    p = np.asarray(param, np.float64)
    g = np.asarray(grad, np.float64) + weight_decay * p
    if momentum != 0.0:
        if step > 1 and buf is None:
            raise TypeError("sgd_step with momentum needs buf, the momentum buffer, after the first step")
        buf = g.copy() if step <= 1 else momentum * np.asarray(buf, np.float64) + (1.0 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return p - lr * g, buf


def _decay_and_moments(
    param: ArrayLike,
    grad: ArrayLike,
    state: State,
    lr: float,
    betas: tuple[float, float],
    weight_decay: float,
    decoupled: bool,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """What Adam, AdamW, NAdam and RAdam begin with: the weight decay, g += wd p (decoupled:
    p *= 1 - lr wd instead), then m = b1 m + (1-b1) g and v = b2 v + (1-b2) g^2 from state = [m, v]
    (None: zeros). Returns (p, g, m, v), p a new array."""
    p = np.asarray(param, np.float64).copy()
    g = np.asarray(grad, np.float64)
    b1, b2 = betas
    m, v = [np.zeros_like(p) if a is None else np.asarray(a, np.float64) for a in state[:2]]
    if decoupled:
        p = p * (1.0 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    return p, g, b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g


def adam_step(
    param: ArrayLike,
    grad: ArrayLike,
    state: State,
    step: int,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    decoupled: bool = False,
) -> Stepped:
    """Adam (Kingma & Ba 2015) as torch.optim.Adam documents it, and AdamW.

    AdamW (Loshchilov & Hutter 2019) when decoupled: ``p *= 1 - lr wd`` instead of ``g += wd p``.
    m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2, v_max = max(v_max, v) with amsgrad,
    p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
    state = [m, v(, v_max)] (None: zeros).

    Parameters
    ----------
    param : array_like
        The parameter p.
    grad : array_like
        Its gradient g.
    state : list of array_like or None
        The state buffers, as listed above (None: zeros).
    step : int
        t, the 1-based number of this step.
    lr : float
        The learning rate.
    betas : tuple of (float, float), default (0.9, 0.999)
        b1 and b2.
    eps : float, default 1e-8
        The eps of the formula.
    weight_decay : float, default 0.0
        wd.
    amsgrad : bool, default False
        Keep v_max.
    decoupled : bool, default False
        AdamW's decoupled weight decay.

    Returns
    -------
    param : numpy.ndarray
        The new parameter, float64.
    state : list of numpy.ndarray
        The new state buffers.
    """
    b1, b2 = betas
    p, g, m, v = _decay_and_moments(param, grad, state, lr, betas, weight_decay, decoupled)
    new_state = [m, v]
    second = v
    if amsgrad:
        vmax = np.zeros_like(p) if state[2] is None else np.asarray(state[2], np.float64)
        vmax = np.maximum(vmax, v)
        new_state.append(vmax)
        second = vmax
    p = p - lr / (1 - b1**step) * m / (np.sqrt(second) / np.sqrt(1 - b2**step) + eps)
    return p, new_state


def rmsprop_step(
    param: ArrayLike,
    grad: ArrayLike,
    state: State,
    step: int,
    lr: float,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
) -> Stepped:
    """RMSprop (Hinton 2012) as torch.optim.RMSprop documents it.

    g += wd p; v = alpha v + (1-alpha) g^2;
    centered: g_avg = alpha g_avg + (1-alpha) g and v - g_avg^2 in place of v; d = g / (sqrt(v) + eps);
    momentum: buf = momentum buf + d, p -= lr buf; else p -= lr d.
    state = [square_avg(, momentum_buffer)(, grad_avg)] (None: zeros).

    Parameters
    ----------
    param : array_like
        The parameter p.
    grad : array_like
        Its gradient g.
    state : list of array_like or None
        The state buffers, as listed above (None: zeros).
    step : int
        t, the 1-based number of this step.
    lr : float
        The learning rate.
    alpha : float, default 0.99
        The smoothing constant.
    eps : float, default 1e-8
        The eps of the formula.
    weight_decay : float, default 0.0
        wd.
    momentum : float, default 0.0
        The momentum factor.
    centered : bool, default False
        Subtract the squared gradient average.

    Returns
    -------
    param : numpy.ndarray
        The new parameter, float64.
    state : list of numpy.ndarray
        The new state buffers.
    """
    p = np.asarray(param, np.float64)
    g = np.asarray(grad, np.float64) + weight_decay * p
    state = cast(
        "list[NDArray[np.float64]]", [np.zeros_like(p) if a is None else np.asarray(a, np.float64) for a in state]
    )
    sq = alpha * state[0] + (1 - alpha) * g * g
    new_state = [sq]
    var = sq
    if momentum != 0.0:
        new_state.append(state[1])
    if centered:
        gavg = alpha * state[-1] + (1 - alpha) * g
        var = sq - gavg * gavg
        new_state.append(gavg)
    d = g / (np.sqrt(var) + eps)
    if momentum != 0.0:
        new_state[1] = momentum * new_state[1] + d
        return p - lr * new_state[1], new_state
    return p - lr * d, new_state


def adagrad_step(
    param: ArrayLike,
    grad: ArrayLike,
    state: State,
    step: int,
    lr: float,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    initial_accumulator_value: float = 0.0,
    eps: float = 1e-10,
) -> Stepped:
    """Adagrad (Duchi et al. 2011) as torch.optim.Adagrad documents it.

    g += wd p;
    clr = lr / (1 + (t-1) lr_decay); s += g^2 (s starts at initial_accumulator_value);
    p -= clr g / (sqrt(s) + eps).

    Parameters
    ----------
    param : array_like
        The parameter p.
    grad : array_like
        Its gradient g.
    state : list of array_like or None
        [s] (None: initial_accumulator_value).
    step : int
        t, the 1-based number of this step.
    lr : float
        The learning rate.
    lr_decay : float, default 0.0
        The decay of the learning rate per step.
    weight_decay : float, default 0.0
        wd.
    initial_accumulator_value : float, default 0.0
        The value s starts at.
    eps : float, default 1e-10
        The eps of the formula.

    Returns
    -------
    param : numpy.ndarray
        The new parameter, float64.
    state : list of numpy.ndarray
        [s], the new accumulator.
    """
    p = np.asarray(param, np.float64)
    g = np.asarray(grad, np.float64) + weight_decay * p
    s = np.full_like(p, initial_accumulator_value) if state[0] is None else np.asarray(state[0], np.float64)
    s = s + g * g
    clr = lr / (1 + (step - 1) * lr_decay)
    return p - clr * g / (np.sqrt(s) + eps), [s]


def nadam_mu_product(beta1: float, momentum_decay: float, step: int) -> float:
    """prod_{i=1..t} mu_i with mu_i = beta1 (1 - 0.96^(i momentum_decay) / 2).

    The mu_product that torch.optim.NAdam keeps per parameter, from the step count alone.

    Parameters
    ----------
    beta1 : float
        b1.
    momentum_decay : float
        The momentum decay psi.
    step : int
        t.

    Returns
    -------
    float
        The product (1 for t = 0).

    Examples
    --------
    >>> from fastmlp import reference
    >>> round(reference.nadam_mu_product(0.9, 0.004, 1), 6)  # 0.9 (1 - 0.96^0.004 / 2)
    0.450073
    """
    return math.prod(beta1 * (1.0 - 0.5 * 0.96 ** (i * momentum_decay)) for i in range(1, step + 1))


def nadam_step(
    param: ArrayLike,
    grad: ArrayLike,
    state: State,
    step: int,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum_decay: float = 4e-3,
    decoupled_weight_decay: bool = False,
) -> Stepped:
    """NAdam (Dozat 2016) as torch.optim.NAdam documents it.

    From "Incorporating Nesterov Momentum into Adam"::

        g += wd p (decoupled_weight_decay: p *= 1 - lr wd instead); mu_t = b1 (1 - 0.96^(t psi) / 2);
        m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2;
        p -= lr [(1 - mu_t) g / (1 - prod_{i<=t} mu_i) + mu_{t+1} m / (1 - prod_{i<=t+1} mu_i)]
             / (sqrt(v / (1 - b2^t)) + eps).

    state = [m, v] (None: zeros).

    Parameters
    ----------
    param : array_like
        The parameter p.
    grad : array_like
        Its gradient g.
    state : list of array_like or None
        The state buffers, as listed above (None: zeros).
    step : int
        t, the 1-based number of this step.
    lr : float
        The learning rate.
    betas : tuple of (float, float), default (0.9, 0.999)
        b1 and b2.
    eps : float, default 1e-8
        The eps of the formula.
    weight_decay : float, default 0.0
        wd.
    momentum_decay : float, default 4e-3
        psi.
    decoupled_weight_decay : bool, default False
        Decoupled weight decay.

    Returns
    -------
    param : numpy.ndarray
        The new parameter, float64.
    state : list of numpy.ndarray
        The new state buffers.
    """
    b1, b2 = betas
    p, g, m, v = _decay_and_moments(param, grad, state, lr, betas, weight_decay, decoupled_weight_decay)
    mu_t = b1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))
    mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * momentum_decay))
    product = nadam_mu_product(b1, momentum_decay, step)
    m_hat = (1 - mu_t) * g / (1 - product) + mu_next * m / (1 - product * mu_next)
    p = p - lr * m_hat / (np.sqrt(v / (1 - b2**step)) + eps)
    return p, [m, v]


def radam_step(
    param: ArrayLike,
    grad: ArrayLike,
    state: State,
    step: int,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled_weight_decay: bool = False,
) -> Stepped:
    """RAdam (Liu et al. 2020) as torch.optim.RAdam documents it.

    From "On the Variance of the Adaptive Learning Rate and Beyond": g += wd p (decoupled_weight_decay:
    ``p *= 1 - lr wd`` instead); m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2, m^ = m / (1 - b1^t);
    rho_inf = 2 / (1 - b2) - 1, rho_t = rho_inf - 2 t b2^t / (1 - b2^t); if rho_t > 5:
    l = sqrt(1 - b2^t) / (sqrt(v) + eps), r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)),
    p -= lr m^ r l; else p -= lr m^. state = [m, v] (None: zeros).

    Parameters
    ----------
    param : array_like
        The parameter p.
    grad : array_like
        Its gradient g.
    state : list of array_like or None
        The state buffers, as listed above (None: zeros).
    step : int
        t, the 1-based number of this step.
    lr : float
        The learning rate.
    betas : tuple of (float, float), default (0.9, 0.999)
        b1 and b2.
    eps : float, default 1e-8
        The eps of the formula.
    weight_decay : float, default 0.0
        wd.
    decoupled_weight_decay : bool, default False
        Decoupled weight decay.

    Returns
    -------
    param : numpy.ndarray
        The new parameter, float64.
    state : list of numpy.ndarray
        The new state buffers.
    """
    b1, b2 = betas
    p, g, m, v = _decay_and_moments(param, grad, state, lr, betas, weight_decay, decoupled_weight_decay)
    m_hat = m / (1 - b1**step)
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * step * b2**step / (1 - b2**step)
    if rho_t > 5:
        adaptive = np.sqrt(1 - b2**step) / (np.sqrt(v) + eps)
        rect = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        return p - lr * m_hat * rect * adaptive, [m, v]
    return p - lr * m_hat, [m, v]


def adamax_step(
    param: ArrayLike,
    grad: ArrayLike,
    state: State,
    step: int,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> Stepped:
    """Adamax (Kingma & Ba 2015, section 7.1) as torch.optim.Adamax documents it.

    g += wd p;
    m = b1 m + (1-b1) g, ``u = max(b2 u, |g| + eps)`` (eps inside the max, as torch puts it);
    p -= lr / (1 - b1^t) * m / u. state = [m, u] (None: zeros).

    Parameters
    ----------
    param : array_like
        The parameter p.
    grad : array_like
        Its gradient g.
    state : list of array_like or None
        The state buffers, as listed above (None: zeros).
    step : int
        t, the 1-based number of this step.
    lr : float
        The learning rate.
    betas : tuple of (float, float), default (0.9, 0.999)
        b1 and b2.
    eps : float, default 1e-8
        The eps of the formula.
    weight_decay : float, default 0.0
        wd.

    Returns
    -------
    param : numpy.ndarray
        The new parameter, float64.
    state : list of numpy.ndarray
        The new state buffers.
    """
    p = np.asarray(param, np.float64)
    g = np.asarray(grad, np.float64) + weight_decay * p
    b1, b2 = betas
    m, u = [np.zeros_like(p) if a is None else np.asarray(a, np.float64) for a in state[:2]]
    m = b1 * m + (1 - b1) * g
    u = np.maximum(b2 * u, np.abs(g) + eps)
    return p - lr / (1 - b1**step) * m / u, [m, u]


def _sgd(
    param: ArrayLike, grad: ArrayLike, state: list[ArrayLike | None], step: int, lr: float, cfg: dict[str, Any]
) -> Stepped:
    p, buf = sgd_step(param, grad, state[0] if state else None, step, lr, **cfg)
    # (with momentum, buf is the new float64 buffer sgd_step made)
    return p, ([cast("NDArray[np.float64]", buf)] if cfg.get("momentum", 0.0) != 0.0 else [])


def _adam(decoupled: bool) -> Twin:
    def run(
        param: ArrayLike, grad: ArrayLike, state: list[ArrayLike | None], step: int, lr: float, cfg: dict[str, Any]
    ) -> Stepped:
        cfg["betas"] = tuple(cfg.get("betas", (0.9, 0.999)))
        return adam_step(param, grad, state + [None] * (3 - len(state)), step, lr, decoupled=decoupled, **cfg)

    return run


def _rmsprop(
    param: ArrayLike, grad: ArrayLike, state: list[ArrayLike | None], step: int, lr: float, cfg: dict[str, Any]
) -> Stepped:
    count = 1 + (cfg.get("momentum", 0.0) != 0.0) + bool(cfg.get("centered", False))
    return rmsprop_step(param, grad, state + [None] * (count - len(state)), step, lr, **cfg)


def _adagrad(
    param: ArrayLike, grad: ArrayLike, state: list[ArrayLike | None], step: int, lr: float, cfg: dict[str, Any]
) -> Stepped:
    return adagrad_step(param, grad, state or [None], step, lr, **cfg)


def _two_moments(twin: Callable[..., Stepped]) -> Twin:
    """The twin of an optimizer with two buffers (exp_avg and a second moment) and betas."""

    def run(
        param: ArrayLike, grad: ArrayLike, state: list[ArrayLike | None], step: int, lr: float, cfg: dict[str, Any]
    ) -> Stepped:
        cfg["betas"] = tuple(cfg.get("betas", (0.9, 0.999)))
        return twin(param, grad, state + [None] * (2 - len(state)), step, lr, **cfg)

    return run


# name -> its twin, called with the config's other hyperparameters and the state list padded with None
# (fresh buffers) to the optimizer's count.
_STEPS: dict[str, Twin] = {
    "sgd": _sgd,
    "adam": _adam(False),
    "adamw": _adam(True),
    "rmsprop": _rmsprop,
    "adagrad": _adagrad,
    "nadam": _two_moments(nadam_step),
    "radam": _two_moments(radam_step),
    "adamax": _two_moments(adamax_step),
}


def optimizer_step(
    config: Mapping[str, Any], param: ArrayLike, grad: ArrayLike, state: State, step: int, lr: float
) -> Stepped:
    """One step of the optimizer a fastmlp.optim config() describes.

    Parameters
    ----------
    config : dict
        An optimizer's config() ("name" and its hyperparameters; "lr" is not read).
    param : array_like
        The parameter.
    grad : array_like
        Its gradient.
    state : list
        The state buffers, or None entries for fresh ones.
    step : int
        The 1-based number of this step.
    lr : float
        The learning rate of this step.

    Returns
    -------
    param : numpy.ndarray
        The new parameter, float64.
    state : list of numpy.ndarray
        The new state buffers.

    Raises
    ------
    ValueError
        For an optimizer the reference lacks.

    Examples
    --------
    >>> from fastmlp import optim, reference
    >>> p, state = reference.optimizer_step(optim.Adam().config(), [1.0], [0.5], [None, None], 1, 0.1)
    >>> p.round(6)
    array([0.9])
    """
    cfg = dict(config)
    name = cfg.pop("name", "sgd")
    cfg.pop("lr", None)
    if name not in _STEPS:
        raise ValueError(f"unknown optimizer {name!r}; the reference has: {', '.join(_STEPS)}")
    return _STEPS[name](param, grad, list(state), step, lr, cfg)
