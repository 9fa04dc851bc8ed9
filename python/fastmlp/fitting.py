"""MLP.fit's arguments, from the caller's values to a FitConfig that fastmlp.train.run_fit runs: checked
by one table of constraints (FIT_CONSTRAINTS) and the rules that tie them together (FIT_RULES), then
converted with the data (targets laid out for the loss, the batch that fits memory, the scaled
learning rate and its warmup). A mixin of MLP, kept apart because it is most of fit's code and none of
the network's. One process and data parallel take the same path, over the fit's collective."""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _core
from ._constraints import AnyOf, Checked, Flag, InstanceOf, Integer, Interval, Options, Rule, Sequence, check_arguments
from .callbacks import EarlyStopping, check_callbacks
from .distributed import SingleProcess
from .losses import CLASSIFICATION_LOSSES, MEAN_FUNCTIONS, check_loss
from .memory import max_batch_size
from .optim import OPTIMIZERS, SGD, Optimizer, from_config
from .schedules import Schedule, goyal_warmup, scale_lr
from .train import History, run_fit, verbosity

if TYPE_CHECKING:
    from mpi4py import MPI

    from ._constraints import Constraint
    from ._core import LossArg
    from .distributed import Collective, FitCollective
    from .model import MLP

__all__ = ["FIT_CONSTRAINTS", "FIT_RULES", "FitChecks", "FitConfig", "collective", "held_out"]

_POSITIVE_OR_NONE = AnyOf(None, Interval(">", 0.0))


def held_out(fraction: float | None, rows: int) -> int:
    """How many rows validation_split holds out: round(fraction * rows).

    Parameters
    ----------
    fraction : float or None
        fit's validation_split, in (0, 1), or None.
    rows : int
        The rows of X (all ranks' together).

    Returns
    -------
    int
        round(fraction * rows); 0 for None.

    Examples
    --------
    >>> from fastmlp import fitting
    >>> fitting.held_out(0.2, 15), fitting.held_out(None, 15)
    (3, 0)
    """
    return 0 if fraction is None else round(fraction * rows)


def _training_rows(a: Mapping[str, Any]) -> int:
    """The rows a fit trains on (all ranks'): those its validation_split leaves."""
    return a["rows"] - held_out(a.get("validation_split"), a["rows"])


#: Every argument of MLP.fit that is checked on its own, by name.
#:
#: name -> its constraint (a fastmlp._constraints rule). X, y, sample_weight and class_weight are
#: checked with the data (fastmlp.targets), callbacks once it is known what the fit logs.
FIT_CONSTRAINTS: dict[str, Constraint] = {
    "loss": Checked(check_loss, "a name of fastmlp.losses.LOSSES"),
    # A name builds that optimizer with its defaults (fastmlp.optim.OPTIMIZERS, the kernels' registry).
    "optimizer": AnyOf(
        None, InstanceOf(Optimizer, "a fastmlp.optim optimizer (e.g. fastmlp.optim.SGD(lr=0.01))"), Options(*OPTIMIZERS)
    ),
    "batch_size": AnyOf(None, Integer(">=", 1), Options("max")),
    "epochs": Integer(">=", 0),
    "shuffle": Flag(),
    "seed": AnyOf(None, Integer(">=", 0, "<", 2**64)),
    "validation_data": AnyOf(None, Sequence(2, "a pair (X_val, y_val)")),
    "validation_split": AnyOf(None, Interval(">", 0, "<", 1)),
    "verbose": Checked(verbosity, "False/0, True/1, 2 or 'epoch'"),
    "drop_last": Flag(),
    "on_nonfinite": Options("raise", "stop"),
    "schedule": AnyOf(None, InstanceOf(Schedule, "a fastmlp.schedules schedule")),
    "lr_scaling": AnyOf(None, Options("linear", "sqrt")),
    "base_batch_size": AnyOf(None, Integer(">=", 1)),
    "warmup_epochs": AnyOf(None, Integer(">=", 0)),
    "clip_grad_norm": _POSITIVE_OR_NONE,
    "clip_grad_value": _POSITIVE_OR_NONE,
}

