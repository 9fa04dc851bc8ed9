"""Data in: tables from files (CSV, Parquet, Feather/Arrow, .npy/.npz), arrays from other libraries, and
the embedded data set.

`women` is R's datasets::women (source: The World Almanac and Book of Facts, 1975): average weight
in pounds of American women aged 30-39 by height in inches, 15 rows. It is the seed lesson's
height -> weight regression, shipped with the package so the demo needs no download.
"""

from __future__ import annotations

import codecs
import io
import os
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _core, reference

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["load_women", "read_csv", "read_table", "read_table_block", "as_array", "column_stats", "TABLE_FORMATS"]

#: The file name endings read_table knows, and the kind of reader for each.
#:
#: ending -> "csv", "parquet", "arrow", "npy" or "npz".
TABLE_FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".feather": "arrow",
    ".arrow": "arrow",
    ".ipc": "arrow",
    ".npy": "npy",
    ".npz": "npz",
}


def load_women() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The embedded `women` data set (see the module text).

    Returns
    -------
    height : numpy.ndarray of shape (15,)
        Height in inches, float64.
    weight : numpy.ndarray of shape (15,)
        Average weight in pounds, float64.

    Examples
    --------
    >>> from fastmlp import data
    >>> height, weight = data.load_women()
    >>> height[:3], weight[:3]
    (array([58., 59., 60.]), array([115., 117., 120.]))
    """
    text = resources.files("fastmlp").joinpath("data/women.csv").read_text()
    header, columns = reference.parse_csv(text.splitlines(), "women.csv")
    return columns[:, header.index("height")].copy(), columns[:, header.index("weight")].copy()


def read_csv(path: str | os.PathLike[str]) -> tuple[list[str], NDArray[np.float64]]:
    """Read a numeric CSV file with a header row.

    A UTF-8 byte order mark (as Excel writes) is dropped. Plain files (numbers and commas) are parsed
    in C++ on all threads; anything else (quotes, a bad cell) goes through fastmlp.reference.parse_csv,
    which accepts exactly what Python's csv module and float() accept. Tables of text and categories
    are read by fastmlp.tables.read_columns.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file (UTF-8).

    Returns
    -------
    names : list of str
        The column names.
    values : numpy.ndarray of shape (rows, columns)
        The numbers, float64.

    Raises
    ------
    FileNotFoundError
        For a missing file.
    ValueError
        Naming the row and column of any cell that is not a number, or the column names that appear
        twice; also for a file that is not UTF-8 text.

    Examples
    --------
    >>> import os, tempfile
    >>> from fastmlp import data
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "table.csv")
    ...     with open(path, "w") as f:
    ...         _ = f.write("x,y\\n1,2\\n3,4\\n5,6\\n")
    ...     names, values = data.read_csv(path)
    >>> names
    ['x', 'y']
    >>> values
    array([[1., 2.],
           [3., 4.],
           [5., 6.]])
    """
    with open(path, "rb") as f:
        data = f.read()
    return _parse_csv_bytes(data, str(path))


def _parse_csv_bytes(data: bytes, where: str) -> tuple[list[str], NDArray[np.float64]]:
    """read_csv on a file's bytes (or a header line and some of its data lines)."""
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    newline = data.find(b"\n", start)
    header_end = len(data) if newline < 0 else newline + 1
    header_line = data[start:header_end]
    header_line = header_line[:-2] if header_line.endswith(b"\r\n") else header_line.rstrip(b"\n")
    table: tuple[list[str], NDArray[np.float64]] | None = None
    # A quoted header, or one with a lone carriage return (a record end for the csv module), is left to it.
    if b'"' not in header_line and b"\r" not in header_line:
        header: list[str] | None
        try:
            header = [h.strip() for h in header_line.decode("utf-8").split(",")]
        except UnicodeDecodeError:
            header = None
        if header and any(header):
            values = _core.parse_csv(data, header_end, len(header))
            if values is not None and values.shape[0] > 0:
                table = header, values
    if table is None:
        try:
            text = data[start:].decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(
                f"{where} is not UTF-8 text (byte {e.start + start} is {data[e.start + start]:#04x}); "
                f"a CSV file must be, and Parquet/Feather files are read by "
                f"fastmlp.data.read_table"
            ) from None
        table = reference.parse_csv(io.StringIO(text, newline=""), where)
    _check_unique(table[0], where)
    return table


def _check_unique(names: Sequence[str], where: str) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise ValueError(
                f"{where}: the column name {name!r} appears twice (columns {seen[name] + 1} and "
                f"{i + 1}); rename one so that each column is known by its name"
            )
        seen[name] = i


def _require_pyarrow(what: str) -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ImportError(f'reading {what} needs pyarrow: pip install "fastmlp[data]"') from None


def _is_number(kind: pa.DataType) -> bool:
    import pyarrow as pa

    return (
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_decimal(kind)
    )


