"""fastmlp.optim's validation of hyperparameters (its table of constraints, CONSTRAINTS): every bad value
is a ValueError, every non-number or non-bool a TypeError, each naming the argument; edge values that
torch.optim accepts are accepted; NumPy scalars are numbers."""

from __future__ import annotations

import numpy as np
import pytest

from fastmlp.optim import SGD, Adagrad, Adam, AdamW, RMSprop, from_config

NAN, INF = float("nan"), float("inf")
ALL = [SGD, Adam, AdamW, RMSprop, Adagrad]
ADAMS = [Adam, AdamW]


def _bad(classes, kwargs, word):
    return [pytest.param(cls, kwargs, word, id=f"{cls.__name__}-{'-'.join(f'{k}={v}' for k, v in kwargs.items())}")
            for cls in classes]


BAD_VALUES = (
    [p for lr in (0.0, -0.01, NAN, INF) for p in _bad(ALL, {"lr": lr}, "lr")]
    + [p for b in ((1.0, 0.999), (-0.1, 0.999), (NAN, 0.999), (1.5, 0.999))
       for p in _bad(ADAMS, {"betas": b}, "betas[0]")]
    + [p for b in ((0.9, 1.0), (0.9, -0.5), (0.9, NAN), (0.9, INF)) for p in _bad(ADAMS, {"betas": b}, "betas[1]")]
    + [p for b in ((0.9,), (0.9, 0.99, 0.999)) for p in _bad(ADAMS, {"betas": b}, "betas")]
    + [p for eps in (-1e-8, NAN, INF) for p in _bad([Adam, AdamW, RMSprop, Adagrad], {"eps": eps}, "eps")]
    + [p for mom in (-0.1, NAN) for p in _bad([SGD, RMSprop], {"momentum": mom}, "momentum")]
    + [p for wd in (-1e-4, NAN, INF) for p in _bad(ALL, {"weight_decay": wd}, "weight_decay")]
    + [p for a in (-0.1, 1.01, NAN) for p in _bad([RMSprop], {"alpha": a}, "alpha")]
    + [p for d in (-0.01, NAN) for p in _bad([Adagrad], {"lr_decay": d}, "lr_decay")]
    + [p for v in (-0.1, NAN, INF) for p in _bad([Adagrad], {"initial_accumulator_value": v},
                                                 "initial_accumulator_value")]
    + _bad([SGD], {"nesterov": True}, "nesterov")
    + _bad([SGD], {"nesterov": True, "momentum": 0.0}, "momentum")
    + _bad([SGD], {"dampening": 1.5}, "dampening")
)


@pytest.mark.parametrize("cls, kwargs, word", BAD_VALUES)
def test_invalid_hyperparameters_raise_value_error_naming_them(cls, kwargs, word):
    with pytest.raises(ValueError) as info:
        cls(**kwargs)
    assert word in str(info.value), f"{cls.__name__}({kwargs}): the ValueError does not name {word!r}: {info.value}"


@pytest.mark.parametrize("cls, kwargs", [
    pytest.param(SGD, {"lr": 1e-12, "momentum": 0.0, "dampening": 1.0, "weight_decay": 0.0}, id="sgd-edges"),
    pytest.param(Adam, {"betas": (0.0, 0.0), "eps": 0.0, "weight_decay": 0.0}, id="adam-zeros"),
    pytest.param(AdamW, {"betas": (0.999999, 0.999999), "weight_decay": 0.0}, id="adamw-near-one"),
    pytest.param(RMSprop, {"alpha": 0.0, "eps": 0.0}, id="rmsprop-alpha0"),
    pytest.param(RMSprop, {"alpha": 1.0}, id="rmsprop-alpha1"),
    pytest.param(Adagrad, {"lr_decay": 0.0, "initial_accumulator_value": 0.0, "eps": 0.0}, id="adagrad-zeros"),
])
def test_edge_values_are_accepted(cls, kwargs):
    opt = cls(**kwargs)
    assert from_config(opt.config()).config() == opt.config()


@pytest.mark.parametrize("cls, kwargs, word", [
    pytest.param(cls, {key: value}, key, id=f"{cls.__name__}-{key}-{type(value).__name__}")
    for cls, key in [(SGD, "lr"), (SGD, "momentum"), (SGD, "dampening"), (Adam, "lr"), (Adam, "eps"),
                     (AdamW, "weight_decay"), (RMSprop, "alpha"), (RMSprop, "momentum"), (Adagrad, "lr_decay"),
                     (Adagrad, "initial_accumulator_value"), (Adagrad, "eps")]
    for value in ("0.1", None, [0.1], True)
])
def test_non_number_hyperparameters_raise_type_error(cls, kwargs, word):
    with pytest.raises(TypeError) as info:
        cls(**kwargs)
    assert word in str(info.value), f"{cls.__name__}({kwargs}): the TypeError does not name {word!r}: {info.value}"


@pytest.mark.parametrize("cls, kwargs, word", [
    (SGD, {"momentum": 0.9, "nesterov": "no"}, "nesterov"), (SGD, {"momentum": 0.9, "nesterov": 1}, "nesterov"),
    (Adam, {"amsgrad": "no"}, "amsgrad"), (AdamW, {"amsgrad": None}, "amsgrad"),
    (RMSprop, {"centered": "False"}, "centered"), (RMSprop, {"centered": 0}, "centered"),
])
def test_flags_must_be_booleans(cls, kwargs, word):
    """A flag given as a string ("no", "False") would read as True and switch the algorithm silently."""
    with pytest.raises(TypeError, match=f"{word} must be True or False"):
        cls(**kwargs)
    assert cls(**{**kwargs, word: np.bool_(True)}).config()[word] is True


@pytest.mark.parametrize("cls", ADAMS)
@pytest.mark.parametrize("betas", [("0.9", 0.999), (0.9, None), (False, 0.999), (0.9, "x")],
                         ids=["str-accepted-by-float", "none", "bool", "str"])
def test_non_number_betas_raise_type_error(cls, betas):
    """betas' components are numbers like every other hyperparameter: a string (even "0.9"), None or a
    bool is a TypeError, as lr="0.1" or momentum=True are."""
    with pytest.raises(TypeError) as info:
        cls(betas=betas)
    assert "betas" in str(info.value), f"the TypeError does not name betas: {info.value}"


@pytest.mark.parametrize("cls, key", [(SGD, "lr"), (Adam, "eps"), (RMSprop, "alpha"), (Adagrad, "lr_decay"),
                                      (AdamW, "weight_decay")], ids=lambda v: getattr(v, "__name__", v))
@pytest.mark.parametrize("make", [np.float32, np.float64, np.int64], ids=["np.float32", "np.float64", "np.int64"])
def test_numpy_scalar_hyperparameters_are_numbers(cls, key, make):
    """NumPy scalars are numbers (fit accepts np.int64 batch sizes too): accepted and stored as float."""
    opt = cls(**{key: make(1)})
    assert getattr(opt, key) == 1.0 and type(getattr(opt, key)) is float
