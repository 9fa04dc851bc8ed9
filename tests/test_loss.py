"""Losses: ops.loss / ops.loss_grad (MSE, MAE; reduction mean and sum) against the reference, their
special points, finite differences, argument validation, and PyTorch when it is installed."""

from __future__ import annotations

import numpy as np
import pytest

from fastmlp import ops, reference
from helpers import shape_id

DTYPES = [pytest.param(np.float32, id="f32"), pytest.param(np.float64, id="f64")]
LOSSES = ["mse", "mae"]
REDUCTIONS = ["mean", "sum"]
SHAPES = [(1, 1), (3,), (17, 4), (129, 3)]


def _pair(rng, shape, dtype, zeros=True):
    pred = rng.standard_normal(shape).astype(dtype)
    target = (pred + rng.standard_normal(shape)).astype(dtype)
    if zeros and pred.size >= 3:
        target.reshape(-1)[::3] = pred.reshape(-1)[::3]  # exact zero residuals
    return pred, target


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_loss_matches_reference(rng, assert_close, shape, dtype, loss, reduction):
    pred, target = _pair(rng, shape, dtype)
    value = ops.loss(loss, pred, target, reduction)
    assert isinstance(value, float), f"loss returned {type(value).__name__}, not float"
    want = reference.loss(loss, pred, target, reduction)
    # the value is accumulated in double whatever the dtype
    assert_close(
        value,
        want,
        np.float64,
        f"{loss} {reduction} value {shape} ({np.dtype(dtype).name} inputs)",
        rtol=1e-12,
        atol=0.0,
        check_dtype=False,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_loss_grad_matches_reference(rng, assert_close, shape, dtype, loss, reduction):
    pred, target = _pair(rng, shape, dtype)
    got = ops.loss_grad(loss, pred, target, reduction)
    want = reference.loss_grad(loss, pred, target, reduction)
    assert_close(got, want, dtype, f"{loss} {reduction} grad {shape}")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_mae_grad_zero_at_zero_residual(rng, assert_close, dtype, reduction):
    pred = rng.standard_normal((17, 4)).astype(dtype)
    target = pred.copy()
    target[::2] += 1.0
    g = ops.loss_grad("mae", pred, target, reduction)
    assert_close(g[1::2], np.zeros_like(g[1::2]), dtype, "MAE gradient at zero residual", rtol=0, atol=0)
    scale = 1.0 / pred.size if reduction == "mean" else 1.0
    assert_close(g[::2], np.full(g[::2].shape, -scale), dtype, "MAE gradient -1 (scaled) where pred < target")


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_zero_at_equality_and_nonnegative(rng, loss, dtype):
    pred = rng.standard_normal((129, 3)).astype(dtype)
    for reduction in REDUCTIONS:
        at_eq = ops.loss(loss, pred, pred.copy(), reduction)
        assert at_eq == 0.0, f"{loss}({reduction}) at pred == target is {at_eq} (max error {abs(at_eq):.3e})"
        g = ops.loss_grad(loss, pred, pred.copy(), reduction)
        assert not g.any(), f"{loss} gradient at equality not 0: max abs {np.abs(g).max():.3e}"
        for _ in range(5):
            value = ops.loss(loss, pred, rng.standard_normal(pred.shape).astype(dtype), reduction)
            assert value >= 0.0, f"{loss}({reduction}) negative: {value} (error {-value:.3e} below 0)"


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss", LOSSES)
def test_loss_grad_finite_differences(rng, assert_close, loss, reduction):
    h = 1e-6
    pred = rng.standard_normal((17, 4))
    sign = np.where(rng.random(pred.shape) < 0.5, -1.0, 1.0)
    target = pred + sign * rng.uniform(0.1, 2.0, pred.shape)  # residuals away from MAE's kink
    numeric = np.empty_like(pred)
    for idx in np.ndindex(pred.shape):
        p = pred.copy()
        p[idx] += h
        up = ops.loss(loss, p, target, reduction)
        p[idx] -= 2 * h
        down = ops.loss(loss, p, target, reduction)
        numeric[idx] = (up - down) / (2 * h)
    got = ops.loss_grad(loss, pred, target, reduction)
    assert_close(got, numeric, np.float64, f"{loss} {reduction} grad vs central differences", rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss", LOSSES)
def test_loss_noncontiguous_inputs(rng, assert_bitwise, loss, reduction):
    pred = rng.standard_normal((10, 8))[::2, 1::2]
    target = np.asfortranarray(rng.standard_normal(pred.shape))
    c = np.ascontiguousarray
    v1, v2 = ops.loss(loss, pred, target, reduction), ops.loss(loss, c(pred), c(target), reduction)
    assert v1 == v2, f"{loss} on views {v1!r} vs contiguous {v2!r} (error {abs(v1 - v2):.3e})"
    assert_bitwise(
        ops.loss_grad(loss, pred, target, reduction),
        ops.loss_grad(loss, c(pred), c(target), reduction),
        f"{loss} gradient on views",
    )


@pytest.mark.parametrize("call", [ops.loss, ops.loss_grad], ids=["loss", "loss_grad"])
@pytest.mark.parametrize("shape", [(0,), (0, 3), (3, 0)], ids=shape_id)
def test_empty_input_raises(call, shape):
    with pytest.raises(ValueError, match="empty"):
        call("mse", np.zeros(shape), np.zeros(shape))


@pytest.mark.parametrize("call", [ops.loss, ops.loss_grad], ids=["loss", "loss_grad"])
@pytest.mark.parametrize(
    "p_shape, t_shape", [((3,), (3, 1)), ((3, 2), (2, 3)), ((4,), (5,))], ids=["3-vs-3x1", "3x2-vs-2x3", "4-vs-5"]
)
def test_mismatched_shapes_raise(call, p_shape, t_shape):
    with pytest.raises(ValueError) as info:
        call("mae", np.zeros(p_shape), np.zeros(t_shape))
    msg = str(info.value)
    assert "pred" in msg and "target" in msg, f"message does not name pred and target: {msg}"


@pytest.mark.parametrize("call", [ops.loss, ops.loss_grad], ids=["loss", "loss_grad"])
def test_unknown_names_list_choices(call):
    p = np.zeros(3)
    with pytest.raises(ValueError) as info:
        call("hinge", p, p)
    msg = str(info.value)
    assert "hinge" in msg and "mse" in msg and "mae" in msg, f"unknown loss message lacks the choices: {msg}"
    with pytest.raises(ValueError) as info:
        call("mse", p, p, "max")
    msg = str(info.value)
    assert "max" in msg and "mean" in msg and "sum" in msg, f"unknown reduction message lacks the choices: {msg}"


@pytest.mark.parametrize("call", [ops.loss, ops.loss_grad], ids=["loss", "loss_grad"])
@pytest.mark.parametrize(
    "pred, target, exc, word",
    [
        pytest.param(np.zeros(3, np.float32), np.zeros(3), TypeError, "target", id="dtype-mix"),
        pytest.param(np.zeros(3, np.int64), np.zeros(3, np.int64), TypeError, "pred", id="int"),
        pytest.param(np.array([0.0, np.inf, 1.0]), np.zeros(3), ValueError, "pred", id="inf"),
        pytest.param(np.zeros(3), np.array([0.0, np.nan, 1.0]), ValueError, "target", id="nan"),
    ],
)
def test_bad_arrays(call, pred, target, exc, word):
    with pytest.raises(exc) as info:
        call("mse", pred, target)
    assert word in str(info.value), f"message does not name {word!r}: {info.value}"


def test_name_must_be_str():
    with pytest.raises(TypeError, match="loss"):
        ops.loss(1, np.zeros(3), np.zeros(3))
    with pytest.raises(TypeError, match="reduction"):
        ops.loss_grad("mse", np.zeros(3), np.zeros(3), None)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss", LOSSES)
def test_matches_torch(rng, assert_close, loss, reduction):
    torch = pytest.importorskip("torch")
    fn = {"mse": torch.nn.functional.mse_loss, "mae": torch.nn.functional.l1_loss}[loss]
    pred, target = _pair(rng, (17, 4), np.float64)  # includes exact zero residuals
    p = torch.tensor(pred, requires_grad=True)
    value = fn(p, torch.tensor(target), reduction=reduction)
    value.backward()
    assert_close(
        ops.loss(loss, pred, target, reduction),
        value.item(),
        np.float64,
        f"{loss} {reduction} vs torch",
        check_dtype=False,
    )
    assert_close(
        ops.loss_grad(loss, pred, target, reduction),
        p.grad.numpy(),
        np.float64,
        f"{loss} {reduction} gradient vs torch",
    )


# ---- the classification and count losses ------------------------------------------------------------
# Each case: (name, options) for ops.loss/loss_grad and the reference; targets drawn to suit the loss.
KINDS = [
    ("huber", {}),
    ("huber", {"delta": 0.3}),
    ("poisson", {}),
    ("bce", {}),
    ("cross_entropy", {"labels": True}),
    ("cross_entropy", {"labels": False}),
    ("cross_entropy", {"labels": True, "class_weight": True}),
    ("mse", {"sample_weight": True}),
    ("cross_entropy", {"labels": True, "sample_weight": True}),
    ("bce", {"sample_weight": True}),
]
ROW_SHAPES = [(1, 2), (3, 3), (17, 5), (129, 2), (1, 1), (17, 1)]


def _kind_id(kind):
    name, opts = kind
    return name + "".join(f"-{k}" if v is True else f"-{k}={v}" for k, v in opts.items())


def _case(rng, name, opts, shape, dtype):
    """(pred, target, keyword arguments) for one loss case; None when the shape does not fit it."""
    n, m = shape
    pred = (3.0 * rng.standard_normal(shape)).astype(dtype)
    kw = {}
    if name == "cross_entropy":
        if m < 2:
            return None
        if opts.get("labels"):
            target = rng.integers(0, m, n)
        else:
            p = rng.random(shape) + 0.1
            target = (p / p.sum(axis=1, keepdims=True)).astype(dtype)
        if opts.get("class_weight"):
            kw["class_weight"] = rng.random(m) + 0.5
    elif name == "bce":
        target = rng.random(shape).astype(dtype)
        target.reshape(-1)[::2] = np.round(target.reshape(-1)[::2])
    elif name == "poisson":
        target = rng.poisson(2.0, shape).astype(dtype)
    else:
        target = (pred + rng.standard_normal(shape)).astype(dtype)
    if opts.get("sample_weight"):
        kw["sample_weight"] = (rng.random(n) + 0.1).astype(dtype)  # travels in the dtype
    if "delta" in opts:
        kw["delta"] = opts["delta"]
    return pred, target, kw


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape, kind",
    [  # cross_entropy needs two classes at least
        pytest.param(s, k, id=f"{shape_id(s)}-{_kind_id(k)}")
        for s in ROW_SHAPES
        for k in KINDS
        if s[1] > 1 or k[0] != "cross_entropy"
    ],
)
def test_classification_losses_match_reference(rng, assert_close, shape, dtype, kind, reduction):
    name, opts = kind
    pred, target, kw = _case(rng, name, opts, shape, dtype)
    value = ops.loss(name, pred, target, reduction, **kw)
    want = reference.loss(name, pred, target, reduction, **kw)
    # values are summed in double from the (rounded) inputs: only the order of the sums differs
    assert_close(
        value, want, np.float64, f"{name} {reduction} value {shape}", rtol=1e-11, atol=1e-12, check_dtype=False
    )
    got = ops.loss_grad(name, pred, target, reduction, **kw)
    assert got.shape == pred.shape and got.dtype == pred.dtype
    # the cross-entropy gradient is computed in double and rounded once; the others in the dtype
    assert_close(
        got, reference.loss_grad(name, pred, target, reduction, **kw), dtype, f"{name} {reduction} grad {shape}"
    )


@pytest.mark.parametrize("kind", KINDS, ids=_kind_id)
def test_classification_losses_finite_differences(rng, kind):
    """Central differences of the float64 kernel's value against its gradient."""
    name, opts = kind
    pred, target, kw = _case(rng, name, opts, (5, 3), np.float64)
    if name == "huber":  # keep every residual off the kink at |d| = delta, where the derivative jumps
        d = pred - target
        pred = np.where(np.abs(np.abs(d) - kw.get("delta", 1.0)) < 1e-3, pred + 0.01, pred)
    g = ops.loss_grad(name, pred, target, **kw)
    h = 1e-6
    num = np.zeros_like(pred)
    for idx in np.ndindex(pred.shape):
        up, down = pred.copy(), pred.copy()
        up[idx] += h
        down[idx] -= h
        num[idx] = (ops.loss(name, up, target, **kw) - ops.loss(name, down, target, **kw)) / (2 * h)
    err = np.abs(num - g).max()
    # rounding of the values (~1e-16 |L| / h) bounds what the differences can show
    bound = 1e-7 * max(1.0, abs(ops.loss(name, pred, target, **kw)))
    assert err < bound, f"{name}: max |finite difference - gradient| = {err:.3e} (bound {bound:.1e})"


def test_cross_entropy_is_stable_for_huge_logits():
    pred = np.array([[1000.0, 0.0, -1000.0], [-800.0, 800.0, 0.0]])
    value = ops.loss("cross_entropy", pred, np.array([0, 2]))
    assert value == pytest.approx(400.0), f"log-sum-exp lost the large logits: {value}"
    g = ops.loss_grad("cross_entropy", pred, np.array([0, 2]))
    assert np.isfinite(g).all() and np.allclose(g, [[0, 0, 0], [0, 0.5, -0.5]]), g
    b = ops.loss("bce", np.array([800.0, -800.0]), np.array([0.0, 1.0]))
    assert b == pytest.approx(800.0), f"BCE with logits overflowed: {b}"


def test_cross_entropy_labels_equal_one_hot(rng):
    pred = rng.standard_normal((17, 4))
    labels = rng.integers(0, 4, 17)
    onehot = np.eye(4)[labels]
    assert ops.loss("cross_entropy", pred, labels) == pytest.approx(ops.loss("cross_entropy", pred, onehot), rel=1e-14)
    np.testing.assert_allclose(
        ops.loss_grad("cross_entropy", pred, labels),
        ops.loss_grad("cross_entropy", pred, onehot),
        rtol=1e-14,
        atol=1e-16,
    )


def test_poisson_and_bce_at_their_minimum(rng):
    """Half deviance is 0 where e^pred = target; BCE's gradient vanishes where sigmoid(pred) = target."""
    t = rng.random(7) + 0.5
    assert ops.loss("poisson", np.log(t), t) == pytest.approx(0.0, abs=1e-15)
    np.testing.assert_allclose(
        ops.loss_grad("bce", np.log(t / (1 + t)) - np.log(1 - t / (1 + t)), t / (1 + t)), 0.0, atol=1e-16
    )


@pytest.mark.parametrize("call", [ops.loss, ops.loss_grad], ids=["loss", "loss_grad"])
@pytest.mark.parametrize(
    "args, word",
    [
        (("cross_entropy", np.zeros((3, 2)), np.array([0, 2, 1])), "class labels"),
        (("cross_entropy", np.zeros((3, 2)), np.array([0, 0.5, 1])), "class labels"),
        (("bce", np.zeros(3), np.array([0.0, 1.5, 1.0])), "[0, 1]"),
        (("poisson", np.zeros(3), np.array([0.0, -1.0, 1.0])), ">= 0"),
        (("cross_entropy", np.zeros(3), np.zeros(3)), "2-D"),
        # every column of an elementwise loss's 2-D target, and every element of an n-D one, not the first only
        (("poisson", np.zeros((3, 2)), np.array([[0.0, 1.0], [2.0, -1.0], [1.0, 1.0]])), "target[1, 1]"),
        (("bce", np.zeros((2, 3)), np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 1.5]])), "target[1, 2]"),
        (("poisson", np.zeros((2, 2, 2)), np.array([[[0.0, 1.0], [1.0, 1.0]], [[1.0, 1.0], [1.0, -3.0]]])), "-3.0"),
    ],
    ids=[
        "label-range",
        "label-fraction",
        "bce-range",
        "poisson-negative",
        "ce-1d",
        "poisson-column-1",
        "bce-column-2",
        "poisson-3d",
    ],
)
def test_bad_classification_targets_raise(call, args, word):
    with pytest.raises(ValueError) as info:
        call(*args)
    assert word in str(info.value), f"message does not say {word!r}: {info.value}"


