"""Training-step speed against the compiled-loop peers: fastmlp vs PyTorch eager, torch.compile, JAX with
the step compiled (jit, a Python loop over steps) and JAX with the whole epoch compiled (lax.scan inside
one jit: no Python between steps, like fastmlp's C++ epoch).

Every contender trains the same network from the same weights on the same data: dense layers, MSE
(mean over elements), SGD or Adam with torch.optim's update, float32. Before anything is timed, one
epoch over the batches in order is run by each and its per-step losses and final weights are compared
with fastmlp's (the same arithmetic, up to float32 rounding); a contender that disagrees is reported
and not timed. Then each repeat times one shuffled epoch per contender, in a rotating order with a
pause before each (so the last one's idle threads are quiet) and a small product to wake its own; the
table gives the median microseconds per step and fastmlp's lead over each peer (> 1: fastmlp faster).

    python benchmarks/bench_peers.py [--repeats 7] [--quick] [--only NAME] [--no-compile] [--json out.json]

PyTorch (`pip install torch==2.13.0`) and JAX (`pip install jax`) are optional: a missing one leaves its
columns empty.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

import fastmlp

# name, layer sizes, hidden activation, optimizer, batch, steps per timed epoch
CONFIGS = [
    ("ax+b 1-1, batch 32", [1, 1], "relu", "sgd", 32, 4000),
    ("ax+b 1-1, SGD batch 1", [1, 1], "relu", "sgd", 1, 20000),
    ("16-64-64-1, batch 1", [16, 64, 64, 1], "relu", "sgd", 1, 4000),
    ("16-64-64-1, batch 128", [16, 64, 64, 1], "relu", "sgd", 128, 400),
    ("16-64-64-1 Adam, batch 128", [16, 64, 64, 1], "relu", "adam", 128, 400),
    ("13-32-32-1 sigmoid, batch 32", [13, 32, 32, 1], "sigmoid", "sgd", 32, 2000),
    ("13-32-32-1 tanh, batch 32", [13, 32, 32, 1], "tanh", "sgd", 32, 2000),
    ("32-256x3-1, batch 256", [32, 256, 256, 256, 1], "relu", "sgd", 256, 40),
    ("1024x4, batch 1024", [1024, 1024, 1024, 1024], "relu", "sgd", 1024, 3),
]
LR = {"sgd": 1e-3, "adam": 1e-3}
BETAS, EPS = (0.9, 0.999), 1e-8
WAKE = np.random.default_rng(1).standard_normal((256, 256)).astype(np.float32)


def make_problem(sizes, activation, batch, steps):
    """Initial weights (fastmlp's, (in, out)) and an epoch of data, shared by every contender."""
    model = fastmlp.MLP(sizes, activation=activation, seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch * steps, sizes[0])).astype(np.float32)
    y = np.tanh(x[:, : sizes[-1]]) + 0.1 * rng.standard_normal((batch * steps, sizes[-1])).astype(np.float32)
    return [w.copy() for w in model.weights], [b.copy() for b in model.biases], x, y.astype(np.float32)


class FastMLP:
    name = "fastmlp"

    def __init__(self, problem, sizes, activation, optimizer, batch):
        self.w0, self.b0, self.x, self.y = problem
        self.sizes, self.activation = sizes, activation
        self.optimizer, self.batch, self.epoch = optimizer, batch, 0
        self.reset()

    def _opt(self):
        lr = LR[self.optimizer]
        return fastmlp.optim.SGD(lr=lr) if self.optimizer == "sgd" else fastmlp.optim.Adam(lr=lr, betas=BETAS, eps=EPS)

    def reset(self):
        """The shared initial weights, and a fresh optimizer state (a new model), as the peers start."""
        self.model = fastmlp.MLP(self.sizes, activation=self.activation, seed=0)
        self.model.set_weights(list(zip(self.w0, self.b0)))
        self.opt = self._opt()

    def wake(self):
        fastmlp.ops.matmul(WAKE, WAKE)

    def check_epoch(self):
        """One epoch over the batches in order: (mean of the per-step losses, final weights)."""
        hist = self.model.fit(self.x, self.y, optimizer=self.opt, batch_size=self.batch, epochs=1, shuffle=False)
        return hist.history["loss"][0], [w.copy() for w in self.model.weights]

    def run(self):
        start = time.perf_counter()
        self.model.fit(self.x, self.y, optimizer=self.opt, batch_size=self.batch, epochs=1, seed=self.epoch)
        self.epoch += 1
        return time.perf_counter() - start


