"""Data-parallel fits over MPI (fastmlp.distributed): `mpiexec -n 2` and `-n 3` fits equal the one-process
fit on the concatenated rows, every rank ends with the same bits, and a failure on one rank stops all
ranks quickly. Each case runs mpiexec in a subprocess with a timeout; the whole file skips where mpi4py
or mpiexec is missing (pip install ".[mpi]")."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import fastmlp
import helpers
from fastmlp import distributed
from helpers import MPIEXEC

pytest.importorskip("mpi4py", reason="data-parallel tests need mpi4py and an MPI (pip install '.[mpi]')")
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec on PATH (pip install '.[mpi]' brings MPICH's)")

TIMEOUT = 120

# Run by every rank: builds the data from a seed, fits its block with comm, and rank 0 compares with a
# one-process fit on all rows. Prints one JSON line from rank 0.
WORKER = r"""
import json, sys, numpy as np, fastmlp
from fastmlp import distributed
case = json.loads(sys.argv[1])
comm = distributed.init()
r, P = comm.Get_rank(), comm.Get_size()
N, dtype = case["n"], case["dtype"]
rng = np.random.default_rng(case.get("data_seed", 0))
X = rng.standard_normal((N, 5)).astype(dtype)
Y = np.sin(X[:, :2] * 1.5).astype(dtype)
sizes = [5, 16, 16, 2]

def optimizer():
    if case["opt"] == "sgd":
        return fastmlp.optim.SGD(lr=0.05, momentum=0.9, nesterov=True)
    return fastmlp.optim.Adam(lr=0.01)

def fit(model, x, y, val, comm=None, callbacks=None):
    kw = dict(optimizer=optimizer(), batch_size=case["batch"], epochs=case.get("epochs", 4), seed=11,
              shuffle=case.get("shuffle", True), drop_last=case.get("drop_last", False),
              clip_grad_norm=case.get("clip"), validation_data=val, callbacks=callbacks)
    if case.get("plateau"):
        kw["schedule"] = fastmlp.schedules.ReduceLROnPlateau(monitor="val_loss", patience=0, factor=0.5)
    if case.get("early"):
        kw["callbacks"] = [fastmlp.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)]
    return model.fit(x, y, comm=comm, **kw)

blocks = [distributed.block(N, q, P) for q in range(P)]
lo, hi = blocks[r]
vrows = [np.arange(a, min(b, a + 7)) for a, b in blocks]  # each rank's first 7 rows validate
model = fastmlp.MLP(sizes, activation="tanh", seed=3, dtype=dtype)
hist = fit(model, X[lo:hi], Y[lo:hi], (X[vrows[r]], Y[vrows[r]]), comm)
weights = comm.gather(b"".join(w.tobytes() + b.tobytes() for w, b in model.get_weights()), root=0)
if r == 0:
    one = fastmlp.MLP(sizes, activation="tanh", seed=3, dtype=dtype)
    v = np.concatenate(vrows)
    ref = fit(one, X, Y, (X[v], Y[v]))
    err = max(float(np.max(np.abs(a.astype(np.float64) - c) / (np.abs(c.astype(np.float64)) + 1e-12)))
              for pair, ref_pair in zip(model.get_weights(), one.get_weights()) for a, c in zip(pair, ref_pair))
    print(json.dumps({"identical": all(w == weights[0] for w in weights), "max_rel_err": err,
                      "loss": hist.history["loss"], "ref_loss": ref.history["loss"],
                      "val": hist.history["val_loss"], "ref_val": ref.history["val_loss"],
                      "lr": hist.history["lr"], "ref_lr": ref.history["lr"],
                      "stopped": hist.stopped_epoch, "ref_stopped": ref.stopped_epoch}))
