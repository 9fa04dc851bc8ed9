"""Data in: read_csv's C++ fast path against its spec (fastmlp.reference.parse_csv), read_table's formats,
and arrays from other libraries (__dlpack__, __array__) in fit and predict."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import fastmlp
from fastmlp import _core, reference
from fastmlp.data import as_array, read_csv, read_table


def spec(path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        return reference.parse_csv(f, str(path))


def write(path, text):
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def assert_same_table(got, want):
    assert got[0] == want[0]
    assert got[1].dtype == np.float64 and got[1].shape == want[1].shape, (got[1].shape, want[1].shape)
    bad = ~((got[1] == want[1]) | (np.isnan(got[1]) & np.isnan(want[1])))
    assert not bad.any(), f"{bad.sum()} cell(s) differ from the reference, first {np.argwhere(bad)[0]}"


@pytest.mark.parametrize("rows,cols", [(1, 1), (3, 3), (17, 17), (129, 2), (3000, 12)])
def test_fast_path_matches_the_reference(tmp_path, rng, rows, cols, num_threads):
    values = rng.standard_normal((rows, cols)) * 10.0 ** rng.integers(-30, 30, (rows, cols))
    text = ",".join(f"c{j}" for j in range(cols)) + "\n"
    fmts = ["{!r}", "{:.3f}", "{:.6e}", "{:g}", " {!r} "]
    text += "".join(
        ",".join(fmts[(i + j) % len(fmts)].format(float(v)) for j, v in enumerate(r)) + "\n"
        for i, r in enumerate(values)
    )
    path = write(tmp_path / "t.csv", text)
    want = spec(path)
    for threads in (1, 2, 3):
        fastmlp.set_num_threads(threads)
        assert_same_table(read_csv(path), want)


@pytest.mark.slow
def test_fast_path_splits_a_large_file_among_threads(tmp_path, rng, num_threads):
    # 3+ MB: the parser cuts it into slices at line starts; blank lines in between are dropped in order.
    values = rng.standard_normal((60_000, 3))
    lines = [",".join(repr(float(v)) for v in r) for r in values]
    for i in (5, 20_000, 40_001):
        lines.insert(i, "" if i % 2 else " , ,")
    path = write(tmp_path / "big.csv", "a,b,c\r\n" + "\r\n".join(lines) + "\r\n\r\n")
    for threads in (1, 2, 4):
        fastmlp.set_num_threads(threads)
        names, got = read_csv(path)
        np.testing.assert_array_equal(got, values)
    assert_same_table((names, got), spec(path))


@pytest.mark.parametrize(
    "body",
    [
        "1,2\n3,4",  # no newline at the end
        "1,2\n\n3,4\n\n",  # blank lines
        "nan,inf\n-inf,1e-320\n",  # non-finite and subnormal values
        "1e400,2\n",  # out of float64's range: float() gives inf
        '"1",2\n3,"4"\n',  # quoted numbers (the csv module's path)
        "+1,2\n",  # a leading +: float() takes it
        "1_0,2\n",  # float() takes underscores between digits
        "  7 ,\t8\t\n",  # white space around numbers
        "1,\r2\n3,4\n",  # a lone carriage return ends a record for the csv module
        "1\r,2\n",
        "1,2\r3,4\n",
    ],
)
def test_edge_cases_follow_the_reference(tmp_path, body):
    path = write(tmp_path / "e.csv", "a,b\n" + body)
    try:
        want = spec(path)
    except ValueError as e:  # then read_csv raises the very same error
        with pytest.raises(ValueError) as info:
            read_csv(path)
        assert str(info.value) == str(e)
        return
    assert_same_table(read_csv(path), want)


@pytest.mark.parametrize("header", ["a,b\r", "a\r,b", "a,\rb", " a , b "])
def test_header_follows_the_reference(tmp_path, header):
    data = (header + "\n1,2\n").encode()
    path = write(tmp_path / "h.csv", data)
    assert_reads_as_the_reference(path)
    # read_csv hands a header with a lone carriage return to the reference, so the line above compares
    # the reference with itself there. The kernel is compared here, for every header: it parses the
    # body after the header record as the reference ends it (at the first line end; a lone \r is one,
    # for the csv module), into as many columns as that record has, and must give the reference's
    # values, or give up (None) where the reference refuses the file.
    end = min(i for i in (data.find(b"\r"), data.find(b"\n")) if i >= 0)
    end += 2 if data[end : end + 2] == b"\r\n" else 1
    cols = data[:end].count(b",") + 1
    got = _core.parse_csv(data, end, cols)
    try:
        want = spec(path)
    except ValueError as e:
        assert got is None, f"the kernel parsed {got!r} where the reference refuses the file: {e}"
        return
    assert got is not None, "the kernel gave up on a plain body"
    assert_same_table((want[0], got), want)


def assert_reads_as_the_reference(path):
    """read_csv gives the reference's table, or raises the reference's error, word for word."""
    try:
        want = spec(path)
    except ValueError as e:
        with pytest.raises(ValueError) as info:
            read_csv(path)
        assert str(info.value) == str(e)
        return
    assert_same_table(read_csv(path), want)


def test_byte_order_mark_is_not_part_of_the_first_name(tmp_path):
    # Excel's "CSV UTF-8" starts the file with EF BB BF.
    path = write(tmp_path / "excel.csv", b"\xef\xbb\xbfheight,weight\r\n58,115\r\n59,117\r\n")
    names, values = read_csv(path)
    assert names == ["height", "weight"]
    np.testing.assert_array_equal(values, [[58, 115], [59, 117]])
    path = write(tmp_path / "excel2.csv", b'\xef\xbb\xbf"height",weight\r\n58,115\r\n')  # the slow path too
    assert read_csv(path)[0] == ["height", "weight"]


@pytest.mark.parametrize(
    "text,words",
    [
        ("x1,x2,y\n1,2,3\n4,five,6\n", ["line 3", "'x2'", "'five'"]),
        ("x1,x2,y\n1,2,3\n4,5\n", ["line 3", "2 cells"]),
        ("x1,x2,y\n1,2,3\n4,5,6,7\n", ["line 3", "4 cells"]),
        ("x1,x2,y\n1,,3\n", ["line 2", "'x2'", "''"]),
        ("", ["empty"]),
        ("x,y\n", ["no data rows"]),
        ("x,y,x\n1,2,3\n", ["'x' appears twice", "columns 1 and 3"]),
    ],
)
def test_errors_name_row_and_column(tmp_path, text, words):
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(ValueError) as info:
        read_csv(path)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_a_huge_cell_is_a_clear_error(tmp_path):
    path = write(tmp_path / "huge.csv", "a,b\n1," + "x" * 131_072 + "\n")
    with pytest.raises(ValueError, match="line 2") as info:
        read_csv(path)
    assert len(str(info.value)) < 300, "the message repeats the whole cell"
    path = write(tmp_path / "long_number.csv", "a,b\n1," + "1" * 20 + "." + "0" * 131_072 + "\n")
    names, values = read_csv(path)  # a very long number is still a number
    assert values[0, 1] == 1e19 + 11111111111111111111 - 1e19


def test_a_binary_file_is_refused_as_not_text(tmp_path):
    path = write(tmp_path / "data.csv", b"PAR1\x15\x04\x15\xff\xfe\x00\x01\n\x80\x81")
    with pytest.raises(ValueError, match="not UTF-8 text.*read_table"):
        read_csv(path)


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        read_csv("/nonexistent/x.csv")


# ---- read_table ----------------------------------------------------------------------------------------------
def table_values(rng):
    return rng.standard_normal((37, 3))


def test_read_table_numpy_formats(tmp_path, rng):
    values = table_values(rng)
    np.save(tmp_path / "t.npy", values)
    names, got = read_table(tmp_path / "t.npy")
    assert names == ["0", "1", "2"]
    np.testing.assert_array_equal(got, values)
    np.savez(tmp_path / "cols.npz", height=values[:, 0], weight=values[:, 1].astype(np.float32), n=np.arange(37))
    names, got = read_table(tmp_path / "cols.npz")
    assert names == ["height", "weight", "n"]
    np.testing.assert_array_equal(got, np.column_stack([values[:, 0], values[:, 1].astype(np.float32), np.arange(37)]))
    np.savez(tmp_path / "one.npz", x=values)
    np.testing.assert_array_equal(read_table(tmp_path / "one.npz")[1], values)
    np.savez(tmp_path / "ragged.npz", a=np.zeros(3), b=np.zeros(4))
    with pytest.raises(ValueError, match="one length"):
        read_table(tmp_path / "ragged.npz")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="not a readable npy"):
        read_table(tmp_path / "obj.npy")  # never unpickles
    np.save(tmp_path / "three.npy", np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="2-D"):
        read_table(tmp_path / "three.npy")


def test_read_table_csv_and_unknown_endings(tmp_path):
    path = write(tmp_path / "t.csv", "a,b\n1,2\n")
    assert read_table(path)[0] == ["a", "b"]
    with pytest.raises(ValueError, match="unknown table format '.xlsx'"):
        read_table(tmp_path / "t.xlsx")


@pytest.fixture
def pyarrow():
    return pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'fastmlp[data]')")


@pytest.mark.parametrize("ending", [".parquet", ".feather", ".arrow"])
def test_read_table_arrow_formats(tmp_path, rng, pyarrow, ending):
    import pyarrow.feather
    import pyarrow.parquet

    values = table_values(rng)
    table = pyarrow.table(
        {
            "x one": values[:, 0],
            "x2": values[:, 1].astype(np.float32),
            "count": np.arange(37, dtype=np.int32),
            "flag": np.arange(37) % 2 == 0,
        }
    )
    path = tmp_path / f"t{ending}"
    (pyarrow.parquet.write_table if ending == ".parquet" else pyarrow.feather.write_feather)(table, path)
    names, got = read_table(path)
    assert names == ["x one", "x2", "count", "flag"]
    want = np.column_stack([values[:, 0], values[:, 1].astype(np.float32), np.arange(37), np.arange(37) % 2 == 0])
    np.testing.assert_array_equal(got, want)


def test_read_table_refuses_text_and_null_columns(tmp_path, pyarrow):
    import pyarrow.parquet

    pyarrow.parquet.write_table(pyarrow.table({"a": [1.0, 2.0], "city": ["Oslo", "Rome"]}), tmp_path / "s.parquet")
    with pytest.raises(ValueError, match="column 'city': holds string"):
        read_table(tmp_path / "s.parquet")
    pyarrow.parquet.write_table(pyarrow.table({"a": [1.0, None, 3.0]}), tmp_path / "n.parquet")
    with pytest.raises(ValueError, match="column 'a': row 2 is empty"):
        read_table(tmp_path / "n.parquet")
    write(tmp_path / "fake.parquet", "a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a readable parquet file"):
        read_table(tmp_path / "fake.parquet")


def test_read_table_without_pyarrow_names_the_extra(tmp_path, monkeypatch):
    write(tmp_path / "t.parquet", b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r"fastmlp\[data\]"):
        read_table(tmp_path / "t.parquet")


def test_column_stats():
    mean, std = fastmlp.data.column_stats([[1.0, 5.0], [3.0, 5.0]])
    np.testing.assert_array_equal(mean, [2.0, 5.0])
    np.testing.assert_array_equal(std, [1.0, 1.0])  # the constant column's std is 1, not 0


# ---- arrays from other libraries -------------------------------------------------------------------------------
class DLPackOnly:
    """An array that offers only the DLPack protocol (like some array libraries), on a given device."""

    def __init__(self, a, device_type=1):
        self._a, self._device = a, device_type

    def __dlpack__(self, **kwargs):
        return self._a.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return (self._device, 0)


class ArrayOnly:
    def __init__(self, a):
        self._a = a

    def __array__(self, dtype=None, copy=None):
        return self._a if dtype is None else self._a.astype(dtype)


def test_as_array_copy_rule(rng):
    a = rng.standard_normal((5, 3)).astype(np.float32)
    assert as_array(a) is a
    view = as_array(DLPackOnly(a))
    assert np.shares_memory(view, a), "a host DLPack array was copied"
    assert as_array(ArrayOnly(a)) is a
    with pytest.raises(TypeError, match="device memory.*copy it first"):
        as_array(DLPackOnly(a, device_type=2), "X")


def test_fit_and_predict_take_dlpack_and_array_objects(rng):
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = x[:, :1] * 2.0
    want = fastmlp.MLP([3, 8, 1], seed=0)
    want.fit(x, y, epochs=3)
    for wrap in (DLPackOnly, ArrayOnly):
        model = fastmlp.MLP([3, 8, 1], seed=0)
        model.fit(wrap(x), wrap(y), epochs=3, validation_data=(wrap(x[:8]), wrap(y[:8])))
        for (w1, _b1), (w2, _b2) in zip(model.get_weights(), want.get_weights()):
            np.testing.assert_array_equal(w1, w2)
        np.testing.assert_array_equal(model.predict(wrap(x)), want.predict(x))
        assert model.evaluate(wrap(x), wrap(y)) == want.evaluate(x, y)


def test_torch_tensors(rng):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    x = rng.standard_normal((50, 2)).astype(np.float32)
    t = torch.from_numpy(x)
    assert np.shares_memory(as_array(t), x), "a CPU tensor was copied"
    model = fastmlp.MLP([2, 4, 1], seed=0)
    np.testing.assert_array_equal(model.predict(t), model.predict(x))
    model.fit(t, t[:, :1] * 3, epochs=2)
    with pytest.raises(TypeError, match="X .*Tensor"):
        model.predict(t.requires_grad_())  # torch refuses to export it: a clear TypeError, not torch's error
    pytest.importorskip("sklearn", reason="scikit-learn is not installed")
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from fastmlp.sklearn import MLPRegressor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 3 iterations do not converge, by design
        reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(torch.from_numpy(x), x[:, 0])
    np.testing.assert_array_equal(reg.predict(torch.from_numpy(x)), reg.predict(x))


def test_the_fast_path_takes_plain_files_and_leaves_the_rest(rng):
    # The C++ parser itself: an array for plain numbers, None (the reference's turn) for anything else.
    body = b"1,2\n3.5,-4e-3\n\n"
    got = fastmlp._core.parse_csv(b"a,b\n" + body, 4, 2)
    np.testing.assert_array_equal(got, [[1.0, 2.0], [3.5, -4e-3]])
    for other in (b'"1",2\n', b"+1,2\n", b"1,2,3\n", b"1\n", b"1,x\n", b"1,\n", b"1e400,2\n", b"nan(1),2\n"):
        assert fastmlp._core.parse_csv(other, 0, 2) is None, other
    assert fastmlp._core.parse_csv(b"", 0, 2).shape == (0, 2)
    with pytest.raises(ValueError, match="offset"):
        fastmlp._core.parse_csv(b"1,2\n", 9, 2)


@pytest.mark.slow
def test_fast_path_agrees_with_the_reference_on_arbitrary_text():
    # Cells drawn from the characters numbers are made of (and a few that break them): read_csv either
    # gives the reference's table bit for bit or raises the reference's error.
    hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed")
    import os
    import tempfile

    from hypothesis import strategies as st

    cell = st.text(alphabet='0123456789.eE+-nNaAiIfFtTyY _()\t\r\r\r"x', max_size=8)
    line = st.lists(cell, min_size=1, max_size=4).map(",".join)
    body = st.lists(line, max_size=6).map("\n".join)

    @hypothesis.settings(max_examples=300, deadline=None, database=None)
    @hypothesis.given(body=body, cols=st.integers(1, 3))
    def check(body, cols):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "t.csv")
            with open(path, "w", newline="") as f:
                f.write(",".join(f"c{j}" for j in range(cols)) + "\n" + body)
            assert_reads_as_the_reference(path)

    check()


def _npy_declaring(path, shape, data_bytes=0, sparse_to=None):
    """An .npy file whose header declares `shape` float64, followed by data_bytes zero bytes (or made
    sparse up to sparse_to bytes: the file then holds them without using disk)."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": shape})
        f.write(b"\0" * data_bytes)
        if sparse_to:
            f.truncate(sparse_to)
    return path


