"""Inverted dropout (csrc/include/fastmlp/dropout.h, MLP(dropout=...)): the masks against their twin
reference.dropout_keep and their statistics, the C++ trainer against reference.train_epoch(dropout=) on odd
shapes, both dtypes, both derivative kinds (from the output and from z) and with the batch cut in parts,
the same bits on any thread count, the masked gradient by finite differences, predict without dropout, a
fit that overfits less with it, and the model file, ONNX, memory plan and bad input."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import fastmlp
from fastmlp import _core, optim, reference
from helpers import assert_close, assert_weights_bitwise, mpirun, reference_fit

# ---- the masks ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_the_share_of_kept_outputs_is_one_minus_p(p):
    keep = reference.dropout_keep(seed=7, step=3, layer=1, rows=np.arange(2000), width=50, p=p)
    n = keep.size
    sd = np.sqrt(p * (1 - p) / n)
    assert abs(keep.mean() - (1 - p)) <= 5 * sd + 1e-12, (keep.mean(), 1 - p)


def test_masks_differ_between_steps_layers_rows_and_seeds_and_repeat_for_the_same_draw():
    base = dict(seed=1, step=5, layer=0, rows=np.arange(64), width=33, p=0.5)
    keep = reference.dropout_keep(**base)
    np.testing.assert_array_equal(keep, reference.dropout_keep(**base))
    for change in ({"step": 6}, {"layer": 1}, {"seed": 2}, {"rows": np.arange(64) + 1}, {"step": 5 + 2**32}):
        other = reference.dropout_keep(**{**base, **change})
        agree = (other == keep).mean()
        assert 0.4 < agree < 0.6, (change, agree)  # independent masks agree on about half the units
    # A row's mask is its own: the same whatever the batch it is drawn with.
    np.testing.assert_array_equal(reference.dropout_keep(**{**base, "rows": [10, 3]}), keep[[10, 3]])


def test_the_threshold_is_floor_p_2_to_32():
    assert reference.dropout_threshold(0.0) == 0
    assert reference.dropout_threshold(0.25) == 2**30
    assert reference.dropout_threshold(0.5) == 2**31
    assert reference.dropout_threshold(1 - 2**-40) == 2**32 - 1


def test_units_are_independent_of_each_other_within_a_row():
    keep = reference.dropout_keep(seed=3, step=1, layer=0, rows=np.arange(4000), width=8, p=0.5).astype(float)
    corr = np.corrcoef(keep.T)
    off = corr[~np.eye(8, dtype=bool)]
    assert np.abs(off).max() < 0.08, off


# ---- the trainer against the reference ------------------------------------------------------------------
def _reference_fit(model, x, y, opt, batch, epochs, seed, shuffle=True):
    """The reference's weights and biases after the fit MLP.fit runs for `model` (its dropout included)."""
    _, weights, biases = reference_fit(
        model.weights, model.biases, model.activations, x, y, opt, batch, seed, epochs,
        negative_slope=model.negative_slope, dropout=model.dropout, shuffle=shuffle,
    )  # fmt: skip
    return weights, biases


