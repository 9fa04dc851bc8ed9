"""`fastmlp train` with its defaults against scikit-learn's StandardScaler + MLPRegressor/MLPClassifier
((64, 64)) pipeline with its defaults, on the bundled real tables (tests/real_tables.py): the test
score (R2 or accuracy) on seeded 75/25 splits, the same split for both, and the fit times.

    python benchmarks/cli_defaults.py [--splits 5] [--rows N] [--messy] [--only NAME,...]

--messy adds an ID, a name, a categorical column and 5% missing cells (both sides then impute: fastmlp
with --impute mean, scikit-learn with SimpleImputer; the name and ID are dropped on both sides).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import real_tables

from fastmlp.cli import main as fastmlp_main


def run_fastmlp(train, test, target, task, loss, seed, messy, extra=()):
    with tempfile.TemporaryDirectory() as tmp:
        train_csv, test_csv = os.path.join(tmp, "train.csv"), os.path.join(tmp, "test.csv")
        model, out = os.path.join(tmp, "m.npz"), os.path.join(tmp, "pred.csv")
        train.to_csv(train_csv, index=False)
        test.drop(columns=[target]).to_csv(test_csv, index=False)
        argv = ["train", train_csv, "--target", target, "--save", model, "--quiet", "--seed", str(seed), *extra]
        if task == "classify":
            argv += ["--task", "classify"]
        if loss == "poisson":
            argv += ["--loss", "poisson"]
        if messy:
            argv += ["--drop", "id,name", "--impute", "mean"]
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()) as said:
            fastmlp_main(argv)
        took = time.perf_counter() - start
        with contextlib.redirect_stdout(io.StringIO()):
            fastmlp_main(["predict", model, test_csv, "--out", out])
        pred = pd.read_csv(out, keep_default_na=False)
        return pred.iloc[:, 0].to_numpy(), took, said.getvalue()


def run_sklearn(train, test, target, task, loss, seed, messy):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    drop = [target] + (["id", "name"] if messy else [])
    pipe = real_tables.sklearn_pipeline(task, loss, seed, categorical=["band"] if messy else (), impute=messy)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(train.drop(columns=drop), train[target])
    took = time.perf_counter() - start
    return pipe.predict(test.drop(columns=drop)), took


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--splits", type=int, default=5)
    p.add_argument("--rows", type=int, default=None, help="at most this many rows per table")
    p.add_argument("--messy", action="store_true")
    p.add_argument("--only", default=None)
    p.add_argument("--extra", default="", help="more fastmlp train options, space-separated")
    args = p.parse_args(argv)
    rows = []
    for name, frame, target, task, loss in real_tables.tables(args.rows):
        if args.only and name not in args.only.split(","):
            continue
        if args.messy:
            frame = real_tables.messy(frame, target)
        ours, theirs, t_ours, t_theirs = [], [], [], []
        for seed in range(args.splits):
            train, test = real_tables.split(frame, seed)
            pred, took, _ = run_fastmlp(train, test, target, task, loss, seed, args.messy, args.extra.split())
            ours.append(real_tables.score(task, test[target], pred))
            t_ours.append(took)
            pred, took = run_sklearn(train, test, target, task, loss, seed, args.messy)
            theirs.append(real_tables.score(task, test[target], pred))
            t_theirs.append(took)
        metric = "accuracy" if task == "classify" else "R2"
        rows.append((name, len(frame), metric, np.mean(ours), np.mean(theirs), np.median(t_ours), np.median(t_theirs)))
        r = rows[-1]
        print(
            f"{r[0]:<15} {r[1]:>6} rows  {r[2]:<8} fastmlp {r[3]:.4f}  sklearn {r[4]:.4f}  diff {r[3] - r[4]:+.4f}"
            f"   fit s (median) {r[5]:.2f} vs {r[6]:.2f}",
            flush=True,
        )
    print(
        "\n| table | rows | metric | fastmlp train (defaults) | scikit-learn pipeline | difference | fit time ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, n, metric, a, b, ta, tb in rows:
        print(f"| {name} | {n} | {metric} | {a:.4f} | {b:.4f} | {a - b:+.4f} | {tb / ta:.1f}x |")


if __name__ == "__main__":
    main()
