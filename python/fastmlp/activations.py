"""The activations: names, parameters and what each one implies, read from the kernels' own table.

An activation is a name, with its parameters after it as torch.nn names them where it has any:
"relu", "gelu", "gelu_tanh" (torch's GELU(approximate="tanh")), "elu(alpha=0.5)",
"softplus(beta=2, threshold=10)", "leaky_relu(negative_slope=0.2)" (a leaky_relu without one takes
the model's `negative_slope`). `TABLE[name]` says what each takes and implies: "doc", "params" (name
-> default), "needs_z" (training keeps the pre-activation z for its derivative: one more buffer per
layer), "init" (the default initializer) and "onnx" (its ONNX operator, "" where export composes it).
"""

from __future__ import annotations

import re

from . import _core

__all__ = ["TABLE", "NAMES", "canonical", "base", "params", "needs_z"]

#: What each activation takes and implies, by canonical name.
#:
#: Each entry is a dict with "doc" (its formula), "params" (parameter name -> default), "needs_z"
#: (training keeps the pre-activation z for its derivative), "init" (the default initializer) and
#: "onnx" (its ONNX operator, "" where export composes it). Read from the kernels' own table.
TABLE = {name: dict(info) for name, info in _core.activation_table.items()}
#: The canonical activation names, in the kernels' order.
#:
#: A tuple of str; aliases such as "swish" are not among them.
NAMES = tuple(TABLE)


def canonical(name: str, what: str = "activation") -> str:
    """The activation as a model stores it: the canonical name with the parameters it was given.

    Aliases become their canonical name ("swish" -> "silu", "linear" -> "identity") and parameters
    are spelled one way ("elu(alpha=.5)" -> "elu(alpha=0.5)").

    Parameters
    ----------
    name : str
        An activation name, with its parameters in parentheses where it takes any.
    what : str, default "activation"
        What the name is, for the error messages (e.g. "output_activation").

    Returns
    -------
    str
        The canonical spelling.

    Raises
    ------
    TypeError
        If `name` is not a str.
    ValueError
        If the name or one of its parameters is unknown; the message names the known ones.

    Examples
    --------
    >>> from fastmlp import activations
    >>> activations.canonical("swish")
    'silu'
    >>> activations.canonical("elu(alpha=.5)")
    'elu(alpha=0.5)'
    """
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a name (str), got {type(name).__name__}")
    try:
        return _core.canonical_activation(name)
    except ValueError as e:
        raise ValueError(f"{what}: {e}" if what != "activation" else str(e)) from None


def base(name: str) -> str:
    """The kind of an activation without its parameters.

    Parameters
    ----------
    name : str
        An activation name, possibly with parameters and possibly an alias.

    Returns
    -------
    str
        The canonical name without its parameters.

    Raises
    ------
    TypeError
        If `name` is not a str.
    ValueError
        If the activation is unknown.

    Examples
    --------
    >>> from fastmlp import activations
    >>> activations.base("elu(alpha=0.5)")
    'elu'
    """
    return canonical(name).split("(", 1)[0]


def params(name: str) -> dict[str, float]:
    """The parameters an activation names itself, as floats.

    Parameters
    ----------
    name : str
        An activation name, possibly with parameters.

    Returns
    -------
    dict of str to float
        The parameters given in the name (not the defaults of those left out).

    Raises
    ------
    TypeError
        If `name` is not a str.
    ValueError
        If the activation or a parameter is unknown.

    Examples
    --------
    >>> from fastmlp import activations
    >>> activations.params("elu(alpha=0.5)")
    {'alpha': 0.5}
    >>> activations.params("relu")
    {}
    """
    text = canonical(name)
    inside = text[len(base(text)) + 1 : -1] if "(" in text else ""
    return {k: float(v) for k, v in re.findall(r"(\w+)=([^,]+)", inside)}


def needs_z(name: str) -> bool:
    """Whether training keeps this activation's pre-activation z.

    It does for the activations whose derivative cannot be read off the output (one more buffer per
    layer).

    Parameters
    ----------
    name : str
        An activation name, possibly with parameters.

    Returns
    -------
    bool
        True when the derivative needs z.

    Raises
    ------
    TypeError
        If `name` is not a str.
    ValueError
        If the activation is unknown.

    Examples
    --------
    >>> from fastmlp import activations
    >>> activations.needs_z("gelu"), activations.needs_z("relu")
    (True, False)
    """
    return bool(TABLE[base(name)]["needs_z"])
