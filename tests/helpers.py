"""Helpers shared by the test files, imported as `from helpers import ...` (pyproject.toml puts tests/ on
pytest's pythonpath): comparisons with a useful failure message, parametrize ids, the small regression
that the optimizer and schedule tests fit, and running Python or the `fastmlp` command in a child.

conftest.py turns the comparisons into fixtures (`tol`, `assert_close`, `assert_bitwise`) as well.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastmlp

# (rtol, atol) for a kernel result in the given dtype against the float64 reference computed from the
# same (already rounded) inputs. float32 kernels compute in float32: a few ulp of 2^-24 ~ 6e-8.
TOL = {
    np.float32: (1e-5, 1e-6),
    np.float64: (1e-12, 1e-14),
}


def dtype_key(dtype):
    """np.float32 for np.float32, np.dtype("float32") or "float32" alike: the key of TOL."""
    return np.dtype(dtype).type


# ---- comparisons -------------------------------------------------------------------------------------
def close_report(got, want, dtype, what, rtol, atol, check_dtype=True):
    """None when got matches want within |got - want| <= atol + rtol |want| (elementwise; atol may be an
    array), else a message with the max abs/rel error, where it is and the shape."""
    got_arr = np.asarray(got)
    want_arr = np.asarray(want, dtype=np.float64)
    key = dtype_key(dtype)
    if check_dtype and isinstance(got, np.ndarray) and got_arr.dtype.type is not key:
        return f"{what}: result dtype {got_arr.dtype}, expected {np.dtype(key).name}"
    if got_arr.shape != want_arr.shape:
        return f"{what}: shape {got_arr.shape}, expected {want_arr.shape}"
    g = got_arr.astype(np.float64)
    if not np.all(np.isfinite(g) == np.isfinite(want_arr)):
        bad = np.flatnonzero(np.isfinite(g) != np.isfinite(want_arr))
        return (
            f"{what}: non-finite mismatch at {bad.size} element(s) of shape {g.shape}, first flat "
            f"index {bad[0]}: got {g.ravel()[bad[0]]!r}, want {want_arr.ravel()[bad[0]]!r}"
        )
    if g.size == 0:
        return None
    finite = np.isfinite(want_arr)
    if not np.array_equal(g[~finite], want_arr[~finite]):
        return f"{what}: infinities differ (got {g[~finite]}, want {want_arr[~finite]})"
    err = np.where(finite, np.abs(g - want_arr), 0.0)
    allowed = np.broadcast_to(np.asarray(atol, dtype=np.float64), err.shape) + rtol * np.abs(want_arr)
    rel = err / np.maximum(np.abs(want_arr), np.finfo(np.float64).tiny)
    if np.all(err <= allowed):
        return None
    over = err - allowed
    worst = np.unravel_index(int(np.argmax(over)), err.shape)
    n_bad = int(np.count_nonzero(err > allowed))
    return (
        f"{what} ({np.dtype(key).name}, shape {g.shape}): {n_bad} of {err.size} element(s) out of "
        f"tolerance; max abs err {err.max():.3e}, max rel err {rel.max():.3e} (rtol={rtol:g}, "
        f"atol={np.max(atol):g}); worst at {tuple(int(i) for i in worst)}: got {float(g[worst])!r}, "
        f"want {float(want_arr[worst])!r}"
    )


def assert_close(got, want, dtype, what, *, rtol=None, atol=None, check_dtype=True):
    """Compares a kernel result of `dtype` (float32 or float64) with the float64 reference; tolerances
    default to TOL[dtype]. The failure message reports the max abs and rel error and the shape."""
    default_rtol, default_atol = TOL[dtype_key(dtype)]
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    msg = close_report(got, want, dtype, what, rtol, atol, check_dtype)
    if msg is not None:
        pytest.fail(msg, pytrace=False)


def rel_close(got, want, what, rel=1e-10, dtype=np.float64):
    """Relative error below `rel`, measured against the array's largest value (normwise)."""
    want = np.asarray(want, np.float64)
    scale = float(np.abs(want).max()) if want.size else 0.0
    assert_close(got, want, dtype, what, rtol=rel, atol=rel * scale)


