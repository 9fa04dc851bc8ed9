"""Elementwise activations: ops.activation_forward / activation_backward against the reference for every
name (with parameters where it takes them) and both dtypes, against torch.nn.functional, saturation at
extreme inputs, the derivatives at 0, finite differences, the names and their parameters."""

from __future__ import annotations

import numpy as np
import pytest

from fastmlp import ops, reference
from helpers import shape_id

DTYPES = [pytest.param(np.float32, id="f32"), pytest.param(np.float64, id="f64")]
NAMES = (
    "identity",
    "step",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "gelu",
    "gelu_tanh",
    "silu",
    "elu",
    "softplus",
    "selu",
)
NEEDS_Z = ("gelu", "gelu_tanh", "silu", "elu", "softplus", "selu")
SLOPE = 0.2
# Every name, and the ones with parameters once more with non-default values.
WITH_PARAMS = (
    "elu(alpha=0.3)",
    "softplus(beta=2.5, threshold=4)",
    "softplus(beta=0.5)",
    "leaky_relu(negative_slope=0.3)",
)
ACTS = [
    pytest.param(name, {"negative_slope": SLOPE} if name == "leaky_relu" else {}, id=name)
    for name in NAMES + WITH_PARAMS
]
SMOOTH = [p for p in ACTS if p.id not in ("identity", "step", "relu", "leaky_relu", "leaky_relu(negative_slope=0.3)")]
SHAPES = [(1,), (3,), (17,), (129,), (1001,), (3, 17), (5, 1, 7), (0,), (4, 0)]


def _ref_slope(kwargs):
    return kwargs.get("negative_slope", 0.01)


def _inputs(rng, shape, dtype):
    z = (3.0 * rng.standard_normal(shape)).astype(dtype)
    if z.size >= 3:
        flat = z.reshape(-1)
        flat[::7] = 0.0  # exact zeros: where step, relu and leaky_relu switch
        flat[1] = -0.0
    return z


