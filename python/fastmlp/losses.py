"""Loss names, read from the kernels' own table (csrc/bindings/names.h). MSE squares the residual, so
it reacts more strongly to large errors than MAE, which grows linearly; Huber is MSE near zero and MAE
far out. These, Poisson and BCE are means over every element (PyTorch's reduction='mean');
cross_entropy's mean is over rows (each row's class distribution is one term)."""

from __future__ import annotations

from . import _core

__all__ = ["LOSSES", "REDUCTIONS", "CLASSIFICATION_LOSSES", "HEADS", "MEAN_FUNCTIONS", "check_loss"]

LOSSES = dict(_core.names["loss"])
REDUCTIONS = tuple(_core.names["reduction"])
# The kernels' table of what each loss implies: a classification loss's head turns the network's
# outputs (logits) into probabilities; predictions are logits and evaluate reports accuracy.
HEADS = {name: info["head"] for name, info in _core.loss_table.items() if info["head"]}
CLASSIFICATION_LOSSES = tuple(HEADS)
# A log-link loss reads the network's outputs as the log of the mean (poisson: the log-rate); its mean
# function turns them into predictions in the targets' units, which predict and the ONNX graph return.
MEAN_FUNCTIONS = {name: info["mean"] for name, info in _core.loss_table.items() if info["mean"]}


def check_loss(name):
    """The name itself if it is a known loss; TypeError/ValueError otherwise."""
    if not isinstance(name, str):
        raise TypeError(f"loss must be a name (str), got {type(name).__name__}")
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of: {', '.join(LOSSES)}")
    return name
