"""Figures (matplotlib is optional: `pip install "fastmlp[plot]"`; imported only when a figure is drawn).

Each function takes the numbers a lesson or a fit produced and returns a matplotlib Figure; `save`
writes one to a PNG. Nothing here computes: the numbers come from fastmlp's kernels.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import TYPE_CHECKING, TypeVar, overload

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

    from .train import History

_PathT = TypeVar("_PathT", bound="str | os.PathLike[str]")

__all__ = ["require_matplotlib", "history", "save"]


def require_matplotlib() -> ModuleType:
    """matplotlib.pyplot with a non-interactive backend (Agg).

    Returns
    -------
    module
        matplotlib.pyplot.

    Raises
    ------
    ImportError
        If matplotlib is not installed; the message says how to get it.

    Examples
    --------
    >>> from fastmlp import plots
    >>> plt = plots.require_matplotlib()
    >>> plt.__name__
    'matplotlib.pyplot'
    """
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError('figures need matplotlib: pip install "fastmlp[plot]" (or pip install matplotlib)') from None
    return plt


@overload
def history(hist: History, ax: None = None, logy: bool = True) -> Figure: ...
@overload
def history(hist: History, ax: Axes, logy: bool = True) -> Figure | SubFigure: ...


def history(hist: History, ax: Axes | None = None, logy: bool = True) -> Figure | SubFigure:
    """Training curves of a History: loss (and val_loss) per epoch.

    The learning rate is drawn on a twin axis when it changed during the fit.

    Parameters
    ----------
    hist : History
        What MLP.fit returned.
    ax : matplotlib.axes.Axes, optional
        The axes to draw on; default a new 6 x 4 inch figure.
    logy : bool, default True
        A logarithmic loss axis.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.

    Raises
    ------
    ImportError
        If matplotlib is not installed.

    Examples
    --------
    >>> import numpy as np
    >>> import fastmlp
    >>> from fastmlp import plots
    >>> x = np.linspace(-1, 1, 20).reshape(-1, 1)
    >>> hist = fastmlp.MLP([1, 1]).fit(x, 2 * x + 1, optimizer="sgd", epochs=20)
    >>> fig = plots.history(hist)
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['loss']
    >>> plots.require_matplotlib().close(fig)
    """
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


def save(fig: Figure, path: _PathT, dpi: int = 80) -> _PathT:
    """Write a figure to a PNG file and close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure (its layout is tightened first).
    path : str or os.PathLike
        The file to write.
    dpi : int, default 80
        The resolution.

    Returns
    -------
    str or os.PathLike
        The path, as given.

    Raises
    ------
    ImportError
        If matplotlib is not installed.

    Examples
    --------
    >>> import os, tempfile
    >>> from fastmlp import plots
    >>> fig, ax = plots.require_matplotlib().subplots()
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = plots.save(fig, os.path.join(folder, "curve.png"))
    ...     os.path.getsize(path) > 0
    True
    """
    plt = require_matplotlib()
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
