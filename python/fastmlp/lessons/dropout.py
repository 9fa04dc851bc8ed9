"""The overfitting lesson: a network far bigger than its data learns the noise of 20 points, and inverted
dropout (Srivastava et al. 2014, "Dropout: a simple way to prevent neural networks from overfitting")
holds it back.

The seed names overfitting as the first problem of plain gradient descent: the training loss keeps
falling while the loss on data the network has not seen stops falling and rises. Here 20 noisy samples
of sin(x) train a 1-128-128-1 ReLU network with Adam, full batch, once without dropout and once with
each rate; the validation loss is measured on the noise-free curve. Without dropout the two losses part;
with it the training loss stays higher (each step trains a thinned network) and the validation loss
lower.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..callbacks import LambdaCallback
from ..model import MLP
from ..optim import Adam
from ..plots import require_matplotlib

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def dropout(
    rates: Sequence[float] = (0.0, 0.3, 0.5),
    n: int = 20,
    noise: float = 0.5,
    epochs: int = 1500,
    width: int = 128,
    seed: int = 0,
    device: str = "cpu",
) -> dict[str, Any]:
    """The numbers of the lesson: the data, and for each dropout rate the training and validation loss per
    epoch and the fitted curve.

    Parameters
    ----------
    rates : sequence of float, default (0.0, 0.3, 0.5)
        The dropout rates of both hidden layers, one fit each.
    n : int, default 20
        The training points, x uniform in [-3, 3].
    noise : float, default 0.5
        The standard deviation of the noise added to sin(x).
    epochs : int, default 1500
        Full-batch Adam epochs (lr 0.01).
    width : int, default 128
        The width of the two hidden layers.
    seed : int, default 0
        Seeds the data, the weights and the masks.
    device : {"cpu", "cuda", "auto"}, default "cpu"
        Where the fits run.

    Returns
    -------
    dict
        "x", "y" (the training points), "grid", "truth" (sin on a grid of 300 points), "noise" and "fits": per
        rate a dict of "loss" (the training loss of the whole network), "masked_loss" (the fit's own:
        that of the thinned networks its steps trained) and "val_loss" per epoch, "curve" (the
        prediction on the grid), "train" and "val" (the final losses).

    Examples
    --------
    >>> from fastmlp import lessons
    >>> d = lessons.dropout(rates=(0.0, 0.5), epochs=200, width=32)
    >>> sorted(d["fits"]), len(d["fits"][0.5]["val_loss"])
    ([0.0, 0.5], 200)
    """
    rng = np.random.default_rng(seed + 1)
    x = rng.uniform(-3, 3, (n, 1))
    y = np.sin(x) + noise * rng.standard_normal(x.shape)
    grid = np.linspace(-3, 3, 300)[:, None]
    truth = np.sin(grid)
    fits: dict[float, dict[str, Any]] = {}
    for p in rates:
        model = MLP([1, width, width, 1], dropout=float(p), seed=seed, dtype="float64", device=device)
        # The training loss of the whole network after each epoch (the fit's own is that of the masked
        # networks its steps trained, which the figure also shows).
        train: list[float] = []

        record = LambdaCallback(on_epoch_end=_recorder(model, x, y, train))
        hist = model.fit(
            x,
            y,
            optimizer=Adam(lr=0.01),
            batch_size=None,
            epochs=epochs,
            seed=seed,
            validation_data=(grid, truth),
            callbacks=[record],
        )
        fits[float(p)] = {
            "loss": train,
            "masked_loss": hist.history["loss"],
            "val_loss": hist.history["val_loss"],
            "curve": model.predict(grid)[:, 0],
            "train": model.evaluate(x, y),
            "val": model.evaluate(grid, truth),
        }
    return {"x": x[:, 0], "y": y[:, 0], "grid": grid[:, 0], "truth": truth[:, 0], "noise": noise, "fits": fits}


def _recorder(
    model: MLP, x: NDArray[np.float64], y: NDArray[np.float64], into: list[float]
) -> Callable[[int, dict[str, float] | None], None]:
    """An on_epoch_end that appends the model's loss on (x, y), every output in use, to `into`."""

    def record(epoch: int, logs: dict[str, float] | None) -> None:
        into.append(model.evaluate(x, y))

    return record


def figure(d: Mapping[str, Any]) -> Figure:
    """The training and validation loss per epoch of each rate, and the fitted curves over the data."""
    plt = require_matplotlib()
    fig, (curves, fitted) = plt.subplots(1, 2, figsize=(11, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for color, (p, f) in zip(colors, d["fits"].items()):
        label = "no dropout" if p == 0 else f"dropout {p:g}"
        curves.plot(f["loss"], color=color, lw=1.5, label=f"{label}: training")
        curves.plot(f["val_loss"], color=color, lw=2, ls="--", label=f"{label}: validation")
        fitted.plot(d["grid"], f["curve"], color=color, lw=2, label=label)
    noise = float(d["noise"]) ** 2
    curves.axhline(noise, color="k", lw=1, ls=":", label=f"noise variance {noise:g}: below it, the noise is fitted")
    curves.set_yscale("log")
    curves.set_xlabel("epoch")
    curves.set_ylabel("MSE")
    curves.set_title("Training loss falls; without dropout the validation loss rises", fontsize=9)
    curves.legend(fontsize=7)
    fitted.plot(d["grid"], d["truth"], color="k", lw=1, ls=":", label="sin(x)")
    fitted.scatter(d["x"], d["y"], color="k", s=18, zorder=3, label="20 noisy samples")
    fitted.set_ylim(-2.5, 2.5)
    fitted.set_xlabel("x")
    fitted.set_title("The fitted curves", fontsize=9)
    fitted.legend(fontsize=7)
    fig.suptitle("Overfitting 20 points with a 1-128-128-1 network, and inverted dropout", fontsize=10)
    fig.tight_layout()
    return fig


def summary(d: Mapping[str, Any]) -> str:
    """One line per rate: the final training and validation losses, and where the validation loss was lowest."""
    parts = []
    for p, f in d["fits"].items():
        best = int(np.argmin(f["val_loss"]))
        parts.append(
            f"{'no dropout' if p == 0 else f'dropout {p:g}'}: training MSE {f['train']:.3f}, validation MSE "
            f"{f['val']:.3f} (lowest {f['val_loss'][best]:.3f} at epoch {best + 1})"
        )
    return "; ".join(parts)
