"""Initializer names and their formulas (fan_in = inputs of the layer, fan_out = outputs).

The values themselves come from the C++ kernel (`fastmlp.ops.init`), twin of
`fastmlp.reference.init`; this module only says what exists and what each one is for.
"""

from __future__ import annotations

__all__ = ["INITIALIZERS", "ALIASES", "default_for", "canonical", "takes_argument"]

# name -> (distribution, source)
INITIALIZERS = {
    "zeros": ("0 (every unit identical: the symmetry problem)", ""),
    "ones": ("1 (saturates sigmoid/tanh, explodes ReLU)", ""),
    "constant": ("value", ""),
    "uniform": ("U[low, high), default U[0, 1)", "torch.nn.init.uniform_"),
    "normal": ("N(mean, std^2), default N(0, 1)", "torch.nn.init.normal_"),
    "lecun_uniform": ("U(-sqrt(3/fan_in), +sqrt(3/fan_in))", "LeCun et al. 1998, Efficient BackProp"),
    "lecun_normal": ("N(0, 1/fan_in)", "LeCun et al. 1998"),
    "xavier_uniform": ("U(+-sqrt(6/(fan_in+fan_out)))", "Glorot & Bengio 2010"),
    "xavier_normal": ("N(0, 2/(fan_in+fan_out))", "Glorot & Bengio 2010"),
    "he_uniform": ("U(+-sqrt(6/fan_in))", "He et al. 2015, Delving deep into rectifiers"),
    "he_normal": ("N(0, 2/fan_in)", "He et al. 2015"),
}
ALIASES = {"glorot_uniform": "xavier_uniform", "glorot_normal": "xavier_normal",
           "kaiming_uniform": "he_uniform", "kaiming_normal": "he_normal"}


def canonical(name):
    """The initializer's canonical name; ValueError listing the known ones for anything else."""
    if not isinstance(name, str):
        raise TypeError(f"initializer must be a name (str), got {type(name).__name__}")
    name = ALIASES.get(name, name)
    if name not in INITIALIZERS:
        known = ", ".join(list(INITIALIZERS) + list(ALIASES))
        raise ValueError(f"unknown initializer {name!r}; expected one of: {known}")
    return name


def default_for(activation):
    """He for the rectifiers, Xavier/Glorot otherwise: each scheme's derivation assumes that family."""
    return "he_uniform" if activation in ("relu", "leaky_relu") else "xavier_uniform"


# The keyword arguments of fastmlp.ops.init that each kind reads.
_ARGUMENTS = {"constant": {"value"}, "uniform": {"low", "high"}, "normal": {"mean", "std", "truncated"},
              "lecun_normal": {"truncated"}, "xavier_normal": {"truncated"}, "he_normal": {"truncated"}}


def takes_argument(name, argument):
    """Whether initializer `name` reads keyword `argument` of fastmlp.ops.init."""
    return argument in _ARGUMENTS.get(canonical(name), set())