#: The rules between fit's arguments, in the order they are checked.
#:
#: A tuple of fastmlp._constraints rules: each sees the checked arguments and the fit's `rows` (all
#: ranks' together) and `processes`, and names the arguments that do not go together.
FIT_RULES = (
    Rule(
        lambda a: a["processes"] > 1 and a["sample_weight"] is not None,
        "sample_weight in a data-parallel fit is not supported: the batch's weight sum would need its own "
        "all-reduce per step; fit without comm, or repeat rows instead",
    ),
    Rule(
        lambda a: a["processes"] > 1 and a["batch_size"] == "max",
        "batch_size='max' is one process's answer; a data-parallel fit needs the same global batch on every "
        "rank: pass an int",
    ),
    Rule(
        lambda a: a.get("validation_split") is not None and a.get("validation_data") is not None,
        "validation_split and validation_data do not go together: validation_split holds out rows of X and y, "
        "validation_data brings rows of its own; pass one of them",
    ),
    Rule(
        lambda a: a.get("validation_split") is not None and not 0 < _training_rows(a) < a["rows"],
        lambda a: (
            f"validation_split={a['validation_split']:g} of {a['rows']} rows holds out "
            f"{a['rows'] - _training_rows(a)} (rounded) and trains on {_training_rows(a)}; both need at "
            f"least one row: choose another fraction, or pass validation_data"
        ),
    ),
    Rule(
        lambda a: a["drop_last"] and isinstance(a["batch_size"], int) and a["batch_size"] > _training_rows(a),
        lambda a: (
            f"drop_last=True with batch_size {a['batch_size']} > {_training_rows(a)} training samples "
            f"would leave no batch at all"
        ),
    ),
    Rule(
        lambda a: a["lr_scaling"] is not None and a["base_batch_size"] is None,
        "lr_scaling needs base_batch_size, the batch size the learning rate was tuned for",
    ),
    Rule(
        lambda a: a["lr_scaling"] is None and a["warmup_epochs"] is not None,
        "warmup_epochs goes with lr_scaling (use schedules.warmup for a plain warmup)",
    ),
    Rule(
        lambda a: a["lr_scaling"] is None and a["base_batch_size"] is not None,
        "base_batch_size goes with lr_scaling='linear' or 'sqrt' (without it there is nothing to scale)",
    ),
)


@dataclasses.dataclass(frozen=True)
class FitConfig:
    """One fit, checked and converted: everything fastmlp.train.run_fit needs besides X and y.

    Parameters
    ----------
    loss : str or dict
        The trainer's loss spec (fastmlp.targets): a name, or a dict with its weights.
    optimizer : fastmlp.optim.Optimizer
        The optimizer, with the scaled learning rate under lr_scaling.
    batch_size : int or None
        The global batch; None is the full batch, and a batch larger than the data set is the whole
        set.
    epochs : int
        The epochs to run.
    shuffle : bool
        Whether each epoch visits the rows in a new order.
    seed : int
        The fit's seed (None only until the ranks agree on a fresh one).
    drop_last : bool
        Whether the last short batch is dropped.
    on_nonfinite : {"raise", "stop"}
        What a divergence does.
    schedule : fastmlp.schedules.Schedule or None
        The learning-rate schedule, under lr_scaling with its warmup in front.
    clip_grad_norm : float
        The global L2 norm to clip the gradients at; 0 for no clipping.
    clip_grad_value : float
        The value to clip each gradient element at; 0 for no clipping.
    callbacks : tuple
        The callbacks, checked.
    verbose : int
        0, 1 or 2 (0 on every rank but 0).
    validation_data : tuple or None
        (X_val, y_val) converted as X and y are.
    rows : tuple of (int, int)
        (global rows, this rank's first row).
    """

    loss: LossArg  # the trainer's loss spec (fastmlp.targets): a name, or a dict with its weights
    optimizer: Optimizer  # with the scaled learning rate under lr_scaling
    batch_size: int | None  # None: full batch; a batch larger than the data set is the whole set
    epochs: int
    shuffle: bool
    seed: int | None  # None only until the ranks agree on a fresh one (FitChecks._fit)
    drop_last: bool
    on_nonfinite: Literal["raise", "stop"]
    schedule: Schedule | None  # under lr_scaling with its warmup in front
    clip_grad_norm: float  # 0: no clipping
    clip_grad_value: float  # 0: no clipping
    callbacks: tuple[Any, ...]  # any objects with some of the hooks (fastmlp.callbacks)
    verbose: int  # 0, 1 or 2 (0 on every rank but 0)
    validation_data: tuple[NDArray[Any], NDArray[Any]] | None  # (X_val, y_val) converted as X and y are
    rows: tuple[int, int]  # (global rows, this rank's first row)

    def shared(self, model: MLP) -> dict[str, Any]:
        """What every rank of a data-parallel fit must have the same of (checked before it starts).

        Parameters
        ----------
        model : MLP
            The model being fitted.

        Returns
        -------
        dict
            The architecture, the fit's settings, the standardization, fastmlp's own callbacks that
            stop or restore, and the column names, in forms the ranks can compare.
        """
        return {
            "sizes": model.sizes,
            "activations": model.activations,
            "dtype": model.dtype.name,
            "negative_slope": model.negative_slope,
            "loss": repr(self.loss),
            "optimizer": self.optimizer.config(),
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
            "seed": self.seed,
            "clip": [self.clip_grad_norm, self.clip_grad_value],
            "schedule": repr(self.schedule),
            "on_nonfinite": self.on_nonfinite,
            "validation": self.validation_data is not None,
            "standardization": repr(model._scaling),
            "rows": self.rows[0],  # the training rows: a validation_split of another size differs here
            # What else decides the weights: fastmlp's own callbacks that stop or restore
            # (EarlyStopping restoring its best weights on one rank only gave each rank other
            # weights; a LambdaCallback or the user's own class is the user's code, which may log
            # on one rank only) and which columns the data holds.
            "callbacks": [_settings(cb) for cb in self.callbacks if isinstance(cb, EarlyStopping)],
            "feature_names": model._feature_names,
            "target_names": model._target_names,
        }


