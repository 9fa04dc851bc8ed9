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

import numpy as np

from . import _core
from ._constraints import check_bool, check_int
from .init import canonical as _canonical_init
from .optim import check_hyperparameter

__all__ = [
    "matmul", "dense_forward", "dense_backward", "activation_forward", "activation_backward",
    "loss", "loss_grad", "init", "permutation", "sgd_update", "optimizer_update", "ACTIVATIONS",
]

ACTIVATIONS = tuple(_core.names["activation"])  # the kernels' own table (csrc/bindings/names.h)
# Names may carry parameters, "elu(alpha=0.5)": see fastmlp.activations.


def _name(value, what):
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a name (str), got {type(value).__name__}")
    return value


def _size(value, name):
    """A count or size: an int, not a bool, refused when negative (or absurdly large) by name."""
    value = check_int(value, name, -(2**63), 2**62)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got a negative {value}")
    return value


def resolve_device(device):
    """"cpu" or "cuda" for a device argument; "auto" picks CUDA when it can be used. Asking for CUDA
    where it cannot be used raises RuntimeError saying why (not built, or no device)."""
    if not isinstance(device, str):
        raise TypeError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")
    return "cuda" if _core.check_device(device) else "cpu"


def matmul(a, b, trans_a=False, trans_b=False, *, device="cpu"):
    """op(a) @ op(b) with the library's GEMM (op = transpose when asked, without copying);
    device="cuda" runs the CUDA kernel (arrays are copied to the device and back)."""
    return _core.matmul(a, b, check_bool(trans_a, "trans_a"), check_bool(trans_b, "trans_b"), resolve_device(device))


def dense_forward(x, w, b, activation="identity", *, negative_slope=0.01, device="cpu"):
    """y = activation(x @ w + b); x (n, in), w (in, out), b (out,) -> y (n, out)."""
    return _core.dense_forward(x, w, b, _name(activation, "activation"), float(negative_slope),
                               resolve_device(device))


def dense_backward(x, w, grad_y, activation="identity", y=None, *, z=None, negative_slope=0.01, device="cpu"):
    """Gradients of a dense layer: (grad_x, grad_w, grad_b) given grad_y = dL/dy.

    With an activation other than identity, grad_y is the gradient with respect to the output and the
    activation's derivative is applied first: read off `y`, the forward output, or, for the activations
    whose derivative needs it (GELU, SiLU, ELU, softplus, SELU: fastmlp.activations.needs_z), computed
    from `z` = x @ w + b, the pre-activation."""
    return _core.dense_backward(x, w, grad_y, _name(activation, "activation"), y, float(negative_slope),
                                resolve_device(device), z)


def activation_forward(name, z, *, negative_slope=0.01, device="cpu"):
    """a = act(z) elementwise; name in ACTIVATIONS."""
    return _core.activation_forward(_name(name, "activation"), z, float(negative_slope), resolve_device(device))


def activation_backward(name, z, grad_a, *, negative_slope=0.01, device="cpu"):
    """grad_z = grad_a * act'(z) elementwise (the unit step's derivative is 0)."""
    return _core.activation_backward(_name(name, "activation"), z, grad_a, float(negative_slope),
                                     resolve_device(device))


def _loss_args(name, pred, target, sample_weight, class_weight, delta):
    """(spec, pred, target) as _core takes them: class indices and sample weights travel as columns of
    the target array in pred's dtype (a class index per row, then the row's weight), see LossSpec."""
    name = _name(name, "loss")
    if sample_weight is None and class_weight is None and delta == 1.0:
        if not (name == "cross_entropy" and np.ndim(target) == 1 and np.ndim(pred) == 2):
            return name, pred, target
    spec = {"name": name, "delta": float(delta)}
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


