"""The fused narrow-MLP path of the CUDA trainer (csrc/cuda/fused_*.cu) against the NumPy reference and
the CPU trainer, on odd shapes: batches of 1, 3, 127 and 129 rows, widths 16, 48, 64 and 128, 1 and 6
hidden layers, SGD and Adam (and every optimizer once); its determinism; and the one rule that picks it
(fastmlp/fused_plan.h), which needs no GPU. The CUDA tests skip without a CUDA build and a device;
tools/cuda_emulate.sh runs them on the CPU, tools/gpu_check.sh on a GPU.

Tolerances: the fused kernel computes in float32 and the reference in float64 from the same initial
weights; a few steps move the weights by lr-sized amounts, so their difference stays within a small
multiple of float32's eps times the sums' lengths (widths <= 128, batches <= 129).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import fastmlp
from fastmlp import reference
from helpers import assert_close, reference_fit

needs_cuda = pytest.mark.skipif(
    not fastmlp.cuda_available(),
    reason=f"needs a CUDA build of fastmlp and a CUDA device (built with CUDA: {fastmlp.cuda_built()})",
)
H200_SHARED = 232448 - 64 * 8 - 256 * 8  # an H200's opt-in shared memory less the kernel's static arrays


def plan(
    sizes,
    dtype="float32",
    activations=None,
    weighted=False,
    l2=0.0,
    clip_grad_norm=0.0,
    data_parallel=False,
    shared_limit=H200_SHARED,
):
    """_core.fused_plan of a ReLU network (or these activations) under options with these settings."""
    activations = ["relu"] * (len(sizes) - 2) + ["identity"] if activations is None else activations
    options = fastmlp._core.TrainOptions(
        loss={"name": "mse", "weighted": weighted},
        l2=l2,
        optimizer=fastmlp.optim.SGD().config(),
        clip_grad_norm=clip_grad_norm,
        global_rows=1 if data_parallel else 0,
        reduce=(lambda buffer: None) if data_parallel else None,
    )
    return fastmlp._core.fused_plan(sizes, dtype, activations, options, shared_limit)


def test_fused_plan_takes_narrow_float32_networks_and_says_why_not():
    for width in (16, 48, 64, 128):
        for depth in (1, 6):
            rows, reason = plan([5] + [width] * depth + [3])
            assert rows in (16, 32, 64) and reason == "", (width, depth, rows, reason)
    assert plan([128] * 6)[0] == 32  # 6 x 128 activations of 64 rows are past 227 KiB; of 32 are not
    assert plan([129, 16, 1]) == (0, "a layer wider than 128")
    assert plan([4, 16, 129]) == (0, "a layer wider than 128")
    assert plan([4, 16, 1], "float64")[0] == 0 and "float32" in plan([4, 16, 1], "float64")[1]
    assert plan([4] * 34)[1] == "more than 32 layers" and plan([4] * 33)[0] > 0
    assert plan([4, 16, 1], weighted=True) == (0, "sample weights")
    assert plan([4, 16, 1], l2=0.1) == (0, "an L2 penalty")
    assert plan([4, 16, 1], clip_grad_norm=1.0) == (0, "clip_grad_norm")
    assert plan([4, 16, 1], data_parallel=True)[0] == 0
    assert plan([128] * 6, shared_limit=48 * 1024)[0] == 0  # 16 rows of it need 57 KiB
    assert plan([64, 64, 1], shared_limit=48 * 1024)[0] == 32


def test_fused_plan_sends_activations_that_need_z_to_the_gemm_path():
    for act in ("gelu", "gelu_tanh", "silu", "elu(alpha=0.5)", "softplus", "selu"):
        rows, reason = plan([4, 16, 16, 1], activations=[act, "relu", "identity"])
        assert rows == 0 and "needs z" in reason and "gelu" in reason, (act, reason)
    assert plan([4, 16, 1], activations=["relu", "sigmoid"])[0] > 0
    with pytest.raises(ValueError, match="one activation per layer"):
        plan([4, 16, 1], activations=["relu"])


def test_fused_plan_of_the_staged_weights_version_makes_room_for_them(monkeypatch):
    sizes = [128] * 5 + [1]  # 4 hidden layers of 128: 64 rows of activations take 224 KiB
    assert plan(sizes)[0] == 64
    monkeypatch.setenv("FASTMLP_FUSED_KERNEL", "2")
    assert plan(sizes)[0] == 32  # and 64.5 KiB of one layer's weights
    assert plan([4, 16, 1])[0] == 64
    with pytest.raises(ValueError, match="layer size"):
        plan([4, 0, 1])


@pytest.fixture(params=["1", "2"])
def fused_kernel(request, monkeypatch):
    """The fused kernel's version (FASTMLP_FUSED_KERNEL): 1 reads each layer's weights from global memory,
    2 stages them in shared memory."""
    monkeypatch.setenv("FASTMLP_FUSED_KERNEL", request.param)
    return request.param


def _data(n, k, m, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, k)).astype(np.float32)
    y = (np.sin(x[:, :m] if k >= m else x[:, :1]) + 0.1 * rng.standard_normal((n, m))).astype(np.float32)
    return x, y


def _fit_all_three(sizes, activation, optimizer, batch, n, epochs=2, seed=0, **fit):
    """The fused CUDA fit, the CPU fit (float32) and the float64 reference from the same weights."""
    x, y = _data(n, sizes[0], sizes[-1], seed)
    models = {d: fastmlp.MLP(sizes, activation=activation, seed=seed, device=d) for d in ("cuda", "cpu")}
    w0, b0 = [w.astype(np.float64) for w in models["cpu"].weights], [b.astype(np.float64) for b in models["cpu"].biases]
    hists = {
        d: m.fit(x, y, optimizer=optimizer, batch_size=batch, epochs=epochs, seed=3, **fit) for d, m in models.items()
    }
    assert hists["cuda"].params["path"] == "cuda-fused"
    ws, bs, state, step, losses = w0, b0, None, 0, []
    for epoch in range(epochs):
        value, ws, bs, state, step = reference.train_epoch(
            ws,
            bs,
            models["cpu"].activations,
            x,
            y,
            "mse",
            batch,
            True,
            3,
            epoch,
            optimizer.lr,
            optimizer=optimizer.config(),
            state=state,
            step=step,
            **fit,
        )
        losses.append(value)
    return models, hists, (losses, ws, bs)


OPTIMIZERS = [fastmlp.optim.SGD(lr=0.05, momentum=0.9), fastmlp.optim.Adam(lr=1e-2)]


@needs_cuda
@pytest.mark.parametrize("depth", [1, 6])
@pytest.mark.parametrize("width", [16, 48, 64, 128])
@pytest.mark.parametrize("batch", [1, 3, 127, 129])
@pytest.mark.parametrize("opt", OPTIMIZERS, ids=lambda o: o.name)
def test_fused_fit_matches_reference_and_cpu(batch, width, depth, opt, fused_kernel):
    # Two epochs of a data set a little longer than two batches (a short last batch), so the order,
    # the tiles' tail rows and the optimizer state over steps are all in play.
    n = 2 * batch + 1
    sizes = [5] + [width] * depth + [3]
    models, hists, (losses, ws, bs) = _fit_all_three(sizes, "tanh", opt, batch, n)
    assert_close(hists["cuda"].history["loss"], losses, np.float32, "epoch losses vs reference", rtol=1e-4, atol=1e-6)
    assert_close(
        hists["cuda"].history["loss"],
        hists["cpu"].history["loss"],
        np.float32,
        "epoch losses vs CPU",
        rtol=1e-4,
        atol=1e-6,
    )
    # Adam divides each step by sqrt(v): a weight whose gradients are near zero (~1e-7 here) moves by up
    # to lr whatever their rounding, so its weights are compared to 5% of one step (lr 1e-2). With a*b+c
    # fused as nvcc fuses it (the emulated build contracts where nvcc does), one weight of the 6-deep
    # 128-wide net ended 2.4e-4 (2.4% of a step) from the float64 reference; without fusing all were
    # within 1e-4. The epoch losses above stay at rtol 1e-4.
    atol = 5e-4 if opt.name == "adam" else 2e-5
    for i, (got, want, cpu) in enumerate(
        zip(models["cuda"].weights + models["cuda"].biases, ws + bs, models["cpu"].weights + models["cpu"].biases)
    ):
        assert_close(got, want, np.float32, f"parameter {i} vs reference", rtol=1e-4, atol=atol)
        assert_close(got, cpu, np.float32, f"parameter {i} vs CPU", rtol=1e-4, atol=atol)


def _fused_fit_agrees_with_cpu(sizes, activation, init_seed, x, y, what, weight_atol=2e-5, **fit):
    """A fit on the fused path and on the CPU from the same weights: the same epoch losses and weights."""
    out = {}
    for d in ("cuda", "cpu"):
        m = fastmlp.MLP(sizes, activation=activation, seed=init_seed, device=d)
        out[d] = (m.fit(x, y, **fit), m)
    assert out["cuda"][0].params["path"] == "cuda-fused"
    assert_close(
        out["cuda"][0].history["loss"],
        out["cpu"][0].history["loss"],
        np.float32,
        f"{what} losses",
        rtol=1e-4,
        atol=1e-6,
    )
    for i, (got, want) in enumerate(zip(out["cuda"][1].weights, out["cpu"][1].weights)):
        assert_close(got, want, np.float32, f"{what} weight {i}", rtol=1e-4, atol=weight_atol)


@needs_cuda
@pytest.mark.parametrize("activation", ["identity", "relu", "sigmoid", "leaky_relu", "step"])
def test_fused_fit_activations_match_cpu(activation, fused_kernel):
    x, y = _data(300, 6, 2, 1)
    _fused_fit_agrees_with_cpu(
        [6, 48, 32, 2],
        activation,
        2,
        x,
        y,
        activation,
        optimizer=fastmlp.optim.Adam(lr=1e-2),
        batch_size=77,
        epochs=3,
        seed=1,
        clip_grad_value=0.5,
    )


@needs_cuda
@pytest.mark.parametrize("loss", ["mae", "huber", "poisson", "bce", "cross_entropy"])
def test_fused_fit_losses_match_cpu(loss):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((200, 7)).astype(np.float32)
    if loss == "cross_entropy":
        y = rng.integers(0, 4, 200)
    elif loss == "bce":
        y = rng.integers(0, 2, (200, 4)).astype(np.float32)
    elif loss == "poisson":
        y = rng.poisson(2.0, (200, 4)).astype(np.float32)
    else:
        y = rng.standard_normal((200, 4)).astype(np.float32)
    _fused_fit_agrees_with_cpu(
        [7, 32, 4],
        "relu",
        5,
        x,
        y,
        loss,
        loss=loss,
        optimizer=fastmlp.optim.SGD(lr=0.05),
        batch_size=61,
        epochs=3,
        seed=2,
    )


@needs_cuda
@pytest.mark.parametrize("name", list(fastmlp.optim.OPTIMIZERS))
def test_fused_fit_of_every_optimizer_matches_cpu(name):
    # The fused update is a template on the optimizer, chosen by dispatch_optimizer: each optimizer's
    # own element update runs there, with the coefficients of each step read from the device.
    x, y = _data(150, 5, 2, 12)
    _fused_fit_agrees_with_cpu(
        [5, 32, 2],
        "tanh",
        6,
        x,
        y,
        name,
        weight_atol=1e-4,
        batch_size=29,
        epochs=2,
        seed=3,
        optimizer=fastmlp.optim.OPTIMIZERS[name](lr=5e-3),
    )


@needs_cuda
def test_fused_cross_entropy_with_class_weights_matches_cpu():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((150, 5)).astype(np.float32)
    y = rng.integers(0, 3, 150)
    _fused_fit_agrees_with_cpu(
        [5, 16, 3],
        "tanh",
        3,
        x,
        y,
        "class weights",
        loss="cross_entropy",
        class_weight={0: 0.5, 2: 3.0},
        optimizer=fastmlp.optim.Adam(lr=1e-2),
        batch_size=40,
        epochs=2,
        seed=1,
    )


@needs_cuda
def test_fused_epochs_replay_their_step_graphs_with_each_epochs_rates():
    # 67 steps an epoch are captured as graphs of 32, 32 and 3 steps in the first epoch and replayed in
    # the next ones; a per-step schedule and Adam's bias corrections change every step's coefficients,
    # which the replayed updates read from the device.
    x, y = _data(200, 4, 2, 10)
    _fused_fit_agrees_with_cpu(
        [4, 16, 2],
        "tanh",
        4,
        x,
        y,
        "replayed epochs",
        weight_atol=1e-4,
        optimizer=fastmlp.optim.Adam(lr=1e-2),
        batch_size=3,
        epochs=3,
        seed=5,
        schedule=fastmlp.schedules.CosineAnnealingLR(T_max=150, interval="step"),
    )


@needs_cuda
def test_fused_fit_sees_weights_changed_between_epochs():
    # The weights go up at every epoch's start (the captured graphs read them where they are), so a
    # callback's edit counts as on the CPU.
    x, y = _data(120, 4, 1, 11)
    out = {}
    for device in ("cpu", "cuda"):
        model = fastmlp.MLP([4, 16, 1], activation="tanh", seed=0, device=device)

        def halve(epoch, logs, model=model):
            if epoch == 0:
                model.weights[0][...] *= 0.5

        hist = model.fit(
            x,
            y,
            optimizer=fastmlp.optim.Adam(lr=1e-2),
            batch_size=32,
            epochs=3,
            seed=2,
            callbacks=[fastmlp.LambdaCallback(on_epoch_end=halve)],
        )
        out[device] = (hist, model)
    assert out["cuda"][0].params["path"] == "cuda-fused"
    assert_close(
        out["cuda"][0].history["loss"], out["cpu"][0].history["loss"], np.float32, "losses", rtol=1e-4, atol=1e-6
    )
    for i, (got, want) in enumerate(zip(out["cuda"][1].weights, out["cpu"][1].weights)):
        assert_close(got, want, np.float32, f"weight {i}", rtol=1e-4, atol=2e-5)


@needs_cuda
def test_fused_fit_with_more_tiles_than_blocks_matches_cpu(fused_kernel):
    # 264 blocks of 64 rows cover 16896 rows; a batch of 17000 makes some blocks add a second tile to
    # their slot. Without shuffling and with the full batch, the order is the rows themselves.
    x, y = _data(17000, 3, 1, 6)
    _fused_fit_agrees_with_cpu(
        [3, 16, 1],
        "tanh",
        1,
        x,
        y,
        "17000 rows",
        weight_atol=1e-5,
        optimizer=fastmlp.optim.SGD(lr=0.1),
        batch_size=None,
        epochs=2,
        shuffle=False,
    )


@needs_cuda
def test_fused_fit_is_deterministic(fused_kernel):
    # Several blocks per step (1000 rows: 16 tiles of 64), summed through the slots in a fixed order.
    x, y = _data(3000, 8, 2, 7)
    out = []
    for _ in range(2):
        m = fastmlp.MLP([8, 64, 64, 2], activation="relu", seed=0, device="cuda")
        h = m.fit(x, y, optimizer=fastmlp.optim.Adam(lr=1e-3), batch_size=1000, epochs=2, seed=4)
        assert h.params["path"] == "cuda-fused"
        out.append((h.history["loss"], m.get_weights()))
    assert out[0][0] == out[1][0]
    for (w1, b1), (w2, b2) in zip(out[0][1], out[1][1]):
        assert np.array_equal(w1, w2) and np.array_equal(b1, b2)


@needs_cuda
def test_the_gemm_path_takes_what_the_fused_kernel_leaves():
    x, y = _data(40, 4, 1, 8)
    sgd = fastmlp.optim.SGD(lr=0.01)

    def path(sizes, dtype="float32", **fit):
        m = fastmlp.MLP(sizes, dtype=dtype, seed=0, device="cuda")
        params = m.fit(x.astype(dtype), y.astype(dtype), optimizer=sgd, batch_size=16, epochs=1, **fit).params
        return params["path"], params["path_reason"]

    assert path([4, 128, 1])[0] == "cuda-fused" and "rows per block" in path([4, 128, 1])[1]
    assert path([4, 129, 1]) == ("cuda-gemm", "a layer wider than 128")
    assert path([4, 16, 1], "float64") == ("cuda-gemm", "the fused kernel is float32 only")
    assert path([4, 16, 1], clip_grad_norm=1.0) == ("cuda-gemm", "clip_grad_norm")
    assert fastmlp.MLP([4, 16, 1], seed=0).fit(x, y, optimizer=sgd, epochs=1).params["path"] == "cpu-small"


CTRL_C_FIT = """
import json, os, signal, threading, time, numpy as np, fastmlp
rng = np.random.default_rng(0)
x = rng.standard_normal((400_000, 32)).astype(np.float32); y = x[:, :1] * x[:, 1:2]
model = fastmlp.MLP([32, 64, 64, 1], seed=0, device="cuda")
initial = model.get_weights()
threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
start = time.perf_counter()
try:
    hist = model.fit(x, y, optimizer=fastmlp.optim.SGD(lr=1e-3), batch_size=64, epochs=1000)
    print("NOT INTERRUPTED")