"""


def mpirun(n, script, *args, timeout=TIMEOUT):
    return helpers.mpirun(n, script, *args, timeout=timeout)


def run_case(ranks, **case):
    proc = mpirun(ranks, WORKER, json.dumps(case))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


CASES = [
    # dtype, optimizer, rows, global batch: shards that do not divide the batch, a last short batch
    pytest.param(dict(dtype="float64", opt="sgd", n=203, batch=32), id="f64-sgd-momentum"),
    pytest.param(dict(dtype="float64", opt="adam", n=203, batch=50), id="f64-adam"),
    pytest.param(dict(dtype="float32", opt="sgd", n=203, batch=32), id="f32-sgd-momentum"),
    pytest.param(dict(dtype="float32", opt="adam", n=150, batch=17), id="f32-adam"),
    # without shuffling, batches of 4 rows leave some ranks with no row in some batches
    pytest.param(dict(dtype="float64", opt="adam", n=61, batch=4, shuffle=False), id="f64-ordered-small-batches"),
    pytest.param(dict(dtype="float64", opt="sgd", n=97, batch=10, drop_last=True, clip=0.5), id="f64-drop-last-clip"),
    pytest.param(dict(dtype="float64", opt="sgd", n=120, batch=None), id="f64-full-batch"),
    pytest.param(dict(dtype="float64", opt="adam", n=203, batch=16, plateau=True, epochs=6), id="f64-plateau"),
    pytest.param(dict(dtype="float64", opt="sgd", n=203, batch=64, early=True, epochs=12), id="f64-early-stop"),
]


@pytest.mark.slow
@pytest.mark.parametrize("ranks", [2, 3])
@pytest.mark.parametrize("case", CASES)
def test_data_parallel_fit_equals_one_process(ranks, case):
    out = run_case(ranks, **case)
    assert out["identical"], "ranks ended with different weights"
    bound = 1e-9 if case["dtype"] == "float64" else 1e-3  # float32: sums in another order, over a few steps
    assert out["max_rel_err"] < bound, out
    np.testing.assert_allclose(out["loss"], out["ref_loss"], rtol=1e-9 if case["dtype"] == "float64" else 1e-5)
    np.testing.assert_allclose(out["val"], out["ref_val"], rtol=1e-9 if case["dtype"] == "float64" else 1e-5)
    assert out["lr"] == out["ref_lr"] and out["stopped"] == out["ref_stopped"], out


@pytest.mark.slow
def test_a_rank_with_no_rows_at_all():
    out = run_case(3, dtype="float64", opt="adam", n=2, batch=1)
    assert out["identical"] and out["max_rel_err"] < 1e-9, out


# ---- failures: every rank stops, quickly ------------------------------------------------------------
FAILING = r"""
import sys, numpy as np, fastmlp
from fastmlp import distributed
what = sys.argv[1]
comm = distributed.init()
r = comm.Get_rank()
rng = np.random.default_rng(r)
x = rng.standard_normal((40, 3)).astype(np.float32)
y = x[:, :1].copy()
epochs, opt = 3, fastmlp.optim.SGD(lr=0.01)
callbacks = None
if what == "nan" and r == 1:
    x[5, 1] = np.nan
if what == "shape" and r == 1:
    x = x[:, :2]
if what == "diverge":
    opt = fastmlp.optim.SGD(lr=1e6)
    y = y * 1e3
if what.startswith("callback") and r == 1:
    def boom(epoch, logs):
        if epoch == 1:
            raise {"callback": RuntimeError("callback failed on purpose"), "callback_ctrl_c": KeyboardInterrupt(),
                   "callback_exit": SystemExit("callback exits on purpose")}[what]
    callbacks = [fastmlp.LambdaCallback(on_epoch_end=boom)]
if what == "args" and r == 1:
    epochs = 4
if what == "early_stopping":  # the same kind of callback, another setting on rank 1
    callbacks = [fastmlp.EarlyStopping(monitor="loss", patience=1, restore_best_weights=r == 1)]
val, seed, loss = (x[:8], y[:8]), 0, "mse"  # validation data and a seed: their checks need every rank
if what == "val_nan" and r == 1:
    val = (np.full((8, 3), np.nan, np.float32), y[:8])
if what == "val_rank0_only" and r != 0:
    val = None
if what == "seed_none" and r == 1:
    seed = None
if what == "val_bad_loss" and r == 1:
    loss = "hinge"
if what == "val_y_length" and r == 1:
    y = y[:-1]
model = fastmlp.MLP([3, 8, 1], seed=0)
if what == "columns":  # MPMD ranks given other target columns of the same width
    model.feature_names, model.target_names = ["a", "b", "c"], ["y" if r != 2 else "z"]
