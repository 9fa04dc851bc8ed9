"""A model's summary, as Keras prints one: its layers, their shapes, activations and parameter counts,
and the memory a fit of a given batch takes (the trainer's own buffer plan, fastmlp.memory).

`MLP.summary()` returns a `Summary`; it shows as its table in a console or notebook, `str()` gives
the table, and its fields hold the same values for a program. `fastmlp info MODEL` prints it for a
saved model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import memory
from .optim import SGD

if TYPE_CHECKING:
    from .model import MLP
    from .optim import Optimizer

__all__ = ["Layer", "Summary", "summarize"]


@dataclass(frozen=True)
class Layer:
    """One dense layer of a summary.

    Parameters
    ----------
    name : str
        "dense_1", "dense_2", ... from the input on.
    inputs, outputs : int
        Its input and output widths (the weights are (inputs, outputs)).
    activation : str
        Its activation, as the model holds it (parameters included, e.g. "elu(alpha=0.5)").
    dropout : float
        The probability that an output of the layer is zeroed in training (0 for none).
    """

    name: str
    inputs: int
    outputs: int
    activation: str
    dropout: float = 0.0

    @property
    def weights(self) -> int:
        """The number of weights, inputs * outputs."""
        return self.inputs * self.outputs

    @property
    def params(self) -> int:
        """The number of parameters: weights and biases."""
        return self.weights + self.outputs


@dataclass(frozen=True)
class Summary:
    """What `MLP.summary` reports: the layers, the parameter counts and a fit's memory.

    Parameters
    ----------
    layers : tuple of Layer
        The dense layers, input side first.
    dtype : str
        The parameters' dtype, "float32" or "float64".
    device : str
        Where the model fits and predicts.
    batch_size : int
        The batch size that `fit_bytes` counts.
    optimizer : str
        The optimizer that `fit_bytes` counts (its repr).
    fit_bytes : int
        The memory, in bytes of `device`, that a fit with this batch size and optimizer takes.
    standardized : str
        What the model standardizes: "no", "features", "targets" or "features and targets".
    """

    layers: tuple[Layer, ...]
    dtype: str
    device: str
    batch_size: int
    optimizer: str
    fit_bytes: int
    standardized: str

    @property
    def total_params(self) -> int:
        """The number of parameters of all layers."""
        return sum(layer.params for layer in self.layers)

    @property
    def param_bytes(self) -> int:
        """The bytes the parameters take."""
        return self.total_params * (4 if self.dtype == "float32" else 8)

    def table(self) -> str:
        """The summary as text: a table of the layers, then the totals.

        Returns
        -------
        str
            The lines of the table, joined by newlines.
        """
        dropout = any(layer.dropout for layer in self.layers)
        head = ["Layer", "Output shape", "Activation", *(["Dropout"] if dropout else []), "Weights", "Biases", "Params"]
        rows = [
            [
                layer.name,
                f"(batch, {layer.outputs})",
                layer.activation,
                *([f"{layer.dropout:g}" if layer.dropout else "-"] if dropout else []),
                f"{layer.weights:,}",
                f"{layer.outputs:,}",
                f"{layer.params:,}",
            ]
            for layer in self.layers
        ]
        inputs = self.layers[0].inputs
        rows.insert(0, ["input", f"(batch, {inputs})", "-", *(["-"] if dropout else []), "0", "0", "0"])
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

        def line(cells: list[str]) -> str:  # name, shape and activation align left, the numbers right
            return "  ".join(
                c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
            ).rstrip()

        rule = "-" * len(line(head))
        out = [f"MLP: {len(self.layers)} dense layer(s), {self.dtype}, on {self.device}", rule, line(head), rule]
        out += [line(r) for r in rows]
        out += [
            rule,
            f"Parameters: {self.total_params:,} ({_bytes(self.param_bytes)})",
            f"Standardizes: {self.standardized}",
            f"Optimizer: {self.optimizer}",
            f"A fit with batch_size={self.batch_size} takes {_bytes(self.fit_bytes)} of "
            f"{'device' if self.device == 'cuda' else 'host'} memory",
        ]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return self.table()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython shows the table, not a dataclass
        printer.text(self.table())


def _bytes(n: int) -> str:
    """n bytes in the largest binary unit that leaves at least 1 (B, KiB, MiB, GiB, TiB)."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def summarize(
    model: MLP, batch_size: int = 32, *, optimizer: Optimizer | None = None, n_samples: int | None = None
) -> Summary:
    """The summary of `model` (see `MLP.summary`).

    Parameters
    ----------
    model : MLP
        The model.
    batch_size : int, default 32
        The batch size whose fit memory is counted (fit's default).
    optimizer : fastmlp.optim.Optimizer, optional
        The optimizer whose state counts; default the model's last (`MLP.optimizer`), else SGD().
    n_samples : int, optional
        The rows of the data set the fit would read (see fastmlp.memory.training_bytes).

    Returns
    -------
    Summary
        The layers, counts and memory.

    Raises
    ------
    ValueError
        If batch_size is below 1.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    opt = optimizer if optimizer is not None else model.optimizer
    opt = opt if opt is not None else SGD()
    rates = list(getattr(model, "dropout", None) or [])
    layers = tuple(
        Layer(
            name=f"dense_{i + 1}",
            inputs=int(w.shape[0]),
            outputs=int(w.shape[1]),
            activation=act,
            dropout=float(rates[i]) if i < len(rates) else 0.0,
        )
        for i, (w, act) in enumerate(zip(model.weights, model.activations))
    )
    scaling = model.standardization
    parts = (
        []
        if scaling is None
        else [w for w, k in (("features", "x_mean"), ("targets", "y_mean")) if scaling[k] is not None]
    )
    need = memory.training_bytes(model, batch_size, n_samples=n_samples, optimizer=opt)
    return Summary(
        layers=layers,
        dtype=model.dtype.name,
        device=model.device,
        batch_size=batch_size,
        optimizer=repr(opt),
        fit_bytes=int(need),
        standardized=" and ".join(parts) or "no",
    )
