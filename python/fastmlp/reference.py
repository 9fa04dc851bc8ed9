"""The NumPy reference: the specification every C++ and CUDA kernel is tested against.

Each function is the simplest correct float64 code for one kernel, with the formula it implements and
its source in the docstring. Nothing here is fast on purpose; everything here is meant to be read.
Shapes: x (n, k) a batch of n samples with k features; w (k, m) a dense layer's weight; b (m,).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, cast

import numpy as np

# The optimizers' twins, one function per optimizer, live beside this file (the seam where it passed
# 600 lines); they are part of this module's API.
from ._reference_optim import (
    adagrad_step,
    adam_step,
    adamax_step,
    nadam_mu_product,
    nadam_step,
    optimizer_step,
    radam_step,
    rmsprop_step,
    sgd_step,
    sgd_update,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "philox4x32",
    "uniform01",
    "standard_normal",
    "matmul",
    "vector_function",
    "activation_forward",
    "activation_backward",
    "activation_backward_from_output",
    "needs_z",
    "dense_forward",
    "dense_backward",
    "softmax",
    "sigmoid",
    "loss",
    "loss_grad",
    "init",
    "permutation",
    "sgd_update",
    "sgd_step",
    "adam_step",
    "rmsprop_step",
    "adagrad_step",
    "nadam_step",
    "nadam_mu_product",
    "radam_step",
    "adamax_step",
    "optimizer_step",
    "clip_gradients",
    "mlp_forward",
    "mlp_loss_grad",
    "dropout_threshold",
    "dropout_keep",
    "train_epoch",
    "parse_csv",
]

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
_MASK = np.uint64(0xFFFFFFFF)
DOMAIN_INIT, DOMAIN_SHUFFLE, DOMAIN_DROPOUT = 1, 2, 3
TRUNCATED_STD = 0.87962566103423978  # std of a unit normal truncated to [-2, 2]


def philox4x32(counter: ArrayLike, key: ArrayLike) -> NDArray[np.uint32]:
    """Philox4x32-10 (Salmon et al., SC'11, "Parallel random numbers: as easy as 1, 2, 3").

    Ten rounds of (c0, c1, c2, c3) <- (hi(M1 c2) ^ c1 ^ k0, lo(M1 c2), hi(M0 c0) ^ c3 ^ k1, lo(M0 c0)),
    with the key bumped by the Weyl constants (W0, W1) after each round.

    Parameters
    ----------
    counter : array_like of shape (..., 4)
        The counters, uint32 words.
    key : array_like of shape (..., 2)
        The keys, uint32 words.

    Returns
    -------
    numpy.ndarray of shape (..., 4)
        The random words, uint32.

    Examples
    --------
    >>> from fastmlp import reference
    >>> reference.philox4x32([0, 0, 0, 0], [0, 0]).shape
    (4,)
    """
    c = np.asarray(counter, dtype=np.uint64)
    k = np.asarray(key, dtype=np.uint64)
    c0, c1, c2, c3 = c[..., 0], c[..., 1], c[..., 2], c[..., 3]
    k0, k1 = k[..., 0] + 0 * c0, k[..., 1] + 0 * c0
    for _ in range(10):
        p0, p1 = _M0 * c0, _M1 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & _MASK, p1 & _MASK, ((p0 >> 32) ^ c3 ^ k1) & _MASK, p0 & _MASK
        k0, k1 = (k0 + _W0) & _MASK, (k1 + _W1) & _MASK
    return np.stack([c0, c1, c2, c3], axis=-1).astype(np.uint32)


def _philox_at(seed: int, domain: int, stream: int, index: ArrayLike, attempt: int = 0) -> NDArray[np.uint32]:
    """Words for elements `index` of `stream` in `domain`: counter (lo(i), hi(i), stream, domain<<24 | attempt),
    key (lo(seed), hi(seed)) — the layout of csrc/include/fastmlp/rng.h."""
    index = np.asarray(index, dtype=np.uint64)
    seed = int(seed) & 0xFFFFFFFFFFFFFFFF
    ctr = np.stack(
        [
            index & _MASK,
            index >> np.uint64(32),
            np.full_like(index, int(stream) & 0xFFFFFFFF),
            np.full_like(index, (int(domain) << 24) | int(attempt)),
        ],
        axis=-1,
    )
    return philox4x32(ctr, np.array([seed & 0xFFFFFFFF, seed >> 32], dtype=np.uint64))


def uniform01(hi: ArrayLike, lo: ArrayLike) -> NDArray[np.float64]:
    """53 random bits -> float64 in [0, 1): ((hi << 32 | lo) >> 11) * 2^-53.

    Parameters
    ----------
    hi : array_like of uint32
        The high words.
    lo : array_like of uint32
        The low words.

    Returns
    -------
    numpy.ndarray
        The uniform draws, float64 in [0, 1).

    Examples
    --------
    >>> from fastmlp import reference
    >>> float(reference.uniform01(2**31, 0))
    0.5
    """
    bits = (np.asarray(hi, dtype=np.uint64) << np.uint64(32)) | np.asarray(lo, dtype=np.uint64)
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def standard_normal(words: NDArray[np.integer[Any]]) -> NDArray[np.float64]:
    """Box-Muller (1958) on one Philox draw: sqrt(-2 ln(1 - u1)) cos(2 pi u2).

    u1 comes from words 0 and 1, u2 from words 2 and 3 (see uniform01).

    Parameters
    ----------
    words : numpy.ndarray of shape (..., 4)
        Philox output words.

    Returns
    -------
    numpy.ndarray of shape (...)
        One standard normal draw per set of four words, float64.
    """
    u1 = 1.0 - uniform01(words[..., 0], words[..., 1])
    u2 = uniform01(words[..., 2], words[..., 3])
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(6.283185307179586 * u2)


def matmul(a: ArrayLike, b: ArrayLike, trans_a: bool = False, trans_b: bool = False) -> NDArray[np.float64]:
    """C = op(a) op(b), op(t) = t.T when asked: the GEMM every dense product is made of.

    Parameters
    ----------
    a : array_like
        A 2-D array.
    b : array_like
        A 2-D array.
    trans_a : bool, default False
        Use a.T.
    trans_b : bool, default False
        Use b.T.

    Returns
    -------
    numpy.ndarray
        The product, float64.

    Examples
    --------
    >>> from fastmlp import reference
    >>> reference.matmul([[1.0, 2.0]], [[3.0, 4.0]], trans_a=True)
    array([[3., 4.],
           [6., 8.]])
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return (a.T if trans_a else a) @ (b.T if trans_b else b)


# SELU's constants (Klambauer et al. 2017, as torch.nn.SELU).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_PARAMS: dict[str, dict[str, float | None]] = {
    "leaky_relu": {"negative_slope": None},
    "elu": {"alpha": 1.0},
    "softplus": {"beta": 1.0, "threshold": 20.0},
}
_NEEDS_Z = ("gelu", "gelu_tanh", "silu", "elu", "softplus", "selu")
_ALIASES = {"linear": "identity", "logistic": "sigmoid", "swish": "silu"}


