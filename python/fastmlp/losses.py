"""Loss names, read from the kernels' own table (csrc/bindings/names.h). MSE squares the residual, so
it reacts more strongly to large errors than MAE, which grows linearly; Huber is MSE near zero and MAE
far out. These, Poisson and BCE are means over every element (PyTorch's reduction='mean');
cross_entropy's mean is over rows (each row's class distribution is one term)."""

from __future__ import annotations

from . import _core

__all__ = ["LOSSES", "REDUCTIONS", "CLASSIFICATION_LOSSES", "HEADS", "MEAN_FUNCTIONS", "check_loss"]

#: Every loss by name: name -> its formula in words (mse, mae, huber, poisson, cross_entropy, bce).
LOSSES = dict(_core.names["loss"])
#: The reductions the loss kernels take: "mean" and "sum".
REDUCTIONS = tuple(_core.names["reduction"])
# The kernels' table of what each loss implies: a classification loss's head turns the network's
# outputs (logits) into probabilities; predictions are logits and evaluate reports accuracy.
#: The head of each classification loss.
#:
#: name -> "softmax" (cross_entropy) or "sigmoid" (bce), the function that turns the network's outputs
#: (logits) into probabilities.
HEADS = {name: info["head"] for name, info in _core.loss_table.items() if info["head"]}
#: The classification losses ("cross_entropy", "bce").
#:
#: Their predictions are logits, and evaluate can report accuracy.
CLASSIFICATION_LOSSES = tuple(HEADS)
# A log-link loss reads the network's outputs as the log of the mean (poisson: the log-rate); its mean
# function turns them into predictions in the targets' units, which predict and the ONNX graph return.
#: The log-link losses and their mean functions.
#:
#: name -> "exp" (poisson). predict and the ONNX graph apply it to the network's outputs (the log of
#: the mean).
MEAN_FUNCTIONS = {name: info["mean"] for name, info in _core.loss_table.items() if info["mean"]}


def check_loss(name: str) -> str:
    """Check that a name is a known loss.

    Parameters
    ----------
    name : str
        A name of `LOSSES`.

    Returns
    -------
    str
        The name itself.

    Raises
    ------
    TypeError
        If `name` is not a str.
    ValueError
        If it is not a known loss; the message lists the known ones.

    Examples
    --------
    >>> from fastmlp import losses
    >>> losses.check_loss("huber")
    'huber'
    >>> losses.check_loss("hinge")
    Traceback (most recent call last):
    ...
    ValueError: unknown loss 'hinge'; expected one of: mse, mae, huber, poisson, cross_entropy, bce
    """
    if not isinstance(name, str):
        raise TypeError(f"loss must be a name (str), got {type(name).__name__}")
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of: {', '.join(LOSSES)}")
    return name
