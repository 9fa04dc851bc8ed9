"""The kernels as functions: NumPy arrays in, NumPy arrays out, each computed by the C++ backend.

Every function here has a twin of the same name in `fastmlp.reference` (float64 NumPy, the spec), except
`optimizer_update`, which updates in place: its twin `reference.optimizer_step` returns the new values.
Arrays must be float32 or float64 (one dtype per call) and finite; read-only inputs may be any
layout (non-contiguous views are copied), arrays updated in place must be C-contiguous.

Each also takes device="cpu" (default), "cuda" or "auto": on CUDA the inputs are copied to the GPU, the
CUDA kernel runs, and the results come back as NumPy arrays (or are written back in place), so the
same call can be checked on both backends. Asking for CUDA where it cannot be used raises RuntimeError.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import numpy as np

from . import _core
from ._constraints import check_bool, check_int
from .init import canonical as _canonical_init
from .optim import check_hyperparameter

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike, NDArray

    from ._core import LossArg
    from .optim import Optimizer

__all__ = [
    "matmul",
    "dense_forward",
    "dense_backward",
    "activation_forward",
    "activation_backward",
    "loss",
    "loss_grad",
    "init",
    "permutation",
    "sgd_update",
    "optimizer_update",
    "ACTIVATIONS",
]

#: The activation names the kernels take, canonical ones only.
#:
#: A tuple of str, from the kernels' own table (csrc/bindings/names.h).
ACTIVATIONS = tuple(_core.names["activation"])
# Names may carry parameters, "elu(alpha=0.5)": see fastmlp.activations.


def _name(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a name (str), got {type(value).__name__}")
    return value


def _size(value: object, name: str) -> int:
    """A count or size: an int, not a bool, refused when negative (or absurdly large) by name."""
    value = check_int(value, name, -(2**63), 2**62)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got a negative {value}")
    return value


def resolve_device(device: str) -> str:
    """ "cpu" or "cuda" for a device argument; "auto" picks CUDA when it can be used. Asking for CUDA
    where it cannot be used raises RuntimeError saying why (not built, or no device)."""
    if not isinstance(device, str):
        raise TypeError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")
    return "cuda" if _core.check_device(device) else "cpu"


def matmul(
    a: ArrayLike, b: ArrayLike, trans_a: bool = False, trans_b: bool = False, *, device: str = "cpu"
) -> NDArray[np.floating[Any]]:
    """op(a) @ op(b) with the library's GEMM, op being a transpose when asked (without copying).

    Parameters
    ----------
    a : numpy.ndarray
        A 2-D float32 or float64 array.
    b : numpy.ndarray
        A 2-D array of a's dtype.
    trans_a : bool, default False
        Use a.T.
    trans_b : bool, default False
        Use b.T.
    device : {"cpu", "cuda", "auto"}, default "cpu"
        Where the kernel runs; on CUDA the arrays are copied to the device and back.

    Returns
    -------
    numpy.ndarray
        The product, in the arrays' dtype.

    Raises
    ------
    TypeError
        If the arrays are not float32 or float64, or mix the two.
    ValueError
        If the shapes do not fit or a value is NaN or infinite.
    RuntimeError
        If device="cuda" where CUDA cannot be used.

    See Also
    --------
    fastmlp.reference.matmul : Its float64 twin.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import ops
    >>> a = np.arange(6.0).reshape(2, 3)
    >>> ops.matmul(a, np.ones((2, 3)), trans_b=True)
    array([[ 3.,  3.],
           [12., 12.]])
    """
    return _core.matmul(a, b, check_bool(trans_a, "trans_a"), check_bool(trans_b, "trans_b"), resolve_device(device))


def dense_forward(
    x: ArrayLike,
    w: ArrayLike,
    b: ArrayLike,
    activation: str = "identity",
    *,
    negative_slope: float = 0.01,
    device: str = "cpu",
) -> NDArray[np.floating[Any]]:
    """A dense layer's output, y = activation(x @ w + b).

    Parameters
    ----------
    x : numpy.ndarray of shape (n, in)
        The inputs.
    w : numpy.ndarray of shape (in, out)
        The weight.
    b : numpy.ndarray of shape (out,)
        The bias.
    activation : str, default "identity"
        An activation name, with parameters where it takes any (see fastmlp.activations).
    negative_slope : float, default 0.01
        The slope of a leaky_relu that names none of its own.
    device : {"cpu", "cuda", "auto"}, default "cpu"
        Where the kernel runs; on CUDA the arrays are copied to the device and back.

    Returns
    -------
    numpy.ndarray of shape (n, out)
        y, in the arrays' dtype.

    Raises
    ------
    TypeError
        If the arrays are not float32 or float64, or mix the two.
    ValueError
        If the shapes do not fit or a value is NaN or infinite, or the activation is unknown.
    RuntimeError
        If device="cuda" where CUDA cannot be used.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import ops
    >>> x, w, b = np.array([[1.0, 2.0]]), np.array([[1.0, 0.5], [1.0, -1.0]]), np.array([0.5, 0.0])
    >>> ops.dense_forward(x, w, b, "relu")
    array([[3.5, 0. ]])
    """
    return _core.dense_forward(x, w, b, _name(activation, "activation"), float(negative_slope), resolve_device(device))


def dense_backward(
    x: ArrayLike,
    w: ArrayLike,
    grad_y: ArrayLike,
    activation: str = "identity",
    y: ArrayLike | None = None,
    *,
    z: ArrayLike | None = None,
    negative_slope: float = 0.01,
    device: str = "cpu",
) -> tuple[NDArray[np.floating[Any]], NDArray[np.floating[Any]], NDArray[np.floating[Any]]]:
    """Gradients of a dense layer: (grad_x, grad_w, grad_b) given grad_y = dL/dy.

    With an activation other than identity, grad_y is the gradient with respect to the output and the
    activation's derivative is applied first: read off `y`, the forward output, or, for the activations
    whose derivative needs it (GELU, SiLU, ELU, softplus, SELU: fastmlp.activations.needs_z), computed
    from `z` = x @ w + b, the pre-activation.

    Parameters
    ----------
    x : numpy.ndarray of shape (n, in)
        The layer's inputs.
    w : numpy.ndarray of shape (in, out)
        The weight.
    grad_y : numpy.ndarray of shape (n, out)
        dL/dy, the gradient with respect to the layer's output.
    activation : str, default "identity"
        The layer's activation.
    y : numpy.ndarray of shape (n, out), optional
        The forward output, for an activation whose derivative is read off it.
    z : numpy.ndarray of shape (n, out), optional
        The pre-activation, for an activation whose derivative needs it.
    negative_slope : float, default 0.01
        The slope of a leaky_relu that names none of its own.
    device : {"cpu", "cuda", "auto"}, default "cpu"
        Where the kernel runs; on CUDA the arrays are copied to the device and back.

    Returns
    -------
    tuple of numpy.ndarray
        (grad_x (n, in), grad_w (in, out), grad_b (out,)).

    Raises
    ------
    TypeError
        If the arrays are not float32 or float64, or mix the two.
    ValueError
        If the shapes do not fit or a value is NaN or infinite, or the activation needs y or z
        and it is not given.
    RuntimeError
        If device="cuda" where CUDA cannot be used.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import ops
    >>> x, w = np.array([[1.0, 2.0]]), np.array([[1.0, 0.5], [1.0, -1.0]])
    >>> grad_x, grad_w, grad_b = ops.dense_backward(x, w, np.array([[1.0, 1.0]]))
    >>> grad_x, grad_b
    (array([[1.5, 0. ]]), array([1., 1.]))
    """
    return _core.dense_backward(
        x, w, grad_y, _name(activation, "activation"), y, float(negative_slope), resolve_device(device), z
    )


def activation_forward(
    name: str, z: ArrayLike, *, negative_slope: float = 0.01, device: str = "cpu"
) -> NDArray[np.floating[Any]]:
    """a = act(z), elementwise.

    Parameters
    ----------
    name : str
        An activation name (ACTIVATIONS, an alias, or a name with parameters such as "elu(alpha=0.5)").
    z : numpy.ndarray
        The pre-activations, float32 or float64.
    negative_slope : float, default 0.01
        The slope of a leaky_relu that names none of its own.
    device : {"cpu", "cuda", "auto"}, default "cpu"
        Where the kernel runs; on CUDA the arrays are copied to the device and back.

    Returns
    -------
    numpy.ndarray
        act(z), of z's shape and dtype.

    Raises
    ------
    TypeError
        If the arrays are not float32 or float64, or mix the two.
    ValueError
        If the activation is unknown or a value is NaN or infinite.
    RuntimeError
        If device="cuda" where CUDA cannot be used.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import ops
    >>> ops.activation_forward("elu(alpha=0.5)", np.array([-1.0, 0.0, 1.0]))
    array([-0.31606028,  0.        ,  1.        ])
    """
    return _core.activation_forward(_name(name, "activation"), z, float(negative_slope), resolve_device(device))


def activation_backward(
    name: str, z: ArrayLike, grad_a: ArrayLike, *, negative_slope: float = 0.01, device: str = "cpu"
) -> NDArray[np.floating[Any]]:
    """grad_z = grad_a * act'(z), elementwise (the unit step's derivative is 0).

    Parameters
    ----------
    name : str
        An activation name.
    z : numpy.ndarray
        The pre-activations.
    grad_a : numpy.ndarray
        dL/da, of z's shape.
    negative_slope : float, default 0.01
        The slope of a leaky_relu that names none of its own.
    device : {"cpu", "cuda", "auto"}, default "cpu"
        Where the kernel runs; on CUDA the arrays are copied to the device and back.

    Returns
    -------
    numpy.ndarray
        grad_z, of z's shape and dtype.

    Raises
    ------
    TypeError
        If the arrays are not float32 or float64, or mix the two.
    ValueError
        If the shapes differ, the activation is unknown or a value is NaN or infinite.
    RuntimeError
        If device="cuda" where CUDA cannot be used.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import ops
    >>> ops.activation_backward("relu", np.array([-1.0, 2.0]), np.array([3.0, 3.0]))
    array([0., 3.])
    """
    return _core.activation_backward(
        _name(name, "activation"), z, grad_a, float(negative_slope), resolve_device(device)
    )


def _loss_args(
    name: str,
    pred: ArrayLike,
    target: ArrayLike,
    sample_weight: ArrayLike | None,
    class_weight: ArrayLike | None,
    delta: float,
) -> tuple[LossArg, ArrayLike, ArrayLike]:
    """(spec, pred, target) as _core takes them: class indices and sample weights travel as columns of
    the target array in pred's dtype (a class index per row, then the row's weight), see LossSpec."""
    name = _name(name, "loss")
    plain = sample_weight is None and class_weight is None and delta == 1.0
    if plain and not (name == "cross_entropy" and np.ndim(target) == 1 and np.ndim(pred) == 2):
        return name, pred, target
    spec: dict[str, Any] = {"name": name, "delta": float(delta)}
    p = np.asarray(pred)
    t = np.asarray(target)
    dtype = p.dtype if p.dtype.kind == "f" else np.float64  # a bad pred dtype is refused by the kernel
    if name == "cross_entropy" and p.ndim == 2 and t.ndim == 1:
        if t.dtype.kind not in "iuf" or t.dtype == bool:
            raise TypeError(f"class labels must be integers, got dtype {t.dtype}")
        spec["labels"] = True
        t = t.reshape(-1, 1)
    if class_weight is not None:
        spec["class_weight"] = [float(w) for w in np.asarray(class_weight, np.float64).ravel()]
    if sample_weight is not None:
        sw = np.asarray(sample_weight, np.float64)
        if p.ndim == 1:
            p, t = p.reshape(-1, 1), t.reshape(-1, 1)
        if sw.shape != (p.shape[0],):
            raise ValueError(f"sample_weight must have shape ({p.shape[0]},), one weight per row, got {sw.shape}")
        spec["weighted"] = True
        t = np.hstack([t.astype(dtype, copy=False), sw.reshape(-1, 1).astype(dtype)])
    if spec.get("labels") or spec.get("weighted"):
        t = np.ascontiguousarray(t, dtype=dtype)
    return spec, p, t


def loss(
    name: str,
    pred: ArrayLike,
    target: ArrayLike,
    reduction: str = "mean",
    *,
    sample_weight: ArrayLike | None = None,
    class_weight: ArrayLike | None = None,
    delta: float = 1.0,
    device: str = "cpu",
) -> float:
    """The loss of pred against target.

    Elementwise losses (mse, mae, huber, poisson, bce) take pred and target of one shape; bce and
    poisson read pred as logits / log-rates. cross_entropy takes pred (n, classes) logits and target
    either (n,) class indices or (n, classes) one-hot/probability rows; class_weight (classes,) weighs
    each class's term. sample_weight (n,) weighs rows. reduction="mean" divides by the rows (or the
    weights' sum) times the terms per row (the row's width; 1 for cross_entropy).

    Parameters
    ----------
    name : str
        A name of fastmlp.losses.LOSSES.
    pred : numpy.ndarray
        The predictions (logits for bce and cross_entropy, log-rates for poisson).
    target : numpy.ndarray
        The targets, as described above.
    reduction : {"mean", "sum"}, default "mean"
        How the terms are combined.
    sample_weight : array_like of shape (n,), optional
        One weight per row.
    class_weight : array_like of shape (classes,), optional
        One weight per class (cross_entropy).
    delta : float, default 1.0
        Huber's delta.
    device : {"cpu", "cuda", "auto"}, default "cpu"
        Where the kernel runs; on CUDA the arrays are copied to the device and back.

    Returns
    -------
    float
        The loss.

    Raises
    ------
    TypeError
        If the arrays are not float32 or float64, mix the two, or class labels are not integers.
    ValueError
        If the loss is unknown, the shapes do not fit, a target is out of the loss's range, or a
        value is NaN or infinite.
    RuntimeError
        If device="cuda" where CUDA cannot be used.

    See Also
    --------
    fastmlp.reference.loss : Its float64 twin, with every formula.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import ops
    >>> ops.loss("mse", np.array([1.0, 2.0]), np.array([0.0, 0.0]))
    2.5
    >>> ops.loss("mse", np.array([1.0, 2.0]), np.array([0.0, 0.0]), "sum")
    5.0
    >>> logits = np.array([[2.0, 0.0], [0.0, 2.0]])
    >>> round(ops.loss("cross_entropy", logits, np.array([0, 1])), 6)
    0.126928
    """
    spec, p, t = _loss_args(name, pred, target, sample_weight, class_weight, delta)
    return _core.loss(spec, p, t, _name(reduction, "reduction"), resolve_device(device))


def loss_grad(
    name: str,
    pred: ArrayLike,
    target: ArrayLike,
    reduction: str = "mean",
    *,
    sample_weight: ArrayLike | None = None,
    class_weight: ArrayLike | None = None,
    delta: float = 1.0,
    device: str = "cpu",
) -> NDArray[np.floating[Any]]:
    """dL/dpred for loss(name, pred, target, reduction, ...), shaped like pred.

    Parameters
    ----------
    name : str
        A name of fastmlp.losses.LOSSES.
    pred : numpy.ndarray
        The predictions.
    target : numpy.ndarray
        The targets (see `loss`).
    reduction : {"mean", "sum"}, default "mean"
        How the terms are combined.
    sample_weight : array_like of shape (n,), optional
        One weight per row.
    class_weight : array_like of shape (classes,), optional
        One weight per class (cross_entropy).
    delta : float, default 1.0
        Huber's delta.
    device : {"cpu", "cuda", "auto"}, default "cpu"
        Where the kernel runs; on CUDA the arrays are copied to the device and back.

    Returns
    -------
    numpy.ndarray
        The gradient, of pred's shape and dtype.

    Raises
    ------
    TypeError
        If the arrays are not float32 or float64, or mix the two.
    ValueError
        If the loss is unknown, the shapes do not fit, a target is out of the loss's range, or a
        value is NaN or infinite.
    RuntimeError
        If device="cuda" where CUDA cannot be used.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import ops
    >>> ops.loss_grad("mse", np.array([1.0, 2.0]), np.array([0.0, 0.0]))
    array([1., 2.])
    """
    spec, p, t = _loss_args(name, pred, target, sample_weight, class_weight, delta)
    g = _core.loss_grad(spec, p, t, _name(reduction, "reduction"), resolve_device(device))
    return g.reshape(np.shape(pred))


def init(
    name: str,
    fan_in: int,
    fan_out: int,
    seed: int = 0,
    *,
    shape: int | Sequence[int] | None = None,
    dtype: str | np.dtype[Any] | type[np.floating[Any]] = "float32",
    stream: int = 0,
    truncated: bool = False,
    value: float = 0.0,
    low: float = 0.0,
    high: float = 1.0,
    mean: float = 0.0,
    std: float = 1.0,
    device: str = "cpu",
) -> NDArray[np.floating[Any]]:
    """Initial values for a (fan_in, fan_out) weight (or `shape`), drawn from Philox.

    The numbers are drawn by `seed` and `stream`: the same arguments give the same numbers on any
    thread count, and on CUDA (uniform and constant kinds bit for bit; normal kinds up to the last bit
    of the device's log and cos). See fastmlp.init for the kinds and their formulas.

    Parameters
    ----------
    name : str
        An initializer name or alias (fastmlp.init.INITIALIZERS, fastmlp.init.ALIASES).
    fan_in : int
        The layer's inputs (>= 0).
    fan_out : int
        The layer's outputs (>= 0).
    seed : int, default 0
        The seed, in [0, 2**64).
    shape : int or tuple of int, optional
        The shape of the result; default (fan_in, fan_out). The fans still set the scale.
    dtype : {"float32", "float64"}, default "float32"
        The dtype of the result.
    stream : int, default 0
        The stream, in [0, 2**64): arrays of one seed on different streams are independent (MLP uses
        stream 2 * layer for a weight, 2 * layer + 1 for its bias).
    truncated : bool, default False
        For the normal kinds: redraw values beyond two standard deviations (the fan-scaled kinds
        rescale so that the variance is the formula's).
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
    device : {"cpu", "cuda", "auto"}, default "cpu"
        Where the kernel runs; on CUDA the arrays are copied to the device and back.

    Returns
    -------
    numpy.ndarray
        The values, of the given shape and dtype.

    Raises
    ------
    TypeError
        If `name` is not a str, or a count is not an int.
    ValueError
        If the initializer is unknown, a count or the seed is out of range, or the values do not fit
        the dtype (e.g. constant 1e300 in float32).
    RuntimeError
        If device="cuda" where CUDA cannot be used.

    See Also
    --------
    fastmlp.reference.init : Its float64 twin.

    Examples
    --------
    >>> from fastmlp import ops
    >>> ops.init("he_uniform", 3, 2, seed=0)
    array([[ 0.18791756,  1.351221  ],
           [-0.4266369 , -1.3986661 ],
           [ 0.9454783 , -1.3327404 ]], dtype=float32)
    >>> ops.init("constant", 2, 2, value=0.5, dtype="float64")
    array([[0.5, 0.5],
           [0.5, 0.5]])
    """
    name = _canonical_init(name)
    fan_in, fan_out = _size(fan_in, "fan_in"), _size(fan_out, "fan_out")
    shape = (fan_in, fan_out) if shape is None else tuple(_size(s, "shape") for s in np.atleast_1d(shape).tolist())
    dtype = cast(str, np.dtype(dtype).name)  # (numpy's LiteralString, which mypy reads as Any for Python 3.10)
    seed = check_int(seed, "seed", 0, 2**64)
    stream = check_int(stream, "stream", 0, 2**64)
    out = _core.init(
        name,
        fan_in,
        fan_out,
        seed,
        list(shape),
        dtype,
        stream,
        check_bool(truncated, "truncated"),
        float(value),
        float(low),
        float(high),
        float(mean),
        float(std),
        resolve_device(device),
    )
    if out.size and not np.isfinite(out).all():  # e.g. constant 1e300 in float32
        raise ValueError(
            f"init {name!r} gives values outside the range of {dtype} (value={value}, low={low}, "
            f"high={high}, mean={mean}, std={std}); choose parameters that {dtype} can hold"
        )
    return out


def permutation(n: int, seed: int, epoch: int = 0) -> NDArray[np.int64]:
    """The order in which an epoch visits n samples (Fisher-Yates from Philox).

    Parameters
    ----------
    n : int
        The number of samples (>= 0).
    seed : int
        The fit's seed, in [0, 2**64).
    epoch : int, default 0
        The epoch, in [0, 2**64).

    Returns
    -------
    numpy.ndarray
        A permutation of 0 .. n - 1, int64.

    Raises
    ------
    TypeError
        If an argument is not an int.
    ValueError
        If an argument is out of range.

    See Also
    --------
    fastmlp.reference.permutation : Its twin, which states the algorithm.

    Examples
    --------
    >>> from fastmlp import ops
    >>> ops.permutation(5, seed=0)
    array([4, 3, 1, 0, 2])
    >>> ops.permutation(5, seed=0, epoch=1)
    array([4, 1, 2, 3, 0])
    """
    return _core.permutation(_size(n, "n"), check_int(seed, "seed", 0, 2**64), check_int(epoch, "epoch", 0, 2**64))


def sgd_update(param: NDArray[np.floating[Any]], grad: ArrayLike, lr: float, *, device: str = "cpu") -> None:
    """param -= lr * grad, in place.

    Parameters
    ----------
    param : numpy.ndarray
        The parameter: a C-contiguous, writeable float32 or float64 array.
    grad : numpy.ndarray
        Its gradient, of the same shape and dtype.
    lr : float
        The learning rate (> 0).
    device : {"cpu", "cuda", "auto"}, default "cpu"
        Where the kernel runs; on CUDA the arrays are copied to the device and back.

    Raises
    ------
    TypeError
        If the arrays are not float32 or float64, or mix the two.
    ValueError
        If the shapes differ, param is not C-contiguous and writeable, lr is not > 0, or a value is
        NaN or infinite.
    RuntimeError
        If device="cuda" where CUDA cannot be used.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import ops
    >>> p = np.array([1.0, 2.0])
    >>> ops.sgd_update(p, np.array([1.0, 1.0]), 0.1)
    >>> p
    array([0.9, 1.9])
    """
    _core.sgd_update(param, grad, check_hyperparameter("lr", lr), resolve_device(device))


def optimizer_update(
    optimizer: Optimizer,
    param: NDArray[np.floating[Any]],
    grad: ArrayLike,
    state: Sequence[NDArray[np.floating[Any]]],
    step: int,
    lr: float | None = None,
    *,
    device: str = "cpu",
) -> None:
    """One step of an optimizer on param, in place, with its state buffers updated in place too.

    Parameters
    ----------
    optimizer : fastmlp.optim.Optimizer
        The optimizer and its hyperparameters.
    param : numpy.ndarray
        The parameter: a C-contiguous, writeable float array.
    grad : numpy.ndarray
        Its gradient, of the same shape and dtype.
    state : list of numpy.ndarray
        The optimizer's state buffers, each shaped like param, in the order of
        optimizer.state_names().
    step : int
        The 1-based number of this update (bias corrections and first-step rules depend on it).
    lr : float, optional
        The learning rate of this step; default the optimizer's.
    device : {"cpu", "cuda", "auto"}, default "cpu"
        Where the kernel runs; on CUDA the arrays are copied to the device and back.

    Raises
    ------
    ValueError
        If step is below 1, lr is not > 0, the state does not fit the optimizer, or the arrays do not
        fit each other.
    TypeError
        If the arrays are not float32 or float64, or mix the two.
    RuntimeError
        If device="cuda" where CUDA cannot be used.

    See Also
    --------
    fastmlp.reference.optimizer_step : Its twin, which returns the new values instead.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import ops, optim
    >>> p, buf = np.array([1.0, 2.0]), np.zeros(2)
    >>> ops.optimizer_update(optim.SGD(lr=0.1, momentum=0.9), p, np.array([0.5, -0.5]), [buf], step=1)
    >>> p, buf
    (array([0.95, 2.05]), array([ 0.5, -0.5]))
    """
    cfg = optimizer.config()
    step = check_int(step, "step", -(2**63), 2**63)
    if step < 1:
        raise ValueError(f"step must be >= 1 (the 1-based number of this update), got {step}")
    lr = cfg["lr"] if lr is None else check_hyperparameter("lr", lr)
    _core.optimizer_update(param, grad, list(state), step, lr, cfg, resolve_device(device))
