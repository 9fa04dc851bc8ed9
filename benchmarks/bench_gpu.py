"""GPU: training steps of fastmlp's CUDA backend vs PyTorch CUDA eager (float32, TF32 off), and the dense
GEMM alone vs torch.matmul. Runs where a CUDA device is present (tools/gpu_check.sh runs it on the
device machine, within 150 s).

Training: MLPs of 4 hidden layers of width 64 and of width 128 (inputs as wide, one output, ReLU, MSE),
at batch 2^10, 2^14, 2^18 and 2^20, with SGD and with Adam: shuffled mini-batches of a data set that
stays on the GPU for both libraries (fastmlp moves it once per fit; its epochs are timed inside one fit,
each ending when the weights are back on the host). Per config: samples per second of each, their
ratio, and the path fastmlp took ("cuda-fused": the fused narrow-MLP kernel, two launches a step, timed
in each version listed by --fused-kernels; "cuda-gemm": per-layer GEMMs). Times are medians of repeated
epochs after a warm-up epoch.
GEMM: C = A B at n = 4096, float32, operands already on the device, median of repeats, against
torch.matmul on the same card.

A time budget (--budget seconds, 110 by default: gpu_check.sh stops the script at 150 s) bounds the
run: no config starts past it, and those not reached are listed as skipped.

    python benchmarks/bench_gpu.py [--repeats 3] [--budget 110] [--fused-kernels 1,2] [--json out.json]

--smoke runs the same code on tiny sizes (GEMM n = 256, batch 2^10 at width 64, four steps, one
repeat): a check that the script works, as tools/gpu_check.sh --rehearse runs it on the emulated build,
not a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

import fastmlp

WIDTHS = (64, 128)
# Steps per epoch for each batch: enough steps that an epoch's fixed costs (the weights' copies, the
# host's permutation) are a small part of it, with at most 2^21 rows of data.
STEPS = {2**10: 64, 2**14: 16, 2**18: 4, 2**20: 2}
ORDER = (2**14, 2**20, 2**10, 2**18)  # the batches the targets name first, should time run out
LR = {"sgd": 1e-3, "adam": 1e-4}


def sizes_for(width):
    return [width] * 5 + [1]


def fastmlp_step_seconds(x, y, width, batch, steps, opt, repeats):
    """Seconds per step (median over epochs) and the path fastmlp's fit took."""
    model = fastmlp.MLP(sizes_for(width), activation="relu", init="he_uniform", seed=0, device="cuda")
    optimizer = fastmlp.optim.SGD(lr=LR["sgd"]) if opt == "sgd" else fastmlp.optim.Adam(lr=LR["adam"])
    marks = []
    clock = fastmlp.LambdaCallback(on_epoch_end=lambda epoch, logs: marks.append(time.perf_counter()))
    hist = model.fit(x, y, optimizer=optimizer, batch_size=batch, epochs=repeats + 1, callbacks=[clock])
    return statistics.median([(b - a) / steps for a, b in zip(marks, marks[1:])]), hist.params["path"]


def torch_step_seconds(torch, x, y, width, batch, steps, opt, repeats):
    dev = torch.device("cuda")
    sizes = sizes_for(width)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers).to(dev)
    optimizer = (
        torch.optim.SGD(net.parameters(), lr=LR["sgd"])
        if opt == "sgd"
        else torch.optim.Adam(net.parameters(), lr=LR["adam"])
    )
    lossf = torch.nn.MSELoss()
    xd, yd = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)

    def epoch():
        order = torch.randperm(xd.shape[0], device=dev)
        for s in range(steps):
            idx = order[s * batch : (s + 1) * batch]
            optimizer.zero_grad(set_to_none=True)
            lossf(net(xd[idx]), yd[idx]).backward()
            optimizer.step()
        torch.cuda.synchronize()

    epoch()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        epoch()
        times.append((time.perf_counter() - start) / steps)
    return statistics.median(times)


def gemm_row(torch, repeats, n=4096):
    a = np.random.default_rng(n).standard_normal((256, 256)).astype(np.float32)
    got = fastmlp.ops.matmul(a, a, device="cuda")  # the kernel is right before it is timed
    assert np.allclose(got, a.astype(np.float64) @ a, rtol=1e-3, atol=1e-2 * 16), "CUDA GEMM is wrong"
    t_f = fastmlp._core.cuda_gemm_seconds(n, repeats)
    t_t = None
    if torch is not None:
        ta = torch.zeros((n, n), device="cuda")
        torch.matmul(ta, ta)
        torch.cuda.synchronize()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            torch.matmul(ta, ta)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        t_t = statistics.median(times)
    return {
        "n": n,
        "s_fastmlp": t_f,
        "s_torch": t_t,
        "tflops_fastmlp": 2 * n**3 / t_f / 1e12,
        "tflops_torch": t_t and 2 * n**3 / t_t / 1e12,
        "fraction_of_torch": t_t and t_t / t_f,
    }