def _arrow_to_numpy(table: pa.Table, where: str) -> tuple[list[str], NDArray[np.float64]]:
    """A pyarrow Table of numeric columns -> (names, float64 array); text or null cells are refused by
    column (and row, for nulls)."""
    import pyarrow as pa

    names = [str(n) for n in table.column_names]
    _check_unique(names, where)
    out = np.empty((table.num_rows, len(names)), dtype=np.float64)
    for j, (name, column) in enumerate(zip(names, table.columns)):
        kind = column.type
        if pa.types.is_dictionary(kind) and _is_number(kind.value_type):
            # Numbers stored dictionary-encoded (Feather keeps the encoding; Parquet decodes on read):
            # the values themselves.
            column = column.cast(kind.value_type)
            kind = column.type
        if not _is_number(kind):
            raise ValueError(f"{where}, column {name!r}: holds {kind} values, not numbers; drop or encode it")
        if column.null_count:
            row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise ValueError(f"{where}, column {name!r}: row {row + 1} is empty (null); drop or impute it")
        out[:, j] = column.to_numpy(zero_copy_only=False).astype(np.float64)
    return names, out


def read_table(path: str | os.PathLike[str]) -> tuple[list[str], NDArray[np.float64]]:
    """Read a table of numbers from a file, by the file's ending.

    The endings are .csv (read_csv), .parquet/.pq, .feather/.arrow/.ipc (Arrow IPC files; these two
    need pyarrow: pip install "fastmlp[data]"), .npy (a 2-D array; columns named "0", "1", ...) and .npz
    (1-D arrays of one length, each a column named by its key, or a single 2-D array). Never unpickles.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    names : list of str
        The column names.
    values : numpy.ndarray of shape (rows, columns)
        The numbers, float64.

    Raises
    ------
    ValueError
        For an unknown ending, an unreadable file, or text, null or duplicate columns (named in the
        message); for an .npy or .npz header that declares more data than the file holds.
    FileNotFoundError
        For a missing file.
    ImportError
        For Parquet and Arrow files without pyarrow.
    MemoryError
        For .npy and .npz arrays that, with their float64 copy, take more memory than this process has
        left.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from fastmlp import data
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "table.npz")
    ...     np.savez(path, a=np.arange(3.0), b=np.ones(3))
    ...     names, values = data.read_table(path)
    >>> names
    ['a', 'b']
    >>> values
    array([[0., 1.],
           [1., 1.],
           [2., 1.]])
    """
    where = str(path)
    ext = os.path.splitext(where)[1].lower()
    kind = TABLE_FORMATS.get(ext)
    if kind is None:
        raise ValueError(
            f"{where}: unknown table format {ext or '(no ending)'!r}; expected one of {', '.join(TABLE_FORMATS)}"
        )
    if kind == "csv":
        return read_csv(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {where!r}")
    if kind in ("parquet", "arrow"):
        return _arrow_to_numpy(read_arrow_file(path, kind), where)
    _check_declared_sizes(path, where, kind)
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError(f"{where} is not a readable {kind} file: {e}") from None
    if kind == "npz":
        with loaded:
            arrays = {k: loaded[k] for k in loaded.files}
        if len(arrays) == 1 and next(iter(arrays.values())).ndim == 2:
            loaded = next(iter(arrays.values()))
        else:
            lengths = {a.shape for a in arrays.values()}
            if not arrays or len(lengths) != 1 or len(next(iter(lengths))) != 1:
                raise ValueError(
                    f"{where}: expected 1-D arrays of one length (one per column) or a single 2-D "
                    f"array, got {', '.join(f'{k} {a.shape}' for k, a in arrays.items()) or 'none'}"
                )
            loaded = np.column_stack(list(arrays.values()))  # arrays is not empty: refused above
            names = list(arrays)
            return names, _numeric(loaded, where)
    if loaded.ndim != 2:
        raise ValueError(f"{where}: expected a 2-D array (rows, columns), got shape {loaded.shape}")
    return [str(i) for i in range(loaded.shape[1])], _numeric(loaded, where)


def read_arrow_file(path: str | os.PathLike[str], kind: str) -> pa.Table:
    """A Parquet ("parquet") or Feather/Arrow IPC ("arrow") file as a pyarrow Table; needs pyarrow."""
    _require_pyarrow("Parquet and Feather/Arrow files")
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        import pyarrow.feather as feather

        return feather.read_table(path)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path} is not a readable {kind} file: {e}") from None


