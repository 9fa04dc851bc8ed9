"""The CPU trainer's small-network path (csrc/cpu/small_net.h): its dense layer against the float64
reference, the plan that chooses it (History.params["path"] and ["path_reason"]), and whole fits on it
against the GEMM path (FASTMLP_CPU_PATH=gemm): the same bits for one-layer networks and a hidden layer
that feeds one output (the same sums in the same order), the same results within rounding elsewhere."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

import fastmlp
from fastmlp import _core
from fastmlp import optim as O
from fastmlp import reference as R
from helpers import assert_bitwise, assert_close, rel_close, run_python, shape_id

WIDTHS = (1, 2, 7, 8, 9, 16, 17, 33, 64)
SHAPES = sorted(
    {(n, k, m) for n, (k, m) in zip(itertools.cycle((0, 1, 2, 3, 5, 17)), itertools.product(WIDTHS, WIDTHS))}
)
DTYPES = (np.float32, np.float64)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: shape_id(s, "nkm"))
def test_small_dense_matches_reference(shape, dtype):
    n, k, m = shape
    rng = np.random.default_rng(n * 10007 + k * 101 + m)
    x, w, b, gz = (rng.standard_normal(s).astype(dtype) for s in ((n, k), (k, m), (m,), (n, m)))
    z, gx, gw, gb = _core.small_dense(x, w, b, gz)
    want_gx, want_gw, want_gb = R.dense_backward(x, w, gz)
    # Sums of k (or m, or n) terms: their rounding grows with the count and the terms' size.
    for got, want, what, terms in (
        (z, R.dense_forward(x, w, b), "z", k + 1),
        (gx, want_gx, "grad_x", m),
        (gw, want_gw, "grad_w", n),
        (gb, want_gb, "grad_b", n),
    ):
        eps = float(np.finfo(dtype).eps)
        assert_close(got, want, dtype, f"{what} {shape}", rtol=8 * eps, atol=8 * eps * max(terms, 1) * 4.0)


def test_small_dense_refuses_bad_input():
    x, w, b, gz = np.ones((2, 3)), np.ones((3, 4)), np.ones(4), np.ones((2, 4))
    with pytest.raises(ValueError, match="1 to 64 wide"):
        _core.small_dense(np.ones((2, 65)), np.ones((65, 4)), b, gz)
    with pytest.raises(ValueError, match="grad_z has shape"):
        _core.small_dense(x, w, b, np.ones((3, 4)))
    with pytest.raises(ValueError, match="b has shape"):
        _core.small_dense(x, w, np.ones(3), gz)
    with pytest.raises(ValueError, match="non-finite|NaN|finite"):
        _core.small_dense(np.full((2, 3), np.nan), w, b, gz)
    with pytest.raises((TypeError, ValueError)):
        _core.small_dense(x.astype(np.float32), w, b, gz)


def _fit(
    sizes,
    dtype="float64",
    batch=1,
    loss="mse",
    optimizer=None,
    activation="tanh",
    path=None,
    monkeypatch=None,
    epochs=3,
    n=41,
    **kw,
):
    """(History, weights, biases) of a seeded fit, on the path FASTMLP_CPU_PATH asks for (None: the plan's)."""
    if path is None:
        monkeypatch.delenv("FASTMLP_CPU_PATH", raising=False)
    else:
        monkeypatch.setenv("FASTMLP_CPU_PATH", path)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, sizes[0])).astype(dtype)
    if loss == "cross_entropy":
        y = rng.integers(0, sizes[-1], n)
    elif loss == "bce":
        y = (rng.random((n, sizes[-1])) < 0.5).astype(dtype)
    else:
        y = rng.standard_normal((n, sizes[-1])).astype(dtype)
    model = fastmlp.MLP(sizes, activation=activation, seed=1, dtype=dtype, bias_init="uniform")
    opt = optimizer() if optimizer else O.SGD(lr=0.05)
    hist = model.fit(x, y, optimizer=opt, batch_size=batch, epochs=epochs, loss=loss, **kw)
    return hist, [a.copy() for a in model.weights], [a.copy() for a in model.biases]


@pytest.mark.parametrize(
    "sizes,batch,path",
    [
        ([1, 1], 1, "cpu-small"),
        ([1, 1], 32, "cpu-small"),
        ([16, 64, 64, 1], 1, "cpu-small"),
        ([16, 64, 64, 1], 2, "cpu-small"),
        ([16, 64, 64, 1], 3, "cpu-gemm"),
        ([3, 65, 1], 1, "cpu-gemm"),
        ([65, 1], 1, "cpu-gemm"),
        ([13, 32, 32, 1], 8, "cpu-small"),
        ([13, 32, 32, 1], 16, "cpu-gemm"),
    ],
)
def test_plan_chooses_the_path_and_says_why(sizes, batch, path, monkeypatch):
    hist, _, _ = _fit(sizes, batch=batch, epochs=1, monkeypatch=monkeypatch)
    assert hist.params["path"] == path
    reason = hist.params["path_reason"]
    if path == "cpu-small":
        assert "at most 64 wide" in reason and "right after its gradients" in reason
    elif max(sizes) > 64:
        assert "wide" in reason and str(max(sizes)) in reason
    else:
        assert "multiply-adds" in reason


