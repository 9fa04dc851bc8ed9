"""Reading a numeric CSV: fastmlp.data.read_csv vs pyarrow.csv.read_csv (to a float64 array) vs numpy.loadtxt.

The file: ROWS x COLS standard-normal float64 values written with 17 significant digits (repr), a header
row, ~97 MB for the default 400k x 12. Median of repeats, both readers on the same threads (the
fastmlp.set_num_threads setting; pyarrow uses its own pool, of all cores). The last line is pyarrow's time
over fastmlp's (> 1: fastmlp is faster).

    python benchmarks/bench_csv.py [--rows 400000] [--cols 12] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

import fastmlp


def median_time(f, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=400_000)
    p.add_argument("--cols", type=int, default=12)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--loadtxt", action="store_true", help="also time numpy.loadtxt (slow)")
    args = p.parse_args(argv)
    import pyarrow as pa
    import pyarrow.csv as pacsv

    values = np.random.default_rng(0).standard_normal((args.rows, args.cols))
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "table.csv")
        with open(path, "w") as f:
            f.write(",".join(f"c{j}" for j in range(args.cols)) + "\n")
            for row in values:
                f.write(",".join(repr(float(v)) for v in row) + "\n")
        size = os.path.getsize(path) / 1e6
        _, ours = fastmlp.data.read_csv(path)
        assert np.array_equal(ours, values), "read_csv does not give the written values back"

        def arrow():
            table = pacsv.read_csv(path)
            return np.column_stack([c.to_numpy() for c in table.columns])

        assert np.array_equal(arrow(), values)
        t_ours = median_time(lambda: fastmlp.data.read_csv(path), args.repeats)
        t_arrow = median_time(arrow, args.repeats)
        print(
            f"{args.rows} x {args.cols} float64, {size:.1f} MB, fastmlp threads {fastmlp.get_num_threads()}, "
            f"pyarrow {pa.__version__} threads {pa.cpu_count()}"
        )
        print(f"{'reader':<28}{'seconds':>10}{'MB/s':>10}")
        rows = [("fastmlp.data.read_csv", t_ours), ("pyarrow.csv.read_csv", t_arrow)]
        if args.loadtxt:
            rows.append(("numpy.loadtxt", median_time(lambda: np.loadtxt(path, delimiter=",", skiprows=1), 1)))
        for name, t in rows:
            print(f"{name:<28}{t:>10.3f}{size / t:>10.0f}")
        print(f"pyarrow time / fastmlp time: {t_arrow / t_ours:.2f}")


if __name__ == "__main__":
    main()
