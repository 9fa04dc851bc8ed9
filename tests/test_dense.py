"""The dense layer: ops.dense_forward / dense_backward against the reference for every activation,
finite-difference gradients through MSE and MAE in float64, and argument validation."""

from __future__ import annotations

import numpy as np
import pytest

from fastmlp import ops, reference
from helpers import shape_id

DTYPES = [pytest.param(np.float32, id="f32"), pytest.param(np.float64, id="f64")]
SLOPE = 0.15  # a non-default leaky_relu slope, so that the argument is seen to reach the kernel
# Every activation; the last six need z for their derivative (dense_backward then takes z, not y).
ACTS = [
    pytest.param(name, {"negative_slope": SLOPE} if name == "leaky_relu" else {}, id=name)
    for name in (
        "identity",
        "step",
        "sigmoid",
        "tanh",
        "relu",
        "leaky_relu",
        "gelu",
        "gelu_tanh",
        "silu",
        "elu(alpha=0.6)",
        "softplus(beta=1.5, threshold=2)",
        "selu",
    )
]
DIFFERENTIABLE = [p for p in ACTS if p.id != "step"]

_V = (1, 3, 17, 64, 129)
# (n, k, m): each size in each role, plus an empty batch.
SHAPES = sorted(
    {(_V[i], _V[(i + 1) % 5], _V[(i + 2) % 5]) for i in range(5)}
    | {(_V[i], _V[(i + 4) % 5], _V[(i + 3) % 5]) for i in range(5)}
) + [(0, 3, 17), (0, 17, 1), (3, 0, 5), (3, 5, 0), (0, 0, 0)]


def _layer(rng, n, k, m, dtype):
    x = rng.standard_normal((n, k)).astype(dtype)
    w = (rng.standard_normal((k, m)) / np.sqrt(max(k, 1))).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    return x, w, b


def _ref_kwargs(kwargs):
    return {"negative_slope": kwargs.get("negative_slope", 0.01)}


@pytest.mark.parametrize("act, kwargs", ACTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: shape_id(s, "nkm"))
def test_dense_forward_matches_reference(rng, tol, assert_close, shape, dtype, act, kwargs):
    n, k, m = shape
    x, w, b = _layer(rng, n, k, m, dtype)
    got = ops.dense_forward(x, w, b, act, **kwargs)
    want = reference.dense_forward(x, w, b, act, **_ref_kwargs(kwargs))
    rtol, atol = tol[dtype]
    if act == "step":
        # [z >= 0] is discontinuous: a z within rounding of 0 may land on either side. Check the
        # values are 0/1 and agree wherever z is clearly away from 0.
        z = reference.dense_forward(x, w, b, "identity")
        clear = np.abs(z) > 1e-4 * (np.abs(x) @ np.abs(w) + np.abs(b) + 1)
        assert np.isin(got, (0.0, 1.0)).all(), f"step output not 0/1: {np.unique(got)[:10]}"
        assert_close(got[clear], want[clear], dtype, f"dense_forward step {shape}")
        return
    # The GEMM's k-term sum sets the error scale: atol relative to |x| |w| + |b|.
    scale = np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64)) + np.abs(b)
    assert_close(got, want, dtype, f"dense_forward {act} {shape}", rtol=rtol, atol=atol + 4 * rtol * scale)


