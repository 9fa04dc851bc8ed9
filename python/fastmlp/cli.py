"""The `fastmlp` command: train and predict on tables (CSV, Parquet, Feather/Arrow, .npy/.npz), export to
ONNX, info on a saved model; demo (the seed lesson on real data) and the lessons, whose code is in
_cli_lessons.py."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn

import numpy as np
from numpy.typing import NDArray

from . import __version__
from ._cli_lessons import demo, lesson
from .activations import NAMES as ACTIVATION_NAMES
from .losses import LOSSES
from .model import load
from .optim import OPTIMIZERS
from .persist import write_atomically
from .tables import label

if TYPE_CHECKING:
    from .distributed import Collective, SingleProcess
    from .model import MLP
    from .tables import Preprocessor

__all__ = ["main"]


def _seed(text: str) -> int:
    """argparse type of --seed: an int in [0, 2**64)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**64), got {value}")
    return value


def _count(text: str) -> int:
    """argparse type of --epochs and --batch-size: an int >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _launch() -> SingleProcess | Collective:
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


def train(args: argparse.Namespace) -> int:
    from ._cli_train import train as run_train

    dist = _launch()
    say: Callable[[str], object] = print if dist.rank == 0 else (lambda *a, **k: None)
    model = run_train(args, dist, say)
    if args.save and dist.rank == 0:  # rank 0 writes the model (save() writes from rank 0 only anyway)
        _save(model, args.save)
        print(f"saved to {args.save}")
    return 0


def _load(path: str, device: str = "cpu") -> MLP:
    try:
        return load(path).to(device)
    except (OSError, ValueError) as e:
        raise SystemExit(f"fastmlp: {e}") from None


def _save(model: MLP, path: str) -> None:
    try:
        model.save(path)
    except OSError as e:
        said = e.strerror or ""  # save's own errors name the path already: "cannot save the model to ..."
        raise SystemExit(
            f"fastmlp: {said}"
            if said.startswith("cannot ")
            else f"fastmlp: cannot write the model to {path!r}: {said or e}"
        ) from None
    except ValueError as e:
        raise SystemExit(f"fastmlp: {e}") from None


def interrupted(error: BaseException, model: MLP | None, save: str | None) -> NoReturn:
    """Ctrl-C during train: one line on stderr saying what the model keeps (fit's note) and, with
    --save, the model saved (this rank's, when it writes); exit status 130, as a shell reports SIGINT."""
    notes = [n.removeprefix("fastmlp: ") for n in getattr(error, "__notes__", [])]
    kept = "; ".join(notes) if notes else "training had not started"
    if save and model is not None and notes:
        _save(model, save)
        print(f"fastmlp: interrupted by Ctrl-C; {kept}; saved to {save}", file=sys.stderr)
    else:
        print(
            f"fastmlp: interrupted by Ctrl-C; {kept}; nothing was saved{'' if save else ' (no --save)'}",
            file=sys.stderr,
        )
    raise SystemExit(130)


def _write_predictions(columns: Sequence[NDArray[Any]], names: Sequence[str], out: str | None) -> None:
    """The predictions (a list of columns: numbers, or class labels as text) as CSV on stdout, or to `out`
    (.csv, or .parquet with pyarrow), written as save writes a model: a failure midway leaves the
    previous file whole."""
    if out is None or out.lower().endswith(".csv"):
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(names)
        cells = [c.tolist() if c.dtype == object else [f"{v:.9g}" for v in c] for c in columns]
        writer.writerows(zip(*cells))
        text = buffer.getvalue()
        if out is None:
            sys.stdout.write(text)
            return
        write: Callable[[BinaryIO], object] = lambda f: f.write(text.encode())  # noqa: E731
    elif out.lower().endswith(".parquet"):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise SystemExit('fastmlp: writing Parquet needs pyarrow: pip install "fastmlp[data]"') from None
        table = pa.table({n: (c.tolist() if c.dtype == object else c) for n, c in zip(names, columns)})
        write = lambda f: pq.write_table(table, f)  # noqa: E731
    else:
        raise SystemExit(f"fastmlp: --out must end in .csv or .parquet, got {out!r}")
    try:
        write_atomically(out, write, "write the predictions to")
    except (OSError, ValueError) as e:
        raise SystemExit(f"fastmlp: {e}") from None


def _saved_classes(model: MLP) -> tuple[str, NDArray[Any]] | None:
    """(target name, class labels) of a model trained by `train --task classify`: stored with its
    preprocessing, or (older files) read off its outputs' names "target=label"; else None."""
    prep = getattr(model, "preprocessing", None)
    if prep is not None and prep.classes is not None:
        return prep.targets[0], np.array([label(c) for c in prep.classes], dtype=object)
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


def _inputs(model: MLP, args: argparse.Namespace) -> NDArray[Any]:
    """The model's input matrix for the rows of the predict command's table: through the model's
    preprocessing (its columns by name, any others ignored whatever they hold), or for a model without
    one its feature_names' columns (or all but --target, or all)."""
    import warnings

    from .tables import Preprocessor, UnknownCategoryWarning, read_columns

    try:
        table = read_columns(args.csv)
    except (OSError, ValueError, TypeError, ImportError, MemoryError) as e:
        raise SystemExit(f"fastmlp: {e}") from None
    prep = getattr(model, "preprocessing", None)
    if prep is None:
        names = model.feature_names
        if names is None:
            drop = [t.strip() for t in args.target.split(",")] if args.target else []
            for t in drop:
                if t not in table.names:
                    raise SystemExit(f"fastmlp: column {t!r} not in {args.csv}; columns are: {', '.join(table.names)}")
            names = [n for n in table.names if n not in drop]
        if len(names) != model.sizes[0]:
            raise SystemExit(
                f"fastmlp: the model takes {model.sizes[0]} features but {args.csv} gives {len(names)} "
                f"columns (name the target column(s) to drop with --target)"
            )
        prep = Preprocessor.numeric(names)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnknownCategoryWarning)
        try:
            x = prep.transform(table)
        except ValueError as e:
            raise SystemExit(f"fastmlp: {e}") from None
    for w in caught:
        print(f"fastmlp: note: {w.message}", file=sys.stderr)
    return x


def predict(args: argparse.Namespace) -> int:
    model = _load(args.model, args.device)
    x = _inputs(model, args)
    classes = _saved_classes(model)
    try:
        pred = model.predict(x) if classes is None else model.predict_proba(x)
    except (ValueError, MemoryError) as e:
        raise SystemExit(f"fastmlp: {e}") from None
    out_names = model.target_names or [f"pred{i}" for i in range(pred.shape[1])]
    columns = [pred[:, i] for i in range(pred.shape[1])]
    if classes is not None:  # a --task classify model: the predicted label, then each class's probability
        target, values = classes
        columns = [values[pred.argmax(axis=1)]] + columns
        out_names = [target] + out_names
    try:
        _write_predictions(columns, out_names, args.out)
    except OSError as e:
        raise SystemExit(f"fastmlp: cannot write the predictions to {args.out!r}: {e.strerror or e}") from None
    if args.out:
        print(f"wrote {pred.shape[0]} predictions of {', '.join(out_names)} to {args.out}", file=sys.stderr)
    return 0


def export(args: argparse.Namespace) -> int:
    model = _load(args.model)
    try:
        path = model.to_onnx(args.onnx, opset=args.opset, head=args.head, inputs=args.inputs)
    except ImportError as e:
        raise SystemExit(f"fastmlp: {e}") from None
    except (OSError, ValueError) as e:
        raise SystemExit(f"fastmlp: cannot export to {args.onnx!r}: {e}") from None
    from .export import OPSET, _head

    what = "class probabilities" if _head(model, args.head) in ("softmax", "sigmoid") else "predictions"
    print(
        f"wrote {path}: ONNX opset {args.opset or OPSET}, input 'input' (n, {model.sizes[0]}) "
        f"{model.dtype.name} -> output 'output' (n, {model.sizes[-1]}), the model's {what}"
    )
    return 0


def info(args: argparse.Namespace) -> int:
    model = _load(args.model)
    print(f"{args.model}: fastmlp model")
    print(
        f"  network:     {' -> '.join(map(str, model.sizes))}, activations {', '.join(model.activations)}"
        f"{f', negative_slope {model.negative_slope:g}' if 'leaky_relu' in model.activations else ''}"
    )
    print(f"  parameters:  {model.n_params:,} ({model.dtype.name}), init {model.init}, seed {model.seed}")
    if any(model.dropout):
        print(f"  dropout:     {', '.join(f'{p:g}' for p in model.dropout)} (per hidden layer, in training)")
    opt, state = model.optimizer, model._opt  # both None before the model's first fit
    print(
        f"  optimizer:   {opt!r}, {state['step']} steps taken"
        if opt is not None and state is not None
        else "  optimizer:   none (never trained)"
    )
    prep = getattr(model, "preprocessing", None)
    if prep is not None and prep.encodes:
        print(f"  columns:     {_column_summary(prep)}")
    print(f"  features:    {', '.join(model.feature_names) if model.feature_names else '(unnamed)'}")
    print(f"  targets:     {', '.join(model.target_names) if model.target_names else '(unnamed)'}")
    if prep is not None and prep.classes is not None:
        print(f"  classes:     {', '.join(map(label, prep.classes))}")
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
        line = (
            f"  training:    {summary['fits']} fit(s), {summary['epochs']} epochs in all; the last: "
            f"{last['epochs']} epochs on {last['samples']} rows, batch {last['batch_size'] or 'full'}, "
            f"{last['loss']}"
        )
        if last["final_loss"] is not None:
            line += f" {last['final_loss']:.6g}"
        if last["final_val_loss"] is not None:
            line += f", validation {last['final_val_loss']:.6g}"
        print(line)
        if last["stopped_reason"]:
            print(f"               stopped early: {last['stopped_reason']}")
    # The layers as MLP.summary() shows them, with a fit's memory at the last fit's batch size.
    batch = summary["last"]["batch_size"] if summary is not None else None
    print()
    print(model.summary(batch or 32))
    return 0


def _column_summary(prep: Preprocessor) -> str:
    """What the model's preprocessing does to each of its columns, in a line."""
    parts = []
    for c in prep._fitted():  # fitted: a model's preprocessing is
        what = f"{len(c['categories'])} categories" if c["kind"] == "categorical" else "number"
        if c["fill"] is not None:
            how = "most_frequent" if c["kind"] == "categorical" and prep.impute in ("mean", "median") else prep.impute
            what += f", a missing cell becomes {label(c['fill'])} ({how})"
        parts.append(f"{c['name']} ({what})")
    return "; ".join(parts)


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        default="cpu",
        choices=("cpu", "cuda", "auto"),
        help="where the kernels run (auto: the GPU when there is one)",
    )


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Help that shows each option's default (argparse's), leaving out the defaults that say nothing."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, argparse.SUPPRESS) or action.required or not action.option_strings:
            return action.help
        return super()._get_help_string(action)


