"""How large a mini-batch fits in memory: "make mini-batches as large as the GPU allows".

A fit holds the model's parameters and the optimizer's state (NumPy arrays in host memory) and a
trainer, which allocates everything else once per fit. The trainer's bytes come from the C++ side
(fastmlp._core.trainer_bytes, the same plan the trainer follows; tests check it against the bytes a
trainer reports once made)::

  on the CPU:   the parameters and optimizer state, and fit's two copies of them; per part of a batch
                (a batch of 64+ rows may be cut in two parts computed side by side), every layer's
                output, two gradient buffers as wide as the widest layer, the gathered input and
                target rows, and a gradient per parameter; transposed copies of the small layers'
                weights; the epoch's order when shuffling (8 bytes a sample);
  on CUDA:      all of that for one part, plus the device copies of the parameters and optimizer state
                and of the whole data set (n x (in + out)); the GEMM's split-K scratch comes on top.

max_batch_size finds the largest batch whose bytes stay within safety x budget.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from . import _core
from .ops import resolve_device
from .optim import SGD

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import DTypeLike, NDArray

    from ._core import LossArg
    from .model import MLP
    from .optim import Optimizer

__all__ = ["max_batch_size", "training_bytes", "fit_bytes", "available_memory"]


def training_bytes(
    model: MLP,
    batch_size: int,
    *,
    n_samples: int | None = None,
    optimizer: Optimizer | None = None,
    device: str | None = None,
    shuffle: bool = True,
    drop_last: bool = False,
    global_rows: int = 0,
    loss: LossArg = "mse",
) -> int:
    """Bytes a fit of `model` with this batch size takes in the memory of `device`.

    That is host memory for "cpu", device memory for "cuda"; the module text lists what is counted.

    Parameters
    ----------
    model : MLP
        The model to fit.
    batch_size : int
        The batch size (>= 1).
    n_samples : int, optional
        The rows of the data set. Without it the data set is taken to hold two batches (its size
        matters on CUDA, where it is copied to the device, and for the order).
    optimizer : fastmlp.optim.Optimizer, optional
        The fit's optimizer, whose state buffers count; default SGD().
    device : {"cpu", "cuda", "auto"}, optional
        The device to count for; default the model's.
    shuffle : bool, default True
        Whether the fit shuffles (the epoch's order takes 8 bytes a sample).
    drop_last : bool, default False
        Whether the fit drops the last short batch.
    global_rows : int, default 0
        A data-parallel fit's global row count (n_samples is then this process's rows); 0 for one
        process.
    loss : str or dict, default "mse"
        The trainer's loss spec (fastmlp.targets), whose layout sets the width of the gathered
        targets.

    Returns
    -------
    int
        The bytes.

    Raises
    ------
    ValueError
        If batch_size is below 1.
    RuntimeError
        If device="cuda" where CUDA cannot be used.

    Examples
    --------
    >>> import fastmlp
    >>> from fastmlp import memory
    >>> model = fastmlp.MLP([10, 64, 1])
    >>> memory.training_bytes(model, 256) > memory.training_bytes(model, 32)
    True
    >>> adam = fastmlp.optim.Adam()  # two state buffers per parameter instead of none
    >>> memory.training_bytes(model, 32, optimizer=adam) > memory.training_bytes(model, 32)
    True
    """
    device = resolve_device(model.device if device is None else device)
    batch = int(batch_size)
    if batch < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    n = 2 * batch if n_samples is None else int(n_samples)
    config = (SGD() if optimizer is None else optimizer).config()
    options = _core.TrainOptions(
        loss=loss,
        optimizer=config,
        batch_size=batch,
        shuffle=bool(shuffle),
        drop_last=bool(drop_last),
        device=device,
        global_rows=int(global_rows),
        reduce=_planning_only if global_rows else None,
        dropout=list(getattr(model, "dropout", [])),
    )
    return fit_bytes(model, n, options)


def _planning_only(buffer: NDArray[Any]) -> NoReturn:
    raise AssertionError("a trainer made only to count its bytes does not train")


def fit_bytes(model: MLP, n: int, options: _core.TrainOptions) -> int:
    """Bytes a fit of `model` over n rows with these trainer options takes.

    The trainer's buffer plan (fastmlp._core.trainer_bytes), and on the CPU the parameters and
    optimizer state, three times over (see the module text); on CUDA, the GEMM's scratch.

    Parameters
    ----------
    model : MLP
        The model to fit.
    n : int
        This process's rows.
    options : fastmlp._core.TrainOptions
        The trainer's options (loss, optimizer, batch size, device, ...).

    Returns
    -------
    int
        The bytes.

    Raises
    ------
    ValueError
        If the trainer refuses the options.

    See Also
    --------
    training_bytes : The same count from fit's arguments.
    """
    sizes = [w.shape[0] for w in model.weights] + [model.weights[-1].shape[1]]
    dtype = str(model.dtype)
    held = _core.trainer_bytes(sizes, dtype, list(model.activations), int(n), options)
    if options.device == "cuda":
        return held + _core.cuda_gemm_scratch_bytes(dtype)
    # The parameters and optimizer state themselves, and fit's two copies of them (the weights from
    # before the fit and the last finite epoch's, which it restores after a divergence or Ctrl-C).
    states = len(_core.optimizer_states(options.optimizer))
    params = sum(w.nbytes + b.nbytes for w, b in zip(model.weights, model.biases))
    return held + 3 * params * (1 + states)


def available_memory() -> int:
    """Bytes of host memory this process can still take.

    The kernel's MemAvailable, or less where a container's memory limit (cgroup v1 or v2) or the
    process's address-space limit (RLIMIT_AS, ``ulimit -v``) leaves less. A container's limit is not
    visible to the host's free-memory figures, and going past it gets the process killed, not a
    MemoryError. Where /proc/meminfo cannot be read, the free physical pages are counted, and without
    those either 4 GiB is assumed.

    Returns
    -------
    int
        The bytes.

    Examples
    --------
    >>> from fastmlp import memory
    >>> memory.available_memory() > 0
    True
    """
    left = [_host_available(), cgroup_available(), address_space_available()]
    return min(v for v in left if v is not None)


def address_space_available(status: str = "/proc/self/status") -> int | None:
    """The address space this process may still map under RLIMIT_AS, in bytes (the limit less VmSize);
    None where no limit is set or it cannot be read."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError, AttributeError):
        return None
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    used = 0
    try:
        with open(status) as f:
            for line in f:
                if line.startswith("VmSize:"):
                    used = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    return max(0, soft - used)