def test_clipping_and_the_environment_show_in_the_reason(monkeypatch):
    hist, _, _ = _fit([2, 3, 1], epochs=1, clip_grad_norm=1.0, monkeypatch=monkeypatch)
    assert hist.params["path"] == "cpu-small" and "after clipping" in hist.params["path_reason"]
    hist, _, _ = _fit([2, 3, 1], epochs=1, path="gemm", monkeypatch=monkeypatch)
    assert hist.params["path"] == "cpu-gemm" and hist.params["path_reason"] == "FASTMLP_CPU_PATH=gemm"


OPTIMIZERS = {
    "sgd": lambda: O.SGD(lr=0.05),
    "momentum": lambda: O.SGD(lr=0.05, momentum=0.9, nesterov=True),
    "adam": lambda: O.Adam(lr=0.01),
    "adamw": lambda: O.AdamW(lr=0.01, weight_decay=0.1),
    "rmsprop": lambda: O.RMSprop(lr=0.01, centered=True, momentum=0.5),
    "adagrad": lambda: O.Adagrad(lr=0.1),
    "nadam": lambda: O.NAdam(lr=0.01),
    "radam": lambda: O.RAdam(lr=0.01),
    "adamax": lambda: O.Adamax(lr=0.01),
}

# Networks whose every sum the small path computes with the GEMM path's own loop shape: one layer (the
# lecture's neuron, linear and logistic regression), and a hidden layer that feeds a single output (its
# dL/dx is one product per element). A dL/dx of several terms is a dot here and a loop there: rounding.
SAME_ORDER = [[1, 1], [3, 1], [17, 1], [4, 3], [1, 1, 1], [5, 3, 1], [2, 9, 1]]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes", SAME_ORDER, ids=lambda s: "-".join(map(str, s)))
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_same_bits_as_the_gemm_path_where_the_sums_are_the_same(sizes, opt, dtype, monkeypatch):
    for batch, loss in ((1, "mse"), (5, "mae"), (8, "huber")):
        small = _fit(sizes, dtype, batch, loss, OPTIMIZERS[opt], monkeypatch=monkeypatch)
        gemm = _fit(sizes, dtype, batch, loss, OPTIMIZERS[opt], path="gemm", monkeypatch=monkeypatch)
        assert small[0].params["path"] == "cpu-small" and gemm[0].params["path"] == "cpu-gemm"
        for i, (a, b) in enumerate(zip(small[1] + small[2], gemm[1] + gemm[2])):
            assert_bitwise(a, b, f"{sizes} batch {batch} {loss}: parameter {i}")
        assert small[0].history["loss"] == gemm[0].history["loss"]


