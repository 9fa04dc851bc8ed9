"""The one fit loop around the C++ epoch (run_epochs), for MLP.fit (run_fit) and the estimators'
stochastic solvers (fastmlp._sklearn_sgd): Python is entered once per epoch to check for divergence
and to call the fit's hooks (the rates, the validation pass, the History, the callbacks, the progress,
or scikit-learn's stopping rules); every step of the epoch runs in C++."""

from __future__ import annotations

import math
import sys
import time
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from . import _core
from .memory import check_fit_memory, fit_bytes

if TYPE_CHECKING:
    from ._core import LossArg
    from .distributed import FitCollective
    from .fitting import FitConfig
    from .model import MLP
    from .optim import Optimizer
    from .schedules import Schedule

__all__ = ["History", "DivergenceError"]


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss, weight, optimizer state or output.

    The model then holds the weights of the last finite epoch if their outputs on the training data are
    finite, else exactly the weights it had before the fit; the message says which.
    """


class History:
    """What fit() returns: `history` maps "loss" (and "val_loss") to one value per epoch run.

    Parameters
    ----------
    params : dict
        The fit's settings, kept as `params`.

    Attributes
    ----------
    history : dict of str to list of float
        One value per epoch run of each logged quantity: "loss", "lr" (the epoch's first learning
        rate) and, with validation data, "val_loss".
    epoch : list of int
        The 0-based numbers of the epochs run.
    params : dict
        The fit's settings: for MLP.fit "epochs", "batch_size", "steps" (per epoch), "samples", "loss",
        "optimizer", and the trainer's "path" and "path_reason".
    stopped_reason : str or None
        Why fit ended early, in words; None when it ran every epoch.
    stopped_epoch : int or None
        The 0-based epoch at which it ended early.
    stopped_by : object or None
        The callback that stopped it, if one did.
    """

    def __init__(self, params: dict[str, Any]) -> None:
        self.history: dict[str, list[float]] = {"loss": []}
        self.epoch: list[int] = []
        self.params = params
        self.stopped_reason: str | None = None  # why fit ended early (None when it ran every epoch)
        self.stopped_epoch: int | None = None  # the 0-based epoch at which it ended early
        self.stopped_by: object | None = None  # the callback that stopped it, if one did

    def __repr__(self) -> str:
        last = {k: (v[-1] if v else None) for k, v in self.history.items()}
        return f"History(epochs={len(self.epoch)}, last={last})"


def run_fit(model: MLP, x: NDArray[Any], y: NDArray[Any], config: FitConfig, dist: FitCollective) -> History:
    """The body of MLP.fit: x and y as the trainer takes them, config the checked and converted rest
    (fastmlp.fitting.FitConfig).

    Whatever happens (divergence, Ctrl-C, an exception in a callback), fit leaves the model with weights
    whose outputs on the training data are finite, or with exactly the weights it had before the fit;
    the error says which.

    dist: the fit's collective (fastmlp.distributed.SingleProcess, or Collective for a data-parallel fit);
    config.rows = (global rows, this rank's first row): every decision below is taken on values all
    ranks share, and every rank makes the same collective calls in the same order."""
    c = config
    total, offset = c.rows
    global_rows = total if dist.size > 1 else 0  # the trainer's data-parallel mode: 0 is one process
    state = model._optimizer_state_for(c.optimizer)
    # Every rank starts from rank 0's weights and optimizer state.
    dist.broadcast(model.weights + model.biases + [a for bufs in state["w"] + state["b"] for a in bufs])
    state["step"] = dist.bcast(state["step"])
    # A batch larger than the data set is the whole set (fit has refused it with drop_last).
    batch = 0 if c.batch_size is None else min(c.batch_size, total)
    error: BaseException | None
    trainer: _core.Trainer | None
    options: _core.TrainOptions | None
    error, trainer, options = None, None, None
    try:
        options = _core.TrainOptions(
            loss=c.loss,
            optimizer=c.optimizer.config(),
            batch_size=batch,
            shuffle=c.shuffle,
            drop_last=c.drop_last,
            seed=typing.cast(int, c.seed),  # FitChecks._fit has drawn one when the argument was None
            clip_grad_norm=c.clip_grad_norm,
            clip_grad_value=c.clip_grad_value,
            device=model.device,
            global_rows=global_rows,
            row_offset=offset,
            reduce=dist.reduce_hook(),
            dropout=list(model.dropout),
        )
        check_fit_memory(model, x.shape[0], options)
        trainer = _core.Trainer(
            model.weights, model.biases, model.activations, model.negative_slope, state["w"], state["b"], x, y, options
        )
    except MemoryError as e:
        if options is None:  # not even the options could be made: there is no fit to measure
            error = e
        else:
            need = fit_bytes(model, x.shape[0], options)
            error = MemoryError(
                f"fit: not enough {'device' if model.device == 'cuda' else 'host'} memory for "
                f"batch_size={c.batch_size}: the fit needs {need / 2**30:.3g} GiB; use a smaller "
                f"batch (fastmlp.max_batch_size(model) gives the largest that fits) ({e})"
            )
            error.__cause__ = e
    except Exception as e:
        error = e
    dist.agree(error)  # raises this rank's error, or names the ranks that failed
    trainer = typing.cast(_core.Trainer, trainer)  # made on every rank, or agree() raised
    dist.begin_steps()
    steps = trainer.steps_per_epoch
    hist = History(
        {
            "epochs": c.epochs,
            "batch_size": c.batch_size,
            "steps": steps,
            "samples": total,
            "loss": c.loss,
            "optimizer": repr(c.optimizer),
            "path": trainer.path,
            "path_reason": trainer.path_reason,
        }
    )
    hist.history["lr"] = []
    if c.validation_data is not None:
        hist.history["val_loss"] = []
    guard = Guard(model, state, trainer, x, dist)
    hooks = _FitHooks(
        model,
        hist,
        c.optimizer,
        c.schedule,
        steps,
        c.epochs,
        c.validation_data,
        c.loss,
        c.callbacks,
        _Progress(c.verbose, c.epochs),
        x.shape[0],
        dist,
    )
    run_epochs(trainer, guard, hooks, c.epochs, dist, c.on_nonfinite)
    error = None
    try:
        for cb in c.callbacks:
            if callable(getattr(cb, "on_train_end", None)):
                cb.on_train_end(dict(hooks.logs))
    except BaseException as e:
        error = e
    dist.agree(error)
    return hist


class EpochHooks:
    """What a fit plugs into run_epochs: MLP.fit's (_FitHooks: schedule, validation, History,
    callbacks, progress) or an estimator's (scikit-learn's rates and stopping rules). Each default
    does nothing."""

    # Whether anything between epochs (a callback) may write the weights: the guard then checks them
    # before the next epoch as well as after each.
    writes_between_epochs = False

    def begin(self) -> None:
        """Before the first epoch, inside the loop's guard (an error here settles the weights too)."""

    def rates(self, epoch: int) -> NDArray[np.float64]:
        """The learning rate of every step of this fit's epoch `epoch` (float64, steps_per_epoch)."""
        raise NotImplementedError

    def order(self, epoch: int) -> int:
        """The epoch number the trainer draws its permutation of the rows for."""
        return epoch

    def check(self, epoch: int, loss: float) -> str:
        """After an epoch whose loss and weights are finite: '' or what else became non-finite."""
        return ""

    def end_epoch(self, epoch: int, loss: float, lr: float, seconds: float) -> bool:
        """After a finite epoch (lr: its first step's rate): True stops the fit here."""
        return False

    def diverged(self, epoch: int, reason: str, loss: float | None) -> None:
        """The guard has restored usable weights (reason says which). loss: the epoch's loss when an
        epoch's run diverged, None when the weights were found non-finite between or after epochs."""

    def close(self) -> None:
        """Last, whatever happened."""

    def take_error(self) -> BaseException | None:
        """An error a hook kept for the next agreement (data parallel: one raised on one rank between
        agreement points, such as rank 0's progress output failing), or None."""
        return None


