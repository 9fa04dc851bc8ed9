"""`fastmlp train`: a table in (any columns: numbers, text, categories, missing cells), a trained model
out, with its scores. The preprocessing (fastmlp.tables.Preprocessor) is fitted on the training rows
and saved in the model, so that `fastmlp predict` and MLP.predict apply the same one. The parser and
the other commands are in cli.py."""

from __future__ import annotations

import ast
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .callbacks import EarlyStopping
from .losses import LOSSES, MEAN_FUNCTIONS
from .model import MLP
from .optim import OPTIMIZERS
from .tables import Columns, Preprocessor, UnknownCategoryWarning, label, read_columns

if TYPE_CHECKING:
    import argparse

    from .distributed import Collective, SingleProcess
    from .schedules import Schedule
    from .train import History

    _Dist = SingleProcess | Collective  # the run's collectives (fastmlp.distributed)

__all__ = ["train", "SCHEDULES", "MAX_CLASSES"]

DEFAULT_VALIDATION_SPLIT = 0.2
DEFAULT_WEIGHT_DECAY = 0.01
# --task classify refuses a target with more distinct values than this (a continuous target).
MAX_CLASSES = 1000


def _exit(message: str) -> NoReturn:
    raise SystemExit(f"fastmlp: {message}")


def split_top(text: str) -> list[str]:
    """'relu,elu(alpha=0.5, x=1)' -> ['relu', 'elu(alpha=0.5, x=1)']: commas outside parentheses."""
    parts: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _call(text: str, what: str) -> tuple[str, dict[str, Any]]:
    """'name(key=value, ...)' or 'name' -> (name, {key: value}); values are Python literals."""
    m = re.fullmatch(r"\s*([A-Za-z_][\w-]*)\s*(?:\((.*)\))?\s*", text)
    if not m:
        _exit(f"{what} must be a name or name(key=value, ...), got {text!r}")
    kwargs: dict[str, Any] = {}
    if m.group(2) and m.group(2).strip():
        try:
            call = ast.parse(f"f({m.group(2)})", mode="eval").body
            if not isinstance(call, ast.Call):  # "step(1) + (2)" parses as f(1) + (2)
                raise ValueError("not one list of key=value arguments")
            if call.args:
                raise ValueError("arguments must be named")
            for k in call.keywords:
                if k.arg is None:  # **mapping
                    raise ValueError("arguments must be named")
                kwargs[k.arg] = ast.literal_eval(k.value)
        except (SyntaxError, ValueError) as e:
            _exit(f"{what} {text!r}: cannot read its arguments ({e}); write them as key=value, e.g. step(step_size=30)")
    return m.group(1).lower().replace("-", "_"), kwargs


def _schedules() -> dict[str, type[Schedule]]:
    from . import schedules as s

    return {
        "constant": s.ConstantLR,
        "step": s.StepLR,
        "multistep": s.MultiStepLR,
        "exponential": s.ExponentialLR,
        "cosine": s.CosineAnnealingLR,
        "linear": s.LinearLR,
        "plateau": s.ReduceLROnPlateau,
    }


SCHEDULES = ("constant", "step", "multistep", "exponential", "cosine", "linear", "plateau")


def make_schedule(text: str | None, epochs: int, monitor: str) -> Schedule | None:
    """--schedule: a fastmlp.schedules schedule by its short name (cosine anneals over the run's epochs,
    plateau watches `monitor` unless told), with its arguments as key=value."""
    if text is None:
        return None
    name, kwargs = _call(text, "--schedule")
    table = _schedules()
    if name not in table:
        _exit(f"unknown --schedule {name!r}; expected one of: {', '.join(SCHEDULES)}")
    if name == "cosine":
        kwargs.setdefault("T_max", max(epochs, 1))
    if name == "plateau":
        kwargs.setdefault("monitor", monitor)
    try:
        return table[name](**kwargs)
    except (TypeError, ValueError) as e:
        _exit(f"--schedule {text!r}: {e}")


def parse_hidden(text: str) -> list[int]:
    if not text:
        return []
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        _exit(f"--hidden must be comma-separated integers, got {text!r}")
    if any(s < 1 for s in sizes):
        _exit(f"every --hidden layer size must be >= 1, got {text!r}")
    return sizes


