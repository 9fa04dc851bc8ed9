"""fit's arguments are checked by one table (fastmlp.fitting.FIT_CONSTRAINTS) and one list of rules
(FIT_RULES): every argument of MLP.fit is in the table or named as checked elsewhere, every entry refuses
a value of the wrong type with a TypeError and one out of range with a ValueError that names it, every
rule has a case that breaks it, and a refused fit leaves the model as it was."""

import inspect

import numpy as np
import pytest

import fastmlp
from fastmlp import _constraints as C
from fastmlp.fitting import FIT_CONSTRAINTS, FIT_RULES, FitConfig

# fit's arguments checked with the data or the fit's log rather than on their own.
CHECKED_WITH_THE_DATA = {"self", "x", "y", "sample_weight", "class_weight", "callbacks", "comm"}

# For each entry of the table: values of the wrong type, and values of the right type out of range.
BAD = {
    "loss": ([3, None], ["hinge", "MSE"]),
    "optimizer": ([3, b"sgd", fastmlp.optim.SGD], ["lion", "Adam"]),
    "batch_size": ([2.0, True, [4]], [0, -3, "min"]),
    "epochs": ([1.5, None, "3"], [-1]),
    "shuffle": (["no", 1, None], []),
    "seed": ([1.5, "a", True], [-1, 2**64]),
    "validation_data": ([3, "xy"], []),
    "validation_split": (["0.2", True, [0.2]], [0.0, 1.0, -0.1, 1.5, float("nan")]),
    "verbose": ([], [5, "loud", -1]),
    "drop_last": (["x", 0], []),
    "on_nonfinite": ([None, 1], ["ignore"]),
    "schedule": ([3, "cosine"], []),
    "lr_scaling": ([1], ["cubic", "Linear"]),
    "base_batch_size": ([2.5, True], [0]),
    "warmup_epochs": ([2.5], [-1]),
    "clip_grad_norm": (["1"], [0.0, -1.0, float("nan"), float("inf")]),
    "clip_grad_value": ([[1.0]], [0.0, float("inf")]),
}

# Arguments that make each entry's bad value reach its check (the rules need lr_scaling's partners).
WITH = {
    "base_batch_size": {"lr_scaling": "linear"},
    "warmup_epochs": {"lr_scaling": "linear", "base_batch_size": 4},
    "lr_scaling": {"base_batch_size": 4},
}


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 2))
    return x, x @ np.array([1.0, -2.0]) + 0.5


def _weights(model):
    return [a.copy() for part in model.get_weights() for a in part]


def test_every_fit_argument_is_in_the_table_or_checked_with_the_data():
    names = set(inspect.signature(fastmlp.MLP.fit).parameters)
    assert names - CHECKED_WITH_THE_DATA == set(FIT_CONSTRAINTS), (
        f"not in FIT_CONSTRAINTS: {sorted(names - CHECKED_WITH_THE_DATA - set(FIT_CONSTRAINTS))}; "
        f"in it but not fit's: {sorted(set(FIT_CONSTRAINTS) - names)}"
    )
    assert set(BAD) == set(FIT_CONSTRAINTS), "every entry of the table has its bad values here"
    assert {f.name for f in FitConfig.__dataclass_fields__.values()} >= {
        "loss",
        "optimizer",
        "batch_size",
        "epochs",
        "seed",
        "schedule",
        "callbacks",
        "rows",
    }


@pytest.mark.parametrize(
    "name, value, error",
    [
        pytest.param(name, value, error, id=f"{name}-{value!r}")
        for name, (wrong_type, out_of_range) in BAD.items()
        for values, error in ((wrong_type, TypeError), (out_of_range, ValueError))
        for value in values
    ],
)
def test_each_entry_refuses_bad_values_by_name(name, value, error):
    x, y = _data()
    model = fastmlp.MLP([2, 3, 1], seed=1)
    before = _weights(model)
    with pytest.raises(error) as info:
        model.fit(x, y, **{"epochs": 1, "batch_size": 4, **WITH.get(name, {}), name: value})
    assert f"{name} must be" in str(info.value) or (name == "loss" and "loss" in str(info.value)), (
        f"the {error.__name__} does not name {name}: {info.value}"
    )
    assert all(np.array_equal(a, b) for a, b in zip(before, _weights(model))), "a refused fit changed the model"


# One case that breaks each rule (one process; the data-parallel rules are run under mpiexec in
# test_distributed.py), and the words its error must hold.
RULE_CASES = [
    ({"lr_scaling": "sqrt"}, "lr_scaling needs base_batch_size"),
    ({"warmup_epochs": 2}, "warmup_epochs goes with lr_scaling"),
    ({"base_batch_size": 8}, "base_batch_size goes with lr_scaling"),
    ({"batch_size": 13, "drop_last": True}, "no batch at all"),
    ({"batch_size": 10, "drop_last": True, "validation_split": 0.25}, "no batch at all"),  # 9 rows train
    ({"validation_split": 0.25, "validation_data": ([[0.0, 0.0]], [0.0])}, "do not go together"),
    ({"validation_split": 0.02}, "both need at least one row"),  # 12 rows: none held out
    ({"validation_split": 0.98}, "both need at least one row"),  # all 12 held out
]


