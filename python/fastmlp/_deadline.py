"""Deadlines for the collectives of a data-parallel fit: no rank waits forever for one that stopped.

MPI's blocking collectives have no timeout, so a rank that is stopped (SIGSTOP, a debugger), stuck in
its own work, or waiting in another collective than the others (a bug) leaves the rest spinning for
ever. Every collective fastmlp.distributed.Collective makes is entered here first: the process notes
which one it waits in and since when (two attribute writes, well under a microsecond). One daemon
thread per process looks at that note a few times a second. When a wait passes its deadline the thread
asks every other rank, by point-to-point messages on a tag of its own (MPI keeps them apart from the
collectives), what it is doing; a rank's thread answers with the collective it waits in, or that it
waits in none. Whatever comes back (or does not, within a grace of a few seconds) is printed in one
message that names each rank that did not answer or is elsewhere, and the job is aborted
(MPI_Abort), which ends every rank, a stopped one included.

The deadline of the fit's start (its argument checks and the first broadcast, where ranks may still be
reading their data) is longer than that of the steps and epochs (DEFAULTS); set_deadlines or the
variables FASTMLP_DEADLINE_START / FASTMLP_DEADLINE_STEP (seconds) change them.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mpi4py import MPI

    from .distributed import Collective

    # What a rank waits in: (its collective, the label, since when (time.monotonic), its number).
    Waiting = tuple[Collective, str, float, int]
    # A rank's answer to an ask: (the label, the number, the seconds it has waited), or None for none.
    State = tuple[str, int, float] | None

DEFAULTS: dict[str, float] = {"start": 1800.0, "step": 300.0}
_ENV: dict[str, str] = {"start": "FASTMLP_DEADLINE_START", "step": "FASTMLP_DEADLINE_STEP"}
_set: dict[str, float] = {}
# Tags of the watchdog's messages (asks and answers); any tag below MPI's guaranteed 32767.
ASK, ANSWER = 30711, 30712
GRACE = 3.0  # seconds given to the other ranks' watchdogs to answer (each looks every <= 1 s)


def _seconds(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"the {name} deadline must be a number of seconds > 0, got {value!r}")
    return float(value)


def deadlines() -> dict[str, float]:
    """The deadlines in force: set_deadlines' values, else the environment's, else the defaults.

    Returns
    -------
    dict
        ``{"start": seconds, "step": seconds}`` (floats): how long a rank of a data-parallel fit waits in
        one collective of the fit's start (its argument checks, the first broadcast) and in one of its
        steps or between its epochs before it aborts the job. Each is the value set_deadlines gave it,
        else the environment variable's (FASTMLP_DEADLINE_START, FASTMLP_DEADLINE_STEP), else the
        default (1800 and 300 seconds).

    Raises
    ------
    ValueError
        If FASTMLP_DEADLINE_START or FASTMLP_DEADLINE_STEP is set to anything but a number of seconds > 0.

    See Also
    --------
    set_deadlines : Set the deadlines.
    """
    out: dict[str, float] = {}
    for phase, default in DEFAULTS.items():
        if phase in _set:
            out[phase] = _set[phase]
        elif os.environ.get(_ENV[phase]):
            text = os.environ[_ENV[phase]]
            try:
                out[phase] = _seconds(float(text), f"{_ENV[phase]}={text!r}:")
            except ValueError:
                raise ValueError(f"{_ENV[phase]} must be a number of seconds > 0, got {text!r}") from None
        else:
            out[phase] = default
    return out


def set_deadlines(start: float | None = None, step: float | None = None) -> dict[str, float]:
    """Set how long a rank of a data-parallel fit waits in one collective before it aborts the job.

    A rank that waits longer (another rank is stopped, hung, gone, or waits in another collective)
    asks the others what they do, prints one message naming the ranks that did not answer or are
    elsewhere, and aborts the job. The values set here win over the environment variables
    FASTMLP_DEADLINE_START and FASTMLP_DEADLINE_STEP.

    Parameters
    ----------
    start : float, optional
        The deadline, in seconds (> 0), of the fit's first collectives (its argument checks and the
        first broadcast, where ranks may still be reading their data). None keeps the value in force.
    step : float, optional
        The deadline, in seconds (> 0), of the collectives of the steps and between epochs. None keeps
        the value in force.

    Returns
    -------
    dict
        The deadlines now in force, ``{"start": seconds, "step": seconds}`` (as `deadlines` returns them).

    Raises
    ------
    ValueError
        If `start` or `step` is neither None nor a number of seconds > 0.

    See Also
    --------
    deadlines : The deadlines in force.
    """
    for phase, value in (("start", start), ("step", step)):
        if value is not None:
            _set[phase] = _seconds(value, phase)
    return deadlines()


class Watchdog:
    """The process's one watcher (see the module's docstring). `waiting` is (collective, label, since,
    number) while the main thread waits in a collective, else None; only the main thread writes it."""

    def __init__(self) -> None:
        self.waiting: Waiting | None = None
        self._comms: list[MPI.Comm] = []  # the communicators whose asks this process answers
        self._sends: list[MPI.Request] = []  # answers and asks not yet known to be delivered
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def watch(self, collective: Collective) -> None:
        """Starts the thread (once per process) and answers asks on collective's communicator."""
        with self._lock:
            # Answered only on real communicators (a stand-in for tests has no point-to-point calls).
            real = callable(getattr(collective.comm, "Iprobe", None))
            if real and not any(c is collective.comm or c == collective.comm for c in self._comms):
                self._comms.append(collective.comm)
            if self._thread is None:
                MPI = collective.MPI
                # The asks need a second thread that may call MPI (and a real MPI, not a stand-in).
                query = getattr(MPI, "Query_thread", None)
                self._asks = query is not None and query() == MPI.THREAD_MULTIPLE
                if self._asks:
                    self._status, self._any = MPI.Status(), MPI.ANY_SOURCE
                self._thread = threading.Thread(target=self._run, name="fastmlp-deadline", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            limits = deadlines()
            time.sleep(min(1.0, min(limits.values()) / 8))
            try:
                self._answer()
                w = self.waiting
                if w is not None:
                    limit = limits["step" if w[0].stepping else "start"]
                    if time.monotonic() - w[2] > limit:
                        self._expire(w, limit)
            except Exception as e:
                print(
                    f"fastmlp: the data-parallel deadline watcher failed ({type(e).__name__}: {e})",
                    file=sys.stderr,
                    flush=True,
                )

    def _state(self, comm: MPI.Comm) -> State:
        w = self.waiting
        if w is None or not (w[0].comm is comm or w[0].comm == comm):
            return None
        return w[1], w[3], time.monotonic() - w[2]

    def _answer(self) -> None:
        """Answers every ask that has arrived: what this rank waits in now."""
        if not self._asks:
            return
        self._sends = [r for r in self._sends if not r.Test()]
        for comm in self._comms:
            while comm.Iprobe(source=self._any, tag=ASK, status=self._status):
                source = self._status.Get_source()
                token = comm.recv(source=source, tag=ASK)
                self._sends.append(comm.isend((token, self._state(comm)), dest=source, tag=ANSWER))

    def _expire(self, w: Waiting, limit: float) -> None:
        collective, label, since, number = w
        comm, me, size = collective.comm, collective.rank, collective.size
        answers: dict[int, State] = {}
        asks = self._asks and callable(getattr(comm, "Iprobe", None))
        if asks:
            token = (me, number, os.urandom(8))
            self._sends += [comm.isend(token, dest=r, tag=ASK) for r in range(size) if r != me]
            end = time.monotonic() + GRACE
            while time.monotonic() < end and len(answers) < size - 1:
                if self.waiting is not w:
                    return  # the collective ended: a slow rank, not a stuck one
                self._answer()  # another rank may be asking at the same time
                while comm.Iprobe(source=self._any, tag=ANSWER, status=self._status):
                    source = self._status.Get_source()
                    got, state = comm.recv(source=source, tag=ANSWER)
                    if got == token:
                        answers[source] = state
                time.sleep(0.02)
        if self.waiting is not w:
            return
        print(
            message(
                me, size, label, number, time.monotonic() - since, limit, collective.stepping, answers if asks else None
            ),
            file=sys.stderr,
            flush=True,
        )
        from .distributed import abort_job

        abort_job(comm, 1)


def message(
    me: int,
    size: int,
    label: str,
    number: int,
    waited: float,
    limit: float,
    stepping: bool,
    answers: Mapping[int, State] | None,
) -> str:
    """The abort's message: what this rank waited in, and each other rank's answer (answers: rank ->
    (label, number, seconds) or None for 'in none of the fit's collectives'; a missing rank did not
    answer; answers=None when MPI allows no second thread, so no rank was asked)."""
    phase = "step" if stepping else "start"
    head = (
        f"fastmlp: data-parallel fit: rank {me} waited {waited:.0f} s in {label} (collective "
        f"#{number} of the fit), past the {phase} deadline of {limit:g} s"
    )
    parts: list[str] = []
    if answers is None:
        parts.append("the other ranks could not be asked (MPI was initialized without MPI_THREAD_MULTIPLE)")
    else:
        silent = [r for r in range(size) if r != me and r not in answers]
        if silent:
            parts.append(
                f"rank{'s' if len(silent) > 1 else ''} {', '.join(map(str, silent))} did not answer "
                f"(stopped, hung, or gone)"
            )
        for r, state in sorted(answers.items()):
            if state is None:
                parts.append(
                    f"rank {r} is running but waits in none of the fit's collectives (it left the "
                    f"fit, or does long work of its own, e.g. in a callback)"
                )
            elif state[1] != number or state[0] != label:
                parts.append(f"rank {r} waits in another collective, {state[0]} (#{state[1]})")
        if not parts:
            parts.append("every rank waits in it (MPI itself makes no progress)")
    return (
        head + "; " + "; ".join(parts) + f". Aborting the job. (If a rank legitimately takes longer, "
        f"raise the deadline: fastmlp.distributed.set_deadlines({phase}=...) or FASTMLP_DEADLINE_"
        f"{phase.upper()}=seconds.)"
    )


WATCHDOG = Watchdog()