def _settings(callback: object) -> list[object]:
    """A callback's kind and its plain settings (numbers, strings, flags), for the ranks to compare."""
    plain = {
        k: v
        for k, v in sorted(vars(callback).items())
        if not k.startswith("_") and (v is None or isinstance(v, (bool, int, float, str)))
    }
    return [type(callback).__name__, plain]


def collective(comm: MPI.Comm | None) -> SingleProcess | Collective:
    """The fit's collectives: fastmlp.distributed's over comm, or those of one process.

    Parameters
    ----------
    comm : mpi4py communicator or None
        fit's comm argument.

    Returns
    -------
    object
        fastmlp.distributed.Collective over comm, or fastmlp.distributed.SingleProcess without comm or
        with a comm of one process.

    Raises
    ------
    TypeError
        If comm is not an mpi4py communicator.

    Examples
    --------
    >>> from fastmlp import fitting
    >>> type(fitting.collective(None)).__name__
    'SingleProcess'
    """
    if comm is None:
        return SingleProcess()
    if not (callable(getattr(comm, "Get_size", None)) and callable(getattr(comm, "Allreduce", None))):
        raise TypeError(
            f"comm must be an mpi4py communicator (e.g. fastmlp.distributed.init()), got {type(comm).__name__}"
        )
    if comm.Get_size() == 1:
        return SingleProcess()
    from .distributed import Collective

    return Collective(comm)


def _split(
    x: NDArray[Any], y: NDArray[Any], fraction: float, seed: int, rows: tuple[int, int], weighted: bool
) -> tuple[NDArray[Any], NDArray[Any], tuple[NDArray[Any], NDArray[Any]], tuple[int, int]]:
    """validation_split: (X and targets of the training rows, (X_val, targets_val), the training rows'
    (global count, this rank's first)). The held-out rows are round(fraction * rows) drawn at random
    over all ranks' rows, numpy.random.default_rng(seed).permutation's first ones, each rank keeping
    those of its block; both parts keep the rows' order. A sample-weight column goes with its row
    (held-out weights weigh the validation loss)."""
    total, offset = rows
    chosen = np.zeros(total, bool)
    chosen[np.random.default_rng(seed).permutation(total)[: held_out(fraction, total)]] = True
    mine = chosen[offset : offset + x.shape[0]]
    if weighted:  # one process (weights are refused in a data-parallel fit): each part needs a weight
        for part, weights in (("training", y[~mine, -1]), ("held-out", y[mine, -1])):
            if not weights.sum() > 0:
                raise ValueError(
                    f"validation_split: the sample weights of the {part} rows sum to 0, so their "
                    f"loss is undefined; choose another seed or fraction, or pass validation_data"
                )
    return x[~mine], y[~mine], (x[mine], y[mine]), (total - int(chosen.sum()), offset - int(chosen[:offset].sum()))