def _activations(text: str, hidden: int) -> str | list[str]:
    """--activation: one name for every hidden layer, or one per hidden layer."""
    names = split_top(text)
    if len(names) == 1:
        return names[0]
    if len(names) != hidden:
        _exit(
            f"--activation names {len(names)} activations for {hidden} hidden layer(s); give one for all, "
            f"or one per layer"
        )
    return names


def _dropout(text: str, hidden: int) -> float | list[float]:
    """--dropout: one rate for every hidden layer, or one per hidden layer."""
    try:
        rates = [float(r) for r in text.split(",") if r.strip()]
    except ValueError:
        _exit(f"--dropout must be a number in [0, 1) or comma-separated numbers, got {text!r}")
    if not rates:
        _exit(f"--dropout must be a number in [0, 1) or comma-separated numbers, got {text!r}")
    if any(not 0.0 <= r < 1.0 for r in rates):
        _exit(f"--dropout rates must be in [0, 1) (1 would drop every output), got {text!r}")
    if len(rates) == 1:
        return rates[0]
    if len(rates) != hidden:
        _exit(f"--dropout gives {len(rates)} rates for {hidden} hidden layer(s); give one for all, or one per layer")
    return rates


def _read(path: str, dist: _Dist) -> tuple[Columns, int, int]:
    """(Columns of this rank's rows, rows in the whole table, index of the first). One process reads the
    whole table; data parallel, each rank parses only its block of a numeric table (and reads a table
    with text whole, keeping its block)."""
    from .data import read_table_block
    from .distributed import block

    try:
        if dist.size == 1:
            table = read_columns(path)
            return table, table.rows, 0
        try:
            numeric = read_table_block(path, dist.rank, dist.size)
        except ValueError:  # text, null cells: the reader that takes them
            numeric = None
        # Every rank reads with the same reader (one whose block has text makes all read it so): two
        # readers count rows and kinds of column differently.
        agreed = all(dist.allgather(numeric is not None))  # every rank's call, whatever this one read
        if agreed and numeric is not None:
            names, values, n, lo = numeric
            return Columns(names, [values[:, j].copy() for j in range(values.shape[1])], where=str(path)), n, lo
        table = read_columns(path)
        lo, hi = block(table.rows, dist.rank, dist.size)
        return table.take(np.arange(lo, hi)), table.rows, lo
    except (OSError, ValueError, TypeError, ImportError, MemoryError) as e:
        _exit(str(e))


def _targets(table: Columns, target: str) -> list[str]:
    targets = [t.strip() for t in target.split(",")]
    if len(set(targets)) != len(targets):
        _exit(f"--target names a column more than once: {target!r}")
    for t in targets:
        if t not in table.names:
            _exit(f"column {t!r} not in {table.where}; columns are: {', '.join(table.names)}")
    try:
        table.require(targets)
    except ValueError as e:
        _exit(str(e))
    return targets


def _class_labels(column: NDArray[Any], name: str, dist: _Dist) -> list[str | float]:
    """The sorted distinct class labels (text or numbers) of a target column, over every rank's rows;
    a target that looks continuous is refused with the advice to regress."""
    present = [v for v in column if v is not None] if column.dtype == object else column[~np.isnan(column)]
    if column.dtype != object:
        present = np.asarray(present, np.float64)
        if present.size and not np.all(present == np.round(present)):
            bad = present[present != np.round(present)][0]
            _exit(
                f"--task classify: column {name!r} holds numbers that are not whole ({bad:g}), which look like "
                f"a quantity rather than class labels; regress on it (leave --task out), or bin it first"
            )
        local = sorted(set(present.tolist()))
    else:
        local = sorted(set(present))
    classes = sorted({v for part in dist.allgather(local) for v in part})
    rows = int(dist.sum([float(len(present))])[0])
    if len(classes) < 2:
        _exit(f"--task classify needs at least 2 distinct labels; column {name!r} has {len(classes)}")
    if len(classes) > MAX_CLASSES or (len(classes) > 20 and len(classes) > rows / 2):
        _exit(
            f"--task classify: column {name!r} has {len(classes)} distinct values in {rows} rows, too many for "
            f"classes; it looks continuous: regress on it (leave --task out)"
        )
    return classes