def _train_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], formats: str) -> None:
    from ._cli_train import SCHEDULES, with_momentum
    from .tables import IMPUTE_STRATEGIES

    t = sub.add_parser(
        "train",
        formatter_class=_Help,
        help=f"train an MLP on a table ({formats})",
        description="Train an MLP on the rows of a table. Every column but the target(s) is a "
        "feature unless --features/--drop say otherwise; text columns (and --categorical ones) are "
        "one-hot encoded with the categories seen in training; missing cells are refused unless "
        "--impute fills them. Before training, --validation-split holds out rows chosen at random by "
        "--split-seed; --patience stops when their loss stops improving and keeps the best weights. "
        "The preprocessing and the standardization are saved in the model, and `fastmlp predict` "
        "applies them.",
    )
    t.add_argument("csv", metavar="table", help=formats)
    t.add_argument("--target", required=True, help="target column name(s), comma-separated")
    t.add_argument(
        "--task",
        default="regress",
        choices=("regress", "classify"),
        help="classify: the target column holds class labels (text, integers or whole floats); trains "
        "with cross_entropy and prints accuracy, F1, ROC AUC, log loss and a confusion matrix",
    )
    g = t.add_argument_group("columns")
    g.add_argument(
        "--features", help="the feature columns: names or globs, comma-separated (default: all but the targets)"
    )
    g.add_argument("--drop", help="columns to leave out (an ID, a name): names or globs, comma-separated")
    g.add_argument("--categorical", help="numeric columns to one-hot encode as categories (text columns always are)")
    g.add_argument(
        "--impute",
        choices=IMPUTE_STRATEGIES,
        help="fill missing cells with each column's statistic over the training rows (a categorical "
        "column takes its most frequent category under mean and median); default: refuse them",
    )
    g.add_argument("--fill-value", help="the value --impute constant fills in (default 0, or 'missing' for text)")
    g.add_argument(
        "--standardize",
        default="all",
        choices=("all", "features", "none"),
        help="standardize the numeric features (and, for a regression with --loss mse, mae or huber, "
        "the targets) with the training rows' mean and std; one-hot columns stay 0/1",
    )
    n = t.add_argument_group("network")
    n.add_argument("--hidden", default="64,64", help="hidden layer sizes, comma-separated ('' for none)")
    n.add_argument(
        "--activation",
        default="relu",
        help=f"the hidden layers' activation, or one per layer comma-separated: "
        f"{', '.join(ACTIVATION_NAMES)}; parameters as torch names them, e.g. 'elu(alpha=0.5)'",
    )
    n.add_argument(
        "--output-activation",
        default="identity",
        metavar="NAME",
        help="the output layer's activation (default identity; e.g. sigmoid for a target in [0, 1] with "
        "--loss mse). A classifier's outputs stay logits: its loss applies the softmax or sigmoid itself",
    )
    n.add_argument(
        "--dropout",
        default="0",
        help="inverted dropout rate of the hidden layers in training, in [0, 1): one for all, or one per "
        "hidden layer comma-separated (default 0: none)",
    )
    n.add_argument("--init", default="auto", help="weight initializer (auto: He for the ReLU family, Xavier else)")
    n.add_argument(
        "--loss",
        metavar="NAME",
        help=f"regression loss: {', '.join(LOSSES)} (default mse); poisson: a "
        f"log link for counts or rates >= 0, predictions in the target's units",
    )
    o = t.add_argument_group("training")
    o.add_argument("--optimizer", default="adam", metavar="NAME", help=", ".join(OPTIMIZERS))
    o.add_argument("--lr", type=float, help="learning rate (default: the optimizer's, e.g. adam 0.001, sgd 0.01)")
    o.add_argument("--momentum", type=float, help=f"for {with_momentum()} (default 0)")
    o.add_argument(
        "--weight-decay",
        type=float,
        help="L2 penalty added to the gradients (AdamW: decoupled); "
        "default 0.01 with hidden layers, 0 without (a linear or logistic regression, whose coefficients "
        "it would bias)",
    )
    o.add_argument(
        "--schedule",
        help=f"learning-rate schedule: {', '.join(SCHEDULES)}, with arguments as "
        f"name(key=value), e.g. 'step(step_size=30, gamma=0.5)'; cosine anneals over --epochs",
    )
    o.add_argument("--batch-size", type=_count, default=32, help="0 for full-batch gradient descent")
    o.add_argument("--epochs", type=_count, default=200, help="at most this many (--patience may stop sooner)")
    o.add_argument(
        "--validation-split",
        type=float,
        metavar="FRACTION",
        help="hold out this fraction of the rows, chosen at random by --split-seed, for validation "
        "(its scores, and --patience); 0 for none (default 0.2, or none for a table too small to "
        "hold out one row)",
    )
    o.add_argument(
        "--patience",
        type=_count,
        default=20,
        help="stop when the validation loss (the training loss without a validation split) has not "
        "improved for this many epochs, and keep the best epoch's weights; 0 for never",
    )
    o.add_argument("--seed", type=_seed, default=0, help="seeds the initial weights and the shuffling")
    o.add_argument("--split-seed", type=_seed, default=0, help="seeds the choice of the validation rows")
    r = t.add_argument_group("output")
    r.add_argument("--save", help="write the trained model to this .npz file")
    r.add_argument("--history", help="write the per-epoch losses and learning rate to this CSV file")
    r.add_argument("--plot", help="draw the training and validation curves in this PNG file (needs matplotlib)")
    r.add_argument("--verbose", action="store_true", help="a line per epoch")
    r.add_argument("--quiet", action="store_true", help="no progress bar (it is drawn on a terminal)")
    add_device(t)
    t.set_defaults(func=train)


