"""Data-parallel step time on one machine: 1 rank x 2 threads vs 2 ranks x 1 thread (MPI, mpiexec -n 2)
vs 1 rank x 1 thread, for the networks of bench_train.py at their benchmark batch and at 4x and 16x
larger global batches; the all-reduce's share of a 2-rank step; and the cost of the trainer's reduce
hook itself (a no-op reduce through the same Python call, one process).

    python benchmarks/bench_distributed.py [--repeats 5] [--quick] [--json out.json]

Medians of the repeats, microseconds per optimizer step. Needs mpi4py and mpiexec (pip install ".[mpi]").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

CONFIGS = [  # name, sizes, benchmark batch, steps per timed epoch at that batch
    ("16-64-64-1", [16, 64, 64, 1], 128, 400),
    ("32-256x3-1", [32, 256, 256, 256, 1], 256, 40),
    ("1024x4", [1024, 1024, 1024, 1024], 1024, 3),
]

# One timed run: every rank fits one epoch per repeat on its block; rank 0 prints the per-step times
# and the time spent in the all-reduce (the reduce hook wrapped with a clock).
WORKER = r"""
import json, sys, time, numpy as np, fastmlp
from fastmlp import distributed
sizes, batch, steps, repeats, threads = json.loads(sys.argv[1])
fastmlp.set_num_threads(threads)
comm = distributed.init() if distributed.launched_under_mpi() else None
rank, size = (comm.Get_rank(), comm.Get_size()) if comm is not None else (0, 1)
n = batch * steps
lo, hi = distributed.block(n, rank, size)
rng = np.random.default_rng(0)
x = rng.standard_normal((n, sizes[0])).astype(np.float32)[lo:hi]
y = rng.standard_normal((n, sizes[-1])).astype(np.float32)[lo:hi]
spent = [0.0]
if comm is not None:
    hook = distributed.Collective.reduce_hook
    def timed(self):
        inner = hook(self)
        def reduce(buf):
            t = time.perf_counter()
            inner(buf)
            spent[0] += time.perf_counter() - t
        return reduce
    distributed.Collective.reduce_hook = timed
model = fastmlp.MLP(sizes, activation="relu", init="he_uniform", seed=0)
times, shares = [], []
for r in range(repeats + 1):
    spent[0] = 0.0
    if comm is not None:
        comm.Barrier()
    t = time.perf_counter()
    model.fit(x, y, optimizer=fastmlp.optim.SGD(lr=1e-4), batch_size=batch, epochs=1, seed=r, comm=comm)
    dt = time.perf_counter() - t
    if r:  # the first run warms up
        times.append(dt / steps)
        shares.append(spent[0] / dt)
if rank == 0:
    print(json.dumps({"step_us": 1e6 * float(np.median(times)), "allreduce_share": float(np.median(shares))}))
"""

# The hook's own cost: one process, the same trainer with and without a no-op reduce (global_rows = n).
HOOK = r"""
import json, sys, time, numpy as np, fastmlp
from fastmlp import _core
sizes, batch, steps, repeats = json.loads(sys.argv[1])
fastmlp.set_num_threads(1)
rng = np.random.default_rng(0)
n = batch * steps
x = rng.standard_normal((n, sizes[0])).astype(np.float32)
y = rng.standard_normal((n, sizes[-1])).astype(np.float32)
out = {}
for label, extra in (("plain", {}), ("hook", {"global_rows": n, "reduce": lambda buf: None})):
    m = fastmlp.MLP(sizes, seed=0)
    opt = fastmlp.optim.SGD(lr=1e-4)
    st = m._optimizer_state_for(opt)
    options = _core.TrainOptions(loss="mse", optimizer=opt.config(), batch_size=batch, shuffle=True, seed=0,
                                 device="cpu", **extra)
    tr = _core.Trainer(m.weights, m.biases, m.activations, m.negative_slope, st["w"], st["b"], x, y, options)
    rates = np.full(tr.steps_per_epoch, 1e-4)
    ts = []
    for r in range(repeats + 1):
        t = time.perf_counter()
        tr.run_epoch(r, rates, 0)
        ts.append((time.perf_counter() - t) / tr.steps_per_epoch)
    out[label] = 1e6 * float(np.median(ts[1:]))
print(json.dumps(out))
"""


def run(cmd, timeout=900):
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, OMP_NUM_THREADS="2", PYTHONUNBUFFERED="1"),
    )
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd[:6])}...\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="the benchmark batches only, 3 repeats")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    mpiexec = shutil.which("mpiexec")
    if mpiexec is None:
        sys.exit("needs mpiexec: pip install '.[mpi]'")
    repeats = 3 if args.quick else args.repeats
    scales = [1] if args.quick else [1, 4, 16]
    rows = []
    print(
        f"# {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"numpy {np.__version__}; medians of {repeats} epochs, us per optimizer step"
    )
    print(
        f"{'network':<12} {'batch':>6} {'1r x 2t':>10} {'2r x 1t':>10} {'1r x 1t':>10} {'2r/1r2t':>8} {'allreduce':>9}"
    )
    for name, sizes, batch0, steps0 in CONFIGS:
        for k in scales:
            batch = batch0 * k
            steps = max(2, steps0 // k)
            spec = json.dumps([sizes, batch, steps, repeats, 2])
            one2 = run([sys.executable, "-c", WORKER, spec])
            two = run(
                [
                    mpiexec,
                    "-n",
                    "2",
                    sys.executable,
                    "-m",
                    "mpi4py",
                    "-c",
                    WORKER,
                    json.dumps([sizes, batch, steps, repeats, 1]),
                ]
            )
            one1 = run([sys.executable, "-c", WORKER, json.dumps([sizes, batch, steps, repeats, 1])])
            row = {
                "network": name,
                "batch": batch,
                "one_rank_two_threads_us": one2["step_us"],
                "two_ranks_us": two["step_us"],
                "one_rank_one_thread_us": one1["step_us"],
                "allreduce_share": two["allreduce_share"],
            }
            rows.append(row)
            print(
                f"{name:<12} {batch:>6} {one2['step_us']:>10.1f} {two['step_us']:>10.1f} {one1['step_us']:>10.1f} "
                f"{one2['step_us'] / two['step_us']:>8.2f} {100 * two['allreduce_share']:>8.1f}%",
                flush=True,
            )
    hook = run([sys.executable, "-c", HOOK, json.dumps([[16, 64, 64, 1], 128, 400, repeats])])
    print(
        f"reduce hook, 16-64-64-1 at batch 128, one thread: {hook['plain']:.1f} us per step without it, "
        f"{hook['hook']:.1f} us with a no-op reduce ({hook['hook'] - hook['plain']:+.1f} us per step)"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "hook": hook}, f, indent=1)
    best = max(rows, key=lambda r: r["one_rank_two_threads_us"] / r["two_ranks_us"])
    print(
        f"2 ranks x 1 thread vs 1 rank x 2 threads: {best['one_rank_two_threads_us'] / best['two_ranks_us']:.2f}x "
        f"at best ({best['network']}, batch {best['batch']})"
    )


if __name__ == "__main__":
    main()