try:
    if what.startswith(("val_", "seed_")):
        model.fit(x, y, optimizer=opt, batch_size=8, epochs=epochs, comm=comm, validation_data=val, seed=seed,
                  loss=loss)
    else:
        model.fit(x, y, optimizer=opt, batch_size=8, epochs=epochs, comm=comm, callbacks=callbacks)
    print(f"rank {r}: returned", flush=True)
except BaseException as e:  # a callback's KeyboardInterrupt or SystemExit too
    print(f"rank {r}: {type(e).__name__}: {e}", flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "what, error",
    [
        ("nan", "contains NaN"),
        ("shape", "shape"),
        ("diverge", "DivergenceError"),
        ("callback", "callback failed on purpose"),
        # Only an Exception used to be shared: a callback's Ctrl-C or sys.exit left the rank settling its
        # weights (a collective of its own) while the others waited in the next epoch's agreement.
        ("callback_ctrl_c", "KeyboardInterrupt"),
        ("callback_exit", "callback exits on purpose"),
        ("args", "disagree"),
        ("early_stopping", "callbacks is [['EarlyStopping'"),
        ("columns", "target_names is ['y'] on rank 0 but ['z'] on rank 2"),
        # Each of these hung: the failing rank waited in the agreement while the others sat in a collective
        # of the argument checks (the validation rows' sum, the seed's broadcast).
        ("val_nan", "X_val contains NaN"),
        ("val_rank0_only", "validation is True on rank 0 but False on rank 1"),
        ("seed_none", "seed is 0 on rank 0 but None on rank 1"),
        ("val_bad_loss", "unknown loss"),
        ("val_y_length", "samples"),
    ],
)
def test_a_failure_on_one_rank_stops_every_rank(what, error):
    proc = mpirun(3, FAILING, what, timeout=60)
    # One report per rank (lines of different ranks may interleave, so they are split at "rank N: ")
    reports = re.split(r"(?=rank \d: )", proc.stdout)
    reports = {int(m.group(1)): m.group(2) for m in (re.match(r"rank (\d): (.*)", t, re.S) for t in reports) if m}
    assert sorted(reports) == [0, 1, 2], proc.stdout + proc.stderr
    assert not any(text.startswith("returned") for text in reports.values()), reports
    assert any(error in text for text in reports.values()), reports


@pytest.mark.slow
def test_ctrl_c_on_one_rank_inside_an_epoch_stops_every_rank():
    # Rank 1 alone gets SIGINT in the middle of a long epoch: it joins that step's reduce with a failed
    # status, so the others stop at the same step instead of waiting for it forever.
    proc = mpirun(
        3,
        """
        import os, signal, threading, numpy as np, fastmlp
        from fastmlp import distributed
        comm = distributed.init()
        r = comm.Get_rank()
        x = np.random.default_rng(r).standard_normal((20_000, 16)).astype(np.float32)
        model = fastmlp.MLP([16, 64, 1], seed=0)
        if r == 1:  # a second in: inside an epoch, or between two (then it waits for the next agreement)
            threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        try:
            model.fit(x, x[:, :1], batch_size=64, epochs=50, comm=comm)
            print(f"rank {r}: returned", flush=True)
        except BaseException as e:
            ok = all(np.isfinite(w).all() for w, _ in model.get_weights())
            print(f"rank {r}: {type(e).__name__} step={model._opt['step']} finite={ok}", flush=True)
    """,
        timeout=90,
    )
    reports = dict(re.findall(r"rank (\d): (\S+ step=\d+ finite=(?:True|False)|returned)", proc.stdout))
    assert sorted(reports) == ["0", "1", "2"], proc.stdout + proc.stderr
    assert reports["1"].startswith("KeyboardInterrupt"), reports
    assert all(reports[r].startswith("RuntimeError") for r in "02"), reports
    steps = {text.split()[1] for text in reports.values()}
    assert len(steps) == 1 and all(text.endswith("finite=True") for text in reports.values()), reports