def loss(name, pred, target, reduction="mean", *, sample_weight=None, class_weight=None, delta=1.0,
         device="cpu"):
    """The loss (a Python float) of pred against target; name in fastmlp.losses.LOSSES.

    Elementwise losses (mse, mae, huber, poisson, bce) take pred and target of one shape; bce and
    poisson read pred as logits / log-rates. cross_entropy takes pred (n, classes) logits and target
    either (n,) class indices or (n, classes) one-hot/probability rows; class_weight (classes,) weighs
    each class's term. sample_weight (n,) weighs rows. reduction="mean" divides by the rows (or the
    weights' sum) times the terms per row (the row's width; 1 for cross_entropy)."""
    spec, p, t = _loss_args(name, pred, target, sample_weight, class_weight, delta)
    return _core.loss(spec, p, t, _name(reduction, "reduction"), resolve_device(device))


def loss_grad(name, pred, target, reduction="mean", *, sample_weight=None, class_weight=None, delta=1.0,
              device="cpu"):
    """dL/dpred for loss(name, pred, target, reduction, ...), shaped like pred."""
    spec, p, t = _loss_args(name, pred, target, sample_weight, class_weight, delta)
    g = _core.loss_grad(spec, p, t, _name(reduction, "reduction"), resolve_device(device))
    return g.reshape(np.shape(pred))


def init(name, fan_in, fan_out, seed=0, *, shape=None, dtype="float32", stream=0, truncated=False,
         value=0.0, low=0.0, high=1.0, mean=0.0, std=1.0, device="cpu"):
    """Initial values for a (fan_in, fan_out) weight (or `shape`), drawn from Philox by `seed` and
    `stream`: the same arguments give the same numbers on any thread count, and on CUDA (uniform and
    constant kinds bit for bit; normal kinds up to the last bit of the device's log and cos). See
    fastmlp.init."""
    name = _canonical_init(name)
    fan_in, fan_out = _size(fan_in, "fan_in"), _size(fan_out, "fan_out")
    shape = (fan_in, fan_out) if shape is None else tuple(_size(s, "shape") for s in np.atleast_1d(shape).tolist())
    dtype = np.dtype(dtype).name
    seed = check_int(seed, "seed", 0, 2**64)
    stream = check_int(stream, "stream", 0, 2**64)
    out = _core.init(name, fan_in, fan_out, seed, list(shape), dtype, stream, check_bool(truncated, "truncated"),
                     float(value), float(low), float(high), float(mean), float(std), resolve_device(device))
    if out.size and not np.isfinite(out).all():  # e.g. constant 1e300 in float32
        raise ValueError(f"init {name!r} gives values outside the range of {dtype} (value={value}, low={low}, "
                         f"high={high}, mean={mean}, std={std}); choose parameters that {dtype} can hold")
    return out


def permutation(n, seed, epoch=0):
    """The order in which an epoch visits n samples (Fisher-Yates from Philox; int64 array)."""
    return _core.permutation(_size(n, "n"), check_int(seed, "seed", 0, 2**64),
                             check_int(epoch, "epoch", 0, 2**64))


def sgd_update(param, grad, lr, *, device="cpu"):
    """param -= lr * grad, in place (param must be a C-contiguous, writeable float array)."""
    _core.sgd_update(param, grad, check_hyperparameter("lr", lr), resolve_device(device))


def optimizer_update(optimizer, param, grad, state, step, lr=None, *, device="cpu"):
    """One step of `optimizer` (a fastmlp.optim optimizer) on param, in place, with its state buffers
    (a list of arrays shaped like param, see optimizer.state_names()) updated in place too. step is the
    1-based number of this update (bias corrections and first-step rules depend on it); lr defaults to
    the optimizer's."""
    cfg = optimizer.config()
    step = check_int(step, "step", -(2**63), 2**63)
    if step < 1:
        raise ValueError(f"step must be >= 1 (the 1-based number of this update), got {step}")
    lr = cfg["lr"] if lr is None else check_hyperparameter("lr", lr)
    _core.optimizer_update(param, grad, list(state), step, lr, cfg, resolve_device(device))