def _check_save_path(path: str | None) -> None:
    if not path:
        return
    target_dir = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path) or not os.path.isdir(target_dir) or not os.access(target_dir, os.W_OK):
        _exit(f"cannot write the model to {path!r} (not a writable file path)")
    if os.path.exists(path) and not os.path.isfile(path):  # /dev/null, a pipe: save refuses them
        _exit(f"cannot write the model to {path!r}: it is not a regular file")


def _split(
    n: int, fraction: float, seed: int, offset: int, local_rows: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The held-out rows: a random choice (drawn by --split-seed) of round(fraction * n) of all n rows, so
    that a sorted file does not hold out only its tail. Returns (training, validation) index arrays of
    this rank's rows."""
    n_val = round(fraction * n)
    if fraction and not 1 <= n_val < n:
        _exit(
            f"--validation-split {fraction} of {n} rows leaves {n_val} for validation and {n - n_val} for "
            f"training; both need at least one"
        )
    order = np.random.default_rng(seed).permutation(n)
    val, fit = np.sort(order[:n_val]) - offset, np.sort(order[n_val:]) - offset
    keep = lambda r: r[(r >= 0) & (r < local_rows)]  # noqa: E731
    return keep(fit), keep(val)


def _gather(dist: _Dist, a: ArrayLike) -> NDArray[Any]:
    parts = dist.allgather(np.asarray(a))
    return np.concatenate(parts) if parts else np.asarray(a)


def train(args: argparse.Namespace, dist: _Dist, say: Callable[[str], object]) -> MLP:
    """The train command (cli.py builds its arguments and the run's collective)."""
    table, n, offset = _read(args.csv, dist)
    targets = _targets(table, args.target)
    classify = args.task == "classify"
    if classify and len(targets) != 1:
        _exit("--task classify takes one target column (the class labels)")
    if classify and args.loss is not None:
        _exit("--task classify trains with cross_entropy; leave --loss out")
    loss = "cross_entropy" if classify else (args.loss or "mse")
    if loss not in LOSSES:
        _exit(f"unknown loss {loss!r}; expected one of: {', '.join(LOSSES)}")
    if n == 0:
        _exit(f"{args.csv} has no data rows")
    log_link = MEAN_FUNCTIONS.get(loss) is not None
    for t in targets:
        if not classify and table.is_text(t):
            value = next((v for v in table[t] if v is not None), None)
            _exit(
                f"column {t!r} holds text ({value!r}); for class labels use --task classify"
                if value is not None
                else f"column {t!r} holds no value at all"
            )
    if args.optimizer not in OPTIMIZERS:
        _exit(f"unknown optimizer {args.optimizer!r}; expected one of: {', '.join(OPTIMIZERS)}")
    hyper = OPTIMIZERS[args.optimizer].hyperparameters
    if args.momentum is not None and "momentum" not in hyper:
        _exit(
            f"--momentum applies to {with_momentum()}; {args.optimizer} has its own moment estimates (leave "
            f"--momentum out)"
        )
    if args.weight_decay and "weight_decay" not in hyper:
        _exit(f"--weight-decay does not apply to {args.optimizer}")
    if args.validation_split is None:  # the default: a fifth of the rows, if that is one row or more
        args.validation_split = DEFAULT_VALIDATION_SPLIT if round(DEFAULT_VALIDATION_SPLIT * n) >= 1 else 0.0
    if not 0.0 <= args.validation_split < 1.0:
        _exit(f"--validation-split must be in [0, 1), got {args.validation_split}")
    _check_save_path(args.save)

    fit_rows, val_rows = _split(n, args.validation_split, args.split_seed, offset, table.rows)
    # Rows without a target are left out (and counted); the split was drawn over all rows of the file.
    has_target = np.ones(table.rows, bool)
    for t in targets:
        column = table[t]
        has_target &= ~(np.array([v is None for v in column]) if column.dtype == object else np.isnan(column))
    dropped = int(dist.sum([float((~has_target).sum())])[0])
    if dropped:
        say(f"left out {dropped} row(s) whose target is missing (empty, NA, NaN, ...)")
    fit_rows, val_rows = fit_rows[has_target[fit_rows]], val_rows[has_target[val_rows]]
    n_fit, n_val = (int(v) for v in dist.sum([float(fit_rows.size), float(val_rows.size)]))
    if n_fit == 0:
        _exit("no training rows are left")

    classes = _class_labels(table[targets[0]], targets[0], dist) if classify else None
    if classes is not None:
        index = {v: i for i, v in enumerate(classes)}
        column = table[targets[0]]
        y = np.array([index.get(v if column.dtype == object else float(v), -1) for v in column], np.float64)
        y = y.reshape(-1, 1)
    else:
        y = np.column_stack([table[t] for t in targets]) if targets else np.zeros((table.rows, 0))
        bad = ~np.isfinite(y) & has_target[:, None]
        if bad.any():
            row, col = (int(i) for i in np.argwhere(bad)[0])
            _exit(
                f"{table.where}, {table.locate(row)}, column {targets[col]!r}: {y[row, col]} is not a finite number "
                f"(a target must be; an empty target cell leaves its row out)"
            )
        if log_link and (y[has_target] < 0).any():
            row = int(np.flatnonzero((y < 0).any(axis=1) & has_target)[0])
            _exit(
                f"--loss {loss} models counts or rates: its targets must be >= 0, but data row {offset + row + 1} "
                f"has {y[row].min():g}"
            )

    prep = Preprocessor(args.features, args.drop, args.categorical, args.impute, args.fill_value)
    try:
        prep.fit(table.take(fit_rows), targets, dist)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UnknownCategoryWarning)
            x = prep.transform(table.take(np.flatnonzero(has_target)))
    except (ValueError, RuntimeError) as e:  # RuntimeError: another rank's error, agreed on
        _exit(str(e).removeprefix("fastmlp: "))
    for w in caught:
        say(f"note (validation rows): {w.message}")
    # x holds the rows with a target; map the row indices onto it.
    position = np.cumsum(has_target) - 1
    fit_rows, val_rows = position[fit_rows], position[val_rows]
    y = y[has_target]

    hidden = parse_hidden(args.hidden)
    if args.weight_decay is None:  # the default: curbs an MLP's overfitting; a linear model keeps its coefficients
        args.weight_decay = DEFAULT_WEIGHT_DECAY if hidden and "weight_decay" in hyper else 0.0
    sizes = [prep.n_features, *hidden, y.shape[1] if classes is None else len(classes)]
    x_fit, y_fit = x[fit_rows], y[fit_rows]
    x_val, y_val = x[val_rows], y[val_rows]
    model: MLP | None = None
    verbose = 0 if args.quiet else (2 if args.verbose else (1 if sys.stderr.isatty() else 0))
    monitor = "val_loss" if n_val else "loss"
    try:
        model = MLP(
            sizes,
            activation=_activations(args.activation, len(hidden)),
            output_activation=args.output_activation,
            dropout=_dropout(args.dropout, len(hidden)),
            init=args.init,
            seed=args.seed,
            device=args.device,
        )
        prep.targets, prep.classes = targets, classes
        model.preprocessing = prep
        model.feature_names = prep.feature_names
        model.target_names = targets if classes is None else [f"{targets[0]}={label(c)}" for c in classes]
        scaled = _standardize(model, prep, x_fit, y_fit, args.standardize, classes is None and not log_link, dist)
        extra = {"momentum": args.momentum} if args.momentum is not None else {}
        if args.lr is not None:
            extra["lr"] = args.lr
        if args.weight_decay:
            extra["weight_decay"] = args.weight_decay
        optimizer = OPTIMIZERS[args.optimizer](**extra)
        callbacks = (
            [EarlyStopping(monitor=monitor, patience=args.patience, restore_best_weights=True)] if args.patience else []
        )
        schedule = make_schedule(args.schedule, args.epochs, monitor)
        if log_link:  # the outputs start at the log of the targets' mean, as the identity link's start at it
            _start_at_the_mean(model, y_fit, dist)
        if classes is not None:
            y_fit, y_val = y_fit[:, 0], y_val[:, 0]
        start = time.perf_counter()
        hist = model.fit(
            x_fit,
            y_fit,
            loss=loss,
            optimizer=optimizer,
            batch_size=args.batch_size or None,
            epochs=args.epochs,
            seed=args.seed,
            verbose=verbose,
            callbacks=callbacks,
            schedule=schedule,
            validation_data=(x_val, y_val) if n_val else None,
            comm=dist.comm,
        )
        elapsed = time.perf_counter() - start
    except KeyboardInterrupt as e:  # Ctrl-C: keep the run (fit has settled the weights), say so, exit 130
        from .cli import interrupted

        interrupted(e, model, args.save if dist.rank == 0 else None)
    except MemoryError as e:  # the parameters (MLP) or the training workspaces (fit), before allocating them
        _exit(f"{e}; use smaller --hidden layers (or a smaller --batch-size)")
    except (ValueError, TypeError, FloatingPointError, OverflowError, RuntimeError) as e:
        _exit(str(e).removeprefix("fastmlp: "))

    ranks = "" if dist.size == 1 else f" ({dist.size} processes, data parallel)"
    say(
        f"{model} on {n_fit} rows{ranks}: {len(prep.input_columns)} columns {_short(prep.input_columns)} -> "
        f"{targets}{scaled}"
    )
    if prep.encodes:
        say(f"preprocessing: {prep!r}")
    if hist.history["loss"]:
        units = ", standardized" if "targets" in scaled else ""
        stop = f"; {hist.stopped_reason}" if hist.stopped_reason else ""
        say(
            f"final training {loss}{units}: {hist.history['loss'][-1]:.6g} after {len(hist.epoch)} epochs "
            f"({elapsed:.2f} s){stop}"
        )
    else:
        say("no epochs were run (--epochs 0): the model keeps its initial weights")
    _report(model, x_fit, y_fit, classes, loss, dist, say, "training")
    if n_val:
        _report(model, x_val, y_val, classes, loss, dist, say, "validation", f" ({n_val} rows held out)")
    if args.history and dist.rank == 0:
        _write_history(hist, args.history)
        say(f"wrote the training history to {args.history}")
    if args.plot and dist.rank == 0:
        _plot(hist, args.plot, loss)
        say(f"drew the training curves in {args.plot}")
    return model


