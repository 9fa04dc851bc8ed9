"""How large a mini-batch fits in memory: "make mini-batches as large as the GPU allows".

A fit holds the model's parameters and the optimizer's state (NumPy arrays in host memory) and a
trainer, which allocates everything else once per fit. The trainer's bytes come from the C++ side
(fastmlp._core.trainer_bytes, the same plan the trainer follows; tests check it against the bytes a
trainer reports once made):
  on the CPU:   per part of a batch (a batch of 64+ rows may be cut in two parts computed side by side),
                every layer's output, two gradient buffers as wide as the widest layer, the gathered
                input and target rows, and a gradient per parameter; transposed copies of the small
                layers' weights; the epoch's order when shuffling (8 bytes a sample);
  on CUDA:      all of that for one part, plus the device copies of the parameters and optimizer state
                and of the whole data set (n x (in + out)); the GEMM's split-K scratch comes on top.
max_batch_size finds the largest batch whose bytes stay within safety x budget.
"""

from __future__ import annotations

import os

from . import _core
from .ops import resolve_device

__all__ = ["max_batch_size", "training_bytes"]


def training_bytes(model, batch_size, *, n_samples=None, optimizer=None, device=None, shuffle=True,
                   drop_last=False):
    """Bytes a fit of `model` with this batch size takes in the memory of `device` (host memory for
    "cpu", device memory for "cuda"): see the module text. Without n_samples the data set is taken to
    hold two batches (its size matters on CUDA, where it is copied to the device, and for the order)."""
    device = resolve_device(model.device if device is None else device)
    batch = int(batch_size)
    if batch < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    n = 2 * batch if n_samples is None else int(n_samples)
    sizes = [w.shape[0] for w in model.weights] + [model.weights[-1].shape[1]]
    states = len(optimizer.state_names()) if optimizer is not None else 0
    dtype = str(model.dtype)
    held = _core.trainer_bytes(sizes, dtype, n, batch, bool(shuffle), bool(drop_last), states, device)
    if device == "cuda":
        return held + _core.cuda_gemm_scratch_bytes(dtype)
    params = sum(w.nbytes + b.nbytes for w, b in zip(model.weights, model.biases))
    return held + params * (1 + states)


def _available_host_bytes():
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not POSIX: assume a modest 4 GiB
        return 4 << 30


def max_batch_size(model, device=None, *, n_samples=None, optimizer=None, memory_budget=None, safety=0.8):
    """The largest batch size whose training workspaces (activations, gradients, optimizer state and,
    on CUDA, the data set) fit in `safety` x the memory budget.

    The budget is `memory_budget` bytes when given; otherwise the free memory of the GPU
    (cudaMemGetInfo) for device="cuda", and the available physical memory for "cpu". With n_samples
    the answer is at most n_samples (a larger batch is the full batch). Raises MemoryError when not
    even a batch of one fits.
    """
    device = resolve_device(model.device if device is None else device)
    if not (0.0 < float(safety) <= 1.0):
        raise ValueError(f"safety must be in (0, 1], got {safety!r}")
    if n_samples is not None and (isinstance(n_samples, bool) or int(n_samples) < 1):
        raise ValueError(f"n_samples must be an int >= 1, got {n_samples!r}")
    if memory_budget is None:
        memory_budget = _core.cuda_memory_info()[0] if device == "cuda" else _available_host_bytes()
    elif isinstance(memory_budget, bool) or not float(memory_budget) > 0:
        raise ValueError(f"memory_budget must be a positive number of bytes, got {memory_budget!r}")
    n = None if n_samples is None else int(n_samples)
    budget = float(safety) * float(memory_budget)

    def fits(rows):
        return training_bytes(model, rows, n_samples=n, optimizer=optimizer, device=device) <= budget

    if not fits(1):
        need = training_bytes(model, 1, n_samples=n, optimizer=optimizer, device=device)
        raise MemoryError(f"not even a batch of 1 fits: training needs {need} bytes for it, and the budget is "
                          f"{safety} x {int(memory_budget)} bytes on {device}")
    lo, hi = 1, 2  # the bytes grow with the batch: double, then bisect for the largest that fits
    while fits(hi):
        if n and hi >= n:
            return n
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # lo fits, hi does not
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return min(lo, n) if n else lo