def _host_available() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not POSIX: assume a modest 4 GiB
        return 4 << 30


_V1_UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as a number near 2^63


def cgroup_available(proc_cgroup: str = "/proc/self/cgroup", root: str = "/sys/fs/cgroup") -> int | None:
    """The least memory left under any cgroup limit that applies to this process (its own group and
    every group above it, v1 and v2), in bytes; None when no limit is set or none can be read. Page
    cache the kernel would reclaim first (inactive file pages) counts as available."""
    try:
        with open(proc_cgroup) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    best: int | None = None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # v2: memory.max in the unified hierarchy
            mounts, files = [root, os.path.join(root, "unified")], ("memory.max", "memory.current", "inactive_file")
        elif "memory" in controllers.split(","):
            mounts = [os.path.join(root, "memory")]
            files = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
        else:
            continue
        for mount in mounts:
            for directory in _cgroup_dirs(mount, path):
                left = _cgroup_left(directory, *files)
                if left is not None:
                    best = left if best is None else min(best, left)
    return best


def _cgroup_dirs(mount: str, path: str) -> list[str]:
    """The group's directory and its ancestors up to the mount. Inside a container the group's path
    (from the host's view) may not exist in the container's mount, whose root is then its own group."""
    if not os.path.isdir(mount):
        return []
    parts = [p for p in path.strip("/").split("/") if p and p != ".."]
    dirs = [os.path.join(mount, *parts[:i]) for i in range(len(parts), 0, -1)]
    return [d for d in dirs if os.path.isdir(d)] + [mount]


def _cgroup_left(directory: str, limit_file: str, usage_file: str, inactive_key: str) -> int | None:
    try:
        with open(os.path.join(directory, limit_file)) as f:
            text = f.read().strip()
    except OSError:
        return None
    if text == "max" or not text.isdigit() or int(text) >= _V1_UNLIMITED:
        return None
    limit = int(text)
    try:
        with open(os.path.join(directory, usage_file)) as f:
            usage = int(f.read().strip())
    except (OSError, ValueError):
        return limit
    inactive = 0
    try:
        with open(os.path.join(directory, "memory.stat")) as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key == inactive_key:
                    inactive = int(value)
                    break
    except (OSError, ValueError):
        pass
    return max(0, limit - max(0, usage - inactive))


_SMALL = 64 << 20  # allocations this small are not checked against the memory left (see check_fit_memory)


def check_parameter_memory(sizes: Sequence[int], dtype: DTypeLike) -> None:
    """MemoryError before a network whose parameters cannot fit is allocated (and slowly written)."""
    count = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    need = count * np.dtype(dtype).itemsize
    if need < 64 << 20:
        return  # small enough not to be worth reading the limits
    left = available_memory()
    if need > left:
        raise MemoryError(
            f"MLP({sizes}) has {count:,} parameters: {need / 2**30:.3g} GiB of {np.dtype(dtype).name}, "
            f"more than the {left / 2**30:.3g} GiB of memory available to this process"
        )