def _activation(name: str, negative_slope: float) -> tuple[str, dict[str, float]]:
    """(kind, parameters) of a name such as "elu(alpha=0.5)"; a leaky_relu without its own slope takes
    negative_slope."""
    kind, _, inside = name.partition("(")
    kind = _ALIASES.get(kind.strip(), kind.strip())
    p = {k: (negative_slope if v is None else v) for k, v in _PARAMS.get(kind, {}).items()}
    for item in filter(None, (i.strip() for i in inside.rstrip(") ").split(","))):
        key, value = item.split("=")
        p[key.strip()] = float(value)
    return kind, p


def _erf(x: ArrayLike) -> NDArray[np.float64]:
    """The error function elementwise, from the standard library (NumPy has none)."""
    import math

    return np.vectorize(math.erf, otypes=[np.float64])(x)


def vector_function(name: str, x: ArrayLike) -> NDArray[np.floating[Any]]:
    """The functions the CPU kernels evaluate themselves (fastmlp/vec_math.h).

    exp, expm1 = e^x - 1, log1p = log(1 + x), tanh, and logistic = 1 / (1 + e^-x) (as e^x / (1 + e^x)
    for x < 0, which never overflows), and erf (math.erf, float64 only). NumPy's, in float64, or in a
    wider float (np.longdouble) when x is one.

    Parameters
    ----------
    name : {"exp", "expm1", "log1p", "tanh", "logistic", "erf"}
        The function.
    x : array_like
        Its argument.

    Returns
    -------
    numpy.ndarray
        The values, float64 (or x's wider float).

    Raises
    ------
    ValueError
        For an unknown function.

    Examples
    --------
    >>> from fastmlp import reference
    >>> reference.vector_function("logistic", [-1000.0, 0.0])
    array([0. , 0.5])
    """
    x = np.asarray(x)
    x = x.astype(np.promote_types(x.dtype, np.float64))
    if name == "erf":
        return np.vectorize(math.erf, otypes=[np.float64])(x.astype(np.float64))
    if name == "logistic":
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    functions = {"exp": np.exp, "expm1": np.expm1, "log1p": np.log1p, "tanh": np.tanh}
    if name not in functions:
        raise ValueError(f"unknown function {name!r}")
    with np.errstate(all="ignore"):
        return functions[name](x)


def activation_forward(name: str, z: ArrayLike, negative_slope: float = 0.01) -> NDArray[np.float64]:
    """a = act(z), elementwise.

    identity z; step [z >= 0] (Heaviside, the perceptron's); sigmoid 1 / (1 + e^-z);
    tanh; relu max(z, 0); leaky_relu z if z > 0 else negative_slope * z (Maas et al. 2013); gelu
    z Phi(z) = z (1 + erf(z / sqrt 2)) / 2 and gelu_tanh 0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3)))
    (Hendrycks & Gimpel 2016); silu z sigmoid(z) (Elfwing et al. 2018); elu z if z > 0 else
    alpha (e^z - 1) (Clevert et al. 2016); softplus log(1 + e^(beta z)) / beta, z where beta z >
    threshold (torch.nn.Softplus); selu scale * elu(z) with alpha, scale of Klambauer et al. 2017.

    Parameters
    ----------
    name : str
        An activation name (aliases and parameters as "elu(alpha=0.5)" accepted).
    z : array_like
        The pre-activations.
    negative_slope : float, default 0.01
        The slope of a leaky_relu that names none of its own.

    Returns
    -------
    numpy.ndarray
        act(z), float64.

    Raises
    ------
    ValueError
        For an unknown activation.

    Examples
    --------
    >>> from fastmlp import reference
    >>> reference.activation_forward("leaky_relu(negative_slope=0.1)", [-2.0, 3.0])
    array([-0.2,  3. ])
    """
    kind, p = _activation(name, negative_slope)
    z = np.asarray(z, dtype=np.float64)
    if kind == "identity":
        return z.copy()
    if kind == "step":
        return (z >= 0).astype(np.float64)
    if kind == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if kind == "tanh":
        return np.tanh(z)
    if kind == "relu":
        return np.where(z > 0, z, 0.0)
    if kind == "leaky_relu":
        return np.where(z > 0, z, p["negative_slope"] * z)
    if kind == "gelu":
        return 0.5 * z * (1.0 + _erf(z / np.sqrt(2.0)))
    if kind == "gelu_tanh":
        return 0.5 * z * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (z + 0.044715 * z**3)))
    if kind == "silu":
        return z / (1.0 + np.exp(-z))
    if kind == "elu":
        return np.where(z > 0, z, p["alpha"] * np.expm1(np.minimum(z, 0.0)))
    if kind == "softplus":
        u = p["beta"] * z
        return np.where(u > p["threshold"], z, np.logaddexp(0.0, u) / p["beta"])
    if kind == "selu":
        return SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0.0)))
    raise ValueError(f"unknown activation {name!r}")


