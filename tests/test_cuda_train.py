"""The CUDA backend against the NumPy reference and the CPU kernels (skipped without a GPU).

Run on a GPU machine with tools/gpu_check.sh, which builds for sm_90 and runs `pytest -m cuda`.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastmlp
from fastmlp import reference
from helpers import reference_fit

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        not fastmlp.cuda_available(),
        reason=f"needs a CUDA build of fastmlp and a CUDA device (built with CUDA: {fastmlp.cuda_built()})",
    ),
]

# The CUDA kernels run on the CPU (tools/cuda_emulate.sh): the fits take fewer rows and epochs there,
# so that the emulated run stays within minutes. A GPU runs the full cases.
EMULATED = bool(getattr(fastmlp._core, "cuda_emulated", False))


@pytest.fixture(params=["fused", "gemm"])
def cuda_path(request, monkeypatch):
    """Which path a float32 CUDA fit of a narrow network takes (fastmlp/fused_plan.h): the fused kernel,
    or the per-layer GEMMs the environment can ask for."""
    if request.param == "gemm":
        monkeypatch.setenv("FASTMLP_CUDA_PATH", "gemm")
    return "cuda-" + request.param


SHAPES = [(1, 1, 1), (3, 17, 5), (17, 129, 3), (129, 1000, 17), (1000, 3, 4097), (4097, 17, 129)]


@pytest.mark.parametrize("m,n,k", SHAPES, ids=lambda v: str(v))
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_matmul_matches_reference_and_cpu(m, n, k, ta, tb, dtype):
    rng = np.random.default_rng(m + n + k)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    got = fastmlp.ops.matmul(a, b, ta, tb, device="cuda")
    want = reference.matmul(a, b, ta, tb)
    bound = 2 * k * np.finfo(dtype).eps * (np.abs(reference.matmul(np.abs(a), np.abs(b), ta, tb)) + 1e-30)
    err = np.abs(got - want)
    assert np.all(err <= bound), f"max error {err.max():.3e}, max allowed {bound.max():.3e}"
    cpu = fastmlp.ops.matmul(a, b, ta, tb)
    assert np.abs(got - cpu).max() <= 2 * bound.max()


OPTIMIZERS = [
    fastmlp.optim.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    fastmlp.optim.Adam(lr=1e-2, amsgrad=True, weight_decay=1e-3),
    fastmlp.optim.AdamW(lr=1e-2),
    fastmlp.optim.RMSprop(lr=1e-3, momentum=0.5, centered=True),
    fastmlp.optim.Adagrad(lr=0.05, lr_decay=1e-3, initial_accumulator_value=0.1),
    fastmlp.optim.NAdam(lr=1e-2, weight_decay=1e-2, decoupled_weight_decay=True),
    fastmlp.optim.RAdam(lr=1e-2, betas=(0.9, 0.9), weight_decay=1e-3),
    fastmlp.optim.Adamax(lr=1e-2, weight_decay=1e-3),
]


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=lambda o: o.name)
@pytest.mark.parametrize("batch_size", [None, 1, 7])
def test_cuda_fit_float64_matches_reference(opt, batch_size):
    rng = np.random.default_rng(0)
    rows = 11 if EMULATED else 37  # both leave a short last batch of 7
    x = rng.standard_normal((rows, 3))
    y = rng.standard_normal((rows, 2))
    model = fastmlp.MLP([3, 8, 5, 2], activation="tanh", dtype="float64", seed=1, device="cuda")
    w0 = [w.copy() for w in model.weights]
    b0 = [b.copy() for b in model.biases]
    hist = model.fit(x, y, optimizer=opt, batch_size=batch_size, epochs=3, seed=4, clip_grad_norm=1.0)
    ws, bs, state, step = w0, b0, None, 0
    for epoch in range(3):
        loss, ws, bs, state, step = reference.train_epoch(
            ws,
            bs,
            model.activations,
            x,
            y,
            "mse",
            batch_size,
            True,
            4,
            epoch,
            opt.lr,
            optimizer=opt.config(),
            state=state,
            step=step,
            clip_grad_norm=1.0,
        )
        assert hist.history["loss"][epoch] == pytest.approx(loss, rel=1e-9)
    for got, want in zip(model.weights + model.biases, ws + bs):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("activation", ["gelu", "gelu_tanh", "silu", "elu(alpha=0.5)", "softplus(beta=2)", "selu"])
def test_cuda_fit_keeps_z_where_the_derivative_needs_it(activation):
    # float64 on the GEMM path against the reference; float32 is sent to the GEMM path by the fused plan.
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((11, 3)), rng.standard_normal((11, 2))
    model = fastmlp.MLP([3, 8, 5, 2], activation=activation, dtype="float64", seed=1, device="cuda")
    ws, bs, state, step = [w.copy() for w in model.weights], [b.copy() for b in model.biases], None, 0
    opt = fastmlp.optim.Adam(lr=0.01)
    hist = model.fit(x, y, optimizer=opt, batch_size=4, epochs=2, seed=4)
    for epoch in range(2):
        loss, ws, bs, state, step = reference.train_epoch(
            ws,
            bs,
            model.activations,
            x,
            y,
            "mse",
            4,
            True,
            4,
            epoch,
            opt.lr,
            optimizer=opt.config(),
            state=state,
            step=step,
        )
        assert hist.history["loss"][epoch] == pytest.approx(loss, rel=1e-9)
    for got, want in zip(model.weights + model.biases, ws + bs):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    model32 = fastmlp.MLP([3, 8, 5, 2], activation=activation, seed=1, device="cuda")
    cpu32 = fastmlp.MLP([3, 8, 5, 2], activation=activation, seed=1)
    h32 = model32.fit(x.astype(np.float32), y.astype(np.float32), optimizer=opt, batch_size=4, epochs=2, seed=4)
    c32 = cpu32.fit(x.astype(np.float32), y.astype(np.float32), optimizer=opt, batch_size=4, epochs=2, seed=4)
    assert h32.params["path"] == "cuda-gemm"
    np.testing.assert_allclose(h32.history["loss"], c32.history["loss"], rtol=1e-4)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "leaky_relu", "step"])
def test_cuda_fit_float32_reaches_the_cpu_loss(activation, cuda_path):
    rng = np.random.default_rng(1)
    rows, epochs = (1025, 3) if EMULATED else (4097, 5)
    x = rng.uniform(-2, 2, size=(rows, 4)).astype(np.float32)
    y = np.sin(x[:, :2]) + x[:, 2:3] * x[:, 3:4]
    runs = {}
    for device in ("cpu", "cuda"):
        model = fastmlp.MLP([4, 64, 64, 2], activation=activation, seed=3, device=device)
        hist = model.fit(x, y, optimizer=fastmlp.optim.Adam(lr=1e-3), batch_size=129, epochs=epochs, seed=2)
        runs[device] = (hist.history["loss"], model.predict(x))
    assert hist.params["path"] == cuda_path
    np.testing.assert_allclose(runs["cuda"][0], runs["cpu"][0], rtol=1e-3)
    np.testing.assert_allclose(runs["cuda"][1], runs["cpu"][1], rtol=1e-2, atol=1e-3)


def test_cuda_predict_matches_cpu_on_many_rows():
    model = fastmlp.MLP([17, 129, 3], activation="relu", seed=0, dtype="float64")
    x = np.random.default_rng(2).standard_normal((70000, 17))
    cpu = model.predict(x)
    gpu = model.to("cuda").predict(x)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-10, atol=1e-12)


def test_same_seed_same_initial_weights_on_cpu_and_cuda():
    a = fastmlp.MLP([5, 7, 1], seed=9, device="cpu")
    b = fastmlp.MLP([5, 7, 1], seed=9, device="cuda")
    for (wa, ba), (wb, bb) in zip(a.get_weights(), b.get_weights()):
        assert np.array_equal(wa, wb) and np.array_equal(ba, bb)


def test_cuda_fit_is_deterministic(cuda_path):
    x = np.random.default_rng(3).standard_normal((1000, 8)).astype(np.float32)
    y = x[:, :1] ** 2
    out = []
    for _ in range(2):
        m = fastmlp.MLP([8, 32, 1], seed=0, device="cuda")
        hist = m.fit(x, y, optimizer=fastmlp.optim.SGD(lr=0.01), batch_size=64, epochs=3)
        assert hist.params["path"] == cuda_path
        out.append(m.get_weights())
    for (w1, b1), (w2, b2) in zip(*out):
        assert np.array_equal(w1, w2) and np.array_equal(b1, b2)


def test_cuda_fit_sees_weights_changed_between_epochs():
    # A callback that edits the weights in place after an epoch changes the next epoch on CUDA as on
    # the CPU: the trainer uploads the host parameters at the start of every epoch.
    rng = np.random.default_rng(5)
    x = rng.standard_normal((300, 4))
    y = np.tanh(x[:, :1]) - x[:, 1:2]
    out = {}
    for device in ("cpu", "cuda"):
        model = fastmlp.MLP([4, 16, 1], activation="tanh", dtype="float64", seed=0, device=device)

        def halve(epoch, logs, model=model):
            if epoch == 0:
                model.weights[0][...] *= 0.5

        model.fit(
            x,
            y,
            optimizer=fastmlp.optim.Adam(lr=1e-2),
            batch_size=32,
            epochs=3,
            callbacks=[fastmlp.LambdaCallback(on_epoch_end=halve)],
        )
        out[device] = model.get_weights()
    for (wc, bc), (wg, bg) in zip(out["cpu"], out["cuda"]):
        np.testing.assert_allclose(wg, wc, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(bg, bc, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("loss", ["cross_entropy", "bce"])
def test_cuda_fit_classification_matches_cpu(loss):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((300, 4))
    y = rng.integers(0, 3, 300) if loss == "cross_entropy" else rng.integers(0, 2, (300, 3)).astype(np.float64)
    models = [fastmlp.MLP([4, 16, 3], activation="tanh", seed=1, dtype="float64", device=d) for d in ("cpu", "cuda")]
    hists = [
        m.fit(x, y, loss=loss, optimizer=fastmlp.optim.Adam(lr=1e-2), batch_size=50, epochs=5, seed=2) for m in models
    ]
    np.testing.assert_allclose(hists[1].history["loss"], hists[0].history["loss"], rtol=1e-9)
    for (w1, _b1), (w0, _b0) in zip(models[1].get_weights(), models[0].get_weights()):
        np.testing.assert_allclose(w1, w0, rtol=1e-8, atol=1e-10)


def _cpu_and_cuda_trainers_agree(x, t, spec, activation, seed, optimizer, rate, l2, train_seed):
    """Three epochs of the trainer on the CPU and on CUDA from the same weights: the same epoch losses
    and weights (float64)."""
    from fastmlp import _core

    results = []
    for device in ("cpu", "cuda"):
        model = fastmlp.MLP([4, 8, 3], activation=activation, seed=seed, dtype="float64")
        st = model._optimizer_state_for(optimizer)
        options = _core.TrainOptions(
            loss=spec, optimizer=optimizer.config(), batch_size=16, shuffle=True, seed=train_seed, device=device, l2=l2
        )
        trainer = _core.Trainer(
            model.weights, model.biases, model.activations, 0.01, st["w"], st["b"], x, np.ascontiguousarray(t), options
        )
        losses, step = [], 0
        for epoch in range(3):
            value, step, _ = trainer.run_epoch(epoch, np.full(trainer.steps_per_epoch, rate), step)
            losses.append(value)
        results.append((losses, model.get_weights()))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-10)
    for (w1, b1), (w0, b0) in zip(results[1][1], results[0][1]):
        np.testing.assert_allclose(w1, w0, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(b1, b0, rtol=1e-9, atol=1e-12)


def test_cuda_trainer_l2_penalty_matches_cpu():
    """scikit-learn's alpha (the trainer's l2) on the device: the same epoch losses and weights as the CPU."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((90, 4))
    y = rng.integers(0, 3, 90).reshape(-1, 1).astype(np.float64)
    _cpu_and_cuda_trainers_agree(
        x,
        y,
        {"name": "cross_entropy", "labels": True},
        "relu",
        1,
        fastmlp.optim.SGD(lr=0.05, momentum=0.9),
        0.05,
        0.5,
        3,
    )


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_cuda_trainer_sample_weights_match_cpu(loss):
    """Sample weights (the targets' last column) with the L2 penalty: the device's batch weight sums give
    the same epoch losses and weights as the CPU trainer."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((70, 4))
    sw = rng.random(70) + 0.2
    if loss == "cross_entropy":
        t = np.c_[rng.integers(0, 3, 70), sw]
        spec = {"name": "cross_entropy", "labels": True, "weighted": True}
    else:
        t = np.c_[rng.standard_normal((70, 3)), sw]
        spec = {"name": "mse", "weighted": True, "factor": 0.5}
    _cpu_and_cuda_trainers_agree(x, t, spec, "tanh", 2, fastmlp.optim.Adam(lr=0.01), 0.01, 0.1, 5)


@pytest.mark.parametrize("activation", ["tanh", "gelu"])
@pytest.mark.parametrize("batch_size", [None, 4])
def test_cuda_dropout_fit_matches_the_reference_and_the_cpu(activation, batch_size, cuda_path):
    # The masks are the CPU's (the same Philox draws), so the fit follows reference.train_epoch(dropout=)
    # in float64 (the GEMM path), and in float32, on either path, the CPU's fit.
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((11, 3)), rng.standard_normal((11, 2))
    rates = [0.5, 0.25]
    model = fastmlp.MLP([3, 8, 5, 2], activation=activation, dropout=rates, dtype="float64", seed=1, device="cuda")
    w0, b0 = [w.copy() for w in model.weights], [b.copy() for b in model.biases]
    opt = fastmlp.optim.Adam(lr=0.01)
    hist = model.fit(x, y, optimizer=opt, batch_size=batch_size, epochs=2, seed=4)
    assert hist.params["path"] == "cuda-gemm"
    losses, ws, bs = reference_fit(w0, b0, model.activations, x, y, opt, batch_size, 4, 2, dropout=rates)
    np.testing.assert_allclose(hist.history["loss"], losses, rtol=1e-9)
    for got, want in zip(model.weights + model.biases, ws + bs):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    gpu = fastmlp.MLP([3, 8, 5, 2], activation=activation, dropout=rates, seed=1, device="cuda")
    cpu = fastmlp.MLP([3, 8, 5, 2], activation=activation, dropout=rates, seed=1)
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    g = gpu.fit(x32, y32, optimizer=opt, batch_size=batch_size, epochs=2, seed=4)
    c = cpu.fit(x32, y32, optimizer=opt, batch_size=batch_size, epochs=2, seed=4)
    # gelu's derivative needs z: the GEMM path whatever the fixture asks
    assert g.params["path"] == (cuda_path if activation == "tanh" else "cuda-gemm")
    np.testing.assert_allclose(g.history["loss"], c.history["loss"], rtol=1e-4)
    for got, want in zip(gpu.weights + gpu.biases, cpu.weights + cpu.biases):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_cuda_dropout_memory_plan_is_what_the_trainer_allocates():
    model = fastmlp.MLP([4, 96, 80, 1], dropout=[0.5, 0.5], dtype="float64", device="cuda")
    x, y = np.ones((50, 4)), np.ones((50, 1))
    options = fastmlp._core.TrainOptions(
        loss="mse", optimizer=fastmlp.optim.SGD().config(), batch_size=16, device="cuda", dropout=[0.5, 0.5]
    )
    planned = fastmlp._core.trainer_bytes([4, 96, 80, 1], "float64", list(model.activations), 50, options)
    trainer = fastmlp._core.Trainer(
        model.weights, model.biases, model.activations, 0.01, [[]] * 3, [[]] * 3, x, y, options
    )
    assert trainer.allocated_bytes == planned
