"""Loss names. MSE squares the residual, so it reacts more strongly to large errors than MAE, which
grows linearly; both are means over every element (PyTorch's reduction='mean')."""

from __future__ import annotations

__all__ = ["LOSSES", "REDUCTIONS", "check_loss"]

LOSSES = {"mse": "mean squared error, mean((pred - target)^2)",
          "mae": "mean absolute error, mean(|pred - target|)"}
REDUCTIONS = ("mean", "sum")


def check_loss(name):
    """The name itself if it is a known loss; TypeError/ValueError otherwise."""
    if not isinstance(name, str):
        raise TypeError(f"loss must be a name (str), got {type(name).__name__}")
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of: {', '.join(LOSSES)}")
    return name
