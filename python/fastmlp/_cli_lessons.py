"""The command line's teaching commands: `fastmlp demo` (the seed lesson's single neuron on the women
data, then an MLP on a curve) and `fastmlp lesson` (the lessons of fastmlp.lessons, with figures).
The table commands (train, predict, export, info) and the parser are in cli.py."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from .data import load_women
from .model import MLP
from .optim import SGD

if TYPE_CHECKING:
    import argparse


def _standardize(v: NDArray[np.float64]) -> tuple[NDArray[np.float64], float, float]:
    mean, std = float(v.mean()), float(v.std())
    return (v - mean) / (std if std > 0 else 1.0), mean, (std if std > 0 else 1.0)


def demo(args: argparse.Namespace) -> int:
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
    ((w, b),) = model.get_weights()
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
    print(f"  ReLU MLP    test MSE {mlp_mse:.4f}  ({mlp.n_params} parameters, {len(h3.epoch)} epochs, {elapsed:.2f} s)")
    verdict = "beats" if mlp_mse < lin_mse else "does NOT beat"
    print(f"  the MLP {verdict} the line by a factor of {lin_mse / max(mlp_mse, 1e-12):.1f}")
    return 0


def lesson(args: argparse.Namespace) -> int:
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
    if have_plot:  # a directory that cannot be written is refused before the lessons run
        try:
            os.makedirs(args.out, exist_ok=True)
        except OSError as e:
            raise SystemExit(f"fastmlp: cannot write figures to {args.out!r}: {e.strerror or e}") from None
        if not os.access(args.out, os.W_OK):
            raise SystemExit(f"fastmlp: cannot write figures to {args.out!r}: not writable")
    try:
        results = run(args.name, out=args.out if have_plot else None, device=args.device)
    except (ValueError, RuntimeError) as e:
        raise SystemExit(f"fastmlp: {e}") from None
    except OSError as e:
        raise SystemExit(f"fastmlp: cannot write figures to {args.out!r}: {e.strerror or e}") from None
    for name, (_, text, path) in results.items():
        print(f"[{name}] {text}")
        if path:
            print(f"  figure: {path}")
    if not have_plot:
        print('(no figures: matplotlib is not installed; pip install "fastmlp[plot]" to get them)')
    return 0
