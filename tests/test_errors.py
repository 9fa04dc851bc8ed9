"""Bad input: every mistake a caller can make with fastmlp.ops or fastmlp.MLP raises TypeError (wrong
kind of thing) or ValueError (wrong value) with a message that names the problem, and never crashes
the interpreter. Inputs the kernels only read may come in any layout and give the same result as a
contiguous copy; arrays updated in place are never silently copied.

Every test here is marked `isolated` and runs in a forked child process (see conftest.py), so that a
missing check that segfaults or aborts fails that one test instead of killing pytest. The cases that
need a pristine process (huge allocations, zero-sized dimensions reaching the kernels) run in a fresh
interpreter besides.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastmlp
from fastmlp import ops
from helpers import UNDER_ASAN, run_python

pytestmark = pytest.mark.isolated

F32, F64 = np.float32, np.float64


def small_model(n_in=2, n_out=1, **kw):
    return fastmlp.MLP([n_in, 3, n_out], seed=0, **kw)


def xy(n=6, n_in=2, dtype=F64):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, n_in)).astype(dtype), rng.standard_normal(n).astype(dtype)


# ---- shapes: ops ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: ops.matmul(np.ones(3, F32), np.ones((3, 2), F32)), r"a must be 2-D.*\(3,\)"),
        (lambda: ops.matmul(np.ones((2, 3), F32), np.ones((1, 3, 2), F32)), r"b must be 2-D"),
        (lambda: ops.matmul(np.ones((2, 3), F32), np.ones((4, 2), F32)), r"inner dimensions"),
        (lambda: ops.matmul(np.ones((2, 3), F32), np.ones((3, 2), F32), trans_a=True), r"inner dimensions"),
        (lambda: ops.dense_forward(np.ones((4, 3)), np.ones((2, 2)), np.zeros(2)), r"x has 3 features"),
        (lambda: ops.dense_forward(np.ones((4, 3)), np.ones((3, 2)), np.zeros(3)), r"b has shape \(3,\)"),
        (lambda: ops.dense_forward(np.ones((4, 3)), np.ones((3, 2)), np.zeros((1, 2))), r"b must be 1-D"),
        (lambda: ops.dense_forward(np.ones(3), np.ones((3, 2)), np.zeros(2)), r"x must be 2-D"),
        (lambda: ops.dense_backward(np.ones((4, 3)), np.ones((3, 2)), np.ones((3, 2))), r"grad_y has shape"),
        (
            lambda: ops.dense_backward(np.ones((4, 3)), np.ones((3, 2)), np.ones((4, 2)), "tanh", np.ones((4, 3))),
            r"y has shape",
        ),
        (lambda: ops.dense_backward(np.ones((4, 3)), np.ones((3, 2)), np.ones((4, 2)), "tanh"), r"needs y"),
        (lambda: ops.activation_backward("relu", np.ones((2, 3)), np.ones((3, 2))), r"grad_a has shape"),
        (lambda: ops.loss("mse", np.ones((4, 1)), np.ones(4)), r"pred has shape \(4, 1\) but target has \(4,\)"),
        (lambda: ops.loss_grad("mae", np.ones((4, 2)), np.ones((2, 4))), r"must match"),
        (lambda: ops.loss("mse", np.ones((0, 2)), np.ones((0, 2))), r"empty"),
        (lambda: ops.sgd_update(np.ones((4, 1)), np.ones(4), 0.1), r"grad has shape"),
        (lambda: ops.init("he_uniform", 0, 3), r"fan_in and fan_out"),
        (lambda: ops.init("zeros", 2, 2, shape=(2, -1)), r"negative"),
        (lambda: ops.permutation(-1, 0), r"n must be >= 0"),
        (lambda: ops.permutation(5, -1), r"seed must be in \[0, 2\*\*64\)"),
        (lambda: ops.init("he_normal", 2, 2, -1), r"seed must be in \[0, 2\*\*64\)"),
        (lambda: ops.init("he_normal", 2, 2, 2**64), r"seed must be in \[0, 2\*\*64\)"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_ops_shape_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---- dtypes: ops ---------------------------------------------------------------------------------------
BAD_DTYPES = [np.int32, np.int64, np.bool_, object, np.float16, np.complex128, np.uint8]


def _ops_calls(bad):
    """(name, call) pairs that pass `bad` as one argument and good float64 arrays as the rest."""
    good2 = np.ones((2, 2))
    return [
        ("matmul a", lambda: ops.matmul(bad, good2), "a has dtype"),
        ("matmul b", lambda: ops.matmul(good2, bad), "b has dtype"),
        ("dense_forward x", lambda: ops.dense_forward(bad, good2, np.zeros(2)), "x has dtype"),
        ("dense_forward w", lambda: ops.dense_forward(good2, bad, np.zeros(2)), "w has dtype"),
        ("dense_forward b", lambda: ops.dense_forward(good2, good2, bad[0]), "b has dtype"),
        ("dense_backward grad_y", lambda: ops.dense_backward(good2, good2, bad), "grad_y has dtype"),
        ("activation_forward", lambda: ops.activation_forward("relu", bad), "z has dtype"),
        ("activation_backward", lambda: ops.activation_backward("relu", good2, bad), "grad_a has dtype"),
        ("loss pred", lambda: ops.loss("mse", bad, good2), "pred has dtype"),
        ("loss target", lambda: ops.loss("mse", good2, bad), "target has dtype"),
        ("loss_grad", lambda: ops.loss_grad("mae", bad, good2), "pred has dtype"),
        ("sgd_update param", lambda: ops.sgd_update(bad, good2, 0.1), "param has dtype"),
        ("sgd_update grad", lambda: ops.sgd_update(good2.copy(), bad, 0.1), "grad has dtype"),
    ]


@pytest.mark.parametrize("dtype", BAD_DTYPES, ids=lambda d: np.dtype(d).name)
def test_ops_refuse_non_float_dtypes(dtype):
    bad = np.ones((2, 2), dtype=dtype)
    for name, call, match in _ops_calls(bad):
        with pytest.raises(TypeError, match=match) as info:
            call()
        assert np.dtype(dtype).name in str(info.value) or "object" in str(info.value), f"{name}: {info.value}"
        assert "float32 or float64" in str(info.value), f"{name}: {info.value}"


def test_ops_refuse_mixed_float_dtypes():
    with pytest.raises(TypeError, match="share a dtype"):
        ops.matmul(np.ones((2, 2), F32), np.ones((2, 2), F64))
    with pytest.raises(TypeError, match="share a dtype"):
        ops.dense_forward(np.ones((2, 2), F32), np.ones((2, 2), F32), np.zeros(2, F64))
    with pytest.raises(TypeError, match="share a dtype"):
        ops.loss("mse", np.ones(2, F32), np.ones(2, F64))
    with pytest.raises(TypeError, match="share a dtype"):
        ops.sgd_update(np.ones(2, F32), np.ones(2, F64), 0.1)


@pytest.mark.parametrize("value", [None, "abc", {"a": 1}, object()], ids=["None", "str", "dict", "object"])
def test_ops_refuse_non_arrays(value):
    with pytest.raises(TypeError):
        ops.activation_forward("relu", value)
    with pytest.raises(TypeError):
        ops.matmul(value, np.ones((2, 2)))


def test_ops_accept_float_lists():
    np.testing.assert_array_equal(ops.activation_forward("relu", [-1.0, 2.0]), [0.0, 2.0])


# ---- dtypes and shapes: the model ----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_, object], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("which", ["X", "y"])
def test_fit_refuses_non_float_data(dtype, which):
    x, y = xy()
    if which == "X":
        x = (x > 0).astype(dtype)
    else:
        y = (y > 0).astype(dtype)
    model = small_model()
    before = model.get_weights()
    with pytest.raises(TypeError, match=f"{which} has dtype"):
        model.fit(x, y, epochs=1)
    assert all(np.array_equal(a, b) for pa, pb in zip(before, model.get_weights()) for a, b in zip(pa, pb))


@pytest.mark.parametrize("method", ["predict", "evaluate", "gradients"])
def test_model_methods_refuse_integer_data(method):
    model = small_model()
    x = np.ones((3, 2), dtype=np.int64)
    args = (x,) if method == "predict" else (x, np.ones(3))
    with pytest.raises(TypeError, match="X has dtype int64"):
        getattr(model, method)(*args)


def test_float16_data_is_converted():
    x, y = xy()
    model = small_model()
    ref = small_model()
    model.fit(x.astype(np.float16), y.astype(np.float16), epochs=2, batch_size=3)
    ref.fit(x.astype(np.float16).astype(F32), y.astype(np.float16).astype(F32), epochs=2, batch_size=3)
    for (w, b), (w0, b0) in zip(model.get_weights(), ref.get_weights()):
        assert np.array_equal(w, w0) and np.array_equal(b, b0)


@pytest.mark.parametrize(
    "x_shape,y_shape,match",
    [
        ((6, 3), (6,), r"X must have shape \(n, 2\)"),
        ((6, 2, 1), (6,), r"X must have shape \(n, 2\)"),
        ((6,), (6,), r"X must have shape \(n, 2\)"),
        ((6, 2), (5,), r"X has 6 samples but y has 5"),
        ((6, 2), (7, 1), r"X has 6 samples but y has 7"),
        ((6, 2), (6, 2), r"y must have shape"),
        ((6, 2), (6, 1, 1), r"y must have shape"),
    ],
)
def test_fit_shape_errors(x_shape, y_shape, match):
    model = small_model()
    with pytest.raises(ValueError, match=match):
        model.fit(np.ones(x_shape), np.ones(y_shape), epochs=1)
    with pytest.raises(ValueError, match=match):
        model.evaluate(np.ones(x_shape), np.ones(y_shape))


@pytest.mark.parametrize("n", [0])
def test_fit_refuses_empty_data(n):
    model = small_model()
    with pytest.raises(ValueError, match="empty"):
        model.fit(np.ones((n, 2)), np.ones(n), epochs=1)
    with pytest.raises(ValueError, match="empty"):
        model.evaluate(np.ones((n, 2)), np.ones(n))
    with pytest.raises(ValueError, match="empty"):
        model.gradients(np.ones((n, 2)), np.ones(n))
    with pytest.raises(ValueError, match="empty"):
        fastmlp.MLP([1, 1]).fit([], [], epochs=1)


# ---- NaN and Inf ---------------------------------------------------------------------------------------
NONFINITE = [("NaN", np.nan), ("Inf", np.inf), ("Inf", -np.inf)]


@pytest.mark.parametrize("word,value", NONFINITE, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("which", ["X", "y"])
def test_fit_refuses_non_finite_data(word, value, which):
    x, y = xy()
    (x if which == "X" else y)[3 if which == "y" else (3, 1)] = value
    model = small_model()
    before = model.get_weights()
    with pytest.raises(ValueError, match=word):
        model.fit(x, y, epochs=1)
    with pytest.raises(ValueError, match=word):
        model.evaluate(x, y)
    with pytest.raises(ValueError, match=word):
        model.gradients(x, y)
    if which == "X":
        with pytest.raises(ValueError, match=word):
            model.predict(x)
    assert all(np.array_equal(a, b) for pa, pb in zip(before, model.get_weights()) for a, b in zip(pa, pb))


@pytest.mark.parametrize("word,value", NONFINITE[:2], ids=["nan", "inf"])
@pytest.mark.parametrize("which", ["X_val", "y_val"])
def test_fit_refuses_non_finite_validation_data_before_training(word, value, which):
    # Bad validation data is bad input like any other: it must be refused before fit changes the model,
    # not after an epoch of training has already updated the weights and the optimizer state.
    x, y = xy()
    xv, yv = x.copy(), y.copy()
    (xv if which == "X_val" else yv)[(0, 0) if which == "X_val" else 0] = value
    model = small_model()
    before = model.get_weights()
    with pytest.raises(ValueError, match=word):
        model.fit(x, y, epochs=3, validation_data=(xv, yv))
    changed = [
        i
        for i, (pa, pb) in enumerate(zip(before, model.get_weights()))
        if not all(np.array_equal(a, b) for a, b in zip(pa, pb))
    ]
    assert not changed, f"fit trained (layers {changed} changed) before refusing the non-finite {which}"


@pytest.mark.parametrize("word,value", NONFINITE, ids=["nan", "inf", "-inf"])
def test_ops_refuse_non_finite_inputs(word, value):
    bad = np.ones((3, 3))
    bad[1, 2] = value
    good = np.ones((3, 3))
    calls = [
        lambda: ops.matmul(bad, good),
        lambda: ops.matmul(good, bad),
        lambda: ops.dense_forward(bad, good, np.zeros(3)),
        lambda: ops.dense_forward(good, bad, np.zeros(3)),
        lambda: ops.dense_forward(good, good, bad[1]),
        lambda: ops.dense_backward(good, good, bad),
        lambda: ops.dense_backward(bad, good, good),
        lambda: ops.activation_forward("tanh", bad),
        lambda: ops.activation_backward("tanh", good, bad),
        lambda: ops.loss("mse", bad, good),
        lambda: ops.loss_grad("mse", good, bad),
        lambda: ops.sgd_update(good.copy(), bad, 0.1),
        lambda: ops.sgd_update(bad.copy(), good, 0.1),
    ]
    for i, call in enumerate(calls):
        with pytest.raises(ValueError, match=word) as info:
            call()
        assert "flat index" in str(info.value), f"call {i}: {info.value}"


def test_set_weights_refuses_non_finite():
    model = small_model()
    pairs = model.get_weights()
    pairs[1][0][0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.set_weights(pairs)


# ---- names -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call,choices",
    [
        (lambda: ops.activation_forward("mish", np.ones(2)), ["identity", "sigmoid", "leaky_relu"]),
        (lambda: ops.activation_backward("mish", np.ones(2), np.ones(2)), ["relu", "tanh", "step"]),
        (lambda: ops.dense_forward(np.ones((1, 2)), np.ones((2, 2)), np.zeros(2), "Relu"), ["relu"]),
        (
            lambda: ops.dense_backward(np.ones((1, 2)), np.ones((2, 2)), np.ones((1, 2)), "mish", np.ones((1, 2))),
            ["relu"],
        ),
        (lambda: ops.init("orthogonal", 2, 2), ["xavier_uniform", "he_normal", "lecun_uniform", "zeros"]),
        (lambda: ops.init("zeros", 2, 2, dtype="float16"), ["float32", "float64"]),
        (lambda: ops.loss("hinge", np.ones(2), np.ones(2)), ["mse", "mae"]),
        (lambda: ops.loss_grad("kl_div", np.ones(2), np.ones(2)), ["mse", "mae"]),
        (lambda: ops.loss("mse", np.ones(2), np.ones(2), "max"), ["mean", "sum"]),
        (lambda: ops.loss_grad("mse", np.ones(2), np.ones(2), reduction="none"), ["mean", "sum"]),
        (lambda: fastmlp.MLP([2, 3, 1], activation="bogus"), ["relu", "tanh"]),
        (lambda: fastmlp.MLP([2, 1], output_activation="softmax"), ["identity", "sigmoid"]),
        (lambda: fastmlp.MLP([2, 1], init="bogus"), ["he_uniform", "xavier_normal"]),
        (lambda: small_model().fit(*xy(), loss="hinge", epochs=1), ["mse", "mae"]),
        (lambda: small_model().evaluate(*xy(), loss="l2"), ["mse", "mae"]),
        (lambda: small_model().gradients(*xy(), loss="l2"), ["mse", "mae"]),
    ],
    ids=lambda v: "" if callable(v) else ",".join(v),
)
def test_unknown_names_raise_value_error_listing_choices(call, choices):
    with pytest.raises(ValueError, match="unknown") as info:
        call()
    for name in choices:
        assert name in str(info.value), f"{name!r} not listed: {info.value}"


@pytest.mark.parametrize(
    "call,what",
    [
        (lambda: ops.activation_forward(1, np.ones(2)), "activation"),
        (lambda: ops.activation_backward(None, np.ones(2), np.ones(2)), "activation"),
        (lambda: ops.dense_forward(np.ones((1, 2)), np.ones((2, 2)), np.zeros(2), activation=np.tanh), "activation"),
        (lambda: ops.loss(b"mse", np.ones(2), np.ones(2)), "loss"),
        (lambda: ops.loss_grad("mse", np.ones(2), np.ones(2), reduction=0), "reduction"),
        (lambda: ops.init(3, 2, 2), "initializer"),
        (lambda: fastmlp.MLP([2, 1], init=None), "initializer"),
        (lambda: fastmlp.MLP([2, 1], output_activation=0), "output_activation"),
        (lambda: fastmlp.MLP([2, 3, 1], activation=[1]), "activation"),
        (lambda: fastmlp.MLP([2, 3, 1], activation=3), "activation"),
        (lambda: fastmlp.MLP([2, 3, 1], activation=None), "activation"),
        (lambda: small_model().fit(*xy(), loss=None, epochs=1), "loss"),
        (lambda: small_model().evaluate(*xy(), loss=len), "loss"),
        (lambda: small_model().fit(*xy(), optimizer=b"sgd", epochs=1), "optimizer"),  # a str is a name, bytes not
        (lambda: small_model().fit(*xy(), optimizer=fastmlp.optim.SGD, epochs=1), "optimizer"),  # the class
    ],
    ids=[
        "act_fwd",
        "act_bwd",
        "dense",
        "loss_bytes",
        "reduction",
        "init",
        "mlp_init",
        "mlp_out_act",
        "mlp_act_list",
        "mlp_act_int",
        "mlp_act_none",
        "fit_loss",
        "evaluate_loss",
        "optimizer_bytes",
        "optimizer_class",
    ],
)
def test_non_string_names_raise_type_error(call, what):
    with pytest.raises(TypeError) as info:
        call()
    assert what in str(info.value), f"the message does not name {what!r}: {info.value}"


# ---- hyperparameters -------------------------------------------------------------------------------------
@pytest.mark.parametrize("lr", [0.0, -0.1, float("nan"), float("inf")])
def test_learning_rate_must_be_positive(lr):
    with pytest.raises(ValueError, match="lr"):
        fastmlp.optim.SGD(lr=lr)
    param = np.ones(3)
    with pytest.raises(ValueError, match="lr"):
        ops.sgd_update(param, np.ones(3), lr)
    assert np.array_equal(param, np.ones(3))


def test_learning_rate_must_be_a_number():
    with pytest.raises(TypeError, match="lr"):
        fastmlp.optim.SGD(lr="0.1")


@pytest.mark.parametrize("batch_size", [0, -1, -32])
def test_batch_size_must_be_positive(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        small_model().fit(*xy(), batch_size=batch_size, epochs=1)


@pytest.mark.parametrize("batch_size", [2.0, 0.5, True, [4]], ids=["2.0", "0.5", "bool", "list"])
def test_batch_size_must_be_an_int(batch_size):
    with pytest.raises(TypeError, match="batch_size must be an int >= 1, 'max' or None"):
        small_model().fit(*xy(), batch_size=batch_size, epochs=1)


@pytest.mark.parametrize("batch_size", ["4", "Max", ""])
def test_a_batch_size_string_other_than_max_is_refused(batch_size):
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, 'max' or None"):
        small_model().fit(*xy(), batch_size=batch_size, epochs=1)


def test_numpy_integer_batch_size_is_fine():
    small_model().fit(*xy(), batch_size=np.int64(2), epochs=1)


@pytest.mark.parametrize(
    "kw,exc,match",
    [
        ({"epochs": -1}, ValueError, "epochs"),
        ({"on_nonfinite": "ignore"}, ValueError, "on_nonfinite"),
        ({"validation_data": np.ones((2, 2))}, TypeError, "validation_data"),
        ({"validation_data": (np.ones((2, 3)), np.ones(2))}, ValueError, "X_val"),
        ({"validation_data": (np.ones((2, 2)), np.ones(3))}, ValueError, "y_val"),
        ({"clip_grad_norm": 0.0}, ValueError, "clip_grad_norm"),
        ({"clip_grad_value": -1.0}, ValueError, "clip_grad_value"),
        ({"seed": -1}, ValueError, r"seed must be in \[0, 2\*\*64\), got"),
        ({"seed": 2**64}, ValueError, r"seed must be in \[0, 2\*\*64\), got"),
        ({"seed": 1.5}, TypeError, "seed must be an int, got float"),
        ({"seed": "a"}, TypeError, "seed must be an int, got str"),
        ({"shuffle": "no"}, TypeError, "shuffle must be True or False"),
        ({"drop_last": "x"}, TypeError, "drop_last must be True or False"),
        ({"batch_size": 2**70, "drop_last": True}, ValueError, "no batch at all"),
    ],
)
def test_other_fit_arguments(kw, exc, match):
    kw = dict(kw)
    with pytest.raises(exc, match=match):
        small_model().fit(*xy(), epochs=kw.pop("epochs", 1), **kw)


@pytest.mark.parametrize("seed,exc", [(-1, ValueError), (2**64, ValueError), (0.5, TypeError), (True, TypeError)])
def test_model_seed_validation(seed, exc):
    with pytest.raises(exc, match="seed"):
        fastmlp.MLP([2, 1], seed=seed)


def test_a_batch_larger_than_any_index_is_the_full_batch():
    x, y = xy()
    full = small_model().fit(x, y, batch_size=None, epochs=2, shuffle=False)
    huge = small_model().fit(x, y, batch_size=2**70, epochs=2, shuffle=False)
    assert huge.params["batch_size"] == 2**70 and huge.params["steps"] == 1
    assert huge.history["loss"] == full.history["loss"]


def test_float64_data_beyond_float32_range_is_named_not_called_inf():
    x, y = xy()
    x[2, 1] = 1e300
    with pytest.raises(ValueError, match="outside the range of float32"):
        small_model().fit(x, y, epochs=1)
    with pytest.raises(ValueError, match="outside the range of float32"):
        small_model().predict(x)
    x[2, 1] = np.inf  # a real Inf is still called one
    with pytest.raises(ValueError, match="X contains Inf"):
        small_model().fit(x, y, epochs=1)


def test_momentum_and_negative_slope_validation():
    with pytest.raises(ValueError, match="momentum"):
        fastmlp.optim.SGD(lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="nesterov"):
        fastmlp.optim.SGD(lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="negative_slope"):
        ops.activation_forward("leaky_relu", np.ones(2), negative_slope=-0.1)
    with pytest.raises(ValueError, match="negative_slope"):
        fastmlp.MLP([2, 1], negative_slope=float("nan"))


# ---- layouts ---------------------------------------------------------------------------------------------
def layouts(a):
    """Views of (a copy of) the 2-D array `a` that hold the same values in other memory layouts."""
    a = np.array(a)
    big = np.zeros((a.shape[0] * 2, a.shape[1] * 3), a.dtype)
    big[::2, ::3] = a
    flipped = np.ascontiguousarray(a[::-1, ::-1])
    ro = a.copy()
    ro.flags.writeable = False
    swapped = a.astype(a.dtype.newbyteorder())  # same values, non-native byte order
    raw = np.zeros(a.nbytes + 1, np.uint8)[1:]  # one byte past an aligned start: misaligned elements
    misaligned = raw.view(a.dtype).reshape(a.shape)
    misaligned[...] = a
    assert not misaligned.flags.aligned
    return {
        "fortran": np.asfortranarray(a),
        "transposed": np.ascontiguousarray(a.T).T,
        "strided": big[::2, ::3],
        "negative_stride": flipped[::-1, ::-1],
        "read_only": ro,
        "byteswapped": swapped,
        "misaligned": misaligned,
    }


LAYOUTS = ["fortran", "transposed", "strided", "negative_stride", "read_only", "byteswapped", "misaligned"]


def _same(got, want, what):
    if isinstance(want, tuple):
        for i, (g, w) in enumerate(zip(got, want)):
            _same(g, w, f"{what}[{i}]")
        return
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, f"{what}: {got.dtype}{got.shape}"
    assert got.tobytes() == want.tobytes(), (
        f"{what}: differs from the contiguous result (max abs diff {np.max(np.abs(got - want)):.3e})"
    )


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [F32, F64], ids=["float32", "float64"])
def test_read_only_inputs_in_any_layout_give_the_contiguous_result(layout, dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 4)).astype(dtype)
    w = rng.standard_normal((4, 3)).astype(dtype)
    b = rng.standard_normal((1, 3)).astype(dtype)
    t = rng.standard_normal((5, 3)).astype(dtype)
    y = ops.dense_forward(x, w, b[0], "tanh")
    gy = rng.standard_normal((5, 3)).astype(dtype)
    wt = np.ascontiguousarray(w.T)

    def cases(X, W, B, T, Y, GY, WT):
        return {
            "matmul": lambda: ops.matmul(X, W),
            "matmul_tb": lambda: ops.matmul(X, WT, trans_b=True),
            "dense_forward": lambda: ops.dense_forward(X, W, B[0], "tanh"),
            "dense_backward": lambda: ops.dense_backward(X, W, GY, "tanh", Y),
            "activation_forward": lambda: ops.activation_forward("sigmoid", X),
            "activation_backward": lambda: ops.activation_backward("leaky_relu", X, X),
            "loss": lambda: ops.loss("mse", Y, T),
            "loss_grad": lambda: ops.loss_grad("mae", Y, T),
        }

    want = {k: f() for k, f in cases(x, w, b, t, y, gy, wt).items()}
    views = [layouts(a)[layout] for a in (x, w, b, t, y, gy, wt)]
    got = {k: f() for k, f in cases(*views).items()}
    for k in want:
        _same(got[k], want[k], f"{k} with {layout} inputs")
    # The model converts its input as well.
    model = fastmlp.MLP([4, 3], dtype=np.dtype(dtype).name, seed=1)
    _same(model.predict(layouts(x)[layout]), model.predict(x), f"MLP.predict with a {layout} X")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_sgd_update_grad_in_any_layout(layout):
    rng = np.random.default_rng(4)
    g = rng.standard_normal((3, 4))
    want = np.ones((3, 4))
    ops.sgd_update(want, g, 0.5)
    got = np.ones((3, 4))
    ops.sgd_update(got, layouts(g)[layout], 0.5)
    _same(got, want, f"sgd_update with a {layout} grad")


IN_PLACE_REFUSED = ["fortran", "transposed", "strided", "negative_stride", "read_only", "misaligned"]


@pytest.mark.parametrize("layout", IN_PLACE_REFUSED)
def test_sgd_update_refuses_a_param_it_cannot_update_in_place(layout):
    param = layouts(np.arange(12.0).reshape(3, 4))[layout]
    snapshot = param.copy()
    with pytest.raises(ValueError, match="read-only" if layout == "read_only" else "C-contiguous"):
        ops.sgd_update(param, np.ones((3, 4)), 0.1)
    assert np.array_equal(param, snapshot)


@pytest.mark.parametrize("which", ["param", "state"])
@pytest.mark.parametrize("layout", IN_PLACE_REFUSED)
def test_optimizer_update_refuses_arrays_it_cannot_update_in_place(layout, which):
    # Adam writes param and both moment buffers: each must be updated where it lies, or refused.
    opt = fastmlp.optim.Adam(lr=0.1)
    param, state = np.arange(12.0).reshape(3, 4), [np.zeros((3, 4)), np.zeros((3, 4))]
    if which == "param":
        param = layouts(param)[layout]
    else:
        state[1] = layouts(state[1])[layout]
    snapshot = [param.copy()] + [s.copy() for s in state]
    with pytest.raises(ValueError, match="read-only" if layout == "read_only" else "C-contiguous"):
        ops.optimizer_update(opt, param, np.ones((3, 4)), state, step=1)
    for got, want in zip([param] + state, snapshot):
        assert np.array_equal(got, want), "an array was written before the refusal"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_optimizer_update_grad_in_any_layout(layout):
    rng = np.random.default_rng(5)
    g = rng.standard_normal((3, 4))
    opt = fastmlp.optim.Adam(lr=0.1)
    want, want_state = np.ones((3, 4)), [np.zeros((3, 4)), np.zeros((3, 4))]
    ops.optimizer_update(opt, want, g, want_state, step=1)
    got, got_state = np.ones((3, 4)), [np.zeros((3, 4)), np.zeros((3, 4))]
    ops.optimizer_update(opt, got, layouts(g)[layout], got_state, step=1)
    _same((got, *got_state), (want, *want_state), f"optimizer_update with a {layout} grad")


def test_sgd_update_on_a_byteswapped_param_is_right_or_refused():
    # A non-native byte order param cannot be updated by the kernel as is: either it is refused (no
    # silent copy) or the update must come out right; reading its bytes as native floats is neither.
    param = np.arange(1.0, 5.0).astype(np.dtype(F64).newbyteorder())
    try:
        ops.sgd_update(param, np.ones(4), 0.5)
    except (TypeError, ValueError):
        assert np.array_equal(param, np.arange(1.0, 5.0))
        return
    np.testing.assert_array_equal(param, np.arange(1.0, 5.0) - 0.5)


def test_sgd_update_refuses_non_arrays_as_param():
    with pytest.raises(TypeError, match="numpy.ndarray"):
        ops.sgd_update([1.0, 2.0], np.ones(2), 0.1)


def test_sgd_update_updates_contiguous_slices_in_place():
    big = np.ones((4, 3))
    ops.sgd_update(big[1:3], np.ones((2, 3)), 0.5)  # a C-contiguous view: updated where it lives
    np.testing.assert_array_equal(big, [[1, 1, 1], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [1, 1, 1]])


# ---- dangerous cases, each in a child interpreter -------------------------------------------------------
CHILD_PRELUDE = """
import numpy as np
import fastmlp
from fastmlp import ops