def test_numpy_tables_whose_headers_declare_too_much_are_refused_before_reading(tmp_path):
    # A 129-byte .npy declaring (10^11, 10^5) float64 (71 PiB) ended in NumPy's allocation failure; a
    # header is now checked against the bytes the file holds and the memory the process can use.
    from fastmlp.data import read_table

    tiny = _npy_declaring(tmp_path / "tiny.npy", (10**11, 10**5))
    with pytest.raises(ValueError, match=r"declares shape \(100000000000, 100000\) of float64 .* holds 0 bytes"):
        read_table(tiny)
    # 64 GiB declared and held (a sparse file): more than this machine's memory.
    big = _npy_declaring(tmp_path / "big.npy", (2**30, 8), sparse_to=2**36 + 128)
    with pytest.raises(MemoryError, match="big.npy: its arrays and their float64 copy take"):
        read_table(big)
    # The same in an .npz member, and through the command line in one line.
    member = tmp_path / "member.npy"
    _npy_declaring(member, (3 * 10**9, 2), data_bytes=16)
    import zipfile

    with zipfile.ZipFile(tmp_path / "t.npz", "w") as z:
        z.write(member, "x.npy")
    with pytest.raises(ValueError, match=r"t.npz, array 'x': its header declares"):
        read_table(tmp_path / "t.npz")
    from helpers import assert_clean_error, fastmlp_cli

    for path in (tiny, big, tmp_path / "t.npz"):
        assert_clean_error(fastmlp_cli("train", path, "--target", "0"), str(path))
    ok = tmp_path / "ok.npy"
    np.save(ok, np.arange(6.0).reshape(3, 2))
    assert read_table(ok)[1].shape == (3, 2)


def test_dictionary_encoded_numbers_read_from_feather_as_from_parquet(tmp_path):
    # Parquet decodes a dictionary-encoded column on read; Feather keeps the encoding, and such a
    # column of integers was refused as "not numbers". Dictionary-encoded text is still refused.
    pa = pytest.importorskip("pyarrow")
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    from fastmlp.data import read_table

    table = pa.table({"a": pa.array([1, 2, 1, 3]).dictionary_encode(), "y": [1.0, 2.0, 3.0, 4.0]})
    pq.write_table(table, tmp_path / "t.parquet")
    feather.write_feather(table, tmp_path / "t.feather")
    want = (["a", "y"], np.array([[1, 1], [2, 2], [1, 3], [3, 4]], np.float64))
    for name in ("t.parquet", "t.feather"):
        names, values = read_table(tmp_path / name)
        assert names == want[0] and np.array_equal(values, want[1]), name
    feather.write_feather(pa.table({"a": pa.array(["x", "y"]).dictionary_encode()}), tmp_path / "s.feather")
    with pytest.raises(ValueError, match="column 'a': holds dictionary<values=string"):
        read_table(tmp_path / "s.feather")
