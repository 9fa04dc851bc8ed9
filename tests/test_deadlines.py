"""No data-parallel job hangs: an error on one rank between the points where the ranks agree on errors,
a rank stopped or busy past the collectives' deadline, and sys.exit on one rank of a script each end
every rank, quickly, with a message naming the rank. Every case runs mpiexec in a subprocess with a
timeout, so a hang fails the test rather than the suite."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time

import pytest

from fastmlp import _deadline, distributed
from helpers import MPIEXEC, mpirun

pytest.importorskip("mpi4py", reason="data-parallel tests need mpi4py and an MPI (pip install '.[mpi]')")
needs_mpiexec = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec on PATH (pip install '.[mpi]')")

# Every rank fits its block; `what` (argv[1]) breaks rank 1 (or rank 0's stdout) in one way. Each rank
# reports how its fit ended on stderr (rank 0's stdout may be the broken part).
FIT = r"""
import os, signal, sys, time, numpy as np, fastmlp
from fastmlp import distributed, train
what = sys.argv[1]
comm = distributed.init()
r = comm.Get_rank()
x = np.random.default_rng(r).standard_normal((40, 3))
verbose, callbacks = 0, None
if what == "stdout_full" and r == 0:
    sys.stdout = open("/dev/full", "w", buffering=1)  # every line written fails: ENOSPC
    verbose = 2
if what == "local_error" and r == 1:  # this rank alone, between two agreements
    def broken(*args):
        raise OSError("rank 1's validation pass fails on purpose")
    train._validation_loss = broken
if what in ("stopped", "busy") and r == 1:
    def stall(epoch, logs):
        if epoch == 1:
            if what == "stopped":
                open(sys.argv[2], "w").write(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGSTOP)
            time.sleep(60)
    callbacks = [fastmlp.LambdaCallback(on_epoch_end=stall)]
model = fastmlp.MLP([3, 8, 1], seed=0)
try:
    model.fit(x, x[:, :1], batch_size=8, epochs=4, comm=comm, verbose=verbose, callbacks=callbacks,
              validation_data=(x[:8], x[:8, :1]))
    print(f"rank {r}: returned", file=sys.stderr, flush=True)