@pytest.mark.parametrize("act, kwargs", ACTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_activation_forward_matches_reference(rng, assert_close, shape, dtype, act, kwargs):
    z = _inputs(rng, shape, dtype)
    got = ops.activation_forward(act, z, **kwargs)
    want = reference.activation_forward(act, z, _ref_slope(kwargs))
    assert_close(got, want, dtype, f"{act} forward {shape}")


@pytest.mark.parametrize("act, kwargs", ACTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_activation_backward_matches_reference(rng, assert_close, shape, dtype, act, kwargs):
    z = _inputs(rng, shape, dtype)
    g = rng.standard_normal(shape).astype(dtype)
    got = ops.activation_backward(act, z, g, **kwargs)
    want = reference.activation_backward(act, z, g, _ref_slope(kwargs))
    assert_close(got, want, dtype, f"{act} backward {shape}")


@pytest.mark.parametrize("act, kwargs", [p for p in ACTS if p.id.split("(")[0] not in NEEDS_Z])
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_backward_from_output_consistent(rng, assert_close, dtype, act, kwargs):
    """The derivative read off the output (what dense_backward uses) equals the one from z."""
    z = _inputs(rng, (64,), dtype)
    g = rng.standard_normal(64).astype(dtype)
    a = ops.activation_forward(act, z, **kwargs)
    from_z = ops.activation_backward(act, z, g, **kwargs)
    from_a = reference.activation_backward_from_output(act, a, g, _ref_slope(kwargs))
    assert_close(from_z, from_a, dtype, f"{act}: derivative from z vs from output")


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_inputs_saturate(assert_close, dtype):
    z = np.array([-1000.0, -800.0, -100.0, -40.0, 0.0, 40.0, 100.0, 800.0, 1000.0], dtype)
    g = np.ones_like(z)
    expect_sig = np.array([0, 0, np.nan, np.nan, 0.5, np.nan, 1, 1, 1], np.float64)
    expect_tanh = np.array([-1, -1, -1, -1, 0, 1, 1, 1, 1], np.float64)
    with np.errstate(over="ignore", under="ignore"):
        ref_sig = reference.activation_forward("sigmoid", z)
        ref_dsig = reference.activation_backward("sigmoid", z, g)
    for name, ref, expect in (
        ("sigmoid", ref_sig, expect_sig),
        ("tanh", reference.activation_forward("tanh", z), expect_tanh),
    ):
        a = ops.activation_forward(name, z)
        d = ops.activation_backward(name, z, g)
        assert np.all(np.isfinite(a)) and np.all(np.isfinite(d)), (
            f"{name} at +-1000 not finite: forward {a}, backward {d}"
        )
        known = ~np.isnan(expect)
        assert_close(a[known], expect[known], dtype, f"{name}(z) at saturation", rtol=0.0, atol=0.0)
        assert_close(a, ref, dtype, f"{name}(z) extreme vs reference")
        assert np.all((d >= 0) & (d <= (0.25 if name == "sigmoid" else 1.0))), f"{name}' out of range: {d}"
        assert_close(d[[0, 1, -2, -1]], np.zeros(4), dtype, f"{name}'(+-1000)", rtol=0.0, atol=0.0)
    assert_close(ops.activation_backward("sigmoid", z, g), ref_dsig, dtype, "sigmoid'(z) extreme vs reference")
    # every other activation passes extremes through without overflow, and so do the derivatives of
    # those that need z (GELU's e^(-z^2/2), ELU's e^z, softplus' logistic underflow to 0 rather than NaN)
    for name in ("identity", "step", "relu", "leaky_relu") + NEEDS_Z + ("softplus(beta=3, threshold=1e6)",):
        with np.errstate(over="ignore", under="ignore"):
            want_a, want_d = reference.activation_forward(name, z), reference.activation_backward(name, z, g)
        a, d = ops.activation_forward(name, z), ops.activation_backward(name, z, g)
        assert np.all(np.isfinite(a)) and np.all(np.isfinite(d)), f"{name} at +-1000: forward {a}, backward {d}"
        assert_close(a, want_a, dtype, f"{name} at +-1000")
        assert_close(d, want_d, dtype, f"{name}' at +-1000")


@pytest.mark.parametrize("dtype", DTYPES)
def test_derivatives_at_zero(assert_close, dtype):
    z = np.array([-2.0, -0.0, 0.0, 2.0], dtype)
    g = np.array([3.0, 5.0, 7.0, 11.0], dtype)
    assert_close(ops.activation_forward("step", z), [0, 1, 1, 1], dtype, "step(z) ([z >= 0])", rtol=0, atol=0)
    assert_close(ops.activation_backward("step", z, g), np.zeros(4), dtype, "step'(z) is 0 everywhere", rtol=0, atol=0)
    assert_close(ops.activation_backward("relu", z, g), [0, 0, 0, 11], dtype, "relu'(z), 0 at z = 0", rtol=0, atol=0)
    assert_close(
        ops.activation_backward("leaky_relu", z, g, negative_slope=SLOPE),
        [SLOPE * 3, SLOPE * 5, SLOPE * 7, 11],
        dtype,
        "leaky_relu'(z), slope at z = 0",
    )
    assert_close(ops.activation_forward("relu", z), [0, 0, 0, 2], dtype, "relu(z)", rtol=0, atol=0)


@pytest.mark.parametrize("act, kwargs", SMOOTH + [p for p in ACTS if p.id == "leaky_relu"])
def test_activation_finite_differences(rng, assert_close, act, kwargs):
    h = 1e-6
    z = 3.0 * rng.standard_normal(257)
    z[np.abs(z) < 1e-3] = 0.5  # away from the kinks at 0 (leaky_relu; ELU with alpha != 1)
    if act.startswith("softplus"):  # and from softplus' switch to z past the threshold
        beta, threshold = (2.5, 4.0) if "2.5" in act else (0.5, 20.0) if "0.5" in act else (1.0, 20.0)
        z[np.abs(beta * z - threshold) < 1e-3] += 0.01
    g = rng.standard_normal(257)
    numeric = (ops.activation_forward(act, z + h, **kwargs) - ops.activation_forward(act, z - h, **kwargs)) / (2 * h)
    analytic = ops.activation_backward(act, z, g, **kwargs)
    assert_close(analytic, g * numeric, np.float64, f"{act}' vs central differences", rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("act, kwargs", ACTS)
def test_activation_noncontiguous_inputs(rng, assert_bitwise, act, kwargs):
    z = (3 * rng.standard_normal((9, 12)))[::2, 1::3]
    g = np.asfortranarray(rng.standard_normal(z.shape))
    c = np.ascontiguousarray
    assert_bitwise(
        ops.activation_forward(act, z, **kwargs),
        ops.activation_forward(act, c(z), **kwargs),
        f"{act} forward on a strided view",
    )
    assert_bitwise(
        ops.activation_forward(act, z.T, **kwargs),
        ops.activation_forward(act, c(z.T), **kwargs),
        f"{act} forward on a transposed view",
    )
    assert_bitwise(
        ops.activation_backward(act, z, g, **kwargs),
        ops.activation_backward(act, c(z), c(g), **kwargs),
        f"{act} backward on views",
    )


def test_linear_is_identity(rng, assert_bitwise):
    z = rng.standard_normal(10)
    assert_bitwise(ops.activation_forward("linear", z), ops.activation_forward("identity", z), "linear forward")


def test_activation_does_not_modify_input(rng, assert_bitwise):
    z = rng.standard_normal(33)
    saved = z.copy()
    for name in NAMES:
        ops.activation_forward(name, z)
        ops.activation_backward(name, z, np.ones_like(z))
    assert_bitwise(z, saved, "z after every activation")


@pytest.mark.parametrize(
    "call, exc, words",
    [
        pytest.param(
            lambda: ops.activation_forward("mish", np.ones(3)),
            ValueError,
            ("mish", "identity", "leaky_relu"),
            id="unknown-name",
        ),
        pytest.param(lambda: ops.activation_forward(None, np.ones(3)), TypeError, ("activation",), id="name-not-str"),
        pytest.param(
            lambda: ops.activation_backward("tanh", np.ones(3), np.ones(4)), ValueError, ("grad_a",), id="grad-shape"
        ),
        pytest.param(
            lambda: ops.activation_backward("tanh", np.ones(3), np.ones(3, np.float32)),
            TypeError,
            ("grad_a",),
            id="grad-dtype",
        ),
        pytest.param(
            lambda: ops.activation_forward("tanh", np.array([1.0, np.nan])), ValueError, ("z", "NaN"), id="nan"
        ),
        pytest.param(lambda: ops.activation_forward("tanh", np.arange(3)), TypeError, ("z",), id="int"),
        pytest.param(
            lambda: ops.activation_forward("leaky_relu", np.ones(3), negative_slope=float("nan")),
            ValueError,
            ("negative_slope",),
            id="slope-nan",
        ),
    ],
)
def test_activation_errors(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for word in words:
        assert word in str(info.value), f"{exc.__name__} message lacks {word!r}: {info.value}"


# torch.nn.functional's counterparts, with torch's own parameter names.
def _torch_twin(name):
    import torch.nn.functional as F

    kind = name.split("(")[0]
    params = reference._activation(name, 0.01)[1]
    return {
        "identity": lambda t: t,
        "sigmoid": torch_sigmoid,
        "tanh": lambda t: t.tanh(),
        "relu": F.relu,
        "leaky_relu": lambda t: F.leaky_relu(t, params.get("negative_slope", 0.01)),
        "gelu": F.gelu,
        "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
        "silu": F.silu,
        "elu": lambda t: F.elu(t, params.get("alpha", 1.0)),
        "selu": F.selu,
        "softplus": lambda t: F.softplus(t, params.get("beta", 1.0), params.get("threshold", 20.0)),
    }[kind]


def torch_sigmoid(t):
    return t.sigmoid()


@pytest.mark.parametrize("act", [n for n in NAMES + WITH_PARAMS if n != "step"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_matches_torch(rng, assert_close, dtype, act):
    """Forward and derivative against torch.nn.functional and autograd: float64 within 1e-12, float32
    within rounding (both compute in float32)."""
    torch = pytest.importorskip("torch", reason="torch is not installed (the comparison with torch skips)")
    z = _inputs(rng, (2049,), dtype) * np.asarray(3.0, dtype)  # +-30: both sides of softplus' threshold
    g = rng.standard_normal(z.shape).astype(dtype)
    t = torch.tensor(z, requires_grad=True)
    out = _torch_twin(act)(t)
    out.backward(torch.tensor(g))
    rtol, atol = (1e-12, 1e-12) if dtype == np.float64 else (2e-6, 2e-6)
    assert_close(ops.activation_forward(act, z), out.detach().numpy(), dtype, f"{act} vs torch", rtol=rtol, atol=atol)
    assert_close(
        ops.activation_backward(act, z, g), t.grad.numpy(), dtype, f"{act}' vs torch autograd", rtol=rtol, atol=atol
    )


@pytest.mark.parametrize(
    "text, canonical",
    [
        ("swish", "silu"),
        ("linear", "identity"),
        ("elu", "elu"),
        ("elu(alpha=.50)", "elu(alpha=0.5)"),
        (" softplus( threshold = 10 , beta=2 ) ", "softplus(beta=2, threshold=10)"),
        ("softplus()", "softplus"),
        ("leaky_relu(negative_slope=0.01)", "leaky_relu(negative_slope=0.01)"),
        ("elu(alpha=-1e-3)", "elu(alpha=-0.001)"),
    ],
)
def test_activation_names_with_parameters(text, canonical):
    from fastmlp import activations

    assert activations.canonical(text) == canonical
    assert activations.canonical(canonical) == canonical  # a model saved with it reads back the same
    assert (
        ops.activation_forward(text, np.array([-1.0, 2.0])).tolist()
        == ops.activation_forward(canonical, np.array([-1.0, 2.0])).tolist()
    )


@pytest.mark.parametrize(
    "text, words",
    [
        ("elu(beta=2)", ["unknown parameter 'beta'", "alpha"]),
        ("relu(alpha=1)", ["unknown parameter", "none"]),
        ("softplus(beta=0)", ["beta", "> 0"]),
        ("softplus(beta=-1)", ["beta", "> 0"]),
        ("elu(alpha=nan)", ["alpha", "finite"]),
        ("elu(alpha=inf)", ["alpha", "finite"]),
        ("softplus(threshold=x)", ["threshold", "number"]),
        ("elu(alpha=1, alpha=2)", ["twice"]),
        ("elu(alpha)", ["key=value"]),
        ("elu(alpha=1", ["parentheses"]),
        ("leaky_relu(negative_slope=-0.1)", ["negative_slope", ">= 0"]),
        ("mish(alpha=1)", ["unknown activation", "gelu"]),
    ],
)
def test_activation_parameter_errors(text, words):
    with pytest.raises(ValueError) as info:
        ops.activation_forward(text, np.ones(3))
    for word in words:
        assert word in str(info.value), f"message lacks {word!r}: {info.value}"


def test_activation_table_is_complete():
    """Every activation the kernels know has its entry: parameters, needs_z, default init, and the
    reference knows which need z."""
    from fastmlp import activations, init

    assert set(activations.NAMES) == set(NAMES)
    for name in NAMES:
        info = activations.TABLE[name]
        assert info["needs_z"] == (name in NEEDS_Z) == reference.needs_z(name), name
        assert info["init"] in init.INITIALIZERS, name
        assert init.default_for(name) == info["init"]
    assert init.default_for("selu") == "lecun_normal" and init.default_for("relu") == "he_uniform"
    assert init.default_for("tanh") == "xavier_uniform" and init.default_for("elu(alpha=0.5)") == "he_uniform"
