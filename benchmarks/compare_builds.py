"""Two builds of fastmlp, before and after a change, timed in one run: nothing else may get slower.

Each build is a directory that holds an installed fastmlp package (e.g. made with
`pip install --no-deps --target DIR .` from a checkout of each commit). Every round runs one worker
process per build, in alternating order with a pause between them, so both see the same machine; a
worker times fastmlp alone on the workloads of bench_train.py (an SGD step of each network, one
Python call per epoch) and bench_sklearn.py (fastmlp.sklearn fits of each data set and
configuration), the same code on both sides. The table shows the median over the rounds of each
workload and after / before (< 1: the change made it faster), then the geometric mean.

    python benchmarks/compare_builds.py BEFORE_DIR AFTER_DIR [--rounds 5] [--quick] [--only train|sklearn]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _train_workloads(quick):
    """(name, seconds per step) of fastmlp's epoch on each bench_train config."""
    import bench_train  # its FastMLP contender: MLP.fit over one epoch

    out = []
    for name, sizes, batch, steps in bench_train.CONFIGS:
        steps = max(1, steps // 10) if quick else steps
        contender = bench_train.FastMLP(sizes, batch, steps)
        contender.run()  # warm-up
        times = []
        for _ in range(3):
            time.sleep(0.1)
            contender.wake()
            times.append(contender.run())
        out.append((f"train {name} b{batch}", statistics.median(times)))
    return out


def _sklearn_workloads(quick):
    """(name, seconds per fit) of fastmlp.sklearn on each bench_sklearn data set and config."""
    import warnings

    import bench_sklearn
    from sklearn.exceptions import ConvergenceWarning

    from fastmlp.sklearn import MLPClassifier, MLPRegressor

    warnings.simplefilter("ignore", ConvergenceWarning)
    out = []
    for name, clf, data in bench_sklearn.data_sets(quick):
        cls = MLPClassifier if clf else MLPRegressor
        for config, kw in bench_sklearn.CONFIGS:
            times = []
            for _ in range(3):  # the small sets fit in milliseconds: a median of three per round
                time.sleep(0.05)
                times.append(bench_sklearn.fit_time(cls, {"random_state": 0, **kw}, data)[0])
            out.append((f"sklearn {name} {config}", statistics.median(times)))
    return out


def worker(which, quick, site):
    # The build under test, ahead of anything else: an editable install's import hook would otherwise
    # answer for fastmlp whatever sys.path says.
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__]
    sys.path[:0] = [site, HERE]
    rows = []
    if which in ("all", "train"):
        rows += _train_workloads(quick)
    if which in ("all", "sklearn"):
        rows += _sklearn_workloads(quick)
    import fastmlp

    print(json.dumps({"file": fastmlp.__file__, "rows": rows}))


def run_worker(site, which, quick):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", which, "--site", site] + (
        ["--quick"] if quick else []
    )
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the worker for {site} failed:\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if not result["file"].startswith(os.path.abspath(site)):
        raise SystemExit(f"the worker for {site} imported fastmlp from {result['file']}, not from {site}")
    return result["rows"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before", nargs="?")
    p.add_argument("after", nargs="?")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="fewer steps, the small friedman1 (a smoke run)")
    p.add_argument("--only", choices=["all", "train", "sklearn"], default="all")
    p.add_argument("--worker", choices=["all", "train", "sklearn"], default=None, help=argparse.SUPPRESS)
    p.add_argument("--site", default=None, help=argparse.SUPPRESS)
    p.add_argument("--json", default=None, help="write every round's times to this file")
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker, args.quick, args.site)
        return 0
    if not (args.before and args.after):
        p.error("give the BEFORE and AFTER build directories")
    builds = {"before": os.path.abspath(args.before), "after": os.path.abspath(args.after)}
    times = {"before": {}, "after": {}}
    names = []
    for r in range(args.rounds):
        for label in ("before", "after") if r % 2 == 0 else ("after", "before"):
            time.sleep(1.0)
            for name, seconds in run_worker(builds[label], args.only, args.quick):
                times[label].setdefault(name, []).append(seconds)
                if name not in names:
                    names.append(name)
        print(f"round {r + 1} of {args.rounds} done", file=sys.stderr, flush=True)
    header = f"{'workload':<34} {'before':>11} {'after':>11} {'after/before':>13}"
    print(f"\n{args.rounds} rounds, medians; before = {builds['before']}, after = {builds['after']}")
    print(header)
    print("-" * len(header))
    ratios = []
    for name in names:
        b, a = statistics.median(times["before"][name]), statistics.median(times["after"][name])
        ratios.append(a / b)
        unit, scale = ("us", 1e6) if name.startswith("train") else ("s", 1.0)
        print(f"{name:<34} {b * scale:9.3f}{unit:>2} {a * scale:9.3f}{unit:>2} {a / b:12.3f}")
    geo = statistics.geometric_mean(ratios)
    print(f"{'geometric mean':<34} {'':>11} {'':>11} {geo:12.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"builds": builds, "times": times}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