def build_parser() -> argparse.ArgumentParser:
    from .lessons import LESSONS

    p = argparse.ArgumentParser(prog="fastmlp", description="Train multi-layer perceptrons with C++ kernels.")
    p.add_argument("--version", action="version", version=f"fastmlp {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser(
        "demo", formatter_class=_Help, help="linear regression on height -> weight, then an MLP on a curve"
    )
    d.add_argument("--seed", type=_seed, default=0)
    d.add_argument("--epochs", type=_count, default=100, help="epochs of the MLP part")
    add_device(d)
    d.set_defaults(func=demo)

    formats = "CSV with a header row, Parquet, Feather/Arrow, .npy or .npz"
    _train_parser(sub, formats)

    q = sub.add_parser("predict", formatter_class=_Help, help="predict with a saved model for the rows of a table")
    q.add_argument("model")
    q.add_argument("csv", metavar="table", help=f"{formats}; the model's columns are read by name, any others ignored")
    q.add_argument("--target", help="for a model without feature names: column(s) to drop before predicting")
    q.add_argument("--out", help="write the predictions to this .csv or .parquet file (default: CSV on stdout)")
    add_device(q)
    q.set_defaults(func=predict)

    x = sub.add_parser("export", formatter_class=_Help, help="write a saved model as an ONNX file")
    x.add_argument("model")
    x.add_argument("onnx", help="the .onnx file to write")
    x.add_argument("--opset", type=int, help="ONNX opset (default 17)")
    x.add_argument(
        "--head",
        default="auto",
        choices=("auto", "softmax", "sigmoid", "logits"),
        help="a classifier's output: its probabilities (auto: as it was trained) or the logits",
    )
    x.add_argument(
        "--inputs",
        default="columns",
        choices=("columns", "encoded"),
        help="columns: the graph takes the model's table columns (numbers, NaN where missing); "
        "encoded: the one-hot encoded matrix (for a model with text categories, which ONNX's "
        "standard operators cannot encode)",
    )
    x.set_defaults(func=export)

    i = sub.add_parser("info", help="print a saved model's network, optimizer, columns and training")
    i.add_argument("model")
    i.set_defaults(func=info)

    le = sub.add_parser(
        "lesson", formatter_class=_Help, help="run a lesson of the seed lecture and draw its figure ('list' lists them)"
    )
    le.add_argument("name", help=f"{', '.join(LESSONS)}, all, or list")
    le.add_argument("--out", default="figs", help="directory for the PNG figures")
    add_device(le)
    le.set_defaults(func=lesson)
    return p