CASES = [
    # sizes, activations (hidden), dropout, batch
    ([3, 8, 5, 2], ["tanh", "relu"], [0.5, 0.2], 7),
    ([1, 1, 1], ["sigmoid"], [0.3], 1),
    ([4, 17, 2], ["gelu"], [0.6], 5),  # GELU's derivative reads z
    ([5, 9, 3, 1], ["silu", "leaky_relu"], [0.0, 0.4], None),  # full batch; the first layer keeps all
    ([2, 64, 64, 1], ["relu", "tanh"], [0.25, 0.25], 256),  # a batch the trainer cuts in two parts
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("opt", [optim.SGD(lr=0.05, momentum=0.9), optim.Adam(lr=0.01)], ids=["sgd", "adam"])
@pytest.mark.parametrize(("sizes", "acts", "rates", "batch"), CASES, ids=[str(c[0]) for c in CASES])
def test_the_trainer_drops_the_references_outputs(dtype, opt, sizes, acts, rates, batch):
    rng = np.random.default_rng(len(sizes) * 10 + sizes[1])
    n = 300 if batch == 256 else 29
    x = rng.standard_normal((n, sizes[0]))
    y = rng.standard_normal((n, sizes[-1]))
    model = fastmlp.MLP(sizes, activation=acts, dropout=rates, dtype=dtype, seed=2)
    start = model.get_weights()
    model.fit(x, y, optimizer=opt, batch_size=batch, epochs=3, seed=11)
    fresh = fastmlp.MLP(sizes, activation=acts, dropout=rates, dtype="float64", seed=2)
    fresh.set_weights(start)
    xs, ys = x.astype(dtype).astype(np.float64), y.astype(dtype).astype(np.float64)
    want_w, want_b = _reference_fit(fresh, xs, ys, opt, batch, 3, 11)
    tol = {} if dtype == "float64" else {"rtol": 2e-4, "atol": 2e-5}
    for layer, (w, b) in enumerate(model.get_weights()):
        assert_close(w, want_w[layer], dtype, f"W{layer}", **(tol or {"rtol": 1e-10, "atol": 1e-12}))
        assert_close(b, want_b[layer], dtype, f"b{layer}", **(tol or {"rtol": 1e-10, "atol": 1e-12}))


def test_without_shuffling_the_rows_are_those_in_place():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((13, 2)), rng.standard_normal((13, 1))
    model = fastmlp.MLP([2, 6, 1], activation="tanh", dropout=0.5, dtype="float64", seed=1)
    start = model.get_weights()
    model.fit(x, y, optimizer=optim.SGD(lr=0.1), batch_size=4, epochs=2, shuffle=False, seed=3)
    fresh = fastmlp.MLP([2, 6, 1], activation="tanh", dropout=0.5, dtype="float64", seed=1)
    fresh.set_weights(start)
    want_w, want_b = _reference_fit(fresh, x, y, optim.SGD(lr=0.1), 4, 2, 3, shuffle=False)
    for layer, (w, b) in enumerate(model.get_weights()):
        assert_close(w, want_w[layer], "float64", f"W{layer}", rtol=1e-10, atol=1e-12)
        assert_close(b, want_b[layer], "float64", f"b{layer}", rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_dropout_fit_has_the_same_bits_on_one_thread_and_two(dtype):
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((500, 6)), rng.standard_normal((500, 2))
    threads = fastmlp.get_num_threads()
    fits = []
    try:
        for t in (1, 2):
            fastmlp.set_num_threads(t)
            model = fastmlp.MLP([6, 96, 96, 2], dropout=[0.3, 0.1], dtype=dtype, seed=4)
            hist = model.fit(x, y, optimizer=optim.Adam(lr=0.01), batch_size=200, epochs=3, seed=9)
            assert hist.params["path"] == "cpu-gemm" and "dropout" in hist.params["path_reason"]
            fits.append(model.get_weights())
    finally:
        fastmlp.set_num_threads(threads)
    assert_weights_bitwise(fits[1], fits[0], "two threads against one")


def test_the_masked_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)
    sizes, acts = [3, 5, 4, 2], ["tanh", "gelu", "identity"]
    weights = [rng.standard_normal((a, b)) * 0.7 for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.standard_normal(b) * 0.1 for b in sizes[1:]]
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    masks = [reference.dropout_keep(4, 1, l, np.arange(6), sizes[l + 1], 0.4) / 0.6 for l in range(2)]
    _, grads = reference.mlp_loss_grad(weights, biases, acts, "mse", x, y, masks=masks)
    h = 1e-6
    for layer in range(3):
        for params, index in ((weights, 0), (biases, 1)):
            p = params[layer]
            numeric = np.zeros_like(p)
            for i in np.ndindex(p.shape):
                keep = p[i]
                p[i] = keep + h
                up = reference.mlp_loss_grad(weights, biases, acts, "mse", x, y, masks=masks)[0]
                p[i] = keep - h
                down = reference.mlp_loss_grad(weights, biases, acts, "mse", x, y, masks=masks)[0]
                p[i] = keep
                numeric[i] = (up - down) / (2 * h)
            np.testing.assert_allclose(grads[layer][index], numeric, rtol=1e-6, atol=1e-9)


# ---- what dropout changes and what it does not ----------------------------------------------------------
def test_predict_evaluate_and_gradients_use_every_output():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((20, 3)), rng.standard_normal((20, 1))
    model = fastmlp.MLP([3, 16, 1], dropout=0.5, seed=1)
    plain = fastmlp.MLP([3, 16, 1], seed=1)
    np.testing.assert_array_equal(model.predict(x), plain.predict(x))
    assert model.evaluate(x, y) == plain.evaluate(x, y)
    (loss, grads), (plain_loss, plain_grads) = model.gradients(x, y), plain.gradients(x, y)
    assert loss == plain_loss
    for (gw, gb), (pw, pb) in zip(grads, plain_grads):
        np.testing.assert_array_equal(gw, pw)
        np.testing.assert_array_equal(gb, pb)


def test_zero_rates_are_the_fit_without_dropout_bit_for_bit():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((50, 2)), rng.standard_normal((50, 1))
    fits = []
    for rates in (None, [0.0, 0.0]):
        model = fastmlp.MLP([2, 8, 8, 1], seed=3, **({} if rates is None else {"dropout": rates}))
        hist = model.fit(x, y, optimizer=optim.Adam(lr=0.01), batch_size=8, epochs=4, seed=2)
        fits.append((model.get_weights(), hist.params["path"]))
    assert fits[0][1] == fits[1][1] == "cpu-small"
    assert_weights_bitwise(fits[1][0], fits[0][0], "dropout=0")


def test_dropout_overfits_a_small_noisy_set_less():
    # The seed lesson's first problem of plain gradient descent: a big network fits the noise of 20
    # points. Dropout keeps its error on the clean curve lower, at the price of the training error.
    rng = np.random.default_rng(1)
    x = rng.uniform(-3, 3, (20, 1))
    y = np.sin(x) + 0.5 * rng.standard_normal(x.shape)
    grid = np.linspace(-3, 3, 300)[:, None]
    for seed in (0, 1):
        runs = {}
        for p in (0.0, 0.3):
            model = fastmlp.MLP([1, 128, 128, 1], dropout=p, seed=seed, dtype="float64")
            model.fit(x, y, optimizer=optim.Adam(lr=0.01), batch_size=20, epochs=1500, seed=seed)
            runs[p] = (model.evaluate(x, y), model.evaluate(grid, np.sin(grid)))
        (train0, clean0), (train1, clean1) = runs[0.0], runs[0.3]
        assert clean1 < 0.8 * clean0, runs
        assert clean1 - train1 < clean0 - train0, runs


def test_validation_loss_is_measured_without_dropout():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((40, 2)), rng.standard_normal((40, 1))
    xv, yv = rng.standard_normal((15, 2)), rng.standard_normal((15, 1))
    model = fastmlp.MLP([2, 16, 1], dropout=0.5, dtype="float64")
    hist = model.fit(x, y, epochs=3, validation_data=(xv, yv), optimizer=optim.SGD(lr=0.05))
    assert hist.history["val_loss"][-1] == pytest.approx(model.evaluate(xv, yv), rel=1e-12)


# ---- the model file, ONNX, summary, memory --------------------------------------------------------------
def test_dropout_is_saved_and_loaded(tmp_path):
    model = fastmlp.MLP([3, 4, 5, 1], dropout=[0.25, 0.0])
    model.save(tmp_path / "m.npz")
    again = fastmlp.load(tmp_path / "m.npz")
    assert again.dropout == [0.25, 0.0]
    assert "dropout=[0.25, 0.0]" in repr(again)
    plain = fastmlp.MLP([3, 4, 1])
    plain.save(tmp_path / "p.npz")
    assert fastmlp.load(tmp_path / "p.npz").dropout == [0.0]


@pytest.mark.parametrize("bad", [[0.5], [1.0, 0.0], ["x", 0.1], [True, 0.1]])
def test_a_model_file_with_bad_dropout_is_refused_by_name(tmp_path, bad):
    path = tmp_path / "m.npz"
    fastmlp.MLP([3, 4, 5, 1]).save(path)
    with zipfile.ZipFile(path) as z:
        entries = {name: z.read(name) for name in z.namelist()}
    meta = json.loads(np.load(path)["meta"].item())
    meta["dropout"] = bad
    crafted = tmp_path / "crafted.npz"
    arrays = {k: np.load(path)[k] for k in np.load(path).files}
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(crafted, **arrays)
    assert entries  # the original was a readable archive
    with pytest.raises(fastmlp.persist.ModelFileError, match="'dropout'"):
        fastmlp.load(crafted)


def test_onnx_export_runs_the_network_without_dropout(tmp_path):
    onnx = pytest.importorskip("onnx", reason="needs onnx (pip install '.[onnx]')")
    ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime (pip install '.[onnx]')")
    model = fastmlp.MLP([3, 8, 2], dropout=0.5, seed=2)
    path = tmp_path / "m.onnx"
    model.to_onnx(path)
    graph = onnx.load(str(path)).graph
    assert not [n for n in graph.node if n.op_type == "Dropout"]
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    got = ort.InferenceSession(str(path)).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, model.predict(x), rtol=1e-5, atol=1e-6)


