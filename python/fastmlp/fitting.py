"""The checks and conversions of MLP.fit's arguments, one process or data parallel, before the fit
(fastmlp.train.run_fit, over the fit's collective) runs: a mixin of MLP, kept apart because it is most
of fit's code and none of the network's."""

from __future__ import annotations

import json
import os

import numpy as np

from . import _core
from ._args import check_bool, check_int
from .callbacks import check_callbacks
from .distributed import SingleProcess
from .losses import CLASSIFICATION_LOSSES, check_loss
from .memory import max_batch_size
from .optim import SGD, Optimizer, from_config, is_number
from .schedules import Schedule, goyal_warmup, scale_lr
from .train import run_fit, verbosity

__all__ = ["FitChecks", "collective"]


def collective(comm):
    """fastmlp.distributed's collectives over comm, or None for one process (no comm, or a comm of one)."""
    if comm is None:
        return None
    if not (callable(getattr(comm, "Get_size", None)) and callable(getattr(comm, "Allreduce", None))):
        raise TypeError(f"comm must be an mpi4py communicator (e.g. fastmlp.distributed.init()), got "
                        f"{type(comm).__name__}")
    if comm.Get_size() == 1:
        return None
    from .distributed import Collective
    return Collective(comm)



class FitChecks:
    """MLP's fit machinery between its signature and the fit loop."""

    def _fit_distributed(self, dist, x, y, *args):
        """fit over dist's processes: the local checks agreed on by all ranks (one failing rank fails them
        all, with its error named), the same arguments checked on every rank, then run_fit."""
        error = None
        try:
            x = self._x(x)
        except Exception as e:  # noqa: BLE001 (every rank must learn of it before raising)
            error = e
        dist.agree(error)
        counts = dist.comm.allgather(int(x.shape[0]))
        rows = (sum(counts), sum(counts[:dist.rank]))
        if rows[0] == 0:
            raise ValueError("X and y are empty on every rank; there is nothing to train on")
        return self._fit(x, y, *args, dist=dist, rows=rows)

    def _fit(self, x, y, loss, optimizer, batch_size, epochs, shuffle, seed, validation_data, verbose, drop_last,
             on_nonfinite, schedule, lr_scaling, base_batch_size, warmup_epochs, clip_grad_norm, clip_grad_value,
             callbacks, sample_weight=None, class_weight=None, dist=None, rows=None):
        if dist is None:
            return self._fit_checked(x, y, loss, optimizer, batch_size, epochs, shuffle, seed, validation_data,
                                     verbose, drop_last, on_nonfinite, schedule, lr_scaling, base_batch_size,
                                     warmup_epochs, clip_grad_norm, clip_grad_value, callbacks, sample_weight,
                                     class_weight)
        error, prepared = None, None
        try:
            prepared = self._fit_checked(x, y, loss, optimizer, batch_size, epochs, shuffle, seed, validation_data,
                                         verbose, drop_last, on_nonfinite, schedule, lr_scaling, base_batch_size,
                                         warmup_epochs, clip_grad_norm, clip_grad_value, callbacks, sample_weight,
                                         class_weight, dist=dist, rows=rows)
        except Exception as e:  # noqa: BLE001 (every rank must learn of it before raising)
            error = e
        dist.agree(error)
        return prepared()

    def _fit_checked(self, x, y, loss, optimizer, batch_size, epochs, shuffle, seed, validation_data, verbose,
                     drop_last, on_nonfinite, schedule, lr_scaling, base_batch_size, warmup_epochs, clip_grad_norm,
                     clip_grad_value, callbacks, sample_weight=None, class_weight=None, dist=None, rows=None):
        """Checks and converts fit's arguments; runs the fit (one process), or returns a function that
        runs it once every rank has passed the checks (data parallel: rows = (global rows, offset))."""
        if dist is None:
            x = self._x(x)
        loss_name = check_loss(loss)
        if dist is not None and sample_weight is not None:
            raise ValueError("sample_weight in a data-parallel fit is not supported: the batch's weight sum would "
                             "need its own all-reduce per step; fit without comm, or repeat rows instead")
        # The targets laid out for the loss (fastmlp.targets), in the network's units.
        loss, y = self._loss_targets(y, x.shape[0], loss_name, sample_weight, class_weight)
        if dist is None and x.shape[0] == 0:
            raise ValueError("X and y are empty; there is nothing to train on")
        n = x.shape[0] if dist is None else rows[0]  # the (global) number of rows
        x = self._net_x(x)
        optimizer = SGD(lr=0.01) if optimizer is None else optimizer
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a fastmlp.optim optimizer (e.g. fastmlp.optim.SGD(lr=0.01)), "
                            f"got {type(optimizer).__name__}")
        if isinstance(batch_size, str) and batch_size == "max":
            if dist is not None:
                raise ValueError("batch_size='max' is one process's answer; a data-parallel fit needs the same "
                                 "global batch on every rank: pass an int")
            batch_size = max_batch_size(self, n_samples=n, optimizer=optimizer)
            if batch_size >= n:
                batch_size = None  # the whole data set fits: full-batch gradient descent
        if batch_size is not None:
            if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
                raise TypeError(f"batch_size must be an int, None or 'max', got {type(batch_size).__name__}")
            if batch_size < 1:
                raise ValueError(f"batch_size must be >= 1 (or None for full-batch), got {batch_size}")
            batch_size = int(batch_size)  # any size: one larger than the data set is one full batch
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"epochs must be an int >= 0, got {epochs!r}")
        if on_nonfinite not in ("raise", "stop"):
            raise ValueError(f"on_nonfinite must be 'raise' or 'stop', got {on_nonfinite!r}")
        shuffle = check_bool(shuffle, "shuffle")
        drop_last = check_bool(drop_last, "drop_last")
        if drop_last and batch_size is not None and batch_size > n:
            raise ValueError(f"drop_last=True with batch_size {batch_size} > {n} samples would leave "
                             f"no batch at all")
        if seed is None:  # a fresh seed, rank 0's on every rank
            seed = int.from_bytes(os.urandom(8), "little")
            seed = seed if dist is None else dist.bcast(seed)
        seed = check_int(seed, "seed", 0, 2**64)
        if validation_data is not None:
            if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
                raise TypeError("validation_data must be a pair (X_val, y_val)")
            xv = self._x(validation_data[0], "X_val")
            # The training spec scores the validation set too: with sample weights, each weight 1.
            ones = None if sample_weight is None else np.ones(xv.shape[0])
            yv = self._loss_targets(validation_data[1], xv.shape[0], loss_name, ones, class_weight, "y_val")[1]
            validation_data = (xv, yv)
            empty = xv.shape[0] == 0 if dist is None else dist.sum([xv.shape[0]])[0] == 0
            if empty:
                raise ValueError("validation_data is empty; its loss is undefined (pass None for no validation)")
        clip = []
        for name, value in (("clip_grad_norm", clip_grad_norm), ("clip_grad_value", clip_grad_value)):
            if value is not None and not (is_number(value) and np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a number > 0 (or None), got {value!r}")
            clip.append(0.0 if value is None else float(value))
        if schedule is not None and not isinstance(schedule, Schedule):
            raise TypeError(f"schedule must be a fastmlp.schedules schedule, got {type(schedule).__name__}")
        logged = {"loss", "lr"} | ({"val_loss"} if validation_data is not None else set())
        callbacks = check_callbacks(callbacks, logged)
        verbose = verbosity(verbose)
        if schedule is not None:
            missing = schedule.monitors() - logged
            if missing:
                raise ValueError(f"the schedule monitors {', '.join(sorted(missing))}, which this fit does not log "
                                 f"(it logs {', '.join(sorted(logged))}); pass validation_data or monitor='loss'")
        if lr_scaling is not None:
            if lr_scaling not in ("linear", "sqrt"):
                raise ValueError(f"lr_scaling must be 'linear' or 'sqrt', got {lr_scaling!r}")
            if base_batch_size is None:
                raise ValueError("lr_scaling needs base_batch_size, the batch size the learning rate was tuned for")
            if not isinstance(base_batch_size, (int, np.integer)) or isinstance(base_batch_size, bool) \
                    or base_batch_size < 1:
                raise ValueError(f"base_batch_size must be an int >= 1, got {base_batch_size!r}")
            full = batch_size is None or (drop_last is False and batch_size >= n)
            batch = n if full else batch_size
            scaled = scale_lr(optimizer.lr, base_batch_size, batch, lr_scaling)
            k = scaled / optimizer.lr
            optimizer = from_config({**optimizer.config(), "lr": scaled})
            steps = _core.epoch_steps(n, batch, drop_last)
            warm = 5 if warmup_epochs is None else int(warmup_epochs)
            if warm < 0:
                raise ValueError(f"warmup_epochs must be >= 0, got {warmup_epochs}")
            # Goyal et al. warm up only when scaling up (k > 1); a smaller batch starts at its rate.
            schedule = goyal_warmup(k, warm * steps if k > 1 else 0, after=schedule, steps_per_epoch=steps)
        elif warmup_epochs is not None:
            raise ValueError("warmup_epochs goes with lr_scaling (use schedules.warmup for a plain warmup)")
        elif base_batch_size is not None:
            raise ValueError("base_batch_size goes with lr_scaling='linear' or 'sqrt' (without it there is "
                             "nothing to scale)")
        self.classification_loss = loss_name if loss_name in CLASSIFICATION_LOSSES else None

        def run():
            hist = run_fit(self, x, y, loss=loss, optimizer=optimizer, batch_size=batch_size, epochs=int(epochs),
                           shuffle=bool(shuffle), seed=int(seed), validation_data=validation_data,
                           verbose=verbose if dist is None or dist.rank == 0 else 0, drop_last=bool(drop_last),
                           on_nonfinite=on_nonfinite, schedule=schedule, clip_grad_norm=clip[0],
                           clip_grad_value=clip[1], callbacks=callbacks,
                           dist=SingleProcess() if dist is None else dist, rows=(n, 0) if dist is None else rows)
            self._record_fit(hist)
            return hist

        if dist is None:
            return run()
        # Every rank must run the same fit: the same network, dtype, optimizer, batch, epochs, seed, ...
        dist.check_same({"sizes": self.sizes, "activations": self.activations, "dtype": self.dtype.name,
                         "negative_slope": self.negative_slope, "loss": repr(loss), "optimizer": optimizer.config(),
                         "batch_size": batch_size, "epochs": int(epochs), "shuffle": shuffle, "drop_last": drop_last,
                         "seed": seed, "clip": clip, "schedule": repr(schedule), "on_nonfinite": on_nonfinite,
                         "validation": validation_data is not None, "standardization": repr(self._scaling)})
        return run

    def _record_fit(self, hist):
        """Keep a summary of the fits (saved with the model; `fastmlp info` prints it)."""
        done = self._training or {"fits": 0, "epochs": 0}
        loss = hist.params["loss"]
        last = {"epochs": len(hist.epoch), "samples": int(hist.params["samples"]),
                "batch_size": hist.params["batch_size"], "loss": loss if isinstance(loss, str) else loss["name"],
                "optimizer": hist.params["optimizer"],
                "final_loss": hist.history["loss"][-1] if hist.history["loss"] else None,
                "final_val_loss": hist.history["val_loss"][-1] if hist.history.get("val_loss") else None,
                "stopped_reason": hist.stopped_reason}
        self._training = {"fits": done["fits"] + 1, "epochs": done["epochs"] + len(hist.epoch), "last": last}

    @property
    def training_summary(self):
        """None before any fit; else {"fits", "epochs" (in all), "last": the last fit's epochs, samples,
        batch_size, loss, optimizer, final_loss, final_val_loss, stopped_reason}. Saved with the model."""
        return None if self._training is None else json.loads(json.dumps(self._training))

