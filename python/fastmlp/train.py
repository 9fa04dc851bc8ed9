"""The fit loop around the C++ epoch: Python is entered once per epoch to record the loss, run the
validation pass, call the callbacks, report progress and check for divergence; every step of the epoch
runs in C++."""

from __future__ import annotations

import sys
import time

import numpy as np

from . import _core
from .memory import training_bytes

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
        self.stopped_epoch = None   # the 0-based epoch at which it ended early
        self.stopped_by = None      # the callback that stopped it, if one did

    def __repr__(self):
        last = {k: (v[-1] if v else None) for k, v in self.history.items()}
        return f"History(epochs={len(self.epoch)}, last={last})"


def run_fit(model, x, y, *, loss, optimizer, batch_size, epochs, shuffle, seed, validation_data, verbose,
            drop_last, on_nonfinite, schedule, clip_grad_norm, clip_grad_value, callbacks=()):
    """The body of MLP.fit (arguments already validated and converted by it; verbose is 0, 1 or 2 and
    callbacks a checked list, see fastmlp.callbacks)."""
    state = model._optimizer_state_for(optimizer)
    # A batch larger than the data set is the whole set (fit has refused it with drop_last).
    rows = 0 if batch_size is None else min(batch_size, x.shape[0])
    try:
        trainer = _core.Trainer(model.weights, model.biases, model.activations, model.negative_slope,
                                state["w"], state["b"], x, y, loss, rows,
                                shuffle, drop_last, seed, optimizer.config(), clip_grad_norm, clip_grad_value,
                                model.device)
    except MemoryError as e:
        need = training_bytes(model, rows or x.shape[0], n_samples=x.shape[0], optimizer=optimizer,
                              shuffle=shuffle, drop_last=drop_last)
        raise MemoryError(f"fit: not enough {'device' if model.device == 'cuda' else 'host'} memory for "
                          f"batch_size={batch_size}: the fit needs {need / 2**30:.3g} GiB; use a smaller "
                          f"batch (fastmlp.max_batch_size(model) gives the largest that fits) ({e})") from e
    steps = trainer.steps_per_epoch
    hist = History({"epochs": epochs, "batch_size": batch_size, "steps": steps,
                    "samples": x.shape[0], "loss": loss, "optimizer": repr(optimizer)})
    hist.history["lr"] = []
    if validation_data is not None:
        hist.history["val_loss"] = []
    # The hooks are looked up once here; per epoch only the ones that exist are called.
    model.stop_training = False
    for cb in callbacks:
        if callable(getattr(cb, "set_model", None)):
            cb.set_model(model)
    for cb in callbacks:
        if callable(getattr(cb, "on_train_begin", None)):
            cb.on_train_begin({})
    epoch_end = [(cb, cb.on_epoch_end) for cb in callbacks if callable(getattr(cb, "on_epoch_end", None))]
    logs = {}
    progress = _Progress(verbose, epochs)
    try:
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
            logs = {k: v[-1] for k, v in hist.history.items()}
            if schedule is not None:
                schedule.end_epoch(dict(logs))
            stopper = None
            cb_logs = dict(logs)  # shared by this epoch's callbacks: one may add values for those after it
            for cb, hook in epoch_end:
                result = hook(epoch, cb_logs)
                if stopper is None and (result is True or (isinstance(result, np.bool_) and result)
                                        or model.stop_training):
                    stopper = cb
                    model.stop_training = True
            progress.epoch_end(epoch, logs, x.shape[0] / max(elapsed, 1e-12), last=model.stop_training)
            if model.stop_training:
                if epoch < epochs - 1:  # a stop requested after the last epoch ends nothing early
                    hist.stopped_reason, hist.stopped_epoch = _stop_reason(stopper, epoch), epoch
                    hist.stopped_by = stopper
                break
    finally:
        progress.close()
    for cb in callbacks:
        if callable(getattr(cb, "on_train_end", None)):
            cb.on_train_end(dict(logs))
    return hist


def _stop_reason(callback, epoch):
    if callback is None:
        return f"model.stop_training was set to True; training stopped after epoch {epoch + 1}"
    name = type(callback).__name__
    detail = getattr(callback, "stop_reason", None)
    return f"callback {name} stopped training after epoch {epoch + 1}" + (f": {detail}" if detail else "")


def verbosity(verbose):
    """fit's verbose argument as 0 (silent), 1 (a progress bar, or a line every ~5% of the epochs without
    tqdm) or 2 (a line per epoch; also verbose="epoch")."""
    if verbose is None:
        return 0
    if isinstance(verbose, str):
        if verbose == "epoch":
            return 2
    elif isinstance(verbose, (bool, np.bool_, int, np.integer)) and int(verbose) in (0, 1, 2):
        return int(verbose)
    raise ValueError(f"verbose must be False/0, True/1 (progress bar), 2 or 'epoch' (a line per epoch), "
                     f"got {verbose!r}")


def _import_tqdm():
    """tqdm's progress bar class, or None when tqdm is not installed (it is optional: extra 'progress')."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


class _Progress:
    """fit's progress report, updated once per epoch: a tqdm bar on stderr for verbose=1 when tqdm is
    installed, else lines on stdout (every epoch for verbose=2; every max(1, epochs // 20) epochs and the
    last for verbose=1)."""

    def __init__(self, verbose, epochs):
        self.verbose, self.epochs, self.bar = verbose, epochs, None
        self.every = 1 if verbose == 2 else max(1, epochs // 20)
        if verbose == 1 and epochs > 0:
            tqdm = _import_tqdm()
            if tqdm is not None:
                self.bar = tqdm(total=epochs, desc="fit", unit="epoch", file=sys.stderr, dynamic_ncols=True,
                                leave=True)

    def epoch_end(self, epoch, logs, rate, last=False):
        if self.bar is not None:
            post = {"loss": f"{logs['loss']:.4g}"}
            if "val_loss" in logs:
                post["val_loss"] = f"{logs['val_loss']:.4g}"
            post["lr"] = f"{logs['lr']:.3g}"
            post["samples/s"] = self.bar.format_sizeof(rate)
            self.bar.set_postfix(post, refresh=False)  # drawn by update(), at most every 0.1 s
            self.bar.update(1)
        elif self.verbose and (last or (epoch + 1) % self.every == 0 or epoch == self.epochs - 1):
            line = f"epoch {epoch + 1}/{self.epochs} - loss {logs['loss']:.6g}"
            if "val_loss" in logs:
                line += f" - val_loss {logs['val_loss']:.6g}"
            line += f" - lr {logs['lr']:.4g} - {rate:,.0f} samples/s"
            print(line, file=sys.stdout, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


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