def test_the_memory_plan_counts_the_dropped_outputs():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((100, 4)).astype(np.float32), rng.standard_normal((100, 1)).astype(np.float32)
    for rates in ([0.0, 0.0], [0.5, 0.0], [0.5, 0.5]):
        model = fastmlp.MLP([4, 96, 80, 1], dropout=rates)
        options = _core.TrainOptions(loss="mse", optimizer=optim.SGD().config(), batch_size=32, dropout=rates)
        planned = _core.trainer_bytes([4, 96, 80, 1], "float32", list(model.activations), 100, options)
        trainer = _core.Trainer(model.weights, model.biases, model.activations, 0.01, [[]] * 3, [[]] * 3, x, y, options)
        assert trainer.allocated_bytes == planned
    base = fastmlp.MLP([4, 96, 80, 1]).summary(32).fit_bytes
    assert fastmlp.MLP([4, 96, 80, 1], dropout=[0.5, 0.5]).summary(32).fit_bytes == base + 4 * 32 * (96 + 80)


# ---- bad input -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("dropout", "error", "match"),
    [
        (1.0, ValueError, r"in \[0, 1\)"),
        (-0.1, ValueError, r"in \[0, 1\)"),
        (float("nan"), ValueError, r"in \[0, 1\)"),
        ([0.1], ValueError, "dropout lists 1 rates but the network has 2 hidden layers"),
        ([0.1, 0.2, 0.3], ValueError, "dropout lists 3 rates"),
        (True, TypeError, "numbers"),
        ("0.5", TypeError, "numbers"),
        ([0.1, None], TypeError, "numbers"),
    ],
)
def test_a_bad_dropout_is_refused_by_name(dropout, error, match):
    with pytest.raises(error, match=match):
        fastmlp.MLP([2, 3, 3, 1], dropout=dropout)


