"""What MLP checks of the data and names it is given: float arrays in the model's dtype (copied only
when the dtype or layout differs), NaN/Inf refused by row, a DataFrame's or Arrow table's column names,
and lists of column names."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .data import as_array

if TYPE_CHECKING:
    from collections.abc import Iterable

    from numpy.typing import DTypeLike, NDArray

__all__ = ["as_float_array", "column_names", "check_finite", "check_names"]


def as_float_array(a: object, name: str, dtype: DTypeLike) -> NDArray[np.floating[Any]]:
    """Data in: any float array-like (NumPy, or anything with __dlpack__ or __array__: fastmlp.data.as_array)
    converted to the model's dtype, copied only when its dtype or layout differs (a read-only copy is fine
    here); integers, booleans and objects are refused rather than guessed at."""
    arr = as_array(a, name)
    if arr.dtype.kind != "f":
        raise TypeError(
            f"{name} has dtype {arr.dtype}; expected floating-point data "
            f"(convert it, e.g. {name}.astype(numpy.float32))"
        )
    with np.errstate(over="ignore"):  # a float64 value past float32's range becomes Inf: said below
        out = np.ascontiguousarray(arr, dtype=dtype)
    narrowed = out.dtype.itemsize < arr.dtype.itemsize and out.size and not np.isfinite(out).all()
    if narrowed and np.isfinite(arr[~np.isfinite(out.reshape(arr.shape))]).any():
        raise ValueError(
            f"{name} has values outside the range of {np.dtype(dtype).name} (largest "
            f"{np.finfo(dtype).max:.4g}); scale the data, or use dtype='float64'"
        )
    return out


def column_names(x: object) -> list[str] | None:
    """The column names of a DataFrame (pandas, polars) or an Arrow table, as strings; None for arrays."""
    if isinstance(x, np.ndarray):
        return None
    names = getattr(x, "column_names", None)  # pyarrow.Table
    if names is None:
        columns = getattr(x, "columns", None)  # pandas, polars
        if columns is None or isinstance(columns, (str, bytes)) or not hasattr(columns, "__iter__"):
            return None
        names = list(columns)
    return [str(n) for n in names]


def check_finite(a: NDArray[np.floating[Any]], name: str) -> None:
    if not np.isfinite(a).all():
        bad = int(np.flatnonzero(~np.isfinite(a.ravel()))[0])
        kind = "NaN" if np.isnan(a.ravel()[bad]) else "Inf"
        raise ValueError(
            f"{name} contains {kind} (first at row {bad // max(a.shape[1], 1)}); "
            f"remove or impute non-finite values first"
        )


def check_names(names: Iterable[str] | None, width: int, what: str) -> list[str] | None:
    """None, or `width` distinct non-empty str (column names), as a list."""
    if names is None:
        return None
    given = names
    try:
        names = None if isinstance(names, str) else list(names)
    except TypeError:
        names = None
    if names is None or not all(isinstance(n, str) for n in names):
        raise TypeError(f"{what} must be a list of str (or None), got {given!r}")
    if len(names) != width:
        raise ValueError(f"{what} must name {width} column(s), got {len(names)}: {names}")
    if any(not n for n in names):
        raise ValueError(f"{what} holds an empty name: {names}")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"{what} names a column more than once: {', '.join(map(repr, dup))}")
    return names
