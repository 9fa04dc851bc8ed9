"""MLP.fit's conveniences: validation_split (rows held out at random by fit's seed, the same fit as
passing them as validation_data, also data parallel) and optimizers by name (the same fit as the
optimizer object with its defaults)."""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest

import fastmlp
from fastmlp import distributed
from fastmlp.optim import OPTIMIZERS
from helpers import assert_bitwise, assert_weights_bitwise, fit_data, fit_model, run_ranks


def _held_out_rows(n, fraction, seed):
    """The rows validation_split holds out, as its docstring says: sorted, from default_rng(seed)."""
    return np.sort(np.random.default_rng(seed).permutation(n)[: round(fraction * n)])


def _fit(model, x, y, **kw):
    return model.fit(x, y, optimizer=fastmlp.optim.Adam(lr=0.01), batch_size=7, epochs=3, **kw)


# ---- validation_split ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fraction, seed", [(0.25, 0), (0.1, 3), (0.5, 2**64 - 1)])
@pytest.mark.parametrize("standardized", [False, True], ids=["raw", "standardized"])
def test_validation_split_equals_those_rows_as_validation_data(rng, dtype, fraction, seed, standardized):
    x, y = fit_data(rng, n=41)
    x, y = x.astype(dtype), y.astype(dtype)
    val = _held_out_rows(41, fraction, seed)
    train = np.setdiff1d(np.arange(41), val)
    split, given = fit_model(dtype), fit_model(dtype)
    if standardized:
        for m in (split, given):
            m.set_standardization(x.mean(0) + 1.0, x.std(0) * 2.0, y.mean(0), y.std(0))
    hist = _fit(split, x, y, validation_split=fraction, seed=seed)
    want = _fit(given, x[train], y[train], validation_data=(x[val], y[val]), seed=seed)
    assert_weights_bitwise(split.get_weights(), given.get_weights())
    assert hist.history == want.history, "the losses differ"
    assert hist.params["samples"] == len(train) == 41 - round(fraction * 41)
    assert split.training_summary == given.training_summary


def test_validation_split_with_seed_none_holds_out_rows(rng):
    x, y = fit_data(rng, n=40)
    hist = _fit(fit_model(), x, y, validation_split=0.3, seed=None)
    assert hist.params["samples"] == 28 and len(hist.history["val_loss"]) == 3


def test_sample_weights_follow_their_rows(rng):
    x, y = fit_data(rng, n=37)
    w = rng.random(37) + 0.1
    val = _held_out_rows(37, 0.3, 5)
    train = np.setdiff1d(np.arange(37), val)
    split, given = fit_model(), fit_model()
    hist = _fit(split, x, y, validation_split=0.3, seed=5, sample_weight=w)
    want = _fit(given, x[train], y[train], sample_weight=w[train], seed=5)
    assert_weights_bitwise(split.get_weights(), given.get_weights())
    assert hist.history["loss"] == want.history["loss"]
    # the held-out rows' weights weigh the validation loss
    assert hist.history["val_loss"][-1] == split.evaluate(x[val], y[val], sample_weight=w[val])
    assert hist.history["val_loss"][-1] != split.evaluate(x[val], y[val])
    w_zero = w.copy()
    w_zero[val] = 0.0
    with pytest.raises(ValueError, match="validation_split: the sample weights of the held-out rows sum to 0"):
        _fit(fit_model(), x, y, validation_split=0.3, seed=5, sample_weight=w_zero)


def test_class_labels_are_held_out_with_their_rows(rng):
    x = rng.standard_normal((30, 3))
    labels = rng.integers(0, 3, 30)
    val = _held_out_rows(30, 0.2, 1)
    train = np.setdiff1d(np.arange(30), val)
    split, given = fastmlp.MLP([3, 5, 3], seed=1), fastmlp.MLP([3, 5, 3], seed=1)
    a = split.fit(x, labels, loss="cross_entropy", epochs=2, validation_split=0.2, seed=1)
    b = given.fit(
        x[train], labels[train], loss="cross_entropy", epochs=2, validation_data=(x[val], labels[val]), seed=1
    )
    assert_weights_bitwise(split.get_weights(), given.get_weights())
    assert a.history == b.history


def test_held_out_targets_are_checked_before_training(rng):
    """A row that validation_split holds out never reaches the trainer; its target is checked anyway."""
    x, y = fit_data(rng, n=20)
    y = np.abs(y)
    val = _held_out_rows(20, 0.25, 0)
    y[val[0], 1] = -2.0
    model = fit_model()
    before = model.get_weights()
    with pytest.raises(ValueError, match=rf"y\[{val[0]}, 1\] is -2\.0+; loss='poisson' needs targets >= 0"):
        _fit(model, x, y, loss="poisson", validation_split=0.25, seed=0)
    assert_weights_bitwise(model.get_weights(), before, "the weights of a refused fit")