def _short(names: Sequence[str], most: int = 8) -> str:
    return str(names) if len(names) <= most else f"[{', '.join(map(repr, names[:most]))}, ... ({len(names)} in all)]"


def _standardize(
    model: MLP,
    prep: Preprocessor,
    x_fit: NDArray[Any],
    y_fit: NDArray[Any],
    mode: str,
    targets_too: bool,
    dist: _Dist,
) -> str:
    """--standardize: the features' statistics (one-hot columns are left as 0/1), and the targets' for a
    regression with an identity link; returns the words that say what was standardized."""
    if mode == "none":
        return ""
    x_mean, x_std = column_stats(x_fit, dist)
    at = 0
    for c in prep._fitted():  # fitted: train fits it before it standardizes
        width = 1 if c["kind"] == "numeric" else len(c["categories"])
        if c["kind"] == "categorical":
            x_mean[at : at + width], x_std[at : at + width] = 0.0, 1.0
        at += width
    both = mode == "all" and targets_too
    y_mean, y_std = column_stats(y_fit, dist) if both else (None, None)
    model.set_standardization(x_mean, x_std, y_mean, y_std)
    return " (features and targets standardized)" if both else " (features standardized)"


def _start_at_the_mean(model: MLP, y_fit: NDArray[Any], dist: _Dist) -> None:
    """A log-link model's last bias set to log(mean target) of every rank's training rows (a target whose
    mean is 0 starts at log(1e-8)), so that training begins from the constant model that fits best
    instead of from a rate of about 1."""
    sums = dist.sum(np.concatenate([np.asarray(y_fit, np.float64).sum(axis=0), [len(y_fit)]]))
    mean = sums[:-1] / max(sums[-1], 1.0)
    weights = model.get_weights()
    weights[-1] = (weights[-1][0], np.log(np.maximum(mean, 1e-8)).astype(model.dtype))
    model.set_weights(weights)


