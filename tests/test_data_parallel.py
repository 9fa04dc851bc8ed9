"""The trainer's data-parallel mode without MPI: P trainers in P threads of one process, each with its
block of the rows, summing their gradients through a reduce hook built on a barrier. Checks the
step partition, the global scale and the per-step reduce on the CPU and (where a CUDA build runs, real
or emulated) on CUDA, whose gradients go through the host. The failure protocol is tested with real
processes in test_distributed.py."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import fastmlp
from fastmlp import _core
from fastmlp.distributed import block
from helpers import run_ranks

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.cuda,
            pytest.mark.skipif(not fastmlp.cuda_available(), reason="needs a CUDA build of fastmlp and a CUDA device"),
        ],
    ),
]


class ThreadAllReduce:
    """An in-place SUM all-reduce among `size` threads, summed in rank order."""

    def __init__(self, size):
        self.size, self.bufs = size, [None] * size
        self.barrier = threading.Barrier(size, timeout=60)

    def hook(self, rank):
        def reduce(buf):
            self.bufs[rank] = buf.copy()
            self.barrier.wait()
            total = self.bufs[0].copy()
            for other in self.bufs[1:]:
                total += other
            self.barrier.wait()
            buf[...] = total

        return reduce


def fit_in_threads(ranks, x, y, sizes, batch, epochs, device, dtype, shuffle=True, opt=None, dropout=()):
    n = x.shape[0]
    allreduce = ThreadAllReduce(ranks)
    models, trainers, errors = [], [], [None] * ranks
    opt = opt or fastmlp.optim.SGD(lr=0.05, momentum=0.9)
    for r in range(ranks):
        lo, hi = block(n, r, ranks)
        m = fastmlp.MLP(sizes, activation="tanh", seed=5, dtype=dtype, dropout=list(dropout) or 0.0)
        st = m._optimizer_state_for(opt)
        models.append(m)
        options = _core.TrainOptions(
            loss="mse",
            optimizer=opt.config(),
            batch_size=batch,
            shuffle=shuffle,
            seed=9,
            device=device,
            global_rows=n,
            row_offset=lo,
            reduce=allreduce.hook(r),
            dropout=list(dropout),
        )
        trainers.append(
            _core.Trainer(
                m.weights, m.biases, m.activations, m.negative_slope, st["w"], st["b"], x[lo:hi], y[lo:hi], options
            )
        )

    def work(r):
        step = 0
        try:
            for epoch in range(epochs):
                rates = np.full(trainers[r].steps_per_epoch, opt.lr)
                _, step, _ = trainers[r].run_epoch(epoch, rates, step)
        except Exception as e:
            errors[r] = e

    run_ranks(work, ranks)
    return models, errors


# SGD's momentum buffer, and NAdam, whose mu_product every rank derives from the step count it holds.
OPTIMIZERS = [
    pytest.param(fastmlp.optim.SGD(lr=0.05, momentum=0.9), id="sgd"),
    pytest.param(fastmlp.optim.NAdam(lr=0.01, weight_decay=0.01), id="nadam"),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("ranks", [2, 3])
@pytest.mark.parametrize("batch, shuffle", [(8, True), (5, False), (0, True)], ids=["shuffled", "ordered", "full"])
@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_threads_equal_one_process(device, ranks, batch, shuffle, opt):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((29, 4))
    y = np.sin(x[:, :2])
    sizes = [4, 8, 2]
    models, errors = fit_in_threads(ranks, x, y, sizes, batch, 3, device, "float64", shuffle, opt)
    assert errors == [None] * ranks, errors
    one = fastmlp.MLP(sizes, activation="tanh", seed=5, dtype="float64")
    one.fit(x, y, optimizer=opt, batch_size=batch or None, epochs=3, shuffle=shuffle, seed=9)
    for m in models[1:]:  # every rank: the same bits
        assert all(a.tobytes() == c.tobytes() for (a, _), (c, _) in zip(m.get_weights(), models[0].get_weights()))
    for (w, b), (w1, b1) in zip(models[0].get_weights(), one.get_weights()):
        np.testing.assert_allclose(w, w1, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(b, b1, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("batch, shuffle", [(8, True), (5, False), (0, True)], ids=["shuffled", "ordered", "full"])
def test_dropout_over_ranks_draws_the_one_process_masks(device, batch, shuffle):
    # Each rank masks its rows by their place in the whole data set (row_offset + its own index), so the
    # ranks together draw the masks of the one-process fit, on the CPU and on CUDA.
    rng = np.random.default_rng(2)
    x = rng.standard_normal((29, 4))
    y = np.sin(x[:, :2])
    sizes, rates = [4, 8, 6, 2], [0.5, 0.25]
    models, errors = fit_in_threads(3, x, y, sizes, batch, 3, device, "float64", shuffle, dropout=rates)
    assert errors == [None] * 3, errors
    one = fastmlp.MLP(sizes, activation="tanh", seed=5, dtype="float64", dropout=rates)
    opt = fastmlp.optim.SGD(lr=0.05, momentum=0.9)
    one.fit(x, y, optimizer=opt, batch_size=batch or None, epochs=3, shuffle=shuffle, seed=9)
    plain = fastmlp.MLP(sizes, activation="tanh", seed=5, dtype="float64")
    plain.fit(x, y, optimizer=opt, batch_size=batch or None, epochs=3, shuffle=shuffle, seed=9)
    for (w, b), (w1, b1), (w0, _) in zip(models[0].get_weights(), one.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(w, w1, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(b, b1, rtol=1e-9, atol=1e-12)
        assert not np.allclose(w, w0)  # the masks did change the fit


def test_trainer_refuses_a_block_outside_the_rows():
    m = fastmlp.MLP([2, 1], seed=0)
    st = m._optimizer_state_for(fastmlp.optim.SGD(lr=0.1))
    x = np.ones((5, 2), np.float32)
    sgd = {"name": "sgd", "lr": 0.1}
    with pytest.raises(ValueError, match="block"):
        options = _core.TrainOptions(
            loss="mse", optimizer=sgd, batch_size=2, global_rows=6, row_offset=3, reduce=lambda b: None
        )
        _core.Trainer(m.weights, m.biases, m.activations, m.negative_slope, st["w"], st["b"], x, x[:, :1], options)
    with pytest.raises(TypeError, match="reduce"):
        options = _core.TrainOptions(loss="mse", optimizer=sgd, batch_size=2, global_rows=10, row_offset=0, reduce=None)
        _core.Trainer(m.weights, m.biases, m.activations, m.negative_slope, st["w"], st["b"], x, x[:, :1], options)


# ---- the single-process collective ---------------------------------------------------------------------
LOOP_CALLS = ("sum", "any", "weighted_mean", "reduce_hook", "broadcast", "bcast", "agree")


def test_the_single_process_collective_does_the_local_thing():
    """fit's loop always talks to a collective; in one process each call is the obvious local thing and
    changes no value (a mean over one process is the value itself, not value * rows / rows)."""
    from fastmlp.distributed import SingleProcess

    one = SingleProcess()
    assert (one.rank, one.size, one.pending_interrupt) == (0, 1, False)
    total = one.sum([1.5, 2, 0])
    assert total.dtype == np.float64 and total.tolist() == [1.5, 2.0, 0.0]
    assert one.any(True) is True and one.any(0) is False and one.any(np.bool_(True)) is True
    value = 0.1 + 0.2  # value * 3 / 3 would round to another double
    assert one.weighted_mean(value, 3) == (True, value) and one.weighted_mean(value, 3)[1] is value
    assert one.weighted_mean(np.inf, 3, valid=False) == (False, None)
    assert one.reduce_hook() is None
    a = np.arange(4.0)
    one.broadcast([a])
    assert a.tolist() == [0.0, 1.0, 2.0, 3.0]
    state = {"step": 7}
    assert one.bcast(state) is state
    one.agree(None)
    mine = ValueError("this process's own error")
    with pytest.raises(ValueError) as info:
        one.agree(mine)
    assert info.value is mine


def test_the_collectives_offer_the_same_calls():
    """Every call the fit loop makes exists on both collectives with the same parameters, so that the
    loop needs no branch for data parallelism."""
    import inspect

    from fastmlp.distributed import Collective, SingleProcess

    for name in LOOP_CALLS:
        assert inspect.signature(getattr(SingleProcess, name)) == inspect.signature(getattr(Collective, name)), name


def test_the_mpi_collective_over_one_process_agrees_with_the_single_process_one():
    MPI = pytest.importorskip("mpi4py.MPI", reason="needs mpi4py (pip install '.[mpi]')")
    from fastmlp.distributed import Collective, SingleProcess

    one, mpi = SingleProcess(), Collective(MPI.COMM_SELF)
    assert (mpi.rank, mpi.size) == (one.rank, one.size)
    assert mpi.sum([1.5, 2, 0]).tolist() == one.sum([1.5, 2, 0]).tolist()
    assert mpi.any(True) == one.any(True) and mpi.any(False) == one.any(False)
    assert mpi.weighted_mean(0.5, 4) == one.weighted_mean(0.5, 4)  # exact here: 0.5 * 4 / 4
    assert mpi.weighted_mean(np.nan, 4, valid=False) == one.weighted_mean(np.nan, 4, valid=False)
    assert mpi.bcast(5) == one.bcast(5)
    mpi.agree(None)
    mine = RuntimeError("mine")
    with pytest.raises(RuntimeError) as info:
        mpi.agree(mine)
    assert info.value is mine
