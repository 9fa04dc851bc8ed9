"""Property tests (hypothesis): algebraic facts every correct kernel obeys, on arbitrary small shapes
including empty batches, checked against the NumPy reference or against the kernels themselves."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastmlp
from fastmlp import ops, reference

SETTINGS = settings(max_examples=60, deadline=None)
finite = st.floats(-4, 4, allow_nan=False, allow_infinity=False, width=64)
# Multiples of 1/1024: squares of differences never underflow, so "zero only at equality" is exact math.
grid = st.integers(-4096, 4096).map(lambda i: i / 1024.0)
dims = st.integers(0, 9)
ACTS = ["identity", "step", "sigmoid", "tanh", "relu", "leaky_relu"]


@st.composite
def dense_case(draw, min_n=0):
    n, k, m = draw(st.integers(min_n, 9)), draw(dims), draw(dims)
    x = draw(hnp.arrays(np.float64, (n, k), elements=finite))
    w = draw(hnp.arrays(np.float64, (k, m), elements=finite))
    b = draw(hnp.arrays(np.float64, (m,), elements=finite))
    return x, w, b


@SETTINGS
@given(dense_case(), st.sampled_from(ACTS))
def test_dense_forward_matches_reference_on_any_small_shape(case, act):
    x, w, b = case
    got = ops.dense_forward(x, w, b, act)
    want = reference.dense_forward(x, w, b, act)
    if act == "step":  # a pre-activation within rounding of 0 may legitimately land on either side
        z = reference.dense_forward(x, w, b)
        mask = np.abs(z) > 1e-9
        assert np.array_equal(got[mask], want[mask])
    else:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(dense_case(), st.floats(-3, 3), st.floats(-3, 3))
def test_dense_forward_is_affine_in_x(case, alpha, beta):
    """f(alpha x1 + beta x2) = alpha f(x1) + beta f(x2) - (alpha + beta - 1) b for the identity layer."""
    x1, w, b = case
    x2 = np.roll(x1, 1, axis=0) * 0.5 + 0.25
    lhs = ops.dense_forward(alpha * x1 + beta * x2, w, b)
    rhs = alpha * ops.dense_forward(x1, w, b) + beta * ops.dense_forward(x2, w, b) - (alpha + beta - 1) * b
    np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-9)


@SETTINGS
@given(dense_case(min_n=1), st.randoms(use_true_random=False))
def test_dense_results_are_permutation_equivariant(case, rnd):
    """Permuting the batch permutes the outputs and grad_x and leaves grad_w, grad_b as they were."""
    x, w, b = case
    perm = list(range(x.shape[0]))
    rnd.shuffle(perm)
    gy = np.cos(np.arange(x.shape[0] * w.shape[1], dtype=np.float64)).reshape(x.shape[0], w.shape[1])
    y = ops.dense_forward(x, w, b, "tanh")
    yp = ops.dense_forward(x[perm], w, b, "tanh")
    np.testing.assert_allclose(yp, y[perm], rtol=1e-12, atol=1e-12)
    gx, gw, gb = ops.dense_backward(x, w, gy, "tanh", y)
    gxp, gwp, gbp = ops.dense_backward(x[perm], w, gy[perm], "tanh", yp)
    np.testing.assert_allclose(gxp, gx[perm], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gwp, gw, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gbp, gb, rtol=1e-10, atol=1e-10)


@SETTINGS
@given(st.integers(1, 12), st.integers(1, 4), st.integers(0, 2**32), st.sampled_from(["mse", "mae"]))
def test_batch_gradient_is_the_mean_of_per_sample_gradients(n, width, seed, loss):
    """With reduction='mean', the batch gradient of an MLP is the average of per-sample gradients
    (each sample's loss is itself a mean over `width` outputs)."""
    model = fastmlp.MLP([3, 5, width], activation="tanh", dtype="float64", seed=seed % 1000)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3))
    y = rng.standard_normal((n, width))
    _, grads = model.gradients(x, y, loss=loss)
    per = [model.gradients(x[i : i + 1], y[i : i + 1], loss=loss)[1] for i in range(n)]
    for layer, (gw, gb) in enumerate(grads):
        np.testing.assert_allclose(gw, sum(p[layer][0] for p in per) / n, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gb, sum(p[layer][1] for p in per) / n, rtol=1e-10, atol=1e-12)


@SETTINGS
@given(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=9), elements=grid),
    st.sampled_from(["mse", "mae"]),
    st.sampled_from(["mean", "sum"]),
)
def test_losses_are_nonnegative_and_zero_exactly_at_equality(pred, loss, reduction):
    target = pred[::-1].copy() if pred.ndim == 1 else pred[::-1, :].copy()
    value = ops.loss(loss, pred, target, reduction)
    assert value >= 0.0
    assert (value == 0.0) == np.array_equal(pred, target)
    assert ops.loss(loss, pred, pred, reduction) == 0.0
    np.testing.assert_allclose(value, reference.loss(loss, pred, target, reduction), rtol=1e-12, atol=1e-300)


@SETTINGS
@given(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=9), elements=finite),
    st.sampled_from(ACTS),
)
def test_activations_match_reference_on_any_shape(z, act):
    np.testing.assert_allclose(
        ops.activation_forward(act, z), reference.activation_forward(act, z), rtol=1e-12, atol=1e-15
    )
    g = np.ones_like(z)
    np.testing.assert_allclose(
        ops.activation_backward(act, z, g), reference.activation_backward(act, z, g), rtol=1e-12, atol=1e-15
    )


@SETTINGS
@given(
    st.integers(0, 9),
    st.integers(0, 9),
    st.integers(0, 9),
    st.booleans(),
    st.booleans(),
    st.sampled_from([np.float32, np.float64]),
)
def test_matmul_matches_reference_on_any_small_shape(m, n, k, ta, tb, dtype):
    rng = np.random.default_rng(m * 100 + n * 10 + k)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(ops.matmul(a, b, ta, tb), reference.matmul(a, b, ta, tb), rtol=tol, atol=tol)


