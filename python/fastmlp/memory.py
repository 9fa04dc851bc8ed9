"""How large a mini-batch fits in memory: "make mini-batches as large as the GPU allows".

The trainers (cpu/train_loop.cpp and cuda/train_loop.cu) allocate, once per fit:
  per batch row:  every layer's output (sum of the layer widths), two gradient buffers as wide as the
                  widest layer, and the gathered input and target rows (in + out);
  per parameter:  the parameter and its gradient, plus the optimizer's state buffers (and on the CPU a
                  transposed copy of the small layers' weights after the first);
  on the CPU, when a batch is cut in two parts computed side by side (parts_for in
  cpu/train_loop.cpp): a second workspace for half a batch and a second set of gradients;
  on CUDA also:   the whole data set (n x (in + out)), the epoch's order (n int64) and the split-K
                  workspace of the gradient products (at most 2^24 elements, kept per thread).
max_batch_size solves  fixed + rows * per_row <= safety * budget  for rows.
"""

from __future__ import annotations

import os

import numpy as np

from . import _core
from .ops import resolve_device

__all__ = ["max_batch_size", "training_bytes"]


def _layout(model):
    sizes = [w.shape[0] for w in model.weights] + [model.weights[-1].shape[1]]
    params = sum(w.size + b.size for w, b in zip(model.weights, model.biases))
    return sizes, params, np.dtype(model.dtype).itemsize


def training_bytes(model, batch_size, *, n_samples=0, optimizer=None, device=None):
    """Bytes the trainer allocates for a fit of `model` with this batch size (see the module text);
    n_samples counts only on CUDA, where the data set is copied to the device."""
    device = resolve_device(model.device if device is None else device)
    sizes, params, item = _layout(model)
    states = len(optimizer.state_names()) if optimizer is not None else 0
    per_row = item * (sum(sizes[1:]) + 2 * max(sizes) + sizes[0] + sizes[-1])
    fixed = item * params * (1 + states) + (item * params if device == "cuda" else 0)
    if device == "cpu":  # transposed copies of the small layers' weights (kSmallLayerProduct in cpu/train_loop.cpp)
        half = (int(batch_size) + 1) // 2
        fixed += item * sum(w.size for w in model.weights[1:] if half * w.size < 128.0 ** 3)
    if device == "cpu" and _cut_in_parts(sizes, batch_size):
        return fixed + item * params + int(batch_size) * per_row + (int(batch_size) + 1) // 2 * per_row
    if device == "cuda":
        fixed += n_samples * (item * (sizes[0] + sizes[-1]) + 8) + item * (1 << 24)
    return fixed + int(batch_size) * per_row


def _cut_in_parts(sizes, rows):
    """Whether the CPU trainer cuts a batch of `rows` in two parts (the rule of parts_for in
    cpu/train_loop.cpp: 64+ rows, 65536+ multiply-adds, no product of 2^27 or more)."""
    products = [float(rows) * a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return rows >= 64 and sum(products) >= 65536.0 and max(products) < 2.0 ** 27


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
    n = 0 if n_samples is None else int(n_samples)
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