except BaseException as e:
    print(f"rank {r}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
"""


def _reports(text):
    """{rank: its report}; the ranks' lines may interleave, so the text is split before each 'rank N: '."""
    parts = (re.match(r"rank (\d): (.*)", t, re.S) for t in re.split(r"(?=rank \d: )", text))
    return {m.group(1): m.group(2).split("\n")[0] for m in parts if m}


@needs_mpiexec
@pytest.mark.slow
def test_rank_0_progress_output_failing_stops_every_rank():
    # It used to hang: rank 0's OSError came between agreements, and settling its weights made a
    # collective of its own while the others waited in the next epoch's agreement.
    proc = mpirun(3, FIT, "stdout_full", timeout=60)
    reports = _reports(proc.stderr)
    assert sorted(reports) == ["0", "1", "2"], proc.stdout + proc.stderr
    assert reports["0"].startswith("OSError") and "No space left" in reports["0"], reports
    assert all(reports[r].startswith("RuntimeError: data-parallel fit: 1 of 3 rank(s) failed") for r in "12"), reports
    assert proc.stderr.count("(rank 0: OSError: [Errno 28] No space left on device)") == 2, proc.stderr


@needs_mpiexec
@pytest.mark.slow
def test_an_error_on_one_rank_outside_the_agreements_aborts_the_job():
    start = time.monotonic()
    proc = mpirun(3, FIT, "local_error", timeout=60)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "rank 1 raised OSError outside the points where the ranks agree" in proc.stderr, proc.stderr
    assert "rank 1's validation pass fails on purpose" in proc.stderr
    assert "returned" not in proc.stderr
    assert time.monotonic() - start < 30  # at once, not after a deadline


@needs_mpiexec
@pytest.mark.slow
def test_a_stopped_rank_ends_the_job_at_the_deadline_and_is_named(tmp_path):
    pid_file = tmp_path / "pid"
    start = time.monotonic()
    try:
        proc = mpirun(3, FIT, "stopped", str(pid_file), timeout=90, env={"FASTMLP_DEADLINE_STEP": "2"})
    finally:
        if pid_file.exists():  # the stopped rank, should the abort have left it
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert pid_file.exists(), proc.stderr
    assert re.search(
        r"rank [02] waited \d+ s in the agreement on errors .*past the step deadline of 2 s; "
        r"rank 1 did not answer \(stopped, hung, or gone\)",
        proc.stderr,
    ), proc.stderr
    assert "FASTMLP_DEADLINE_STEP" in proc.stderr
    assert time.monotonic() - start < 60


@needs_mpiexec
@pytest.mark.slow
def test_a_rank_busy_past_the_deadline_ends_the_job_and_is_named():
    proc = mpirun(2, FIT, "busy", timeout=90, env={"FASTMLP_DEADLINE_STEP": "2"})
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert (
        "rank 0 waited" in proc.stderr and "rank 1 is running but waits in none of the fit's collectives" in proc.stderr
    ), proc.stderr


@needs_mpiexec
@pytest.mark.slow
def test_a_slow_rank_within_the_deadline_is_waited_for():
    # The same stall of 1.5 s, under the default deadlines: the fit ends normally on every rank.
    proc = mpirun(2, FIT.replace("time.sleep(60)", "time.sleep(1.5)"), "busy", timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _reports(proc.stderr) == {"0": "returned", "1": "returned"}, proc.stderr


# A script started as plain `python` (not `python -m mpi4py`): only init() guards it.
EXITS = r"""
import sys
from fastmlp import distributed
how = sys.argv[1]
comm = distributed.init()
if comm.Get_rank() == 1:
    if how == "message":
        sys.exit("rank 1: bad arguments")
    if how == "code":
        sys.exit(3)
    if how == "argparse":
        import argparse
        argparse.ArgumentParser(prog="script").parse_args(["--nope"])
    if how == "exception":
        raise SystemError("rank 1 fails outside any fit")
    if how == "long":  # more than a pipe holds, written just before the end
        for i in range(300):
            print(f"line {i} " + "x" * 1000, file=sys.stderr)
        raise SystemError("rank 1 fails after a long report")
    if how == "clean":
        sys.exit(0)
if how != "clean":
    comm.Barrier()  # rank 0 would wait here forever without the abort
print(f"rank {comm.Get_rank()} passed", flush=True)
"""


@needs_mpiexec
@pytest.mark.slow
@pytest.mark.parametrize(
    "how, words",
    [
        ("message", "rank 1: bad arguments"),
        ("code", ""),
        ("argparse", "unrecognized arguments: --nope"),
        ("exception", "SystemError: rank 1 fails outside any fit"),
        ("long", "SystemError: rank 1 fails after a long report"),
    ],
)
def test_sys_exit_or_an_exception_on_one_rank_ends_the_job(how, words):
    # sys.exit on one rank, with the others in a Barrier, hung: Python exits on SystemExit without
    # calling sys.excepthook, the only guard init() had.
    # What the failing rank wrote last must reach the launcher's stderr: MPI_Abort ends mpiexec's
    # proxy, which dropped what it had not yet read from the rank's pipes (1 run in 10 lost the tail
    # of the traceback) until abort_job waited for the pipes to be read.
    proc = mpirun(2, EXITS, how, timeout=60, guard=None)
    assert proc.returncode != 0 and "rank 0 passed" not in proc.stdout, proc.stdout + proc.stderr
    assert words in proc.stderr, proc.stderr[-2000:]
    if how == "long":
        assert all(f"line {i} " in proc.stderr for i in range(300)), proc.stderr[-2000:]


def test_abort_waits_until_its_pipes_are_read():
    # abort_job's wait, alone: it returns once the reader has taken what was written, not before, and
    # gives up after its timeout when nobody reads.
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"x" * 1000)
        taken = []

        def reader():
            time.sleep(0.3)
            taken.append(time.monotonic())
            os.read(read_end, 1000)

        thread = threading.Thread(target=reader)
        thread.start()
        distributed._wait_until_read([write_end], timeout=10)
        returned = time.monotonic()
        thread.join()
        assert taken and returned >= taken[0]
        os.write(write_end, b"unread")
        start = time.monotonic()
        distributed._wait_until_read([write_end], timeout=0.2)
        assert 0.2 <= time.monotonic() - start < 5
        distributed._wait_until_read([write_end, 12345], timeout=0)  # a closed descriptor: no error
    finally:
        os.close(read_end)
        os.close(write_end)


@needs_mpiexec
@pytest.mark.slow
def test_sys_exit_0_on_one_rank_is_a_normal_end():
    proc = mpirun(2, EXITS, "clean", timeout=60, guard=None)
    assert proc.returncode == 0 and "rank 0 passed" in proc.stdout, proc.stdout + proc.stderr


def test_deadlines_are_set_by_function_or_environment(monkeypatch):
    monkeypatch.setattr(_deadline, "_set", {})
    monkeypatch.delenv("FASTMLP_DEADLINE_STEP", raising=False)
    monkeypatch.delenv("FASTMLP_DEADLINE_START", raising=False)
    assert distributed.deadlines() == _deadline.DEFAULTS
    assert _deadline.DEFAULTS["start"] > _deadline.DEFAULTS["step"]  # the start waits for slow readers
    monkeypatch.setenv("FASTMLP_DEADLINE_STEP", "7.5")
    assert distributed.deadlines()["step"] == 7.5
    assert distributed.set_deadlines(start=90) == {"start": 90.0, "step": 7.5}
    assert distributed.set_deadlines(step=3)["step"] == 3.0  # the function's value wins over the variable
    for bad in (0, -1, float("inf"), float("nan"), "10", True):
        with pytest.raises(ValueError, match="deadline must be a number of seconds > 0"):
            distributed.set_deadlines(step=bad)
    monkeypatch.setattr(_deadline, "_set", {})
    monkeypatch.setenv("FASTMLP_DEADLINE_STEP", "soon")
    with pytest.raises(ValueError, match="FASTMLP_DEADLINE_STEP must be a number of seconds > 0, got 'soon'"):
        distributed.deadlines()


def test_the_abort_message_names_each_rank_by_what_it_answered():
    text = _deadline.message(
        0,
        5,
        "the agreement on errors (allgather)",
        12,
        301.4,
        300,
        True,
        {
            2: ("the agreement on errors (allgather)", 12, 301.0),
            3: None,
            4: ("a sum over the ranks (Allreduce)", 11, 290.0),
        },
    )
    assert text.startswith(
        "fastmlp: data-parallel fit: rank 0 waited 301 s in the agreement on errors "
        "(allgather) (collective #12 of the fit), past the step deadline of 300 s; "
    )
    assert "rank 1 did not answer" in text and "rank 2" not in text
    assert "rank 3 is running but waits in none" in text
    assert "rank 4 waits in another collective, a sum over the ranks (Allreduce) (#11)" in text
    assert "set_deadlines(step=...)" in text
    text = _deadline.message(1, 2, "a broadcast", 3, 1800, 1800, False, {0: ("a broadcast", 3, 1800.0)})
    assert "start deadline" in text and "every rank waits in it" in text
    assert "could not be asked" in _deadline.message(1, 2, "x", 1, 5, 4, True, None)
