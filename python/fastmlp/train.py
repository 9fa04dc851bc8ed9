"""The fit loop around the C++ epoch: Python is entered once per epoch to record the loss, run the
validation pass, print progress and check for divergence; every step of the epoch runs in C++."""

from __future__ import annotations

import sys
import time

import numpy as np

from . import _core

__all__ = ["History", "DivergenceError"]


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss or weight; the model holds the last finite weights."""


class History:
    """What fit() returns: `history` maps "loss" (and "val_loss") to one value per epoch run."""

    def __init__(self, params):
        self.history = {"loss": []}
        self.epoch = []
        self.params = params
        self.stopped_reason = None  # why fit ended early (None when it ran every epoch)
        self.stopped_epoch = None

    def __repr__(self):
        last = {k: (v[-1] if v else None) for k, v in self.history.items()}
        return f"History(epochs={len(self.epoch)}, last={last})"


def run_fit(model, x, y, *, loss, optimizer, batch_size, epochs, shuffle, seed, validation_data, verbose,
            drop_last, on_nonfinite, schedule, clip_grad_norm, clip_grad_value):
    """The body of MLP.fit (arguments already validated and converted by it)."""
    state = model._optimizer_state_for(optimizer)
    trainer = _core.Trainer(model.weights, model.biases, model.activations, model.negative_slope,
                            state["w"], state["b"], x, y, loss, 0 if batch_size is None else batch_size,
                            shuffle, drop_last, seed, optimizer.config(), clip_grad_norm, clip_grad_value)
    steps = trainer.steps_per_epoch
    hist = History({"epochs": epochs, "batch_size": batch_size, "steps": steps,
                    "samples": x.shape[0], "loss": loss, "optimizer": repr(optimizer)})
    hist.history["lr"] = []
    if validation_data is not None:
        hist.history["val_loss"] = []
    for epoch in range(epochs):
        if schedule is None:
            rates = np.full(steps, optimizer.lr)
        else:
            rates = schedule.rates(optimizer.lr, epoch, steps, epoch * steps)
        if not (np.all(np.isfinite(rates)) and np.all(rates >= 0)):
            raise ValueError(f"the schedule gave a negative or non-finite learning rate in epoch {epoch + 1}: "
                             f"{rates[~(np.isfinite(rates) & (rates >= 0))][0]}")
        lr = float(rates[0])
        saved = [(w.copy(), b.copy()) for w, b in zip(model.weights, model.biases)]
        saved_state = state_copy(state)
        start = time.perf_counter()
        value, state["step"] = trainer.run_epoch(epoch, rates, state["step"])
        elapsed = time.perf_counter() - start
        bad = _nonfinite(value, model)
        if bad:
            for (w, b), (w0, b0) in zip(zip(model.weights, model.biases), saved):
                w[...] = w0
                b[...] = b0
            restore_state(state, saved_state)
            reason = (f"{bad} in epoch {epoch + 1} (lr={lr:g}); the weights of the last finite epoch were "
                      f"restored. The learning rate is probably too large: try a smaller one.")
            hist.stopped_reason, hist.stopped_epoch = reason, epoch
            if on_nonfinite == "raise":
                raise DivergenceError(reason)
            break
        hist.epoch.append(epoch)
        hist.history["loss"].append(float(value))
        hist.history["lr"].append(lr)
        if validation_data is not None:
            hist.history["val_loss"].append(model.evaluate(*validation_data, loss=loss))
        if schedule is not None:
            schedule.end_epoch({k: v[-1] for k, v in hist.history.items()})
        if verbose:
            line = f"epoch {epoch + 1}/{epochs} - loss {value:.6g}"
            if validation_data is not None:
                line += f" - val_loss {hist.history['val_loss'][-1]:.6g}"
            line += f" - {x.shape[0] / max(elapsed, 1e-12):,.0f} samples/s"
            print(line, file=sys.stdout, flush=True)
    return hist


def _nonfinite(loss, model):
    """What went non-finite after an epoch ('' when nothing did)."""
    if not np.isfinite(loss):
        return f"the training loss became {loss}"
    for layer, (w, b) in enumerate(zip(model.weights, model.biases)):
        for name, a in (("W", w), ("b", b)):
            if not np.isfinite(a).all():
                kind = "NaN" if np.isnan(a).any() else "Inf"
                return f"the weights became non-finite ({name}{layer} holds {kind}; the loss was {loss:.4g})"
    return ""


def state_copy(state):
    return [[a.copy() for a in bufs] for bufs in state["w"] + state["b"]], state["step"]


def restore_state(state, saved):
    arrays, step = saved
    for bufs, old in zip(state["w"] + state["b"], arrays):
        for a, a0 in zip(bufs, old):
            a[...] = a0
    state["step"] = step