def run_epochs(
    trainer: _core.Trainer,
    guard: Guard,
    hooks: EpochHooks,
    epochs: int,
    dist: FitCollective,
    on_nonfinite: Literal["raise", "stop"] = "raise",
) -> None:
    """The epoch loop of every fit: MLP.fit's (run_fit) and the estimators' stochastic solvers'. Each
    epoch runs in C++; between epochs the guard checks for divergence (restoring usable weights, then
    raising DivergenceError, or returning when on_nonfinite="stop") and the hooks decide the rates, the
    order and whether to stop. Whatever ends the fit early (Ctrl-C, an error in a hook or the trainer),
    the weights are settled first: those of the last completed step when their outputs on the training
    data are finite, else restored; a note on the exception says which. dist: the fit's collective."""
    state = guard.state
    # Replay (see Guard) needs every write of the weights to be the trainer's; the CUDA trainers keep
    # the copy per epoch.
    guard.replay = not hooks.writes_between_epochs and guard.model.device == "cpu"
    try:
        hooks.begin()
        diverged, last = False, 0  # last: the last epoch that ended (0 before any)
        checked: NDArray[np.float64] | None = (
            None  # the rates last checked: hooks whose rate did not change return the same array
        )
        for epoch in range(epochs):
            error = hooks.take_error()
            try:
                rates = hooks.rates(epoch)
                if rates is not checked:
                    if not (np.all(np.isfinite(rates)) and np.all(rates >= 0)):
                        raise ValueError(
                            f"the schedule gave a negative or non-finite learning rate in epoch "
                            f"{epoch + 1}: {rates[~(np.isfinite(rates) & (rates >= 0))][0]}"
                        )
                    checked = rates
            except BaseException as e:
                error = error or e
            # Data parallel: a Ctrl-C, a hook's error or the schedule's since the last agreement stops
            # every rank here.
            dist.agree(error)
            lr = float(rates[0])
            # Non-finite values written between epochs (by a callback).
            bad = guard.epoch_start(epoch, hooks.writes_between_epochs)
            if bad:
                diverged = True
                _diverged(guard, hooks, on_nonfinite, bad, epoch)
                break
            order = hooks.order(epoch)
            guard.epoch_ran(order, rates, state["step"])
            start = time.perf_counter()
            guard.in_epoch = True
            try:
                loss, state["step"], found = trainer.run_epoch(order, rates, state["step"], guard.snapshot)
            except BaseException as e:
                # Data parallel: each step's reduce carries every rank's status, so a step that failed
                # anywhere fails on every rank, at the same step.
                dist.mark_agreed(e)
                raise
            guard.in_epoch = False
            elapsed = time.perf_counter() - start
            value = dist.epoch_loss(loss, trainer)  # over every rank's rows
            bad = guard.nonfinite(value, found) or hooks.check(epoch, value)
            if bad:
                diverged = True
                _diverged(guard, hooks, on_nonfinite, f"{bad} in epoch {epoch + 1} (lr={lr:g})", epoch, value)
                break
            last = epoch
            if hooks.end_epoch(epoch, value, lr, elapsed):
                break
        if not diverged:
            # The last step's weights were never run forward: check them on the training data, and
            # what a callback may have left after the last epoch.
            bad = guard.final()
            if bad:
                _diverged(guard, hooks, on_nonfinite, f"{bad} after epoch {last + 1}", last)
        hooks.close()
        dist.agree(hooks.take_error())
    except DivergenceError:
        raise
    except BaseException as e:  # Ctrl-C, an error in a hook or in the trainer: settle the weights first
        # Data parallel: settling makes collectives, which only an error every rank has is safe for.
        dist.abort_unless_agreed(e)
        note = guard.settle()
        error = e
        if dist.pending_interrupt:  # data parallel: this rank's Ctrl-C stopped every rank
            dist.pending_interrupt = False
            error = dist.mark_agreed(KeyboardInterrupt("Ctrl-C on this rank stopped the data-parallel fit"))
        if hasattr(error, "add_note"):
            error.add_note(f"fastmlp: {note}")
        if error is e:
            raise
        raise error from e
    finally:
        hooks.close()


