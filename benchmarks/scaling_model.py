"""The README's scaling model, from bench_distributed.py's measurements: a step of global batch B on P
ranks takes T(P) = t_row B / P + 2 (P - 1) / P * S / W + 2 (P - 1) alpha (its share of the compute, then a
ring all-reduce of the S-byte gradient buffer), and its efficiency is T(1) / (P T(P)). Prints the
smallest global batch that keeps 80% for each network and P.

    python benchmarks/scaling_model.py results.json [--bandwidth-gbit 100] [--alpha-us 5]
"""

from __future__ import annotations

import argparse
import json

SIZES = {"16-64-64-1": [16, 64, 64, 1], "32-256x3-1": [32, 256, 256, 256, 1], "1024x4": [1024] * 4}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", help="the --json file of bench_distributed.py")
    ap.add_argument("--bandwidth-gbit", type=float, default=100.0)
    ap.add_argument("--alpha-us", type=float, default=5.0)
    ap.add_argument("--efficiency", type=float, default=0.8)
    args = ap.parse_args()
    with open(args.results) as f:
        rows = json.load(f)["rows"]
    w = args.bandwidth_gbit * 1e9 / 8
    alpha = args.alpha_us * 1e-6
    print(
        f"W = {args.bandwidth_gbit:g} Gb/s, alpha = {args.alpha_us:g} us; smallest global batch for "
        f"{100 * args.efficiency:.0f}% efficiency"
    )
    print(f"{'network':<12} {'t_row us':>9} {'S bytes':>10} {'P=8':>10} {'P=64':>10} {'P=512':>11}")
    for name, sizes in SIZES.items():
        mine = [r for r in rows if r["network"] == name]
        if not mine:
            continue
        big = max(mine, key=lambda r: r["batch"])  # per-row cost where fixed per-step costs matter least
        t_row = big["one_rank_one_thread_us"] * 1e-6 / big["batch"]
        s = 4 * sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
        out = []
        for p in (8, 64, 512):
            comm = 2 * (p - 1) / p * s / w + 2 * (p - 1) * alpha
            # t B / (t B + P comm) >= e  <=>  B >= e P comm / ((1 - e) t)
            out.append(args.efficiency * p * comm / ((1 - args.efficiency) * t_row))
        print(f"{name:<12} {t_row * 1e6:>9.3f} {s:>10,d} " + " ".join(f"{b:>10,.0f}" for b in out))


if __name__ == "__main__":
    main()