def activation_backward(
    name: str, z: ArrayLike, grad_a: ArrayLike, negative_slope: float = 0.01
) -> NDArray[np.float64]:
    """grad_z = grad_a * act'(z), elementwise.

    identity 1; step 0 (taken as 0 everywhere, also at 0); sigmoid
    s(1 - s); tanh 1 - tanh^2; relu [z > 0]; leaky_relu 1 if z > 0 else negative_slope; gelu
    Phi(z) + z phi(z) (phi the normal density); gelu_tanh, by the chain rule through tanh,
    (1 + t) / 2 + z (1 - t^2) sqrt(2/pi) (1 + 3 0.044715 z^2) / 2; silu s (1 + z (1 - s)); elu 1 if
    z > 0 else alpha e^z; softplus sigmoid(beta z), 1 where beta z > threshold; selu scale (1 if z > 0
    else alpha e^z).

    Parameters
    ----------
    name : str
        An activation name (aliases and parameters as "elu(alpha=0.5)" accepted).
    z : array_like
        The pre-activations.
    grad_a : array_like
        dL/da, of z's shape.
    negative_slope : float, default 0.01
        The slope of a leaky_relu that names none of its own.

    Returns
    -------
    numpy.ndarray
        grad_z, float64.

    Raises
    ------
    ValueError
        For an unknown activation.

    Examples
    --------
    >>> from fastmlp import reference
    >>> reference.activation_backward("relu", [-1.0, 2.0], [3.0, 3.0])
    array([0., 3.])
    """
    kind, p = _activation(name, negative_slope)
    z = np.asarray(z, dtype=np.float64)
    g = np.asarray(grad_a, dtype=np.float64)
    if kind == "identity":
        return g.copy()
    if kind == "step":
        return np.zeros_like(z)
    if kind == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return g * s * (1.0 - s)
    if kind == "tanh":
        return g * (1.0 - np.tanh(z) ** 2)
    if kind == "relu":
        return np.where(z > 0, g, 0.0)
    if kind == "leaky_relu":
        return np.where(z > 0, g, p["negative_slope"] * g)
    if kind == "gelu":
        return g * (0.5 * (1.0 + _erf(z / np.sqrt(2.0))) + z * np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi))
    if kind == "gelu_tanh":
        c = np.sqrt(2.0 / np.pi)
        t = np.tanh(c * (z + 0.044715 * z**3))
        return g * (0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * c * (1.0 + 3 * 0.044715 * z * z))
    if kind == "silu":
        s = 1.0 / (1.0 + np.exp(-z))
        return g * s * (1.0 + z * (1.0 - s))
    if kind == "elu":
        return np.where(z > 0, g, g * p["alpha"] * np.exp(np.minimum(z, 0.0)))
    if kind == "softplus":
        u = p["beta"] * z
        return np.where(u > p["threshold"], g, g / (1.0 + np.exp(-u)))
    if kind == "selu":
        return g * SELU_SCALE * np.where(z > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(z, 0.0)))
    raise ValueError(f"unknown activation {name!r}")


def activation_backward_from_output(
    name: str, a: ArrayLike, grad_a: ArrayLike, negative_slope: float = 0.01
) -> NDArray[np.float64]:
    """grad_z = grad_a * act'(z), read off the output a = act(z) (what training stores for these).

    sigmoid a(1 - a), tanh 1 - a^2, relu [a > 0], leaky_relu [a > 0] or negative_slope (needs
    negative_slope >= 0). The activations whose derivative needs z (needs_z) have no such form.

    Parameters
    ----------
    name : str
        An activation name (aliases and parameters as "elu(alpha=0.5)" accepted).
    a : array_like
        The activations' outputs.
    grad_a : array_like
        dL/da, of a's shape.
    negative_slope : float, default 0.01
        The slope of a leaky_relu that names none of its own.

    Returns
    -------
    numpy.ndarray
        grad_z, float64.

    Raises
    ------
    ValueError
        For an unknown activation, or one whose derivative needs z.

    Examples
    --------
    >>> from fastmlp import reference
    >>> reference.activation_backward_from_output("sigmoid", [0.5], [1.0])
    array([0.25])
    """
    kind, p = _activation(name, negative_slope)
    a = np.asarray(a, dtype=np.float64)
    g = np.asarray(grad_a, dtype=np.float64)
    if kind == "identity":
        return g.copy()
    if kind == "step":
        return np.zeros_like(a)
    if kind == "sigmoid":
        return g * a * (1.0 - a)
    if kind == "tanh":
        return g * (1.0 - a * a)
    if kind == "relu":
        return np.where(a > 0, g, 0.0)
    if kind == "leaky_relu":
        return np.where(a > 0, g, p["negative_slope"] * g)
    if kind in _NEEDS_Z:
        raise ValueError(f"the derivative of {name!r} needs z: use activation_backward")
    raise ValueError(f"unknown activation {name!r}")


def needs_z(name: str) -> bool:
    """Whether the activation's derivative needs the pre-activation z (it cannot be read off a).

    Parameters
    ----------
    name : str
        An activation name (aliases and parameters as "elu(alpha=0.5)" accepted).

    Returns
    -------
    bool
        True for gelu, gelu_tanh, silu, elu, softplus and selu.

    Examples
    --------
    >>> from fastmlp import reference
    >>> reference.needs_z("swish"), reference.needs_z("tanh")
    (True, False)
    """
    return _activation(name, 0.0)[0] in _NEEDS_Z


def dense_forward(
    x: ArrayLike, w: ArrayLike, b: ArrayLike, activation: str = "identity", negative_slope: float = 0.01
) -> NDArray[np.float64]:
    """y = act(x w + b): a fully-connected layer.

    Rosenblatt's perceptron with the step; any activation for an MLP.

    Parameters
    ----------
    x : array_like of shape (n, k)
        The inputs.
    w : array_like of shape (k, m)
        The weight.
    b : array_like of shape (m,)
        The bias.
    activation : str, default "identity"
        The activation.
    negative_slope : float, default 0.01
        The slope of a leaky_relu that names none of its own.

    Returns
    -------
    numpy.ndarray of shape (n, m)
        y, float64.

    Examples
    --------
    >>> from fastmlp import reference
    >>> reference.dense_forward([[1.0, 1.0]], [[1.0], [-2.0]], [0.5], "step")
    array([[0.]])
    """
    z = np.asarray(x, np.float64) @ np.asarray(w, np.float64) + np.asarray(b, np.float64)
    return activation_forward(activation, z, negative_slope)


