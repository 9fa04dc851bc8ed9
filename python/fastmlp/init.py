"""Initializer names and their formulas (fan_in = inputs of the layer, fan_out = outputs).

The values themselves come from the C++ kernel (`fastmlp.ops.init`), twin of
`fastmlp.reference.init`; this module only says what exists and what each one is for.
"""

from __future__ import annotations

from . import _core
from .activations import TABLE as _ACTIVATIONS
from .activations import base as _activation_base

__all__ = ["INITIALIZERS", "ALIASES", "default_for", "canonical", "takes_argument"]

# name -> (distribution, source); the names and distributions are the kernels' own table
# (csrc/bindings/names.h), the sources are said here.
_SOURCES = {
    "uniform": "torch.nn.init.uniform_",
    "normal": "torch.nn.init.normal_",
    "lecun_uniform": "LeCun et al. 1998, Efficient BackProp",
    "lecun_normal": "LeCun et al. 1998",
    "xavier_uniform": "Glorot & Bengio 2010",
    "xavier_normal": "Glorot & Bengio 2010",
    "he_uniform": "He et al. 2015, Delving deep into rectifiers",
    "he_normal": "He et al. 2015",
}
#: Every initializer by canonical name.
#:
#: name -> (its distribution, in words and formula; its source, or "" for the plain kinds). The names
#: and distributions are the kernels' own table.
INITIALIZERS = {name: (doc, _SOURCES.get(name, "")) for name, doc in _core.names["init"].items()}
#: Other names the initializers go by.
#:
#: alias -> canonical name ("glorot_uniform" -> "xavier_uniform", "kaiming_normal" -> "he_normal", ...).
ALIASES = dict(_core.aliases["init"])


def canonical(name: str) -> str:
    """The initializer's canonical name.

    Parameters
    ----------
    name : str
        An initializer name of `INITIALIZERS` or an alias of `ALIASES`.

    Returns
    -------
    str
        The canonical name (an alias replaced by the name it stands for).

    Raises
    ------
    TypeError
        If `name` is not a str.
    ValueError
        If the name is unknown; the message lists the known ones.

    Examples
    --------
    >>> from fastmlp import init
    >>> init.canonical("glorot_uniform")
    'xavier_uniform'
    >>> init.canonical("he_normal")
    'he_normal'
    """
    if not isinstance(name, str):
        raise TypeError(f"initializer must be a name (str), got {type(name).__name__}")
    name = ALIASES.get(name, name)
    if name not in INITIALIZERS:
        known = ", ".join(list(INITIALIZERS) + list(ALIASES))
        raise ValueError(f"unknown initializer {name!r}; expected one of: {known}")
    return name


def default_for(activation: str) -> str:
    """The initializer whose derivation assumes the activation's family.

    Read from the activations' table: He for the rectifiers and their smooth kin (GELU, SiLU, ELU,
    softplus), LeCun normal for SELU, Xavier/Glorot otherwise. MLP(init="auto") uses it for each layer.

    Parameters
    ----------
    activation : str
        An activation name, possibly an alias or with parameters.

    Returns
    -------
    str
        The canonical name of the initializer.

    Raises
    ------
    TypeError
        If `activation` is not a str.
    ValueError
        If the activation is unknown.

    Examples
    --------
    >>> from fastmlp import init
    >>> init.default_for("relu"), init.default_for("selu"), init.default_for("tanh")
    ('he_uniform', 'lecun_normal', 'xavier_uniform')
    """
    return _ACTIVATIONS[_activation_base(activation)]["init"]


# The keyword arguments of fastmlp.ops.init that each kind reads.
_ARGUMENTS: dict[str, set[str]] = {
    "constant": {"value"},
    "uniform": {"low", "high"},
    "normal": {"mean", "std", "truncated"},
    "lecun_normal": {"truncated"},
    "xavier_normal": {"truncated"},
    "he_normal": {"truncated"},
}


def takes_argument(name: str, argument: str) -> bool:
    """Whether an initializer reads a keyword argument of `fastmlp.ops.init`.

    Parameters
    ----------
    name : str
        An initializer name or alias.
    argument : str
        A keyword argument of `fastmlp.ops.init` ("value", "low", "high", "mean", "std" or
        "truncated").

    Returns
    -------
    bool
        True when that initializer reads the argument.

    Raises
    ------
    TypeError
        If `name` is not a str.
    ValueError
        If the initializer is unknown.

    Examples
    --------
    >>> from fastmlp import init
    >>> init.takes_argument("normal", "std"), init.takes_argument("zeros", "std")
    (True, False)
    """
    return argument in _ARGUMENTS.get(canonical(name), set())
