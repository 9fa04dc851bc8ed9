"""The `fastmlp` command: demo (the seed lesson on real data), train and predict on CSV files."""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from . import __version__
from .data import load_women, read_csv
from .model import MLP, load
from .optim import OPTIMIZERS, SGD

__all__ = ["main"]


def _standardize(v):
    mean, std = float(v.mean()), float(v.std())
    return (v - mean) / (std if std > 0 else 1.0), mean, (std if std > 0 else 1.0)


def demo(args):
    """Fit y = a x + b to the women data (height in -> weight lb), then a small ReLU MLP to a curve."""
    height, weight = load_women()
    print("fastmlp demo: a single neuron y = a*x + b is linear regression (R datasets::women,")
    print(f"{len(height)} rows: average weight in lb by height in inches, World Almanac 1975)\n")
    # Standardized inputs make one learning rate fit both parameters (the loss landscape is round).
    xs, mx, sx = _standardize(height)
    ys, my, sy = _standardize(weight)
    model = MLP([1, 1], seed=args.seed, device=args.device)
    start = time.perf_counter()
    # Mini-batch SGD first, then a few full-batch steps to settle the noise of the small batches.
    hist = model.fit(xs, ys, optimizer=SGD(lr=0.05, momentum=0.5), batch_size=4, epochs=300, seed=args.seed)
    hist2 = model.fit(xs, ys, optimizer=SGD(lr=0.1), batch_size=None, epochs=200, seed=args.seed)
    elapsed = time.perf_counter() - start
    (w, b), = model.get_weights()
    a = float(w[0, 0]) * sy / sx
    b0 = float(b[0]) * sy + my - a * mx
    pred = model.predict(xs).ravel() * sy + my
    mse = float(np.mean((pred - weight) ** 2))
    mae = float(np.mean(np.abs(pred - weight)))
    steps = hist.params["steps"] * len(hist.epoch) + hist2.params["steps"] * len(hist2.epoch)
    print(f"trained {steps} SGD steps (batch 4, then full batch) in {elapsed * 1e3:.1f} ms")
    print(f"  weight = {a:.4f} lb/in * height + ({b0:.3f} lb)")
    exact = np.polyfit(height, weight, 1)
    print(f"  least squares gives a = {exact[0]:.4f}, b = {exact[1]:.3f}")
    print(f"  MSE {mse:.4f} lb^2, MAE {mae:.4f} lb on the training data\n")
    print("predictions for heights the model never saw:")
    for h in (57.5, 64.5, 73.0, 76.0):
        p = float(model.predict(np.array([(h - mx) / sx])).ravel()[0]) * sy + my
        print(f"  {h:5.1f} in -> {p:6.1f} lb")

    # A curve a line cannot follow: y = sin(2x) + x/2 with noise. A 1-32-32-1 ReLU MLP follows it.
    print("\na nonlinear target, y = sin(2x) + x/2 + noise on x in [-3, 3], 2000 samples:")
    rng = np.random.default_rng(args.seed)
    x = rng.uniform(-3, 3, size=(2000, 1))
    y = np.sin(2 * x) + 0.5 * x + 0.05 * rng.standard_normal(x.shape)
    x_test = np.linspace(-3, 3, 501).reshape(-1, 1)
    y_test = np.sin(2 * x_test) + 0.5 * x_test
    line = MLP([1, 1], seed=args.seed, device=args.device)
    line.fit(x, y, optimizer=SGD(lr=0.05), batch_size=32, epochs=30, seed=args.seed)
    mlp = MLP([1, 32, 32, 1], activation="relu", init="he_uniform", seed=args.seed, device=args.device)
    start = time.perf_counter()
    h3 = mlp.fit(x, y, optimizer=SGD(lr=0.005, momentum=0.9), batch_size=32, epochs=args.epochs, seed=args.seed)
    elapsed = time.perf_counter() - start
    lin_mse, mlp_mse = line.evaluate(x_test, y_test), mlp.evaluate(x_test, y_test)
    print(f"  linear fit  test MSE {lin_mse:.4f}")
    print(f"  ReLU MLP    test MSE {mlp_mse:.4f}  ({mlp.n_params} parameters, {len(h3.epoch)} epochs, "
          f"{elapsed:.2f} s)")
    verdict = "beats" if mlp_mse < lin_mse else "does NOT beat"
    print(f"  the MLP {verdict} the line by a factor of {lin_mse / max(mlp_mse, 1e-12):.1f}")
    return 0