@pytest.mark.slow
def test_an_uncaught_exception_aborts_the_job():
    proc = mpirun(
        2,
        """
        import time
        from fastmlp import distributed
        comm = distributed.init()
        if comm.Get_rank() == 1:
            raise SystemError("rank 1 fails outside any fit")
        comm.Barrier()            # rank 0 would wait here forever without the abort
        print("rank 0 passed the barrier")
    """,
        timeout=60,
    )
    assert proc.returncode != 0 and "passed the barrier" not in proc.stdout


# ---- helpers ------------------------------------------------------------------------------------------
def test_blocks_cover_the_rows_in_rank_order():
    for n in (0, 1, 2, 7, 100):
        for size in (1, 2, 3, 8):
            blocks = [distributed.block(n, r, size) for r in range(size)]
            assert blocks[0][0] == 0 and blocks[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
            assert max(b - a for a, b in blocks) - min(b - a for a, b in blocks) <= 1
    with pytest.raises(ValueError):
        distributed.block(10, 3, 3)


def test_read_rows_reads_a_block_of_a_npy_file(tmp_path):
    a = np.arange(35, dtype=np.float32).reshape(7, 5)
    np.save(tmp_path / "a.npy", a)
    np.savez(tmp_path / "b.npz", x=a)
    parts = [distributed.read_rows(tmp_path / "a.npy", rank=r, size=3) for r in range(3)]
    np.testing.assert_array_equal(np.concatenate(parts), a)
    np.testing.assert_array_equal(distributed.read_rows(f"{tmp_path / 'b.npz'}:x", rank=1, size=2), a[4:])


@pytest.mark.slow
def test_save_writes_from_rank_0_only(tmp_path):
    proc = mpirun(
        2,
        f"""
        import numpy as np, fastmlp
        from fastmlp import distributed
        comm = distributed.init()
        model = fastmlp.MLP([2, 1], seed=0)
        x = np.ones((4, 2), np.float32)
        model.fit(x, x[:, :1], epochs=1, comm=comm)
        model.save({str(tmp_path)!r} + f"/m{{comm.Get_rank()}}.npz")
    """,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["m0.npz"]


def test_comm_must_be_a_communicator():
    with pytest.raises(TypeError, match="mpi4py communicator"):
        fastmlp.MLP([2, 1]).fit(np.ones((4, 2), np.float32), np.ones(4, np.float32), comm="world")


def _train_one_and_three(tmp_path, args):
    """`fastmlp train *args` in one process (saving one.npz) and under mpiexec -n 3 (many.npz); both
    must succeed. Returns their CompletedProcess."""
    one = subprocess.run(
        [sys.executable, "-m", "fastmlp", *args, "--save", str(tmp_path / "one.npz")],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert one.returncode == 0, one.stderr
    env = dict(os.environ, OMP_NUM_THREADS="1")
    many = subprocess.run(
        [
            MPIEXEC,
            "-n",
            "3",
            sys.executable,
            "-m",
            "mpi4py",
            "-m",
            "fastmlp",
            *args,
            "--save",
            str(tmp_path / "many.npz"),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
    )
    assert many.returncode == 0, many.stdout + many.stderr
    return one, many


@pytest.mark.slow
def test_cli_train_under_mpiexec_equals_one_process(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1001, 4)) * [1, 10, 100, 0.1] + 5
    y = np.sin(x[:, 0]) + x[:, 1] / 10
    data = tmp_path / "d.csv"
    np.savetxt(data, np.column_stack([x, y]), delimiter=",", header="a,b,c,d,y", comments="")
    args = ["train", str(data), "--target", "y", "--epochs", "4", "--validation-split", "0.2", "--seed", "3"]
    one, many = _train_one_and_three(tmp_path, args)
    assert many.stdout.count("saved to") == 1 and "3 processes" in many.stdout, many.stdout  # rank 0 alone
    # The same scores, to the printed digits, and the same model up to float32 rounding.
    scores = [line for line in one.stdout.splitlines() if "R2" in line]
    assert scores and all(line in many.stdout for line in scores), (one.stdout, many.stdout)
    a, b = fastmlp.load(tmp_path / "one.npz"), fastmlp.load(tmp_path / "many.npz")
    for (w1, b1), (w2, b2) in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(w2, w1, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(b2, b1, rtol=1e-4, atol=1e-6)
    for key, value in a.standardization.items():
        np.testing.assert_allclose(b.standardization[key], value, rtol=1e-6)
    assert sorted(os.listdir(tmp_path)) == ["d.csv", "many.npz", "one.npz"]


@pytest.mark.slow
def test_cli_train_on_a_messy_table_under_mpiexec_equals_one_process(tmp_path):
    """Text labels, a categorical column, a name column dropped, missing cells imputed by the median:
    the ranks learn the one process's categories and fill values, and its model."""
    rng = np.random.default_rng(1)
    n = 301
    x = rng.standard_normal((n, 2))
    band = rng.choice(["low", "mid", "high"], n)
    rows = ["name,a,b,band,label"]
    for i in range(n):
        a = "" if i % 13 == 0 else f"{x[i, 0]!r}"
        label = "yes" if x[i, 0] + (band[i] == "high") > 0.3 else "no"
        rows.append(f"item {i},{a},{x[i, 1]!r},{'' if i % 17 == 0 else band[i]},{label}")
    data = tmp_path / "d.csv"
    data.write_text("\n".join(rows) + "\n")
    args = [
        "train",
        str(data),
        "--target",
        "label",
        "--task",
        "classify",
        "--drop",
        "name",
        "--impute",
        "median",
        "--epochs",
        "4",
        "--seed",
        "3",
    ]
    one, many = _train_one_and_three(tmp_path, args)
    a, b = fastmlp.load(tmp_path / "one.npz"), fastmlp.load(tmp_path / "many.npz")
    assert a.preprocessing.to_dict() == b.preprocessing.to_dict()
    assert b.preprocessing.classes == ["no", "yes"] and "band=high" in b.feature_names
    for (w1, b1), (w2, b2) in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(w2, w1, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(b2, b1, rtol=1e-4, atol=1e-6)


def test_each_rank_reads_only_its_block_of_a_csv(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,y\n1,2,3\n\n4,5,6\r\n7,8,9\n10,11,12")  # a blank line, a CRLF, no final newline
    from fastmlp.data import read_table_block

    for size in (1, 2, 3, 5):
        blocks = [read_table_block(path, r, size) for r in range(size)]
        assert all(b[0] == ["a", "b", "y"] and b[2] == 4 for b in blocks)
        np.testing.assert_array_equal(
            np.concatenate([b[1] for b in blocks]), [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]]
        )
        assert [b[3] for b in blocks] == [distributed.block(4, r, size)[0] for r in range(size)]


def test_a_rank_without_rows_of_a_parquet_file_gets_an_empty_block(tmp_path):
    # Three ranks on a two-row Parquet file: the third's block was built with null-typed columns and
    # refused as "holds null values" (CSV and one process worked).
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from fastmlp.data import read_table_block

    pq.write_table(pa.table({"a": [1.0, 2.0], "y": pa.array([3, 4], pa.int32())}), tmp_path / "two.parquet")
    blocks = [read_table_block(tmp_path / "two.parquet", rank, 3) for rank in range(3)]
    assert [b[1].shape for b in blocks] == [(1, 2), (1, 2), (0, 2)]
    assert all(b[0] == ["a", "y"] and b[2] == 2 for b in blocks)
    assert np.array_equal(np.vstack([b[1] for b in blocks]), [[1.0, 3.0], [2.0, 4.0]])


@pytest.mark.slow
@pytest.mark.parametrize("bad", [["--epochs", "-1"], ["--target", "nope"], ["--validation-split", "2"]])
def test_cli_one_rank_with_bad_arguments_ends_every_rank(tmp_path, bad):
    # `fastmlp train` (not under python -m mpi4py) with rank 1 given a bad argument (MPMD launch): rank 1
    # said so with SystemExit and left while the others waited for it in a collective, forever.
    rng = np.random.default_rng(0)
    data = tmp_path / "d.csv"
    np.savetxt(data, rng.standard_normal((4000, 3)), delimiter=",", header="a,b,y", comments="")
    good = [sys.executable, "-m", "fastmlp", "train", str(data), "--target", "y", "--epochs", "200"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    try:
        proc = subprocess.run(
            [MPIEXEC, "-n", "1", *good, ":", "-n", "1", *good, *bad],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the ranks hung (killed after 60 s): {e.stdout!r} {e.stderr!r}")
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "fastmlp" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
