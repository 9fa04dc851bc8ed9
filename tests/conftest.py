"""Shared fixtures for the kernel tests.

Under --import-mode=importlib test files cannot import from this module, so everything shared is a
fixture: `rng` (seeded), `tol` (rtol/atol per dtype), `assert_close` (comparison with a useful failure
message), `assert_bitwise` and `num_threads` (restores the thread setting after a test changes it).

Tests marked `isolated` run in a forked child process: a segfault or abort there fails that one test
(named with the signal) instead of taking pytest down, and the run goes on.
"""

from __future__ import annotations

import functools
import json
import os
import selectors
import signal
import sys
import time
import traceback

import numpy as np
import pytest

import fastmlp

SEED = 20240607

# (rtol, atol) for a kernel result in the given dtype against the float64 reference computed from the
# same (already rounded) inputs. float32 kernels compute in float32: a few ulp of 2^-24 ~ 6e-8.
TOL = {
    np.float32: (1e-5, 1e-6),
    np.float64: (1e-12, 1e-14),
}


def _dtype_key(dtype):
    return np.dtype(dtype).type


def _close_report(got, want, dtype, what, rtol, atol, check_dtype=True):
    """None when got matches want within |got - want| <= atol + rtol |want| (elementwise; atol may be an
    array), else a message with the max abs/rel error, where it is and the shape."""
    got_arr = np.asarray(got)
    want_arr = np.asarray(want, dtype=np.float64)
    key = _dtype_key(dtype)
    if check_dtype and isinstance(got, np.ndarray) and got_arr.dtype.type is not key:
        return f"{what}: result dtype {got_arr.dtype}, expected {np.dtype(key).name}"
    if got_arr.shape != want_arr.shape:
        return f"{what}: shape {got_arr.shape}, expected {want_arr.shape}"
    g = got_arr.astype(np.float64)
    if not np.all(np.isfinite(g) == np.isfinite(want_arr)):
        bad = np.flatnonzero(np.isfinite(g) != np.isfinite(want_arr))
        return (f"{what}: non-finite mismatch at {bad.size} element(s) of shape {g.shape}, first flat "
                f"index {bad[0]}: got {g.ravel()[bad[0]]!r}, want {want_arr.ravel()[bad[0]]!r}")
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
    return (f"{what} ({np.dtype(key).name}, shape {g.shape}): {n_bad} of {err.size} element(s) out of "
            f"tolerance; max abs err {err.max():.3e}, max rel err {rel.max():.3e} (rtol={rtol:g}, "
            f"atol={np.max(atol):g}); worst at {tuple(int(i) for i in worst)}: got {float(g[worst])!r}, "
            f"want {float(want_arr[worst])!r}")


@pytest.fixture
def rng():
    """A fresh, fixed-seed generator per test: every run draws the same data."""
    return np.random.default_rng(SEED)


@pytest.fixture(scope="session")
def tol():
    """{np.float32: (rtol, atol), np.float64: (rtol, atol)}; also indexable by np.dtype or name."""

    class _Tol(dict):
        def __getitem__(self, dtype):
            return dict.__getitem__(self, _dtype_key(dtype))

    return _Tol(TOL)


@pytest.fixture(scope="session")
def assert_close():
    """assert_close(got, want, dtype, what, *, rtol=None, atol=None, check_dtype=True).

    Compares a kernel result of `dtype` (float32 or float64) with the float64 reference; tolerances
    default to TOL[dtype]. The failure message reports the max abs and rel error and the shape."""

    def check(got, want, dtype, what, *, rtol=None, atol=None, check_dtype=True):
        default_rtol, default_atol = TOL[_dtype_key(dtype)]
        rtol = default_rtol if rtol is None else rtol
        atol = default_atol if atol is None else atol
        msg = _close_report(got, want, dtype, what, rtol, atol, check_dtype)
        if msg is not None:
            pytest.fail(msg, pytrace=False)

    return check


@pytest.fixture(scope="session")
def assert_bitwise():
    """assert_bitwise(got, want, what): identical bits (shape, dtype and every value)."""

    def check(got, want, what):
        got, want = np.asarray(got), np.asarray(want)
        if got.shape != want.shape or got.dtype != want.dtype:
            pytest.fail(f"{what}: got {got.dtype}{got.shape}, expected {want.dtype}{want.shape}", pytrace=False)
        if got.tobytes() != want.tobytes():
            diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
            n = int(np.count_nonzero(got != want))
            pytest.fail(f"{what}: not bitwise identical; {n} of {got.size} element(s) differ, "
                        f"max abs err {np.nanmax(diff):.3e} (shape {got.shape})", pytrace=False)

    return check


@pytest.fixture
def num_threads():
    """Lets a test call fastmlp.set_num_threads freely; the previous setting is restored afterwards."""
    before = fastmlp.get_num_threads()
    yield fastmlp.set_num_threads
    fastmlp.set_num_threads(before)


# ---- isolated tests: each runs in a forked child ------------------------------------------------------
ISOLATED_TIMEOUT_S = 300


def pytest_configure(config):
    config.addinivalue_line("markers", "isolated: runs in a forked child process, so that a crash (segfault, "
                                       "abort) fails this test alone")


def pytest_collection_modifyitems(config, items):
    if not hasattr(os, "fork"):
        return  # no fork (Windows): isolated tests run in the pytest process like the others
    for item in items:
        if item.get_closest_marker("isolated") is not None:
            item.runtest = functools.partial(_run_forked, item.runtest)


def _child(runtest, write_fd):
    """In the forked child: run the test body, send its outcome to the parent, and leave at once."""
    try:
        # OpenMP's thread team does not survive fork(): kernels in the child run on one thread.
        fastmlp.set_num_threads(1)
        runtest()
        outcome = ("passed", "")
    except pytest.skip.Exception as exc:
        outcome = ("skipped", exc.msg)
    except pytest.xfail.Exception as exc:
        outcome = ("xfailed", exc.msg)
    except BaseException:  # noqa: BLE001 - every failure goes back to the parent as text
        outcome = ("failed", traceback.format_exc())
    try:
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(json.dumps(outcome).encode())
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(0)


def _run_forked(runtest):
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(runtest, write_fd)
    os.close(write_fd)
    data, deadline = b"", time.monotonic() + ISOLATED_TIMEOUT_S
    with selectors.DefaultSelector() as sel, os.fdopen(read_fd, "rb", buffering=0) as pipe:
        sel.register(pipe, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail(f"the isolated test ran for more than {ISOLATED_TIMEOUT_S} s and was killed",
                            pytrace=False)
            chunk = pipe.read(65536)
            if not chunk:
                break
            data += chunk
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        pytest.fail(f"the test crashed its process: killed by signal {signal.Signals(sig).name} ({sig})",
                    pytrace=False)
    if not data:
        pytest.fail(f"the isolated test's process exited with status {os.waitstatus_to_exitcode(status)} "
                    "without reporting an outcome", pytrace=False)
    kind, text = json.loads(data)
    if kind == "skipped":
        pytest.skip(text)
    if kind == "xfailed":
        pytest.xfail(text)
    if kind == "failed":
        pytest.fail(f"in the isolated child process:\n{text}", pytrace=False)
