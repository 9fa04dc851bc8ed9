"""The claims of docs/guarantees.md that no other test file checks: each test below is named on that page
beside its claim. The last test checks the page itself: every test it names exists.

Anything that runs a child process (an interpreter or mpiexec) is marked slow and has a timeout."""

from __future__ import annotations

import json
import os
import re
import socket
import zipfile
from pathlib import Path

import numpy as np
import pytest

import fastmlp
from fastmlp import _deadline, schedules
from helpers import MPIEXEC, TOL, assert_weights_bitwise, mpirun, run_python

ROOT = Path(__file__).resolve().parent.parent


def _data(n=50, n_in=1, dtype=np.float32):
    x = np.linspace(-1, 1, n * n_in, dtype=dtype).reshape(n, n_in)
    return x, (2 * x[:, :1]).astype(dtype)


# ---- input checking -------------------------------------------------------------------------------------
def test_float16_data_given_to_predict_is_converted():
    model = fastmlp.MLP([3, 5, 2], seed=0)
    x = np.random.default_rng(0).standard_normal((7, 3)).astype(np.float16)
    got, want = model.predict(x), model.predict(x.astype(np.float32))
    assert got.dtype == np.float32, f"predict of float16 data gave {got.dtype}, not the model's float32"
    assert got.tobytes() == want.tobytes(), "predict of float16 data differs from predict of its float32 copy"


def test_sizes_from_2_to_the_62_are_refused_by_name():
    with pytest.raises(ValueError, match=r"every layer size must be < 2\*\*62"):
        fastmlp.MLP([2**62, 1])
    with pytest.raises(ValueError, match=r"every layer size must be < 2\*\*62"):
        fastmlp.MLP([2, 2**62 + 5, 1])


@pytest.mark.parametrize(
    "make",
    [lambda: schedules.ConstantLR(total_iters=-1), lambda: schedules.LinearLR(total_iters=-3)],
    ids=["ConstantLR", "LinearLR"],
)
def test_a_negative_total_iters_is_refused_by_name(make):
    with pytest.raises(ValueError, match="total_iters"):
        make()


# ---- fits that fail -------------------------------------------------------------------------------------
def _raising_callback(epoch_to_fail, model=None, poison=False):
    def on_epoch_end(epoch, logs):
        if epoch == epoch_to_fail:
            if poison:
                model.weights[0][0, 0] = np.inf
            raise RuntimeError("the callback fails on purpose")

    return fastmlp.LambdaCallback(on_epoch_end=on_epoch_end)


def test_an_exception_in_a_callback_keeps_the_completed_epochs_and_says_so():
    x, y = _data()
    model = fastmlp.MLP([1, 4, 1], seed=0)
    with pytest.raises(RuntimeError, match="on purpose") as info:
        model.fit(x, y, epochs=5, callbacks=[_raising_callback(2)])
    notes = getattr(info.value, "__notes__", [])
    assert notes and "keeps the weights of its last completed step" in notes[0], notes
    ref = fastmlp.MLP([1, 4, 1], seed=0)
    ref.fit(x, y, epochs=3)  # the three epochs that ended before the callback raised
    assert_weights_bitwise(model.get_weights(), ref.get_weights(), "weights after the callback's exception")


def test_an_exception_in_a_callback_that_spoiled_the_weights_restores_finite_ones():
    x, y = _data()
    model = fastmlp.MLP([1, 4, 1], seed=0)
    with pytest.raises(RuntimeError, match="on purpose") as info:
        model.fit(x, y, epochs=5, callbacks=[_raising_callback(2, model, poison=True)])
    notes = getattr(info.value, "__notes__", [])
    assert notes and "last finite epoch were restored" in notes[0], notes
    assert all(np.isfinite(w).all() and np.isfinite(b).all() for w, b in model.get_weights()), (
        "the Inf the callback wrote was kept"
    )
    ref = fastmlp.MLP([1, 4, 1], seed=0)
    ref.fit(x, y, epochs=2)  # the start of the epoch whose callback failed: the end of the second
    assert_weights_bitwise(model.get_weights(), ref.get_weights(), "weights restored after the callback's exception")


class _CountingForward:
    def __init__(self, real):
        self.real, self.calls = real, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.real(*args, **kwargs)