class FitChecks:
    """MLP's fit machinery between its signature and the fit loop (a base class of MLP)."""

    if TYPE_CHECKING:
        # What these methods use of the MLP they are a base of (fastmlp.model.MLP defines each).
        classification_loss: str | None
        _training: dict[str, Any] | None

        @property
        def link_loss(self) -> str | None: ...
        @link_loss.setter
        def link_loss(self, loss: str | None) -> None: ...
        def _x(self, x: Any, name: str = "X") -> NDArray[Any]: ...
        def _net_x(self, x: NDArray[Any]) -> NDArray[Any]: ...
        def _loss_targets(
            self,
            y: Any,
            n: int,
            loss: Any,
            sample_weight: Any = None,
            class_weight: Any = None,
            name: str = "y",
        ) -> tuple[LossArg, NDArray[Any]]: ...

    def _fit(self, dist: FitCollective, x: ArrayLike, y: ArrayLike, arguments: dict[str, Any]) -> History:
        """Checks fit's arguments on every rank (one failing rank fails them all, with its error named),
        then runs the fit."""
        error: Exception | None
        config: FitConfig | None
        error, config = None, None
        try:
            x = self._x(x)
        except Exception as e:
            error = e
        dist.agree(error)
        x = typing.cast("NDArray[Any]", x)  # converted on every rank, or agree() raised
        counts = dist.allgather(int(x.shape[0]))
        rows = (sum(counts), sum(counts[: dist.rank]))
        if rows[0] == 0:
            raise dist.mark_agreed(
                ValueError(
                    "X and y are empty; there is nothing to train on"
                    if dist.size == 1
                    else "X and y are empty on every rank; there is nothing to train on"
                )
            )
        # The seed of a fit with seed=None (and of the rows its validation_split holds out), rank 0's on
        # every rank. Drawn whatever the seed argument, so that no rank skips a collective the others make.
        fresh_seed = dist.bcast(int.from_bytes(os.urandom(8), "little"))
        try:
            x, y, config = self._fit_config(x, y, arguments, dist, rows, fresh_seed)
        except Exception as e:
            error = e
        dist.agree(error)
        # _fit_config returned on every rank, or agree() raised
        y, config = typing.cast("NDArray[Any]", y), typing.cast(FitConfig, config)
        model = typing.cast("MLP", self)  # FitChecks is a base of MLP only
        dist.check_same(config.shared(model))
        # The checks that need the other ranks come only now, when every rank is known to reach them
        # (a rank that raised above would leave the others waiting in these collectives forever).
        if config.validation_data is not None and dist.sum([config.validation_data[0].shape[0]])[0] == 0:
            raise dist.mark_agreed(
                ValueError("validation_data is empty; its loss is undefined (pass None for no validation)")
            )
        if config.seed is None:  # the ranks agree that it is None (check_same): take the fresh one
            config = dataclasses.replace(config, seed=fresh_seed)
        hist = run_fit(model, x, y, config, dist)
        self._record_fit(hist)
        return hist

    def _fit_config(
        self,
        x: NDArray[Any],
        y: ArrayLike,
        arguments: dict[str, Any],
        dist: FitCollective,
        rows: tuple[int, int],
        fresh_seed: int,
    ) -> tuple[NDArray[Any], NDArray[Any], FitConfig]:
        """(X and y for the trainer, the FitConfig): the arguments checked by FIT_CONSTRAINTS and FIT_RULES,
        then converted with the data. Makes no collective call (see _fit): its checks are this rank's.
        rows: (all ranks' rows, this rank's first); fresh_seed: the seed when the seed argument is None."""
        a = check_arguments(FIT_CONSTRAINTS, arguments, FIT_RULES, {"rows": rows[0], "processes": dist.size})
        output = typing.cast("MLP", self).activations[-1]
        if a["loss"] in CLASSIFICATION_LOSSES and output == "sigmoid":
            squash = "a sigmoid" if a["loss"] == "bce" else "a softmax"
            raise ValueError(
                f"loss={a['loss']!r} applies {squash} to the network's outputs itself (fused with the loss: "
                f"the outputs are logits), so output_activation='sigmoid' would squash them twice (a double "
                f"sigmoid{'' if a['loss'] == 'bce' else ' under the softmax'}); use output_activation='identity' "
                "and predict_proba for the probabilities, or output_activation='sigmoid' with loss='mse'"
            )
        # The targets laid out for the loss (fastmlp.targets), in the network's units.
        loss, y = self._loss_targets(y, x.shape[0], a["loss"], a["sample_weight"], a["class_weight"])
        x = self._net_x(x)
        validation_data = a["validation_data"]
        if a["validation_split"] is not None:  # rows of X and y held out (and fewer rows to train on)
            x, y, validation_data, rows = _split(
                x,
                y,
                a["validation_split"],
                fresh_seed if a["seed"] is None else a["seed"],
                rows,
                a["sample_weight"] is not None,
            )
        elif validation_data is not None:
            xv = self._x(validation_data[0], "X_val")
            # The training spec scores the validation set too: with sample weights, each weight 1.
            ones = None if a["sample_weight"] is None else [1.0] * xv.shape[0]
            yv = self._loss_targets(validation_data[1], xv.shape[0], a["loss"], ones, a["class_weight"], "y_val")[1]
            validation_data = (self._net_x(xv), yv)
        n = rows[0]  # the training rows, all ranks' together
        optimizer = a["optimizer"]
        optimizer = (
            SGD(lr=0.01) if optimizer is None else OPTIMIZERS[optimizer]() if isinstance(optimizer, str) else optimizer
        )
        batch_size = a["batch_size"]
        if batch_size == "max":
            batch_size = max_batch_size(typing.cast("MLP", self), n_samples=n, optimizer=optimizer)
            batch_size = None if batch_size >= n else batch_size  # the whole data set fits: full batch
        seed = a["seed"]  # None: the fresh one, taken by _fit once the ranks agree on it
        logged = {"loss", "lr"} | ({"val_loss"} if validation_data is not None else set())
        callbacks = check_callbacks(a["callbacks"], logged)
        schedule = a["schedule"]
        if schedule is not None and schedule.monitors() - logged:
            raise ValueError(
                f"the schedule monitors {', '.join(sorted(schedule.monitors() - logged))}, which this "
                f"fit does not log (it logs {', '.join(sorted(logged))}); pass validation_data or "
                f"monitor='loss'"
            )
        if a["lr_scaling"] is not None:
            full = batch_size is None or (not a["drop_last"] and batch_size >= n)
            batch = n if full else batch_size
            scaled = scale_lr(optimizer.lr, a["base_batch_size"], batch, a["lr_scaling"])
            k = scaled / optimizer.lr
            optimizer = from_config({**optimizer.config(), "lr": scaled})
            steps = _core.epoch_steps(n, batch, a["drop_last"])
            warm = 5 if a["warmup_epochs"] is None else a["warmup_epochs"]
            # Goyal et al. warm up only when scaling up (k > 1); a smaller batch starts at its rate.
            schedule = goyal_warmup(k, warm * steps if k > 1 else 0, after=schedule, steps_per_epoch=steps)
        self.classification_loss = a["loss"] if a["loss"] in CLASSIFICATION_LOSSES else None
        self.link_loss = a["loss"] if a["loss"] in MEAN_FUNCTIONS else None  # predict's exp (model.link_loss)
        config = FitConfig(
            loss=loss,
            optimizer=optimizer,
            batch_size=batch_size,
            epochs=a["epochs"],
            shuffle=a["shuffle"],
            seed=seed,
            drop_last=a["drop_last"],
            on_nonfinite=a["on_nonfinite"],
            schedule=schedule,
            clip_grad_norm=a["clip_grad_norm"] or 0.0,
            clip_grad_value=a["clip_grad_value"] or 0.0,
            callbacks=tuple(callbacks),
            verbose=a["verbose"] if dist.rank == 0 else 0,
            validation_data=validation_data,
            rows=rows,
        )
        return x, y, config

    def _record_fit(self, hist: History) -> None:
        """Keep a summary of the fits (saved with the model; `fastmlp info` prints it)."""
        done = self._training or {"fits": 0, "epochs": 0}
        loss = hist.params["loss"]
        last = {
            "epochs": len(hist.epoch),
            "samples": int(hist.params["samples"]),
            "batch_size": hist.params["batch_size"],
            "loss": loss if isinstance(loss, str) else loss["name"],
            "optimizer": hist.params["optimizer"],
            "final_loss": hist.history["loss"][-1] if hist.history["loss"] else None,
            "final_val_loss": hist.history["val_loss"][-1] if hist.history.get("val_loss") else None,
            "stopped_reason": hist.stopped_reason,
        }
        self._training = {"fits": done["fits"] + 1, "epochs": done["epochs"] + len(hist.epoch), "last": last}

    @property
    def training_summary(self) -> dict[str, Any] | None:
        """A summary of the fits so far, saved with the model (`fastmlp info` prints it).

        None before any fit; else a dict {"fits", "epochs" (in all), "last": the last fit's epochs,
        samples, batch_size, loss, optimizer, final_loss, final_val_loss, stopped_reason}, a copy.

        Examples
        --------
        >>> import numpy as np
        >>> import fastmlp
        >>> x = np.linspace(-1, 1, 20).reshape(-1, 1)
        >>> model = fastmlp.MLP([1, 1])
        >>> model.training_summary is None
        True
        >>> history = model.fit(x, 2 * x + 1, optimizer="sgd", epochs=10)
        >>> summary = model.training_summary
        >>> summary["fits"], summary["epochs"], summary["last"]["loss"], summary["last"]["samples"]
        (1, 10, 'mse', 20)
        """
        return None if self._training is None else json.loads(json.dumps(self._training))