CASES = [  # (sizes, activation, loss, batch, extra fit arguments)
    ([13, 32, 32, 1], "tanh", "mse", 1, {}),
    ([16, 64, 64, 1], "relu", "mse", 2, {}),
    ([4, 9, 7, 3], "sigmoid", "cross_entropy", 3, {}),
    ([4, 9, 7, 3], "gelu", "mse", 1, {}),
    ([5, 8, 2], "silu", "bce", 4, {"clip_grad_value": 0.05}),
    ([5, 8, 2], "elu", "mae", 2, {"clip_grad_norm": 0.1}),
    ([3, 6, 6, 2], "softplus", "huber", 1, {"shuffle": False}),
    ([3, 6, 6, 2], "selu", "mse", 5, {"drop_last": True}),
    ([6, 11, 1], "leaky_relu", "mse", 7, {"sample_weight": True}),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{'-'.join(map(str, c[0]))}-{c[1]}-{c[2]}-b{c[3]}")
def test_same_results_as_the_gemm_path_within_rounding(case, dtype, monkeypatch):
    sizes, act, loss, batch, extra = case
    extra = dict(extra)
    if extra.pop("sample_weight", False):
        extra["sample_weight"] = np.random.default_rng(5).uniform(0.5, 2.0, 41).astype(dtype)
    runs = {
        p: _fit(sizes, dtype, batch, loss, OPTIMIZERS["adam"], act, p, monkeypatch, epochs=2, **extra)
        for p in (None, "gemm")
    }
    assert runs[None][0].params["path"] == "cpu-small" and runs["gemm"][0].params["path"] == "cpu-gemm"
    # Two epochs of steps amplify a rounding difference by the conditioning of the fit: a few hundred ulp.
    rel = 2e-4 if dtype == "float32" else 1e-10
    for i, (a, b) in enumerate(zip(runs[None][1] + runs[None][2], runs["gemm"][1] + runs["gemm"][2])):
        rel_close(a, b, f"parameter {i}", rel=rel, dtype=np.dtype(dtype).type)
    np.testing.assert_allclose(runs[None][0].history["loss"], runs["gemm"][0].history["loss"], rtol=rel)


def test_an_epoch_matches_the_reference(monkeypatch):
    """The small path's epochs against fastmlp.reference.train_epoch in float64: shuffled, a short last
    batch, Adam, a GELU hidden layer (its derivative reads z)."""
    monkeypatch.delenv("FASTMLP_CPU_PATH", raising=False)
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((19, 4)), rng.standard_normal((19, 2))
    model = fastmlp.MLP([4, 10, 6, 2], activation=["gelu", "tanh"], seed=2, bias_init="uniform", dtype="float64")
    ws, bs = [w.copy() for w in model.weights], [b.copy() for b in model.biases]
    opt = O.Adam(lr=0.01)
    hist = model.fit(x, y, optimizer=opt, batch_size=2, epochs=2, seed=11)
    assert hist.params["path"] == "cpu-small"
    state, step = None, 0
    for epoch in range(2):
        value, ws, bs, state, step = R.train_epoch(
            ws, bs, model.activations, x, y, "mse", 2, True, 11, epoch, 0.01, opt.config(), state, step
        )
        np.testing.assert_allclose(hist.history["loss"][epoch], value, rtol=1e-12)
    for i, (got, want) in enumerate(zip(model.weights + model.biases, ws + bs)):
        rel_close(got, want, f"parameter {i}", rel=1e-11)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_the_estimators_stochastic_solvers_take_it_with_their_l2_term(solver, monkeypatch):
    """fastmlp.sklearn's small fits (an L2 term, scikit-learn's schedules) on both paths: within rounding."""
    from fastmlp import _sklearn_sgd
    from fastmlp.sklearn import MLPRegressor

    made = []
    real = _core.Trainer

    def recording(*args, **kw):
        trainer = real(*args, **kw)
        made.append(trainer.path)
        return trainer

    monkeypatch.setattr(_sklearn_sgd._core, "Trainer", recording)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((60, 5))
    y = x @ rng.standard_normal(5) + 0.1 * rng.standard_normal(60)
    coefs = {}
    for path in (None, "gemm"):
        if path:
            monkeypatch.setenv("FASTMLP_CPU_PATH", path)
        est = MLPRegressor(
            hidden_layer_sizes=(7, 6),
            solver=solver,
            batch_size=2,
            alpha=0.01,
            max_iter=5,
            random_state=0,
            dtype="float64",
            learning_rate_init=0.01,
        )
        with pytest.warns(Warning):  # not converged in 5 epochs
            est.fit(x, y)
        coefs[path] = est.coefs_ + est.intercepts_
    assert made == ["cpu-small", "cpu-gemm"]
    for i, (a, b) in enumerate(zip(coefs[None], coefs["gemm"])):
        rel_close(a, b, f"parameter {i}", rel=1e-10)


@pytest.mark.slow
def test_every_instruction_set_gives_the_gemm_paths_bits():
    """The layer kernels are compiled per instruction set with the GEMM's: on each one this CPU runs,
    the small path and the GEMM path agree bit for bit on a one-layer network."""
    code = """
        import json, os, numpy as np, fastmlp
        out = {}
        for path in ("small", "gemm"):
            if path == "gemm": os.environ["FASTMLP_CPU_PATH"] = "gemm"
            x = np.random.default_rng(0).standard_normal((30, 20)).astype(np.float32)
            y = x @ np.arange(20, dtype=np.float32)[:, None] / 20
            m = fastmlp.MLP([20, 1], seed=0, dtype="float32")
            h = m.fit(x, y, optimizer=fastmlp.optim.Adam(lr=0.01), batch_size=4, epochs=3)
            out[path] = [h.params["path"], m.weights[0].tobytes().hex(), m.biases[0].tobytes().hex()]
        print(json.dumps(out))
    """
    ran = 0
    for isa in ("generic", "avx2", "avx512"):
        proc = run_python(code, env={"FASTMLP_ISA": isa})
        if proc.returncode != 0 and "cannot run" in proc.stderr:
            continue  # this CPU lacks the instruction set
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert out["small"][0] == "cpu-small" and out["gemm"][0] == "cpu-gemm"
        assert out["small"][1:] == out["gemm"][1:], f"{isa}: the paths' bits differ"
        ran += 1
    assert ran >= 1