def main(argv: Sequence[str] | None = None) -> int | None:
    """Run the `fastmlp` command: demo, train, predict, export, info or lesson.

    Under mpiexec, one rank's failure (a bad argument, a missing file) ends every rank instead of
    leaving the others waiting for it in their next collective.

    Parameters
    ----------
    argv : list of str, optional
        The command's arguments, without the program name; default sys.argv[1:].

    Returns
    -------
    int or None
        The subcommand's exit status (0 or None for success).

    Raises
    ------
    SystemExit
        For --help, --version, bad arguments, and errors the command reports in words (such as
        --device cuda where CUDA cannot be used).

    Examples
    --------
    >>> from fastmlp import cli
    >>> cli.main(["lesson", "list"])  # doctest: +ELLIPSIS
    landscape      the loss over (a, b) and the path gradient descent takes to its minimum
    learning-rate  too small crawls, too large overshoots and diverges
    ...
    0
    """
    try:
        return _main(argv)
    except SystemExit as e:
        if e.code not in (None, 0):
            _abort_the_job(e)
        raise


def _abort_the_job(error: SystemExit) -> None:
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
    distributed.abort_job(MPI.COMM_WORLD, error.code)


def _main(argv: Sequence[str] | None) -> int | None:
    args = build_parser().parse_args(argv)
    if hasattr(args, "device"):
        from .ops import resolve_device

        try:
            args.device = resolve_device(args.device)
        except RuntimeError as e:  # CUDA asked for where it cannot be used: say why, no traceback
            # The library's words name its argument (device='cpu'); here it is the option.
            said = re.sub(r"device=['\"](\w+)['\"]", r"--device \1", str(e))
            raise SystemExit(f"fastmlp: {said}") from None
    return args.func(args)