def assert_bitwise(got, want, what):
    """Identical bits: shape, dtype and every value."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape or got.dtype != want.dtype:
        pytest.fail(f"{what}: got {got.dtype}{got.shape}, expected {want.dtype}{want.shape}", pytrace=False)
    if got.tobytes() != want.tobytes():
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        n = int(np.count_nonzero(got != want))
        pytest.fail(
            f"{what}: not bitwise identical; {n} of {got.size} element(s) differ, "
            f"max abs err {np.nanmax(diff):.3e} (shape {got.shape})",
            pytrace=False,
        )


def assert_weights_bitwise(got, want, what="weights"):
    """Two get_weights() lists, [(W, b), ...], identical in every layer: dtype, shape and bits."""
    assert len(got) == len(want), f"{what}: {len(got)} layers, expected {len(want)}"
    for layer, ((w, b), (w0, b0)) in enumerate(zip(got, want)):
        for name, a, a0 in (("W", w, w0), ("b", b, b0)):
            assert a.dtype == a0.dtype and a.shape == a0.shape, (
                f"{what}: {name}{layer} is {a.dtype}{a.shape}, expected {a0.dtype}{a0.shape}"
            )
            assert a.tobytes() == a0.tobytes(), (
                f"{what}: {name}{layer} differs (max abs diff {np.max(np.abs(a - a0)):.3e})"
            )


# ---- the reference's fit ---------------------------------------------------------------------------------
def reference_fit(weights, biases, activations, x, y, optimizer, batch, seed, epochs, loss="mse", **kw):
    """reference.train_epoch for epochs 0 .. epochs - 1 from (weights, biases), as MLP.fit(x, y,
    optimizer=optimizer, batch_size=batch, epochs=epochs, seed=seed) runs them; kw goes to every epoch
    (dropout=, clip_grad_norm=, shuffle=, ...). Returns (epoch losses, weights, biases)."""
    from fastmlp import reference

    shuffle = kw.pop("shuffle", True)
    weights, biases = [np.asarray(w, np.float64) for w in weights], [np.asarray(b, np.float64) for b in biases]
    state, step, losses = None, 0, []
    for epoch in range(epochs):
        value, weights, biases, state, step = reference.train_epoch(
            weights, biases, list(activations), x, y, loss, batch, shuffle, seed, epoch, optimizer.lr,
            optimizer.config(), state, step, **kw,
        )  # fmt: skip
        losses.append(value)
    return losses, weights, biases


# ---- parametrize ids and data --------------------------------------------------------------------------
def shape_id(shape, letters=""):
    """A test id for a shape: "17x4" (a scalar's is "scalar"), or with letters "nkm", "n17-k4-m3"."""
    if letters:
        return "-".join(f"{letter}{size}" for letter, size in zip(letters, shape))
    return "x".join(map(str, shape)) or "scalar"


def fit_data(rng, n=23):
    """A smooth two-output regression of three inputs, n rows (23: batches of 7 leave a last one of 2)."""
    x = rng.standard_normal((n, 3))
    y = np.stack([np.sin(x[:, 0]) + 0.5 * x[:, 1], x[:, 2] * x[:, 0] - 0.3], axis=1)
    return x, y


def fit_model(dtype="float64", seed=4):
    """The 3-8-5-2 tanh network that fits fit_data, with random biases so that every parameter moves."""
    return fastmlp.MLP([3, 8, 5, 2], activation="tanh", seed=seed, dtype=dtype, bias_init="uniform")


# ---- child processes -----------------------------------------------------------------------------------
def run_python(code, timeout=60, env=None, **kw):
    """Runs `code` in a fresh interpreter (env: variables added to this one's); a hang fails the test
    after `timeout` seconds, with the child's output so far."""
    try:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=None if env is None else {**os.environ, **env},
            **kw,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the child hung (killed after {timeout} s); its output so far: {e.stdout!r} {e.stderr!r}")


def fastmlp_cli(*args, cwd=None, timeout=120):
    """`python -m fastmlp ARGS` in a child process, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "fastmlp", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )


def assert_clean_error(proc, *words):
    """A failed command that says why in one line on stderr (after argparse's usage line, if any), naming
    each of `words`, and no Python traceback."""
    assert proc.returncode != 0, f"exit status 0 for a failing command\nstdout:\n{proc.stdout}"
    assert "Traceback" not in proc.stderr, f"a traceback instead of a message:\n{proc.stderr}"
    lines = proc.stderr.strip().splitlines()
    assert lines, "no message on stderr"
    assert len(lines) == 1 or lines[0].startswith("usage:"), f"not a one-line message:\n{proc.stderr}"
    for word in words:
        assert word in proc.stderr, f"{word!r} not in the message: {proc.stderr!r}"


def run_ranks(work, ranks, timeout=120):
    """work(rank) for each rank in a thread of its own, all at once (a fake communicator's ranks); waits
    for them up to `timeout` seconds each."""
    import threading

    threads = [threading.Thread(target=work, args=(r,)) for r in range(ranks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)


MPIEXEC = shutil.which("mpiexec") or shutil.which("mpirun")

# The suite runs under AddressSanitizer in tools/sanitize.sh, which preloads its runtime: a few checks of
# memory limits and signals cannot hold there (its shadow memory, redzones and quarantine).
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")


def mpirun(n, script, *args, timeout=120, guard="mpi4py", env=None):
    """Runs `script` (Python source) on n ranks under mpiexec; a hang fails the test. guard="mpi4py"
    starts it as `python -m mpi4py` (an uncaught exception aborts the job); None as plain `python`, so
    only what the script itself sets up (fastmlp.distributed.init) guards it."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", **(env or {}))
    module = ["-m", "mpi4py"] if guard == "mpi4py" else []
    cmd = [MPIEXEC, "-n", str(n), sys.executable, *module, "-c", textwrap.dedent(script), *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"mpiexec -n {n} hung (killed after {timeout} s): {e.stdout!r} {e.stderr!r}")
