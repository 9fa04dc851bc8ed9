"""Figures (matplotlib is optional: `pip install "fastmlp[plot]"`; imported only when a figure is drawn).

Each function takes the numbers a lesson or a fit produced and returns a matplotlib Figure; `save`
writes one to a PNG. Nothing here computes: the numbers come from fastmlp's kernels.
"""

from __future__ import annotations

import numpy as np

__all__ = ["require_matplotlib", "history", "save"]


def require_matplotlib():
    """matplotlib.pyplot with a non-interactive backend, or ImportError saying how to get it."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError('figures need matplotlib: pip install "fastmlp[plot]" (or pip install matplotlib)') from None
    return plt


def history(hist, ax=None, logy=True):
    """Training curves of a History: loss (and val_loss) per epoch; the learning rate on a twin axis
    when it changed during the fit."""
    plt = require_matplotlib()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    epochs = np.arange(1, len(hist.history["loss"]) + 1)
    ax.plot(epochs, hist.history["loss"], label="loss")
    if "val_loss" in hist.history:
        ax.plot(epochs, hist.history["val_loss"], label="val_loss")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    lrs = hist.history.get("lr", [])
    if lrs and max(lrs) != min(lrs):
        ax2 = ax.twinx()
        ax2.plot(epochs, lrs, color="gray", linestyle=":", label="lr")
        ax2.set_ylabel("learning rate")
    ax.legend()
    return fig if fig is not None else ax.figure


def save(fig, path, dpi=80):
    """Write a figure to `path` (PNG) and close it."""
    plt = require_matplotlib()
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
