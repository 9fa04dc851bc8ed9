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

DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(
    not fastmlp.cuda_available(), reason="needs a CUDA build of fastmlp and a CUDA device")])]


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


def fit_in_threads(ranks, x, y, sizes, batch, epochs, device, dtype, shuffle=True, opt=None):
    n = x.shape[0]
    allreduce = ThreadAllReduce(ranks)
    models, trainers, errors = [], [], [None] * ranks
    opt = opt or fastmlp.optim.SGD(lr=0.05, momentum=0.9)
    for r in range(ranks):
        lo, hi = block(n, r, ranks)
        m = fastmlp.MLP(sizes, activation="tanh", seed=5, dtype=dtype)
        st = m._optimizer_state_for(opt)
        models.append(m)
        trainers.append(_core.Trainer(m.weights, m.biases, m.activations, m.negative_slope, st["w"], st["b"],
                                      x[lo:hi], y[lo:hi], "mse", batch, shuffle, False, 9, opt.config(), 0.0, 0.0,
                                      device, global_rows=n, row_offset=lo, reduce=allreduce.hook(r)))

    def work(r):
        step = 0
        try:
            for epoch in range(epochs):
                rates = np.full(trainers[r].steps_per_epoch, opt.lr)
                _, step = trainers[r].run_epoch(epoch, rates, step)
        except Exception as e:  # noqa: BLE001
            errors[r] = e

    threads = [threading.Thread(target=work, args=(r,)) for r in range(ranks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return models, errors


# SGD's momentum buffer, and NAdam, whose mu_product every rank derives from the step count it holds.
OPTIMIZERS = [pytest.param(fastmlp.optim.SGD(lr=0.05, momentum=0.9), id="sgd"),
              pytest.param(fastmlp.optim.NAdam(lr=0.01, weight_decay=0.01), id="nadam")]


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


def test_trainer_refuses_a_block_outside_the_rows():
    m = fastmlp.MLP([2, 1], seed=0)
    st = m._optimizer_state_for(fastmlp.optim.SGD(lr=0.1))
    x = np.ones((5, 2), np.float32)
    with pytest.raises(ValueError, match="block"):
        _core.Trainer(m.weights, m.biases, m.activations, m.negative_slope, st["w"], st["b"], x, x[:, :1], "mse",
                      2, True, False, 0, {"name": "sgd", "lr": 0.1}, 0.0, 0.0, "cpu", global_rows=6, row_offset=3,
                      reduce=lambda b: None)
    with pytest.raises(TypeError, match="reduce"):
        _core.Trainer(m.weights, m.biases, m.activations, m.negative_slope, st["w"], st["b"], x, x[:, :1], "mse",
                      2, True, False, 0, {"name": "sgd", "lr": 0.1}, 0.0, 0.0, "cpu", global_rows=10, row_offset=0,
                      reduce=None)