def dense_backward(
    x: ArrayLike,
    w: ArrayLike,
    grad_y: ArrayLike,
    activation: str = "identity",
    y: ArrayLike | None = None,
    negative_slope: float = 0.01,
    z: ArrayLike | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Backward of y = act(x w + b) by the chain rule.

    grad_z = grad_y * act'(z) (read off y, or from z where the derivative needs it), grad_x =
    grad_z w^T, grad_w = x^T grad_z, grad_b = sum over the batch of grad_z.

    Parameters
    ----------
    x : array_like of shape (n, k)
        The inputs.
    w : array_like of shape (k, m)
        The weight.
    grad_y : array_like of shape (n, m)
        dL/dy.
    activation : str, default "identity"
        The activation.
    y : array_like of shape (n, m), optional
        The forward output, for a derivative read off it.
    negative_slope : float, default 0.01
        The slope of a leaky_relu that names none of its own.
    z : array_like of shape (n, m), optional
        The pre-activation, for a derivative that needs it.

    Returns
    -------
    tuple of numpy.ndarray
        (grad_x, grad_w, grad_b), float64.
    """
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    gz = np.asarray(grad_y, np.float64)
    if needs_z(activation):
        if z is None:  # (as the kernels refuse it, rather than a derivative of NaN)
            raise ValueError(f"activation {activation!r} needs z, the pre-activation x @ w + b, for its derivative")
        gz = activation_backward(activation, z, gz, negative_slope)
    elif _activation(activation, 0.0)[0] != "identity":
        if y is None:
            raise ValueError(f"activation {activation!r} needs y, the forward output, for its derivative")
        gz = activation_backward_from_output(activation, y, gz, negative_slope)
    return gz @ w.T, x.T @ gz, gz.sum(axis=0)


def softmax(z: ArrayLike) -> NDArray[np.float64]:
    """Row-wise softmax e^(z - max z) / sum e^(z - max z) (the max subtracted so nothing overflows).

    Parameters
    ----------
    z : array_like
        Logits; the softmax runs over the last axis.

    Returns
    -------
    numpy.ndarray
        The probabilities, float64.

    Examples
    --------
    >>> from fastmlp import reference
    >>> reference.softmax([[1000.0, 1000.0]])
    array([[0.5, 0.5]])
    """
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(z: ArrayLike) -> NDArray[np.float64]:
    """The logistic function 1 / (1 + e^-z), computed without overflow for either sign of z.

    Parameters
    ----------
    z : array_like
        The argument.

    Returns
    -------
    numpy.ndarray
        The values, float64.

    Examples
    --------
    >>> from fastmlp import reference
    >>> reference.sigmoid([-1000.0, 0.0, 1000.0])
    array([0. , 0.5, 1. ])
    """
    z = np.asarray(z, np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _targets(
    name: str, pred: ArrayLike, target: ArrayLike, class_weight: ArrayLike | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(pred, target as one row per sample, per-row label indices or None) for cross_entropy; class
    indices (a 1-D integer-valued target) become one-hot rows times nothing (handled by the caller)."""
    p = np.asarray(pred, np.float64)
    t = np.asarray(target, np.float64)
    if name == "cross_entropy" and t.ndim == 1 and p.ndim == 2:
        onehot = np.zeros_like(p)
        onehot[np.arange(p.shape[0]), t.astype(np.int64)] = 1.0
        return p, onehot
    return p, t


def _loss_terms(
    name: str, p: NDArray[np.float64], t: NDArray[np.float64], delta: float, class_weight: ArrayLike | None
) -> NDArray[np.float64]:
    """Per-element terms (elementwise losses) or per-row values (cross_entropy, shape (n,))."""
    d = p - t
    if name == "mse":
        return d * d
    if name == "mae":
        return np.abs(d)
    if name == "huber":  # torch.nn.HuberLoss: quadratic within delta, linear beyond
        return np.where(np.abs(d) <= delta, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta))
    if name == "poisson":  # half Poisson deviance, log link: t log(t / mu) - t + mu with mu = e^p
        tlogt = np.where(t > 0, t * np.log(np.where(t > 0, t, 1.0)), 0.0)
        return np.exp(p) - t * p + tlogt - t
    if name == "bce":  # torch.nn.BCEWithLogitsLoss: -t log s(p) - (1 - t) log(1 - s(p))
        return np.maximum(p, 0.0) - p * t + np.log1p(np.exp(-np.abs(p)))
    if name == "cross_entropy":  # torch.nn.CrossEntropyLoss: -sum_c w_c t_c log softmax(p)_c
        w = np.ones(p.shape[-1]) if class_weight is None else np.asarray(class_weight, np.float64)
        mx = p.max(axis=-1, keepdims=True)
        lse = mx + np.log(np.exp(p - mx).sum(axis=-1, keepdims=True))
        return (w * t * (lse - p)).sum(axis=-1)
    raise ValueError(f"unknown loss {name!r}")


def loss(
    name: str,
    pred: ArrayLike,
    target: ArrayLike,
    reduction: str = "mean",
    *,
    sample_weight: ArrayLike | None = None,
    class_weight: ArrayLike | None = None,
    delta: float = 1.0,
) -> float:
    """The loss of pred against target.

    Per element (p, t): mse (p - t)^2; mae ``|p - t|``; huber
    (p - t)^2 / 2 within delta, delta ``(|p - t| - delta / 2)`` beyond (torch.nn.HuberLoss); poisson, the
    half Poisson deviance with log link, t log(t / e^p) - t + e^p (0 log 0 = 0; scikit-learn's
    HalfPoissonLoss); bce, binary cross-entropy of sigmoid(p), ``max(p, 0) - p t + log(1 + e^-|p|)``
    (torch.nn.BCEWithLogitsLoss). Per row of logits z: cross_entropy, sum_c w_c t_c (logsumexp(z) - z_c)
    with t one-hot/probabilities, or a class index per row (1-D target), and class weights w
    (torch.nn.CrossEntropyLoss). Rows are weighted by sample_weight; the mean divides by the number of
    rows (or the weights' sum) times the terms per row (the row's width; 1 for cross_entropy).

    Parameters
    ----------
    name : str
        A name of fastmlp.losses.LOSSES.
    pred : array_like
        The predictions (logits for bce and cross_entropy, log-rates for poisson).
    target : array_like
        The targets: pred's shape, or a class index per row for cross_entropy.
    reduction : {"mean", "sum"}, default "mean"
        How the terms are combined.
    sample_weight : array_like of shape (n,), optional
        One weight per row.
    class_weight : array_like of shape (classes,), optional
        One weight per class (cross_entropy).
    delta : float, default 1.0
        Huber's delta.

    Returns
    -------
    float
        The loss.

    Raises
    ------
    ValueError
        For an unknown loss.

    Examples
    --------
    >>> from fastmlp import reference
    >>> reference.loss("huber", [3.0], [0.0])  # 1 * (3 - 1 / 2)
    2.5
    """
    p, t = _targets(name, pred, target, class_weight)
    terms = _loss_terms(name, p, t, delta, class_weight)
    if sample_weight is None and name != "cross_entropy":
        return float(terms.mean() if reduction == "mean" else terms.sum())
    rows = terms if name == "cross_entropy" else terms.reshape(p.shape[0], -1).sum(axis=1)
    sw = np.ones(p.shape[0]) if sample_weight is None else np.asarray(sample_weight, np.float64)
    total = float((sw * rows).sum())
    per_row = 1 if name == "cross_entropy" else terms.reshape(p.shape[0], -1).shape[1]
    return total / (sw.sum() * per_row) if reduction == "mean" else total