class Torch:
    name = "torch eager"

    def __init__(self, problem, sizes, activation, optimizer, batch, compiled=False):
        import torch

        self.torch, self.compiled = torch, compiled
        self.w0, self.b0, x, y = problem
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        act = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}[activation]
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(torch.nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(act())
        self.net = torch.nn.Sequential(*layers)
        self.forward = torch.compile(self.net) if compiled else self.net
        self.optimizer, self.batch = optimizer, batch
        self.gen = torch.Generator().manual_seed(0)
        self.wake_t = torch.from_numpy(WAKE)
        self.reset()

    def reset(self):
        torch = self.torch
        with torch.no_grad():
            linears = [m for m in self.net if isinstance(m, torch.nn.Linear)]
            for lin, w, b in zip(linears, self.w0, self.b0):
                lin.weight.copy_(torch.from_numpy(w.T.copy()))  # torch stores (out, in)
                lin.bias.copy_(torch.from_numpy(b))
        lr = LR[self.optimizer]
        params = self.net.parameters()
        self.opt = (
            torch.optim.SGD(params, lr=lr)
            if self.optimizer == "sgd"
            else torch.optim.Adam(params, lr=lr, betas=BETAS, eps=EPS)
        )

    def wake(self):
        self.torch.mm(self.wake_t, self.wake_t)

    def _steps(self, order, record):
        """An epoch of steps over the batches of `order` (None: in order)."""
        losses = []
        for s in range(self.x.shape[0] // self.batch):
            rows = slice(s * self.batch, (s + 1) * self.batch)
            xb, yb = (self.x[rows], self.y[rows]) if order is None else (self.x[order[rows]], self.y[order[rows]])
            self.opt.zero_grad(set_to_none=True)
            loss = self.torch.nn.functional.mse_loss(self.forward(xb), yb)
            loss.backward()
            self.opt.step()
            if record:
                losses.append(float(loss))
        return losses

    def check_epoch(self):
        losses = self._steps(None, record=True)
        linears = [m for m in self.net if isinstance(m, self.torch.nn.Linear)]
        return float(np.mean(losses)), [lin.weight.detach().numpy().T.copy() for lin in linears]

    def run(self):
        start = time.perf_counter()
        self._steps(self.torch.randperm(self.x.shape[0], generator=self.gen), record=False)
        return time.perf_counter() - start


class TorchCompiled(Torch):
    name = "torch.compile"

    def __init__(self, *args):
        super().__init__(*args, compiled=True)


class Jax:
    """JAX with the step compiled (scan=False: jit per step, a Python loop) or the whole epoch
    (scan=True: lax.scan over the batches inside one jit)."""

    def __init__(self, problem, sizes, activation, optimizer, batch, scan):
        import jax
        import jax.numpy as jnp

        self.jax, self.jnp, self.scan = jax, jnp, scan
        self.name = "jax lax.scan" if scan else "jax jit/step"
        self.w0, self.b0, x, y = problem
        self.x, self.y = jnp.asarray(x), jnp.asarray(y)
        self.batch, self.steps = batch, x.shape[0] // batch
        act = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh}[activation]
        lr, (b1, b2) = LR[optimizer], BETAS

        def loss_fn(params, xb, yb):
            a = xb
            for i, (w, b) in enumerate(params):
                a = a @ w + b
                if i < len(params) - 1:
                    a = act(a)
            return jnp.mean((a - yb) ** 2)

        def step(carry, batch):
            params, state = carry
            xb, yb, step_size, bc2 = batch
            value, grads = jax.value_and_grad(loss_fn)(params, xb, yb)
            if optimizer == "sgd":
                params = jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)
            else:  # torch.optim.Adam: eps added to sqrt(v) / sqrt(1 - b2^t)
                m, v = state
                m = jax.tree_util.tree_map(lambda m_, g: b1 * m_ + (1 - b1) * g, m, grads)
                v = jax.tree_util.tree_map(lambda v_, g: b2 * v_ + (1 - b2) * g * g, v, grads)
                params = jax.tree_util.tree_map(
                    lambda p, m_, v_: p - step_size * m_ / (jnp.sqrt(v_) / bc2 + EPS), params, m, v
                )
                state = (m, v)
            return (params, state), value

        def epoch(carry, key, shuffle, coefs):
            # The epoch's order is drawn inside the timed call, as fastmlp and torch draw theirs.
            n = self.x.shape[0]
            order = jnp.where(shuffle, jax.random.permutation(key, n), jnp.arange(n))
            xs = self.x[order].reshape(self.steps, self.batch, -1)
            ys = self.y[order].reshape(self.steps, self.batch, -1)
            return jax.lax.scan(step, carry, (xs, ys) + coefs)

        self.step_jit = jax.jit(step)
        self.epoch_jit = jax.jit(epoch)
        self.optimizer, self.lr, self.b1, self.b2 = optimizer, lr, b1, b2
        self.key = jax.random.PRNGKey(0)
        self.wake_j = jnp.asarray(WAKE)
        self.reset()

    def reset(self):
        jnp = self.jnp
        params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in zip(self.w0, self.b0)]
        zeros = [(jnp.zeros_like(w), jnp.zeros_like(b)) for w, b in params]
        self.carry = (params, (zeros, zeros))
        self.t = 0  # steps taken: Adam's bias corrections

    def wake(self):
        (self.wake_j @ self.wake_j).block_until_ready()

    def _coefficients(self):
        """Adam's bias corrections for the epoch's steps, in float64 and rounded once (as torch and fastmlp
        compute them from Python floats and doubles): lr / (1 - b1^t) and sqrt(1 - b2^t)."""
        t = np.arange(self.t + 1, self.t + self.steps + 1, dtype=np.float64)
        self.t += self.steps
        return (
            self.jnp.asarray((self.lr / (1.0 - self.b1**t)).astype(np.float32)),
            self.jnp.asarray(np.sqrt(1.0 - self.b2**t).astype(np.float32)),
        )

    def _epoch(self, key, shuffle):
        coefs = self._coefficients()
        if self.scan:
            self.carry, losses = self.epoch_jit(self.carry, key, shuffle, coefs)
            return losses
        n = self.x.shape[0]
        order = self.jax.random.permutation(key, n) if shuffle else self.jnp.arange(n)
        xs = self.x[order].reshape(self.steps, self.batch, -1)
        ys = self.y[order].reshape(self.steps, self.batch, -1)
        losses = []
        for s in range(self.steps):
            self.carry, value = self.step_jit(self.carry, (xs[s], ys[s], coefs[0][s], coefs[1][s]))
            losses.append(value)
        return self.jnp.stack(losses)

    def check_epoch(self):
        losses = self._epoch(self.key, False)
        return float(np.mean(np.asarray(losses))), [np.asarray(w) for w, _ in self.carry[0]]

    def run(self):
        start = time.perf_counter()
        self.key, sub = self.jax.random.split(self.key)
        losses = self._epoch(sub, True)
        self.jax.block_until_ready((self.carry, losses))
        return time.perf_counter() - start


