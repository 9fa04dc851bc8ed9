"""Callbacks for MLP.fit: objects whose hooks fit calls once per epoch (never per step).

A callback is any object with some of these methods (each is optional)::

    on_train_begin(logs)          before the first epoch; logs is {}
    on_epoch_end(epoch, logs)     after each epoch (epoch counts from 0 within the fit); logs holds this
                                  epoch's "loss", "lr" and, with validation_data, "val_loss"
    on_train_end(logs)            after the last epoch run (the last epoch's logs); not called when
                                  fit raises (e.g. DivergenceError)
    set_model(model)              called by fit before on_train_begin with the MLP being trained
    monitors()                    names of the logged values it reads; fit refuses, before training,
                                  a callback that monitors a value the fit will not log

on_epoch_end returning True (the bool, or ``numpy.True_``: other truthy values such as the count a
file.write returns do not stop), or setting model.stop_training = True, ends training after that epoch;
History.stopped_reason then names the callback (and gives its `stop_reason` attribute when it has one).
Every callback still sees the epoch on which training stops.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from ._constraints import check_bool, is_number

if TYPE_CHECKING:
    from .model import MLP

    # A logs dict of fit: the epoch's logged values ("loss", "lr", "val_loss", ...) by name.
    Logs = dict[str, float]
    # Copies of a model's (weights, biases), layer by layer.
    Weights = list[tuple[NDArray[Any], NDArray[Any]]]

__all__ = ["Callback", "EarlyStopping", "LambdaCallback"]


class Callback:
    """Base class of callbacks, whose hooks MLP.fit calls once per epoch.

    Deriving from it is optional: fit accepts any object with some of the hook methods. Each hook here
    does nothing; a subclass overrides those it needs.

    Attributes
    ----------
    model : MLP or None
        The MLP being trained, set by fit (through `set_model`) before `on_train_begin`.

    See Also
    --------
    EarlyStopping : Stop when a logged value has stopped improving.
    LambdaCallback : A callback made of plain functions.

    Examples
    --------
    >>> import numpy as np
    >>> import fastmlp
    >>> class Printer(fastmlp.Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         if epoch % 50 == 0:
    ...             print(epoch, round(logs["loss"], 4))
    >>> x = np.linspace(-1, 1, 20).reshape(-1, 1)
    >>> model = fastmlp.MLP([1, 1])
    >>> history = model.fit(x, 2 * x + 1, optimizer=fastmlp.optim.SGD(lr=0.1), epochs=200,
    ...                     callbacks=[Printer()])
    0 2.154
    50 0.0005
    100 0.0
    150 0.0
    """

    model: MLP | None = None

    def set_model(self, model: MLP) -> None:
        """Keep the model being trained (fit calls it before `on_train_begin`).

        Parameters
        ----------
        model : MLP
            The model that fit trains.
        """
        self.model = model

    def on_train_begin(self, logs: Logs | None = None) -> None:
        """Called before the first epoch.

        Parameters
        ----------
        logs : dict, optional
            An empty dict.
        """

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> object:
        """Called after each epoch.

        Returning True (the bool, or ``numpy.True_``), or setting ``model.stop_training = True``, ends
        training after this epoch.

        Parameters
        ----------
        epoch : int
            The epoch, counted from 0 within the fit.
        logs : dict, optional
            This epoch's "loss", "lr" and, with validation data, "val_loss".
        """

    def on_train_end(self, logs: Logs | None = None) -> None:
        """Called after the last epoch run; not called when fit raises (e.g. DivergenceError).

        Parameters
        ----------
        logs : dict, optional
            The last epoch's logs.
        """

    def monitors(self) -> set[str]:
        """Names of the logged values this callback reads.

        fit checks, before training, that they will be logged.

        Returns
        -------
        set of str
            The names; empty for this base class.
        """
        return set()

    _repr_fields: tuple[str, ...] = ()  # the constructor arguments __repr__ shows

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._repr_fields)
        return f"{type(self).__name__}({args})"


class EarlyStopping(Callback):
    """Stop training when a logged value has stopped improving.

    The semantics are those of keras.callbacks.EarlyStopping:

    - an epoch improves when its value beats the best so far by more than min_delta
      (mode="min": value < best - min_delta; mode="max": value > best + min_delta); the first epoch
      always sets the best;
    - `wait` counts the epochs since the last improvement, and training stops after the first epoch at
      which wait >= patience (patience=0 stops at the first epoch that does not improve; never at the
      first epoch of a fit);
    - baseline: an improvement resets `wait` only if the value also beats the baseline, so training
      stops after `patience` epochs unless the baseline is beaten;
    - restore_best_weights=True: at the end of training the weights and biases of the best epoch are put
      back — whether or not training stopped early (the optimizer state is not rolled back).

    The state is reset at the start of every fit, so one instance can serve several fits.

    Parameters
    ----------
    monitor : str, default "val_loss"
        The logged value to watch: "val_loss" (needs validation data), "loss", or another logged value.
    patience : int, default 0
        The epochs without improvement after which training stops (an int >= 0).
    min_delta : float, default 0.0
        The least change that counts as an improvement; its sign is ignored (mode gives the
        direction).
    mode : {"min", "max"}, default "min"
        Whether the value improves by falling or by rising.
    restore_best_weights : bool, default False
        Put the best epoch's weights and biases back at the end of training.
    baseline : float, optional
        A value that an improvement must also beat to reset `wait`.

    Attributes
    ----------
    best : float or None
        The best value so far.
    best_epoch : int
        The 0-based epoch within the fit of the best value.
    stopped_epoch : int
        The epoch after which it stopped training, 0 when it did not.
    wait : int
        The epochs since the last improvement.
    stop_reason : str or None
        Why it stopped training, in words (History.stopped_reason quotes it).

    Raises
    ------
    TypeError
        If `monitor` is not a str.
    ValueError
        If `patience` is not an int >= 0, `min_delta` is not a finite number, `mode` is neither "min"
        nor "max", or `baseline` is neither None nor a number.

    Examples
    --------
    >>> import numpy as np
    >>> import fastmlp
    >>> x = np.linspace(-1, 1, 20).reshape(-1, 1)
    >>> stop = fastmlp.EarlyStopping(monitor="loss", patience=3, min_delta=1e-3)
    >>> history = fastmlp.MLP([1, 1]).fit(x, 2 * x + 1, optimizer="sgd", epochs=1000, callbacks=[stop])
    >>> len(history.epoch), stop.best_epoch, stop.stopped_epoch
    (270, 266, 269)
    >>> print(history.stopped_reason)  # doctest: +NORMALIZE_WHITESPACE
    callback EarlyStopping stopped training after epoch 270: loss did not improve on its best
    (0.0225888 in epoch 267) by more than min_delta=0.001 for 3 epoch(s) (patience=3)
    """

    _repr_fields = ("monitor", "patience", "min_delta", "mode", "restore_best_weights", "baseline")

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 0,
        min_delta: float = 0.0,
        mode: Literal["min", "max"] = "min",
        restore_best_weights: bool = False,
        baseline: float | None = None,
    ) -> None:
        if not isinstance(monitor, str):
            raise TypeError(
                f"monitor must be the name of a logged value such as 'val_loss' or 'loss', got {type(monitor).__name__}"
            )
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 0:
            raise ValueError(f"patience must be an int >= 0, got {patience!r}")
        if not (is_number(min_delta) and math.isfinite(min_delta)):
            raise ValueError(f"min_delta must be a finite number, got {min_delta!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if baseline is not None and not (is_number(baseline) and not math.isnan(baseline)):
            raise ValueError(f"baseline must be a number or None, got {baseline!r}")
        self.monitor = monitor
        self.patience = int(patience)
        self.min_delta = abs(float(min_delta))  # as Keras: the sign comes from mode
        self.mode = mode
        self.restore_best_weights = check_bool(restore_best_weights, "restore_best_weights")
        self.baseline = None if baseline is None else float(baseline)
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.best: float | None = None
        self.best_epoch = 0
        self.best_weights: Weights | None = None  # [(W, b), ...] copies, kept only with restore_best_weights
        self.stopped_epoch = 0
        self.stop_reason: str | None = None

    def monitors(self) -> set[str]:
        """The logged value this callback reads.

        Returns
        -------
        set of str
            ``{monitor}``.
        """
        return {self.monitor}

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if reference is None:  # Keras starts from +-inf: any value but NaN improves on it
            return not math.isnan(value)
        if self.mode == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def on_train_begin(self, logs: Logs | None = None) -> None:
        """Reset the state (best, wait, stopped_epoch, ...) for a new fit.

        Parameters
        ----------
        logs : dict, optional
            Not read.
        """
        self._reset()

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> bool:
        """Record the epoch's value and decide whether training stops.

        Parameters
        ----------
        epoch : int
            The epoch, counted from 0 within the fit.
        logs : dict, optional
            The epoch's logged values; they must hold `monitor`.

        Returns
        -------
        bool
            True when training stops after this epoch.

        Raises
        ------
        ValueError
            If the logs do not hold the monitored value.
        """
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(
                f"EarlyStopping monitors {self.monitor!r}, which this fit does not log "
                f"(logged: {', '.join(logs) or 'nothing'})"
            )
        value = float(logs[self.monitor])
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self._copy_weights()  # the first epoch's weights are the best so far
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(value, self.best):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self._copy_weights(into=self.best_weights)
            if self.baseline is None or self._is_improvement(value, self.baseline):
                self.wait = 0
            return False
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            beat = "" if self.baseline is None else f" and the baseline {self.baseline:g}"
            self.stop_reason = (
                f"{self.monitor} did not improve on its best ({self.best:.6g} in epoch "
                f"{self.best_epoch + 1}){beat} by more than min_delta={self.min_delta:g} "
                f"for {self.wait} epoch(s) (patience={self.patience})"
            )
            return True
        return False

    def on_train_end(self, logs: Logs | None = None) -> None:
        """With restore_best_weights, put the best epoch's weights and biases back.

        Parameters
        ----------
        logs : dict, optional
            Not read.
        """
        if self.restore_best_weights and self.best_weights is not None:
            model = typing.cast("MLP", self.model)  # fit has set it (set_model) before the first epoch
            for (w, b), (w0, b0) in zip(zip(model.weights, model.biases), self.best_weights):
                w[...] = w0
                b[...] = b0

    def _copy_weights(self, into: Weights | None = None) -> Weights:
        """Copies of the model's weights and biases (into existing buffers when given: no allocation)."""
        model = typing.cast("MLP", self.model)  # fit has set it (set_model) before the first epoch
        if into is None:
            return [(w.copy(), b.copy()) for w, b in zip(model.weights, model.biases)]
        for (w, b), (w0, b0) in zip(zip(model.weights, model.biases), into):
            w0[...] = w
            b0[...] = b
        return into


class LambdaCallback(Callback):
    """A callback made of plain functions.

    Parameters
    ----------
    on_epoch_end : callable, optional
        Called as on_epoch_end(epoch, logs) after each epoch; returning True stops training.
    on_train_begin : callable, optional
        Called as on_train_begin(logs) before the first epoch.
    on_train_end : callable, optional
        Called as on_train_end(logs) after the last epoch.

    Raises
    ------
    TypeError
        If one of the functions is neither callable nor None.

    Examples
    --------
    Record the loss of every epoch, or stop once it is below 1:

    >>> import numpy as np
    >>> import fastmlp
    >>> x = np.linspace(-1, 1, 20).reshape(-1, 1)
    >>> losses = []
    >>> record = fastmlp.LambdaCallback(on_epoch_end=lambda epoch, logs: losses.append(logs["loss"]))
    >>> history = fastmlp.MLP([1, 1]).fit(x, 2 * x + 1, epochs=5, callbacks=[record])
    >>> len(losses)
    5
    >>> stop = fastmlp.LambdaCallback(on_epoch_end=lambda epoch, logs: logs["loss"] < 1.0)
    >>> history = fastmlp.MLP([1, 1]).fit(x, 2 * x + 1, optimizer=fastmlp.optim.SGD(lr=0.1),
    ...                                   epochs=100, callbacks=[stop])
    >>> len(history.epoch)
    4
    """

    def __init__(
        self,
        on_epoch_end: Callable[[int, Logs | None], object] | None = None,
        on_train_begin: Callable[[Logs | None], object] | None = None,
        on_train_end: Callable[[Logs | None], object] | None = None,
    ) -> None:
        for name, fn in (
            ("on_epoch_end", on_epoch_end),
            ("on_train_begin", on_train_begin),
            ("on_train_end", on_train_end),
        ):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable or None, got {type(fn).__name__}")
        self._epoch_end, self._train_begin, self._train_end = on_epoch_end, on_train_begin, on_train_end

    def on_train_begin(self, logs: Logs | None = None) -> None:
        """Call the on_train_begin function, if one was given.

        Parameters
        ----------
        logs : dict, optional
            Passed on.
        """
        if self._train_begin is not None:
            self._train_begin(logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> object:
        """Call the on_epoch_end function, if one was given.

        Parameters
        ----------
        epoch : int
            Passed on.
        logs : dict, optional
            Passed on.

        Returns
        -------
        object
            What the function returned (True stops training), or None without one.
        """
        return None if self._epoch_end is None else self._epoch_end(epoch, logs)

    def on_train_end(self, logs: Logs | None = None) -> None:
        """Call the on_train_end function, if one was given.

        Parameters
        ----------
        logs : dict, optional
            Passed on.
        """
        if self._train_end is not None:
            self._train_end(logs)

    def __repr__(self) -> str:
        named = {"on_epoch_end": self._epoch_end, "on_train_begin": self._train_begin, "on_train_end": self._train_end}
        return "LambdaCallback(" + ", ".join(f"{k}={v!r}" for k, v in named.items() if v is not None) + ")"


def check_callbacks(callbacks: object, logged: Collection[str]) -> list[Any]:
    """The callbacks of a fit as a list, refused early (TypeError / ValueError) when they cannot work:
    not a list, a class instead of an instance, an object without any hook, or a monitored value that
    the fit will not log (`logged`: the names it logs)."""
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(
            f"callbacks must be a list of callbacks, got {type(callbacks).__name__} "
            f"(for one callback write callbacks=[cb])"
        )
    out: list[Any] = []
    for i, cb in enumerate(callbacks):
        if isinstance(cb, type):
            raise TypeError(f"callbacks[{i}] is the class {cb.__name__}; pass an instance, e.g. {cb.__name__}()")
        if not any(callable(getattr(cb, hook, None)) for hook in HOOKS):
            raise TypeError(f"callbacks[{i}] ({type(cb).__name__}) has none of the methods {', '.join(HOOKS)}")
        monitors = getattr(cb, "monitors", None)
        if callable(monitors):
            names = monitors()
            names = {names} if isinstance(names, str) else set(names)
            missing = names - set(logged)
            if missing:
                hint = "; pass validation_data or monitor='loss'" if "val_loss" in missing else ""
                raise ValueError(
                    f"callbacks[{i}] ({type(cb).__name__}) monitors {', '.join(sorted(missing))}, "
                    f"which this fit does not log (it logs {', '.join(sorted(logged))}){hint}"
                )
        out.append(cb)
    return out


HOOKS = ("on_train_begin", "on_epoch_end", "on_train_end")
