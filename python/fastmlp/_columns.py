"""Reading tables as named columns, as files and DataFrames have them: numbers (float64, NaN where a
cell is missing), text (object arrays of str, None where missing), which columns the source marks
categorical, and the columns of other types, kept by name only. fastmlp.tables builds its
Preprocessor on these; `read_columns` is exported there."""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["Columns", "read_columns", "MISSING_TEXT"]

#: The cells a CSV file means as missing.
#:
#: A frozenset of str: pandas.read_csv's default na_values, "" included.
MISSING_TEXT: frozenset[str] = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)


class Columns:
    """A table as named columns.

    Parameters
    ----------
    names : iterable of str
        The column names, each once.
    data : iterable of numpy.ndarray
        One 1-D array per column: float64 with NaN for a missing cell, or object holding str and None.
    categorical : iterable of str, default ()
        The names of the columns the source marked categorical.
    where : str, default "the table"
        The file's name, for messages.
    lines : numpy.ndarray, optional
        A CSV file's line number of each row, for messages.

    Attributes
    ----------
    names : list of str
        The column names.
    data : list of numpy.ndarray
        The columns.
    categorical : set of str
        The columns the source marked categorical.
    where : str
        The file's name, for messages.
    lines : numpy.ndarray or None
        A CSV file's line number of each row, else None.
    unsupported : dict of str to str
        Name -> type of the columns that hold neither numbers nor text (lists, dates), kept by name only.

    Raises
    ------
    ValueError
        If a column name appears twice.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp.tables import Columns
    >>> table = Columns(["x", "city"], [np.array([1.0, np.nan]), np.array(["Oslo", None], dtype=object)])
    >>> table.rows, table.is_text("city")
    (2, True)
    >>> table["x"]
    array([ 1., nan])
    """

    def __init__(
        self,
        names: Iterable[str],
        data: Iterable[NDArray[Any]],
        categorical: Iterable[str] = (),
        where: str = "the table",
        lines: NDArray[np.integer[Any]] | None = None,
    ) -> None:
        self.names, self.data, self.categorical, self.where = list(names), list(data), set(categorical), where
        self.lines: NDArray[np.integer[Any]] | None = (
            lines  # a CSV file's line number of each row (for messages), else None
        )
        self.unsupported: dict[
            str, str
        ] = {}  # name -> type of the columns that hold neither numbers nor text (lists, dates)
        seen: dict[str, int] = {}
        for i, name in enumerate(self.names):
            if name in seen:
                raise ValueError(
                    f"{where}: the column name {name!r} appears twice (columns {seen[name] + 1} and "
                    f"{i + 1}); rename one so that each column is known by its name"
                )
            seen[name] = i

    @property
    def rows(self) -> int:
        """The number of rows (0 for a table without columns)."""
        return len(self.data[0]) if self.data else 0

    def __getitem__(self, name: str) -> NDArray[Any]:
        return self.data[self.names.index(name)]

    def is_text(self, name: str) -> bool:
        """Whether a column holds text (an object array).

        Parameters
        ----------
        name : str
            The column.

        Returns
        -------
        bool
            True for a text column.

        Raises
        ------
        ValueError
            If there is no such column.
        """
        return self[name].dtype == object

    def take(self, rows: NDArray[np.integer[Any]] | NDArray[np.bool_] | Sequence[int]) -> Columns:
        """The same columns at some rows.

        Parameters
        ----------
        rows : array_like
            An index array or a boolean mask.

        Returns
        -------
        Columns
            A new table of those rows.
        """
        out = Columns(
            self.names,
            [c[rows] for c in self.data],
            self.categorical,
            self.where,
            None if self.lines is None else self.lines[rows],
        )
        out.unsupported = self.unsupported
        return out

    def require(self, names: Iterable[str]) -> None:
        """Refuse, by name, the columns among `names` that hold neither numbers nor text.

        Parameters
        ----------
        names : iterable of str
            The columns that will be read.

        Raises
        ------
        ValueError
            Naming the first such column and its type.
        """
        bad = [n for n in names if n in self.unsupported]
        if bad:
            raise ValueError(
                f"{self.where}, column {bad[0]!r}: holds {self.unsupported[bad[0]]}, neither numbers "
                f"nor text alone; convert it, or leave it out with --drop {bad[0]} (drop=[{bad[0]!r}])"
            )

    def locate(self, row: int) -> str:
        """Where a row is, in words, for messages.

        Parameters
        ----------
        row : int
            The 0-based row.

        Returns
        -------
        str
            "line 4 (data row 3)" in a CSV file, else "data row 3".
        """
        return f"line {self.lines[row]} (data row {row + 1})" if self.lines is not None else f"data row {row + 1}"