def loss_grad(
    name: str,
    pred: ArrayLike,
    target: ArrayLike,
    reduction: str = "mean",
    *,
    sample_weight: ArrayLike | None = None,
    class_weight: ArrayLike | None = None,
    delta: float = 1.0,
) -> NDArray[np.float64]:
    """dL/dpred of loss(...), shaped like pred.

    mse 2 (p - t); mae sign(p - t) with sign(0) = 0 (PyTorch's subgradient);
    huber clip(p - t, -delta, delta); poisson e^p - t; bce sigmoid(p) - t; cross_entropy
    (sum_c w_c t_c) softmax(z) - w t. Times the row's weight; divided as the mean divides.

    Parameters
    ----------
    name : str
        A name of fastmlp.losses.LOSSES.
    pred : array_like
        The predictions (logits for bce and cross_entropy, log-rates for poisson).
    target : array_like
        The targets: pred's shape, or a class index per row for cross_entropy.
    reduction : {"mean", "sum"}, default "mean"
        How the terms are combined.
    sample_weight : array_like of shape (n,), optional
        One weight per row.
    class_weight : array_like of shape (classes,), optional
        One weight per class (cross_entropy).
    delta : float, default 1.0
        Huber's delta.

    Returns
    -------
    numpy.ndarray
        The gradient, float64.

    Raises
    ------
    ValueError
        For an unknown loss.

    Examples
    --------
    >>> from fastmlp import reference
    >>> reference.loss_grad("mae", [1.0, 0.0, -2.0], [0.0, 0.0, 0.0], reduction="sum")
    array([ 1.,  0., -1.])
    """
    p, t = _targets(name, pred, target, class_weight)
    d = p - t
    if name == "mse":
        g = 2.0 * d
    elif name == "mae":
        g = np.sign(d)
    elif name == "huber":
        g = np.clip(d, -delta, delta)
    elif name == "poisson":
        g = np.exp(p) - t
    elif name == "bce":
        g = sigmoid(p) - t
    elif name == "cross_entropy":
        w = np.ones(p.shape[-1]) if class_weight is None else np.asarray(class_weight, np.float64)
        g = (w * t).sum(axis=-1, keepdims=True) * softmax(p) - w * t
    else:
        raise ValueError(f"unknown loss {name!r}")
    if sample_weight is None and name != "cross_entropy":
        return g / d.size if reduction == "mean" else g
    sw = np.ones(p.shape[0]) if sample_weight is None else np.asarray(sample_weight, np.float64)
    g = g * sw.reshape(-1, *([1] * (g.ndim - 1)))
    per_row = 1 if name == "cross_entropy" else g.reshape(p.shape[0], -1).shape[1]
    return g / (sw.sum() * per_row) if reduction == "mean" else g


def init(
    name: str,
    fan_in: int,
    fan_out: int,
    seed: int = 0,
    shape: Sequence[int] | None = None,
    stream: int = 0,
    truncated: bool = False,
    value: float = 0.0,
    low: float = 0.0,
    high: float = 1.0,
    mean: float = 0.0,
    std: float = 1.0,
) -> NDArray[np.float64]:
    """Initial weights, element i drawn from Philox at counter i (fan_in = in, fan_out = out).

    zeros, ones, constant(value), uniform U[low, high), normal N(mean, std^2),
    lecun_uniform U(+-sqrt(3/fan_in)), lecun_normal N(0, 1/fan_in) (LeCun et al. 1998),
    xavier_uniform U(+-sqrt(6/(fan_in+fan_out))), xavier_normal N(0, 2/(fan_in+fan_out)) (Glorot & Bengio 2010),
    he_uniform U(+-sqrt(6/fan_in)), he_normal N(0, 2/fan_in) (He et al. 2015).
    truncated: redraw ``|z| > 2`` (next attempt of the same counter); fan-scaled ones divide sigma by
    0.87962566103423978 so the variance is the formula's (Keras' VarianceScaling). The aliases
    glorot_* (xavier_*) and kaiming_* (he_*) are accepted.

    Parameters
    ----------
    name : str
        The initializer.
    fan_in : int
        The layer's inputs.
    fan_out : int
        The layer's outputs.
    seed : int, default 0
        The seed (Philox's key).
    shape : tuple of int, optional
        The shape of the result; default (fan_in, fan_out).
    stream : int, default 0
        The stream (a word of Philox's counter).
    truncated : bool, default False
        Redraw normal values beyond 2 standard deviations.
    value : float, default 0.0
        The constant kind's value.
    low : float, default 0.0
        The uniform kind's lower bound.
    high : float, default 1.0
        The uniform kind's upper bound.
    mean : float, default 0.0
        The normal kind's mean.
    std : float, default 1.0
        The normal kind's standard deviation.

    Returns
    -------
    numpy.ndarray
        The values, float64.

    Raises
    ------
    ValueError
        For an unknown initializer.

    Examples
    --------
    >>> from fastmlp import reference
    >>> reference.init("ones", 2, 3)
    array([[1., 1., 1.],
           [1., 1., 1.]])
    """
    aliases = {
        "glorot_uniform": "xavier_uniform",
        "glorot_normal": "xavier_normal",
        "kaiming_uniform": "he_uniform",
        "kaiming_normal": "he_normal",
    }
    name = aliases.get(name, name)
    shape = (fan_in, fan_out) if shape is None else tuple(shape)
    count = int(np.prod(shape, dtype=np.int64))
    if name in ("zeros", "ones", "constant"):
        return np.full(shape, {"zeros": 0.0, "ones": 1.0}.get(name, value))
    fi, fo = float(fan_in), float(fan_out)
    rescale = 1.0 / TRUNCATED_STD if truncated else 1.0
    bound = {
        "lecun_uniform": np.sqrt(3.0 / fi),
        "xavier_uniform": np.sqrt(6.0 / (fi + fo)),
        "he_uniform": np.sqrt(6.0 / fi),
    }
    sigma = {
        "lecun_normal": np.sqrt(1.0 / fi) * rescale,
        "xavier_normal": np.sqrt(2.0 / (fi + fo)) * rescale,
        "he_normal": np.sqrt(2.0 / fi) * rescale,
        "normal": std,
    }
    words = _philox_at(seed, DOMAIN_INIT, stream, np.arange(count, dtype=np.uint64))
    if name == "uniform" or name in bound:
        lo, hi = (low, high) if name == "uniform" else (-bound[name], bound[name])
        return (lo + (hi - lo) * uniform01(words[:, 0], words[:, 1])).reshape(shape)
    if name not in sigma:
        raise ValueError(f"unknown initializer {name!r}")
    z = standard_normal(words)
    attempt = 1
    while truncated and np.any(np.abs(z) > 2.0):
        redo = np.flatnonzero(np.abs(z) > 2.0)
        z[redo] = standard_normal(_philox_at(seed, DOMAIN_INIT, stream, redo.astype(np.uint64), attempt))
        attempt += 1
    return ((mean if name == "normal" else 0.0) + sigma[name] * z).reshape(shape)


