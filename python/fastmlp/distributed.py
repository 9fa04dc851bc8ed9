"""Data-parallel training over MPI, through mpi4py (an optional extra: pip install "fastmlp[mpi]").

P processes each hold a contiguous block of the global rows, in rank order (rank 0 the first rows).
`MLP.fit(X_block, y_block, ..., comm=comm)` then computes what a one-process fit on the concatenated
data computes: every rank walks the same global order of each epoch, computes the gradient of the
rows of each global batch that it holds (possibly none) scaled by the global batch size, and one
in-place SUM all-reduce of one flat gradient buffer per step adds them up; clipping and the update
follow, identical on every rank. Epoch losses, validation losses, stopping decisions and failures are
agreed on by all ranks, so they stop together. For example::

    # mpiexec -n 4 python -m mpi4py train.py
    import fastmlp
    from fastmlp import distributed
    comm = distributed.init()
    X, y = distributed.read_rows("X.npy", comm), distributed.read_rows("y.npy", comm)
    model = fastmlp.MLP([X.shape[1], 64, 1])
    model.fit(X, y, batch_size=1024, epochs=10, comm=comm)   # batch_size is the global batch
    if distributed.is_main(comm):
        model.save("model.npz")                               # save writes from rank 0 only anyway

`python -m mpi4py` makes an uncaught exception on any rank abort the whole job; init() installs the
same guard for scripts started without it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import FrameType, ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._deadline import WATCHDOG, deadlines, set_deadlines

if TYPE_CHECKING:
    from mpi4py import MPI

    from . import _core

__all__ = ["init", "rank", "size", "is_main", "block", "read_rows", "launched_under_mpi", "set_deadlines", "deadlines"]
# Marks an exception raised on every rank at once (by an agreement, or a decision on shared values).
_AGREED = "_fastmlp_agreed"
_T = TypeVar("_T")
_E = TypeVar("_E", bound=BaseException)


def _mpi() -> ModuleType:
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(
            "data-parallel training needs mpi4py and an MPI library: pip install 'fastmlp[mpi]' "
            f"(mpi4py with the mpich wheel), or mpi4py built against your cluster's MPI ({e})"
        ) from e
    return MPI


def abort_job(comm: MPI.Comm, code: object = 1) -> NoReturn:
    """Ends every rank of comm's job: MPI_Abort, and this process's exit at once after it (MPICH's
    MPI_Abort can return before the launcher has killed the ranks, and a rank that went on could pass
    a collective with the others first)."""
    code = code if isinstance(code, int) and 0 < code < 256 else 1
    for stream in (sys.stdout, sys.stderr):
        # A full disk, a closed stream: nothing more can be said there.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    _wait_until_read((1, 2))
    try:
        comm.Abort(code)
    finally:
        os._exit(code)


def _wait_until_read(fds: Iterable[int], timeout: float = 2.0) -> None:
    """Waits (at most `timeout` seconds) until whoever reads these descriptors has read what this
    process wrote to them, where they are pipes. Under mpiexec a rank's stdout and stderr are pipes to
    the launcher's proxy, and MPI_Abort ends the proxy too: what it had not yet read from them (the
    traceback that says why the job ends, often) was lost."""
    import stat

    try:
        import fcntl
        import termios
    except ImportError:  # not a POSIX system
        return
    pipes = []
    for fd in fds:
        with contextlib.suppress(OSError):
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                pipes.append(fd)
    deadline = time.monotonic() + timeout
    unread = bytearray(4)
    while pipes and time.monotonic() < deadline:
        try:  # FIONREAD on either end of a Linux pipe: the bytes written and not yet read
            pipes = [fd for fd in pipes if fcntl.ioctl(fd, termios.FIONREAD, unread) == 0 and any(unread)]
        except OSError:
            return
        if pipes:
            time.sleep(0.001)


def init() -> MPI.Intracomm:
    """MPI's COMM_WORLD, with guards that abort every rank when one ends with an error.

    Without them the other ranks would wait for the failed one forever in their next collective. The
    guards cover an uncaught exception (sys.excepthook), and sys.exit with an error (sys.exit("message")
    or a code other than 0, as argparse and click exit), which the interpreter ends without an
    excepthook. `python -m mpi4py script.py` guards the same and also a bare `raise SystemExit(...)`,
    which init cannot see; with it, a script that catches the SystemExit of its own sys.exit(error)
    should not call init (the job ends at the sys.exit). A job of one process gets no guards.

    Returns
    -------
    mpi4py.MPI.Intracomm
        ``mpi4py.MPI.COMM_WORLD``.

    Raises
    ------
    ImportError
        If mpi4py (or an MPI library) is not installed: pip install "fastmlp[mpi]".
    """
    MPI = _mpi()
    comm = MPI.COMM_WORLD
    if comm.Get_size() > 1 and not getattr(sys.excepthook, "_fastmlp_abort", False):
        previous_hook, previous_exit = sys.excepthook, sys.exit

        def abort_all(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> NoReturn:
            previous_hook(kind, value, tb)
            abort_job(comm, 1)

        def exit_all(status: str | int | None = None) -> NoReturn:
            if status is None or status == 0:
                previous_exit(status)
            if not isinstance(status, int):  # what the interpreter would print; Abort never gets there
                print(status, file=sys.stderr)
            abort_job(comm, status)

        abort_all._fastmlp_abort = True  # type: ignore[attr-defined]  # marks the hook as init's
        sys.excepthook, sys.exit = abort_all, exit_all
    return comm


def _world(comm: MPI.Comm | None) -> MPI.Comm:
    return _mpi().COMM_WORLD if comm is None else comm


def rank(comm: MPI.Comm | None = None) -> int:
    """This process's rank in a communicator.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm, optional
        The communicator; COMM_WORLD by default.

    Returns
    -------
    int
        The rank, from 0 to ``size(comm) - 1``.

    Raises
    ------
    ImportError
        If `comm` is None and mpi4py is not installed.
    """
    return _world(comm).Get_rank()


def size(comm: MPI.Comm | None = None) -> int:
    """The number of processes in a communicator.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm, optional
        The communicator; COMM_WORLD by default.

    Returns
    -------
    int
        The number of processes (>= 1).

    Raises
    ------
    ImportError
        If `comm` is None and mpi4py is not installed.
    """
    return _world(comm).Get_size()


def is_main(comm: MPI.Comm | None = None) -> bool:
    """Whether this process is rank 0, the rank that prints and saves.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm, optional
        The communicator; COMM_WORLD by default.

    Returns
    -------
    bool
        True on rank 0 of `comm`.

    Raises
    ------
    ImportError
        If `comm` is None and mpi4py is not installed.
    """
    return rank(comm) == 0


def launched_under_mpi() -> bool:
    """Whether this process was started by mpiexec/mpirun with more than one process.

    It is read from the launcher's environment (PMI_SIZE, OMPI_COMM_WORLD_SIZE, PMIX_SIZE,
    MPI_LOCALNRANKS, or SLURM_NTASKS under a PMI launch), without importing MPI.

    Returns
    -------
    bool
        True when the launcher started more than one process.
    """
    for key in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS"):
        value = os.environ.get(key, "")
        if value.isdigit() and int(value) > 1 and (key != "SLURM_NTASKS" or "PMI_RANK" in os.environ):
            return True
    return False


def block(n: int, rank: int, size: int) -> tuple[int, int]:
    """The contiguous block of rows one rank holds: the first n % size ranks get one row more.

    Parameters
    ----------
    n : int
        The number of rows of the whole data set (>= 0).
    rank : int
        The rank, from 0 to ``size - 1``.
    size : int
        The number of ranks (>= 1).

    Returns
    -------
    tuple of (int, int)
        (start, stop) of the rank's rows, ``range(start, stop)``; the ranks' blocks follow each other
        in rank order.

    Raises
    ------
    ValueError
        If n < 0, size < 1, or rank is not in [0, size).
    """
    if not (isinstance(size, int) and size >= 1 and isinstance(rank, int) and 0 <= rank < size and n >= 0):
        raise ValueError(f"block needs n >= 0 and 0 <= rank < size, got n={n}, rank={rank}, size={size}")
    base, extra = divmod(int(n), size)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


def read_rows(
    path: str | os.PathLike[str], comm: MPI.Comm | None = None, *, rank: int | None = None, size: int | None = None
) -> NDArray[Any]:
    """One rank's block of rows of the array in a .npy or .npz file.

    The block is the one `block` gives the rank. A .npy file is memory-mapped, so only that block is
    read from disk.

    Parameters
    ----------
    path : str or os.PathLike
        A .npy file, or a .npz file holding one array (or 'file.npz:name' for its array `name`).
    comm : mpi4py.MPI.Comm, optional
        The communicator whose rank and size give the block; COMM_WORLD by default.
    rank : int, optional
        The rank whose block is read; comm's rank by default.
    size : int, optional
        The number of ranks the rows are split over; comm's size by default.

    Returns
    -------
    numpy.ndarray
        The block of rows (along the first axis), an array in memory.

    Raises
    ------
    ValueError
        If `path` is neither a .npy nor a .npz file, a .npz file holds several arrays and `path` names
        none, or rank and size do not make a block (see `block`).
    ImportError
        If rank or size is left to comm's, comm is None, and mpi4py is not installed.
    """
    if rank is None or size is None:
        world = _world(comm)
        rank = world.Get_rank() if rank is None else rank
        size = world.Get_size() if size is None else size
    path = os.fspath(path)
    name = None
    if ".npz:" in path:
        path, name = path.rsplit(":", 1)
    if path.endswith(".npy"):
        data = np.load(path, mmap_mode="r", allow_pickle=False)
    elif path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as f:
            if name is None:
                if len(f.files) != 1:
                    raise ValueError(
                        f"{path} holds {len(f.files)} arrays ({', '.join(f.files)}); name one as '{path}:NAME'"
                    )
                name = f.files[0]
            data = f[name]
    else:
        raise ValueError(
            f"read_rows reads .npy and .npz files, not {path!r} (for CSV see fastmlp.data and "
            f"the CLI's data-parallel train)"
        )
    start, stop = block(data.shape[0], rank, size)
    return np.array(data[start:stop])


class SingleProcess:
    """The collectives of a one-process fit, each the obvious local thing: a sum over one process is its
    input, agreeing raises this process's own error, a broadcast leaves everything as it is, and the
    trainer needs no per-step reduce. The fit loop (fastmlp.train) talks to a collective whether or not
    the fit is data parallel; this one costs nothing and changes no value."""

    rank, size, comm = 0, 1, None
    pending_interrupt = False  # no other process to tell of a Ctrl-C: it is raised where it happens

    def deferred_interrupts(self) -> AbstractContextManager[None]:
        return nullcontext()

    def allgather(self, value: _T) -> list[_T]:
        return [value]

    def sum(self, values: ArrayLike) -> NDArray[np.float64]:
        return np.array(values, dtype=np.float64)

    def epoch_loss(self, loss: float, trainer: _core.Trainer) -> float:
        return loss  # the trainer's own mean over its rows

    def any(self, flag: object) -> bool:
        return bool(flag)

    def weighted_mean(self, value: float, weight: float, valid: bool = True) -> tuple[bool, float | None]:
        return bool(valid), (value if valid else None)

    def reduce_hook(self) -> Callable[[NDArray[Any]], None] | None:
        return None

    def broadcast(self, arrays: Iterable[NDArray[Any]]) -> None:
        pass

    def bcast(self, value: _T) -> _T:
        return value

    def agree(self, error: BaseException | None) -> None:
        if error is not None:
            raise error

    def check_same(self, what: Mapping[str, object]) -> None:
        pass

    def begin_steps(self) -> None:
        pass

    def mark_agreed(self, error: _E) -> _E:
        return error

    def abort_unless_agreed(self, error: BaseException) -> None:
        pass


class Collective:
    """The collectives one data-parallel fit uses, in one place: all-reduces of small values, the
    per-step gradient reduce, broadcasts of the parameters, and the agreement on failures. Each method
    is the MPI twin of SingleProcess's: every rank calls the same ones in the same order.

    Two rules keep a fit from hanging. An error is first agreed on (agree) and only then acted on, so
    every rank reaches the same collectives whatever failed where; an exception that reaches the fit
    loop without having been agreed on (this rank's alone, while the others wait in a collective it
    will never join) aborts the job at once (abort_unless_agreed). And every wait has a deadline
    (fastmlp._deadline): a rank that waits past it asks the others what they do and aborts the job
    with a message naming the ranks that did not answer."""

    def __init__(self, comm: MPI.Comm) -> None:
        self.MPI = _mpi()
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.pending_interrupt = False  # a Ctrl-C not yet told to the other ranks (see deferred_interrupts)
        self.stepping = False  # False: the start's deadline applies; True (begin_steps): the step's
        self.number = 0  # the collectives made so far (the same count on every rank)
        WATCHDOG.watch(self)

    def _wait(self, label: str, call: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """call(*args, **kwargs), a collective, under the deadline (see fastmlp._deadline)."""
        self.number += 1
        WATCHDOG.waiting = (self, label, time.monotonic(), self.number)
        try:
            return call(*args, **kwargs)
        finally:
            WATCHDOG.waiting = None

    def begin_steps(self) -> None:
        """From here on the steps' deadline applies (the fit's first collectives have the start's)."""
        self.stepping = True

    @contextmanager
    def deferred_interrupts(self) -> Iterator[None]:
        """While a fit runs, a Ctrl-C is only noted: the next step's reduce carries it in the step's
        status (so every rank stops after the same step, a few milliseconds later), or, between epochs,
        the next agree(). No rank leaves the fit while the others wait for it in a collective; the rank
        that was interrupted raises KeyboardInterrupt, the others RuntimeError."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            self.pending_interrupt = True

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def sum(self, values: ArrayLike) -> NDArray[np.float64]:
        a = np.array(values, dtype=np.float64)
        self._wait("a sum over the ranks (Allreduce)", self.comm.Allreduce, self.MPI.IN_PLACE, a, op=self.MPI.SUM)
        return a

    def epoch_loss(self, loss: float, trainer: _core.Trainer) -> float:
        """The epoch's mean loss over every rank's rows (loss: this rank's mean)."""
        loss_sum, seen = self.sum([trainer.epoch_loss_sum, trainer.epoch_rows])
        return float(loss_sum / seen) if seen else 0.0

    def any(self, flag: object) -> bool:
        return bool(self.sum([1.0 if flag else 0.0])[0] > 0)

    def weighted_mean(self, value: float, weight: float, valid: bool = True) -> tuple[bool, float | None]:
        """(valid on every rank, the mean of the ranks' values weighted by their weights, or None when
        some rank's is not valid), in one all-reduce. A rank of weight 0 adds nothing."""
        bad, total, count = self.sum([0.0 if valid else 1.0, value * weight if valid and weight else 0.0, weight])
        return (False, None) if bad else (True, total / count)

    def reduce_hook(self) -> Callable[[NDArray[Any]], None] | None:
        """The trainer's per-step reduce: an in-place SUM all-reduce of its flat gradient buffer."""
        comm, in_place, op, watch = self.comm, self.MPI.IN_PLACE, self.MPI.SUM, WATCHDOG
        label, clock = "a step's gradient reduce (Allreduce)", time.monotonic

        def reduce(buffer: NDArray[Any]) -> None:
            if self.pending_interrupt:  # the last value is the step's status: this rank stops all
                buffer[-1] += 1
            self.number += 1
            watch.waiting = (self, label, clock(), self.number)
            try:
                comm.Allreduce(in_place, buffer, op=op)
            finally:
                watch.waiting = None

        return reduce

    def broadcast(self, arrays: Iterable[NDArray[Any]]) -> None:
        for a in arrays:
            self._wait("a broadcast of rank 0's parameters (Bcast)", self.comm.Bcast, a, root=0)

    def bcast(self, value: _T) -> _T:
        return self._wait("a broadcast of rank 0's value (bcast)", self.comm.bcast, value, root=0)

    def mark_agreed(self, error: _E) -> _E:
        """error, marked as raised on every rank at once (a decision on values all ranks share)."""
        setattr(error, _AGREED, True)
        return error

    def abort_unless_agreed(self, error: BaseException) -> None:
        """Aborts the job when `error` was raised on this rank alone, outside an agreement: the other
        ranks wait (or will) in a collective this rank would never join, so nothing but an abort can
        end them. Agreed errors return, to be raised on every rank."""
        if getattr(error, _AGREED, False):
            return
        detail = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        sys.stderr.write(
            f"{detail}fastmlp: data-parallel fit: rank {self.rank} raised {type(error).__name__} "
            f"outside the points where the ranks agree on errors, so the others cannot learn of "
            f"it; aborting the job.\n"
        )
        abort_job(self.comm, 1)

    def agree(self, error: BaseException | None) -> None:
        """Every rank passes the exception it hit (or None); if any rank failed, every rank raises: its
        own exception where it failed, a RuntimeError naming the failed ranks elsewhere. A Ctrl-C kept by
        deferred_interrupts counts as this rank's failure."""
        if error is None and self.pending_interrupt:
            self.pending_interrupt = False
            error = KeyboardInterrupt("Ctrl-C on this rank")
        reports = self._wait(
            "the agreement on errors (allgather)",
            self.comm.allgather,
            None if error is None else f"{type(error).__name__}: {error}",
        )
        failed = [(r, m) for r, m in enumerate(reports) if m is not None]
        if not failed:
            return
        if error is not None:
            raise self.mark_agreed(error)
        detail = "; ".join(f"rank {r}: {m}" for r, m in failed[:4])
        raise self.mark_agreed(
            RuntimeError(
                f"data-parallel fit: {len(failed)} of {self.size} rank(s) failed, so every rank stops ({detail})"
            )
        )

    def allgather(self, value: _T) -> list[_T]:
        """Every rank's value, in rank order."""
        return self._wait("an allgather", self.comm.allgather, value)

    def check_same(self, what: Mapping[str, object]) -> None:
        """Raises on every rank, naming the ranks and keys that differ, unless `what` (a dict of plain
        values) is the same on all ranks."""
        everyone = self._wait("the comparison of the ranks' fit arguments (allgather)", self.comm.allgather, what)
        diffs: list[str] = []
        for r, other in enumerate(everyone):
            for key in sorted(set(other) | set(everyone[0])):
                if other.get(key) != everyone[0].get(key):
                    diffs.append(f"{key} is {everyone[0].get(key)!r} on rank 0 but {other.get(key)!r} on rank {r}")
        if diffs:
            raise self.mark_agreed(
                ValueError(
                    "data-parallel fit: the ranks disagree on the fit ("
                    + "; ".join(diffs[:4])
                    + "); every rank must build the same network and call fit with the same arguments"
                )
            )


if TYPE_CHECKING:
    # The collectives of a fit, one process's or a data-parallel fit's (fastmlp.fitting.collective).
    FitCollective = SingleProcess | Collective
