"""Shared fixtures for the kernel tests: `rng` (seeded), `tol` (rtol/atol per dtype), `assert_close`
(comparison with a useful failure message), `assert_bitwise` and `num_threads` (restores the thread
setting after a test changes it). The comparisons themselves live in helpers.py, which test files
import for everything else they share.

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
import helpers

SEED = 20240607


@pytest.fixture
def rng():
    """A fresh, fixed-seed generator per test: every run draws the same data."""
    return np.random.default_rng(SEED)


@pytest.fixture(scope="session")
def tol():
    """{np.float32: (rtol, atol), np.float64: (rtol, atol)}; also indexable by np.dtype or name."""

    class _Tol(dict):
        def __getitem__(self, dtype):
            return dict.__getitem__(self, helpers.dtype_key(dtype))

    return _Tol(helpers.TOL)


@pytest.fixture(scope="session")
def assert_close():
    """helpers.assert_close(got, want, dtype, what, *, rtol=None, atol=None, check_dtype=True)."""
    return helpers.assert_close


@pytest.fixture(scope="session")
def assert_bitwise():
    """helpers.assert_bitwise(got, want, what): identical bits (shape, dtype and every value)."""
    return helpers.assert_bitwise


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