def _parse_hidden(text):
    if not text:
        return []
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(f"fastmlp: --hidden must be comma-separated integers, got {text!r}") from None
    return sizes


def _columns(header, data, target, path):
    targets = [t.strip() for t in target.split(",")]
    for t in targets:
        if t not in header:
            raise SystemExit(f"fastmlp: column {t!r} not in {path}; columns are: {', '.join(header)}")
    t_idx = [header.index(t) for t in targets]
    f_idx = [i for i in range(len(header)) if i not in t_idx]
    if not f_idx:
        raise SystemExit(f"fastmlp: {path} has no feature columns besides the target")
    return data[:, f_idx], data[:, t_idx], [header[i] for i in f_idx], targets


def train(args):
    try:
        header, data = read_csv(args.csv)
    except (OSError, ValueError) as e:
        raise SystemExit(f"fastmlp: {e}") from None
    x, y, features, targets = _columns(header, data, args.target, args.csv)
    classes = _class_labels(y, args) if args.task == "classify" else None
    if classes is not None:
        y = np.searchsorted(classes, y[:, 0])  # class indices
    sizes = [x.shape[1], *_parse_hidden(args.hidden), y.shape[1] if classes is None else len(classes)]
    if args.save:  # fail before training, not after it
        target_dir = os.path.dirname(os.path.abspath(args.save))
        if os.path.isdir(args.save) or not os.path.isdir(target_dir) or not os.access(target_dir, os.W_OK):
            raise SystemExit(f"fastmlp: cannot write the model to {args.save!r} (not a writable file path)")
    try:
        model = MLP(sizes, activation=args.activation, init=args.init, seed=args.seed, device=args.device)
        if args.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {args.optimizer!r}; expected one of: {', '.join(OPTIMIZERS)}")
        extra = {"momentum": args.momentum} if args.optimizer in ("sgd", "rmsprop") else {}
        opt = OPTIMIZERS[args.optimizer](lr=args.lr, **extra)
        loss = args.loss if classes is None else "cross_entropy"
        hist = model.fit(x, y, loss=loss, optimizer=opt, batch_size=args.batch_size or None,
                         epochs=args.epochs, seed=args.seed, verbose=args.verbose)
    except (ValueError, TypeError, FloatingPointError) as e:
        raise SystemExit(f"fastmlp: {e}") from None
    print(f"{model} on {x.shape[0]} rows: features {features} -> {targets}")
    if hist.history["loss"]:
        print(f"final training {loss}: {hist.history['loss'][-1]:.6g} after {len(hist.epoch)} epochs")
    else:
        print("no epochs were run (--epochs 0): the model keeps its initial weights")
    if classes is not None:
        _classification_report(model, x, y, classes)
    if args.save:
        try:
            model.save(args.save)
        except OSError as e:
            raise SystemExit(f"fastmlp: cannot write the model to {args.save!r}: {e.strerror or e}") from None
        print(f"saved to {args.save}")
    return 0


def _class_labels(y, args):
    """--task classify: the sorted distinct labels of the one target column (at most 1000 of them)."""
    if y.shape[1] != 1:
        raise SystemExit("fastmlp: --task classify takes one target column (the class labels)")
    if args.loss != "mse":
        raise SystemExit("fastmlp: --task classify trains with cross_entropy; leave --loss out")
    classes = np.unique(y[:, 0])
    if len(classes) < 2 or len(classes) > 1000:
        raise SystemExit(f"fastmlp: --task classify needs 2 to 1000 distinct labels, {args.target!r} has {len(classes)}")
    return classes


def _classification_report(model, x, y, classes):
    """Training accuracy and the confusion matrix (rows: true class, columns: predicted)."""
    from .targets import confusion_matrix

    pred = model.predict(x).argmax(axis=1)
    print(f"training accuracy: {float((pred == y).mean()):.4f} ({int((pred == y).sum())} of {len(y)})")
    counts = confusion_matrix(y, pred, len(classes))
    names = [f"{c:g}" for c in classes]
    width = max(6, *(len(n) for n in names), len(str(counts.max())))
    print("confusion matrix (rows: true label, columns: predicted):")
    print(" " * width + "".join(f" {n:>{width}}" for n in names))
    for name, row in zip(names, counts):
        print(f"{name:>{width}}" + "".join(f" {v:>{width}}" for v in row))