def column_stats(a: ArrayLike, dist: _Dist) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """fastmlp.data.column_stats over every rank's rows: two passes (mean, then the squared deviations)."""
    a = np.asarray(a, dtype=np.float64)
    sums = dist.sum(np.concatenate([a.sum(axis=0), [a.shape[0]]]))
    mean = sums[:-1] / sums[-1]
    std = np.sqrt(dist.sum(((a - mean) ** 2).sum(axis=0)) / sums[-1])
    return mean, np.where(std > 0, std, 1.0)


def _report(
    model: MLP,
    x: NDArray[Any],
    y: NDArray[Any],
    classes: Sequence[str | float] | None,
    loss: str,
    dist: _Dist,
    say: Callable[[str], object],
    what: str,
    note: str = "",
) -> None:
    """The scores on every rank's rows (gathered): R2, RMSE, MAE (and the mean Poisson deviance of a
    log-link loss) in the target's units; accuracy, F1 (macro), ROC AUC, log loss and the confusion
    matrix for a classifier."""
    from . import metrics

    if classes is None:
        pred, truth = _gather(dist, model.predict(x)), _gather(dist, y)
        if dist.rank:
            return
        r = metrics.regression_report(truth, pred, poisson=MEAN_FUNCTIONS.get(loss) == "exp")
        extra = f", mean Poisson deviance {r['poisson_deviance']:.6g}" if "poisson_deviance" in r else ""
        say(f"{what} rows: R2 {r['r2']:.4f}, RMSE {r['rmse']:.6g}, MAE {r['mae']:.6g}{extra}{note}")
        return
    proba = _gather(dist, model.predict_proba(x) if len(x) else np.zeros((0, len(classes))))
    truth = _gather(dist, np.asarray(y).reshape(-1).astype(np.int64))
    if dist.rank:
        return
    pred = proba.argmax(axis=1)
    r = metrics.classification_report(truth, pred, proba, list(range(len(classes))))
    say(
        f"{what} rows: accuracy {r['accuracy']:.4f}, F1 (macro) {r['f1_macro']:.4f}, ROC AUC {r['roc_auc']:.4f}, "
        f"log loss {r['log_loss']:.4f}{note}"
    )
    from .targets import confusion_matrix

    counts = confusion_matrix(truth, pred, len(classes))
    names = [label(c) for c in classes]
    if len(names) > 20:
        return
    width = max(6, *(len(n) for n in names), len(str(counts.max())))
    say("  confusion matrix (rows: true label, columns: predicted):")
    say("  " + " " * width + "".join(f" {n:>{width}}" for n in names))
    for name, row in zip(names, counts):
        say(f"  {name:>{width}}" + "".join(f" {v:>{width}}" for v in row))


