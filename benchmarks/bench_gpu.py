"""GPU: fastmlp's CUDA backend vs PyTorch CUDA (fp32, TF32 off) per training step, and the GEMM alone
vs torch.matmul. Runs where a CUDA device is present (tools/gpu_check.sh runs it on the device machine).

Training: the configs of bench_train.py plus a width-64, 4-hidden-layer MLP at batch 2^18; SGD, MSE,
shuffled mini-batches, data resident on the GPU for both (fastmlp's epochs are timed inside one fit).
Times are medians of repeated epochs after a warm-up epoch, each ending with a device synchronization
(fastmlp copies the weights back to the host at every epoch's end).

    python benchmarks/bench_gpu.py [--repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

import fastmlp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_train import CONFIGS, LR, make_data, n_params  # noqa: E402

GPU_CONFIGS = CONFIGS + [("64x4 b2^18", [64, 64, 64, 64, 64, 1], 2 ** 18, 4)]


def time_fastmlp(sizes, batch, steps, repeats):
    """Epochs of one fit, timed at each epoch's end: the data set moves to the GPU once, as torch's
    stays there; the first epoch (upload, workspaces) is not counted."""
    x, y = make_data(sizes, batch * steps)
    model = fastmlp.MLP(sizes, activation="relu", init="he_uniform", seed=0, device="cuda")
    marks = []
    clock = fastmlp.LambdaCallback(on_epoch_end=lambda epoch, logs: marks.append(time.perf_counter()))
    model.fit(x, y, optimizer=fastmlp.optim.SGD(lr=LR), batch_size=batch, epochs=repeats + 1, callbacks=[clock])
    return statistics.median([(b - a) / steps for a, b in zip(marks, marks[1:])])


def time_torch(torch, sizes, batch, steps, repeats):
    dev = torch.device("cuda")
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    lossf = torch.nn.MSELoss()
    x, y = make_data(sizes, batch * steps)
    x, y = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)

    def epoch():
        order = torch.randperm(x.shape[0], device=dev)
        for s in range(steps):
            idx = order[s * batch:(s + 1) * batch]
            opt.zero_grad(set_to_none=True)
            lossf(net(x[idx]), y[idx]).backward()
            opt.step()
        torch.cuda.synchronize()

    epoch()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        epoch()
        times.append((time.perf_counter() - start) / steps)
    return statistics.median(times)


def gemm_rows(torch, repeats):
    rows = []
    for n in (256, 1024, 4096):
        a = np.random.default_rng(n).standard_normal((n, n)).astype(np.float32)
        got = fastmlp.ops.matmul(a, a, device="cuda")
        assert np.allclose(got, a.astype(np.float64) @ a, rtol=1e-3, atol=1e-2 * np.sqrt(n)), "CUDA GEMM is wrong"
        t_f = []
        for _ in range(repeats):  # includes the host<->device copies of fastmlp.ops.matmul
            start = time.perf_counter()
            fastmlp.ops.matmul(a, a, device="cuda")
            t_f.append(time.perf_counter() - start)
        t_t = None
        if torch is not None:
            ta = torch.from_numpy(a).cuda()
            torch.matmul(ta, ta)
            torch.cuda.synchronize()
            t_t = []
            for _ in range(repeats):
                start = time.perf_counter()
                torch.matmul(ta, ta)
                torch.cuda.synchronize()
                t_t.append(time.perf_counter() - start)
            t_t = statistics.median(t_t)
        rows.append((n, statistics.median(t_f), t_t))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if not fastmlp.cuda_available():
        print("bench_gpu: no CUDA device available to fastmlp (cuda_built=%s)" % fastmlp.cuda_built())
        return 2
    try:
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        if not torch.cuda.is_available():
            torch = None
    except ImportError:
        torch = None
    print(f"device: {fastmlp._core.cuda_device_description()}; PyTorch {torch.__version__ if torch else 'missing'}")
    results = []
    for name, sizes, batch, steps in GPU_CONFIGS:
        tf = time_fastmlp(sizes, batch, steps, args.repeats)
        tt = time_torch(torch, sizes, batch, steps, args.repeats) if torch else None
        results.append({"config": name, "batch": batch, "us_fastmlp": tf * 1e6, "us_torch": tt and tt * 1e6,
                        "gflops_fastmlp": 6 * n_params(sizes) * batch / tf / 1e9,
                        "speedup_vs_torch": tt / tf if tt else None})
    gemm = gemm_rows(torch, args.repeats)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"date": time.strftime("%Y-%m-%d"), "device": fastmlp._core.cuda_device_description(),
                       "train": results, "gemm": gemm}, f, indent=1)
    print(f"{'config':<12} {'batch':>7} {'fastmlp us':>11} {'torch us':>10} {'GF/s':>8} {'vs torch':>9}")
    for r in results:
        torch_us = f"{r['us_torch']:10.1f}" if r["us_torch"] else "         -"
        ratio = f"{r['speedup_vs_torch']:8.2f}x" if r["speedup_vs_torch"] else "        -"
        print(f"{r['config']:<12} {r['batch']:>7} {r['us_fastmlp']:11.1f} {torch_us} {r['gflops_fastmlp']:8.1f} {ratio}")
    print(f"{'GEMM n':<12} {'fastmlp ms (with copies)':>26} {'torch ms':>10}")
    for n, tf, tt in gemm:
        print(f"{n:<12} {tf * 1e3:26.2f} {(tt or float('nan')) * 1e3:10.3f}")
    ratios = [r["speedup_vs_torch"] for r in results if r["speedup_vs_torch"]]
    if ratios:
        print(f"fastmlp CUDA vs PyTorch CUDA: geometric mean {float(np.exp(np.mean(np.log(ratios)))):.2f}x per step")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