def _check_declared_sizes(path: str | os.PathLike[str], where: str, kind: str) -> None:
    """Refuses an .npy or .npz file before reading its data when a header declares more bytes than the
    file holds (a 129-byte file may declare 71 PiB) or than this process's memory can take with the
    float64 copy read_table returns: a ValueError or MemoryError that names the file, instead of
    NumPy's allocation failure."""
    import zipfile

    from .memory import available_memory
    from .persist import read_npy_header

    entries = []  # (name, shape, dtype, bytes of data the file holds)
    try:
        if kind == "npy":
            with open(path, "rb") as fp:
                shape, _, dtype = read_npy_header(fp)
                entries.append((where, shape, dtype, os.fstat(fp.fileno()).st_size - fp.tell()))
        else:
            with zipfile.ZipFile(path) as z:
                for info in z.infolist():
                    if info.filename.endswith(".npy"):
                        with z.open(info) as fp:
                            shape, _, dtype = read_npy_header(fp)
                            entries.append(
                                (f"{where}, array {info.filename[:-4]!r}", shape, dtype, info.file_size - fp.tell())
                            )
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"{where} is not a readable {kind} file: {e}") from None
    total = 0.0
    for name, shape, dtype, held in entries:
        count = float(np.prod([float(d) for d in shape]))
        if count * dtype.itemsize > held:
            raise ValueError(
                f"{name}: its header declares shape {shape} of {dtype} ({count * dtype.itemsize:.4g} "
                f"bytes), but the file holds {held} bytes of data"
            )
        total += count * (dtype.itemsize + 8)  # the array, and the float64 table made of it
    left = available_memory()
    if total > left:
        raise MemoryError(
            f"{where}: its arrays and their float64 copy take {total / 2**30:.3g} GiB, more than the "
            f"{left / 2**30:.3g} GiB of memory available to this process"
        )


def read_table_block(
    path: str | os.PathLike[str], rank: int, size: int
) -> tuple[list[str], NDArray[np.float64], int, int]:
    """Read one rank's contiguous block of a table's data rows.

    The blocks are those of fastmlp.distributed.block. Only the block is parsed: a CSV file is scanned
    for line ends and only the block's lines are read as numbers (blank lines are not rows); a .npy file
    is memory-mapped; a Parquet file reads the row groups that hold the block. Other formats are read
    whole, then cut.

    Parameters
    ----------
    path : str or os.PathLike
        The table file (see read_table for the formats).
    rank : int
        The rank whose block to read, in [0, size).
    size : int
        The number of ranks.

    Returns
    -------
    names : list of str
        The column names.
    values : numpy.ndarray of shape (block rows, columns)
        The block, float64.
    rows : int
        The data rows of the whole table.
    first : int
        The index of the block's first row in the table.

    Raises
    ------
    ValueError
        As read_table, for the block's cells.
    FileNotFoundError
        For a missing file.

    Examples
    --------
    >>> import os, tempfile
    >>> from fastmlp import data
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "table.csv")
    ...     with open(path, "w") as f:
    ...         _ = f.write("x,y\\n1,2\\n3,4\\n5,6\\n")
    ...     data.read_table_block(path, rank=1, size=2)
    (['x', 'y'], array([[5., 6.]]), 3, 2)
    """
    from .distributed import block

    where = str(path)
    ext = os.path.splitext(where)[1].lower()
    if ext == ".csv":
        import mmap

        with open(path, "rb") as f:
            size_bytes = os.fstat(f.fileno()).st_size
            if size_bytes == 0:
                return read_csv(path) + (0, 0)
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                raw = np.frombuffer(mm, dtype=np.uint8)
                ends = np.flatnonzero(raw == 10)
                if raw[-1] != 10:
                    ends = np.append(ends, raw.size)  # a last line without its newline
                starts = np.concatenate([[0], ends[:-1] + 1])
                lengths = ends - starts - (raw[np.maximum(ends - 1, 0)] == 13)  # less a "\r" before "\n"
                rows = np.flatnonzero(lengths[1:] > 0) + 1  # data lines: not the header, not blank
                lo, hi = block(rows.size, rank, size)
                header = mm[starts[0] : ends[0] + 1 if ends[0] < raw.size else raw.size]
                body = mm[starts[rows[lo]] : min(ends[rows[hi - 1]] + 1, raw.size)] if hi > lo else b""
                del raw  # the view must go before the map closes
        head = header if header.endswith(b"\n") else header + b"\n"
        if not body:  # a block of no rows: the names alone (a row of zeros lets the reader parse them)
            import csv

            fields = next(csv.reader([head.decode("utf-8-sig", "replace").rstrip("\r\n")]))
            names, _ = _parse_csv_bytes(head + ",".join("0" * len(fields)).encode() + b"\n", where)
            return names, np.empty((0, len(names))), rows.size, lo
        names, values = _parse_csv_bytes(head + body, f"{where} (data rows {lo + 1} to {hi})")
        if values.ndim != 2 or values.shape[0] != hi - lo:
            values = np.asarray(values, dtype=np.float64).reshape(hi - lo, len(names))
        return names, values, rows.size, lo
    if ext == ".npy":
        data = np.load(path, mmap_mode="r", allow_pickle=False)
        if data.ndim != 2:
            raise ValueError(f"{where}: expected a 2-D array (rows, columns), got shape {data.shape}")
        lo, hi = block(data.shape[0], rank, size)
        return [str(i) for i in range(data.shape[1])], _numeric(np.asarray(data[lo:hi]), where), data.shape[0], lo
    if ext in (".parquet", ".pq"):
        _require_pyarrow("Parquet files")
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except (OSError, ValueError) as e:
            raise ValueError(f"{where} is not a readable parquet file: {e}") from None
        n = pf.metadata.num_rows
        lo, hi = block(n, rank, size)
        groups, first, at = [], None, 0
        for g in range(pf.metadata.num_row_groups):
            count = pf.metadata.row_group(g).num_rows
            if at + count > lo and at < hi:
                groups.append(g)
                first = at if first is None else first
            at += count
        # A block of no rows keeps the file's column types (an empty pa.table({c: []}) has null-typed
        # columns, which the reader refuses as holding null values).
        table = pf.read_row_groups(groups) if groups else pf.schema_arrow.empty_table()
        if first is not None:  # the block's rows are in groups (first: the row the first one starts at)
            table = table.slice(lo - first, hi - lo)
        names, values = _arrow_to_numpy(table, where)
        return names, values, n, lo
    names, values = read_table(path)
    lo, hi = block(values.shape[0], rank, size)
    return names, values[lo:hi], values.shape[0], lo


