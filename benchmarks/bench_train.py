"""Training-step speed: fastmlp vs PyTorch (CPU) vs the NumPy reference, in one interleaved run.

For each config an SGD training step (ReLU MLP, MSE, mini-batch with a fresh shuffle each epoch) is
timed as: fastmlp `fit` over an epoch of several steps (one Python call per epoch), PyTorch's eager loop
(nn.Sequential + MSELoss + optim.SGD, indexing a shuffled batch each step, same thread count), and the
float64 NumPy reference (fastmlp.reference.train_epoch). Each repeat runs every contender once, in
turn (rotating the order, with a pause between contenders so no library pays for another's spinning
worker threads, then a small product to wake its own threads); the table shows medians of the repeats
after a warm-up, in microseconds per step, GFLOP/s counted as 6 x params x batch per step, and
PyTorch's time divided by fastmlp's (> 1: fastmlp is faster).

    python benchmarks/bench_train.py [--repeats 7] [--quick] [--json out.json] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

# The NumPy reference is the spec, not a speed contender: its BLAS runs on one thread, because idle
# OpenBLAS workers keep waking on the cores that the next library is being timed on.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

import fastmlp
from fastmlp import reference

# name, layer sizes, batch, steps per timed epoch
CONFIGS = [
    ("ax+b 1-1", [1, 1], 32, 2000),
    ("16-64-64-1", [16, 64, 64, 1], 128, 400),
    ("32-256x3-1", [32, 256, 256, 256, 1], 256, 40),
    ("1024x4", [1024, 1024, 1024, 1024], 1024, 3),
]
LR = 1e-4  # small enough that no config diverges on random data


def n_params(sizes):
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def make_data(sizes, n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, sizes[0])).astype(np.float32)
    y = rng.standard_normal((n, sizes[-1])).astype(np.float32)
    return x, y


WAKE = np.random.default_rng(1).standard_normal((256, 256)).astype(np.float32)


class FastMLP:
    name = "fastmlp"

    def wake(self):
        fastmlp.ops.matmul(WAKE, WAKE)

    def __init__(self, sizes, batch, steps):
        self.model = fastmlp.MLP(sizes, activation="relu", init="he_uniform", seed=0)
        self.x, self.y = make_data(sizes, batch * steps)
        self.batch, self.steps, self.epoch = batch, steps, 0

    def run(self):
        opt = fastmlp.optim.SGD(lr=LR)
        start = time.perf_counter()
        self.model.fit(self.x, self.y, optimizer=opt, batch_size=self.batch, epochs=1, seed=self.epoch)
        self.epoch += 1
        return (time.perf_counter() - start) / self.steps


class Torch:
    name = "pytorch"

    def wake(self):
        self.torch.mm(self.wake_t, self.wake_t)

    def __init__(self, sizes, batch, steps):
        import torch

        self.torch = torch
        torch.manual_seed(0)
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(torch.nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        self.net = torch.nn.Sequential(*layers)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=LR)
        self.lossf = torch.nn.MSELoss()
        x, y = make_data(sizes, batch * steps)
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.batch, self.steps = batch, steps
        self.gen = torch.Generator().manual_seed(0)
        self.wake_t = torch.from_numpy(WAKE)

    def run(self):
        torch = self.torch
        start = time.perf_counter()
        order = torch.randperm(self.x.shape[0], generator=self.gen)
        for s in range(self.steps):
            idx = order[s * self.batch : (s + 1) * self.batch]
            xb, yb = self.x[idx], self.y[idx]
            self.opt.zero_grad(set_to_none=True)
            loss = self.lossf(self.net(xb), yb)
            loss.backward()
            self.opt.step()
        return (time.perf_counter() - start) / self.steps


class Reference:
    name = "numpy-ref"

    def wake(self):
        np.matmul(WAKE.astype(np.float64), WAKE.astype(np.float64))

    def __init__(self, sizes, batch, steps, budget_steps):
        model = fastmlp.MLP(sizes, activation="relu", init="he_uniform", seed=0, dtype="float64")
        self.w = list(model.weights)
        self.b = list(model.biases)
        self.acts = model.activations
        # The reference is slow by design: time a few steps only.
        self.steps = max(1, min(steps, budget_steps))
        self.x, self.y = make_data(sizes, batch * self.steps)
        self.batch, self.epoch = batch, 0

    def run(self):
        start = time.perf_counter()
        reference.train_epoch(self.w, self.b, self.acts, self.x, self.y, "mse", self.batch, True, 0, self.epoch, LR)
        self.epoch += 1
        return (time.perf_counter() - start) / self.steps


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--quick", action="store_true", help="fewer steps and repeats (a smoke run)")
    p.add_argument("--threads", type=int, default=fastmlp.get_num_threads())
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    p.add_argument("--no-reference", action="store_true", help="skip the NumPy reference")
    args = p.parse_args(argv)

    fastmlp.set_num_threads(args.threads)
    try:
        import torch

        torch.set_num_threads(args.threads)
        torch_version = torch.__version__
    except ImportError:
        torch = None
        torch_version = None
        print("PyTorch is not installed: its column stays empty (pip install torch==2.13.0, or '.[bench]')")
    repeats = 2 if args.quick else max(args.repeats, 1)

    rows = []
    for name, sizes, batch, steps in CONFIGS:
        if args.quick:
            steps = max(1, steps // 10)
        contenders = [FastMLP(sizes, batch, steps)]
        if torch is not None:
            contenders.append(Torch(sizes, batch, steps))
        if not args.no_reference:
            contenders.append(Reference(sizes, batch, steps, budget_steps=200 if sizes[0] < 100 else 1))
        for c in contenders:  # warm-up: page in data, spin up thread pools
            c.run()
        times = {c.name: [] for c in contenders}
        for rep in range(repeats):
            # Rotate who goes first, and pause between contenders: OpenBLAS and OpenMP worker threads
            # keep spinning for up to ~0.1 s after a call, and would otherwise steal the cores of
            # whichever library runs next. Then wake the contender's own threads with a small product
            # (on this VM an idle core takes ~10 ms to wake), as they are during back-to-back epochs.
            for c in contenders[rep % len(contenders) :] + contenders[: rep % len(contenders)]:
                time.sleep(0.25)
                c.wake()
                times[c.name].append(c.run())
        med = {k: statistics.median(v) for k, v in times.items()}
        flops = 6.0 * n_params(sizes) * batch
        rows.append(
            {
                "config": name,
                "sizes": sizes,
                "batch": batch,
                "params": n_params(sizes),
                "us_per_step": {k: v * 1e6 for k, v in med.items()},
                "gflops": {k: flops / v / 1e9 for k, v in med.items()},
                "speedup_vs_pytorch": (med["pytorch"] / med["fastmlp"]) if "pytorch" in med else None,
                "speedup_vs_reference": (med["numpy-ref"] / med["fastmlp"]) if "numpy-ref" in med else None,
            }
        )

    header = (
        f"{'config':<12} {'batch':>5} {'fastmlp us':>11} {'pytorch us':>11} {'numpy us':>11} "
        f"{'fastmlp GF/s':>12} {'torch GF/s':>10} {'vs torch':>9}"
    )
    print(
        f"\nfastmlp {fastmlp.__version__} (GEMM: {fastmlp._core.gemm_isa('float32')}), PyTorch {torch_version}, "
        f"{args.threads} threads, {platform.processor() or platform.machine()}, median of {repeats}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        us, gf = r["us_per_step"], r["gflops"]
        fmt = lambda d, k, f: f.format(d[k]) if k in d else "-"  # noqa: E731
        ratio = f"{r['speedup_vs_pytorch']:.2f}x" if r["speedup_vs_pytorch"] else "-"
        print(
            f"{r['config']:<12} {r['batch']:>5} {fmt(us, 'fastmlp', '{:11.1f}'):>11} "
            f"{fmt(us, 'pytorch', '{:11.1f}'):>11} {fmt(us, 'numpy-ref', '{:11.1f}'):>11} "
            f"{fmt(gf, 'fastmlp', '{:12.2f}'):>12} {fmt(gf, 'pytorch', '{:10.2f}'):>10} {ratio:>9}"
        )
    ratios = [r["speedup_vs_pytorch"] for r in rows if r["speedup_vs_pytorch"]]
    if ratios:
        geo = float(np.exp(np.mean(np.log(ratios))))
        print(
            f"fastmlp vs PyTorch CPU: geometric mean {geo:.2f}x faster per training step "
            f"(min {min(ratios):.2f}x, max {max(ratios):.2f}x)"
        )
    else:
        print("fastmlp vs PyTorch CPU: not measured (PyTorch missing)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "date": time.strftime("%Y-%m-%d"),
                    "threads": args.threads,
                    "torch": torch_version,
                    "fastmlp": fastmlp.__version__,
                    "machine": platform.machine(),
                    "python": sys.version.split()[0],
                    "rows": rows,
                },
                f,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