def check_fit_memory(model: MLP, n: int, options: _core.TrainOptions) -> None:
    """Raises MemoryError, before anything is allocated, when what a CPU fit of n rows with these trainer
    options allocates (fit_bytes less the parameters and state that exist already) is more than the
    memory left to this process."""
    if model.device != "cpu":
        return  # the device's allocator answers for device memory: a failed cudaMalloc is a MemoryError
    try:
        total = fit_bytes(model, n, options)
    except ValueError as e:
        raise MemoryError(f"fit: {e}") from None
    params = sum(w.nbytes + b.nbytes for w, b in zip(model.weights, model.biases))
    need = total - params * (1 + len(_core.optimizer_states(options.optimizer)))
    if need < _SMALL:
        return  # reading the limits costs more than such a fit's allocation can risk
    left = available_memory()
    if need > left:
        batch = options.batch_size or n
        raise MemoryError(
            f"fit: not enough host memory: the fit needs {need / 2**30:.3g} GiB for batch_size={batch} "
            f"but only {left / 2**30:.3g} GiB are available to this process (container limits "
            f"included); use a smaller batch (fastmlp.max_batch_size(model) gives the largest that "
            f"fits) or a smaller network"
        )


def max_batch_size(
    model: MLP,
    device: str | None = None,
    *,
    n_samples: int | None = None,
    optimizer: Optimizer | None = None,
    memory_budget: float | None = None,
    safety: float = 0.8,
) -> int:
    """The largest batch size whose training workspaces fit in `safety` x the memory budget.

    The workspaces are the activations, gradients, optimizer state and, on CUDA, the data set (see
    `training_bytes`). The budget is `memory_budget` bytes when given; otherwise the free memory of the
    GPU (cudaMemGetInfo) for device="cuda", and for "cpu" the memory available to this process
    (available_memory: the host's, or less under a container's cgroup limit or RLIMIT_AS).
    MLP.fit(batch_size="max") uses it.

    Parameters
    ----------
    model : MLP
        The model to fit.
    device : {"cpu", "cuda", "auto"}, optional
        The device whose memory counts; default the model's.
    n_samples : int, optional
        The rows of the data set (>= 1): the answer is then at most n_samples (a larger batch is the
        full batch).
    optimizer : fastmlp.optim.Optimizer, optional
        The fit's optimizer; default SGD().
    memory_budget : float, optional
        The budget in bytes (> 0); default the free memory, as above.
    safety : float, default 0.8
        The fraction of the budget the workspaces may take, in (0, 1].

    Returns
    -------
    int
        The batch size.

    Raises
    ------
    MemoryError
        When not even a batch of one fits.
    ValueError
        If safety, n_samples or memory_budget is out of range.
    RuntimeError
        If device="cuda" where CUDA cannot be used.

    Examples
    --------
    >>> import fastmlp
    >>> from fastmlp import memory
    >>> model = fastmlp.MLP([10, 64, 1])
    >>> batch = fastmlp.max_batch_size(model, memory_budget=2**20)
    >>> memory.training_bytes(model, batch) <= 0.8 * 2**20 < memory.training_bytes(model, batch + 1)
    True
    >>> fastmlp.max_batch_size(model, n_samples=100, memory_budget=2**30)
    100
    """
    device = resolve_device(model.device if device is None else device)
    if not (0.0 < float(safety) <= 1.0):
        raise ValueError(f"safety must be in (0, 1], got {safety!r}")
    if n_samples is not None and (isinstance(n_samples, bool) or int(n_samples) < 1):
        raise ValueError(f"n_samples must be an int >= 1, got {n_samples!r}")
    if memory_budget is None:
        memory_budget = _core.cuda_memory_info()[0] if device == "cuda" else available_memory()
    elif isinstance(memory_budget, bool) or not float(memory_budget) > 0:
        raise ValueError(f"memory_budget must be a positive number of bytes, got {memory_budget!r}")
    n = None if n_samples is None else int(n_samples)
    budget = float(safety) * float(memory_budget)

    def fits(rows: int) -> bool:
        return training_bytes(model, rows, n_samples=n, optimizer=optimizer, device=device) <= budget

    if not fits(1):
        need = training_bytes(model, 1, n_samples=n, optimizer=optimizer, device=device)
        raise MemoryError(
            f"not even a batch of 1 fits: training needs {need} bytes for it, and the budget is "
            f"{safety} x {int(memory_budget)} bytes on {device}"
        )
    lo, hi = 1, 2  # the bytes grow with the batch: double, then bisect for the largest that fits
    while fits(hi):
        if n and hi >= n:
            return n
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # lo fits, hi does not
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return min(lo, n) if n else lo