def contenders_for(problem, cfg, args):
    _, sizes, act, opt, batch, _ = cfg
    out = [FastMLP(problem, sizes, act, opt, batch)]
    try:
        import torch

        torch.set_num_threads(args.threads)
        out.append(Torch(problem, sizes, act, opt, batch))
        if not args.no_compile:
            out.append(TorchCompiled(problem, sizes, act, opt, batch))
    except ImportError:
        pass
    try:
        import jax  # noqa: F401

        out += [Jax(problem, sizes, act, opt, batch, scan=False), Jax(problem, sizes, act, opt, batch, scan=True)]
    except ImportError:
        pass
    return out


def agree(ref, got, rel=2e-3):
    """Whether a contender's check epoch matches fastmlp's: the mean loss and every weight within `rel`
    (float32 sums in another order, over a whole epoch of steps)."""
    (loss0, w0), (loss1, w1) = ref, got
    if not abs(loss1 - loss0) <= rel * max(abs(loss0), 1e-12):
        return f"mean loss {loss1:.6g} vs fastmlp's {loss0:.6g}"
    for i, (a, b) in enumerate(zip(w0, w1)):
        scale = max(float(np.abs(a).max()), 1e-12)
        err = float(np.abs(a - b).max())
        if err > rel * scale:
            return f"W{i} differs by {err:.3g} (|W| {scale:.3g})"
    return ""


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--quick", action="store_true", help="a tenth of the steps, 2 repeats (a smoke run)")
    p.add_argument("--threads", type=int, default=fastmlp.get_num_threads())
    p.add_argument("--only", default=None, help="run the configs whose name contains this")
    p.add_argument("--no-compile", action="store_true", help="leave torch.compile out (its compiles take minutes)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    fastmlp.set_num_threads(args.threads)
    repeats = 2 if args.quick else max(1, args.repeats)
    names = ["fastmlp", "torch eager", "torch.compile", "jax jit/step", "jax lax.scan"]
    rows = []
    for cfg in CONFIGS:
        name, sizes, act, opt, batch, steps = cfg
        if args.only and args.only not in name:
            continue
        if args.quick:
            steps = max(2, steps // 10)
        problem = make_problem(sizes, act, batch, steps)
        contenders = contenders_for(problem, (name, sizes, act, opt, batch, steps), args)
        checks = {c.name: c.check_epoch() for c in contenders}  # also compiles and warms every contender
        notes = {c.name: agree(checks["fastmlp"], checks[c.name]) for c in contenders}
        timed = [c for c in contenders if not notes[c.name]]
        for c in timed:
            c.reset()
            c.run()  # warm-up on the shuffled path
        times = {c.name: [] for c in timed}
        for rep in range(repeats):
            for c in timed[rep % len(timed) :] + timed[: rep % len(timed)]:
                time.sleep(0.25)
                c.wake()
                times[c.name].append(c.run() / steps)
        med = {k: statistics.median(v) * 1e6 for k, v in times.items()}
        rows.append({"config": name, "us_per_step": med, "disagree": {k: v for k, v in notes.items() if v}})
        print(
            f"{name}: "
            + ", ".join(f"{k} {v:.3g} us" for k, v in med.items())
            + "".join(f"; {k} NOT TIMED: {v}" for k, v in notes.items() if v),
            file=sys.stderr,
        )

    try:
        import torch

        tv = torch.__version__
    except ImportError:
        tv = None
    try:
        import jax

        jv = jax.__version__
    except ImportError:
        jv = None
    print(
        f"\nfastmlp {fastmlp.__version__} (GEMM {fastmlp._core.gemm_isa('float32')}), torch {tv}, jax {jv}, "
        f"{args.threads} threads, {platform.processor() or platform.machine()}; median us per step of {repeats}"
    )
    width = max(len(r["config"]) for r in rows) if rows else 10
    print(f"{'network, batch':<{width}} " + " ".join(f"{n:>13}" for n in names) + f" {'vs best peer':>13}")
    leads = []
    for r in rows:
        us = r["us_per_step"]
        peers = [v for k, v in us.items() if k != "fastmlp"]
        lead = min(peers) / us["fastmlp"] if peers and "fastmlp" in us else None
        if lead:
            leads.append(lead)
        print(
            f"{r['config']:<{width}} "
            + " ".join(f"{us[n]:>13.3g}" if n in us else f"{'-':>13}" for n in names)
            + (f" {lead:>12.2f}x" if lead else f" {'-':>13}")
        )
    if leads:
        print(
            f"fastmlp vs the fastest peer per row: geometric mean {float(np.exp(np.mean(np.log(leads)))):.2f}x "
            f"(min {min(leads):.2f}x, max {max(leads):.2f}x; > 1: fastmlp faster)"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "date": time.strftime("%Y-%m-%d"),
                    "threads": args.threads,
                    "torch": tv,
                    "jax": jv,
                    "machine": platform.machine(),
                    "rows": rows,
                },
                f,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
