"""fastmlp.optim's validation of hyperparameters (its table of constraints, CONSTRAINTS): every bad value
is a ValueError, every non-number or non-bool a TypeError, each naming the argument; edge values that
torch.optim accepts are accepted; NumPy scalars are numbers. The cases come from the registry: each
bad value is tried on every optimizer that takes that hyperparameter."""

from __future__ import annotations

import numpy as np
import pytest

from fastmlp._constraints import Flag, Interval
from fastmlp.optim import CONSTRAINTS, OPTIMIZERS, SGD, Adagrad, Adam, AdamW, RMSprop, from_config

NAN, INF = float("nan"), float("inf")
ALL = list(OPTIMIZERS.values())


def takes(key):
    """The optimizers whose hyperparameters include `key`."""
    return [cls for cls in ALL if key in cls.hyperparameters]


def _bad(classes, kwargs, word):
    return [
        pytest.param(cls, kwargs, word, id=f"{cls.__name__}-{'-'.join(f'{k}={v}' for k, v in kwargs.items())}")
        for cls in classes
    ]


# Out-of-range values of each number hyperparameter (every one of CONSTRAINTS' intervals has its row).
BAD_NUMBERS = {
    "lr": (0.0, -0.01, NAN, INF),
    "momentum": (-0.1, NAN),
    "dampening": (-0.01, 1.5, NAN),
    "weight_decay": (-1e-4, NAN, INF),
    "eps": (-1e-8, NAN, INF),
    "alpha": (-0.1, 1.01, NAN),
    "lr_decay": (-0.01, NAN),
    "initial_accumulator_value": (-0.1, NAN, INF),
    "momentum_decay": (-1e-3, NAN, INF),
}

BAD_VALUES = (
    [p for key, values in BAD_NUMBERS.items() for v in values for p in _bad(takes(key), {key: v}, key)]
    + [
        p
        for b in ((1.0, 0.999), (-0.1, 0.999), (NAN, 0.999), (1.5, 0.999))
        for p in _bad(takes("betas"), {"betas": b}, "betas[0]")
    ]
    + [
        p
        for b in ((0.9, 1.0), (0.9, -0.5), (0.9, NAN), (0.9, INF))
        for p in _bad(takes("betas"), {"betas": b}, "betas[1]")
    ]
    + [p for b in ((0.9,), (0.9, 0.99, 0.999)) for p in _bad(takes("betas"), {"betas": b}, "betas")]
    + _bad([SGD], {"nesterov": True}, "nesterov")
    + _bad([SGD], {"nesterov": True, "momentum": 0.0}, "momentum")
    + _bad([SGD], {"momentum": 0.9, "nesterov": True, "dampening": 0.1}, "dampening")
)


def test_every_number_constraint_has_bad_values():
    numbers = {key for key, rule in CONSTRAINTS.items() if isinstance(rule, Interval)}
    assert numbers == set(BAD_NUMBERS), f"add bad values for {sorted(numbers - set(BAD_NUMBERS))}"
    assert all(takes(key) for key in CONSTRAINTS), "a constraint that no optimizer takes"


@pytest.mark.parametrize("cls, kwargs, word", BAD_VALUES)
def test_invalid_hyperparameters_raise_value_error_naming_them(cls, kwargs, word):
    with pytest.raises(ValueError) as info:
        cls(**kwargs)
    assert word in str(info.value), f"{cls.__name__}({kwargs}): the ValueError does not name {word!r}: {info.value}"


@pytest.mark.parametrize(
    "cls, kwargs",
    [
        pytest.param(SGD, {"lr": 1e-12, "momentum": 0.0, "dampening": 1.0, "weight_decay": 0.0}, id="sgd-edges"),
        pytest.param(Adam, {"betas": (0.0, 0.0), "eps": 0.0, "weight_decay": 0.0}, id="adam-zeros"),
        pytest.param(AdamW, {"betas": (0.999999, 0.999999), "weight_decay": 0.0}, id="adamw-near-one"),
        pytest.param(RMSprop, {"alpha": 0.0, "eps": 0.0}, id="rmsprop-alpha0"),
        pytest.param(RMSprop, {"alpha": 1.0}, id="rmsprop-alpha1"),
        pytest.param(Adagrad, {"lr_decay": 0.0, "initial_accumulator_value": 0.0, "eps": 0.0}, id="adagrad-zeros"),
    ]
    + [
        pytest.param(cls, {"betas": (0.0, 0.0), "eps": 0.0}, id=f"{cls.name}-zeros")
        for cls in takes("betas")
        if cls not in (Adam, AdamW)
    ],
)
def test_edge_values_are_accepted(cls, kwargs):
    opt = cls(**kwargs)
    assert from_config(opt.config()).config() == opt.config()


NUMBER_KEYS = [(cls, key) for cls in ALL for key in cls.hyperparameters if isinstance(CONSTRAINTS[key], Interval)]
FLAG_KEYS = [(cls, key) for cls in ALL for key in cls.hyperparameters if isinstance(CONSTRAINTS[key], Flag)]


@pytest.mark.parametrize(
    "cls, kwargs, word",
    [
        pytest.param(cls, {key: value}, key, id=f"{cls.__name__}-{key}-{type(value).__name__}")
        for cls, key in NUMBER_KEYS
        for value in ("0.1", None, [0.1], True)
    ],
)
def test_non_number_hyperparameters_raise_type_error(cls, kwargs, word):
    with pytest.raises(TypeError) as info:
        cls(**kwargs)
    assert word in str(info.value), f"{cls.__name__}({kwargs}): the TypeError does not name {word!r}: {info.value}"


@pytest.mark.parametrize("cls, key", FLAG_KEYS, ids=[f"{c.__name__}-{k}" for c, k in FLAG_KEYS])
@pytest.mark.parametrize("value", ["no", "False", 0, 1, None])
def test_flags_must_be_booleans(cls, key, value):
    """A flag given as a string ("no", "False") would read as True and switch the algorithm silently."""
    extra = {"momentum": 0.9} if key == "nesterov" else {}
    with pytest.raises(TypeError, match=f"{key} must be True or False"):
        cls(**{**extra, key: value})
    assert cls(**{**extra, key: np.bool_(True)}).config()[key] is True


@pytest.mark.parametrize("cls", takes("betas"))
@pytest.mark.parametrize(
    "betas",
    [("0.9", 0.999), (0.9, None), (False, 0.999), (0.9, "x")],
    ids=["str-accepted-by-float", "none", "bool", "str"],
)
def test_non_number_betas_raise_type_error(cls, betas):
    """betas' components are numbers like every other hyperparameter: a string (even "0.9"), None or a
    bool is a TypeError, as lr="0.1" or momentum=True are."""
    with pytest.raises(TypeError) as info:
        cls(betas=betas)
    assert "betas" in str(info.value), f"the TypeError does not name betas: {info.value}"


@pytest.mark.parametrize("cls, key", NUMBER_KEYS, ids=[f"{c.__name__}-{k}" for c, k in NUMBER_KEYS])
@pytest.mark.parametrize("make", [np.float32, np.float64, np.int64], ids=["np.float32", "np.float64", "np.int64"])
def test_numpy_scalar_hyperparameters_are_numbers(cls, key, make):
    """NumPy scalars are numbers (fit accepts np.int64 batch sizes too): accepted and stored as float."""
    opt = cls(**{key: make(1)})
    assert getattr(opt, key) == 1.0 and type(getattr(opt, key)) is float
