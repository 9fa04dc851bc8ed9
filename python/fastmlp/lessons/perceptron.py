"""The perceptron lesson: Rosenblatt's single unit with a unit step learns AND and OR, and cannot learn
XOR; two hidden sigmoid units trained with cross-entropy can.

Rosenblatt's rule (Rosenblatt 1958, "The perceptron: a probabilistic model for information storage and
organization in the brain"): for each sample x with target t and output y = step(w.x + b),
w += lr (t - y) x and b += lr (t - y). It stops changing once every sample is right, which the
perceptron convergence theorem (Novikoff 1962) guarantees for linearly separable data (AND, OR) and
which never happens for XOR: no line puts (0,1), (1,0) on one side and (0,0), (1,1) on the other
(Minsky & Papert 1969). A hidden layer bends the boundary: 2-2-1 with sigmoids, trained on the binary
cross-entropy of its output (fastmlp's fused "bce" loss), separates XOR.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .. import ops
from ..model import MLP
from ..optim import Adam
from ..plots import require_matplotlib

if TYPE_CHECKING:
    from matplotlib.figure import Figure

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
GATES = {"AND": np.array([0, 0, 0, 1.0]), "OR": np.array([0, 1, 1, 1.0]), "XOR": np.array([0, 1, 1, 0.0])}


def rosenblatt(
    x: NDArray[np.float64], t: NDArray[np.float64], lr: float = 0.1, epochs: int = 100
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[int]]:
    """Rosenblatt's rule on (x, t), samples in order, from w = 0, b = 0. Returns (w, b, errors per epoch);
    the unit's output is the step kernel's (fastmlp.ops.dense_forward with activation "step")."""
    w = np.zeros((x.shape[1], 1))
    b = np.zeros(1)
    errors: list[int] = []
    for _ in range(epochs):
        wrong = 0
        for xi, ti in zip(x, t):
            y = ops.dense_forward(xi[None, :], w, b, "step")[0, 0]
            if y != ti:
                w[:, 0] += lr * (ti - y) * xi
                b += lr * (ti - y)
                wrong += 1
        errors.append(wrong)
        if wrong == 0:
            break
    return w, b, errors


def perceptron(device: str = "cpu", epochs: int = 100, mlp_epochs: int = 2000, max_seeds: int = 20) -> dict[str, Any]:
    """The numbers of the lesson: for AND, OR and XOR the perceptron's weights, its errors per epoch and
    its accuracy; for XOR the 2-2-1 sigmoid MLP's accuracy, its loss curve and the seed that worked
    (a 2-unit network can land in a local minimum from some starts: seeds are tried in order)."""
    out: dict[str, Any] = {"gates": {}}
    for name, t in GATES.items():
        w, b, errors = rosenblatt(X, t, epochs=epochs)
        pred = ops.dense_forward(X, w, b, "step")[:, 0]
        out["gates"][name] = {
            "w": w[:, 0],
            "b": float(b[0]),
            "errors": errors,
            "accuracy": float((pred == t).mean()),
            "converged": errors[-1] == 0,
        }
    for seed in range(max_seeds):
        model = MLP([2, 2, 1], activation="sigmoid", seed=seed, dtype="float64", device=device)
        hist = model.fit(X, GATES["XOR"], loss="bce", optimizer=Adam(lr=0.05), batch_size=None, epochs=mlp_epochs)
        proba = model.predict_proba(X)[:, 0]
        accuracy = float(((proba > 0.5) == GATES["XOR"]).mean())
        if accuracy == 1.0:
            break
    out["mlp"] = {"model": model, "seed": seed, "accuracy": accuracy, "loss": hist.history["loss"], "proba": proba}
    return out


def figure(d: Mapping[str, Any]) -> Figure:
    """Decision regions: the perceptron's on AND, OR, XOR, and the MLP's on XOR."""
    plt = require_matplotlib()
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
    g = np.linspace(-0.5, 1.5, 201)
    gx, gy = np.meshgrid(g, g)
    grid = np.c_[gx.ravel(), gy.ravel()]
    panels = [(f"perceptron: {n}", n, None) for n in GATES] + [("2-2-1 sigmoid MLP: XOR", "XOR", d["mlp"]["model"])]
    for ax, (title, gate, model) in zip(axes, panels):
        if model is None:
            p = d["gates"][gate]
            region = ops.dense_forward(grid, p["w"][:, None], np.array([p["b"]]), "step")[:, 0]
            acc = p["accuracy"]
        else:
            region = (model.predict_proba(grid)[:, 0] > 0.5).astype(float)
            acc = d["mlp"]["accuracy"]
        ax.contourf(gx, gy, region.reshape(gx.shape), levels=[-0.5, 0.5, 1.5], colors=["#dde6f5", "#f7d9c4"])
        t = GATES[gate]
        ax.scatter(
            X[:, 0], X[:, 1], c=["tab:blue" if v == 0 else "tab:orange" for v in t], s=90, edgecolors="k", zorder=3
        )
        ax.set_title(f"{title}\naccuracy {acc:.0%}", fontsize=9)
        ax.set_xlim(-0.5, 1.5)
        ax.set_ylim(-0.5, 1.5)
        ax.set_aspect("equal")
    fig.suptitle("A unit step learns AND and OR, not XOR; one hidden layer does", fontsize=10)
    fig.tight_layout()
    return fig


def summary(d: Mapping[str, Any]) -> str:
    parts = []
    for name, p in d["gates"].items():
        state = (
            f"converged in {len(p['errors'])} epochs"
            if p["converged"]
            else f"still {p['errors'][-1]} errors after {len(p['errors'])} epochs"
        )
        parts.append(f"perceptron {name}: accuracy {p['accuracy']:.0%}, {state}")
    m = d["mlp"]
    parts.append(
        f"2-2-1 sigmoid MLP with cross-entropy on XOR: accuracy {m['accuracy']:.0%} "
        f"(seed {m['seed']}, final loss {m['loss'][-1]:.4f})"
    )
    return "; ".join(parts)