def expect(exc_types, fn):
    try:
        fn()
    except exc_types as e:
        print("CAUGHT", type(e).__name__, "-", e)
        return
    raise SystemExit("no exception")
"""

CHILD_CASES = {
    "init_2^40_squared": "expect((MemoryError, ValueError), lambda: ops.init('zeros', 1, 1, shape=(2**40, 2**40)))",
    "init_2^62_float64": (
        "expect((MemoryError, ValueError), lambda: ops.init('ones', 1, 1, shape=(2**62,), dtype='float64'))"
    ),
    "init_overflowing_product": (
        "expect((MemoryError, ValueError), lambda: ops.init('uniform', 3, 3, shape=(2**33, 2**33, 4)))"
    ),
    "init_huge_fans": "expect((MemoryError, ValueError), lambda: ops.init('he_uniform', 2**40, 2**40))",
    "permutation_2^62": "expect((MemoryError, ValueError), lambda: ops.permutation(2**62, 0))",
    "model_huge_layer": "expect((MemoryError, ValueError), lambda: fastmlp.MLP([2**40, 2**40]))",
    "dense_backward_grad_y_rows": (
        "expect(ValueError, lambda: ops.dense_backward(np.ones((64, 8)), np.ones((8, 4)), np.ones((63, 4))))"
    ),
    "dense_backward_grad_y_cols": (
        "expect(ValueError, lambda: ops.dense_backward(np.ones((64, 8)), np.ones((8, 4)), np.ones((64, 5))))"
    ),
    "dense_backward_y_shape": (
        "expect(ValueError, lambda: ops.dense_backward(np.ones((64, 8)), np.ones((8, 4)), "
        "np.ones((64, 4)), 'relu', np.ones((2, 2))))"
    ),
    "dense_backward_y_1d": (
        "expect(ValueError, lambda: ops.dense_backward(np.ones((4, 8)), np.ones((8, 4)), "
        "np.ones((4, 4)), 'sigmoid', np.ones(16)))"
    ),
    "dense_backward_w_rows": (
        "expect(ValueError, lambda: ops.dense_backward(np.ones((4, 8)), np.ones((9, 4)), np.ones((4, 4))))"
    ),
    "dense_forward_b_long": (
        "expect(ValueError, lambda: ops.dense_forward(np.ones((4, 8)), np.ones((8, 4)), np.ones(400)))"
    ),
    "matmul_trans_mismatch": (
        "expect(ValueError, lambda: ops.matmul(np.ones((300, 200)), np.ones((300, 100)), trans_b=True))"
    ),
    "activation_backward_size_not_shape": (
        "expect(ValueError, lambda: ops.activation_backward('relu', np.ones((2, 6)), np.ones((3, 4))))"
    ),
    "loss_same_size_other_shape": "expect(ValueError, lambda: ops.loss('mse', np.ones((2, 6)), np.ones((3, 4))))",
    "sgd_update_same_size_other_shape": (
        "expect(ValueError, lambda: ops.sgd_update(np.ones((2, 6)), np.ones((3, 4)), 0.1))"
    ),
    "set_weights_wrong_shapes": (
        "expect(ValueError, lambda: fastmlp.MLP([3, 4, 2]).set_weights([(np.ones((4, 3)), "
        "np.ones(3)), (np.ones((3, 2)), np.ones(2))]))"
    ),
    "model_weights_replaced_by_wrong_shape": (
        "m = fastmlp.MLP([3, 4, 2]); m.weights[1] = np.ones((5, 2), np.float32)\n"
        "expect(ValueError, lambda: m.predict(np.ones((2, 3))))\n"
        "expect(ValueError, lambda: m.fit(np.ones((4, 3)), np.ones((4, 2)), epochs=1))"
    ),
    "model_weights_replaced_by_transposed_view": (
        "m = fastmlp.MLP([3, 4, 2]); m.weights[0] = np.ones((4, 3), np.float32).T\n"
        "expect(ValueError, lambda: m.fit(np.ones((4, 3)), np.ones((4, 2)), epochs=1))"
    ),
    # Real allocations that cannot succeed (512 GiB of activations for one 4096-row chunk, 2^45 bytes of
    # workspace for a batch): MemoryError naming what was being done, not a crash.
    "predict_real_allocation_failure": (
        "m = fastmlp.MLP([1, 2**25, 1])\nexpect(MemoryError, lambda: m.predict(np.ones((2**16, 1), np.float32)))"
    ),
    "fit_real_allocation_failure": (
        "m = fastmlp.MLP([1, 2**25, 1])\n"
        "expect(MemoryError, lambda: m.fit(np.ones((2**16, 1), np.float32), np.ones(2**16, np.float32), "
        "batch_size=None, epochs=1))"
    ),
    "gradients_real_allocation_failure": (
        "m = fastmlp.MLP([1, 2**25, 1])\n"
        "expect(MemoryError, lambda: m.gradients(np.ones((2**16, 1), np.float32), np.ones(2**16, np.float32)))"
    ),
    "fit_drop_last_bigger_batch": (
        "expect(ValueError, lambda: fastmlp.MLP([2, 1]).fit(np.ones((3, 2)), np.ones(3), "
        "batch_size=8, drop_last=True, epochs=1))"
    ),
    "fit_batch_huge": (
        "m = fastmlp.MLP([2, 1]); m.fit(np.ones((3, 2)), np.ones(3), batch_size=2**40, epochs=2)\n"
        "print('CAUGHT nothing - a batch larger than the data is the full batch')"
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CHILD_CASES))
def test_dangerous_case_in_child(case):
    if UNDER_ASAN and "real_allocation" in case:
        pytest.skip(
            "AddressSanitizer (tools/sanitize.sh) ends the process on a failed operator new instead of "
            "throwing std::bad_alloc"
        )
    proc = run_python(CHILD_PRELUDE + CHILD_CASES[case])
    rc, out, err = proc.returncode, proc.stdout, proc.stderr
    assert rc == 0, f"child exited with {rc} (negative: killed by a signal)\nstdout:\n{out}\nstderr:\n{err[-3000:]}"
    assert "CAUGHT" in out, out
    if "real_allocation" in case:  # the message says what did not fit, beyond "std::bad_alloc"
        assert "CAUGHT MemoryError" in out and "not enough" in out, out


ZERO_SIZED = """
import numpy as np
from fastmlp import ops

