"""The optimizers' registry (csrc/include/fastmlp/optimizers/: one header per optimizer, one list) and
every layer that reads it: fastmlp.optim's classes and its table of constraints, the state layouts,
the bindings' parser of a config, the scikit-learn estimators' solvers and the CLI's --optimizer.
Adding an optimizer that misses a layer fails here."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from fastmlp import _core, ops, optim
from fastmlp.optim import CONSTRAINTS, OPTIMIZERS, from_config

REGISTRY = list(_core.names["optimizer"])


def test_every_registered_optimizer_has_its_class_in_the_registry_order():
    assert REGISTRY, "the kernels export no optimizer"
    assert list(OPTIMIZERS) == REGISTRY, f"fastmlp.optim has {list(OPTIMIZERS)}, the kernels {REGISTRY}"
    assert sorted(_core.optimizer_hyperparameters) == sorted(REGISTRY)
    for name, cls in OPTIMIZERS.items():
        assert cls.name == name and issubclass(cls, optim.Optimizer)
        assert cls.__name__ in optim.__all__, f"{cls.__name__} is not exported by fastmlp.optim"
        assert _core.names["optimizer"][name], f"{name} has no description in the kernels' table"


@pytest.mark.parametrize("name", REGISTRY)
def test_the_class_takes_the_hyperparameters_its_header_reads(name):
    """The Python signature (torch's names) and the header's field list are the same keys, in order."""
    cls = OPTIMIZERS[name]
    signature = list(inspect.signature(cls.__init__).parameters)[1:]
    assert list(cls.hyperparameters) == signature
    assert signature == _core.optimizer_hyperparameters[name], (
        f"{cls.__name__}({', '.join(signature)}) but its header reads {_core.optimizer_hyperparameters[name]}"
    )
    assert list(cls().config()) == ["name", *signature]


def test_every_hyperparameter_has_one_constraint():
    used = {key for keys in _core.optimizer_hyperparameters.values() for key in keys}
    assert used <= set(CONSTRAINTS), f"no constraint for {sorted(used - set(CONSTRAINTS))}"
    assert set(CONSTRAINTS) <= used, f"constraints nobody reads: {sorted(set(CONSTRAINTS) - used)}"


@pytest.mark.parametrize("name", REGISTRY)
def test_state_layout_comes_from_the_kernels(name):
    opt = OPTIMIZERS[name]()
    states = _core.optimizer_states(opt.config())
    assert opt.state_names() == [n for n, _ in states] and opt.state_initial_values() == [v for _, v in states]
    assert len(states) <= _core.max_optimizer_states
    assert len(set(opt.state_names())) == len(states), f"{name} names two buffers alike: {states}"
    assert from_config(opt.config()).config() == opt.config()


@pytest.mark.parametrize(
    "config, word",
    [
        pytest.param({"name": "adam", "lr": 0.1, "momentum": 0.9}, "momentum", id="key-of-another-optimizer"),
        pytest.param({"name": "sgd", "betas": [0.9, 0.99]}, "betas", id="betas-for-sgd"),
        pytest.param({"name": "lion", "lr": 0.1}, "lion", id="unknown-name"),
        pytest.param({"lr": 0.1}, "name", id="no-name"),
    ],
)
def test_the_parser_refuses_what_no_header_reads(config, word):
    """A key the optimizer does not read is an error, never ignored (it would train with a default)."""
    with pytest.raises(ValueError, match=word):
        _core.optimizer_states(config)
    p = np.ones(3)
    with pytest.raises(ValueError, match=word):
        _core.optimizer_update(p, np.ones(3), [], 1, 0.1, config)
    assert np.array_equal(p, np.ones(3))


def test_a_partial_config_takes_the_kernels_defaults():
    assert _core.optimizer_states({"name": "sgd"}) == []
    assert _core.optimizer_states({"name": "adagrad", "initial_accumulator_value": 0.5}) == [("sum", 0.5)]


@pytest.mark.parametrize("call", ["sgd_update", "optimizer_update"])
@pytest.mark.parametrize(
    "lr, exc",
    [(0.0, ValueError), (-0.1, ValueError), (float("nan"), ValueError), ("0.1", TypeError), (True, TypeError)],
    ids=["0", "neg", "nan", "str", "bool"],
)
def test_ops_check_an_lr_against_the_same_table(assert_bitwise, call, lr, exc):
    p = np.ones(4)
    with pytest.raises(exc, match="lr"):
        if call == "sgd_update":
            ops.sgd_update(p, np.ones(4), lr)
        else:
            ops.optimizer_update(optim.SGD(), p, np.ones(4), [], 1, lr=lr)
    assert_bitwise(p, np.ones(4), f"param after {call}(lr={lr!r})")


@pytest.mark.parametrize("step, exc", [(0, ValueError), (-3, ValueError), (1.0, TypeError), (True, TypeError)])
def test_optimizer_update_checks_its_step(step, exc):
    with pytest.raises(exc, match="step"):
        ops.optimizer_update(optim.Adam(), np.ones(2), np.ones(2), [np.zeros(2), np.zeros(2)], step)


# ---- the estimators and the CLI read the registry ---------------------------------------------------------
def test_the_estimators_offer_every_registered_optimizer():
    sklearn = pytest.importorskip("sklearn")  # noqa: F841
    from fastmlp.sklearn import _STOCHASTIC, MLPRegressor

    assert list(_STOCHASTIC) == REGISTRY
    for solver in REGISTRY:
        MLPRegressor(solver=solver)._validate_params()  # scikit-learn's own check of the solver's name


def test_the_cli_offers_every_registered_optimizer():
    """fastmlp train --help lists them, and --momentum names those that take it."""
    from fastmlp import cli
    from fastmlp._cli_train import with_momentum as said_with_momentum

    subcommands = next(a for a in cli.build_parser()._actions if a.choices and "train" in a.choices)
    text = " ".join(subcommands.choices["train"].format_help().split())
    assert ", ".join(REGISTRY) in text, text
    with_momentum = [n for n in REGISTRY if "momentum" in OPTIMIZERS[n].hyperparameters]
    assert said_with_momentum() in text and all(n in said_with_momentum() for n in with_momentum)
