"""pytest plugin (loaded by conftest.py): a test marked `isolated` runs its body in a forked child, so that
a segfault or abort there fails that test alone, named with the signal, and the run goes on.

Fixtures are set up and torn down in pytest's own process; only the test function runs in the child,
which sends back its outcome (passed, failed with the traceback, skipped, xfailed) through a pipe and
exits at once. Without fork (Windows) isolated tests run in the pytest process like the others.
"""

from __future__ import annotations

import functools
import json
import os
import select
import signal
import sys
import traceback

import pytest

import fastmlp

TIMEOUT_S = 300  # a child still running then is killed and its test fails


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "isolated: runs in a forked child process, so that a crash (segfault, abort) fails this test alone"
    )


def pytest_collection_modifyitems(config, items):
    if hasattr(os, "fork"):
        for item in items:
            if item.get_closest_marker("isolated") is not None:
                item.runtest = functools.partial(run_forked, item.runtest)


def run_forked(runtest):
    """Calls runtest() in a forked child and raises the outcome it reports (or its crash) here."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(runtest, write_fd)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        # The child writes its outcome in one go just before it exits; a crash closes the pipe empty.
        if not select.select([pipe], [], [], TIMEOUT_S)[0]:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"the isolated test ran for more than {TIMEOUT_S} s and was killed", pytrace=False)
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        pytest.fail(f"the test crashed its process: killed by signal {signal.Signals(sig).name} ({sig})", pytrace=False)
    if not data:
        pytest.fail(
            f"the isolated test's process exited with status {os.waitstatus_to_exitcode(status)} "
            "without reporting an outcome",
            pytrace=False,
        )
    kind, text = json.loads(data)
    if kind == "skipped":
        pytest.skip(text)
    if kind == "xfailed":
        pytest.xfail(text)
    if kind == "failed":
        pytest.fail(f"in the isolated child process:\n{text}", pytrace=False)


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
    except BaseException:
        outcome = ("failed", traceback.format_exc())
    try:
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(json.dumps(outcome).encode())
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(0)