def _text_column(cells: Iterable[str]) -> NDArray[Any]:
    """Cells of a CSV column (str) -> float64 (NaN for missing) if every present cell is a number, else
    an object array of str with None for missing."""
    present = [c.strip() for c in cells]
    missing = [c in MISSING_TEXT for c in present]
    values = np.full(len(present), np.nan)
    try:
        for i, (c, m) in enumerate(zip(present, missing)):
            if not m:
                if "_" in c:  # float() takes "1_000"; a table's reader (pandas, Arrow) does not
                    raise ValueError(c)
                values[i] = float(c)
        return values
    except ValueError:
        return np.array([None if m else c for c, m in zip(present, missing)], dtype=object)


def _read_csv_columns(path: str | os.PathLike[str], where: str) -> Columns:
    from .data import read_csv

    try:  # a table of numbers only: the fast reader
        names, values = read_csv(path)
        return Columns(names, [values[:, j].copy() for j in range(values.shape[1])], where=where)
    except ValueError as e:
        if "not UTF-8" in str(e) or "appears twice" in str(e):
            raise
    with open(path, "rb") as f:
        text = f.read().decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        for r in reader:
            if any(c.strip() for c in r):  # blank lines are not rows
                rows.append(r)
                lines.append(reader.line_num)
    except csv.Error as e:  # a cell past the csv module's field limit (128 KiB), a stray quote
        raise ValueError(f"{where}, line {max(reader.line_num, 1)}: {e}") from None
    if not rows:
        raise ValueError(f"{where} is empty: a CSV file needs a header row")
    header = [h.strip() for h in rows[0]]
    body = rows[1:]
    for r, line in zip(body, lines[1:]):
        if len(r) != len(header):
            raise ValueError(f"{where}, line {line}: {len(r)} cells, but the header names {len(header)} columns")
    return Columns(
        header,
        [_text_column([r[j] for r in body]) for j in range(len(header))],
        where=where,
        lines=np.array(lines[1:], dtype=np.int64),
    )


def _arrow_columns(table: pa.Table, where: str) -> Columns:
    import pyarrow as pa

    names = [str(n) for n in table.column_names]
    data: list[NDArray[Any]] = []
    categorical: set[str] = set()
    unsupported: dict[str, str] = {}
    for name, column in zip(names, table.columns):
        kind = column.type
        if pa.types.is_dictionary(kind):
            column = column.cast(kind.value_type)
            if not (pa.types.is_integer(kind.value_type) or pa.types.is_floating(kind.value_type)):
                categorical.add(name)  # a dictionary of text: categories (numbers stored so are numbers)
            kind = column.type
        if (
            pa.types.is_integer(kind)
            or pa.types.is_floating(kind)
            or pa.types.is_boolean(kind)
            or pa.types.is_decimal(kind)
        ):
            values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
            data.append(
                np.where(column.is_null().to_numpy(zero_copy_only=False), np.nan, values)
                if column.null_count
                else np.asarray(values, np.float64)
            )
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            data.append(np.array(column.to_pylist(), dtype=object))
        else:  # kept by name only: refused if a model or the targets need it (an unused one is no matter)
            unsupported[name] = str(kind)
            data.append(np.full(len(column), None, dtype=object))
    table = Columns(names, data, categorical, where)
    table.unsupported = unsupported
    return table