def _diverged(
    guard: Guard,
    hooks: EpochHooks,
    on_nonfinite: Literal["raise", "stop"],
    what: str,
    epoch: int,
    loss: float | None = None,
) -> None:
    """Restore weights that give finite outputs (or the pre-fit ones), then raise or record the stop."""
    restored = guard.restore()
    hint = "" if "callback" in what else " The learning rate is probably too large: try a smaller one."
    reason = f"{what}; {restored}.{hint}"
    hooks.diverged(epoch, reason, loss)
    if on_nonfinite == "raise":  # decided on values every rank shares: raised on every rank
        raise guard.dist.mark_agreed(DivergenceError(reason))


class _FitHooks(EpochHooks):
    """MLP.fit's part of the epoch loop: the schedule's rates, the validation pass, the History, the
    callbacks and the progress report. The callbacks' hooks are looked up once, in begin(); per epoch
    only the ones that exist are called."""

    logs: dict[str, float]  # the last epoch's logged values
    val_loss: float | None  # the last epoch's validation loss (None: not finite, or no validation data)
    epoch_end_hooks: list[tuple[Any, Callable[[int, dict[str, float]], object]]]  # (callback, its on_epoch_end)
    error: BaseException | None  # kept for the next agreement (see take_error)

    def __init__(
        self,
        model: MLP,
        hist: History,
        optimizer: Optimizer,
        schedule: Schedule | None,
        steps: int,
        epochs: int,
        validation_data: tuple[NDArray[Any], NDArray[Any]] | None,
        loss: LossArg,
        callbacks: Sequence[Any],
        progress: _Progress,
        rows: int,
        dist: FitCollective,
    ) -> None:
        self.model, self.hist, self.optimizer, self.schedule = model, hist, optimizer, schedule
        self.steps, self.epochs, self.validation_data, self.loss = steps, epochs, validation_data, loss
        self.callbacks, self.progress, self.rows, self.dist = callbacks, progress, rows, dist
        self.logs, self.val_loss, self.epoch_end_hooks, self.error = {}, None, [], None
        self._constant: NDArray[np.float64] | None = None  # rates(): the epoch's rates while there is no schedule
        self.writes_between_epochs = bool(callbacks)
        model.stop_training = False

    def begin(self) -> None:
        error: BaseException | None = None
        try:
            for cb in self.callbacks:
                if callable(getattr(cb, "set_model", None)):
                    cb.set_model(self.model)
            for cb in self.callbacks:
                if callable(getattr(cb, "on_train_begin", None)):
                    cb.on_train_begin({})
        except BaseException as e:
            error = e
        self.dist.agree(error)
        self.epoch_end_hooks = [
            (cb, cb.on_epoch_end) for cb in self.callbacks if callable(getattr(cb, "on_epoch_end", None))
        ]

    def rates(self, epoch: int) -> NDArray[np.float64]:
        if self.schedule is None:  # the same array while the rate stays (see Guard.epoch_ran)
            lr = self.optimizer.lr
            if self._constant is None or (self._constant.size and self._constant[0] != lr):
                self._constant = np.full(self.steps, lr)
            return self._constant
        return self.schedule.rates(self.optimizer.lr, epoch, self.steps, epoch * self.steps)

    def check(self, epoch: int, loss: float) -> str:
        if self.validation_data is None:
            return ""
        self.val_loss, bad = _validation_loss(self.model, self.validation_data, self.loss, self.dist)
        return bad

    def end_epoch(self, epoch: int, loss: float, lr: float, seconds: float) -> bool:
        model, hist, dist = self.model, self.hist, self.dist
        hist.epoch.append(epoch)
        hist.history["loss"].append(float(loss))
        hist.history["lr"].append(lr)
        if self.validation_data is not None:
            hist.history["val_loss"].append(typing.cast(float, self.val_loss))  # check() found it finite
        logs = self.logs = {k: v[-1] for k, v in hist.history.items()}
        stopper: object | None = None
        cb_logs = dict(logs)  # shared by this epoch's callbacks: one may add values for those after it
        error: BaseException | None = None
        try:
            if self.schedule is not None:
                self.schedule.end_epoch(dict(logs))
            for cb, hook in self.epoch_end_hooks:
                result = hook(epoch, cb_logs)
                if stopper is None and (
                    result is True or (isinstance(result, np.bool_) and result) or model.stop_training
                ):
                    stopper = cb
                    model.stop_training = True
        except BaseException as e:
            error = e
        dist.agree(error)  # a callback's error, or its stop, on any rank is every rank's
        if dist.any(model.stop_training) and not model.stop_training:
            model.stop_training = True
            stopper = _OtherRank()
        try:
            self.progress.epoch_end(epoch, logs, self.rows / max(seconds, 1e-12), last=model.stop_training)
        except BaseException as e:  # e.g. stdout on a full disk: data parallel, told at the next agreement
            self._keep(e)
        if model.stop_training:
            if epoch < self.epochs - 1:  # a stop requested after the last epoch ends nothing early
                hist.stopped_reason, hist.stopped_epoch = _stop_reason(stopper, epoch), epoch
                hist.stopped_by = stopper
            return True
        return False

    def diverged(self, epoch: int, reason: str, loss: float | None) -> None:
        self.hist.stopped_reason, self.hist.stopped_epoch, self.hist.stopped_by = reason, epoch, None

    def close(self) -> None:
        try:
            self.progress.close()
        except BaseException as e:
            self._keep(e)

    def _keep(self, error: BaseException) -> None:
        if self.dist.size == 1:  # one process: raised where it happens
            raise error
        self.error = self.error or error

    def take_error(self) -> BaseException | None:
        error, self.error = self.error, None
        return error


