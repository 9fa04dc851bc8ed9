"""Tables as people have them: columns of numbers, text and categories, with missing cells, turned into
the float matrix a network takes, the same way at training and at prediction time.

`read_columns` reads a file (CSV, Parquet, Feather/Arrow, .npy/.npz) or takes an in-memory table (a
pandas or polars DataFrame, a pyarrow Table, a dict of columns) as a `Columns`: each column a float64
array (NaN where a cell is missing) or an object array of str (None where missing), and whether the
source marked it categorical (an Arrow dictionary of text, a pandas category). A column of other values
(dates, lists) is kept by name only and refused if a model or the targets need it.

`Preprocessor` is fitted once on the training rows and stored in the model (saved in its file):

- which columns are features: all but the targets, or those `features` names, less those `drop` names
  (names or shell-style globs, e.g. "id*");
- a categorical column (text, a dictionary of text or a pandas category, or one named by `categorical`) is one-hot
  encoded with the categories seen in training, sorted, one output column "name=category" each, as
  scikit-learn's OneHotEncoder(handle_unknown="ignore"): a category not seen in training gives all
  zeros, and transform counts such cells in a warning;
- a missing cell is refused with a ValueError naming the column, unless `impute` says how to fill it:
  "mean", "median", "most_frequent" (ties: the smallest value) or "constant" (fill_value, default 0
  for numbers and "missing" for categories), the statistics taken on the training rows as
  scikit-learn's SimpleImputer does. A categorical column under "mean" or "median" takes its most
  frequent category.

Numeric columns pass through as they are (standardizing them is the model's own step, see
MLP.set_standardization), in the order of the table.
"""

from __future__ import annotations

import fnmatch
import json
import math
import warnings
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, SupportsFloat, TypeVar, cast

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ._columns import MISSING_TEXT, Columns, read_columns

if TYPE_CHECKING:
    from .distributed import Collective, SingleProcess

_T = TypeVar("_T")

__all__ = ["Columns", "Preprocessor", "read_columns", "MISSING_TEXT", "IMPUTE_STRATEGIES"]

#: The ways Preprocessor(impute=...) fills a missing cell.
#:
#: "mean", "median", "most_frequent" and "constant" (see the module text).
IMPUTE_STRATEGIES: tuple[str, ...] = ("mean", "median", "most_frequent", "constant")
# A categorical column with more categories than this is refused: one-hot would add that many inputs
# (an identifier or free-text column, which belongs in --drop).
MAX_CATEGORIES = 1000


def _matching(patterns: Iterable[str], names: Sequence[str], what: str) -> list[str]:
    """The names matching any of `patterns` (names or globs), in the table's order; a pattern that
    matches nothing is refused (a typo would otherwise be ignored)."""
    chosen: set[str] = set()
    for p in patterns:
        hits = [n for n in names if n == p or fnmatch.fnmatchcase(n, p)]
        if not hits:
            raise ValueError(f"{what} {p!r} matches no column; the columns are: {', '.join(names)}")
        chosen.update(hits)
    return [n for n in names if n in chosen]


