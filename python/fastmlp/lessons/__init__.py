"""The seed lecture's lessons as runnable experiments: `fastmlp lesson NAME` or fastmlp.lessons.NAME().

Each function computes with fastmlp's kernels and returns the numbers behind its figure (a dict), so
they can be checked; `run(name, out)` also draws the figure (PNG, needs matplotlib) and returns a
short text summary. Every lesson takes device="cpu", "cuda" or "auto".
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from . import dropout as _dropout
from . import figures
from . import perceptron as _perceptron
from .deep import deep, init
from .dropout import dropout
from .perceptron import perceptron
from .regression import batch_size, landscape, learning_rate, optimizers

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    # (computes the numbers, draws them, summarizes them, what the seed says)
    _Lesson = tuple[
        Callable[..., dict[str, Any]], Callable[[Mapping[str, Any]], Figure], Callable[[Mapping[str, Any]], str], str
    ]

__all__ = [
    "LESSONS",
    "run",
    "landscape",
    "learning_rate",
    "optimizers",
    "init",
    "batch_size",
    "deep",
    "perceptron",
    "dropout",
]

# CLI name -> (function, figure drawer, summary writer, what the seed says)
LESSONS: dict[str, _Lesson] = {
    "landscape": (
        landscape,
        figures.landscape,
        figures.landscape_text,
        "the loss over (a, b) and the path gradient descent takes to its minimum",
    ),
    "learning-rate": (
        learning_rate,
        figures.learning_rate,
        figures.learning_rate_text,
        "too small crawls, too large overshoots and diverges",
    ),
    "optimizers": (
        optimizers,
        figures.optimizers,
        figures.optimizers_text,
        "GD, SGD, mini-batch, momentum, Adam, RMSprop, Adagrad on one problem",
    ),
    "init": (
        init,
        figures.init,
        figures.init_text,
        "zeros and ones fail; LeCun / Xavier / He keep a deep network's signals alive",
    ),
    "batch-size": (
        batch_size,
        figures.batch_size,
        figures.batch_size_text,
        "batch 1 to full batch, with and without the linear scaling rule",
    ),
    "deep": (deep, figures.deep, figures.deep_text, "a 101-layer MLP (100 hidden) trains with He initialization"),
    "perceptron": (
        perceptron,
        _perceptron.figure,
        _perceptron.summary,
        "a unit-step perceptron learns AND and OR, not XOR; a hidden layer learns XOR",
    ),
    "dropout": (
        dropout,
        _dropout.figure,
        _dropout.summary,
        "a big network overfits 20 noisy points; inverted dropout holds it back",
    ),
}


def run(
    name: str, out: str | os.PathLike[str] | None = None, device: str = "cpu"
) -> dict[str, tuple[dict[str, Any], str, str | None]]:
    """Run lesson `name` (a key of LESSONS, or "all") on `device`: returns {name: (data, summary text, png
    path or None)}. Figures go to directory `out` when given and matplotlib is installed."""
    names = list(LESSONS) if name == "all" else [name]
    for n in names:
        if n not in LESSONS:
            raise ValueError(f"unknown lesson {n!r}; expected one of: {', '.join(LESSONS)}, all")
    results: dict[str, tuple[dict[str, Any], str, str | None]] = {}
    for n in names:
        compute, draw, describe, _ = LESSONS[n]
        data = compute(device=device)
        path: str | None = None
        if out is not None:
            os.makedirs(out, exist_ok=True)
            try:
                from ..plots import save

                path = save(draw(data), os.path.join(out, f"{n}.png"))
            except ImportError:
                path = None
        results[n] = (data, describe(data), path)
    return results