@SETTINGS
@given(st.integers(0, 300), st.integers(0, 2**64 - 1), st.integers(0, 2**40))
def test_permutation_is_a_permutation_and_matches_reference(n, seed, epoch):
    order = ops.permutation(n, seed, epoch)
    assert sorted(order.tolist()) == list(range(n))
    if n <= 40:
        assert np.array_equal(order, reference.permutation(n, seed, epoch))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fit_is_invariant_to_permuting_the_data_under_full_batch(dtype):
    """Full-batch GD sees the whole set each step, so the order of the rows only changes rounding."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((50, 3))
    y = rng.standard_normal((50, 1))
    perm = rng.permutation(50)
    a = fastmlp.MLP([3, 4, 1], activation="tanh", dtype=dtype, seed=1)
    b = fastmlp.MLP([3, 4, 1], activation="tanh", dtype=dtype, seed=1)
    a.fit(x, y, batch_size=None, epochs=20, optimizer=fastmlp.optim.SGD(lr=0.1))
    b.fit(x[perm], y[perm], batch_size=None, epochs=20, optimizer=fastmlp.optim.SGD(lr=0.1))
    tol = 1e-5 if dtype == "float32" else 1e-12
    for (wa, ba), (wb, bb) in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=tol, atol=tol)
        np.testing.assert_allclose(ba, bb, rtol=tol, atol=tol)


# ---- the remaining kernels against the reference on drawn shapes, 0 included -----------------------------
@SETTINGS
@given(dense_case(), st.sampled_from(ACTS), st.data())
def test_dense_backward_matches_reference_on_any_small_shape(case, act, data):
    x, w, b = case
    grad_y = data.draw(hnp.arrays(np.float64, (x.shape[0], w.shape[1]), elements=finite))
    y = None if act == "identity" else reference.dense_forward(x, w, b, act)  # the same y for both
    got = ops.dense_backward(x, w, grad_y, act, y)
    want = reference.dense_backward(x, w, grad_y, act, y)
    for name, g, r in zip(("grad_x", "grad_w", "grad_b"), got, want):
        assert g.shape == r.shape, (name, g.shape, r.shape)
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-11, err_msg=f"{name} ({act})")


@SETTINGS
@given(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=9), elements=finite),
    st.sampled_from(["mse", "mae"]),
    st.sampled_from(["mean", "sum"]),
    st.data(),
)
def test_loss_and_its_gradient_match_reference_on_any_shape(pred, loss, reduction, data):
    # target sometimes equals pred somewhere, where MAE's gradient must be exactly 0
    target = np.where(
        data.draw(hnp.arrays(np.bool_, pred.shape)),
        pred,
        data.draw(hnp.arrays(np.float64, pred.shape, elements=finite)),
    )
    np.testing.assert_allclose(
        ops.loss(loss, pred, target, reduction), reference.loss(loss, pred, target, reduction), rtol=1e-12, atol=1e-12
    )
    got, want = ops.loss_grad(loss, pred, target, reduction), reference.loss_grad(loss, pred, target, reduction)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    if loss == "mae":
        assert np.all(got[pred == target] == 0.0)


OPTIMIZERS = [
    fastmlp.optim.SGD(lr=0.1),
    fastmlp.optim.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    fastmlp.optim.SGD(lr=0.05, momentum=0.8, dampening=0.3),
    fastmlp.optim.Adam(lr=0.01, betas=(0.8, 0.99), weight_decay=0.01, amsgrad=True),
    fastmlp.optim.AdamW(lr=0.01, weight_decay=0.1),
    fastmlp.optim.RMSprop(lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.01),
    fastmlp.optim.Adagrad(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1),
]


@SETTINGS
@given(
    hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=9),
    st.sampled_from(OPTIMIZERS),
    st.integers(1, 4),
    st.data(),
)
def test_optimizer_updates_match_reference_on_any_shape(shape, opt, steps, data):
    param = data.draw(hnp.arrays(np.float64, shape, elements=finite))
    state = [np.full(shape, v) for v in opt.state_initial_values()]
    want, want_state = param.copy(), [None] * len(state)
    for step in range(1, steps + 1):
        grad = data.draw(hnp.arrays(np.float64, shape, elements=finite))
        ops.optimizer_update(opt, param, grad, state, step)
        want, want_state = reference.optimizer_step(opt.config(), want, grad, want_state, step, opt.lr)
        np.testing.assert_allclose(param, want, rtol=1e-10, atol=1e-12, err_msg=f"{opt!r} step {step}")
        for name, got, ref in zip(opt.state_names(), state, want_state):
            np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12, err_msg=f"{opt!r} {name} step {step}")


@SETTINGS
@given(
    st.sampled_from(sorted(fastmlp.init.INITIALIZERS)),
    st.integers(1, 40),
    st.integers(1, 40),
    st.integers(0, 2**64 - 1),
    st.one_of(st.none(), hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=7)),
    st.booleans(),
    st.integers(0, 3),
)
def test_init_matches_reference_on_any_shape(name, fan_in, fan_out, seed, shape, truncated, stream):
    truncated = truncated and "normal" in name  # the only kinds it applies to (others refuse it)
    got = ops.init(name, fan_in, fan_out, seed, shape=shape, dtype="float64", stream=stream, truncated=truncated)
    want = reference.init(name, fan_in, fan_out, seed, shape=shape, stream=stream, truncated=truncated)
    assert got.shape == want.shape == ((fan_in, fan_out) if shape is None else shape)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, err_msg=f"{name} seed {seed}")
