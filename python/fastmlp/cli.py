"""The `fastmlp` command: train and predict on tables (CSV, Parquet, Feather/Arrow, .npy/.npz), export to
ONNX, info on a saved model; demo (the seed lesson on real data) and the lessons, whose code is in
_cli_lessons.py."""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from . import __version__
from .activations import NAMES as ACTIVATION_NAMES
from ._cli_lessons import demo, lesson
from .data import read_table, read_table_block
from .model import MLP, load
from .optim import OPTIMIZERS
from .persist import write_atomically

__all__ = ["main"]


def _parse_hidden(text):
    if not text:
        return []
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(f"fastmlp: --hidden must be comma-separated integers, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise SystemExit(f"fastmlp: every --hidden layer size must be >= 1, got {text!r}")
    return sizes


def _seed(text):
    """argparse type of --seed: an int in [0, 2**64)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**64), got {value}")
    return value


def _count(text):
    """argparse type of --epochs and --batch-size: an int >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _read(path):
    """(names, float64 array) of a table file, or a clean exit naming what is wrong."""
    try:
        return read_table(path)
    except (OSError, ValueError, ImportError, MemoryError) as e:
        raise SystemExit(f"fastmlp: {e}") from None


def _check_finite(values, names, path, first_row=0):
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        row += first_row
        raise SystemExit(f"fastmlp: {path}, data row {row + 1}, column {names[col]!r}: {values[row, col]} is not "
                         f"a finite number ({int(bad.sum())} such cell(s)); remove or impute them first")


def _columns(header, data, target, path):
    targets = [t.strip() for t in target.split(",")]
    if len(set(targets)) != len(targets):
        raise SystemExit(f"fastmlp: --target names a column more than once: {target!r}")
    for t in targets:
        if t not in header:
            raise SystemExit(f"fastmlp: column {t!r} not in {path}; columns are: {', '.join(header)}")
    t_idx = [header.index(t) for t in targets]
    f_idx = [i for i in range(len(header)) if i not in t_idx]
    if not f_idx:
        raise SystemExit(f"fastmlp: {path} has no feature columns besides the target")
    return data[:, f_idx], data[:, t_idx], [header[i] for i in f_idx], targets


def _with_momentum():
    """The optimizers that take --momentum: "sgd and rmsprop"."""
    names = [name for name, cls in OPTIMIZERS.items() if "momentum" in cls.hyperparameters]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _scores(pred, truth, dist):
    """R2 (1 - SSE/SST over all outputs, scikit-learn's uniform average per output) and MAE, over every
    rank's rows (dist: the run's collective)."""
    err = pred - truth
    k = truth.shape[1]
    sums = dist.sum(np.concatenate([truth.sum(axis=0), [truth.shape[0]], [np.abs(err).sum()]]))
    mean, rows = sums[:k] / sums[k], sums[k]
    sq = dist.sum(np.concatenate([((truth - mean) ** 2).sum(axis=0), (err ** 2).sum(axis=0)]))
    sst, sse = sq[:k], sq[k:]
    r2 = np.where(sst > 0, 1.0 - sse / np.where(sst > 0, sst, 1.0), np.where(sse == 0, 1.0, 0.0))
    return float(r2.mean()), float(sums[k + 1] / (rows * k))


def _launch():
    """Under mpiexec with 2+ processes: fastmlp.distributed's collectives over COMM_WORLD; else those of
    one process."""
    from . import distributed

    if not distributed.launched_under_mpi():
        return distributed.SingleProcess()
    try:
        comm = distributed.init()
    except ImportError as e:
        raise SystemExit(f"fastmlp: started by mpiexec, but {e}") from None
    return distributed.SingleProcess() if comm.Get_size() == 1 else distributed.Collective(comm)


def _agreed(dist, work):
    """work(); data parallel, every rank learns of a rank's failure (its SystemExit message) and exits."""
    error = result = None
    try:
        result = work()
    except SystemExit as e:
        error = ValueError(str(e.code))
    try:
        dist.agree(error)
    except Exception as e:  # noqa: BLE001
        raise SystemExit(str(e) if str(e).startswith("fastmlp:") else f"fastmlp: {e}") from None
    return result


def _column_stats(a, dist):
    """fastmlp.data.column_stats over every rank's rows: two passes (mean, then the squared deviations)."""
    a = np.asarray(a, dtype=np.float64)
    sums = dist.sum(np.concatenate([a.sum(axis=0), [a.shape[0]]]))
    mean = sums[:-1] / sums[-1]
    std = np.sqrt(dist.sum(((a - mean) ** 2).sum(axis=0)) / sums[-1])
    return mean, np.where(std > 0, std, 1.0)


def train(args):
    dist = _launch()
    main = dist.rank == 0
    say = print if main else (lambda *a, **k: None)
    if dist.size == 1:  # the whole table, in any format read_table knows
        header, data = _read(args.csv)
        n, offset = data.shape[0], 0
    else:  # each rank reads and parses only its block of the rows
        def read_block():
            try:
                return read_table_block(args.csv, dist.rank, dist.size)
            except (OSError, ValueError, ImportError) as e:
                raise SystemExit(f"fastmlp: {e}") from None
        header, data, n, offset = _agreed(dist, read_block)
    x, y, features, targets = _columns(header, data, args.target, args.csv)
    _agreed(dist, lambda: _check_finite(data, header, args.csv, offset))
    sizes = [x.shape[1], *_parse_hidden(args.hidden), y.shape[1]]
    if args.optimizer not in OPTIMIZERS:
        raise SystemExit(f"fastmlp: unknown optimizer {args.optimizer!r}; expected one of: {', '.join(OPTIMIZERS)}")
    if args.momentum is not None and "momentum" not in OPTIMIZERS[args.optimizer].hyperparameters:
        raise SystemExit(f"fastmlp: --momentum applies to {_with_momentum()}; {args.optimizer} has its own moment "
                         f"estimates (leave --momentum out)")
    if not 0.0 <= args.validation_split < 1.0:
        raise SystemExit(f"fastmlp: --validation-split must be in [0, 1), got {args.validation_split}")
    classes = _class_labels(y, args, dist) if args.task == "classify" else None
    if classes is not None:
        y = np.searchsorted(classes, y[:, 0]).reshape(-1, 1).astype(np.float64)  # class indices
        sizes[-1] = len(classes)
    if args.save:  # fail before training, not after it
        target_dir = os.path.dirname(os.path.abspath(args.save))
        if os.path.isdir(args.save) or not os.path.isdir(target_dir) or not os.access(target_dir, os.W_OK):
            raise SystemExit(f"fastmlp: cannot write the model to {args.save!r} (not a writable file path)")
        if os.path.exists(args.save) and not os.path.isfile(args.save):  # /dev/null, a pipe: save refuses them
            raise SystemExit(f"fastmlp: cannot write the model to {args.save!r}: it is not a regular file")
    # The held-out rows: a seeded random choice, so that a sorted file does not hold out only its tail.
    # Data parallel, every rank draws the same choice over all n rows and keeps those of its block.
    n_val = round(args.validation_split * n)
    if args.validation_split and not 1 <= n_val < n:
        raise SystemExit(f"fastmlp: --validation-split {args.validation_split} of {n} rows leaves "
                         f"{n_val} for validation and {n - n_val} for training; both need at least one")
    order = np.random.default_rng(args.seed).permutation(n)
    val, fit_rows = np.sort(order[:n_val]) - offset, np.sort(order[n_val:]) - offset
    val, fit_rows = val[(val >= 0) & (val < x.shape[0])], fit_rows[(fit_rows >= 0) & (fit_rows < x.shape[0])]
    x_fit, y_fit = x[fit_rows], y[fit_rows]
    model = None
    try:
        model = MLP(sizes, activation=args.activation, init=args.init, seed=args.seed, device=args.device)
        model.feature_names = features
        # A classifier's outputs are its classes' scores: "label=0", "label=1", ...
        model.target_names = targets if classes is None else [f"{targets[0]}={c:g}" for c in classes]
        if args.standardize != "none":
            x_mean, x_std = _column_stats(x_fit, dist)
            y_mean, y_std = (_column_stats(y_fit, dist) if args.standardize == "all" and classes is None
                             else (None, None))
            model.set_standardization(x_mean, x_std, y_mean, y_std)
        extra = {"momentum": args.momentum} if args.momentum is not None else {}
        opt = OPTIMIZERS[args.optimizer](lr=args.lr, **extra)
        if args.quiet:
            verbose = 0
        else:
            verbose = 2 if args.verbose else (1 if sys.stderr.isatty() else 0)
        start = time.perf_counter()
        loss = args.loss if classes is None else "cross_entropy"
        if classes is not None:  # class indices as a 1-D array (fastmlp.targets)
            y_fit, y_val = y_fit[:, 0], (y[val][:, 0] if n_val else None)
        hist = model.fit(x_fit, y_fit, loss=loss, optimizer=opt, batch_size=args.batch_size or None,
                         epochs=args.epochs, seed=args.seed, verbose=verbose,
                         validation_data=((x[val], y[val] if classes is None else y_val) if n_val else None),
                         comm=dist.comm)
        elapsed = time.perf_counter() - start
    except KeyboardInterrupt as e:  # Ctrl-C: keep the run (fit has settled the weights), say so, exit 130
        _interrupted(e, model, args.save if main else None)
    except MemoryError as e:  # the parameters (MLP) or the training workspaces (fit), before allocating them
        raise SystemExit(f"fastmlp: {e}; use smaller --hidden layers (or a smaller --batch-size)") from None
    except (ValueError, TypeError, FloatingPointError, OverflowError, RuntimeError) as e:
        raise SystemExit(f"fastmlp: {e}") from None
    scaled = {"all": " (features and targets standardized)", "features": " (features standardized)",
              "none": ""}[args.standardize]
    ranks = "" if dist.size == 1 else f" ({dist.size} processes, data parallel)"
    say(f"{model} on {n - n_val} rows{ranks}: features {features} -> {targets}{scaled}")
    if hist.history["loss"]:
        units = ", standardized" if args.standardize == "all" and classes is None else ""
        say(f"final training {loss}{units}: {hist.history['loss'][-1]:.6g} after {len(hist.epoch)} epochs "
            f"({elapsed:.2f} s)")
    else:
        say("no epochs were run (--epochs 0): the model keeps its initial weights")
    if classes is not None:
        _classification_report(model, x_fit, y_fit, classes, dist, say)
    else:
        r2, mae = _scores(model.predict(x_fit), y_fit, dist)
        say(f"training rows:   R2 {r2:.4f}, MAE {mae:.6g}")
    if n_val and classes is not None:
        _classification_report(model, x[val], y[val], classes, dist, say, "validation")
    elif n_val:
        r2, mae = _scores(model.predict(x[val]), y[val], dist)
        say(f"validation rows: R2 {r2:.4f}, MAE {mae:.6g} ({n_val} rows held out)")
    if args.save and not main:  # rank 0 writes the model (save() writes from rank 0 only anyway)
        return 0
    if args.save:
        _save(model, args.save)
        print(f"saved to {args.save}")
    return 0


def _class_labels(y, args, dist):
    """--task classify: the sorted distinct labels of the one target column (at most 1000 of them); data
    parallel, of every rank's rows."""
    if y.shape[1] != 1:
        raise SystemExit("fastmlp: --task classify takes one target column (the class labels)")
    if args.loss != "mse":
        raise SystemExit("fastmlp: --task classify trains with cross_entropy; leave --loss out")
    classes = np.unique(y[:, 0])
    classes = np.unique(np.concatenate(dist.allgather(classes)))
    if len(classes) < 2 or len(classes) > 1000:
        raise SystemExit(f"fastmlp: --task classify needs 2 to 1000 distinct labels, {args.target!r} has {len(classes)}")
    return classes


def _classification_report(model, x, y, classes, dist, say=print, what="training"):
    """Accuracy and the confusion matrix (rows: true class, columns: predicted); data parallel, over
    every rank's rows."""
    from .targets import confusion_matrix

    y = np.asarray(y).reshape(-1).astype(np.int64)
    pred = model.predict(x).argmax(axis=1) if len(y) else np.zeros(0, np.int64)
    counts = confusion_matrix(y, pred, len(classes))
    counts = dist.sum(counts.ravel()).reshape(counts.shape).astype(np.int64)
    right, total = int(np.trace(counts)), int(counts.sum())
    say(f"{what} accuracy: {right / max(total, 1):.4f} ({right} of {total})")
    names = [f"{c:g}" for c in classes]
    width = max(6, *(len(n) for n in names), len(str(counts.max())))
    say("confusion matrix (rows: true label, columns: predicted):")
    say(" " * width + "".join(f" {n:>{width}}" for n in names))
    for name, row in zip(names, counts):
        say(f"{name:>{width}}" + "".join(f" {v:>{width}}" for v in row))


def _load(path, device="cpu"):
    try:
        return load(path).to(device)
    except (OSError, ValueError) as e:
        raise SystemExit(f"fastmlp: {e}") from None


def _save(model, path):
    try:
        model.save(path)
    except OSError as e:
        said = e.strerror or ""  # save's own errors name the path already: "cannot save the model to ..."
        raise SystemExit(f"fastmlp: {said}" if said.startswith("cannot ") else
                         f"fastmlp: cannot write the model to {path!r}: {said or e}") from None
    except ValueError as e:
        raise SystemExit(f"fastmlp: {e}") from None


def _interrupted(error, model, save):
    """Ctrl-C during train: one line on stderr saying what the model keeps (fit's note) and, with
    --save, the model saved (this rank's, when it writes); exit status 130, as a shell reports SIGINT."""
    notes = [n.removeprefix("fastmlp: ") for n in getattr(error, "__notes__", [])]
    kept = "; ".join(notes) if notes else "training had not started"
    if save and model is not None and notes:
        _save(model, save)
        print(f"fastmlp: interrupted by Ctrl-C; {kept}; saved to {save}", file=sys.stderr)
    else:
        print(f"fastmlp: interrupted by Ctrl-C; {kept}; nothing was saved{'' if save else ' (no --save)'}",
              file=sys.stderr)
    raise SystemExit(130)


def _write_predictions(pred, names, out):
    """The predictions as CSV on stdout, or to `out` (.csv, or .parquet with pyarrow), written as save
    writes a model: a failure midway leaves the previous file whole."""
    if out is None or out.lower().endswith(".csv"):
        lines = [",".join(names)] + [",".join(f"{v:.9g}" for v in row) for row in pred]
        text = "\n".join(lines) + "\n"
        if out is None:
            sys.stdout.write(text)
            return
        write = lambda f: f.write(text.encode())  # noqa: E731
    elif out.lower().endswith(".parquet"):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise SystemExit('fastmlp: writing Parquet needs pyarrow: pip install "fastmlp[data]"') from None
        table = pa.table({n: pred[:, i] for i, n in enumerate(names)})
        write = lambda f: pq.write_table(table, f)  # noqa: E731
    else:
        raise SystemExit(f"fastmlp: --out must end in .csv or .parquet, got {out!r}")
    try:
        write_atomically(out, write, "write the predictions to")
    except (OSError, ValueError) as e:
        raise SystemExit(f"fastmlp: {e}") from None


def _saved_classes(model):
    """(target name, class labels) of a model trained by `train --task classify` (a cross_entropy fit
    whose outputs are named "target=label"), else None."""
    names = model.target_names
    if getattr(model, "classification_loss", None) != "cross_entropy" or not names:
        return None
    parts = [n.rpartition("=") for n in names]
    if any(not sep for _, sep, _ in parts) or len({t for t, _, _ in parts}) != 1:
        return None
    try:
        values = np.array([float(v) for _, _, v in parts])
    except ValueError:
        return None
    return parts[0][0], values


def predict(args):
    model = _load(args.model, args.device)
    header, data = _read(args.csv)
    n_in = model.sizes[0]
    names = model.feature_names
    if names is not None:  # the model knows its columns: take them by name, ignore the others
        missing = [n for n in names if n not in header]
        if missing:
            raise SystemExit(f"fastmlp: {args.csv} lacks the model's feature column(s) {', '.join(map(repr, missing))}; "
                             f"it has: {', '.join(header)}")
        cols = [header.index(n) for n in names]
    elif args.target:
        _, _, names, _ = _columns(header, data, args.target, args.csv)
        cols = [header.index(n) for n in names]
    else:
        names, cols = header, list(range(len(header)))
    if len(cols) != n_in:
        raise SystemExit(f"fastmlp: the model takes {n_in} features but {args.csv} gives {len(cols)} columns "
                         f"(name the target column(s) to drop with --target)")
    x = data[:, cols]
    _check_finite(x, names, args.csv)
    classes = _saved_classes(model)
    try:
        pred = model.predict(x) if classes is None else model.predict_proba(x)
    except (ValueError, MemoryError) as e:
        raise SystemExit(f"fastmlp: {e}") from None
    out_names = model.target_names or [f"pred{i}" for i in range(pred.shape[1])]
    if classes is not None:  # a --task classify model: the predicted label, then each class's probability
        target, values = classes
        pred = np.column_stack([values[pred.argmax(axis=1)], pred])
        out_names = [target] + out_names
    try:
        _write_predictions(pred, out_names, args.out)
    except OSError as e:
        raise SystemExit(f"fastmlp: cannot write the predictions to {args.out!r}: {e.strerror or e}") from None
    if args.out:
        print(f"wrote {pred.shape[0]} predictions of {', '.join(out_names)} to {args.out}", file=sys.stderr)
    return 0


def export(args):
    model = _load(args.model)
    try:
        path = model.to_onnx(args.onnx, opset=args.opset, head=args.head)
    except ImportError as e:
        raise SystemExit(f"fastmlp: {e}") from None
    except (OSError, ValueError) as e:
        raise SystemExit(f"fastmlp: cannot export to {args.onnx!r}: {e}") from None
    from .export import OPSET

    from .export import _head

    what = "class probabilities" if _head(model, args.head) else "predictions"
    print(f"wrote {path}: ONNX opset {args.opset or OPSET}, input 'input' (n, {model.sizes[0]}) "
          f"{model.dtype.name} -> output 'output' (n, {model.sizes[-1]}), the model's {what}")
    return 0


def info(args):
    model = _load(args.model)
    print(f"{args.model}: fastmlp model")
    print(f"  network:     {' -> '.join(map(str, model.sizes))}, activations {', '.join(model.activations)}"
          f"{f', negative_slope {model.negative_slope:g}' if 'leaky_relu' in model.activations else ''}")
    print(f"  parameters:  {model.n_params:,} ({model.dtype.name}), init {model.init}, seed {model.seed}")
    opt = model.optimizer
    print(f"  optimizer:   {opt!r}, {model._opt['step']} steps taken" if opt is not None else
          "  optimizer:   none (never trained)")
    print(f"  features:    {', '.join(model.feature_names) if model.feature_names else '(unnamed)'}")
    print(f"  targets:     {', '.join(model.target_names) if model.target_names else '(unnamed)'}")
    scaling = model.standardization
    if scaling is None:
        print("  standardize: no")
    else:
        parts = [w for w, k in (("features", "x_mean"), ("targets", "y_mean")) if scaling[k] is not None]
        print(f"  standardize: {' and '.join(parts)} (statistics stored in the model)")
    summary = model.training_summary
    if summary is None:
        print("  training:    none recorded")
    else:
        last = summary["last"]
        line = (f"  training:    {summary['fits']} fit(s), {summary['epochs']} epochs in all; the last: "
                f"{last['epochs']} epochs on {last['samples']} rows, batch {last['batch_size'] or 'full'}, "
                f"{last['loss']}")
        if last["final_loss"] is not None:
            line += f" {last['final_loss']:.6g}"
        if last["final_val_loss"] is not None:
            line += f", validation {last['final_val_loss']:.6g}"
        print(line)
        if last["stopped_reason"]:
            print(f"               stopped early: {last['stopped_reason']}")
    return 0


def add_device(parser):
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"),
                        help="where the kernels run (default cpu; auto: the GPU when there is one)")


