"""What a hostile user tries: fork after threads, divergence in every corner, Ctrl-C inside long kernels,
strings as flags, two threads on one model (memory limits, crafted model files and odd save targets:
test_hardening_files.py). Anything that could hang or kill the interpreter runs in a subprocess with a
timeout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import fastmlp
from fastmlp.optim import SGD
from helpers import UNDER_ASAN, run_python


def same_weights(model, initial):
    return all(
        a.tobytes() == c.tobytes() and b.tobytes() == d.tobytes()
        for (a, b), (c, d) in zip(initial, model.get_weights())
    )


def finite_outputs_or_initial(model, x, initial):
    """The promise fit keeps: finite outputs on the training data, or exactly the weights it began with."""
    if (
        all(np.isfinite(w).all() and np.isfinite(b).all() for w, b in model.get_weights())
        and np.isfinite(model.predict(x)).all()
    ):
        return "finite"
    return "initial" if same_weights(model, initial) else "broken"


# ---- 1. fork ----------------------------------------------------------------------------------------
FORK_CHILD = """
import multiprocessing as mp, numpy as np, fastmlp
a = np.ones((600, 600), np.float32)
rng = np.random.default_rng(0)
x = rng.standard_normal((2048, 64)).astype(np.float32); y = x[:, :1] * 2
model = fastmlp.MLP([64, 128, 1], seed=0)
{warm}
def work(i):
    m = fastmlp.MLP([64, 128, 1], seed=0)
    m.fit(x, y, batch_size=256, epochs=1)
    return float(fastmlp.ops.matmul(a, a)[0, 0]) + float(m.predict(x[:300]).sum() * 0) + i
ctx = mp.get_context("fork")
p = ctx.Process(target=fastmlp.ops.matmul, args=(a, a))
p.start(); p.join(30)
assert not p.is_alive(), "Process after fork hung"
assert p.exitcode == 0, p.exitcode
with ctx.Pool(2) as pool:
    out = pool.map(work, range(4), chunksize=1)
assert out == [600.0, 601.0, 602.0, 603.0], out
print("OK", fastmlp.get_num_threads())
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "warm",
    ["fastmlp.ops.matmul(a, a)", "model.fit(x, y, batch_size=256, epochs=1)", "model.predict(np.repeat(x, 8, axis=0))"],
    ids=["matmul", "fit", "predict"],
)
def test_fork_after_threads_does_not_hang(warm):
    proc = run_python(FORK_CHILD.format(warm=warm), timeout=120)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.slow
def test_forked_child_runs_on_one_thread_and_says_why():
    proc = run_python(
        """
        import os, numpy as np, fastmlp
        a = np.ones((600, 600), np.float32); fastmlp.ops.matmul(a, a)
        pid = os.fork()
        if pid == 0:
            ok = fastmlp.get_num_threads() == 1 and fastmlp._core.forked_after_threads()
            fastmlp.set_num_threads(1)  # allowed
            try:
                fastmlp.set_num_threads(2)
                ok = False
            except RuntimeError as e:
                ok = ok and "fork" in str(e) and "spawn" in str(e)
            ok = ok and fastmlp.ops.matmul(a, a)[0, 0] == 600.0
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        print("child", os.waitstatus_to_exitcode(status), "parent threads", fastmlp.get_num_threads())
    """,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "child 0" in proc.stdout, proc.stdout + proc.stderr


# ---- 2. divergence --------------------------------------------------------------------------------------
def test_weights_whose_outputs_overflow_are_not_returned_silently():
    x = np.array([[1e18]], np.float32)
    y = np.array([[0.0]], np.float32)
    model = fastmlp.MLP([1, 1])
    initial = model.get_weights()
    with pytest.raises(fastmlp.DivergenceError) as info:
        model.fit(x, y, optimizer=SGD(lr=1.0), batch_size=1, epochs=1)
    assert "before this fit were restored" in str(info.value)
    assert same_weights(model, initial)
    model = fastmlp.MLP([1, 1])
    hist = model.fit(x, y, optimizer=SGD(lr=1.0), batch_size=1, epochs=1, on_nonfinite="stop")
    assert hist.stopped_reason and "non-finite outputs" in hist.stopped_reason
    assert same_weights(model, initial)


def test_validation_overflow_is_a_divergence_with_the_weights_restored():
    x = np.array([[1e18]], np.float32)
    y = np.array([[0.0]], np.float32)
    model = fastmlp.MLP([1, 1])
    initial = model.get_weights()
    with pytest.raises(fastmlp.DivergenceError, match="validation"):
        model.fit(x, y, optimizer=SGD(lr=1.0), batch_size=1, epochs=3, validation_data=(x, y))
    assert same_weights(model, initial)


@pytest.mark.slow
def test_restored_weights_give_finite_outputs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1024, 1024)).astype(np.float32)
    y = rng.standard_normal((1024, 1)).astype(np.float32)
    model = fastmlp.MLP([1024, 1024, 1])
    initial = model.get_weights()
    with pytest.raises(fastmlp.DivergenceError) as info:
        model.fit(x, y, batch_size=256, epochs=100)
    if "before this fit" in str(info.value):
        assert same_weights(model, initial), str(info.value)
    else:
        assert finite_outputs_or_initial(model, x, initial) == "finite", str(info.value)


