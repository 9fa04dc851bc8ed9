"""Every CUDA kernel through fastmlp.ops.*(device="cuda") against the NumPy reference and the CPU kernel,
on odd shapes (1, 3, 17, 129, 1000, 4097 and 0). Skipped without a CUDA build and a GPU; run on a GPU
machine by tools/gpu_check.sh (`pytest -m cuda`).

Bounds: a float32 product summed over k terms is within about k eps (|a| |b|) of the exact one
(Higham, "Accuracy and Stability of Numerical Algorithms", 3.1); the tests allow 2 k eps of that.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastmlp
from fastmlp import ops, reference

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        not fastmlp.cuda_available(),
        reason=f"needs a CUDA build of fastmlp and a CUDA device (built with CUDA: {fastmlp.cuda_built()})",
    ),
]

DTYPES = [np.float32, np.float64]
ACTS = [
    "identity",
    "step",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "gelu",
    "gelu_tanh",
    "silu",
    "elu(alpha=0.5)",
    "softplus(beta=2, threshold=5)",
    "selu",
]
# How much an activation can stretch an error of z (its largest slope); 1 for the others.
LIPSCHITZ = {"gelu": 1.13, "gelu_tanh": 1.13, "silu": 1.1, "selu": 1.76}
# (n, k, m): batch, inputs, outputs.
DENSE_SHAPES = [(1, 1, 1), (3, 17, 5), (17, 129, 3), (129, 1000, 17), (1000, 3, 4097), (4097, 17, 129), (0, 3, 5)]


def check_within(got, want, bound, what):
    got = np.asarray(got, np.float64)
    assert got.shape == np.shape(want), f"{what}: shape {got.shape}, expected {np.shape(want)}"
    err = np.abs(got - want)
    bad = err > bound
    assert not bad.any(), (
        f"{what}: {int(bad.sum())} of {err.size} out of bound; max error {err.max():.3e}, "
        f"bound there {np.broadcast_to(bound, err.shape)[np.unravel_index(err.argmax(), err.shape)]:.3e}"
    )


def product_bound(abs_product, k, dtype):
    return 2 * max(k, 1) * np.finfo(dtype).eps * abs_product + np.finfo(dtype).tiny


@pytest.mark.parametrize("n,k,m", DENSE_SHAPES, ids=str)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_dense_forward(n, k, m, act, dtype):
    rng = np.random.default_rng(n * 7 + k * 3 + m)
    x = rng.standard_normal((n, k)).astype(dtype)
    w = rng.standard_normal((k, m)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    got = ops.dense_forward(x, w, b, act, device="cuda")
    assert got.dtype == dtype
    z_bound = product_bound(np.abs(x.astype(np.float64)) @ np.abs(w) + np.abs(b), k + 1, dtype)
    if act == "step":  # a z within the bound of 0 may land on either side
        z = reference.dense_forward(x, w, b)
        sure = np.abs(z) > z_bound
        np.testing.assert_array_equal(got[sure], reference.activation_forward("step", z)[sure])
        return
    want = reference.dense_forward(x, w, b, act)
    z_bound = z_bound * LIPSCHITZ.get(act, 1.0)
    check_within(got, want, z_bound + 4 * np.finfo(dtype).eps * np.abs(want), f"dense_forward {act}")
    check_within(
        got,
        ops.dense_forward(x, w, b, act),
        2 * z_bound + 8 * np.finfo(dtype).eps * np.abs(want),
        f"dense_forward {act} vs CPU",
    )


@pytest.mark.parametrize("n,k,m", DENSE_SHAPES, ids=str)
@pytest.mark.parametrize("act", ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "gelu", "silu", "elu(alpha=0.5)"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_dense_backward(n, k, m, act, dtype):
    rng = np.random.default_rng(n + 5 * k + 11 * m)
    x = rng.standard_normal((n, k)).astype(dtype)
    w = rng.standard_normal((k, m)).astype(dtype)
    y = ops.dense_forward(x, w, np.zeros(m, dtype), act)
    z = ops.dense_forward(x, w, np.zeros(m, dtype))  # read instead of y where the derivative needs z
    gy = rng.standard_normal((n, m)).astype(dtype)
    saved = {"z": z} if reference.needs_z(act) else {"y": y if act != "identity" else None}
    gx, gw, gb = ops.dense_backward(x, w, gy, act, device="cuda", **saved)
    wgx, wgw, wgb = reference.dense_backward(x, w, gy, act, y, z=z)
    gz = np.abs(reference.activation_backward(act, z, gy))
    # act'(z) read off y is exact up to an absolute error of a few eps (1 - y^2 cancels near |y| = 1),
    # so the error of grad_z is bounded by eps |grad_y|, not by eps |grad_z|.
    gy_abs, eps = np.abs(gy.astype(np.float64)), np.finfo(dtype).eps
    x64 = np.abs(x.astype(np.float64))
    check_within(gw, wgw, product_bound(x64.T @ gz, n, dtype) + 4 * eps * (x64.T @ gy_abs), "grad_w")
    check_within(gb, wgb, product_bound(gz.sum(axis=0), n, dtype) + 4 * eps * gy_abs.sum(axis=0), "grad_b")
    check_within(gx, wgx, product_bound(gz @ np.abs(w.T), m, dtype) + 4 * eps * (gy_abs @ np.abs(w.T)), "grad_x")


@pytest.mark.parametrize("size", [1, 3, 17, 129, 1000, 4097, 0])
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_activations(size, act, dtype, assert_close, tol):
    rng = np.random.default_rng(size)
    z = (rng.standard_normal((size, 3)) * 4).astype(dtype)
    z[: min(size, 2), 0] = 0.0  # the kink and the step's edge
    ga = rng.standard_normal((size, 3)).astype(dtype)
    a = ops.activation_forward(act, z, negative_slope=0.1, device="cuda")
    assert_close(a, reference.activation_forward(act, z, 0.1), dtype, f"{act} forward")
    gz = ops.activation_backward(act, z, ga, negative_slope=0.1, device="cuda")
    rtol, atol = tol[dtype]
    if act in ("gelu", "gelu_tanh", "silu"):
        # Their derivatives are sums of terms of size |g| (1 + |z|) that cancel where the derivative
        # crosses 0 (near z = -0.75 for GELU): the error is a few eps of the terms, not of the result.
        atol = atol + 4 * np.finfo(dtype).eps * np.abs(ga.astype(np.float64)) * (1 + np.abs(z.astype(np.float64)))
    assert_close(gz, reference.activation_backward(act, z, ga, 0.1), dtype, f"{act} backward", rtol=rtol, atol=atol)
    assert_close(
        gz,
        ops.activation_backward(act, z, ga, negative_slope=0.1),
        dtype,
        f"{act} backward vs CPU",
        rtol=rtol,
        atol=atol,
    )


@pytest.mark.parametrize("size", [1, 3, 17, 129, 1000, 4097, 1 << 20])
@pytest.mark.parametrize("name", ["mse", "mae"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_losses(size, name, reduction, dtype, assert_close):
    rng = np.random.default_rng(size)
    pred = rng.standard_normal(size).astype(dtype)
    target = rng.standard_normal(size).astype(dtype)
    target[: size // 3] = pred[: size // 3]  # MAE's gradient at 0 is 0
    got = ops.loss(name, pred, target, reduction, device="cuda")
    # The differences are taken in the dtype, then summed in float64 on the device in a fixed order.
    rel = max(4 * float(np.finfo(dtype).eps), 1e-12)
    assert got == pytest.approx(reference.loss(name, pred, target, reduction), rel=rel)
    assert got == pytest.approx(ops.loss(name, pred, target, reduction), rel=rel)
    assert got == ops.loss(name, pred, target, reduction, device="cuda"), "the reduction is deterministic"
    grad = ops.loss_grad(name, pred, target, reduction, device="cuda")
    assert_close(grad, reference.loss_grad(name, pred, target, reduction), dtype, f"{name} grad")


# (name, kwargs builder) of the row losses: class indices, probability rows, class and sample weights.
def _row_case(rng, name, n, m, dtype):
    pred = (3.0 * rng.standard_normal((n, m))).astype(dtype)
    kw = {}
    if name == "cross_entropy-labels":
        target = rng.integers(0, m, n)
        kw["class_weight"] = rng.random(m) + 0.5
    elif name == "cross_entropy-probs":
        p = rng.random((n, m)) + 0.1
        target = (p / p.sum(axis=1, keepdims=True)).astype(dtype)
    elif name == "bce":
        target = rng.random((n, m)).astype(dtype)
    elif name == "poisson":
        target = rng.poisson(2.0, (n, m)).astype(dtype)
    else:  # huber, weighted
        target = (pred + rng.standard_normal((n, m))).astype(dtype)
        kw["sample_weight"] = (rng.random(n) + 0.1).astype(dtype)
        kw["delta"] = 0.5
    return name.split("-")[0], pred, target, kw


@pytest.mark.parametrize("n, m", [(1, 2), (3, 3), (17, 5), (129, 2), (4097, 17)])
@pytest.mark.parametrize("case", ["cross_entropy-labels", "cross_entropy-probs", "bce", "poisson", "huber"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_classification_losses(n, m, case, reduction, dtype, assert_close):
    name, pred, target, kw = _row_case(np.random.default_rng(n * m), case, n, m, dtype)
    got = ops.loss(name, pred, target, reduction, device="cuda", **kw)
    want = reference.loss(name, pred, target, reduction, **kw)
    assert got == pytest.approx(want, rel=1e-10), f"{case}: {got} vs {want}"
    assert got == pytest.approx(ops.loss(name, pred, target, reduction, **kw), rel=1e-12)
    grad = ops.loss_grad(name, pred, target, reduction, device="cuda", **kw)
    assert_close(grad, reference.loss_grad(name, pred, target, reduction, **kw), dtype, f"{case} grad")


INITS = [
    ("zeros", {}),
    ("ones", {}),
    ("constant", {"value": 0.25}),
    ("uniform", {"low": -2.0, "high": 3.0}),
    ("normal", {"mean": 1.0, "std": 0.5}),
    ("lecun_uniform", {}),
    ("lecun_normal", {}),
    ("xavier_uniform", {}),
    ("xavier_normal", {"truncated": True}),
    ("he_uniform", {}),
    ("he_normal", {}),
    ("he_normal", {"truncated": True}),
]


@pytest.mark.parametrize("name,kw", INITS, ids=lambda v: v if isinstance(v, str) else str(v))
@pytest.mark.parametrize("shape", [(1, 1), (3, 17), (129, 1000), (4097, 3), (0, 5)], ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_init_draws_the_cpu_stream(name, kw, shape, dtype):
    args = dict(seed=12345, shape=shape, dtype=np.dtype(dtype).name, stream=3, **kw)
    gpu = ops.init(name, max(shape[0], 1), max(shape[1], 1), device="cuda", **args)
    cpu = ops.init(name, max(shape[0], 1), max(shape[1], 1), **args)
    assert gpu.dtype == cpu.dtype and gpu.shape == cpu.shape
    if "normal" not in name:
        assert gpu.tobytes() == cpu.tobytes(), f"{name}: not bitwise identical to the CPU"
        return
    # Normals go through the device's log (within 1 ulp) and cos (within 2 ulp, CUDA Math API), while
    # glibc's are nearly correctly rounded: a few ulp apart in float64; after rounding to float32, at
    # most one ulp apart and nearly always identical.
    ulp = np.spacing(np.abs(cpu).astype(dtype))
    if dtype == np.float32:
        assert np.all(np.abs(gpu - cpu) <= ulp), f"{name}: max difference {np.abs(gpu - cpu).max():.3e}"
        assert gpu.size == 0 or np.mean(gpu == cpu) >= 0.99
    else:  # v = mean + sigma z: a few ulp of each term, however close v comes to 0
        mean = kw.get("mean", 0.0)
        terms = np.spacing(np.abs(cpu - mean) + abs(mean))
        assert np.all(np.abs(gpu - cpu) <= 8 * terms), f"{name}: max difference {np.abs(gpu - cpu).max():.3e}"
    np.testing.assert_allclose(
        gpu,
        reference.init(name, max(shape[0], 1), max(shape[1], 1), **{k: v for k, v in args.items() if k != "dtype"}),
        rtol=1e-6 if dtype == np.float32 else 1e-13,
        atol=1e-7,
    )


OPTIMIZERS = [
    fastmlp.optim.SGD(lr=0.1),
    fastmlp.optim.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    fastmlp.optim.SGD(lr=0.05, momentum=0.9, dampening=0.1),
    fastmlp.optim.Adam(lr=1e-2),
    fastmlp.optim.Adam(lr=1e-2, amsgrad=True, weight_decay=1e-3),
    fastmlp.optim.AdamW(lr=1e-2, amsgrad=True),
    fastmlp.optim.RMSprop(lr=1e-3),
    fastmlp.optim.RMSprop(lr=1e-3, momentum=0.5, centered=True, weight_decay=1e-2),
    fastmlp.optim.Adagrad(lr=0.05, lr_decay=1e-3, initial_accumulator_value=0.1),
    fastmlp.optim.NAdam(lr=1e-2, weight_decay=1e-3),
    fastmlp.optim.NAdam(lr=1e-2, momentum_decay=1e-2, weight_decay=1e-2, decoupled_weight_decay=True),
    fastmlp.optim.RAdam(lr=1e-2, betas=(0.9, 0.9), weight_decay=1e-3),  # 5 steps: unrectified (the fits rectify)
    fastmlp.optim.RAdam(lr=1e-2, betas=(0.9, 0.5), weight_decay=1e-2, decoupled_weight_decay=True),
    fastmlp.optim.Adamax(lr=1e-2, betas=(0.8, 0.9), eps=1e-4, weight_decay=1e-3),
]


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=lambda o: repr(o))
@pytest.mark.parametrize("size", [1, 3, 17, 129, 1000, 4097])
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_optimizer_update_matches_cpu_and_reference(opt, size, dtype, assert_close):
    rng = np.random.default_rng(size)
    p0 = rng.standard_normal(size).astype(dtype)
    gpu_p, cpu_p = p0.copy(), p0.copy()
    gpu_s = [np.full(size, v, dtype) for v in opt.state_initial_values()]
    cpu_s = [s.copy() for s in gpu_s]
    ref_p, ref_s = p0.astype(np.float64), [None] * len(gpu_s)
    for step in range(1, 6):
        g = rng.standard_normal(size).astype(dtype)
        ops.optimizer_update(opt, gpu_p, g, gpu_s, step, device="cuda")
        ops.optimizer_update(opt, cpu_p, g, cpu_s, step)
        ref_p, ref_s = reference.optimizer_step(opt.config(), ref_p, g, ref_s, step, opt.lr)
    # The same per-element arithmetic (fastmlp/optimizers/<name>.h) on both, with coefficients computed on
    # the host, no FMA contraction (optim.cu is built with --fmad=false) and IEEE-rounded sqrt and
    # division on both: the same bits.
    assert gpu_p.tobytes() == cpu_p.tobytes(), f"param differs from the CPU's by {np.abs(gpu_p - cpu_p).max():.3e}"
    for a, b in zip(gpu_s, cpu_s):
        assert a.tobytes() == b.tobytes(), f"state differs from the CPU's by {np.abs(a - b).max():.3e}"
    assert_close(gpu_p, ref_p, dtype, "param vs reference")


@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_sgd_update(dtype):
    p = np.arange(4097, dtype=dtype)
    g = np.linspace(-1, 1, 4097).astype(dtype)
    want = reference.sgd_update(p, g, 0.5)
    ops.sgd_update(p, g, 0.5, device="cuda")
    np.testing.assert_allclose(p, want, rtol=np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_gradients_match_reference(dtype):
    rng = np.random.default_rng(7)
    model = fastmlp.MLP([17, 129, 3, 2], activation="tanh", seed=2, dtype=np.dtype(dtype).name, device="cuda")
    x = rng.standard_normal((1000, 17)).astype(dtype)
    y = rng.standard_normal((1000, 2)).astype(dtype)
    value, grads = model.gradients(x, y)
    want_value, want = reference.mlp_loss_grad(model.weights, model.biases, model.activations, "mse", x, y)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    assert value == pytest.approx(want_value, rel=tol)
    for (gw, gb), (ww, wb) in zip(grads, want):
        np.testing.assert_allclose(gw, ww, rtol=tol, atol=tol * np.abs(ww).max())
        np.testing.assert_allclose(gb, wb, rtol=tol, atol=tol * np.abs(wb).max())
    assert model.evaluate(x, y) == pytest.approx(want_value, rel=tol)


def test_cuda_gemm_covers_more_row_tiles_than_a_grid_dimension():
    # 16-row tiles: more than 65535 of them need the kernel's stride over row tiles.
    x = np.random.default_rng(0).standard_normal((16 * 65535 + 37, 2))
    w = np.array([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]])
    b = np.array([0.5, 0.0, -0.5])
    got = ops.dense_forward(x, w, b, device="cuda")
    np.testing.assert_allclose(got, x @ w + b, rtol=1e-13, atol=1e-13)
