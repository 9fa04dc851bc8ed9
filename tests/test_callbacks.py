"""Callbacks in MLP.fit (fastmlp.callbacks) and fit's progress report (verbose).

EarlyStopping is checked against hand-worked traces of keras.callbacks.EarlyStopping's rules (Keras 3:
an improvement beats the best by more than min_delta; wait counts epochs since the last improvement;
stop once wait >= patience, never at the first epoch; with a baseline an improvement resets wait only
if it also beats the baseline). The monitored values are scripted: a LambdaCallback placed before the
EarlyStopping overwrites logs["loss"] with the next value of a list, so each trace is exact, while the
training itself is real (and its weights are recorded per epoch to check restore_best_weights).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import fastmlp
from fastmlp import EarlyStopping, LambdaCallback
from fastmlp.optim import SGD
from helpers import assert_weights_bitwise


@pytest.fixture
def data(rng):
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = np.sin(x).sum(axis=1, keepdims=True).astype(np.float32)
    return x, y


def new_model():
    return fastmlp.MLP([3, 8, 1], seed=0)


class Recorder:
    """A duck-typed callback (no base class): records every hook call and the weights after each epoch."""

    def __init__(self):
        self.calls, self.weights = [], []
        self.model = None

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs):
        self.calls.append(("begin", dict(logs)))

    def on_epoch_end(self, epoch, logs):
        self.calls.append(("epoch", epoch, dict(logs)))
        self.weights.append(self.model.get_weights())

    def on_train_end(self, logs):
        self.calls.append(("end", dict(logs)))


def scripted(values, key="loss"):
    """A callback that replaces logs[key] by values[epoch] for the callbacks after it."""

    def put(epoch, logs):
        logs[key] = values[epoch]

    return LambdaCallback(on_epoch_end=put)


def run_trace(data, values, epochs=None, key="loss", **es_kwargs):
    """Fit with scripted monitored values; returns (history, EarlyStopping, Recorder, model)."""
    x, y = data
    model, rec = new_model(), Recorder()
    es = EarlyStopping(monitor=key, **es_kwargs)
    hist = model.fit(
        x, y, optimizer=SGD(lr=0.05), epochs=epochs or len(values), callbacks=[rec, scripted(values, key), es]
    )
    return hist, es, rec, model


# ---- EarlyStopping: Keras' rules on scripted traces -----------------------------------------------------
@pytest.mark.parametrize(
    "values, kwargs, epochs_run",
    [
        # patience=0: the first epoch that does not improve stops training.
        ([5.0, 4.0, 4.5, 3.0, 2.0], {}, 3),
        # equal is not an improvement
        ([5.0, 5.0, 4.0], {}, 2),
        # never at the first epoch, and a steady improvement never stops
        ([5.0, 4.0, 3.0, 2.0, 1.0], {}, 5),
        # patience=2: two epochs without improvement since the best
        ([3.0, 2.0, 2.5, 2.4, 2.6, 1.0], {"patience": 2}, 4),
        # an improvement resets the count
        ([3.0, 2.0, 2.5, 1.5, 2.6, 2.7, 0.1], {"patience": 2}, 6),
        # min_delta: 0.95 and 0.92 beat 1.0 by less than 0.1, so they are not improvements
        ([1.0, 0.95, 0.92, 0.85, 0.5], {"patience": 2, "min_delta": 0.1}, 3),
        ([1.0, 0.95, 0.92, 0.85, 0.5], {"patience": 2}, 5),
        # a negative min_delta means the same as a positive one (Keras takes abs)
        ([1.0, 0.95, 0.92, 0.85, 0.5], {"patience": 2, "min_delta": -0.1}, 3),
        # mode="max"
        ([0.1, 0.2, 0.15, 0.18, 0.3], {"mode": "max", "patience": 1}, 3),
        ([0.1, 0.2, 0.25, 0.3], {"mode": "max"}, 4),
        ([0.5, 0.4, 0.3], {"mode": "max"}, 2),
        # baseline: improvements that do not beat 0.5 leave wait counting (1.0, 0.9 -> wait 2), so the first
        # non-improving epoch stops at patience 2; without the baseline wait would only be 1 there.
        ([1.0, 0.9, 0.95, 0.85, 0.96, 0.97], {"patience": 2, "baseline": 0.5}, 3),
        ([1.0, 0.9, 0.95, 0.85, 0.96, 0.97, 0.98], {"patience": 2}, 6),
        # a beaten baseline behaves like no baseline
        ([0.4, 0.3, 0.35, 0.2, 0.25, 0.26, 0.27], {"patience": 2, "baseline": 0.5}, 6),
        ([0.4, 0.3, 0.35, 0.36, 0.1], {"patience": 2, "baseline": 0.5}, 4),
    ],
)
def test_early_stopping_traces(data, values, kwargs, epochs_run):
    hist, es, _, _ = run_trace(data, values, **kwargs)
    assert len(hist.epoch) == epochs_run, hist.history["loss"]
    if epochs_run < len(values):
        assert es.stopped_epoch == epochs_run - 1
        assert hist.stopped_epoch == epochs_run - 1
        assert hist.stopped_by is es
        assert hist.stopped_reason.startswith(f"callback EarlyStopping stopped training after epoch {epochs_run}")
        assert "loss did not improve" in hist.stopped_reason
    else:
        assert es.stopped_epoch == 0 and hist.stopped_reason is None and hist.stopped_by is None


def test_early_stopping_best_and_wait(data):
    _, es, _, _ = run_trace(data, [3.0, 2.0, 2.5, 2.4, 2.6], patience=2)
    assert es.best == 2.0 and es.best_epoch == 1 and es.wait == 2 and es.stopped_epoch == 3


def test_restore_best_weights_after_a_stop(data):
    values = [3.0, 1.0, 2.0, 2.5, 2.6, 0.5]
    hist, es, rec, model = run_trace(data, values, patience=2, restore_best_weights=True)
    assert len(hist.epoch) == 4 and es.best_epoch == 1
    assert_weights_bitwise(model.get_weights(), rec.weights[1])
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(rec.weights[1], rec.weights[3]))


def test_restore_best_weights_without_a_stop(data):
    # Training runs every epoch (patience is never exhausted) and the best epoch is not the last: Keras
    # restores the best weights at the end anyway.
    values = [3.0, 1.0, 2.0, 1.5, 1.2]
    hist, es, rec, model = run_trace(data, values, patience=10, restore_best_weights=True)
    assert len(hist.epoch) == 5 and hist.stopped_reason is None and es.best_epoch == 1
    assert_weights_bitwise(model.get_weights(), rec.weights[1])


def test_restore_best_weights_false_keeps_the_last_weights(data):
    values = [3.0, 1.0, 2.0, 2.5]
    hist, _, rec, model = run_trace(data, values, patience=2)
    assert len(hist.epoch) == 4
    assert_weights_bitwise(model.get_weights(), rec.weights[-1])


def test_restore_best_weights_with_real_validation_loss(data):
    x, y = data
    xv, yv = x[:16] + 0.5, y[:16]
    model = new_model()
    es = EarlyStopping(patience=3, restore_best_weights=True)
    hist = model.fit(x, y, optimizer=SGD(lr=0.2), epochs=300, validation_data=(xv, yv), callbacks=[es])
    assert hist.stopped_reason is not None and len(hist.epoch) < 300
    best = int(np.argmin(hist.history["val_loss"]))
    assert best < len(hist.epoch) - 1
    assert es.best_epoch == best and es.best == hist.history["val_loss"][best]
    assert model.evaluate(xv, yv) == pytest.approx(es.best, rel=1e-6)


def test_early_stopping_state_is_reset_by_each_fit(data):
    es = EarlyStopping(monitor="loss", patience=1)
    x, y = data
    model = new_model()
    model.fit(x, y, epochs=4, callbacks=[scripted([1.0, 2.0, 3.0, 4.0]), es])
    assert es.stopped_epoch == 1 and es.best == 1.0
    hist = model.fit(x, y, epochs=3, callbacks=[scripted([9.0, 8.0, 7.0]), es])
    assert len(hist.epoch) == 3 and es.best == 7.0 and es.stopped_epoch == 0


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"mode": "auto"}, ValueError),
        ({"patience": -1}, ValueError),
        ({"patience": 1.5}, ValueError),
        ({"min_delta": float("nan")}, ValueError),
        ({"baseline": "x"}, ValueError),
        ({"monitor": 3}, TypeError),
    ],
)
def test_early_stopping_refuses_bad_arguments(kwargs, exc):
    with pytest.raises(exc):
        EarlyStopping(**kwargs)


def test_early_stopping_repr():
    assert repr(EarlyStopping(patience=2)).startswith("EarlyStopping(monitor='val_loss', patience=2,")


# ---- monitors are checked before training -------------------------------------------------------------------
def test_monitoring_val_loss_without_validation_data_fails_before_training(data):
    x, y = data
    model, rec = new_model(), Recorder()
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"callbacks\[1\] \(EarlyStopping\) monitors val_loss.*validation_data"):
        model.fit(x, y, epochs=3, callbacks=[rec, EarlyStopping()])
    assert rec.calls == []
    assert_weights_bitwise(model.get_weights(), before)


def test_a_custom_callback_declaring_monitors_is_checked(data):
    class Watch:
        def monitors(self):
            return "val_accuracy"  # a single name works too

        def on_epoch_end(self, epoch, logs):
            pass

    x, y = data
    with pytest.raises(ValueError, match="monitors val_accuracy"):
        new_model().fit(x, y, epochs=1, validation_data=(x, y), callbacks=[Watch()])


@pytest.mark.parametrize(
    "callbacks, match",
    [
        (EarlyStopping(monitor="loss"), "list of callbacks"),
        ([EarlyStopping], "pass an instance"),
        ([object()], "has none of the methods"),
    ],
)
def test_bad_callbacks_are_refused(data, callbacks, match):
    x, y = data
    with pytest.raises(TypeError, match=match):
        new_model().fit(x, y, epochs=1, callbacks=callbacks)


# ---- the hooks -----------------------------------------------------------------------------------------------
def test_hooks_are_called_once_per_epoch_with_the_logs(data):
    x, y = data
    rec = Recorder()
    hist = new_model().fit(x, y, epochs=4, validation_data=(x, y), callbacks=[rec])
    assert rec.calls[0] == ("begin", {})
    epochs = [c for c in rec.calls if c[0] == "epoch"]
    assert [c[1] for c in epochs] == [0, 1, 2, 3]
    for e, (_, _, logs) in enumerate(epochs):
        assert logs == {
            "loss": hist.history["loss"][e],
            "lr": hist.history["lr"][e],
            "val_loss": hist.history["val_loss"][e],
        }
    assert rec.calls[-1] == ("end", epochs[-1][2])
    assert len(rec.calls) == 6


def test_callback_with_only_some_hooks(data):
    class EndOnly:
        def __init__(self):
            self.logs = None

        def on_train_end(self, logs):
            self.logs = logs

    x, y = data
    cb = EndOnly()
    hist = new_model().fit(x, y, epochs=2, callbacks=[cb])
    assert cb.logs == {"loss": hist.history["loss"][-1], "lr": hist.history["lr"][-1]}


def test_zero_epochs_call_begin_and_end(data):
    x, y = data
    rec = Recorder()
    new_model().fit(x, y, epochs=0, callbacks=[rec])
    assert rec.calls == [("begin", {}), ("end", {})]


def test_lambda_callback(data):
    x, y = data
    seen = []
    cb = LambdaCallback(
        on_train_begin=lambda logs: seen.append("begin"),
        on_epoch_end=lambda epoch, logs: seen.append((epoch, round(logs["lr"], 6))),
        on_train_end=lambda logs: seen.append("end"),
    )
    new_model().fit(x, y, epochs=2, optimizer=SGD(lr=0.02), callbacks=[cb])
    assert seen == ["begin", (0, 0.02), (1, 0.02), "end"]
    LambdaCallback()  # every hook may be None
    with pytest.raises(TypeError, match="on_epoch_end must be callable"):
        LambdaCallback(on_epoch_end=3)


def test_returning_true_stops_after_that_epoch_and_every_callback_sees_it(data):
    x, y = data
    stopper = LambdaCallback(on_epoch_end=lambda epoch, logs: epoch == 2)
    rec = Recorder()
    hist = new_model().fit(x, y, epochs=10, callbacks=[stopper, rec])
    assert hist.epoch == [0, 1, 2] and len(hist.history["loss"]) == 3
    assert [c[1] for c in rec.calls if c[0] == "epoch"] == [0, 1, 2]
    assert rec.calls[-1][0] == "end"
    assert hist.stopped_by is stopper and hist.stopped_epoch == 2
    assert hist.stopped_reason == "callback LambdaCallback stopped training after epoch 3"


@pytest.mark.parametrize("result", [1, "yes", [1], np.float64(1.0)])
def test_only_true_stops(data, result):
    # on_epoch_end returning e.g. the count of a file.write must not end training by accident.
    x, y = data
    hist = new_model().fit(x, y, epochs=3, callbacks=[LambdaCallback(on_epoch_end=lambda e, logs: result)])
    assert len(hist.epoch) == 3 and hist.stopped_reason is None


def test_numpy_true_stops(data):
    x, y = data
    hist = new_model().fit(x, y, epochs=3, callbacks=[LambdaCallback(on_epoch_end=lambda e, logs: np.bool_(True))])
    assert len(hist.epoch) == 1


def test_setting_model_stop_training_stops(data):
    class Stopper:
        def set_model(self, model):
            self.model = model

        def on_epoch_end(self, epoch, logs):
            if epoch == 1:
                self.model.stop_training = True

    x, y = data
    model = new_model()
    cb = Stopper()
    hist = model.fit(x, y, epochs=5, callbacks=[cb])
    assert len(hist.epoch) == 2 and hist.stopped_by is cb
    assert hist.stopped_reason == "callback Stopper stopped training after epoch 2"
    hist = model.fit(x, y, epochs=1)  # the flag is reset by the next fit
    assert len(hist.epoch) == 1 and not model.stop_training


def test_a_stop_requested_at_the_last_epoch_ends_nothing_early(data):
    x, y = data
    hist = new_model().fit(
        x, y, epochs=3, callbacks=[LambdaCallback(on_epoch_end=lambda e, logs: True if e == 2 else None)]
    )
    assert len(hist.epoch) == 3 and hist.stopped_reason is None and hist.stopped_by is None


def test_callbacks_with_a_schedule(data):
    x, y = data
    sched = fastmlp.schedules.ReduceLROnPlateau(monitor="loss", patience=0, factor=0.5)
    rec = Recorder()
    hist = new_model().fit(
        x, y, epochs=4, optimizer=SGD(lr=0.01), schedule=sched, callbacks=[scripted([1.0, 2.0, 3.0, 4.0]), rec]
    )
    assert [c[2]["loss"] for c in rec.calls if c[0] == "epoch"] == [1.0, 2.0, 3.0, 4.0]
    # the scripted value reaches only the callbacks; the schedule and the history see the real loss
    assert hist.history["loss"][0] != 1.0


def test_divergence_skips_on_train_end_but_a_stop_calls_it(data):
    x, y = data
    y = y * 100
    rec = Recorder()
    with pytest.raises(fastmlp.DivergenceError):
        new_model().fit(x, y, epochs=20, optimizer=SGD(lr=10.0), callbacks=[rec])
    assert rec.calls[-1][0] == "epoch"
    rec = Recorder()
    hist = new_model().fit(x, y, epochs=20, optimizer=SGD(lr=10.0), callbacks=[rec], on_nonfinite="stop")
    assert "weights of the last finite epoch were restored" in hist.stopped_reason and hist.stopped_by is None
    assert rec.calls[-1] == ("end", rec.calls[-2][2])


def test_exports():
    assert fastmlp.callbacks.EarlyStopping is EarlyStopping
    assert {"callbacks", "EarlyStopping", "LambdaCallback", "Callback"} <= set(fastmlp.__all__)
    assert isinstance(EarlyStopping(), fastmlp.Callback)


# ---- progress ----------------------------------------------------------------------------------------------------
def lines(text):
    return [s for s in text.splitlines() if s.strip()]


@pytest.fixture
def no_tqdm(monkeypatch):
    """Makes `import tqdm` fail, as if it were not installed."""
    for name in [m for m in sys.modules if m == "tqdm" or m.startswith("tqdm.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tqdm", None)


@pytest.mark.parametrize(
    "epochs, shown",
    [
        (100, list(range(5, 101, 5))),  # every 100 // 20 = 5 epochs: 20 lines
        (45, list(range(2, 45, 2)) + [45]),  # every 2, plus the last
        (7, list(range(1, 8))),  # fewer than 20 epochs: every epoch
        (1000, list(range(50, 1001, 50))),  # 1,000 epochs: still 20 lines
    ],
)
def test_lines_without_tqdm(data, capfd, no_tqdm, epochs, shown):
    x, y = data
    new_model().fit(x[:8], y[:8], epochs=epochs, batch_size=None, verbose=True)
    out, err = capfd.readouterr()
    assert err == ""
    got = lines(out)
    assert [int(s.split()[1].split("/")[0]) for s in got] == shown
    assert all(
        s.startswith("epoch ") and f"/{epochs} - loss " in s and " - lr 0.01 - " in s and s.endswith(" samples/s")
        for s in got
    )


def test_lines_show_val_loss_and_the_epoch_a_callback_stopped_at(data, capsys, no_tqdm):
    x, y = data
    new_model().fit(
        x,
        y,
        epochs=100,
        verbose=True,
        validation_data=(x, y),
        callbacks=[LambdaCallback(on_epoch_end=lambda e, logs: e == 6)],
    )
    got = lines(capsys.readouterr().out)
    assert [s.split()[1] for s in got] == ["5/100", "7/100"]
    assert " - val_loss " in got[0]


@pytest.mark.parametrize("verbose", [2, "epoch"])
def test_a_line_per_epoch(data, capfd, verbose):
    x, y = data
    new_model().fit(x, y, epochs=30, verbose=verbose)
    out, err = capfd.readouterr()
    assert len(lines(out)) == 30 and err == ""  # no bar even when tqdm is installed


@pytest.mark.parametrize("verbose", [False, 0, None])
def test_silent(data, capfd, verbose):
    x, y = data
    new_model().fit(x, y, epochs=3, verbose=verbose)
    assert capfd.readouterr() == ("", "")


@pytest.mark.parametrize("verbose", [3, -1, "bar", 1.5])
def test_bad_verbose(data, verbose):
    x, y = data
    with pytest.raises(ValueError, match="verbose must be"):
        new_model().fit(x, y, epochs=1, verbose=verbose)


def test_tqdm_bar_on_stderr(data, capsys):
    tqdm = pytest.importorskip("tqdm")
    x, y = data
    new_model().fit(x, y, epochs=30, verbose=True, validation_data=(x, y))
    out, err = capsys.readouterr()
    assert out == ""
    assert "30/30" in err
    for key in ("loss=", "val_loss=", "lr=0.01", "samples/s="):
        assert key in err
    assert len(tqdm.tqdm._instances) == 0


def test_tqdm_bar_is_closed_when_fit_raises(data, capsys):
    tqdm = pytest.importorskip("tqdm")
    x, y = data
    with pytest.raises(fastmlp.DivergenceError):
        new_model().fit(x, y * 100, epochs=20, optimizer=SGD(lr=10.0), verbose=True)
    assert len(tqdm.tqdm._instances) == 0
    err = capsys.readouterr().err
    assert "/20" in err and err.endswith("\n")  # closed: the bar's line is finished


def test_tqdm_bar_is_closed_when_a_callback_raises(data, capsys):
    tqdm = pytest.importorskip("tqdm")

    def boom(epoch, logs):
        raise RuntimeError("boom")

    x, y = data
    with pytest.raises(RuntimeError, match="boom"):
        new_model().fit(x, y, epochs=5, verbose=True, callbacks=[LambdaCallback(on_epoch_end=boom)])
    assert len(tqdm.tqdm._instances) == 0
    capsys.readouterr()


@pytest.mark.slow
def test_cli_verbose_still_works(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("a,b\n" + "\n".join(f"{i / 10},{i / 5}" for i in range(20)) + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "fastmlp", "train", str(csv), "--target", "b", "--epochs", "40", "--verbose"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "final training" in proc.stdout