def _validation_loss(
    model: MLP, validation_data: tuple[NDArray[Any], NDArray[Any]], loss: LossArg, dist: FitCollective
) -> tuple[float | None, str]:
    """(val_loss, '') or (None, what went non-finite). Data parallel: over every rank's validation rows
    (each rank's mean, weighted by its rows)."""
    # As evaluate, in the network's own units: fit standardized X_val (when the model standardizes)
    # and laid the targets out for the loss (fastmlp.targets).
    pred = model._forward(validation_data[0])
    finite, rows = bool(np.isfinite(pred).all()), pred.shape[0]
    value: float | None  # this rank's loss, then the ranks' mean (None: not agreed)
    value = _core.loss(loss, pred, validation_data[1], "mean", model.device) if finite and rows else 0.0
    agreed, value = dist.weighted_mean(value, rows, finite)
    if not agreed or value is None:  # value is None exactly when the ranks did not agree
        kind = _kind(pred) if not finite else "non-finite on another rank"
        return None, f"the predictions on the validation data became {kind}"
    if not np.isfinite(value):
        return None, f"the validation loss became {value}"
    return value, ""


class _OtherRank:
    """Stands for a callback on another rank of a data-parallel fit that asked to stop."""

    stop_reason = "a callback on another rank asked to stop"