def test_nan_written_by_a_callback_is_not_kept():
    x = np.linspace(-1, 1, 50, dtype=np.float32)[:, None]
    y = 2 * x
    model = fastmlp.MLP([1, 4, 1], seed=0)
    initial = model.get_weights()

    def poison(epoch, logs):
        if epoch == 2:
            model.weights[0][0, 0] = np.nan

    with pytest.raises(fastmlp.DivergenceError, match="callback") as info:
        model.fit(x, y, epochs=5, callbacks=[fastmlp.LambdaCallback(on_epoch_end=poison)])
    assert "learning rate" not in str(info.value)
    assert finite_outputs_or_initial(model, x, initial) == "finite"
    ref = fastmlp.MLP([1, 4, 1], seed=0)
    ref.fit(x, y, epochs=2)  # the last finite epoch: the second
    assert all(a.tobytes() == c.tobytes() for (a, _), (c, _) in zip(model.get_weights(), ref.get_weights()))


def test_nan_left_by_a_callback_after_the_last_epoch_is_not_kept():
    x = np.linspace(-1, 1, 50, dtype=np.float32)[:, None]
    model = fastmlp.MLP([1, 4, 1], seed=0)
    initial = model.get_weights()

    def poison(epoch, logs):
        if epoch == 1:
            model.weights[1][0, 0] = np.inf

    with pytest.raises(fastmlp.DivergenceError):
        model.fit(x, 2 * x, epochs=2, callbacks=[fastmlp.LambdaCallback(on_epoch_end=poison)])
    assert finite_outputs_or_initial(model, x, initial) == "finite"


@pytest.mark.parametrize(
    "optimizer", [fastmlp.optim.RMSprop(lr=0.01), fastmlp.optim.Adagrad(lr=0.01)], ids=["rmsprop", "adagrad"]
)
def test_non_finite_optimizer_state_is_divergence(optimizer, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 2)).astype(np.float32)
    y = np.full((64, 1), 1e20, np.float32)  # squared gradients overflow float32 in the state
    model = fastmlp.MLP([2, 1], seed=0)
    with pytest.raises(fastmlp.DivergenceError, match="optimizer's state"):
        model.fit(x, y, optimizer=optimizer, epochs=3)
    assert all(np.isfinite(a).all() for bufs in model._opt["w"] + model._opt["b"] for a in bufs)
    model.save(tmp_path / "m.npz")
    fastmlp.load(tmp_path / "m.npz")  # what save writes, load reads