def build_parser():
    p = argparse.ArgumentParser(prog="fastmlp", description="Train multi-layer perceptrons with C++ kernels.")
    p.add_argument("--version", action="version", version=f"fastmlp {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="linear regression on height -> weight, then an MLP on a curve")
    d.add_argument("--seed", type=_seed, default=0)
    d.add_argument("--epochs", type=_count, default=100, help="epochs of the MLP part (default 100)")
    add_device(d)
    d.set_defaults(func=demo)

    formats = "CSV with a header row, Parquet, Feather/Arrow, .npy or .npz"
    t = sub.add_parser("train", help=f"train an MLP on a numeric table ({formats})")
    t.add_argument("csv", metavar="table", help=formats)
    t.add_argument("--target", required=True, help="target column name(s), comma-separated")
    t.add_argument("--hidden", default="64,64", help="hidden layer sizes, e.g. 64,64 ('' for none)")
    t.add_argument("--activation", default="relu",
                   help=f"the hidden layers' activation: {', '.join(ACTIVATION_NAMES)}; parameters as torch "
                        f"names them, e.g. 'elu(alpha=0.5)' (default relu)")
    t.add_argument("--init", default="auto")
    t.add_argument("--loss", default="mse")
    t.add_argument("--task", default="regress", choices=("regress", "classify"),
                   help="classify: the target column holds class labels; trains with cross_entropy and prints "
                        "accuracy and a confusion matrix")
    t.add_argument("--optimizer", default="sgd", help=", ".join(OPTIMIZERS))
    t.add_argument("--lr", type=float, default=0.01)
    t.add_argument("--momentum", type=float, default=None, help=f"for {_with_momentum()} (default 0)")
    t.add_argument("--batch-size", type=_count, default=32, help="0 for full-batch gradient descent")
    t.add_argument("--epochs", type=_count, default=50)
    t.add_argument("--seed", type=_seed, default=0)
    t.add_argument("--standardize", default="all", choices=("all", "features", "none"),
                   help="standardize features and targets (all, the default), features only, or nothing; the "
                        "statistics are saved in the model, and predictions come back in the target's units")
    t.add_argument("--validation-split", type=float, default=0.0, metavar="FRACTION",
                   help="hold out this fraction of the rows (chosen at random by --seed) and report R2 and MAE on them")
    t.add_argument("--save", help="write the trained model to this .npz file")
    t.add_argument("--verbose", action="store_true", help="a line per epoch")
    t.add_argument("--quiet", action="store_true", help="no progress bar (it is drawn on a terminal)")
    add_device(t)
    t.set_defaults(func=train)

    q = sub.add_parser("predict", help="predict with a saved model for the rows of a table")
    q.add_argument("model")
    q.add_argument("csv", metavar="table", help=formats)
    q.add_argument("--target", help="for a model without feature names: column(s) to drop before predicting")
    q.add_argument("--out", help="write the predictions to this .csv or .parquet file (default: CSV on stdout)")
    add_device(q)
    q.set_defaults(func=predict)

    x = sub.add_parser("export", help="write a saved model as an ONNX file")
    x.add_argument("model")
    x.add_argument("onnx", help="the .onnx file to write")
    x.add_argument("--opset", type=int, default=None, help="ONNX opset (default 17)")
    x.add_argument("--head", default="auto", choices=("auto", "softmax", "sigmoid", "logits"),
                   help="a classifier's output: its probabilities (auto: as it was trained) or the logits")
    x.set_defaults(func=export)

    i = sub.add_parser("info", help="print a saved model's network, optimizer, column names and training")
    i.add_argument("model")
    i.set_defaults(func=info)

    le = sub.add_parser("lesson", help="run a lesson of the seed lecture and draw its figure ('list' lists them)")
    le.add_argument("name", help="landscape, learning-rate, optimizers, init, batch-size, deep, all, or list")
    le.add_argument("--out", default="figs", help="directory for the PNG figures (default: figs)")
    add_device(le)
    le.set_defaults(func=lesson)
    return p


def main(argv=None):
    try:
        return _main(argv)
    except SystemExit as e:
        if e.code not in (None, 0):
            _abort_the_job(e)
        raise


def _abort_the_job(error):
    """Under mpiexec, one rank's failure (a bad argument, a missing file: the SystemExit the command
    says it with) ends every rank, as an uncaught exception does under `python -m mpi4py`, instead of
    leaving the others waiting for this one in their next collective."""
    from . import distributed

    if not distributed.launched_under_mpi():
        return
    try:
        from mpi4py import MPI  # initializes MPI if this rank failed before it did
    except ImportError:
        return
    if isinstance(error.code, str):  # the interpreter would print it at exit, which Abort never reaches
        print(error.code, file=sys.stderr)
    sys.stderr.flush()
    MPI.COMM_WORLD.Abort(error.code if isinstance(error.code, int) else 1)


def _main(argv):
    args = build_parser().parse_args(argv)
    if hasattr(args, "device"):
        from .ops import resolve_device

        try:
            args.device = resolve_device(args.device)
        except RuntimeError as e:  # CUDA asked for where it cannot be used: say why, no traceback
            raise SystemExit(f"fastmlp: {e}") from None
    return args.func(args)