def _kind(a: NDArray[Any]) -> str:
    return "NaN" if np.isnan(a).any() else "Inf"


class Network(typing.NamedTuple):
    """What the guard reads of a network, for a fit that has no MLP object (the estimators'): its
    parameters (the trainer's own arrays, restored in place) and what makes its outputs."""

    weights: list[NDArray[Any]]
    biases: list[NDArray[Any]]
    activations: list[str]
    negative_slope: float
    dtype: np.dtype[Any]
    device: str

    @property
    def n_layers(self) -> int:
        return len(self.weights)


class Guard:
    """What fit needs to keep its promise about the weights it leaves: a copy of the weights and
    optimizer state from before the fit, the means to get back those of the start of the current epoch
    (the last finite epoch's), and the checks that decide which of them to restore.

    The last finite epoch's weights come back in one of two ways. When nothing but the trainer writes
    the weights during the fit (no callback; the CPU), the guard only notes what each epoch ran with
    (its order, rates and first step) and, on a divergence, replays the epochs from the weights of
    before the fit: the trainer is deterministic, so the replay gives the same bits, and a fit that does
    not diverge (nearly all) pays no copy per epoch. Otherwise the trainer keeps a copy of the weights
    at the start of each epoch (run_epoch(snapshot=True)), and restore_snapshot puts it back."""

    good_epoch: int | None  # the last epoch that ended finite (0-based)
    good_step: int | None  # the optimizer step at its end

    def __init__(
        self, model: MLP | Network, state: dict[str, Any], trainer: _core.Trainer, x: NDArray[Any], dist: FitCollective
    ) -> None:
        self.model, self.state, self.trainer, self.x, self.dist = model, state, trainer, x, dist
        self._all: list[NDArray[Any]] | None = None
        self.initial = self._snapshot()
        self.good_epoch, self.good_step = None, None  # None: no epoch has ended finite yet
        self.snapshot = False  # whether the next run_epoch keeps the weights as the last finite epoch's
        self.in_epoch = False
        self.replay = False  # set by run_epochs: whether the epochs are replayed rather than copied
        self.epochs_run: list[tuple[int, NDArray[np.float64], int]] = []  # (order, rates, first step) of each
        # epoch run, when replaying
        self.replay_bytes = 0  # the bytes of the rates in epochs_run
        # Outputs beyond half the dtype's range are treated as overflowing (rounding may add the rest).
        self.limit = 0.5 * float(np.finfo(model.dtype).max)

    def _arrays(self) -> list[NDArray[Any]]:
        # The same arrays for the whole fit (the trainer holds pointers into them; set_weights writes
        # into them), so the list is made once.
        if self._all is None:
            m, s = self.model, self.state
            self._all = m.weights + m.biases + [a for bufs in s["w"] + s["b"] for a in bufs]
        return self._all

    def _snapshot(self) -> tuple[list[NDArray[Any]], int]:
        """(copies of the arrays, the step)."""
        return [a.copy() for a in self._arrays()], self.state["step"]

    def _restore(self, snap: tuple[list[NDArray[Any]], int]) -> None:
        arrays, step = snap
        for a, a0 in zip(self._arrays(), arrays):
            a[...] = a0
        self.state["step"] = step

    def _restore_good(self) -> None:
        if not self.replay:
            self.trainer.restore_snapshot()
        else:  # the epochs up to the good one, again from the weights of before the fit
            self._restore(self.initial)
            try:
                # restore() calls it once an epoch has ended finite: good_epoch is set
                for order, rates, step in self.epochs_run[: typing.cast(int, self.good_epoch) + 1]:
                    self.trainer.run_epoch(order, rates, step, False)
            except BaseException:  # a Ctrl-C during the replay: the weights are between two epochs
                self._restore(self.initial)
                self.good_epoch = None
                raise
        self.state["step"] = self.good_step

    # The most bytes of rates the replay keeps; a fit past it (per-step schedules over epochs of very
    # many steps) goes on with the copy per epoch.
    REPLAY_BYTES = 16 << 20

    def epoch_ran(self, order: int, rates: NDArray[np.float64], step: int) -> None:
        """Notes what the epoch about to run runs with (replay: what restore runs it with again). Hooks
        give a new array when the rates change, the same one when they do not (run_epochs relies on
        it too), so an unchanged rate is kept once."""
        if not self.replay:
            return
        if not (self.epochs_run and rates is self.epochs_run[-1][1]):
            self.replay_bytes += rates.nbytes
            if self.replay_bytes > self.REPLAY_BYTES:  # from this epoch on, the trainer's copy
                self.replay, self.snapshot, self.epochs_run = False, True, []
                return
        self.epochs_run.append((order, rates, step))

    def _first_nonfinite(self, i: int | None = None) -> str:
        """'' when every weight and optimizer state value is finite, else what is not. i: the index of
        the first non-finite array when already known (run_epoch's), -1 for none."""
        i = _core.all_finite(self._arrays()) if i is None else i
        if i < 0:
            return ""
        n = self.model.n_layers
        if i < 2 * n:
            name = f"W{i}" if i < n else f"b{i - n}"
            return f"the weights became non-finite ({name} holds {_kind(self._arrays()[i])})"
        return "the optimizer's state became non-finite (its steps would be NaN or 0 from now on)"

    def _agreed(self, bad: str) -> str:
        """This rank's finding, or (data parallel) another rank's: weights a callback changed on one rank
        only must stop every rank."""
        if self.dist.any(bool(bad)) and not bad:
            return "the weights became non-finite on another rank"
        return bad

    def epoch_start(self, epoch: int, written: bool = True) -> str:
        """'' or what is non-finite; keeps the weights as the last finite epoch's. Epoch 0 starts from
        the weights the trainer has just checked; later ones from what the last epoch (checked by
        nonfinite) and, when `written`, the callbacks left."""
        bad = self._agreed(self._first_nonfinite() if epoch > 0 and written else "")
        if bad:
            when = "before the first epoch" if epoch == 0 else f"between epochs {epoch} and {epoch + 1}"
            return f"{bad} {when} (written by a callback?)"
        # From epoch 1 on, run_epoch keeps the weights it starts from (the first thing it does), or
        # (replay) the epochs before it can be run again.
        self.snapshot = epoch > 0 and not self.replay
        if epoch > 0:
            self.good_epoch, self.good_step = epoch - 1, self.state["step"]
        return ""

    def nonfinite(self, loss: float, index: int) -> str:
        """After an epoch: '' or what became non-finite (index: run_epoch's finding on the arrays)."""
        if not math.isfinite(loss):
            return f"the training loss became {loss}"
        if index < 0:  # the trainer found every array finite
            return ""
        bad = self._first_nonfinite(index)
        return f"{bad}; the loss was {loss:.4g}" if bad else ""

    def outputs_finite(self, checked: bool = False) -> bool:
        """Whether the model's outputs on the training data are finite: a bound from the weights first
        (cheap), the forward pass itself only when the bound cannot rule out an overflow. Data parallel:
        on every rank's rows (all ranks answer the same). checked: the weights are known finite."""
        return not self.dist.any(not self._outputs_finite_here(checked))

    def _outputs_finite_here(self, checked: bool) -> bool:
        m = self.model
        if not checked and self._first_nonfinite():
            return False
        if _core.output_bound(m.weights, m.biases, m.activations, m.negative_slope, self.trainer.x_max) < self.limit:
            return True
        return bool(
            np.isfinite(_core.mlp_forward(m.weights, m.biases, m.activations, m.negative_slope, self.x, m.device)).all()
        )

    def final(self) -> str:
        """'' when the weights fit ends with are usable, else what is wrong with them."""
        bad = self._agreed(self._first_nonfinite())
        if bad:
            return bad
        if not self.outputs_finite(checked=True):
            return "the weights give non-finite outputs on the training data"
        return ""

    def restore(self) -> str:
        """Puts back the last finite epoch's weights if their outputs on the training data are finite,
        else the weights from before the fit; says which."""
        if self.good_epoch is not None:
            self._restore_good()
            if self.outputs_finite():
                return (
                    f"the weights of the last finite epoch were restored (the end of epoch "
                    f"{self.good_epoch + 1}; their outputs on the training data are finite)"
                )
            self._restore(self.initial)
            return (
                "the weights of the last finite epoch gave non-finite outputs on the training data, so the "
                "weights from before this fit were restored"
            )
        self._restore(self.initial)
        return "the weights from before this fit were restored"

    def settle(self) -> str:
        """After an exception: keep the weights if they are usable, else restore; says which."""
        if self.in_epoch:
            self.state["step"] = self.trainer.step  # the steps the interrupted epoch completed
        try:
            if self.outputs_finite():
                return (
                    f"the model keeps the weights of its last completed step (optimizer step "
                    f"{self.state['step']}); their outputs on the training data are finite"
                )
        except BaseException:  # a second Ctrl-C during the check: fall back to the safe answer
            self._restore(self.initial)
            return "the weights from before this fit were restored"
        return self.restore()


