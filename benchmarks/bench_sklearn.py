"""Fit time of fastmlp.sklearn's MLPClassifier / MLPRegressor against scikit-learn's, same arguments.

Data sets scikit-learn ships (standardized; the last quarter held out for the score): digits, breast
cancer and wine (classification), diabetes and a 20,000-row friedman1 (regression). Configurations:
scikit-learn's defaults, solver="sgd", solver="lbfgs" and early_stopping=True, all with random_state=0
(both libraries then start from the same initial weights). Each repeat fits every contender once, in
turn; the table shows the median fit time of the repeats, both scores (accuracy or R^2), and
scikit-learn's time divided by fastmlp's (> 1: fastmlp is faster). The last line is the geometric mean
of that ratio over all rows.

    python benchmarks/bench_sklearn.py [--repeats 3] [--quick] [--threads N] [--dtype float64|float32]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.preprocessing import StandardScaler

import fastmlp
from fastmlp.sklearn import MLPClassifier, MLPRegressor

CONFIGS = [
    ("default", {}),
    ("sgd", {"solver": "sgd"}),
    ("lbfgs", {"solver": "lbfgs"}),
    ("early_stopping", {"early_stopping": True}),
]


def data_sets(quick):
    """name, is_classification, (X_train, X_test, y_train, y_test)."""
    out = []
    for name, load in (
        ("digits", datasets.load_digits),
        ("breast_cancer", datasets.load_breast_cancer),
        ("wine", datasets.load_wine),
        ("diabetes", datasets.load_diabetes),
    ):
        x, y = load(return_X_y=True)
        out.append((name, name != "diabetes", x, y))
    x, y = datasets.make_friedman1(2000 if quick else 20000, noise=0.5, random_state=0)
    out.append(("friedman1", False, x, y))
    prepared = []
    for name, clf, x, y in out:
        xt, xs, yt, ys = train_test_split(x, y, random_state=0)
        scaler = StandardScaler().fit(xt)
        prepared.append((name, clf, (scaler.transform(xt), scaler.transform(xs), yt, ys)))
    return prepared


def fit_time(cls, params, data):
    xt, xs, yt, ys = data
    est = cls(**params)
    start = time.perf_counter()
    est.fit(xt, yt)
    return time.perf_counter() - start, est.score(xs, ys)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one repeat, a 2,000-row friedman1")
    parser.add_argument("--threads", type=int, default=None, help="fastmlp's threads (default: all cores)")
    parser.add_argument("--dtype", default=None, help="fastmlp's dtype (default: X's, float64 here)")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    if args.threads:
        fastmlp.set_num_threads(args.threads)
    warnings.simplefilter("ignore", ConvergenceWarning)
    print(
        f"fastmlp {fastmlp.__version__} vs scikit-learn {sys.modules['sklearn'].__version__}; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, fastmlp threads "
        f"{fastmlp.get_num_threads()}, dtype {args.dtype or 'float64 (X)'}, median of {repeats}"
    )
    header = (
        f"{'data set':>14} {'config':>15} {'fastmlp s':>10} {'sklearn s':>10} "
        f"{'score fm':>9} {'score sk':>9} {'speedup':>8}"
    )
    print(header)
    ratios = []
    for name, clf, data in data_sets(args.quick):
        ours_cls, theirs_cls = (MLPClassifier, SkMLPClassifier) if clf else (MLPRegressor, SkMLPRegressor)
        for config, kw in CONFIGS:
            times = {"fm": [], "sk": []}
            scores = {}
            for r in range(repeats):
                order = [("fm", ours_cls), ("sk", theirs_cls)][:: 1 if r % 2 == 0 else -1]  # alternate who goes first
                for lib, cls in order:
                    # OpenBLAS's and fastmlp's idle threads spin for a while after a call: a pause keeps
                    # them from taking cores from the other library's fit that comes next.
                    time.sleep(0.2)
                    extra = {"dtype": args.dtype} if (lib == "fm" and args.dtype) else {}
                    t, s = fit_time(cls, {"random_state": 0, **kw, **extra}, data)
                    times[lib].append(t)
                    scores[lib] = s
            fm, sk = statistics.median(times["fm"]), statistics.median(times["sk"])
            ratios.append(sk / fm)
            print(
                f"{name:>14} {config:>15} {fm:10.3f} {sk:10.3f} {scores['fm']:9.4f} {scores['sk']:9.4f} "
                f"{sk / fm:7.1f}x",
                flush=True,
            )
    geo = float(np.exp(np.mean(np.log(ratios))))
    print(f"fastmlp.sklearn vs scikit-learn fit time: geometric mean {geo:.2f}x over {len(ratios)} fits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