def _write_history(hist: History, path: str) -> None:
    """--history: one CSV row per epoch: epoch, then every logged value (loss, val_loss, lr)."""
    from .persist import write_atomically

    keys = [k for k in ("loss", "val_loss", "lr") if k in hist.history] + sorted(
        k for k in hist.history if k not in ("loss", "val_loss", "lr")
    )
    lines = [",".join(["epoch", *keys])]
    for i, epoch in enumerate(hist.epoch):
        lines.append(",".join([str(epoch + 1), *(f"{hist.history[k][i]:.9g}" for k in keys)]))
    text = "\n".join(lines) + "\n"
    try:
        write_atomically(path, lambda f: f.write(text.encode()), "write the history to")
    except (OSError, ValueError) as e:
        _exit(str(e))


def _plot(hist: History, path: str, loss: str) -> None:
    """--plot: the training and validation loss per epoch (and the learning rate when it changed)."""
    from . import plots

    try:
        fig = plots.history(hist, logy=loss not in ("poisson",))
        fig.axes[0].set_title(f"{loss} per epoch")
        plots.save(fig, path)
    except ImportError as e:
        _exit(str(e))
    except (OSError, ValueError) as e:
        _exit(f"cannot draw the curves in {path!r}: {e}")


def with_momentum() -> str:
    """The optimizers that take --momentum: "sgd and rmsprop"."""
    names = [name for name, cls in OPTIMIZERS.items() if "momentum" in cls.hyperparameters]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
