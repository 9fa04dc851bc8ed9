"""Declarative checks of arguments: a table maps each argument's name to a constraint, and
check_arguments runs the table, then the rules that tie arguments together. The optimizers'
hyperparameters (fastmlp.optim.CONSTRAINTS) and fit's arguments (fastmlp.fitting.FIT_CONSTRAINTS) are
two such tables; scikit-learn's `_parameter_constraints` is the model.

A constraint has check(name, value) -> the value as a plain Python object, or raises TypeError (the
value is not of the kind the constraint describes) or ValueError (the right kind, outside its range),
naming the argument, what it expected and what it got. `kind(value)` says whether the value is of the
constraint's kind; AnyOf uses it to choose which alternative judges the value."""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any, cast

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Protocol, TypeGuard

    class Constraint(Protocol):
        """What check_arguments runs: any of this module's constraints, or one of the same shape."""

        def kind(self, value: object) -> bool: ...

        def check(self, name: str, value: Any) -> Any: ...

    #: A bound's comparison and its number, e.g. (">=", 0).
    Bound = tuple[str, float]

__all__ = [
    "AnyOf",
    "Checked",
    "Flag",
    "InstanceOf",
    "Integer",
    "Interval",
    "Options",
    "Pair",
    "Rule",
    "Sequence",
    "check_arguments",
    "check_bool",
    "check_int",
    "is_number",
]


def is_number(value: object) -> TypeGuard[numbers.Real]:
    """A real number (Python or NumPy scalar), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def is_integer(value: object) -> TypeGuard[int | np.integer[Any]]:
    """An int (Python or NumPy), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


_TESTS: dict[str, Callable[[float, float], bool]] = {
    ">": lambda v, b: v > b,
    ">=": lambda v, b: v >= b,
    "<": lambda v, b: v < b,
    "<=": lambda v, b: v <= b,
}


def _bound(b: float) -> str:
    """A bound as a person writes it: 2**64 rather than its 20 digits."""
    if isinstance(b, int) and b > 2**32 and b & (b - 1) == 0:
        return f"2**{b.bit_length() - 1}"
    return str(b)


def _range(bounds: tuple[Bound, ...]) -> str:
    """[low, high) for a two-sided range written (">=", low, "<", high), else "> 0", ">= 1 and <= 2"."""
    if len(bounds) == 2 and bounds[0][0] in (">", ">=") and bounds[1][0] in ("<", "<="):
        (lo_op, lo), (hi_op, hi) = bounds
        return f"in {'[' if lo_op == '>=' else '('}{_bound(lo)}, {_bound(hi)}{']' if hi_op == '<=' else ')'}"
    return " and ".join(f"{op} {_bound(b)}" for op, b in bounds)


class Interval:
    """A finite real number within bounds, e.g. Interval(">", 0) or Interval(">=", 0, "<", 1) for [0, 1):
    a Python float."""

    def __init__(self, *bounds: str | float) -> None:
        self.bounds = cast("tuple[Bound, ...]", tuple(zip(bounds[::2], bounds[1::2])))

    def kind(self, value: object) -> TypeGuard[numbers.Real]:
        return is_number(value)

    def check(self, name: str, value: object) -> float:
        if not is_number(value):
            raise TypeError(f"{name} must be a number, got {type(value).__name__}")
        value = float(value)
        if not (math.isfinite(value) and all(_TESTS[op](value, b) for op, b in self.bounds)):
            raise ValueError(f"{name} must be {self!r}, got {value}")
        return value

    def __repr__(self) -> str:
        return f"a finite number {_range(self.bounds)}"


class Integer:
    """An int (Python or NumPy, never a bool or a float that happens to be whole) within bounds, e.g.
    Integer(">=", 1) or Integer(">=", 0, "<", 2**64): a Python int."""

    def __init__(self, *bounds: str | int) -> None:
        self.bounds = cast("tuple[Bound, ...]", tuple(zip(bounds[::2], bounds[1::2])))

    def kind(self, value: object) -> TypeGuard[int | np.integer[Any]]:
        return is_integer(value)

    def check(self, name: str, value: object) -> int:
        if not is_integer(value):
            raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
        if not all(_TESTS[op](int(value), b) for op, b in self.bounds):
            raise ValueError(f"{name} must be {self!r}, got {value}")
        return int(value)

    def __repr__(self) -> str:
        where = _range(self.bounds)
        return where if where.startswith("in ") else f"an int {where}"