except KeyboardInterrupt:
    took = time.perf_counter() - start - 1.0
    finite = all(np.isfinite(w).all() and np.isfinite(b).all() for w, b in model.get_weights())
    same = all(a.tobytes() == c.tobytes() for (a, _), (c, _) in zip(initial, model.get_weights()))
    print(json.dumps({"after_signal_s": took, "finite": bool(finite), "initial": same, "step": model._opt["step"]}))
"""


@needs_cuda
def test_ctrl_c_stops_a_fused_fit_between_its_step_graphs():
    # 6250 steps an epoch, in graphs of 32: the host looks at Ctrl-C between graphs and keeps at most
    # two in flight, so the fit stops within a second with the weights of the steps it ran.
    proc = subprocess.run([sys.executable, "-c", CTRL_C_FIT], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip().splitlines()[-1]
    assert line != "NOT INTERRUPTED"
    out = json.loads(line)
    assert out["after_signal_s"] < 1.0 and out["finite"] and not out["initial"] and out["step"] > 0, out


@needs_cuda
@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
@pytest.mark.parametrize("batch", [1, 5, 64])
def test_fused_dropout_fit_draws_the_cpus_masks(batch, activation, fused_kernel):
    # The fused step masks each hidden tile in the kernel with the CPU's draws (seed, step, layer, data
    # row, unit), over the epochs of captured graphs; its derivative reads the output back from the
    # dropped tile, within a rounding.
    sizes, rates = [4, 48, 32, 2], [0.4, 0.2]
    n = 2 * batch + 3
    x, y = _data(n, sizes[0], sizes[-1], 5)
    opt = fastmlp.optim.Adam(lr=1e-2)
    models = {d: fastmlp.MLP(sizes, activation=activation, dropout=rates, seed=2, device=d) for d in ("cuda", "cpu")}
    w0, b0 = [w.astype(np.float64) for w in models["cpu"].weights], [b.astype(np.float64) for b in models["cpu"].biases]
    hists = {d: m.fit(x, y, optimizer=opt, batch_size=batch, epochs=3, seed=7) for d, m in models.items()}
    assert hists["cuda"].params["path"] == "cuda-fused" and "dropout" in hists["cuda"].params["path_reason"]
    losses, ws, bs = reference_fit(w0, b0, models["cpu"].activations, x, y, opt, batch, 7, 3, dropout=rates)
    assert_close(hists["cuda"].history["loss"], losses, np.float32, "epoch losses vs reference", rtol=1e-4, atol=1e-6)
    assert_close(
        hists["cuda"].history["loss"], hists["cpu"].history["loss"], np.float32, "vs CPU", rtol=1e-4, atol=1e-6
    )
    for i, (got, want) in enumerate(zip(models["cuda"].weights + models["cuda"].biases, ws + bs)):
        assert_close(got, want, np.float32, f"parameter {i} vs reference", rtol=1e-4, atol=1e-4)


@needs_cuda
def test_fused_dropout_memory_plan_is_what_the_trainer_allocates():
    model = fastmlp.MLP([4, 32, 32, 1], dropout=0.3)
    x, y = np.ones((40, 4), np.float32), np.ones((40, 1), np.float32)
    options = fastmlp._core.TrainOptions(
        loss="mse", optimizer=fastmlp.optim.SGD().config(), batch_size=8, device="cuda", dropout=[0.3, 0.3]
    )
    planned = fastmlp._core.trainer_bytes([4, 32, 32, 1], "float32", list(model.activations), 40, options)
    trainer = fastmlp._core.Trainer(
        model.weights, model.biases, model.activations, 0.01, [[]] * 3, [[]] * 3, x, y, options
    )
    assert trainer.path == "cuda-fused" and trainer.allocated_bytes == planned


@needs_cuda
def test_two_threads_fit_on_cuda_at_once_and_get_the_bits_of_one_at_a_time():
    # While one thread's fused trainer captures its steps into a graph, another thread's fit (the GIL is
    # released during run_epoch) uses the legacy stream for its copies, memsets and GEMM-path launches:
    # the capture is on a non-blocking stream, so neither fails with cudaErrorStreamCaptureImplicit.
    import threading

    x, y = _data(300, 6, 2, 0)
    jobs = {
        "fused": dict(sizes=[6, 32, 32, 2], dtype="float32"),
        "gemm": dict(sizes=[6, 48, 2], dtype="float64"),
    }

    def fit(name, out):
        spec = jobs[name]
        model = fastmlp.MLP(spec["sizes"], activation="tanh", dtype=spec["dtype"], seed=1, device="cuda")
        xs, ys = x.astype(spec["dtype"]), y.astype(spec["dtype"])
        hist = model.fit(xs, ys, optimizer=fastmlp.optim.Adam(lr=1e-2), batch_size=16, epochs=4, seed=2)
        out[name] = (hist.params["path"], [a.copy() for pair in model.get_weights() for a in pair])

    alone: dict = {}
    for name in jobs:
        fit(name, alone)
    together: dict = {}
    threads = [threading.Thread(target=fit, args=(name, together)) for name in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert sorted(together) == sorted(jobs), "a thread's fit failed"
    assert together["fused"][0] == "cuda-fused" and together["gemm"][0] == "cuda-gemm"
    for name in jobs:
        for a, b in zip(together[name][1], alone[name][1]):
            assert a.tobytes() == b.tobytes(), name