def permutation(n: int, seed: int, epoch: int) -> NDArray[np.int64]:
    """One epoch's order: Fisher-Yates (Durstenfeld 1964) from the top.

    Position i swaps with j = r_i mod (i + 1), r_i the 64-bit Philox draw at counter (i, epoch) in the
    shuffle domain.

    Parameters
    ----------
    n : int
        The number of samples.
    seed : int
        The fit's seed.
    epoch : int
        The epoch.

    Returns
    -------
    numpy.ndarray
        A permutation of 0 .. n - 1, int64.

    Examples
    --------
    >>> from fastmlp import reference
    >>> reference.permutation(5, seed=0, epoch=0)
    array([4, 3, 1, 0, 2])
    """
    order = np.arange(n, dtype=np.int64)
    if n < 2:
        return order
    idx = np.arange(n - 1, 0, -1, dtype=np.uint64)
    words = _philox_at(seed, DOMAIN_SHUFFLE, int(epoch) & 0xFFFFFFFF, idx, (int(epoch) >> 32) & 0xFFFFFF)
    r = (words[:, 0].astype(np.uint64) << np.uint64(32)) | words[:, 1].astype(np.uint64)
    for i, ri in zip(idx.astype(np.int64), r):
        j = int(ri % np.uint64(i + 1))
        order[i], order[j] = order[j], order[i]
    return order


def clip_gradients(
    grads: Iterable[ArrayLike], clip_grad_norm: float | None = None, clip_grad_value: float | None = None
) -> list[NDArray[np.float64]]:
    """Clip gradients by value, then by their global norm, as torch.nn.utils does.

    Clamp every element to [-v, v] (``torch.nn.utils.clip_grad_value_``), then scale all gradients by
    max_norm / (norm + 1e-6) when that is below 1, norm the global L2 norm (``clip_grad_norm_``).

    Parameters
    ----------
    grads : iterable of array_like
        The gradients.
    clip_grad_norm : float, optional
        max_norm; None or 0 for none.
    clip_grad_value : float, optional
        v; None or 0 for none.

    Returns
    -------
    list of numpy.ndarray
        The clipped gradients, float64.

    Examples
    --------
    >>> from fastmlp import reference
    >>> reference.clip_gradients([[3.0, 4.0]], clip_grad_norm=1.0)[0].round(6)
    array([0.6, 0.8])
    """
    # (the casts: `grads` is given as any array-likes, and holds float64 arrays from here on)
    grads = cast("list[NDArray[np.float64]]", [np.asarray(g, np.float64) for g in grads])
    if clip_grad_value:
        grads = cast("list[NDArray[np.float64]]", [np.clip(g, -clip_grad_value, clip_grad_value) for g in grads])
    if clip_grad_norm:
        norm = np.sqrt(sum(float(np.sum(g * g)) for g in grads))
        coef = clip_grad_norm / (norm + 1e-6)
        if coef < 1.0:
            grads = cast("list[NDArray[np.float64]]", [g * coef for g in grads])
    return grads


def mlp_forward(
    weights: Sequence[ArrayLike],
    biases: Sequence[ArrayLike],
    activations: Sequence[str],
    x: ArrayLike,
    negative_slope: float = 0.01,
) -> NDArray[np.float64]:
    """The network's output: x through dense_forward layer after layer.

    Parameters
    ----------
    weights : list of array_like
        W of each layer, (in, out).
    biases : list of array_like
        b of each layer, (out,).
    activations : list of str
        Each layer's activation.
    x : array_like of shape (n, sizes[0])
        The inputs.
    negative_slope : float, default 0.01
        The slope of a leaky_relu that names none of its own.

    Returns
    -------
    numpy.ndarray of shape (n, sizes[-1])
        The output, float64.
    """
    a = np.asarray(x, np.float64)
    for w, b, act in zip(weights, biases, activations):
        a = dense_forward(a, w, b, act, negative_slope)
    return a


def output_bound(
    weights: Sequence[ArrayLike],
    biases: Sequence[ArrayLike],
    activations: Sequence[str],
    x_max: float,
    negative_slope: float = 0.01,
) -> float:
    """An upper bound on |every value the forward pass computes| for inputs with |x| <= x_max, partial
    sums included (the triangle inequality, layer by layer): B_0 = x_max, z_l = max_j sum_i |W_ij| B_l
    + max |b|, and B_{l+1} = max(1, z_l) for step/sigmoid/tanh (bounded by 1, but z_l is computed before
    they squash it), z_l max(1, slope) for leaky ReLU, max(z_l, |alpha|) for ELU (SELU: times scale),
    z_l + log(2) / beta for softplus (and beta z_l), the cubic for GELU's tanh form, z_l otherwise."""
    bound = float(x_max)
    for w, b, act in zip(weights, biases, activations):
        w, b = np.abs(np.asarray(w, np.float64)), np.abs(np.asarray(b, np.float64))
        z = (w.sum(axis=0).max() if w.size else 0.0) * bound + (b.max() if b.size else 0.0)
        kind, p = _activation(act, negative_slope)
        if kind in ("step", "sigmoid", "tanh"):
            bound = max(1.0, z)
        elif kind == "leaky_relu":
            bound = z * max(1.0, p["negative_slope"])
        elif kind == "elu":  # alpha (e^z - 1) lies within |alpha| below zero
            bound = max(z, abs(p["alpha"]))
        elif kind == "selu":
            bound = SELU_SCALE * max(z, SELU_ALPHA)
        elif kind == "softplus":  # beta z is computed too; softplus(z) <= max(z, 0) + log(2) / beta
            bound = max(z * max(1.0, p["beta"]), z + np.log(2.0) / p["beta"])
        elif kind == "gelu_tanh":  # its tanh's argument holds z^3
            bound = max(z, np.sqrt(2.0 / np.pi) * (z + 0.044715 * z**3))
        else:  # identity, relu; |gelu(z)|, |silu(z)| <= |z|
            bound = z
    return bound