class Flag:
    """True or False, Python or NumPy (a string such as "no" would read as True and switch something
    silently): a Python bool."""

    def kind(self, value: object) -> TypeGuard[bool | np.bool_]:
        return isinstance(value, (bool, np.bool_))

    def check(self, name: str, value: object) -> bool:
        if not self.kind(value):
            raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
        return bool(value)

    def __repr__(self) -> str:
        return "True or False"


class Options:
    """One of a few strings, e.g. Options("raise", "stop")."""

    def __init__(self, *options: str) -> None:
        self.options = options

    def kind(self, value: object) -> TypeGuard[str]:
        return isinstance(value, str)

    def check(self, name: str, value: object) -> str:
        if not isinstance(value, str):
            raise TypeError(f"{name} must be {self!r}, got {type(value).__name__} {value!r}")
        if value not in self.options:
            raise ValueError(f"{name} must be {self!r}, got {value!r}")
        return value

    def names(self) -> list[str]:
        return [repr(o) for o in self.options]

    def __repr__(self) -> str:
        names = self.names()
        return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


class InstanceOf:
    """An instance of a class (or a tuple of classes), described for the message, e.g.
    InstanceOf(Optimizer, "a fastmlp.optim optimizer (e.g. fastmlp.optim.SGD(lr=0.01))")."""

    def __init__(self, cls: type | tuple[type, ...], description: str) -> None:
        self.cls, self.description = cls, description

    def kind(self, value: object) -> bool:
        return isinstance(value, self.cls)

    def check(self, name: str, value: object) -> object:
        if not self.kind(value):
            raise TypeError(f"{name} must be {self.description}, got {type(value).__name__}")
        return value

    def __repr__(self) -> str:
        return self.description


class Sequence:
    """A tuple or list of `length` items, described for the message (e.g. "a pair (X_val, y_val)"); its
    items are checked where they are used. Returned as a tuple."""

    def __init__(self, length: int, description: str) -> None:
        self.length, self.description = length, description

    def kind(self, value: object) -> TypeGuard[tuple[Any, ...] | list[Any]]:
        return isinstance(value, (tuple, list))

    def check(self, name: str, value: object) -> tuple[Any, ...]:
        if not (self.kind(value) and len(value) == self.length):
            raise TypeError(f"{name} must be {self.description}, got {type(value).__name__}")
        return tuple(value)

    def __repr__(self) -> str:
        return self.description


class Pair:
    """Two numbers, each within `item` (e.g. Adam's betas): a tuple of floats."""

    def __init__(self, item: Constraint) -> None:
        self.item = item

    def kind(self, value: object) -> bool:
        return isinstance(value, (tuple, list, np.ndarray))

    def check(self, name: str, value: Any) -> tuple[Any, Any]:  # Any: unpacked as whatever it is, refused below
        try:
            first, second = value
        except TypeError:
            raise TypeError(f"{name} must be a pair of numbers, got {value!r}") from None
        except ValueError:
            raise ValueError(f"{name} must be a pair of numbers ({name}[0], {name}[1]), got {value!r}") from None
        return (self.item.check(f"{name}[0]", first), self.item.check(f"{name}[1]", second))

    def __repr__(self) -> str:
        return f"a pair, each {self.item!r}"


class Checked:
    """A value judged by a function of its own that raises TypeError / ValueError naming it and returns
    the value converted (e.g. fastmlp.losses.check_loss), described for the messages of AnyOf."""

    def __init__(self, function: Callable[[Any], Any], description: str) -> None:
        self.function, self.description = function, description

    def kind(self, value: object) -> bool:
        return True

    def check(self, name: str, value: object) -> Any:
        return self.function(value)

    def __repr__(self) -> str:
        return self.description


