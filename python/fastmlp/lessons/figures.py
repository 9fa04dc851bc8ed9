"""Figures and one-paragraph summaries of the lessons' numbers (matplotlib imported lazily)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..plots import require_matplotlib

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def landscape(d: Mapping[str, Any]) -> Figure:
    plt = require_matplotlib()
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    levels = np.geomspace(d["loss"].min() + 1e-9, d["loss"].max(), 25)
    cs = ax.contour(d["a"], d["b"], d["loss"], levels=levels, cmap="viridis", linewidths=0.8)
    fig.colorbar(cs, ax=ax, label="MSE (lb²)")
    p = d["path"]
    ax.plot(p[:, 0], p[:, 1], "o-", color="tab:red", ms=3, lw=1, label=f"gradient descent (lr={d['lr']})")
    ax.plot(*d["least_squares"], "k*", ms=14, label="minimum (least squares)")
    ax.set_xlabel("a (lb per standard deviation of height)")
    ax.set_ylabel("b (lb)")
    ax.set_title("Loss landscape of y = a·x + b on women (height → weight)")
    ax.legend(loc="upper right", fontsize=8)
    return fig


def landscape_text(d: Mapping[str, Any]) -> str:
    a, b = d["least_squares"]
    ga, gb = d["grid_min"]
    pa, pb = d["path"][-1]
    return (
        f"grid minimum at a={ga:.3f}, b={gb:.3f}; least squares a={a:.3f}, b={b:.3f}; gradient descent "
        f"from ({d['path'][0][0]:.1f}, {d['path'][0][1]:.1f}) reached ({pa:.3f}, {pb:.3f}) in "
        f"{len(d['path']) - 1} steps"
    )


def learning_rate(d: Mapping[str, Any]) -> Figure:
    plt = require_matplotlib()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for lr, loss in d["curves"].items():
        ax.plot(np.arange(1, len(loss) + 1), loss, label=f"lr={lr} ({d['verdicts'][lr]})")
    ax.set_yscale("log")
    ax.set_xlabel("epoch (full-batch gradient descent)")
    ax.set_ylabel("MSE (standardized)")
    ax.set_title("Learning rate: too small, good, too large")
    ax.legend()
    return fig


def learning_rate_text(d: Mapping[str, Any]) -> str:
    return "; ".join(f"lr={lr}: {v} (final loss {d['curves'][lr][-1]:.3g})" for lr, v in d["verdicts"].items())


def optimizers(d: Mapping[str, Any]) -> Figure:
    plt = require_matplotlib()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.4))
    for name, (loss, t) in d["runs"].items():
        ax1.plot(np.arange(1, len(loss) + 1), loss, label=name)
        ax2.plot(t * 1e3, loss, label=name)
    for ax, xl in ((ax1, "epoch"), (ax2, "wall time (ms)")):
        ax.set_yscale("log")
        ax.set_xlabel(xl)
        ax.set_ylabel("training MSE")
    ax1.set_title("Optimizers: loss per epoch")
    ax2.set_title("... and per millisecond")
    ax1.legend(fontsize=8)
    return fig


def optimizers_text(d: Mapping[str, Any]) -> str:
    return "; ".join(f"{k}: {v[0][-1]:.3g} in {v[1][-1] * 1e3:.0f} ms" for k, v in d["runs"].items())


def init(d: Mapping[str, Any]) -> Figure:
    plt = require_matplotlib()
    fig = plt.figure(figsize=(11, 10))
    grid = fig.add_gridspec(3, 6, height_ratios=[1, 1, 0.8])
    axes = [[fig.add_subplot(grid[row, 3 * col : 3 * col + 3]) for col in range(2)] for row in range(2)]
    styles: dict[str, dict[str, Any]] = {  # LeCun and Xavier are equal when fan_in = fan_out
        "LeCun": {"lw": 3, "alpha": 0.5},
        "Xavier": {"ls": "--"},
    }
    for col, act in enumerate(("tanh", "relu")):
        for (a, label), (acts, grads) in d["spreads"].items():
            if a != act:
                continue
            layers = np.arange(1, len(acts) + 1)
            with np.errstate(all="ignore"):
                axes[0][col].plot(layers, np.where(acts > 0, acts, np.nan), label=label, **styles.get(label, {}))
                axes[1][col].plot(
                    layers,
                    np.where((grads > 0) & np.isfinite(grads), grads, np.nan),
                    label=label,
                    **styles.get(label, {}),
                )
        axes[0][col].set_title(f"{d['depth']} {act} layers: std of activations")
        axes[1][col].set_title(f"{d['depth']} {act} layers: std of dL/dW")
        for row in range(2):
            axes[row][col].set_yscale("log")
        axes[1][col].set_xlabel("layer")
    axes[0][0].legend(fontsize=8)
    notes = {
        "tanh": "not drawn: zeros (all 0), ones' gradients (exactly 0)",
        "relu": "not drawn: zeros (all 0), ones' gradients (overflow to Inf)",
    }
    for col, act in enumerate(("tanh", "relu")):
        axes[1][col].set_xlabel(f"layer\n({notes[act]})", fontsize=9)  # below the plot, where no curve runs
    # The symmetry problem itself: the first layer of a 4-8-8-1 tanh net after training.
    names = {"zeros": "zeros", "ones": "ones", "xavier_uniform": "Xavier (random)"}
    for i, (name, w) in enumerate(d["trained_first_layer"].items()):
        ax = fig.add_subplot(grid[2, 2 * i : 2 * i + 2])
        ax.imshow(w, cmap="coolwarm", aspect="auto")
        same = d["symmetric_after_training"][name]
        ax.set_title(f"{names[name]} init, trained: {'every unit identical' if same else 'units differ'}", fontsize=9)
        ax.set_xlabel("hidden unit")
        ax.set_ylabel("input")
    fig.suptitle(
        "Initialization: zeros and ones keep every unit identical (the symmetry problem), ones saturate "
        "tanh and explode ReLU;\nXavier (= LeCun here, fan_in = fan_out) keeps tanh's gradients level "
        "across layers (its activations shrink slowly with depth); He keeps ReLU's signal level",
        fontsize=10,
    )
    return fig


def init_text(d: Mapping[str, Any]) -> str:
    s = d["spreads"]
    parts = [
        f"{act}/{label}: last-layer activation std {s[(act, label)][0][-1]:.3g}"
        for act in ("tanh", "relu")
        for label in ("ones", "normal(0,1)", "Xavier", "He")
    ]
    sym = ", ".join(
        f"{k}: {'identical units' if v else 'units differ'}" for k, v in d["symmetric_after_training"].items()
    )
    return "; ".join(parts) + f". After training a 4-8-8-1 tanh net: {sym}"


def batch_size(d: Mapping[str, Any]) -> Figure:
    plt = require_matplotlib()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    for (b, scaled), r in d["runs"].items():
        if not len(r["loss"]):
            continue
        label = f"batch {b or 'full'}" + (f" scaled lr={r['lr']:.3g}" if scaled else "")
        style = "--" if scaled else "-"
        axes[0].plot(r["steps"], r["loss"], style, label=label + (" (diverged)" if r["diverged"] else ""))
        axes[1].plot(r["time"] * 1e3, r["loss"], style, label=label)
    for ax, xl in zip(axes, ("optimizer steps", "wall time (ms)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xl)
        ax.set_ylabel("training MSE")
    for ax in axes:  # the diverged run would squash every other curve
        ax.set_ylim(top=10)
    fig.suptitle(f"Batch size at lr={d['base_lr']} (solid) and with the rate scaled linearly (dashed)", fontsize=10)
    axes[0].set_title("per optimizer step", fontsize=9)
    axes[1].set_title("per millisecond", fontsize=9)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def batch_size_text(d: Mapping[str, Any]) -> str:
    return "; ".join(
        f"batch {b or 'full'}{' scaled' if s else ''} lr={r['lr']:.3g}: "
        f"{'diverged' if r['diverged'] else format(r['loss'][-1], '.3g')}"
        for (b, s), r in d["runs"].items()
    )


def deep(d: Mapping[str, Any]) -> Figure:
    plt = require_matplotlib()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.plot(np.arange(1, len(d["loss"]) + 1), d["loss"], "o-")
    ax.axhline(d["initial_loss"], color="gray", ls=":", label="before training")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training MSE")
    ax.set_title(f"A {d['layers']}-layer ReLU MLP with He init ({d['params']:,} parameters), Adam")
    ax.legend()
    return fig


def deep_text(d: Mapping[str, Any]) -> str:
    return (
        f"{d['layers']} layers, {d['params']:,} parameters: MSE {d['initial_loss']:.3g} before training, "
        f"{d['final_loss']:.3g} after {len(d['loss'])} epochs"
    )