def _stop_reason(callback: object | None, epoch: int) -> str:
    if callback is None:
        return f"model.stop_training was set to True; training stopped after epoch {epoch + 1}"
    name = type(callback).__name__
    detail = getattr(callback, "stop_reason", None)
    return f"callback {name} stopped training after epoch {epoch + 1}" + (f": {detail}" if detail else "")


def verbosity(verbose: object) -> int:
    """fit's verbose argument as 0 (silent), 1 (a progress bar, or a line every ~5% of the epochs without
    tqdm) or 2 (a line per epoch; also verbose="epoch")."""
    if verbose is None:
        return 0
    if isinstance(verbose, str):
        if verbose == "epoch":
            return 2
    elif isinstance(verbose, (bool, np.bool_, int, np.integer)) and int(verbose) in (0, 1, 2):
        return int(verbose)
    raise ValueError(
        f"verbose must be False/0, True/1 (progress bar), 2 or 'epoch' (a line per epoch), got {verbose!r}"
    )


def _import_tqdm() -> Callable[..., Any] | None:
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

    bar: Any  # the tqdm bar, or None

    def __init__(self, verbose: int, epochs: int) -> None:
        self.verbose, self.epochs, self.bar = verbose, epochs, None
        self.every = 1 if verbose == 2 else max(1, epochs // 20)
        if verbose == 1 and epochs > 0:
            tqdm = _import_tqdm()
            if tqdm is not None:
                self.bar = tqdm(total=epochs, desc="fit", unit="epoch", file=sys.stderr, dynamic_ncols=True, leave=True)

    def epoch_end(self, epoch: int, logs: Mapping[str, float], rate: float, last: bool = False) -> None:
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

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