def _split_names(value: str | Iterable[object] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _missing(column: NDArray[Any]) -> NDArray[np.bool_]:
    return np.array([c is None for c in column]) if column.dtype == object else np.isnan(column)


def _category_key(value: str | SupportsFloat) -> str | float:
    return value if isinstance(value, str) else float(value)


def _order(value: str | float) -> tuple[bool, str | float]:
    """Sort key of categories: numbers before text, each in its own order (OneHotEncoder sorts them)."""
    return (isinstance(value, str), value)


def label(value: str | SupportsFloat) -> str:
    """How a category or class label appears in a name or an output: text as it is, a whole number
    without its ".0" (3.0 -> "3", 1234567.0 -> "1234567"), any other number as repr gives it (all
    its digits, so that two labels never print alike)."""
    if isinstance(value, str):
        return value
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


class Preprocessor:
    """A table's columns -> the network's input matrix, the same way at training and prediction time.

    Fit with `fit(table, targets)`, apply with `transform(table)`; `to_dict`/`from_dict` give the JSON a
    model file stores. The module text says how columns are chosen, encoded and filled.

    Parameters
    ----------
    features : str or list of str, optional
        The feature columns: names or shell-style globs (a str may list several, separated by
        commas); default all but the targets.
    drop : str or list of str, optional
        Columns (names or globs) left out of the features.
    categorical : str or list of str, optional
        Columns (names or globs) to one-hot encode besides those the source marks categorical and
        those of text.
    impute : {"mean", "median", "most_frequent", "constant"}, optional
        How to fill missing cells; None refuses them.
    fill_value : str or float, optional
        The value of impute="constant" (default 0 for numbers and "missing" for categories).

    Attributes
    ----------
    columns : list of dict or None
        After fit, one entry per input column: "name", "kind" ("numeric" or "categorical"), "fill"
        (the fill value or None), "categories" (sorted, or None) and "missing_in_training".
    targets : list of str
        The target columns a model file records.
    classes : list or None
        A classifier's labels (str or float), or None.

    Raises
    ------
    ValueError
        If impute is not one of IMPUTE_STRATEGIES or None.

    See Also
    --------
    fastmlp.MLP.preprocessing : A model's Preprocessor, applied by fit, predict and evaluate.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp.tables import Preprocessor
    >>> table = {"age": [30.0, np.nan, 50.0, 40.0], "city": ["Oslo", "Rome", None, "Oslo"],
    ...          "price": [1.0, 2.0, 3.0, 4.0]}
    >>> prep = Preprocessor(impute="most_frequent").fit(table, targets=["price"])
    >>> prep
    Preprocessor(2 columns -> 3 features, one-hot: city, impute most_frequent)
    >>> prep.feature_names
    ['age', 'city=Oslo', 'city=Rome']
    >>> prep.transform(table)
    array([[30.,  1.,  0.],
           [30.,  0.,  1.],
           [50.,  1.,  0.],
           [40.,  1.,  0.]])
    """

    def __init__(
        self,
        features: str | Iterable[str] | None = None,
        drop: str | Iterable[str] | None = None,
        categorical: str | Iterable[str] | None = None,
        impute: str | None = None,
        fill_value: str | float | None = None,
    ) -> None:
        self.features, self.drop = _split_names(features), _split_names(drop)
        self.categorical = _split_names(categorical)
        if impute is not None and impute not in IMPUTE_STRATEGIES:
            raise ValueError(f"impute must be one of {', '.join(IMPUTE_STRATEGIES)} (or None), got {impute!r}")
        self.impute, self.fill_value = impute, fill_value
        self.columns: list[dict[str, Any]] | None = (
            None  # after fit: [{"name", "kind": "numeric"|"categorical", "fill", "categories"}]
        )
        self.targets: list[str] = []
        self.classes: list[str | float] | None = None  # the target columns; a classifier's labels (str or float)

    @classmethod
    def numeric(cls, names: Iterable[str]) -> Preprocessor:
        """A fitted Preprocessor that takes numeric columns as they are (no fill values).

        Parameters
        ----------
        names : list of str
            The columns, in order.

        Returns
        -------
        Preprocessor
            The fitted Preprocessor.

        Examples
        --------
        >>> from fastmlp.tables import Preprocessor
        >>> prep = Preprocessor.numeric(["a", "b"])
        >>> prep.transform({"b": [2.0], "a": [1.0]})
        array([[1., 2.]])
        """
        p = cls()
        p.columns = [
            {"name": n, "kind": "numeric", "fill": None, "categories": None, "missing_in_training": 0} for n in names
        ]
        return p

    # ---- fitting ---------------------------------------------------------------------------------------
    def fit(
        self, table: object, targets: Iterable[str] = (), dist: SingleProcess | Collective | None = None
    ) -> Preprocessor:
        """Learn the columns, categories and fill values from a table, less its target columns.

        Parameters
        ----------
        table : Columns or str or os.PathLike or table
            Columns, or anything read_columns takes (a file's path, a DataFrame, an Arrow table, a
            dict of columns).
        targets : iterable of str, default ()
            The target columns, never features.
        dist : object, optional
            Data parallel, the run's collective (fastmlp.distributed): every rank passes its rows and
            all learn the same statistics.

        Returns
        -------
        Preprocessor
            self.

        Raises
        ------
        ValueError
            If features/drop name a target, a pattern matches no column, no feature column is left, a
            column holds numbers in some cells and text in others (unless named categorical), holds
            values of another type, is all missing under impute, has more than 1000 categories, or
            holds a non-finite number; if fill_value is not a number for a numeric column.

        Examples
        --------
        >>> from fastmlp.tables import Preprocessor
        >>> prep = Preprocessor(drop="id*").fit({"id": [1, 2], "x": [0.5, 1.5], "y": [0, 1]}, targets=["y"])
        >>> prep.input_columns
        ['x']
        """
        from .distributed import SingleProcess

        dist = dist or SingleProcess()
        table = table if isinstance(table, Columns) else read_columns(table)
        targets = list(targets)
        names = [n for n in table.names if n not in targets]
        named_targets = [t for t in targets if t in self.features + self.drop]
        if named_targets:
            raise ValueError(
                f"--features/--drop name the target column {named_targets[0]!r}; a target is never a "
                f"feature, so leave it out of them"
            )
        chosen = _matching(self.features, names, "--features/features") if self.features else names
        if self.drop:
            dropped = set(_matching(self.drop, names, "--drop/drop"))
            chosen = [n for n in chosen if n not in dropped]
        if not chosen:
            raise ValueError(
                f"{table.where}: no feature columns are left (targets {targets}, features "
                f"{self.features or 'all'}, drop {self.drop or 'none'})"
            )
        table.require(chosen)
        named_categorical = (
            set(_matching(self.categorical, names, "--categorical/categorical")) if self.categorical else set()
        )
        # This rank's part first (checks and local summaries), then, once every rank is known to have
        # got that far, the collectives that combine them: a rank that fails must not leave the others
        # waiting in a collective it never reaches.
        error: ValueError | None = None
        local: list[dict[str, Any]] = []
        try:
            for name in chosen:
                column = table[name]
                if column.dtype == object and name not in table.categorical and name not in named_categorical:
                    _refuse_mixed(table, name, column)
                categorical = column.dtype == object or name in table.categorical or name in named_categorical
                local.append(self._local_summary(name, column, categorical, table.where))
        except ValueError as e:
            error = e
        dist.agree(error)
        # The ranks' kinds of each column must agree before the collectives that combine them, which
        # differ by kind (a column of numbers on one rank's rows and of text on another's).
        kinds = dist.allgather([(s["kind"], s["_present"].dtype == object) for s in local])
        for i, spec in enumerate(local):
            seen = {tuple(k[i]) for k in kinds}
            if len(seen) > 1:
                raise ValueError(
                    f"{table.where}, column {spec['name']!r}: holds numbers in some rows and text in "
                    f"others; fix the text cells, or name the column in --categorical"
                )
        self.columns = [self._combine(spec, dist, table.where) for spec in local]
        return self

    def _local_summary(self, name: str, column: NDArray[Any], categorical: bool, where: str) -> dict[str, Any]:
        """A column's spec and this rank's summary of it (present values, category counts)."""
        missing = _missing(column)
        present = column[~missing]
        spec: dict[str, Any] = {
            "name": name,
            "kind": "categorical" if categorical else "numeric",
            "fill": None,
            "categories": None,
            "_missing": int(missing.sum()),
        }
        if present.dtype != object:
            bad = present[~np.isfinite(present)]
            if bad.size:
                raise ValueError(f"{where}, column {name!r}: {bad[0]} is not a finite number")
        elif not categorical:
            raise ValueError(f"{where}, column {name!r}: holds text but is not categorical")
        if categorical:
            counts: dict[str | float, int] = {}
            for v in present:
                k = _category_key(v)
                counts[k] = counts.get(k, 0) + 1
            spec["_counts"] = sorted(counts.items(), key=lambda kv: _order(kv[0]))
        spec["_present"] = present
        return spec

    def _combine(self, spec: dict[str, Any], dist: SingleProcess | Collective, where: str) -> dict[str, Any]:
        present = spec.pop("_present")
        n_missing = int(dist.sum([float(spec.pop("_missing"))])[0])
        counts: dict[str | float, int] | None = None
        if spec["kind"] == "categorical":
            counts = {}
            for part in dist.allgather(spec.pop("_counts")):
                for k, c in part:
                    counts[k] = counts.get(k, 0) + c
            found = sorted(counts, key=_order)
            if len({isinstance(v, str) for v in found}) > 1:
                raise ValueError(
                    f"{where}, column {spec['name']!r}: mixes text and numbers; a categorical column holds one kind"
                )
            if len(found) > MAX_CATEGORIES:
                raise ValueError(
                    f"{where}, column {spec['name']!r}: {len(found)} distinct values, more than the "
                    f"{MAX_CATEGORIES} categories one-hot encoding takes; it looks like an identifier or "
                    f"free text: leave it out with --drop {spec['name']} (drop=[{spec['name']!r}])"
                )
            spec["categories"] = found
        if self.impute is not None:
            spec["fill"] = self._statistic(spec, present, counts, dist, where)
            if spec["kind"] == "categorical" and n_missing and spec["fill"] not in spec["categories"]:
                # As SimpleImputer then OneHotEncoder: the fill value is a category of the filled column.
                spec["categories"] = sorted([*spec["categories"], spec["fill"]], key=_order)
        spec["missing_in_training"] = n_missing
        return spec

    def _statistic(
        self,
        spec: dict[str, Any],
        present: NDArray[Any],
        counts: dict[str | float, int] | None,
        dist: SingleProcess | Collective,
        where: str,
    ) -> str | float:
        """The fill value of a column: SimpleImputer's statistic on every rank's training rows."""
        strategy = self.impute
        categorical = spec["kind"] == "categorical"
        empty = (
            f"{where}, column {spec['name']!r}: every cell is missing; there is nothing to impute from (leave "
            f"the column out with --drop {spec['name']})"
        )
        if strategy == "constant":
            value = self.fill_value
            if value is None:
                return (
                    "missing"
                    if categorical and (not spec["categories"] or isinstance(spec["categories"][0], str))
                    else 0.0
                )
            if categorical and spec["categories"] and isinstance(spec["categories"][0], str):
                return str(value)
            try:
                return float(value)
            except (TypeError, ValueError):
                raise ValueError(
                    f"fill_value {value!r} is not a number, but column {spec['name']!r} holds numbers"
                ) from None
        if categorical and strategy in ("mean", "median"):
            strategy = "most_frequent"
        if strategy == "mean":
            total, count = dist.sum([float(present.sum()), float(present.size)])
            if count == 0:
                raise ValueError(empty)
            return float(total / count)
        if strategy == "median":
            values = np.concatenate([np.asarray(v, np.float64) for v in dist.allgather(present.astype(np.float64))])
            if values.size == 0:
                raise ValueError(empty)
            return float(np.median(values))
        if counts is None:  # most_frequent of a numeric column
            counts = {}
            values, c = np.unique(present.astype(np.float64), return_counts=True)
            for part in dist.allgather(list(zip(values.tolist(), c.tolist()))):
                for k, m in part:
                    counts[k] = counts.get(k, 0) + m
        if not counts:
            raise ValueError(empty)
        top = max(counts.values())
        return sorted((k for k, m in counts.items() if m == top), key=_order)[0]

    # ---- applying ----------------------------------------------------------------------------------------
    def _fitted(self) -> list[dict[str, Any]]:
        if self.columns is None:
            raise RuntimeError("this Preprocessor is not fitted: call fit(table) first")
        return self.columns

    @property
    def input_columns(self) -> list[str]:
        """The table columns the model reads, in order (a list of str; needs a fitted Preprocessor)."""
        return [c["name"] for c in self._fitted()]

    @property
    def feature_names(self) -> list[str]:
        """The network's inputs (a list of str): a numeric column's name, "name=category" per one-hot column."""
        out: list[str] = []
        for c in self._fitted():
            out.extend([c["name"]] if c["kind"] == "numeric" else [f"{c['name']}={label(v)}" for v in c["categories"]])
        return out

    @property
    def n_features(self) -> int:
        """The number of the network's inputs, ``len(feature_names)``."""
        return len(self.feature_names)

    @property
    def encodes(self) -> bool:
        """Whether transform does more than pick columns (one-hot or fill values)."""
        return any(c["kind"] == "categorical" or c["fill"] is not None for c in self._fitted())

    def transform(self, table: object, dtype: DTypeLike = np.float64) -> NDArray[Any]:
        """The input matrix for a table with (at least) the input columns.

        Other columns are ignored whatever their type. Unknown categories give zeros and a warning
        counting them. Numbers stored as text in a numeric column are read as numbers.

        Parameters
        ----------
        table : Columns or str or os.PathLike or table
            Columns, or anything read_columns takes.
        dtype : numpy.dtype, default numpy.float64
            The dtype of the matrix.

        Returns
        -------
        numpy.ndarray of shape (rows, n_features)
            The encoded inputs.

        Raises
        ------
        RuntimeError
            If the Preprocessor is not fitted.
        ValueError
            For a table that lacks an input column; a missing cell without a fill value, text in a
            numeric column or a non-finite number, each refused by column.

        Warns
        -----
        UnknownCategoryWarning
            When a categorical column holds categories not seen in training (a UserWarning).

        Examples
        --------
        >>> import warnings
        >>> from fastmlp.tables import Preprocessor
        >>> prep = Preprocessor().fit({"city": ["Oslo", "Rome"], "y": [1.0, 2.0]}, targets=["y"])
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     prep.transform({"city": ["Rome", "Paris"]})
        array([[0., 1.],
               [0., 0.]])
        """
        specs = self._fitted()
        table = table if isinstance(table, Columns) else read_columns(table)
        lacking = [c["name"] for c in specs if c["name"] not in table.names]
        if lacking:
            raise ValueError(
                f"{table.where} lacks the model's column(s) {', '.join(map(repr, lacking))}; it has: "
                f"{', '.join(table.names)}"
            )
        table.require([c["name"] for c in specs])
        n = table.rows
        out = np.zeros((n, self.n_features), dtype=dtype)
        at = 0
        unknown: dict[str, int] = {}
        row: int | None  # a row to name in a message (None: none found)
        for spec in specs:
            name, column = spec["name"], table[spec["name"]]
            missing = _missing(column)
            if missing.any() and spec["fill"] is None:
                row = int(np.flatnonzero(missing)[0])
                raise ValueError(
                    f"{table.where}, {table.locate(row)}, column {name!r}: {int(missing.sum())} missing "
                    f"cell(s) (empty, NA, NaN, ...: not a finite number); fill them with --impute "
                    f"mean|median|most_frequent|constant (impute=...), or leave the column out with --drop"
                )
            if spec["kind"] == "numeric":
                if column.dtype == object:  # text: numbers stored as text are read as numbers
                    row = next((i for i, c in enumerate(column) if c is not None and _numeric_key(c) is c), None)
                    if row is not None:
                        raise ValueError(
                            f"{table.where}, {table.locate(row)}, column {name!r}: {_short(column[row])} "
                            f"is not a number, but the model was trained on numbers in this column"
                        )
                    column = np.array([np.nan if m else _numeric_key(c) for c, m in zip(column, missing)])
                values = np.where(missing, spec["fill"] if spec["fill"] is not None else 0.0, column)
                if not np.isfinite(values).all():
                    row = int(np.flatnonzero(~np.isfinite(values))[0])
                    raise ValueError(
                        f"{table.where}, {table.locate(row)}, column {name!r}: {values[row]} is not a finite number"
                    )
                out[:, at] = values
                at += 1
                continue
            categories = spec["categories"]
            index = {_category_key(v): i for i, v in enumerate(categories)}
            text = isinstance(categories[0], str) if categories else column.dtype == object
            # Text categories that read as numbers ("1", "02134") also match a number, as a table whose
            # cells are all numbers is read (a CSV's 02134 arrives as 2134.0).
            as_number = {
                _numeric_key(v): i for i, v in enumerate(categories) if text and not isinstance(_numeric_key(v), str)
            }
            count = 0
            for row, (cell, m) in enumerate(zip(column, missing)):
                value = spec["fill"] if m else cell
                if text and not isinstance(value, str):
                    i = as_number.get(float(value))
                else:
                    i = index.get(str(value) if text else _numeric_key(value))
                if i is None:
                    count += 1
                else:
                    out[row, at + i] = 1.0
            if count:
                unknown[name] = count
            at += len(categories)
        if unknown:
            said = ", ".join(f"{k!r} {v}" for k, v in unknown.items())
            warnings.warn(
                f"{table.where}: categories not seen in training, encoded as all zeros (cells per column): {said}",
                UnknownCategoryWarning,
                stacklevel=2,
            )
        return out

    # ---- storage -------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The fitted Preprocessor as a JSON-compatible dict, as a model file stores it.

        Returns
        -------
        dict
            Its settings ("features", "drop", "categorical", "impute", "fill_value"), "columns",
            "targets" and "classes".

        Raises
        ------
        RuntimeError
            If the Preprocessor is not fitted.
        """
        return {
            "features": self.features,
            "drop": self.drop,
            "categorical": self.categorical,
            "impute": self.impute,
            "fill_value": self.fill_value,
            "columns": self._fitted(),
            "targets": self.targets,
            "classes": self.classes,
        }

    def to_json(self) -> str:
        """The fitted Preprocessor as JSON text (`to_dict`, serialized).

        Returns
        -------
        str
            The JSON.

        Raises
        ------
        RuntimeError
            If the Preprocessor is not fitted.
        """
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessor:
        """The Preprocessor a model file stored, each entry checked.

        Parameters
        ----------
        d : dict
            What to_dict gave.

        Returns
        -------
        Preprocessor
            The fitted Preprocessor.

        Raises
        ------
        ValueError
            For a malformed entry: a crafted file gets a ValueError that says which entry, never a crash
            or a silently different encoding.

        Examples
        --------
        >>> from fastmlp.tables import Preprocessor
        >>> prep = Preprocessor().fit({"city": ["Oslo", "Rome"], "y": [1.0, 2.0]}, targets=["y"])
        >>> Preprocessor.from_dict(prep.to_dict()).feature_names
        ['city=Oslo', 'city=Rome']
        """
        try:
            if not isinstance(d, dict) or not isinstance(d.get("columns"), list):
                raise ValueError("no list of columns")
            p = cls(d.get("features"), d.get("drop"), d.get("categorical"), d.get("impute"), d.get("fill_value"))
            columns: list[dict[str, Any]] = []
            for c in d["columns"]:
                if (
                    not isinstance(c, dict)
                    or c.get("kind") not in ("numeric", "categorical")
                    or not isinstance(c.get("name"), str)
                ):
                    raise ValueError(f"column entry {str(c)[:80]}")
                kind, name = c["kind"], c["name"]
                cats, fill = c.get("categories"), c.get("fill")
                if kind == "categorical":
                    cats = _stored_labels(cats, f"the categories of {name!r}")
                    if fill is not None and (
                        isinstance(fill, bool)
                        or not isinstance(fill, (str, int, float))
                        or isinstance(fill, str) != isinstance(cats[0], str)
                    ):
                        raise ValueError(f"the fill value of {name!r} is {str(fill)[:40]}, not one of its kind")
                    fill = fill if fill is None or isinstance(fill, str) else _finite(fill, f"the fill of {name!r}")
                else:
                    cats = None
                    fill = None if fill is None else _finite(fill, f"the fill of {name!r}")
                missed = c.get("missing_in_training", 0)
                if isinstance(missed, bool) or not isinstance(missed, int) or missed < 0:
                    raise ValueError(f"missing_in_training of {name!r}")
                columns.append(
                    {"name": name, "kind": kind, "fill": fill, "categories": cats, "missing_in_training": missed}
                )
            if not columns or len({c["name"] for c in columns}) != len(columns):
                raise ValueError("no columns, or a column named twice")
            p.columns = columns
            targets = d.get("targets") or []
            if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
                raise ValueError("targets")
            p.targets = targets
            classes = d.get("classes")
            if classes is not None:
                classes = _stored_labels(classes, "the classes")
                if len(targets) != 1:
                    raise ValueError("classes without one target column")
            p.classes = classes
            return p
        except (KeyError, TypeError, AttributeError, ValueError, OverflowError) as e:
            raise ValueError(f"malformed preprocessing entry ({e})") from None

    def __repr__(self) -> str:
        if self.columns is None:
            return "Preprocessor(not fitted)"
        cats = [c["name"] for c in self.columns if c["kind"] == "categorical"]
        return (
            f"Preprocessor({len(self.columns)} columns -> {self.n_features} features"
            f"{', one-hot: ' + ', '.join(cats) if cats else ''}{', impute ' + self.impute if self.impute else ''})"
        )


def _short(cell: str, most: int = 40) -> str:
    """A cell for a message: its repr, cut to `most` characters (a 131 kB cell stays a short line)."""
    text = repr(cell)
    return text if len(text) <= most else f"{text[:most]}... ({len(cell)} characters)"


def _refuse_mixed(table: Columns, name: str, column: NDArray[Any]) -> None:
    """A text column some of whose cells are numbers is most often a numeric column with a bad cell (a
    typo, a marker such as '?'): refused rather than guessed at, naming the first cell that is not a
    number; categories that look like numbers are named in --categorical."""
    present = [(i, c) for i, c in enumerate(column) if c is not None]
    numbers = [_numeric_key(c) is not c for _, c in present]
    if any(numbers) and not all(numbers):  # all of them: text the source typed so (codes such as "02134")
        row, cell = next((i, c) for (i, c), n in zip(present, numbers) if not n)
        raise ValueError(
            f"{table.where}, {table.locate(row)}, column {name!r}: {_short(cell)} is not a number, but "
            f"other cells of the column are; fix or empty the cell (see --impute), or name the column "
            f"in --categorical (categorical=) to take every value as a category"
        )


def _finite(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise ValueError(f"{what} is {str(value)[:40]}, not a finite number")
    return float(value)


def _stored_labels(values: object, what: str) -> list[str | float]:
    """Categories or class labels read from a model file: a non-empty list of one kind (text, or finite
    numbers; no booleans), distinct and in the order fit sorts them."""
    if not isinstance(values, list) or not values:
        raise ValueError(f"{what} are not a non-empty list")
    out: list[str | float]
    if all(isinstance(v, str) for v in values):
        out = list(values)
    else:
        out = [_finite(v, what) for v in values]
    if out != sorted(set(out), key=_order):
        raise ValueError(f"{what} are not distinct and sorted")
    return out


def _numeric_key(value: _T) -> float | _T:
    if isinstance(value, str) and "_" in value:
        return value
    try:
        return float(cast(Any, value))  # whatever float() takes; it refuses the rest
    except (TypeError, ValueError):
        return value


class UnknownCategoryWarning(UserWarning):
    """transform met categories not seen in training (encoded as all zeros)."""
