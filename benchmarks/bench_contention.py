"""Training-step time on a busy machine: fastmlp with 1 and 2 threads, with the machine quiet and with
one CPU-bound process per core running beside it (what a build, a second job or a browser does to a
laptop). Medians of repeated epochs; the last column is 2 threads' time over 1 thread's (below 1: the
second thread helps; far above 1: it waits for a core).

    python benchmarks/bench_contention.py [--epochs 30] [--hogs N]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time

import numpy as np

import fastmlp
from fastmlp import _core, optim

CONFIGS = [  # (name, layer sizes, rows, batch, dtype, optimizer)
    ("digits-like 64-100-10 f64 adam", [64, 100, 10], 1347, 200, np.float64, "adam"),
    ("16-64-64-1 f32 sgd", [16, 64, 64, 1], 4096, 128, np.float32, "sgd"),
]


def _hog(stop):
    x = 0
    while not stop.is_set():
        x += 1


def step_time(sizes, n, batch, dtype, opt_name, threads, epochs):
    fastmlp.set_num_threads(threads)
    rng = np.random.default_rng(0)
    w = [(rng.standard_normal((a, b)) * 0.1).astype(dtype) for a, b in zip(sizes[:-1], sizes[1:])]
    b = [np.zeros(k, dtype) for k in sizes[1:]]
    x = rng.standard_normal((n, sizes[0])).astype(dtype)
    y = rng.standard_normal((n, sizes[-1])).astype(dtype)
    opt = optim.Adam(lr=1e-3) if opt_name == "adam" else optim.SGD(lr=1e-2)
    init = opt.state_initial_values()
    ws = [[np.full_like(a, v) for v in init] for a in w]
    bs = [[np.full_like(a, v) for v in init] for a in b]
    acts = ["relu"] * (len(sizes) - 2) + ["identity"]
    options = _core.TrainOptions(loss={"name": "mse"}, optimizer=opt.config(), batch_size=batch, shuffle=True, seed=0)
    trainer = _core.Trainer(w, b, acts, 0.01, ws, bs, x, y, options)
    rates = np.full(trainer.steps_per_epoch, opt.config()["lr"])
    step, times = 0, []
    for e in range(epochs):
        start = time.perf_counter()
        _, step, _ = trainer.run_epoch(e, rates, step)
        times.append((time.perf_counter() - start) / trainer.steps_per_epoch)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--hogs", type=int, default=os.cpu_count(), help="busy processes (default: one per core)")
    args = parser.parse_args(argv)
    print(
        f"fastmlp {fastmlp.__version__}, {os.cpu_count()} cores; busy: {args.hogs} CPU-bound processes; "
        f"median of {args.epochs} epochs, microseconds per step"
    )
    print(f"{'network':>32} {'machine':>8} {'1 thread':>9} {'2 threads':>10} {'2 / 1':>6}")
    for name, sizes, n, batch, dtype, opt in CONFIGS:
        for busy in (False, True):
            stop = mp.Event()
            hogs = [mp.Process(target=_hog, args=(stop,), daemon=True) for _ in range(args.hogs if busy else 0)]
            for h in hogs:
                h.start()
            time.sleep(0.2 if busy else 0.0)
            try:
                one = step_time(sizes, n, batch, dtype, opt, 1, args.epochs)
                two = step_time(sizes, n, batch, dtype, opt, 2, args.epochs)
            finally:
                stop.set()
                for h in hogs:
                    h.join(timeout=5)
            print(
                f"{name:>32} {'busy' if busy else 'quiet':>8} {one * 1e6:9.1f} {two * 1e6:10.1f} {two / one:6.2f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