def _frame_columns(frame: Any, where: str) -> Columns:
    """A pandas (or polars, through Arrow) DataFrame, a pyarrow Table, or a dict of 1-D columns."""
    if hasattr(frame, "column_names") and hasattr(frame, "schema"):  # pyarrow.Table
        return _arrow_columns(frame, where)
    names: list[str]
    data: list[NDArray[Any]]
    categorical: set[str]
    if isinstance(frame, dict):
        names, data = [str(k) for k in frame], [np.asarray(v) for v in frame.values()]
        categorical = set()
    elif hasattr(frame, "dtypes") and hasattr(frame, "columns") and hasattr(frame, "iloc"):  # pandas
        names = [str(c) for c in frame.columns]
        data, categorical = [], set()
        for name, c in zip(names, frame.columns):
            s = frame[c]
            if str(s.dtype) == "category":
                categorical.add(name)
                s = s.astype(object)
            if s.dtype.kind in "biuf" or str(s.dtype) in (
                "Int8",
                "Int16",
                "Int32",
                "Int64",
                "UInt8",
                "UInt16",
                "UInt32",
                "UInt64",
                "Float32",
                "Float64",
                "boolean",
            ):
                data.append(s.to_numpy(dtype=np.float64, na_value=np.nan))
            else:
                data.append(s.to_numpy(dtype=object))
    elif hasattr(frame, "to_arrow"):  # polars
        return _arrow_columns(frame.to_arrow(), where)
    else:
        raise TypeError(
            f"{where}: expected a DataFrame, a pyarrow Table or a dict of columns, got {type(frame).__name__}"
        )
    out: list[NDArray[Any]] = []
    unsupported: dict[str, str] = {}
    for name, a in zip(names, data):
        if a.ndim != 1:
            raise ValueError(f"{where}, column {name!r}: expected a 1-D column, got shape {a.shape}")
        try:
            if a.dtype.kind in "biuf":
                out.append(a.astype(np.float64))
                continue
            if a.dtype.kind in "OUS":
                out.append(_object_column(a, name, where))
                continue
            kind = str(a.dtype)
        except ValueError as e:  # values of other types (dates, booleans with gaps, mixed)
            kind = str(e).split(": ", 1)[-1]
        # kept by name only: refused if a model or the targets need it (an unused one is no matter)
        unsupported[name] = kind
        out.append(np.full(len(a), None, dtype=object))
    if len({len(a) for a in out}) > 1:
        raise ValueError(
            f"{where}: the columns have different lengths: {', '.join(f'{n} {len(a)}' for n, a in zip(names, out))}"
        )
    table = Columns(names, out, categorical, where)
    table.unsupported = unsupported
    return table


def _object_column(a: NDArray[Any], name: str, where: str) -> NDArray[Any]:
    """An object column: text (str, None/NaN missing) as it is; numbers (with None/NaN) as float64."""
    cells = list(a)
    missing = [
        c is None or type(c).__name__ == "NAType" or (isinstance(c, (float, np.floating)) and math.isnan(c))
        for c in cells
    ]
    present = [c for c, m in zip(cells, missing) if not m]
    if all(isinstance(c, (int, float, np.integer, np.floating)) and not isinstance(c, bool) for c in present):
        return np.array([np.nan if m else float(c) for c, m in zip(cells, missing)])
    if not all(isinstance(c, (str, bytes)) for c in present):
        kinds = sorted({type(c).__name__ for c in present})
        raise ValueError(f"{where}, column {name!r}: {', '.join(kinds)} values")
    return np.array(
        [None if m else (c.decode() if isinstance(c, bytes) else c) for c, m in zip(cells, missing)], dtype=object
    )


def read_columns(source: object) -> Columns:
    """A table, from a file or in memory, as Columns of numbers and text.

    A CSV file's cells in MISSING_TEXT are missing; a column whose present cells are all numbers is
    numeric, any other holds text. Numeric-only formats (.npy, .npz) give float columns; Parquet and
    Feather need pyarrow. A column of other values (dates, lists) is kept by name only and refused if
    a model or the targets need it.

    Parameters
    ----------
    source : str or os.PathLike or table
        A file's path (CSV, Parquet, Feather/Arrow, .npy/.npz), or an in-memory table: a pandas or
        polars DataFrame, a pyarrow Table, or a dict of 1-D columns.

    Returns
    -------
    Columns
        The table; an Arrow dictionary of text or a pandas category is marked categorical.

    Raises
    ------
    FileNotFoundError
        For a missing file.
    TypeError
        For an object that is no table.
    ValueError
        For an unreadable or empty file, a row with the wrong number of cells, a column name that
        appears twice, columns of different lengths, or a column that is not 1-D.
    ImportError
        For Parquet and Arrow files without pyarrow.

    Examples
    --------
    >>> from fastmlp.tables import read_columns
    >>> table = read_columns({"x": [1, 2, 3], "city": ["Oslo", None, "Rome"]})
    >>> table.names, table.rows
    (['x', 'city'], 3)
    >>> table["city"]
    array(['Oslo', None, 'Rome'], dtype=object)
    """
    if not isinstance(source, (str, os.PathLike)):
        return _frame_columns(source, "the table")
    from .data import TABLE_FORMATS, read_arrow_file, read_table

    where = str(source)
    kind = TABLE_FORMATS.get(os.path.splitext(where)[1].lower())
    if kind == "csv":
        return _read_csv_columns(source, where)
    if kind in ("parquet", "arrow"):
        if not os.path.exists(source):
            raise FileNotFoundError(f"No such file: {where!r}")
        return _arrow_columns(read_arrow_file(source, kind), where)
    names, values = read_table(source)  # .npy/.npz (and the unknown endings it names)
    return Columns(names, [values[:, j].copy() for j in range(values.shape[1])], where=where)