def test_a_network_without_hidden_layers_refuses_a_dropout_rate():
    with pytest.raises(ValueError, match="applies to hidden layers, and the network has none"):
        fastmlp.MLP([3, 1], dropout=0.5)
    assert fastmlp.MLP([3, 1], dropout=0.0).dropout == fastmlp.MLP([3, 1], dropout=[]).dropout == []


@pytest.mark.parametrize("rates", [[1.0], [-0.5], [float("nan")], [float("inf")]])
def test_the_binding_refuses_bad_rates(rates):
    with pytest.raises(ValueError, match=r"dropout rates must be numbers in \[0, 1\)"):
        _core.TrainOptions(loss="mse", optimizer=optim.SGD().config(), dropout=rates)


def test_the_trainer_refuses_rates_that_do_not_fit_the_network():
    model = fastmlp.MLP([2, 3, 1])
    options = _core.TrainOptions(loss="mse", optimizer=optim.SGD().config(), dropout=[0.1, 0.2])
    x, y = np.ones((4, 2), np.float32), np.ones((4, 1), np.float32)
    with pytest.raises(ValueError, match="dropout lists 2 rates but the network has 1 hidden layers"):
        _core.Trainer(model.weights, model.biases, model.activations, 0.01, [[], []], [[], []], x, y, options)


def test_a_sigmoid_output_with_a_classification_loss_is_refused_as_a_double_sigmoid():
    x, y = np.ones((4, 2)), np.array([0.0, 1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="double sigmoid"):
        fastmlp.MLP([2, 3, 1], output_activation="sigmoid").fit(x, y, loss="bce", epochs=1)
    with pytest.raises(ValueError, match="double sigmoid under the softmax"):
        fastmlp.MLP([2, 3, 3], output_activation="sigmoid").fit(x, np.array([0, 1, 2, 1]), loss="cross_entropy")
    fastmlp.MLP([2, 3, 1], output_activation="sigmoid").fit(x, y, loss="mse", epochs=1)  # a bounded regression


# ---- data parallel ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_data_parallel_dropout_fit_draws_the_masks_of_the_one_process_fit(tmp_path):
    pytest.importorskip("mpi4py", reason="needs mpi4py (pip install '.[mpi]')")
    script = """
        import sys
        import numpy as np, fastmlp
        from fastmlp import optim
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
        rng = np.random.default_rng(0)
        x, y = rng.standard_normal((60, 3)), rng.standard_normal((60, 1))
        lo, hi = fastmlp.distributed.block(60, comm.rank, comm.size)
        model = fastmlp.MLP([3, 12, 1], activation="tanh", dropout=0.4, dtype="float64", seed=5)
        model.fit(x[lo:hi], y[lo:hi], optimizer=optim.SGD(lr=0.1), batch_size=10, epochs=3, seed=8, comm=comm)
        if comm.rank == 0:
            np.save(sys.argv[1], np.concatenate([a.ravel() for pair in model.get_weights() for a in pair]))
    """
    out = tmp_path / "dp.npy"
    proc = mpirun(2, script, str(out), timeout=120)
    assert proc.returncode == 0, proc.stderr
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((60, 3)), rng.standard_normal((60, 1))
    model = fastmlp.MLP([3, 12, 1], activation="tanh", dropout=0.4, dtype="float64", seed=5)
    model.fit(x, y, optimizer=optim.SGD(lr=0.1), batch_size=10, epochs=3, seed=8)
    one = np.concatenate([a.ravel() for pair in model.get_weights() for a in pair])
    np.testing.assert_allclose(np.load(out), one, rtol=1e-12, atol=1e-14)