def same(got, want, what):
    got = np.asarray(got)
    assert got.shape == np.shape(want), (what, got.shape, np.shape(want))
    assert np.array_equal(got, want), (what, got, want)

for dt in (np.float32, np.float64):
    o = lambda *s: np.ones(s, dt)
    same(ops.matmul(o(0, 3), o(3, 2)), np.zeros((0, 2)), "matmul n=0")
    same(ops.matmul(o(4, 0), o(0, 2)), np.zeros((4, 2)), "matmul k=0")
    same(ops.matmul(o(4, 3), o(3, 0)), np.zeros((4, 0)), "matmul m=0")
    same(ops.matmul(o(0, 4), o(0, 2), trans_a=True), np.zeros((4, 2)), "matmul k=0 trans_a")
    same(ops.dense_forward(o(0, 3), o(3, 2), o(2)), np.zeros((0, 2)), "dense_forward n=0")
    same(ops.dense_forward(o(4, 0), o(0, 2), np.full(2, 0.5, dt), "relu"), np.full((4, 2), 0.5), "dense_forward k=0")
    same(ops.dense_forward(o(4, 3), o(3, 0), o(0)), np.zeros((4, 0)), "dense_forward m=0")
    gx, gw, gb = ops.dense_backward(o(0, 3), o(3, 2), o(0, 2))
    same(gx, np.zeros((0, 3)), "gx n=0"); same(gw, np.zeros((3, 2)), "gw n=0"); same(gb, np.zeros(2), "gb n=0")
    gx, gw, gb = ops.dense_backward(o(4, 0), o(0, 2), o(4, 2), "tanh", np.zeros((4, 2), dt))
    same(gx, np.zeros((4, 0)), "gx k=0"); same(gw, np.zeros((0, 2)), "gw k=0"); same(gb, np.full(2, 4.0), "gb k=0")
    gx, gw, gb = ops.dense_backward(o(4, 3), o(3, 0), o(4, 0))
    same(gx, np.zeros((4, 3)), "gx m=0"); same(gw, np.zeros((3, 0)), "gw m=0"); same(gb, np.zeros(0), "gb m=0")
    same(ops.activation_forward("sigmoid", o(0, 5)), np.zeros((0, 5)), "activation n=0")
    same(ops.activation_backward("relu", o(3, 0), o(3, 0)), np.zeros((3, 0)), "activation_backward")
    same(ops.init("he_uniform", 3, 4, shape=(0, 4), dtype=np.dtype(dt).name), np.zeros((0, 4)), "init")
    p = o(0, 3); ops.sgd_update(p, o(0, 3), 0.1); same(p, np.zeros((0, 3)), "sgd_update")
    for fn in (ops.loss, ops.loss_grad):
        try:
            fn("mse", o(0, 2), o(0, 2))
        except ValueError as e:
            assert "empty" in str(e), e
        else:
            raise SystemExit("loss of nothing did not raise")