def test_bad_weights_raise():
    p = np.zeros((3, 2))
    with pytest.raises(ValueError, match=">= 0"):
        ops.loss("mse", p, p, sample_weight=[1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="sum to 0"):
        ops.loss("mse", p, p, sample_weight=[0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="3 classes|2 classes"):
        ops.loss("cross_entropy", p, np.array([0, 1, 1]), class_weight=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="'cross_entropy' only"):
        ops.loss("mse", p, p, class_weight=[1.0, 2.0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "name, shape",
    [
        ("bce", (1, 1)),
        ("bce", (1500, 1)),  # past the CPU's 1024-element chunk of terms
        ("poisson", (7, 3)),
        ("poisson", (700, 3)),
        ("cross_entropy", (1, 1)),
        ("cross_entropy", (5, 3)),
        ("cross_entropy", (400, 3)),  # several chunks of rows (341 rows of 3 per chunk)
        ("cross_entropy", (3, 1030)),  # a row wider than a chunk
    ],
    ids=str,
)
def test_exp_and_log_losses_over_the_range(rng, assert_close, name, shape, dtype):
    # The losses whose terms take exp and log (vec_math.h's, vectorized): logits from the saturation
    # regions to +-0 and denormals, against the float64 reference, value and gradient.
    big = 80.0 if dtype == np.float32 else 700.0
    special = np.array([0.0, -0.0, 1e-310 if dtype == np.float64 else 1e-40, -1e-30, 30.0, -30.0, big, -big])
    pred = rng.uniform(-big, big, shape)
    pred.reshape(-1)[: min(pred.size, special.size)] = special[: min(pred.size, special.size)]
    pred = pred.astype(dtype)
    if name == "cross_entropy":
        target = rng.integers(0, shape[1], shape[0])
    elif name == "bce":
        target = rng.uniform(0.0, 1.0, shape).astype(dtype)
    else:
        pred = np.clip(pred, -30, 30).astype(dtype)  # rates e^p within float range
        target = rng.poisson(3.0, shape).astype(dtype)
    for reduction in ("sum", "mean"):
        got = ops.loss(name, pred, target, reduction)
        want = reference.loss(name, pred, target, reduction)
        assert np.isfinite(got), (name, got)
        assert abs(got - want) <= 1e-12 * max(1.0, abs(want)), f"{name} {reduction}: {got!r} vs {want!r}"
        assert_close(
            ops.loss_grad(name, pred, target, reduction),
            reference.loss_grad(name, pred, target, reduction),
            dtype,
            f"{name} gradient",
            rtol=1e-5 if dtype == np.float32 else 1e-12,
            # sigmoid(p) - t and e^p - t cancel: a few roundings of the operands (~1), scaled as the
            # reduction scales the gradient
            atol=4 * np.finfo(dtype).eps * (1.0 if reduction == "sum" else 1.0 / pred.shape[0]),
            check_dtype=False,
        )
