"""Lessons on depth: why the initial weights matter in a deep network (seed points 2, 9-11), and a
100-hidden-layer (101 dense layers) MLP that trains with He initialization."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import ops, optim
from ..model import MLP

INITS: dict[str, tuple[str, dict[str, Any]]] = {  # label -> (initializer name, keyword arguments)
    "zeros": ("zeros", {}),
    "ones": ("ones", {}),
    "normal(0,1)": ("normal", {"std": 1.0}),
    "LeCun": ("lecun_normal", {}),
    "Xavier": ("xavier_normal", {}),
    "He": ("he_normal", {}),
}


def _spreads(
    activation: str,
    init: str,
    kwargs: dict[str, Any],
    depth: int,
    width: int,
    x: NDArray[np.float64],
    seed: int,
    device: str,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-layer std of the activations (forward) and of dL/dW (backward) of a deep stack."""
    model = MLP(
        [width] * (depth + 1) + [1],
        activation=activation,
        init=init,
        dtype="float64",
        seed=seed,
        init_kwargs=kwargs,
        device=device,
    )
    acts: list[float] = []
    a: NDArray[Any] = x
    for w, b, act in zip(model.weights[:-1], model.biases[:-1], model.activations[:-1]):
        a = ops.dense_forward(a, w, b, act, device=device)
        acts.append(float(a.std()))
    y = np.sin(x[:, :1])
    with np.errstate(all="ignore"):
        try:
            _, grads = model.gradients(x, y)
            grad_std = [float(gw.std()) for gw, _ in grads[:-1]]
        except ValueError:  # the activations overflowed to Inf: the gradients do not exist
            grad_std = [float("nan")] * depth
    return np.array(acts), np.array(grad_std)


def init(depth: int = 50, width: int = 64, n: int = 256, seed: int = 0, device: str = "cpu") -> dict[str, Any]:
    """For 50 tanh layers and 50 ReLU layers (width 64): the spread of every layer's activations and
    weight gradients under each initializer, plus the symmetry problem of constant initializations:
    after training, every hidden unit of a zeros- or ones-initialized layer is still identical."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, width))
    spreads: dict[tuple[str, str], tuple[NDArray[np.float64], NDArray[np.float64]]] = {}
    for activation in ("tanh", "relu"):
        for label, (name, kwargs) in INITS.items():
            with np.errstate(over="ignore", invalid="ignore"):
                spreads[(activation, label)] = _spreads(activation, name, kwargs, depth, width, x, seed, device)
    # Symmetry: a small tanh net from constant weights stays symmetric however long it trains.
    xs = rng.standard_normal((200, 4))
    ys = np.sin(xs[:, :1]) + xs[:, 1:2] ** 2
    symmetric: dict[str, bool] = {}
    trained: dict[str, NDArray[Any]] = {}
    for name in ("zeros", "ones", "xavier_uniform"):
        model = MLP(
            [4, 8, 8, 1], activation="tanh", init=name, bias_init="zeros", dtype="float64", seed=seed, device=device
        )
        model.fit(xs, ys, optimizer=optim.SGD(lr=0.05), batch_size=20, epochs=30, on_nonfinite="stop")
        w1 = model.weights[1]
        symmetric[name] = bool(np.allclose(w1, w1[:, :1]) and np.allclose(model.weights[0], model.weights[0][:, :1]))
        trained[name] = model.weights[0].copy()
    return {
        "spreads": spreads,
        "depth": depth,
        "width": width,
        "symmetric_after_training": symmetric,
        "trained_first_layer": trained,
    }


def deep(depth: int = 100, width: int = 32, epochs: int = 20, seed: int = 0, device: str = "cpu") -> dict[str, Any]:
    """A 100-hidden-layer ReLU MLP with He initialization learns y = sin(2x) + x/2 (seed point 2:
    "100 layers and more")."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, size=(2048, 1)).astype(np.float32)
    y = (np.sin(2 * x) + 0.5 * x).astype(np.float32)
    model = MLP([1] + [width] * depth + [1], activation="relu", init="he_uniform", seed=seed, device=device)
    before = model.evaluate(x, y)
    hist = model.fit(x, y, optimizer=optim.Adam(lr=1e-3), batch_size=64, epochs=epochs, seed=seed, on_nonfinite="stop")
    return {
        "loss": np.array(hist.history["loss"]),
        "initial_loss": before,
        "final_loss": model.evaluate(x, y),
        "layers": model.n_layers,
        "params": model.n_params,
        "stopped": hist.stopped_reason,
    }
