"""fastmlp.max_batch_size and fit(batch_size="max"): the memory model matches what the trainer really
allocates (peak RSS of a child process), the answer respects the budget, and "max" trains."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastmlp
from fastmlp.memory import training_bytes


def test_max_batch_size_is_the_largest_that_fits_the_budget():
    model = fastmlp.MLP([16, 64, 64, 1], seed=0)
    opt = fastmlp.optim.Adam()
    for batch in (2, 7, 745, 100_000):
        budget = training_bytes(model, batch, optimizer=opt) / 0.8
        assert fastmlp.max_batch_size(model, memory_budget=budget, optimizer=opt) == batch
        assert fastmlp.max_batch_size(model, memory_budget=budget - 1, optimizer=opt) == batch - 1
    assert fastmlp.max_batch_size(model, memory_budget=1 << 30, n_samples=1000) == 1000
    # More optimizer state, a wider network or float64 leave room for fewer rows.
    small = fastmlp.max_batch_size(model, memory_budget=1 << 24)
    assert fastmlp.max_batch_size(model, memory_budget=1 << 24, optimizer=opt) < small
    assert fastmlp.max_batch_size(fastmlp.MLP([16, 64, 64, 1], dtype="float64"), memory_budget=1 << 24) < small
    assert fastmlp.max_batch_size(model) >= 1  # the machine's available memory


def test_max_batch_size_refuses_what_cannot_fit_and_bad_arguments():
    model = fastmlp.MLP([16, 64, 64, 1], seed=0)
    with pytest.raises(MemoryError, match="not even a batch of 1"):
        fastmlp.max_batch_size(model, memory_budget=1000)
    for kw in ({"memory_budget": 0}, {"memory_budget": -5}, {"safety": 0}, {"safety": 1.5}, {"n_samples": 0}):
        with pytest.raises(ValueError):
            fastmlp.max_batch_size(model, **kw)


def test_fit_with_batch_size_max():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    model = fastmlp.MLP([3, 1], seed=0)
    hist = model.fit(x, y, batch_size="max", epochs=50, optimizer=fastmlp.optim.SGD(lr=0.1))
    assert hist.params["batch_size"] is None and hist.params["steps"] == 1  # 500 rows fit: full batch
    # Full-batch gradient descent, the same as asking for it.
    other = fastmlp.MLP([3, 1], seed=0)
    want = other.fit(x, y, batch_size=None, epochs=50, optimizer=fastmlp.optim.SGD(lr=0.1))
    assert hist.history["loss"] == want.history["loss"]
    with pytest.raises(TypeError, match="'max'"):
        model.fit(x, y, batch_size="min")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="under AddressSanitizer (tools/sanitize.sh) redzones and the quarantine inflate RSS")
def test_the_memory_model_matches_the_trainers_allocation():
    # Peak RSS of a fresh process around one fit with a large batch: the trainer's workspaces are what
    # training_bytes says per batch row (parameters' gradients were already allocated by a warm-up fit).
    # VmHWM, not ru_maxrss: the latter keeps the parent's peak across fork and exec.
    code = textwrap.dedent("""
        import numpy as np
        import fastmlp
        from fastmlp.memory import training_bytes
        model = fastmlp.MLP([16, 2048, 2048, 1], seed=0)
        B = 4096
        x = np.random.default_rng(0).standard_normal((B, 16)).astype(np.float32)
        y = x[:, :1].copy()
        model.fit(x[:8], y[:8], batch_size=8, epochs=1)
        def peak():
            with open("/proc/self/status") as f:
                return 1024 * int(next(line for line in f if line.startswith("VmHWM:")).split()[1])
        before = peak()
        model.fit(x, y, batch_size=B, epochs=1)
        grown = peak() - before
        print(grown / (training_bytes(model, B) - training_bytes(model, 1)))  # B - 1 rows
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    ratio = float(out.stdout)
    assert 0.85 <= ratio <= 1.1, f"peak RSS grew by {ratio:.3f} x the modelled per-row workspace"


@pytest.mark.cuda
@pytest.mark.skipif(not fastmlp.cuda_available(), reason="needs a CUDA build of fastmlp and a CUDA device")
def test_cuda_max_batch_size_trains_within_device_memory():
    free, total = fastmlp._core.cuda_memory_info()
    model = fastmlp.MLP([64, 64, 64, 64, 64, 1], seed=0, device="cuda")
    big = fastmlp.max_batch_size(model)
    assert 1 <= big and training_bytes(model, big) <= 0.8 * free
    x = np.random.default_rng(0).standard_normal((1 << 18, 64)).astype(np.float32)
    y = x[:, :1] ** 2
    hist = model.fit(x, y, batch_size="max", epochs=2, optimizer=fastmlp.optim.SGD(lr=1e-3))
    assert np.all(np.isfinite(hist.history["loss"]))