def predict(args):
    try:
        model = load(args.model).to(args.device)
        header, data = read_csv(args.csv)
    except (OSError, ValueError) as e:
        raise SystemExit(f"fastmlp: {e}") from None
    n_in = model.sizes[0]
    if args.target:
        x, _, _, _ = _columns(header, data, args.target, args.csv)
    else:
        x = data
    if x.shape[1] != n_in:
        raise SystemExit(f"fastmlp: the model takes {n_in} features but {args.csv} gives {x.shape[1]} columns "
                         f"(name the target column(s) to drop with --target)")
    pred = model.predict(x)
    out = sys.stdout
    out.write(",".join(f"pred{i}" for i in range(pred.shape[1])) + "\n")
    for row in pred:
        out.write(",".join(f"{v:.9g}" for v in row) + "\n")
    return 0


def lesson(args):
    from .lessons import LESSONS, run

    if args.name == "list":
        for name, (_, _, _, what) in LESSONS.items():
            print(f"{name:<14} {what}")
        return 0
    try:
        from .plots import require_matplotlib

        require_matplotlib()
        have_plot = True
    except ImportError:
        have_plot = False
    try:
        results = run(args.name, out=args.out if have_plot else None, device=args.device)
    except (ValueError, RuntimeError) as e:
        raise SystemExit(f"fastmlp: {e}") from None
    for name, (_, text, path) in results.items():
        print(f"[{name}] {text}")
        if path:
            print(f"  figure: {path}")
    if not have_plot:
        print('(no figures: matplotlib is not installed; pip install "fastmlp[plot]" to get them)')
    return 0


def add_device(parser):
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"),
                        help="where the kernels run (default cpu; auto: the GPU when there is one)")


def build_parser():
    p = argparse.ArgumentParser(prog="fastmlp", description="Train multi-layer perceptrons with C++ kernels.")
    p.add_argument("--version", action="version", version=f"fastmlp {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="linear regression on height -> weight, then an MLP on a curve")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--epochs", type=int, default=100, help="epochs of the MLP part (default 100)")
    add_device(d)
    d.set_defaults(func=demo)

    t = sub.add_parser("train", help="train an MLP on a numeric CSV file with a header row")
    t.add_argument("csv")
    t.add_argument("--target", required=True, help="target column name(s), comma-separated")
    t.add_argument("--hidden", default="64,64", help="hidden layer sizes, e.g. 64,64 ('' for none)")
    t.add_argument("--activation", default="relu")
    t.add_argument("--init", default="auto")
    t.add_argument("--loss", default="mse")
    t.add_argument("--task", default="regress", choices=("regress", "classify"),
                   help="classify: the target column holds class labels; trains with cross_entropy and prints "
                        "accuracy and a confusion matrix")
    t.add_argument("--optimizer", default="sgd", help="sgd, adam, adamw, rmsprop or adagrad")
    t.add_argument("--lr", type=float, default=0.01)
    t.add_argument("--momentum", type=float, default=0.0, help="for sgd and rmsprop")
    t.add_argument("--batch-size", type=int, default=32, help="0 for full-batch gradient descent")
    t.add_argument("--epochs", type=int, default=50)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--save", help="write the trained model to this .npz file")
    t.add_argument("--verbose", action="store_true")
    add_device(t)
    t.set_defaults(func=train)

    q = sub.add_parser("predict", help="predict with a saved model for the rows of a CSV file")
    q.add_argument("model")
    q.add_argument("csv")
    q.add_argument("--target", help="column(s) to drop before predicting (e.g. the training target)")
    add_device(q)
    q.set_defaults(func=predict)

    le = sub.add_parser("lesson", help="run a lesson of the seed lecture and draw its figure ('list' lists them)")
    le.add_argument("name", help="landscape, learning-rate, optimizers, init, batch-size, deep, all, or list")
    le.add_argument("--out", default="figs", help="directory for the PNG figures (default: figs)")
    add_device(le)
    le.set_defaults(func=lesson)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if hasattr(args, "device"):
        from .ops import resolve_device

        try:
            args.device = resolve_device(args.device)
        except RuntimeError as e:  # CUDA asked for where it cannot be used: say why, no traceback
            raise SystemExit(f"fastmlp: {e}") from None
    return args.func(args)