class AnyOf:
    """One of several constraints; None among them means None is allowed, e.g.
    AnyOf(None, Options("max"), Integer(">=", 1)). A value of no alternative's kind is a TypeError, one
    of an alternative's kind that it refuses a ValueError; both list the alternatives. With one
    alternative besides None, that alternative's own errors are raised."""

    def __init__(self, *alternatives: Constraint | None) -> None:
        self.none = None in alternatives
        self.alternatives = tuple(a for a in alternatives if a is not None)

    def kind(self, value: object) -> bool:
        return (value is None and self.none) or any(a.kind(value) for a in self.alternatives)

    def check(self, name: str, value: object) -> Any:
        if value is None and self.none:
            return None
        if len(self.alternatives) == 1:  # X or None: X's own words
            return self.alternatives[0].check(name, value)
        for alternative in self.alternatives:
            if alternative.kind(value):
                try:
                    return alternative.check(name, value)
                except ValueError:  # the right kind, the wrong value: say every other kind there is
                    raise ValueError(f"{name} must be {self!r}, got {value!r}") from None
        raise TypeError(f"{name} must be {self!r}, got {type(value).__name__} {value!r}")

    def __repr__(self) -> str:
        names = [n for a in self.alternatives for n in (a.names() if isinstance(a, Options) else [repr(a)])]
        names += ["None"] if self.none else []
        return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


class Rule:
    """A rule that ties arguments together: `broken(arguments)` -> True when they may not go together,
    and the error to raise then (a ValueError unless `error` says otherwise)."""

    def __init__(
        self,
        broken: Callable[[Mapping[str, Any]], bool],
        message: str | Callable[[Mapping[str, Any]], str],
        error: type[Exception] = ValueError,
    ) -> None:
        self.broken, self.message, self.error = broken, message, error

    def check(self, arguments: Mapping[str, Any]) -> None:
        if self.broken(arguments):
            message = self.message(arguments) if callable(self.message) else self.message
            raise self.error(message)


def check_arguments(
    constraints: Mapping[str, Constraint],
    arguments: Mapping[str, Any],
    rules: Iterable[Rule] = (),
    context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The arguments checked and converted by their constraints (in the table's order; a name without
    one passes as it is), then by the rules (in order), which see `context` beside them; returns the
    converted dict (with the context)."""
    checked = dict(arguments)
    for name, constraint in constraints.items():
        if name in checked:
            checked[name] = constraint.check(name, checked[name])
    checked.update(context or {})
    for rule in rules:
        rule.check(checked)
    return checked


def check_int(value: object, name: str, low: int, high: int) -> int:
    """An int (Python or NumPy, not bool) in [low, high), as a Python int."""
    return Integer(">=", low, "<", high).check(name, value)


def check_dropout(dropout: object, hidden: int) -> list[float]:
    """The dropout rate of each of `hidden` layers, from one rate for all or a list of one per layer:
    numbers (not bool) in [0, 1), as Python floats."""
    if isinstance(dropout, (list, tuple, np.ndarray)):
        rates = list(dropout)
        if len(rates) != hidden:
            raise ValueError(
                f"dropout lists {len(rates)} rates but the network has {hidden} hidden layers: "
                "give one rate for all of them, or one per hidden layer"
            )
    else:
        rates = [dropout] * hidden
        if hidden == 0 and isinstance(dropout, (int, float, np.integer, np.floating)) and dropout > 0:
            raise ValueError(
                f"dropout={dropout!r} applies to hidden layers, and the network has none "
                "(a single dense layer: its outputs are the predictions)"
            )
    out = []
    for p in rates:
        if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer, np.floating)):
            raise TypeError(f"dropout rates must be numbers in [0, 1), got {p!r}")
        if not 0.0 <= float(p) < 1.0:
            raise ValueError(f"dropout rates must be numbers in [0, 1) (1 would drop every output), got {p!r}")
        out.append(float(p))
    return out


def check_bool(value: object, name: str) -> bool:
    """True or False (Python or NumPy), as a Python bool."""
    return Flag().check(name, value)
