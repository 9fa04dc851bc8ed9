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

TABLE = {name: dict(info) for name, info in _core.activation_table.items()}
NAMES = tuple(TABLE)


def canonical(name, what="activation"):
    """The activation as a model stores it: the canonical name ("swish" -> "silu") with the parameters
    it was given. TypeError for a non-string, ValueError naming the known names or parameters."""
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a name (str), got {type(name).__name__}")
    try:
        return _core.canonical_activation(name)
    except ValueError as e:
        raise ValueError(f"{what}: {e}" if what != "activation" else str(e)) from None


def base(name):
    """The kind of an activation without its parameters: "elu(alpha=0.5)" -> "elu"."""
    return canonical(name).split("(", 1)[0]


def params(name):
    """The parameters an activation names itself, as floats: "elu(alpha=0.5)" -> {"alpha": 0.5}."""
    text = canonical(name)
    inside = text[len(base(text)) + 1:-1] if "(" in text else ""
    return {k: float(v) for k, v in re.findall(r"(\w+)=([^,]+)", inside)}


def needs_z(name):
    """Whether training keeps this activation's pre-activation z (its derivative cannot be read off the
    output)."""
    return bool(TABLE[base(name)]["needs_z"])
