"""fastmlp.max_batch_size and fit(batch_size="max"): the memory model matches what the trainer really
allocates (peak RSS of a child process), the answer respects the budget, and "max" trains."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastmlp
from fastmlp.memory import training_bytes
from helpers import UNDER_ASAN


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
    with pytest.raises(ValueError, match="'max'"):
        model.fit(x, y, batch_size="min")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.skipif(
    UNDER_ASAN,
    reason="under AddressSanitizer (tools/sanitize.sh) redzones and the quarantine inflate RSS",
)
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
        print(grown / (training_bytes(model, B, n_samples=B) - training_bytes(model, 8, n_samples=8)))
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
    assert big >= 1 and training_bytes(model, big) <= 0.8 * free
    x = np.random.default_rng(0).standard_normal((1 << 18, 64)).astype(np.float32)
    y = x[:, :1] ** 2
    hist = model.fit(x, y, batch_size="max", epochs=2, optimizer=fastmlp.optim.SGD(lr=1e-3))
    assert np.all(np.isfinite(hist.history["loss"]))


def _options(batch_size, shuffle, drop_last, optimizer=None, device="cpu", loss="mse"):
    config = (optimizer or fastmlp.optim.SGD()).config()
    return fastmlp._core.TrainOptions(
        loss=loss, optimizer=config, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, seed=0, device=device
    )


def _planned(sizes, n, batch_size, shuffle, drop_last, optimizer=None, dtype="float32", activations=None, **kw):
    """_core.trainer_bytes of a network of ReLU layers (or these activations) under _options(...)."""
    activations = ["relu"] * (len(sizes) - 1) if activations is None else list(activations)
    return fastmlp._core.trainer_bytes(
        sizes, dtype, activations, n, _options(batch_size, shuffle, drop_last, optimizer, **kw)
    )


def _trainer(model, x, y, optimizer, batch_size, shuffle, drop_last, device="cpu"):
    state = model._optimizer_state_for(optimizer)
    return fastmlp._core.Trainer(
        model.weights,
        model.biases,
        model.activations,
        model.negative_slope,
        state["w"],
        state["b"],
        x,
        y,
        _options(batch_size, shuffle, drop_last, optimizer, device),
    )


def _plan_cases():
    # Shapes on both sides of every rule of the plan: a batch cut in two parts (64+ rows, 65536+
    # multiply-adds, no product of 2^27 or more), a last batch cut when a full one is not, a dropped
    # last batch, transposed copies of small layers, gathering only when shuffling a part of the data.
    yield [1, 1], 15, 0, True, False
    yield [16, 64, 64, 1], 1000, 128, True, False
    yield [16, 64, 64, 1], 1000, 128, False, False
    yield [16, 64, 64, 1], 1000, 1000, True, False
    yield [16, 64, 64, 1], 1000, 63, True, True
    yield [3, 200, 5], 1000, 400, True, False  # two parts of 200 rows, layer 1 transposed
    yield [3, 200, 5], 300, 200, True, False  # the last 100 rows are cut, the full 200 are too
    yield [64, 700, 700, 2], 600, 500, True, False  # parts of 250 rows; 250*700*700 >= 128^3: no copy
    yield [512, 1024, 8], 300, 256, True, False  # 256*512*1024 = 2^27: one part
    yield [512, 1024, 8], 300, 256, True, True  # and the dropped last batch is never cut
    yield [512, 1024, 8], 600, 256, True, False  # the last 88 rows are cut in two


@pytest.mark.parametrize("activation", ["relu", "gelu"])  # gelu: training keeps z too, a second buffer per layer
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", list(_plan_cases()), ids=lambda c: f"{c[0]}-n{c[1]}-b{c[2]}-s{int(c[3])}d{int(c[4])}")
def test_trainer_bytes_is_what_the_trainer_allocates(case, dtype, activation):
    sizes, n, batch, shuffle, drop_last = case
    model = fastmlp.MLP(sizes, dtype=dtype, seed=0, activation=activation, output_activation=activation)
    x = np.zeros((n, sizes[0]), dtype)
    y = np.zeros((n, sizes[-1]), dtype)
    for optimizer in (fastmlp.optim.SGD(lr=0.1), fastmlp.optim.Adam()):
        trainer = _trainer(model, x, y, optimizer, batch, shuffle, drop_last)
        states = len(optimizer.state_names())
        planned = _planned(sizes, n, batch, shuffle, drop_last, optimizer, dtype, model.activations)
        assert planned == trainer.allocated_bytes, (planned, trainer.allocated_bytes)
        params = sum(w.nbytes + b.nbytes for w, b in zip(model.weights, model.biases))
        assert training_bytes(
            model, batch or n, n_samples=n, optimizer=optimizer, shuffle=shuffle, drop_last=drop_last
        ) == planned + 3 * params * (1 + states)


@pytest.mark.parametrize(
    "loss",
    [
        {"name": "mse", "weighted": True},
        {"name": "cross_entropy", "labels": True},
        {"name": "cross_entropy", "labels": True, "weighted": True},
    ],
    ids=["weighted", "labels", "labels-weighted"],
)
def test_trainer_bytes_follows_the_targets_layout(loss):
    # Gathered target rows are as wide as the loss lays the targets out: one column of class labels,
    # one more for a sample weight.
    sizes, n, batch = [5, 16, 3], 300, 64
    model = fastmlp.MLP(sizes, seed=0)
    cols = (1 if loss.get("labels") else 3) + (1 if loss.get("weighted") else 0)
    x, y = np.zeros((n, 5), np.float32), np.zeros((n, cols), np.float32)
    opt = fastmlp.optim.SGD(lr=0.1)
    state = model._optimizer_state_for(opt)
    options = fastmlp._core.TrainOptions(
        loss=loss, optimizer=opt.config(), batch_size=batch, shuffle=True, drop_last=False, seed=0
    )
    trainer = fastmlp._core.Trainer(
        model.weights, model.biases, model.activations, model.negative_slope, state["w"], state["b"], x, y, options
    )
    planned = _planned(sizes, n, batch, True, False, opt, activations=model.activations, loss=loss)
    assert planned == trainer.allocated_bytes, (planned, trainer.allocated_bytes)


def test_the_plan_follows_the_rules():
    # Concrete numbers for one network, worked by hand: 16-64-64-1 float32, a batch of 128 of 1000 rows.
    item, widths, widest, params = 4, 64 + 64 + 1, 64, 16 * 64 + 64 + 64 * 64 + 64 + 64 + 1
    part = lambda rows, gathered: rows * (widths + 2 * widest + gathered) + params  # noqa: E731
    transposed = 64 * 64 + 64  # layers 1 and 2 (64 rows x 64 x 64 < 128^3)
    n = 1000
    want = item * (part(128, 17) + part(64, 17) + transposed) + 8 * n
    assert _planned([16, 64, 64, 1], n, 128, True, False) == want
    # Not shuffled: nothing gathered, no order. 63 rows: never cut (the last 55 neither).
    assert _planned([16, 64, 64, 1], n, 128, False, False) == item * (part(128, 0) + part(64, 0) + transposed)
    assert _planned([16, 64, 64, 1], n, 63, False, False) == item * (part(63, 0) + transposed)
    with pytest.raises(ValueError, match="sizes"):
        _planned([16], n, 63, False, False, activations=[])
    with pytest.raises(ValueError, match="n must be"):
        _planned([16, 1], 0, 63, False, False)
    # Counted exactly as long as the bytes fit 64 bits, refused (not wrapped) past that.
    big = 1 << 40  # 16-2^40-1 float32, 10 rows, one batch: 18 * 2^40 + 1 parameters
    params = 16 * big + big + big + 1
    assert _planned([16, big, 1], 10, 10, False, False) == 4 * (10 * (big + 1 + 2 * big) + params)
    with pytest.raises(ValueError, match="64-bit"):
        _planned([16, 1 << 62, 1], 10, 10, False, False)
    with pytest.raises(ValueError, match="64-bit"):
        _planned([16, 1 << 30, 1], 1 << 40, 1 << 40, False, False)
    with pytest.raises(ValueError, match="64-bit"):
        training_bytes(fastmlp.MLP([16, 1]), 1 << 60)


def test_training_bytes_counts_a_billion_parameter_model():
    # 0.9 G parameters: counted (the fit's MemoryError can then say how much it needed), not refused.
    # One 300M-wide hidden layer: every batch row holds 3 x 300M floats (its output, two gradient rows).
    wide = 300_000_000
    params = wide + wide + wide + 1
    n, batch = 64, 32
    got = _planned([1, wide, 1], n, batch, False, False, fastmlp.optim.Adam())
    assert got == 4 * (batch * (wide + 1 + 2 * wide) + params), got


@pytest.mark.cuda
@pytest.mark.skipif(not fastmlp.cuda_available(), reason="needs a CUDA build of fastmlp and a CUDA device")
@pytest.mark.parametrize("activation", ["relu", "gelu"])  # gelu: the GEMM path, keeping z
@pytest.mark.parametrize("case", list(_plan_cases())[:6], ids=lambda c: f"{c[0]}-n{c[1]}-b{c[2]}-s{int(c[3])}")
def test_cuda_trainer_bytes_is_what_the_trainer_allocates(case, activation):
    sizes, n, batch, shuffle, drop_last = case
    model = fastmlp.MLP(sizes, seed=0, device="cuda", activation=activation, output_activation=activation)
    x = np.zeros((n, sizes[0]), np.float32)
    y = np.zeros((n, sizes[-1]), np.float32)
    for optimizer in (fastmlp.optim.SGD(lr=0.1), fastmlp.optim.Adam()):
        trainer = _trainer(model, x, y, optimizer, batch, shuffle, drop_last, device="cuda")
        planned = _planned(sizes, n, batch, shuffle, drop_last, optimizer, activations=model.activations, device="cuda")
        assert planned == trainer.allocated_bytes, (planned, trainer.allocated_bytes)
        assert training_bytes(
            model, batch or n, n_samples=n, optimizer=optimizer, shuffle=shuffle, drop_last=drop_last
        ) == planned + fastmlp._core.cuda_gemm_scratch_bytes("float32")


def test_freed_workspaces_are_kept_for_the_next_fit_within_a_bound():
    # A fit's large buffers go back to a cache (fastmlp/block_cache.h), so the next fit of that shape
    # touches no fresh pages; what the cache keeps stays within 64 MiB however many shapes come by.
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((331, 10)), rng.standard_normal(331)
    fastmlp.MLP([10, 100, 1], dtype="float64").fit(x, y, batch_size=200, epochs=1)
    kept = fastmlp._core.workspace_cache_bytes()
    assert kept >= 200 * 100 * 8, kept  # at least the layer outputs of the batch
    fastmlp.MLP([10, 100, 1], dtype="float64").fit(x, y, batch_size=200, epochs=1)
    assert fastmlp._core.workspace_cache_bytes() == kept  # the same blocks, taken and given back
    for width in range(100, 3000, 97):
        fastmlp.MLP([10, width, 1]).fit(x, y, batch_size=331, epochs=1)
        assert fastmlp._core.workspace_cache_bytes() <= 64 << 20