@pytest.mark.parametrize("kw, words", RULE_CASES, ids=[c[1] for c in RULE_CASES])
def test_each_rule_refuses_what_it_forbids(kw, words):
    x, y = _data()
    with pytest.raises(ValueError, match=words):
        fastmlp.MLP([2, 1]).fit(x, y, epochs=1, **kw)


def test_every_rule_has_a_case():
    messages = [
        r.message if isinstance(r.message, str) else r.message({"batch_size": 13, "rows": 12, "validation_split": 0.02})
        for r in FIT_RULES
    ]
    for message in messages:
        assert any(words in message for words in [w for _, w in RULE_CASES] + ["data-parallel"]), message
    # The rules on data parallel: each broken by its arguments with processes > 1, kept with one.
    base = {
        "sample_weight": None,
        "batch_size": 4,
        "drop_last": False,
        "lr_scaling": None,
        "base_batch_size": None,
        "warmup_epochs": None,
        "rows": 12,
    }
    for change in ({"sample_weight": np.ones(12)}, {"batch_size": "max"}):
        args = {**base, **change}
        assert any(r.broken({**args, "processes": 2}) for r in FIT_RULES)
        assert not any(r.broken({**args, "processes": 1}) for r in FIT_RULES)


def test_good_values_pass_and_are_converted():
    x, y = _data()
    hist = fastmlp.MLP([2, 1], seed=0).fit(
        x,
        y,
        epochs=np.int64(2),
        batch_size=np.int32(5),
        seed=np.uint64(3),
        shuffle=np.bool_(True),
        clip_grad_norm=np.float32(1.0),
        verbose=0,
    )
    assert hist.params["epochs"] == 2 and type(hist.params["epochs"]) is int
    assert hist.params["batch_size"] == 5 and type(hist.params["batch_size"]) is int


def test_fit_config_is_frozen():
    config = FitConfig(
        loss="mse",
        optimizer=fastmlp.optim.SGD(),
        batch_size=None,
        epochs=1,
        shuffle=False,
        seed=0,
        drop_last=False,
        on_nonfinite="raise",
        schedule=None,
        clip_grad_norm=0.0,
        clip_grad_value=0.0,
        callbacks=(),
        verbose=0,
        validation_data=None,
        rows=(4, 0),
    )
    with pytest.raises(AttributeError):
        config.epochs = 2


# ---- the constraints themselves ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "constraint, good, type_errors, value_errors",
    [
        (C.Integer(">=", 1), [1, np.int64(7), 2**70], [1.0, True, np.bool_(True), "1", None], [0, -5]),
        (C.Integer(">=", 0, "<", 2**64), [0, 2**64 - 1], [0.5], [-1, 2**64]),
        (
            C.Interval(">", 0.0),
            [1e-300, 3, np.float32(2.0)],
            ["1", True, None],
            [0.0, -1.0, float("nan"), float("inf")],
        ),
        (C.Interval(">=", 0.0, "<=", 1.0), [0.0, 1.0, 0.5], [[0.5]], [1.0 + 1e-12, -1e-300]),
        (C.Flag(), [True, False, np.bool_(False)], [0, 1, "yes", None], []),
        (C.Options("a", "b"), ["a", "b"], [None, 1, b"a"], ["c", "A", ""]),
        (C.AnyOf(None, C.Integer(">=", 1), C.Options("max")), [None, 1, "max"], [1.5, True, []], [0, "min"]),
        (C.Sequence(2, "a pair"), [(1, 2), [1, 2]], [(1,), (1, 2, 3), 3, "ab"], []),
    ],
)
def test_constraints(constraint, good, type_errors, value_errors):
    for value in good:
        constraint.check("arg", value)
    for value in type_errors:
        with pytest.raises(TypeError, match="arg must be"):
            constraint.check("arg", value)
    for value in value_errors:
        with pytest.raises(ValueError, match="arg must be"):
            constraint.check("arg", value)


def test_constraints_say_what_they_expect():
    assert repr(C.Integer(">=", 0, "<", 2**64)) == "in [0, 2**64)"
    assert repr(C.Integer(">=", 1)) == "an int >= 1"
    assert repr(C.Interval(">=", 0.0, "<", 1.0)) == "a finite number in [0.0, 1.0)"
    assert repr(C.AnyOf(None, C.Integer(">=", 1), C.Options("max"))) == "an int >= 1, 'max' or None"
    assert repr(C.AnyOf(None, C.Options("linear", "sqrt"))) == "'linear', 'sqrt' or None"
    assert C.check_int(np.int64(3), "n", 0, 4) == 3 and type(C.check_int(np.int64(3), "n", 0, 4)) is int