def mlp_loss_grad(
    weights: Sequence[ArrayLike],
    biases: Sequence[ArrayLike],
    activations: Sequence[str],
    loss_name: str,
    x: ArrayLike,
    y: ArrayLike,
    negative_slope: float = 0.01,
    sample_weight: ArrayLike | None = None,
    masks: Sequence[ArrayLike | None] | None = None,
) -> tuple[float, list[tuple[NDArray[np.float64], NDArray[np.float64]]]]:
    """Backpropagation (Rumelhart, Hinton & Williams 1986): a batch's mean loss and its gradients.

    Parameters
    ----------
    weights : list of array_like
        W of each layer.
    biases : list of array_like
        b of each layer.
    activations : list of str
        Each layer's activation.
    loss_name : str
        A name of fastmlp.losses.LOSSES.
    x : array_like of shape (n, sizes[0])
        The inputs.
    y : array_like
        The targets.
    negative_slope : float, default 0.01
        The slope of a leaky_relu that names none of its own.
    sample_weight : array_like of shape (n,), optional
        One weight per row.
    masks : list of array_like or None, optional
        Dropout: masks[l] (rows x width of hidden layer l, or None) multiplies that layer's output
        before the next layer reads it, and the gradient that flows back into it.

    Returns
    -------
    loss : float
        The mean loss of the batch (rows weighted by sample_weight).
    grads : list of tuple of numpy.ndarray
        [(dL/dW_l, dL/db_l)] for every layer.
    """
    mask = [None if masks is None or l >= len(masks) else masks[l] for l in range(len(weights))]
    outs, pres, ins = [np.asarray(x, np.float64)], [], [np.asarray(x, np.float64)]
    for l, (w, b, act) in enumerate(zip(weights, biases, activations)):
        pres.append(ins[-1] @ np.asarray(w, np.float64) + np.asarray(b, np.float64))
        outs.append(activation_forward(act, pres[-1], negative_slope))
        ins.append(outs[-1] if mask[l] is None else outs[-1] * np.asarray(mask[l], np.float64))
    value = loss(loss_name, outs[-1], y, sample_weight=sample_weight)
    g = loss_grad(loss_name, outs[-1], y, sample_weight=sample_weight)
    grads = []
    for l in range(len(weights) - 1, -1, -1):
        gx, gw, gb = dense_backward(ins[l], weights[l], g, activations[l], outs[l + 1], negative_slope, pres[l])
        grads.append((gw, gb))
        g = gx if l == 0 or mask[l - 1] is None else gx * np.asarray(mask[l - 1], np.float64)
    return value, grads[::-1]


def dropout_threshold(p: float) -> int:
    """The 32-bit word below which inverted dropout drops an output: floor(p 2^32), for p in [0, 1).

    Parameters
    ----------
    p : float
        The dropout rate.

    Returns
    -------
    int
        The threshold, in [0, 2^32).

    Examples
    --------
    >>> from fastmlp import reference
    >>> reference.dropout_threshold(0.25) == 2**30
    True
    """
    return 0 if not p > 0 else min(int(float(p) * 4294967296.0), 2**32 - 1)


def dropout_keep(seed: int, step: int, layer: int, rows: ArrayLike, width: int, p: float) -> NDArray[np.bool_]:
    """Which outputs of hidden layer `layer` inverted dropout keeps in optimizer step `step`.

    Srivastava et al. 2014 (JMLR 15, "Dropout: a simple way to prevent neural networks from
    overfitting"), in torch.nn.Dropout's inverted form: a kept output is scaled by 1 / (1 - p). Element
    g = row * width + unit is kept when word g mod 4 of the Philox draw at counter (g / 4 as two words,
    step mod 2^32, 3 << 24 | layer), under the key seed with step / 2^32 XORed into its high word, is
    at least dropout_threshold(p) (csrc/include/fastmlp/dropout.h).

    Parameters
    ----------
    seed : int
        The fit's seed.
    step : int
        The optimizer step, counted from 1.
    layer : int
        The hidden layer, from 0.
    rows : array_like of int
        The batch's rows, as indices into the (global) data set.
    width : int
        The layer's outputs.
    p : float
        The dropout rate, in [0, 1).

    Returns
    -------
    numpy.ndarray of bool, shape (len(rows), width)
        True where the output is kept.

    Examples
    --------
    >>> from fastmlp import reference
    >>> keep = reference.dropout_keep(seed=0, step=1, layer=0, rows=range(1000), width=100, p=0.3)
    >>> round(float(keep.mean()), 2)
    0.7
    """
    r = np.asarray(rows, dtype=np.uint64).reshape(-1)
    g = r[:, None] * np.uint64(width) + np.arange(width, dtype=np.uint64)[None, :]
    s = int(step) & 0xFFFFFFFFFFFFFFFF
    key = (int(seed) ^ ((s >> 32) << 32)) & 0xFFFFFFFFFFFFFFFF
    words = _philox_at(key, DOMAIN_DROPOUT, s & 0xFFFFFFFF, g >> np.uint64(2), int(layer))
    word = np.take_along_axis(words, (g & np.uint64(3)).astype(np.intp)[..., None], axis=-1)[..., 0]
    return np.asarray(word >= dropout_threshold(p))