same(ops.permutation(0, 1), np.zeros(0, np.int64), "permutation")
print("ALL OK")
"""


@pytest.mark.slow
def test_zero_sized_dimensions_in_child():
    proc = run_python(ZERO_SIZED)
    rc, out, err = proc.returncode, proc.stdout, proc.stderr
    assert rc == 0, f"child exited with {rc}\nstdout:\n{out}\nstderr:\n{err[-3000:]}"
    assert "ALL OK" in out


ZERO_ROWS_MODEL = """
import numpy as np
import fastmlp
m = fastmlp.MLP([3, 4, 2], seed=0)
out = m.predict(np.ones((0, 3)))
assert out.shape == (0, 2), out.shape
for call in (lambda: m.fit(np.ones((0, 3)), np.ones((0, 2)), epochs=1),
             lambda: m.evaluate(np.ones((0, 3)), np.ones((0, 2))),
             lambda: m.gradients(np.ones((0, 3)), np.ones((0, 2)))):
    try:
        call()
    except ValueError as e:
        assert "empty" in str(e), e
    else:
        raise SystemExit("no error for empty data")
print("ALL OK")
"""


@pytest.mark.slow
def test_zero_rows_through_the_model_in_child():
    proc = run_python(ZERO_ROWS_MODEL)
    rc, out, err = proc.returncode, proc.stdout, proc.stderr
    assert rc == 0, f"child exited with {rc}\nstdout:\n{out}\nstderr:\n{err[-3000:]}"
    assert "ALL OK" in out


def test_a_model_with_read_only_parameters_predicts_but_is_not_trained_silently():
    # Read-only parameters (frozen by the user, or memory-mapped by joblib) are read in place by predict,
    # evaluate and gradients; fit, which writes them, refuses them with a clear error.
    model = fastmlp.MLP([3, 5, 2], seed=1, dtype="float64")
    x = np.random.default_rng(0).normal(size=(7, 3))
    y = np.zeros((7, 2))
    want = (model.predict(x), model.evaluate(x, y), model.gradients(x, y))
    for a in model.weights + model.biases:
        a.flags.writeable = False
    got = (model.predict(x), model.evaluate(x, y), model.gradients(x, y))
    _same(got[0], want[0], "predict with read-only weights")
    assert got[1] == want[1]
    for (gw, gb), (ww, wb) in zip(got[2][1], want[2][1]):
        _same(gw, ww, "gradients with read-only weights")
        _same(gb, wb, "gradients with read-only biases")
    with pytest.raises(ValueError, match="read-only"):
        model.fit(x, y, epochs=1)
