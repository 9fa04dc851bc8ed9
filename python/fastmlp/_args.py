"""Checks of scalar arguments shared by the Python API: each returns the plain Python value or raises an
error that names the argument and what it expected."""

from __future__ import annotations

import numpy as np


def check_int(value, name, low, high):
    """An int (Python or NumPy, not bool) in [low, high), as a Python int."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if not low <= int(value) < high:
        top = f"2**{high.bit_length() - 1}" if high > 2**32 and high & (high - 1) == 0 else str(high)
        raise ValueError(f"{name} must be in [{low}, {top}), got {value}")
    return int(value)


def check_bool(value, name):
    """True or False (Python or NumPy): a string such as "no" would otherwise read as True."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)
