"""GEMM alone: fastmlp.ops.matmul vs numpy.matmul (OpenBLAS) on square float32 products.

Median of repeats, interleaved with pauses; prints GFLOP/s (2 n^3 per product) and fastmlp's speed relative to
NumPy (> 1: fastmlp is faster).

    python benchmarks/bench_ops.py [--sizes 64,128,256,512,1024,2048] [--repeats 7] [--dtype float32]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import fastmlp


def timed(f, a, b, inner):
    start = time.perf_counter()
    for _ in range(inner):
        f(a, b)
    return (time.perf_counter() - start) / inner


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="64,128,256,512,1024,2048")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--threads", type=int, default=fastmlp.get_num_threads())
    args = p.parse_args(argv)
    fastmlp.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = np.random.default_rng(0)
    print(
        f"GEMM {args.dtype}, fastmlp microkernel {fastmlp._core.gemm_isa(args.dtype)}, {args.threads} threads, "
        f"median of {args.repeats}"
    )
    print(f"{'n':>6} {'fastmlp GF/s':>13} {'numpy GF/s':>11} {'fastmlp/numpy':>14}")
    ratios = []
    for n in sizes:
        a = rng.standard_normal((n, n)).astype(args.dtype)
        b = rng.standard_normal((n, n)).astype(args.dtype)
        err = np.abs(fastmlp.ops.matmul(a, b) - a @ b).max()
        assert err < 1e-2 * np.sqrt(n), f"fastmlp.ops.matmul disagrees with numpy at n={n}: max error {err}"
        inner = max(3, int(2e8 / (2 * n**3)))
        t_f, t_n = [], []
        timed(fastmlp.ops.matmul, a, b, inner)
        timed(np.matmul, a, b, inner)
        for rep in range(args.repeats):
            # Alternate who goes first and pause between the two: OpenBLAS's and OpenMP's worker threads
            # spin for up to ~0.1 s after a call and would steal the cores of the other library.
            order = [(fastmlp.ops.matmul, t_f), (np.matmul, t_n)]
            for f, out in order if rep % 2 == 0 else order[::-1]:
                time.sleep(0.2)
                f(a, b)  # wake this library's worker threads (an idle core takes ~10 ms to wake here)
                out.append(timed(f, a, b, inner))
        tf, tn = statistics.median(t_f), statistics.median(t_n)
        flops = 2.0 * n**3
        ratios.append(tn / tf)
        print(f"{n:>6} {flops / tf / 1e9:>13.1f} {flops / tn / 1e9:>11.1f} {tn / tf:>13.2f}x")
    print(f"fastmlp GEMM vs numpy.matmul: geometric mean {float(np.exp(np.mean(np.log(ratios)))):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