def train_epoch(
    weights: Sequence[ArrayLike],
    biases: Sequence[ArrayLike],
    activations: Sequence[str],
    x: ArrayLike,
    y: ArrayLike,
    loss_name: str,
    batch_size: int | None,
    shuffle: bool,
    seed: int,
    epoch: int,
    lr: ArrayLike,
    optimizer: Mapping[str, Any] | None = None,
    state: list[list[list[Any]]] | None = None,
    step: int = 0,
    drop_last: bool = False,
    negative_slope: float = 0.01,
    clip_grad_norm: float | None = None,
    clip_grad_value: float | None = None,
    sample_weight: ArrayLike | None = None,
    l2: float = 0.0,
    dropout: Sequence[float] | None = None,
) -> tuple[float, list[NDArray[np.float64]], list[NDArray[np.float64]], list[list[list[Any]]], int]:
    """One epoch of mini-batch training, the loop the C++ trainer runs.

    order = permutation(n, seed, epoch) when shuffling (a full batch is never reordered), batches of batch_size
    rows (None: all; the last short batch kept unless drop_last), and per batch: loss and gradients at the
    current parameters, clipping, then one optimizer step on each W and b. lr is one rate or one per step;
    optimizer a fastmlp.optim config() (default plain SGD). Returns (mean loss weighted by batch size, weights,
    biases, state, step); state[l] = [W buffers, b buffers]. sample_weight weighs rows; l2 > 0 adds
    scikit-learn's penalty (l2 / 2) sum ||W||^2 / (the batch's rows or weight sum) to each batch's loss and its
    gradient l2 W / (rows or weight sum) to the weights' (after clipping), biases exempt.

    Parameters
    ----------
    weights : list of array_like
        W of each layer.
    biases : list of array_like
        b of each layer.
    activations : list of str
        Each layer's activation.
    x : array_like of shape (n, sizes[0])
        The inputs.
    y : array_like
        The targets.
    loss_name : str
        A name of fastmlp.losses.LOSSES.
    batch_size : int or None
        The batch size; None for the full batch.
    shuffle : bool
        Reorder the rows by permutation(n, seed, epoch).
    seed : int
        The fit's seed.
    epoch : int
        The epoch.
    lr : float or array_like
        One rate, or one per step.
    optimizer : dict, optional
        A fastmlp.optim config(); default plain SGD.
    state : list, optional
        state[l] = [W buffers, b buffers]; default fresh buffers.
    step : int, default 0
        The optimizer steps so far.
    drop_last : bool, default False
        Drop the last short batch.
    negative_slope : float, default 0.01
        The slope of a leaky_relu that names none of its own.
    clip_grad_norm : float, optional
        See clip_gradients.
    clip_grad_value : float, optional
        See clip_gradients.
    sample_weight : array_like of shape (n,), optional
        One weight per row.
    l2 : float, default 0.0
        scikit-learn's L2 penalty, as above.
    dropout : list of float, optional
        One inverted-dropout rate per hidden layer: each step drops the outputs dropout_keep(seed,
        step, l, the batch's rows, width, p) does not keep and scales the others by 1 / (1 - p).

    Returns
    -------
    tuple
        (mean loss weighted by batch size, weights, biases, state, step).

    Raises
    ------
    ValueError
        If drop_last would leave no batch.
    """
    opt = dict(optimizer or {"name": "sgd"})
    weights = cast("list[NDArray[np.float64]]", [np.array(w, np.float64) for w in weights])
    biases = cast("list[NDArray[np.float64]]", [np.array(b, np.float64) for b in biases])
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    n = x.shape[0]
    if drop_last and batch_size is not None and batch_size > n:
        raise ValueError(f"drop_last=True with batch_size {batch_size} > {n} samples would leave no batch at all")
    bs = n if batch_size is None else min(batch_size, n)
    order = permutation(n, seed, epoch) if shuffle and bs < n else np.arange(n)
    steps = n // bs if drop_last else -(-n // bs)
    rates = np.broadcast_to(np.asarray(lr, np.float64), (steps,))
    state = state if state is not None else [[[], []] for _ in weights]
    total, seen = 0.0, 0
    for s in range(steps):
        rows = order[s * bs : (s + 1) * bs]
        sw = None if sample_weight is None else np.asarray(sample_weight, np.float64)[rows]
        masks = None
        if dropout is not None and any(p > 0 for p in dropout):
            masks = [
                dropout_keep(seed, step + 1, l, rows, weights[l].shape[1], p) / (1.0 - p) if p > 0 else None
                for l, p in enumerate(dropout)
            ]
        value, grads = mlp_loss_grad(
            weights, biases, activations, loss_name, x[rows], y[rows], negative_slope, sw, masks=masks
        )
        flat = clip_gradients([g for pair in grads for g in pair], clip_grad_norm, clip_grad_value)
        if l2 > 0:
            weight = len(rows) if sw is None else sw.sum()
            value += 0.5 * l2 * sum(float((w * w).sum()) for w in weights) / weight
            flat = [g + l2 * weights[i // 2] / weight if i % 2 == 0 else g for i, g in enumerate(flat)]
        total += value * len(rows)
        seen += len(rows)
        step += 1
        for l in range(len(weights)):
            weights[l], state[l][0] = optimizer_step(opt, weights[l], flat[2 * l], state[l][0], step, rates[s])
            biases[l], state[l][1] = optimizer_step(opt, biases[l], flat[2 * l + 1], state[l][1], step, rates[s])
    return total / seen, weights, biases, state, step


def _shown(cell: str, limit: int = 40) -> str:
    """A cell as an error message shows it: its repr, cut to `limit` characters."""
    return repr(cell) if len(cell) <= limit else repr(cell[:limit]) + f"... ({len(cell)} characters)"


def parse_csv(lines: Iterable[str], where: str) -> tuple[list[str], NDArray[np.float64]]:
    """Parse a numeric CSV: the spec of fastmlp.data.read_csv's C++ fast path.

    The spec of fastmlp.data.read_csv's C++ fast path: Python's csv module splits the cells (quotes
    and all) and float() reads each (white space around a number is allowed, as are nan and inf).
    Rows whose cells are all blank are skipped. A ValueError names the line and column of a cell that
    is not a number, or the line of a row with the wrong number of cells.

    Parameters
    ----------
    lines : iterable of str
        The text lines, header first.
    where : str
        The file's name, for messages.

    Returns
    -------
    names : list of str
        The column names.
    values : numpy.ndarray of shape (rows, columns)
        The numbers, float64.

    Raises
    ------
    ValueError
        For an empty file, a file without data rows, a row with the wrong number of cells, or a cell
        that is not a number.

    Examples
    --------
    >>> from fastmlp import reference
    >>> reference.parse_csv(["x,y", "1, 2", "", '"3",nan'], "table.csv")
    (['x', 'y'], array([[ 1.,  2.],
           [ 3., nan]]))
    """
    import csv

    reader = csv.reader(lines)
    try:
        header = [h.strip() for h in next(reader)]
        rows = []
        for row in reader:
            line_no = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise ValueError(f"{where} line {line_no} has {len(row)} cells but the header has {len(header)}")
            values = []
            for name, cell in zip(header, row):
                try:
                    values.append(float(cell))
                except ValueError:
                    raise ValueError(
                        f"{where} line {line_no}, column {name!r}: {_shown(cell)} is not a number"
                    ) from None
            rows.append(values)
    except StopIteration:
        raise ValueError(f"{where} is empty; expected a header row and numeric rows") from None
    except csv.Error as e:  # e.g. a cell longer than the csv module's field limit (128 KiB)
        raise ValueError(f"{where} line {reader.line_num}: {e}") from None
    if not rows:
        raise ValueError(f"{where} has a header but no data rows")
    return header, np.array(rows, dtype=np.float64)