def test_save_refuses_what_load_would_refuse(tmp_path):
    model = fastmlp.MLP([2, 3, 1], seed=0)
    model.fit(np.ones((8, 2), np.float32), np.ones((8, 1), np.float32), optimizer=fastmlp.optim.Adam(), epochs=1)
    model._opt["w"][1][1][0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        model.save(tmp_path / "m.npz")
    assert not os.listdir(tmp_path)


CTRL_C_FIT = """
import json, os, sys, time, signal, threading, numpy as np, fastmlp
rng = np.random.default_rng(0)
x = rng.standard_normal((400_000, 32)).astype(np.float32); y = x[:, :1] * x[:, 1:2]
model = fastmlp.MLP([32, 256, 256, 1], seed=0)
initial = model.get_weights()
lr = float(sys.argv[1])
opt = fastmlp.optim.SGD(lr=lr, momentum=0.9)
threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
start = time.perf_counter()
try:
    model.fit(x, y, optimizer=opt, batch_size=64, epochs=100)
    print("NOT INTERRUPTED")
except KeyboardInterrupt as e:
    took = time.perf_counter() - start - 1.0
    finite = all(np.isfinite(w).all() and np.isfinite(b).all() for w, b in model.get_weights())
    same = all(a.tobytes() == c.tobytes() for (a, _), (c, _) in zip(initial, model.get_weights()))
    out_ok = finite and bool(np.isfinite(model.predict(x[:10000])).all())
    print(json.dumps({"after_signal_s": took, "finite": bool(out_ok), "initial": same, "step": model._opt["step"],
                      "notes": getattr(e, "__notes__", [])}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("lr", [1e-4, 1e3], ids=["stable", "diverging"])
def test_ctrl_c_inside_an_epoch_stops_within_a_second(lr):
    proc = subprocess.run([sys.executable, "-c", CTRL_C_FIT, str(lr)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip().splitlines()[-1]
    assert line != "NOT INTERRUPTED"
    out = json.loads(line)
    assert out["after_signal_s"] < 1.0, out
    assert out["finite"] or out["initial"], out
    if lr < 1:
        assert out["finite"] and not out["initial"] and out["step"] > 0, out
    if sys.version_info >= (3, 11):
        assert out["notes"] and "fastmlp:" in out["notes"][0], out


@pytest.mark.slow
@pytest.mark.parametrize(
    "call",
    [
        "fastmlp.ops.matmul(a, a)",
        "model.predict(x)",
        "wide.gradients(g, g[:, :1])",  # 256-row chunks in two parts side by side: ~6 s on 2 cores
    ],
    ids=["matmul", "predict", "gradients"],
)
def test_ctrl_c_inside_a_long_kernel_call(call):
    proc = run_python(
        f"""
        import os, time, signal, threading, numpy as np, fastmlp
        a = np.ones((6144, 6144), np.float32) if "matmul" in {call!r} else None
        model, x = fastmlp.MLP([2048, 2048, 2048, 1]), np.ones((60_000, 2048), np.float32)  # ~8 s of predict
        wide = fastmlp.MLP([256, 1536, 1])
        g = np.ones((300_000, 256), np.float32) if "gradients" in {call!r} else None
        threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        start = time.perf_counter()
        try:
            {call}
            print("NOT INTERRUPTED", time.perf_counter() - start)
        except KeyboardInterrupt:
            print("INTERRUPTED", time.perf_counter() - start - 1.0)
    """,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    word, seconds = proc.stdout.split()
    assert word == "INTERRUPTED" and float(seconds) < 1.0, proc.stdout


# ---- 4. threads --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_thread_count_is_capped(num_threads):
    limit = fastmlp._core.max_threads()
    assert limit >= 4
    for bad in (10**9, 2**31, limit + 1):
        with pytest.raises(ValueError, match="set_num_threads"):
            num_threads(bad)
    num_threads(limit)
    assert fastmlp.get_num_threads() == limit
    proc = run_python(
        """
        import numpy as np, fastmlp
        a = np.ones((2048, 2048), np.float32)
        print(fastmlp.get_num_threads(), fastmlp._core.max_threads(), fastmlp.ops.matmul(a, a)[0, 0])
    """,
        env={"OMP_NUM_THREADS": "100000"},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    threads, cap, value = proc.stdout.split()
    assert int(threads) == int(cap) and float(value) == 2048.0


@pytest.mark.slow
@pytest.mark.parametrize("isa", ["AVX2", "avx", "sse9"])
def test_unknown_isa_names_are_refused(isa):
    proc = run_python("import fastmlp", env={"FASTMLP_ISA": isa}, timeout=60)
    assert proc.returncode != 0
    assert "FASTMLP_ISA" in proc.stderr and isa in proc.stderr and "Traceback" in proc.stderr


# ---- 8. flags and arguments --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: fastmlp.ops.matmul(np.eye(2), np.eye(2), trans_a="False"), TypeError, "trans_a"),
        (lambda: fastmlp.ops.matmul(np.eye(2), np.eye(2), trans_b=1), TypeError, "trans_b"),
        (lambda: fastmlp.ops.init("he_normal", 3, 3, truncated="no"), TypeError, "truncated"),
        (lambda: fastmlp.EarlyStopping(restore_best_weights="no"), TypeError, "restore_best_weights"),
        (lambda: fastmlp.MLP([True, 1]), TypeError, "sizes"),
        (lambda: fastmlp.MLP([2**63, 1]), ValueError, "sizes|size"),
        (lambda: fastmlp.ops.permutation(5, 0, -1), ValueError, "epoch"),
        (lambda: fastmlp.set_num_threads(2**31), ValueError, "set_num_threads"),
        (lambda: fastmlp.schedules.ReduceLROnPlateau(patience=-1), ValueError, "patience"),
        (lambda: fastmlp.schedules.ReduceLROnPlateau(cooldown=-2), ValueError, "cooldown"),
        (lambda: fastmlp.schedules.ReduceLROnPlateau(eps=float("nan")), ValueError, "eps"),
        (lambda: fastmlp.schedules.ConstantLR(total_iters=2.9), ValueError, "total_iters"),
        (lambda: fastmlp.schedules.MultiStepLR([2.5]), ValueError, "milestones"),
        (lambda: fastmlp.ops.init("constant", 2, 2, value=1e300), ValueError, "range of float32"),
        (lambda: fastmlp.MLP([2, 2], init="constant", init_kwargs={"value": 1e300}), ValueError, "float32"),
        (lambda: fastmlp.ops.init("uniform", 2.5, 2), TypeError, "fan_in"),
    ],
)
def test_arguments_are_checked_by_name(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_sklearn_flags_are_booleans():
    pytest.importorskip("sklearn")
    from fastmlp.sklearn import MLPRegressor

    x = np.ones((20, 2), np.float32)
    y = np.ones(20, np.float32)
    with pytest.raises(TypeError, match="early_stopping"):
        MLPRegressor(early_stopping="no").fit(x, y)


def test_truncated_init_kwargs_reach_only_the_weights():
    model = fastmlp.MLP([8, 16, 1], init="he_normal", init_kwargs={"truncated": True}, seed=3)
    w = model.weights[0]
    assert np.abs(w).max() <= 2 * np.sqrt(2 / 8) / 0.87962566103423978 + 1e-6  # Keras' truncated normal
    assert not model.biases[0].any()


def test_empty_validation_data_is_refused_before_training():
    x = np.ones((10, 2), np.float32)
    y = np.ones((10, 1), np.float32)
    model = fastmlp.MLP([2, 1], seed=0)
    before = model.get_weights()
    with pytest.raises(ValueError, match="validation_data is empty"):
        model.fit(x, y, epochs=3, validation_data=(x[:0], y[:0]))
    assert all(a.tobytes() == c.tobytes() for (a, _), (c, _) in zip(before, model.get_weights()))


# ---- 9. one model, two threads -----------------------------------------------------------------------
@pytest.mark.slow
def test_a_model_fitted_from_two_threads_refuses_the_second(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20000, 32)).astype(np.float32)
    y = x[:, :1].copy()
    model = fastmlp.MLP([32, 256, 1], seed=0)
    errors, started = [], threading.Event()

    def first():
        started.set()
        model.fit(x, y, batch_size=32, epochs=60)  # a second or more

    t = threading.Thread(target=first)
    t.start()
    started.wait()
    time.sleep(0.2)
    for call in (
        lambda: model.fit(x, y, epochs=1),
        lambda: model.set_weights(model.get_weights()),
        lambda: model.save(tmp_path / "never.npz"),
        lambda: model.set_standardization(0.0, 2.0),
    ):
        try:
            call()
        except RuntimeError as e:
            errors.append(str(e))
    t.join(120)
    assert len(errors) == 4 and all("another thread" in e for e in errors), errors
    assert model.standardization is None
    ref = fastmlp.MLP([32, 256, 1], seed=0)
    ref.fit(x, y, batch_size=32, epochs=60)
    assert not (tmp_path / "never.npz").exists()
    assert all(a.tobytes() == c.tobytes() for (a, _), (c, _) in zip(model.get_weights(), ref.get_weights()))


def test_a_callback_may_save_during_fit(tmp_path):
    x = np.ones((16, 2), np.float32)
    model = fastmlp.MLP([2, 1], seed=0)
    cb = fastmlp.LambdaCallback(on_epoch_end=lambda epoch, logs: model.save(tmp_path / f"e{epoch}.npz"))
    model.fit(x, x[:, :1], epochs=2, callbacks=[cb])
    assert (tmp_path / "e1.npz").exists()


def test_models_are_still_picklable_and_copyable():
    import copy
    import pickle

    model = fastmlp.MLP([2, 3, 1], seed=0)
    for other in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        other.fit(np.ones((4, 2), np.float32), np.ones((4, 1), np.float32), epochs=1)
        assert other._lock is not model._lock


# ---- the guard's own kernels -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sizes", [[1, 1], [3, 17, 1], [5, 1, 4], [17, 64, 3]])
@pytest.mark.parametrize("act", ["identity", "step", "sigmoid", "tanh", "relu", "leaky_relu"])
def test_output_bound_matches_the_reference_and_bounds_the_outputs(dtype, sizes, act):
    from fastmlp import reference

    rng = np.random.default_rng(len(sizes) * 7 + sizes[1])
    model = fastmlp.MLP(sizes, activation=act, output_activation=act, seed=3, dtype=dtype, negative_slope=2.5)
    model.biases[-1][...] = rng.standard_normal(sizes[-1])
    x = rng.standard_normal((129, sizes[0])).astype(dtype) * 3
    x_max = float(np.abs(x).max())
    got = fastmlp._core.output_bound(model.weights, model.biases, model.activations, model.negative_slope, x_max)
    want = reference.output_bound(model.weights, model.biases, model.activations, x_max, model.negative_slope)
    assert got == pytest.approx(want, rel=1e-12), (got, want)
    # The bound holds for every layer's output (and so for the network's).
    a = x.astype(np.float64)
    for w, b, layer_act in zip(model.weights, model.biases, model.activations):
        a = reference.dense_forward(a, w, b, layer_act, model.negative_slope)
    assert np.abs(a).max() <= got * (1 + 1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 17, 4099])
def test_all_finite_names_the_first_array_with_nan_or_inf(dtype, n):
    rng = np.random.default_rng(n)
    arrays = [rng.standard_normal(n).astype(dtype) for _ in range(3)]
    assert fastmlp._core.all_finite(arrays) == -1
    if n:
        for bad in (np.nan, np.inf, -np.inf):
            spoiled = [a.copy() for a in arrays]
            spoiled[1][n - 1] = bad
            spoiled[2][0] = bad
            assert fastmlp._core.all_finite(spoiled) == 1
        big = [np.full(n, np.finfo(dtype).max, dtype)]  # the largest finite value is finite
        assert fastmlp._core.all_finite(big) == -1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite_sees_every_position_and_every_nan(dtype):
    # The check is vectorized (its loop runs in blocks): a bad value at any position, in the tail past
    # the last full vector included, and any NaN bit pattern (quiet, signalling, negative) is seen;
    # zeros of both signs, denormals and the extremes are finite.
    info = np.finfo(dtype)
    finite = np.array([0.0, -0.0, info.tiny, info.tiny / 4, -info.tiny / 4, info.max, -info.max, 1.0], dtype)
    assert fastmlp._core.all_finite([np.resize(finite, 37)]) == -1
    bits = np.uint32 if dtype == np.float32 else np.uint64
    nans = [
        np.array([np.nan], dtype),
        -np.array([np.nan], dtype),
        np.array([0x7F800001 if dtype == np.float32 else 0x7FF0000000000001], bits).view(dtype),
    ]
    for n in (1, 7, 8, 9, 31, 33, 64, 67):
        for i in range(n):
            for bad in nans + [np.array([np.inf], dtype), np.array([-np.inf], dtype)]:
                a = np.resize(finite, n)
                a[i] = bad[0]
                assert fastmlp._core.all_finite([a]) == 0, (n, i, bad)


SKLEARN_CTRL_C = """
import json, os, re, signal, threading, time, numpy as np
from fastmlp.sklearn import MLPRegressor
rng = np.random.default_rng(0)
x = rng.standard_normal((200_000, 16)); y = x[:, 0] * x[:, 1]
est = MLPRegressor(hidden_layer_sizes=(64, 64), solver="sgd", batch_size=64, learning_rate_init=1e-3,
                   max_iter=1, warm_start=True, random_state=0)
est.fit(x[:256], y[:256])  # the weights and optimizer state the long fit starts from
before = [c.copy() for c in est.coefs_]
est.set_params(max_iter=10_000, tol=0.0, n_iter_no_change=10**9)
threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
start = time.perf_counter()
try:
    est.fit(x, y)
    print("NOT INTERRUPTED")
except KeyboardInterrupt as e:
    notes = getattr(e, "__notes__", [])
    kept = re.search(r"optimizer step (\\d+)", notes[0]) if notes else None
    print(json.dumps({"after_signal_s": time.perf_counter() - start - 1.0, "notes": notes,
                      "finite": all(np.isfinite(a).all() for a in est.coefs_ + est.intercepts_)
                                and bool(np.isfinite(est.predict(x[:1000])).all()),
                      "moved": any(not np.array_equal(a, b) for a, b in zip(est.coefs_, before)),
                      "step": est._state["step"], "note_step": int(kept.group(1)) if kept else None}))
"""


@pytest.mark.skipif(sys.version_info < (3, 11), reason="the weights' note needs exception notes (3.11)")
def test_ctrl_c_inside_an_estimators_epoch_keeps_a_completed_step():
    """The estimators' stochastic solvers run MLP.fit's epoch loop: a Ctrl-C inside an epoch stops
    within a second and leaves the weights of the last completed step (finite, past where the fit
    started) with the optimizer's step count of that step, and a note saying so."""
    pytest.importorskip("sklearn", reason="scikit-learn is not installed (extra 'sklearn')")
    proc = run_python(SKLEARN_CTRL_C, timeout=120)
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip().splitlines()[-1]
    assert line != "NOT INTERRUPTED"
    out = json.loads(line)
    assert out["after_signal_s"] < 1.0, out
    assert out["notes"] and "last completed step" in out["notes"][0], out
    assert out["finite"] and out["moved"], out
    assert out["step"] == out["note_step"] > 4, out  # the warm start's 4 steps, then the interrupted fit's


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_trainer_keeps_the_epochs_snapshot_and_names_what_went_non_finite(dtype):
    # run_epoch(snapshot=True) keeps the weights, biases and optimizer state it starts from;
    # restore_snapshot puts them back; the third value says which array is non-finite afterwards.
    rng = np.random.default_rng(0)
    model = fastmlp.MLP([3, 5, 2], dtype=dtype, seed=0)
    opt = fastmlp.optim.Adam(lr=0.01)
    state = model._optimizer_state_for(opt)
    x, y = rng.standard_normal((20, 3)).astype(dtype), rng.standard_normal((20, 2)).astype(dtype)
    options = fastmlp._core.TrainOptions(loss="mse", optimizer=opt.config(), batch_size=8, seed=0)
    trainer = fastmlp._core.Trainer(
        model.weights, model.biases, model.activations, model.negative_slope, state["w"], state["b"], x, y, options
    )
    with pytest.raises(ValueError, match="no snapshot"):
        trainer.restore_snapshot()
    rates = np.full(trainer.steps_per_epoch, 0.01)
    arrays = model.weights + model.biases + [a for bufs in state["w"] + state["b"] for a in bufs]
    _, step, bad = trainer.run_epoch(0, rates, 0, False)
    assert bad == -1 and step == trainer.steps_per_epoch
    kept = [a.copy() for a in arrays]
    _, step, bad = trainer.run_epoch(1, rates, step, True)
    assert bad == -1 and not all(np.array_equal(a, k) for a, k in zip(arrays, kept))
    trainer.restore_snapshot()
    assert all(np.array_equal(a, k) for a, k in zip(arrays, kept)), "restore_snapshot gave back other values"
    # A NaN anywhere spreads through the epoch's steps; the report names the first array (in the
    # order weights, biases, optimizer state) that holds one afterwards.
    for array in (model.weights[1], model.biases[1], state["w"][0][1]):
        array.flat[0] = np.nan
        bad = trainer.run_epoch(2, rates, step, False)[2]
        first = next(i for i, a in enumerate(arrays) if not np.isfinite(a).all())
        assert bad == min(first, 2 * model.n_layers), (bad, first)
        trainer.restore_snapshot()
        assert all(np.isfinite(a).all() for a in arrays)


def test_predict_matches_named_columns_by_name():
    # A model that knows its feature names reads a DataFrame's or an Arrow table's columns by name:
    # reordered columns give the same predictions, extra ones are left out, a missing one is refused.
    # A plain array is taken in order, as before.
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(3)
    model = fastmlp.MLP([3, 4, 1], seed=0, dtype="float64")
    model.feature_names = ["a", "b", "c"]
    x = rng.standard_normal((6, 3))
    want = model.predict(x)
    df = pd.DataFrame(x, columns=["a", "b", "c"])
    np.testing.assert_array_equal(model.predict(df), want)
    np.testing.assert_array_equal(model.predict(df[["c", "a", "b"]]), want)
    np.testing.assert_array_equal(model.predict(df.assign(name=["x"] * 6, extra=1.0)), want)
    with pytest.raises(ValueError, match=r"lacks the model's feature column\(s\) \['b'\]"):
        model.predict(df[["a", "c"]].assign(d=0.0))
    with pytest.raises(ValueError, match="more than once"):
        model.predict(pd.concat([df, df[["a"]]], axis=1))
    np.testing.assert_array_equal(model.predict(df[["c", "a", "b"]].to_numpy()), model.predict(x[:, [2, 0, 1]]))
    pa = pytest.importorskip("pyarrow")
    table = pa.table({"c": x[:, 2], "b": x[:, 1], "a": x[:, 0], "note": ["n"] * 6})
    np.testing.assert_array_equal(model.predict(table), want)
    assert model.evaluate(df[["b", "c", "a"]], np.zeros((6, 1))) == model.evaluate(x, np.zeros((6, 1)))


@pytest.mark.slow
@pytest.mark.skipif(
    UNDER_ASAN, reason="AddressSanitizer (tools/sanitize.sh) maps terabytes of shadow memory: no RLIMIT_AS can hold it"
)
def test_max_batch_size_heeds_the_address_space_limit():
    # Under `ulimit -v 900000` max_batch_size returned the whole 200,000-row set, and fit(batch_size="max")
    # then raised MemoryError recommending max_batch_size.
    code = """
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (1400 * 2**20, resource.RLIM_INFINITY))
        import numpy as np, fastmlp
        from fastmlp import memory
        left = memory.address_space_available()
        assert left is not None and memory.available_memory() <= left, (left, memory.available_memory())
        model = fastmlp.MLP([64, 2048, 2048, 1], seed=0)
        n = 200_000
        best = fastmlp.max_batch_size(model, n_samples=n)
        print("BEST", best)
        x = np.zeros((best, 64), np.float32)
        model.fit(x, np.zeros((best, 1), np.float32), batch_size="max", epochs=1)
        print("FIT OK")
    """
    proc = run_python(code, timeout=300)
    assert proc.returncode == 0, proc.stderr
    best = int(proc.stdout.split()[1])
    assert 0 < best < 200_000 and "FIT OK" in proc.stdout, proc.stdout