def import_torch():
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 against float32: no TF32 tensor cores
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    return torch


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--budget", type=float, default=110.0, help="seconds; configs past it are skipped")
    p.add_argument(
        "--fused-kernels",
        default="1,2",
        help="versions of the fused kernel to time (FASTMLP_FUSED_KERNEL), comma-separated",
    )
    p.add_argument("--json", default=None)
    p.add_argument("--smoke", action="store_true", help="tiny sizes: check the script runs, measure nothing")
    args = p.parse_args(argv)
    widths, steps_by_batch, order, gemm_n = WIDTHS, STEPS, ORDER, 4096
    if args.smoke:
        widths, steps_by_batch, order, gemm_n, args.repeats = (64,), {2**10: 4}, (2**10,), 256, 1
    if not fastmlp.cuda_available():
        print(f"bench_gpu: no CUDA device available to fastmlp (cuda_built={fastmlp.cuda_built()})")
        return 2
    start = time.perf_counter()
    torch = import_torch()
    print(
        f"device: {fastmlp._core.cuda_device_description()}; PyTorch {torch.__version__ if torch else 'missing'}"
        f" (eager, float32, TF32 off)"
    )
    gemm = gemm_row(torch, 1 if args.smoke else max(args.repeats, 5), gemm_n)
    rows = max(b * s for b, s in steps_by_batch.items())
    rng = np.random.default_rng(0)
    x_all = rng.standard_normal((rows, max(widths)), dtype=np.float32)
    y_all = rng.standard_normal((rows, 1), dtype=np.float32)
    results, skipped = [], []

    def save():  # after every config, so that a run stopped by its caller's timeout keeps what it measured
        if args.json:
            with open(args.json, "w") as f:
                json.dump(
                    {
                        "date": time.strftime("%Y-%m-%d"),
                        "device": fastmlp._core.cuda_device_description(),
                        "torch": torch.__version__ if torch else None,
                        "repeats": args.repeats,
                        "train": results,
                        "skipped": skipped,
                        "gemm": gemm,
                        "seconds": time.perf_counter() - start,
                    },
                    f,
                    indent=1,
                )

    print(
        f"{'width':>5} {'batch':>8} {'opt':>4} {'path':>12} {'fastmlp samples/s':>18} {'torch samples/s':>16} "
        f"{'ratio':>7}"
    )
    for batch in order:
        steps = steps_by_batch[batch]
        for width in widths:
            x = np.ascontiguousarray(x_all[: batch * steps, :width])
            y = y_all[: batch * steps]
            for opt in ("sgd", "adam"):
                if time.perf_counter() - start > args.budget:
                    skipped.append(f"{width}x4 b{batch} {opt}")
                    continue
                tt = torch_step_seconds(torch, x, y, width, batch, steps, opt, args.repeats) if torch else None
                for kernel in args.fused_kernels.split(","):  # the fused kernel's versions, side by side
                    os.environ["FASTMLP_FUSED_KERNEL"] = kernel
                    tf, path = fastmlp_step_seconds(x, y, width, batch, steps, opt, args.repeats)
                    path += f" v{kernel}" if path == "cuda-fused" else ""
                    r = {
                        "width": width,
                        "hidden_layers": 4,
                        "batch": batch,
                        "optimizer": opt,
                        "path": path,
                        "samples_per_s_fastmlp": batch / tf,
                        "samples_per_s_torch": tt and batch / tt,
                        "ratio": tt and tt / tf,
                    }
                    results.append(r)
                    torch_col = f"{r['samples_per_s_torch']:16.3g}" if tt else f"{'-':>16}"
                    ratio_col = f"{r['ratio']:6.2f}x" if tt else f"{'-':>7}"
                    print(
                        f"{width:>5} {batch:>8} {opt:>4} {path:>12} {r['samples_per_s_fastmlp']:18.3g} "
                        f"{torch_col} {ratio_col}",
                        flush=True,
                    )
                    save()
                    if not path.startswith("cuda-fused"):
                        break  # the GEMM path has no versions
    if skipped:
        print(f"skipped (past the {args.budget:g} s budget): {', '.join(skipped)}")
    t_t = gemm["s_torch"]
    print(
        f"GEMM {gemm['n']}^3 float32 on the device: fastmlp {gemm['tflops_fastmlp']:.1f} TFLOP/s, torch.matmul "
        + (f"{gemm['tflops_torch']:.1f} TFLOP/s: {100 * gemm['fraction_of_torch']:.0f}% of cuBLAS" if t_t else "-")
    )
    save()
    by_batch = {b: [r["ratio"] for r in results if r["batch"] == b and r["ratio"]] for b in steps_by_batch}
    heads = [f"2^{b.bit_length() - 1}: {min(v):.2f}-{max(v):.2f}x" for b, v in by_batch.items() if v]
    if heads:
        print("fastmlp vs PyTorch eager (float32) per training step, by batch: " + ", ".join(heads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