def _numeric(a: NDArray[Any], where: str) -> NDArray[np.float64]:
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{where}: holds {a.dtype} values, not numbers")
    return np.ascontiguousarray(a, dtype=np.float64)


def column_stats(a: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The mean and standard deviation of each column, in float64.

    A constant column's std is 1, so that standardizing it gives zeros rather than NaN. These are the
    numbers MLP.set_standardization takes.

    Parameters
    ----------
    a : array_like of shape (n, k) or (n,)
        The data; a 1-D array is one column.

    Returns
    -------
    mean : numpy.ndarray of shape (k,)
        Each column's mean.
    std : numpy.ndarray of shape (k,)
        Each column's population standard deviation, 1 where it is 0.

    Examples
    --------
    >>> from fastmlp import data
    >>> data.column_stats([[1.0, 5.0], [3.0, 5.0]])
    (array([2., 5.]), array([1., 1.]))
    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    mean, std = a.mean(axis=0), a.std(axis=0)
    return mean, np.where(std > 0, std, 1.0)


def as_array(data: object, name: str = "X") -> NDArray[Any]:
    """Any array-like in host memory as a NumPy array, without copying when it can be avoided.

    A NumPy array is returned as it is. An object with `__dlpack__` whose data is in host memory (a
    PyTorch CPU tensor, a JAX CPU array, a NumPy-backed array of another library) is wrapped by
    numpy.from_dlpack: a view of its memory, no copy. Otherwise `__array__` (numpy.asarray) is used,
    which copies or not as that library decides. fastmlp never writes into data it is given.

    Parameters
    ----------
    data : array_like
        The data: a NumPy array, an object with __dlpack__ or __array__, or a nested sequence.
    name : str, default "X"
        What the data is, for the error messages.

    Returns
    -------
    numpy.ndarray
        The data, a view where it can be.

    Raises
    ------
    TypeError
        For data on a GPU (refused by name: copy it to the host first), or data that cannot be read as
        a NumPy array.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import data
    >>> a = np.arange(3)
    >>> data.as_array(a) is a
    True
    >>> data.as_array([[1, 2], [3, 4]])
    array([[1, 2],
           [3, 4]])
    """
    if isinstance(data, np.ndarray):
        return data
    if hasattr(data, "__dlpack__") and hasattr(data, "__dlpack_device__"):
        try:
            device_type = int(data.__dlpack_device__()[0])
        except Exception:
            device_type = None
        if device_type not in (None, 1, 3):  # 1: CPU, 3: CUDA host (pinned) memory
            raise TypeError(
                f"{name} is in device memory (DLPack device type {device_type}); fastmlp reads host "
                f"memory: copy it first (e.g. tensor.cpu(), cupy.asnumpy(a), jax.device_get(a))"
            )
        try:
            return np.from_dlpack(data)
        except (BufferError, TypeError, RuntimeError, ValueError) as e:
            if not hasattr(data, "__array__"):
                raise TypeError(f"{name} ({type(data).__name__}) could not be read through DLPack: {e}") from None
    try:
        return np.asarray(data)
    except (TypeError, RuntimeError, ValueError) as e:  # e.g. a tensor that requires grad, a CuPy array
        raise TypeError(
            f"{name} ({type(data).__module__}.{type(data).__name__}) could not be read as a NumPy array: {e}"
        ) from None