@pytest.mark.parametrize("act, kwargs", ACTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: shape_id(s, "nkm"))
def test_dense_backward_matches_reference(rng, tol, assert_close, shape, dtype, act, kwargs):
    n, k, m = shape
    x, w, b = _layer(rng, n, k, m, dtype)
    y = ops.dense_forward(x, w, b, act, **kwargs)  # what training stores and passes back
    z = ops.dense_forward(x, w, b)  # and, for the activations that need it, the pre-activation
    gy = rng.standard_normal((n, m)).astype(dtype)
    needs_z = reference.needs_z(act)
    y_arg = None if act == "identity" or needs_z else y
    gx, gw, gb = ops.dense_backward(x, w, gy, act, y_arg, z=z if needs_z else None, **kwargs)
    rx, rw, rb = reference.dense_backward(x, w, gy, act, y, z=z, **_ref_kwargs(kwargs))
    rtol, atol = tol[dtype]
    gz = np.abs(reference.activation_backward(act, z, gy, **_ref_kwargs(kwargs)))
    xa, wa = np.abs(x.astype(np.float64)), np.abs(w.astype(np.float64))
    assert_close(gx, rx, dtype, f"grad_x {act} {shape}", rtol=rtol, atol=atol + 4 * rtol * (gz @ wa.T))
    assert_close(gw, rw, dtype, f"grad_w {act} {shape}", rtol=rtol, atol=atol + 4 * rtol * (xa.T @ gz))
    assert_close(gb, rb, dtype, f"grad_b {act} {shape}", rtol=rtol, atol=atol + 4 * rtol * gz.sum(axis=0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_backward_asks_for_z_where_the_derivative_needs_it(rng, dtype):
    x, w, b = _layer(rng, 5, 4, 3, dtype)
    gy = rng.standard_normal((5, 3)).astype(dtype)
    y = ops.dense_forward(x, w, b, "gelu")
    with pytest.raises(ValueError, match="needs z, the pre-activation"):
        ops.dense_backward(x, w, gy, "gelu", y)  # y alone cannot give GELU's derivative
    with pytest.raises(ValueError, match="needs y"):
        ops.dense_backward(x, w, gy, "tanh", None, z=ops.dense_forward(x, w, b))
    with pytest.raises(ValueError, match="z has shape"):
        ops.dense_backward(x, w, gy, "silu", z=np.ones((5, 2), dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_backward_identity_ignores_y(rng, assert_bitwise, dtype):
    x, w, b = _layer(rng, 5, 4, 3, dtype)
    gy = rng.standard_normal((5, 3)).astype(dtype)
    without = ops.dense_backward(x, w, gy, "identity", None)
    with_y = ops.dense_backward(x, w, gy, "identity", ops.dense_forward(x, w, b))
    for name, g0, g1 in zip(("grad_x", "grad_w", "grad_b"), without, with_y):
        assert_bitwise(g1, g0, name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_noncontiguous_inputs(rng, assert_bitwise, dtype):
    """Strided, Fortran-ordered and transposed views give exactly what their contiguous copies give."""
    x_big = rng.standard_normal((14, 10)).astype(dtype)
    w_f = np.asfortranarray(rng.standard_normal((5, 4)).astype(dtype))
    b_big = rng.standard_normal(8).astype(dtype)
    gy_t = np.ascontiguousarray(rng.standard_normal((4, 7)).astype(dtype)).T  # (7, 4) transposed view
    x, b = x_big[::2, 1::2], b_big[::2]  # (7, 5), (4,)
    c = np.ascontiguousarray
    y = ops.dense_forward(c(x), c(w_f), c(b), "sigmoid")
    assert_bitwise(ops.dense_forward(x, w_f, b, "sigmoid"), y, "dense_forward on views")
    want = ops.dense_backward(c(x), c(w_f), c(gy_t), "sigmoid", y)
    got = ops.dense_backward(x, w_f, gy_t, "sigmoid", np.asfortranarray(y))
    for name, g, w_ in zip(("grad_x", "grad_w", "grad_b"), got, want):
        assert_bitwise(g, w_, f"{name} on views")


def test_dense_backward_does_not_modify_inputs(rng, assert_bitwise):
    x, w, b = _layer(rng, 6, 5, 4, np.float64)
    y = ops.dense_forward(x, w, b, "tanh")
    gy = rng.standard_normal((6, 4))
    saved = [a.copy() for a in (x, w, gy, y)]
    ops.dense_backward(x, w, gy, "tanh", y)
    for name, a, a0 in zip(("x", "w", "grad_y", "y"), (x, w, gy, y), saved):
        assert_bitwise(a, a0, f"{name} after dense_backward")


# ---- finite differences in float64 ------------------------------------------------------------------
def _fd_setup(rng, act, loss, n=5, k=4, m=3, h=1e-6):
    """x, w, b, t where every pre-activation and every residual is well away from a kink."""
    for _ in range(100):
        x, w, b = _layer(rng, n, k, m, np.float64)
        z = x @ w + b
        margin = 50 * h * (np.abs(x).sum(axis=1, keepdims=True) + 1)  # how far a step of h can move z
        kinked = act in ("relu", "leaky_relu") or act.startswith("elu")  # kinks at 0 (ELU's with alpha != 1)
        if kinked and np.any(np.abs(z) < margin):
            continue
        if act.startswith("softplus") and np.any(np.abs(1.5 * z - 2.0) < 1.5 * margin):  # beta z = threshold
            continue
        y = reference.activation_forward(act, z, SLOPE)
        sign = np.where(rng.random(y.shape) < 0.5, -1.0, 1.0)
        t = y + sign * rng.uniform(0.3, 1.0, y.shape)  # |residual| >= 0.3
        return x, w, b, t
    raise AssertionError("could not draw a kink-free setup")


def _objective(loss, act, t, kwargs):
    def f(x, w, b):
        return ops.loss(loss, ops.dense_forward(x, w, b, act, **kwargs), t)

    return f


@pytest.mark.parametrize("loss", ["mse", "mae"])
@pytest.mark.parametrize("act, kwargs", DIFFERENTIABLE)
def test_dense_gradient_finite_differences(rng, assert_close, act, kwargs, loss):
    h = 1e-6
    x, w, b, t = _fd_setup(rng, act, loss, h=h)
    f = _objective(loss, act, t, kwargs)
    y = ops.dense_forward(x, w, b, act, **kwargs)
    gy = ops.loss_grad(loss, y, t)
    if reference.needs_z(act):
        gx, gw, gb = ops.dense_backward(x, w, gy, act, z=ops.dense_forward(x, w, b), **kwargs)
    else:
        gx, gw, gb = ops.dense_backward(x, w, gy, act, None if act == "identity" else y, **kwargs)

    def numeric(which):
        args = [x.copy(), w.copy(), b.copy()]
        target = args[which]
        grad = np.empty_like(target)
        for idx in np.ndindex(target.shape):
            old = target[idx]
            target[idx] = old + h
            up = f(*args)
            target[idx] = old - h
            down = f(*args)
            target[idx] = old
            grad[idx] = (up - down) / (2 * h)
        return grad

    for name, analytic, which in (("grad_x", gx, 0), ("grad_w", gw, 1), ("grad_b", gb, 2)):
        assert_close(
            analytic,
            numeric(which),
            np.float64,
            f"{name} of {loss}({act}(x w + b)) vs finite differences",
            rtol=1e-6,
            atol=1e-8,
        )


# ---- argument validation ----------------------------------------------------------------------------
def _f64(*shape):
    return np.ones(shape, np.float64)


@pytest.mark.parametrize(
    "x, w, b, act, exc, names",
    [
        pytest.param(_f64(4, 3), _f64(5, 2), _f64(2), "identity", ValueError, ("x", "w"), id="x-w-features"),
        pytest.param(_f64(4, 3), _f64(3, 2), _f64(3), "identity", ValueError, ("b",), id="b-length"),
        pytest.param(_f64(4, 3), _f64(3, 2), _f64(1, 2), "identity", ValueError, ("b",), id="b-2d"),
        pytest.param(_f64(3), _f64(3, 2), _f64(2), "identity", ValueError, ("x",), id="x-1d"),
        pytest.param(_f64(4, 3), _f64(3), _f64(2), "identity", ValueError, ("w",), id="w-1d"),
        pytest.param(_f64(4, 3), np.ones((3, 2), np.float32), _f64(2), "identity", TypeError, ("w",), id="w-dtype"),
        pytest.param(_f64(4, 3), _f64(3, 2), np.ones(2, np.float32), "identity", TypeError, ("b",), id="b-dtype"),
        pytest.param(np.ones((4, 3), np.int32), _f64(3, 2), _f64(2), "identity", TypeError, ("x",), id="x-int"),
        pytest.param(None, _f64(3, 2), _f64(2), "identity", TypeError, ("x",), id="x-none"),
        pytest.param(np.full((4, 3), np.inf), _f64(3, 2), _f64(2), "identity", ValueError, ("x", "Inf"), id="x-inf"),
        pytest.param(_f64(4, 3), _f64(3, 2), _f64(2), "softmax", ValueError, ("activation", "relu"), id="unknown-act"),
        pytest.param(_f64(4, 3), _f64(3, 2), _f64(2), 3, TypeError, ("activation",), id="act-not-str"),
    ],
)
def test_dense_forward_errors(x, w, b, act, exc, names):
    with pytest.raises(exc) as info:
        ops.dense_forward(x, w, b, act)
    for name in names:
        assert name in str(info.value), f"{exc.__name__} message does not name {name!r}: {info.value}"


def test_dense_forward_negative_slope_error():
    with pytest.raises(ValueError, match="negative_slope"):
        ops.dense_forward(_f64(2, 3), _f64(3, 2), _f64(2), "leaky_relu", negative_slope=-0.1)


@pytest.mark.parametrize(
    "gy, act, y, exc, names",
    [
        pytest.param(_f64(4, 3), "identity", None, ValueError, ("grad_y",), id="grad_y-shape"),
        pytest.param(_f64(4), "identity", None, ValueError, ("grad_y",), id="grad_y-1d"),
        pytest.param(np.ones((4, 2), np.float32), "identity", None, TypeError, ("grad_y",), id="grad_y-dtype"),
        pytest.param(_f64(4, 2), "tanh", None, ValueError, ("y",), id="y-missing"),
        pytest.param(_f64(4, 2), "tanh", _f64(2, 4), ValueError, ("y",), id="y-shape"),
        pytest.param(_f64(4, 2), "tanh", np.ones((4, 2), np.float32), TypeError, ("y",), id="y-dtype"),
    ],
)
def test_dense_backward_errors(gy, act, y, exc, names):
    with pytest.raises(exc) as info:
        ops.dense_backward(_f64(4, 3), _f64(3, 2), gy, act, y)
    for name in names:
        assert name in str(info.value), f"{exc.__name__} message does not name {name!r}: {info.value}"


@pytest.mark.parametrize("act, kwargs", [p for p in ACTS if p.id in ("tanh", "leaky_relu")])
@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_threaded_matches_reference_and_is_deterministic(
    rng, tol, assert_close, assert_bitwise, num_threads, dtype, act, kwargs
):
    """A layer big enough (n k m >= 2 * 128^3) for its GEMMs to be split over 2 threads."""
    n, k, m = 300, 257, 129
    x, w, b = _layer(rng, n, k, m, dtype)
    gy = rng.standard_normal((n, m)).astype(dtype)
    num_threads(1)
    y1 = ops.dense_forward(x, w, b, act, **kwargs)
    g1 = ops.dense_backward(x, w, gy, act, y1, **kwargs)
    num_threads(2)
    y2 = ops.dense_forward(x, w, b, act, **kwargs)
    g2 = ops.dense_backward(x, w, gy, act, y2, **kwargs)
    assert_bitwise(y2, y1, f"dense_forward {act} with 2 threads vs 1")
    for name, a, c in zip(("grad_x", "grad_w", "grad_b"), g1, g2):
        assert_bitwise(c, a, f"{name} {act} with 2 threads vs 1")
    rtol, atol = tol[dtype]
    scale = np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64)) + np.abs(b)
    assert_close(
        y2,
        reference.dense_forward(x, w, b, act, **_ref_kwargs(kwargs)),
        dtype,
        f"dense_forward {act}",
        rtol=rtol,
        atol=atol + 4 * rtol * scale,
    )
    rx, rw, rb = reference.dense_backward(x, w, gy, act, y2, **_ref_kwargs(kwargs))
    for name, got, want in zip(("grad_x", "grad_w", "grad_b"), g2, (rx, rw, rb)):
        s = float(np.abs(want).max())
        assert_close(got, want, dtype, f"{name} {act}", rtol=rtol, atol=atol + 8 * rtol * s)