def test_the_final_check_runs_no_forward_pass_unless_the_bound_needs_one(monkeypatch):
    spy = _CountingForward(fastmlp._core.mlp_forward)
    monkeypatch.setattr(fastmlp._core, "mlp_forward", spy)
    x, y = _data(200, 4)
    fastmlp.MLP([4, 16, 1], seed=0).fit(x, y, epochs=3, batch_size=32)
    assert spy.calls == 0, f"a fit whose output bound is small ran {spy.calls} forward pass(es) to check them"
    # max |x| = 2e38 and a column sum of 1: the bound (2e38) passes half of float32's range, though the
    # outputs (x1 / 2 - x2 / 2 = 0) are finite. Only a forward pass can tell; the fit then keeps its weights.
    model = fastmlp.MLP([2, 1], seed=0)
    model.set_weights([(np.array([[0.5], [-0.5]], np.float32), np.zeros(1, np.float32))])
    big = np.full((4, 2), 2e38, np.float32)
    model.fit(big, np.zeros((4, 1), np.float32), optimizer=fastmlp.optim.SGD(lr=1e-3), epochs=1)
    assert spy.calls >= 1, "outputs the bound cannot rule out were not run forward"
    assert model.weights[0].ravel().tolist() == [0.5, -0.5]


# ---- interrupts -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_ctrl_c_during_the_nan_scan_of_a_large_input():
    # The scan holds the GIL, so no Python thread can send the signal: a timer of the kernel does, 5 ms
    # in, with Python's own SIGINT handler. A NaN in the last element means the call does nothing but scan:
    # a scan that never looked at the signals would end in ValueError ("contains NaN").
    proc = run_python(
        """
        import signal, time, numpy as np
        from fastmlp import ops
        x = np.ones(2**27, np.float32)  # 512 MiB
        x[-1] = np.nan
        start = time.perf_counter()
        try:
            ops.activation_forward("relu", x)
        except ValueError:
            pass
        full = time.perf_counter() - start
        signal.signal(signal.SIGALRM, signal.default_int_handler)
        signal.setitimer(signal.ITIMER_REAL, 0.005)
        start = time.perf_counter()
        try:
            ops.activation_forward("relu", x)
            print("NOT INTERRUPTED", full)
        except KeyboardInterrupt:
            print("INTERRUPTED", full, time.perf_counter() - start)
        except ValueError:
            print("SCANNED", full, time.perf_counter() - start)
    """,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    word, full, *took = proc.stdout.split()
    if float(full) < 0.02:
        pytest.skip(f"the whole scan took {float(full) * 1e3:.1f} ms: too short to interrupt inside it")
    assert word == "INTERRUPTED", f"the scan ran to its end ({proc.stdout.strip()}): Ctrl-C was not seen inside it"
    assert float(took[0]) < 0.005 + 0.1, f"KeyboardInterrupt came {float(took[0]):.3f} s after the call began"


# ---- fork and threads -----------------------------------------------------------------------------------
def test_the_thread_limit_is_4_per_core_of_the_affinity_mask():
    cores = len(os.sched_getaffinity(0))
    assert fastmlp._core.max_threads() == 4 * cores, (fastmlp._core.max_threads(), cores)


@pytest.mark.slow
def test_one_core_of_affinity_caps_the_threads_at_4():
    proc = run_python(
        """
        import os
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        import fastmlp
        print(fastmlp._core.max_threads(), fastmlp.get_num_threads())
        try:
            fastmlp.set_num_threads(5)
            print("ACCEPTED")
        except ValueError as e:
            print("REFUSED", e)
    """,
        env={"OMP_NUM_THREADS": "64"},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    limit, threads, word = proc.stdout.split()[:3]
    assert (limit, threads, word) == ("4", "4", "REFUSED"), proc.stdout


@pytest.mark.slow
def test_an_unknown_isa_name_lists_the_valid_ones():
    proc = run_python("import fastmlp", env={"FASTMLP_ISA": "AVX512"}, timeout=60)
    assert proc.returncode != 0
    assert "FASTMLP_ISA='AVX512'" in proc.stderr and "use generic, avx2, avx512 or auto" in proc.stderr, proc.stderr


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            return next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    except OSError:
        return set()


@pytest.mark.slow
@pytest.mark.parametrize("isa, flag", [("avx2", "avx2"), ("avx512", "avx512f")])
def test_an_isa_this_cpu_cannot_run_is_refused(isa, flag):
    flags = _cpu_flags()
    if not flags:
        pytest.skip("no /proc/cpuinfo flags to tell what this CPU runs")
    if flag in flags:
        pytest.skip(f"this CPU runs {isa}")
    proc = run_python("import fastmlp", env={"FASTMLP_ISA": isa}, timeout=60)
    assert proc.returncode != 0
    assert f"FASTMLP_ISA={isa} but this CPU (or this build) cannot run {isa}" in proc.stderr, proc.stderr


# ---- memory ---------------------------------------------------------------------------------------------
def test_fit_refuses_a_batch_that_does_not_fit_before_allocating(monkeypatch):
    model = fastmlp.MLP([64, 2048, 1], seed=0)
    before = model.get_weights()
    x = np.zeros((10_000, 64), np.float32)
    monkeypatch.setattr(fastmlp.memory, "available_memory", lambda: 1 << 20)
    with pytest.raises(MemoryError, match=r"the fit needs [0-9.]+ GiB.*batch_size=10000") as info:
        model.fit(x, np.zeros((10_000, 1), np.float32), batch_size=10_000, epochs=1)
    assert "max_batch_size" in str(info.value), str(info.value)
    assert_weights_bitwise(model.get_weights(), before, "weights after the refused fit")


def test_mlp_refuses_parameters_that_do_not_fit(monkeypatch):
    monkeypatch.setattr(fastmlp.memory, "available_memory", lambda: 1 << 20)
    with pytest.raises(MemoryError, match=r"MLP\(\[4096, 4096, 1\]\) has 16,785,409 parameters: .* GiB"):
        fastmlp.MLP([4096, 4096, 1])


def test_max_batch_size_uses_the_memory_fit_checks_against(monkeypatch):
    model = fastmlp.MLP([16, 256, 1], seed=0)
    budget = 40 << 20
    monkeypatch.setattr(fastmlp.memory, "available_memory", lambda: budget)
    got = fastmlp.max_batch_size(model)
    assert got == fastmlp.max_batch_size(model, memory_budget=budget), got


# ---- files ----------------------------------------------------------------------------------------------
def test_save_syncs_the_file_before_renaming_it_into_place(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else fd))
        return real_fsync(fd)

    def replace(src, dst):
        calls.append(("replace", os.fspath(src), os.fspath(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    path = tmp_path / "m.npz"
    fastmlp.MLP([2, 3, 1], seed=0).save(path)
    monkeypatch.undo()
    kinds = [c[0] for c in calls]
    assert kinds == ["fsync", "replace"], calls
    assert calls[1][2] == str(path) and os.path.basename(calls[1][1]).startswith(".fastmlp-"), calls
    if isinstance(calls[0][1], str):
        assert calls[0][1] == calls[1][1], f"synced {calls[0][1]}, renamed {calls[1][1]}"
    fastmlp.load(path)


def test_save_refuses_a_socket(tmp_path):
    path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.bind(str(path))
        except OSError as e:
            pytest.skip(f"cannot make a socket file here ({e})")
        with pytest.raises(ValueError, match="it is a socket, not a regular file"):
            fastmlp.MLP([2, 1]).save(path)
    assert not path.is_file()


@pytest.mark.parametrize("where", ["W0", "b1"])
def test_save_refuses_nan_or_inf_in_the_weights(tmp_path, where):
    model = fastmlp.MLP([2, 3, 1], seed=0)
    (model.weights if where[0] == "W" else model.biases)[int(where[1])].flat[0] = np.nan
    with pytest.raises(ValueError, match=f"its array '{where}' holds NaN or Inf"):
        model.save(tmp_path / "m.npz")
    assert not os.listdir(tmp_path), os.listdir(tmp_path)


def _truncated(path):
    path.write_bytes(path.read_bytes()[:200])


def _other_version(path):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    meta["version"] += 1
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)


def _wrong_weights(path):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["W1"] = np.ones((7, 7), np.float32)
    np.savez(path, **arrays)


def _flipped_byte(path):
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("W0.npy")
    data[info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size - 2] ^= 0x10
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "spoil", [_truncated, _other_version, _wrong_weights, _flipped_byte], ids=["truncated", "version", "weights", "crc"]
)
def test_load_errors_name_the_file(tmp_path, spoil):
    path = tmp_path / "named-model.npz"
    fastmlp.MLP([2, 3, 1], seed=0).save(path)
    spoil(path)
    with pytest.raises(ValueError) as info:
        fastmlp.load(path)
    assert str(path) in str(info.value), f"the message does not name the file: {info.value}"


# ---- reproducibility ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "sizes", [[1500, 2, 1], [2000, 2, 3], [1200, 3], [8, 16, 1]], ids=lambda s: "-".join(map(str, s))
)
def test_few_rows_predict_within_rounding_of_the_same_rows_among_many(dtype, sizes):
    # Tiny products (one row through a 1500-wide layer) take a path that sums in another order than the
    # packed GEMM of a many-row call: the bits may differ, the values agree within the kernels' tolerance.
    rng = np.random.default_rng(1)
    model = fastmlp.MLP(sizes, activation="tanh", seed=1, dtype=dtype)
    x = rng.standard_normal((3000, sizes[0])).astype(dtype)
    many = model.predict(x).astype(np.float64)
    rtol, atol = TOL[np.dtype(dtype).type]
    for rows in (1, 2, 3, 5, 16):
        few = model.predict(x[:rows]).astype(np.float64)
        err = np.abs(few - many[:rows])
        assert np.all(err <= atol + rtol * np.abs(many[:rows])), (
            f"{rows} row(s) differ from the same rows among 3000 by {err.max():.3e} (rtol {rtol:g}, atol {atol:g})"
        )


# ---- data parallel --------------------------------------------------------------------------------------
def test_the_default_deadlines_are_1800_and_300_seconds(monkeypatch):
    monkeypatch.setattr(_deadline, "_set", {})
    monkeypatch.delenv("FASTMLP_DEADLINE_START", raising=False)
    monkeypatch.delenv("FASTMLP_DEADLINE_STEP", raising=False)
    assert fastmlp.distributed.deadlines() == {"start": 1800.0, "step": 300.0}
    monkeypatch.setenv("FASTMLP_DEADLINE_START", "12")
    assert fastmlp.distributed.deadlines() == {"start": 12.0, "step": 300.0}


AGREEMENT = r"""
import numpy as np, fastmlp
from fastmlp import distributed
comm = distributed.init()
r = comm.Get_rank()
x = np.random.default_rng(r).standard_normal((20, 3)).astype(np.float32)
for what in ("network", "standardization"):
    model = fastmlp.MLP([3, 9 if what == "network" and r == 1 else 8, 1], seed=0)
    if what == "standardization":
        model.set_standardization(np.zeros(3), np.full(3, 1.0 + r))
    try:
        model.fit(x, x[:, :1], epochs=1, batch_size=4, comm=comm)
        print(f"rank {r} {what}: returned", flush=True)
    except ValueError as e:
        print(f"rank {r} {what}: {e}", flush=True)
"""


@pytest.mark.slow
def test_ranks_with_another_network_or_standardization_are_refused_before_the_first_step():
    pytest.importorskip("mpi4py", reason="data-parallel tests need mpi4py and an MPI (pip install '.[mpi]')")
    if MPIEXEC is None:
        pytest.skip("no mpiexec on PATH (pip install '.[mpi]')")
    proc = mpirun(2, AGREEMENT, timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The ranks' lines may interleave: the text is split before each "rank N ".
    parts = (
        re.match(r"rank (\d \w+): (.*)", t, re.DOTALL)
        for t in re.split(r"(?=rank \d (?:network|standardization): )", proc.stdout)
    )
    lines = {m.group(1): m.group(2) for m in parts if m}
    assert sorted(lines) == ["0 network", "0 standardization", "1 network", "1 standardization"], proc.stdout
    for rank in "01":
        assert "sizes is [3, 8, 1] on rank 0 but [3, 9, 1] on rank 1" in lines[f"{rank} network"], lines
        assert (
            "standardization is" in lines[f"{rank} standardization"] and "on rank 1" in lines[f"{rank} standardization"]
        ), lines


# ---- the page -------------------------------------------------------------------------------------------
def _page_references():
    text = (ROOT / "docs" / "guarantees.md").read_text(encoding="utf-8")
    return sorted(set(re.findall(r"tests/(test_\w+\.py)::(\w+)(\[[^\]`]*\])?", text)))


def test_every_test_the_guarantees_page_names_exists():
    refs = _page_references()
    assert len(refs) > 50, f"found only {len(refs)} test references in docs/guarantees.md"
    missing = []
    for file, name, _ in refs:
        path = ROOT / "tests" / file
        if not path.exists() or not re.search(rf"^\s*def {name}\(", path.read_text(encoding="utf-8"), re.MULTILINE):
            missing.append(f"tests/{file}::{name}")
    assert not missing, f"docs/guarantees.md names tests that do not exist: {missing}"