@pytest.mark.parametrize(
    "kw, words",
    [
        (
            {"validation_split": 0.2, "validation_data": "pair"},
            "validation_split and validation_data do not go together",
        ),
        ({"validation_split": 0.01}, "holds out 0 (rounded) and trains on 20"),
        ({"validation_split": 0.99}, "holds out 20 (rounded) and trains on 0"),
        ({"validation_split": 0.5, "batch_size": 11, "drop_last": True}, "batch_size 11 > 10 training samples"),
    ],
)
def test_validation_split_refusals(rng, kw, words):
    x, y = fit_data(rng, n=20)
    if kw.get("validation_data") == "pair":
        kw = {**kw, "validation_data": (x, y)}
    with pytest.raises(ValueError, match=re.escape(words)):
        fit_model().fit(x, y, epochs=1, **kw)


class _ThreadWorld:
    """The collectives of mpi4py that fastmlp.distributed calls, among `size` threads of this process."""

    IN_PLACE, SUM = object(), object()

    def __init__(self, size):
        self.size, self.slots = size, [None] * size
        self.barrier = threading.Barrier(size, timeout=60)

    def exchange(self, rank, value):
        self.slots[rank] = value
        self.barrier.wait()
        every = list(self.slots)
        self.barrier.wait()
        return every


class _ThreadComm:
    def __init__(self, world, rank):
        self.world, self.rank = world, rank

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.world.size

    def allgather(self, value):
        return self.world.exchange(self.rank, value)

    def bcast(self, value, root=0):
        return self.world.exchange(self.rank, value)[root]

    def Bcast(self, array, root=0):
        array[...] = self.world.exchange(self.rank, array.copy())[root]

    def Allreduce(self, in_place, array, op):
        every = self.world.exchange(self.rank, array.copy())
        total = every[0].copy()
        for other in every[1:]:  # in rank order, as test_data_parallel's reduce
            total += other
        array[...] = total


@pytest.mark.parametrize("ranks", [2, 3])
def test_validation_split_data_parallel_holds_out_the_same_rows(monkeypatch, rng, ranks):
    """Each rank passes its block; the fit is the one-process fit on all rows (up to the order of the
    gradient sum), the same on every rank."""
    world = _ThreadWorld(ranks)
    monkeypatch.setattr(distributed, "_mpi", lambda: world)
    x, y = fit_data(rng, n=43)
    models, hists, errors = [fit_model() for _ in range(ranks)], [None] * ranks, [None] * ranks

    def work(r):
        lo, hi = distributed.block(43, r, ranks)
        try:
            hists[r] = _fit(models[r], x[lo:hi], y[lo:hi], validation_split=0.3, seed=11, comm=_ThreadComm(world, r))
        except Exception as e:
            errors[r] = e

    run_ranks(work, ranks)
    assert errors == [None] * ranks, errors
    one = fit_model()
    want = _fit(one, x, y, validation_split=0.3, seed=11)
    for m in models[1:]:
        assert_weights_bitwise(m.get_weights(), models[0].get_weights(), "the ranks' weights")
    for (w, b), (w1, b1) in zip(models[0].get_weights(), one.get_weights()):
        np.testing.assert_allclose(w, w1, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(b, b1, rtol=1e-9, atol=1e-12)
    assert hists[0].params["samples"] == want.params["samples"] == 43 - 13
    np.testing.assert_allclose(hists[0].history["val_loss"], want.history["val_loss"], rtol=1e-10)
    np.testing.assert_allclose(hists[0].history["loss"], want.history["loss"], rtol=1e-10)


# ---- optimizers by name ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_an_optimizer_by_name_is_its_class_with_defaults(rng, name):
    x, y = fit_data(rng)
    by_name, by_object = fit_model(), fit_model()
    a = by_name.fit(x, y, optimizer=name, batch_size=5, epochs=2, seed=3)
    b = by_object.fit(x, y, optimizer=OPTIMIZERS[name](), batch_size=5, epochs=2, seed=3)
    assert_weights_bitwise(by_name.get_weights(), by_object.get_weights())
    assert a.history == b.history and a.params["optimizer"] == b.params["optimizer"]
    assert by_name.optimizer.config() == OPTIMIZERS[name]().config()
    for s, t in zip(by_name._opt["w"] + by_name._opt["b"], by_object._opt["w"] + by_object._opt["b"]):
        for u, v in zip(s, t):
            assert_bitwise(u, v, f"{name}'s state")


def test_adam_by_name_equals_adam():
    x, y = fit_data(np.random.default_rng(0))
    a, b = fit_model(), fit_model()
    a.fit(x, y, optimizer="adam", epochs=3)
    b.fit(x, y, optimizer=fastmlp.optim.Adam(), epochs=3)
    assert_weights_bitwise(a.get_weights(), b.get_weights())


@pytest.mark.parametrize(
    "bad, error",
    [
        ("lion", ValueError),
        ("Adam", ValueError),
        ("", ValueError),
        (3, TypeError),
        (fastmlp.optim.Adam, TypeError),
        ({"name": "adam"}, TypeError),
    ],
)
def test_an_unknown_optimizer_lists_the_names(rng, bad, error):
    x, y = fit_data(rng)
    with pytest.raises(error, match="optimizer must be") as info:
        fit_model().fit(x, y, optimizer=bad, epochs=1)
    for name in OPTIMIZERS:
        assert repr(name) in str(info.value), f"{name!r} not listed: {info.value}"
