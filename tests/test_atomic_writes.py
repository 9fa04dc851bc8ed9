"""Every file fastmlp writes over an existing one (a model by save, an ONNX file by export, predictions
by `predict --out`) is written to a temporary file beside it and renamed into place, so that a failure
midway (a full disk, a signal, an error) leaves the previous file whole: fastmlp.persist.write_atomically."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

import fastmlp
from fastmlp import cli, persist


def _leftovers(directory):
    return [e for e in os.listdir(directory) if e.startswith(".fastmlp-")]


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"the previous, good file")

    def half_then_full_disk(f):
        f.write(b"half of the new")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match=r"cannot write the thing to '.*out.bin': No space left on device") as info:
        persist.write_atomically(target, half_then_full_disk, "write the thing to")
    assert info.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"the previous, good file"
    assert _leftovers(tmp_path) == []
    with pytest.raises(KeyboardInterrupt):  # a signal midway: the same
        persist.write_atomically(
            target, lambda f: (f.write(b"x"), (_ for _ in ()).throw(KeyboardInterrupt)), "write the thing to"
        )
    assert target.read_bytes() == b"the previous, good file" and _leftovers(tmp_path) == []
    persist.write_atomically(target, lambda f: f.write(b"new"), "write the thing to")
    assert target.read_bytes() == b"new" and _leftovers(tmp_path) == []


def test_refuses_what_it_would_destroy(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="named pipe, not a regular file"):
        persist.write_atomically(fifo, lambda f: f.write(b"x"), "write the thing to")
    with pytest.raises(IsADirectoryError):
        persist.write_atomically(tmp_path, lambda f: f.write(b"x"), "write the thing to")


def _calls(monkeypatch, module):
    seen = []
    real = persist.write_atomically

    def spy(path, write, what):
        seen.append(what)
        return real(path, write, what)

    monkeypatch.setattr(module, "write_atomically", spy)
    return seen


def test_export_writes_atomically(tmp_path, monkeypatch):
    onnx = pytest.importorskip("onnx")
    seen = _calls(monkeypatch, persist)
    path = tmp_path / "m.onnx"
    path.write_bytes(b"an older export")
    fastmlp.MLP([3, 4, 2], seed=0).to_onnx(path)
    assert seen == ["write the ONNX model to"]
    assert onnx.load(str(path)).graph.input[0].name == "input"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_predict_out_writes_atomically(tmp_path, monkeypatch, suffix):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    rng = np.random.default_rng(0)
    data = tmp_path / "d.csv"
    x = rng.standard_normal((5, 2))
    data.write_text("a,b\n" + "".join(f"{float(r[0])!r},{float(r[1])!r}\n" for r in x))
    model = fastmlp.MLP([2, 3, 1], seed=0)
    model.feature_names, model.target_names = ["a", "b"], ["y"]
    model.save(tmp_path / "m.npz")
    out = tmp_path / f"p{suffix}"
    out.write_bytes(b"older predictions")
    seen = _calls(monkeypatch, cli)
    cli.main(["predict", str(tmp_path / "m.npz"), str(data), "--out", str(out)])
    assert seen == ["write the predictions to"]
    got = fastmlp.data.read_table(str(out))[1]
    np.testing.assert_allclose(got[:, 0], model.predict(x.astype(np.float32))[:, 0], rtol=1e-6)
    assert _leftovers(tmp_path) == []


def test_a_directory_that_takes_no_new_file_is_named(tmp_path):
    # Saving to /proc/version said "No such file or directory" of a file that exists, twice over in the CLI.
    if not os.path.exists("/proc/version"):
        pytest.skip("no /proc/version here")
    with pytest.raises(OSError, match=r"cannot save the model to '/proc/version': no new file can be made in '/proc'"):
        fastmlp.MLP([2, 1]).save("/proc/version")
    from helpers import assert_clean_error, fastmlp_cli

    table = tmp_path / "d.csv"
    table.write_text("a,b\n1,2\n3,4\n")
    proc = fastmlp_cli("train", table, "--target", "b", "--epochs", "1", "--save", "/proc/version")
    assert_clean_error(proc, "no new file can be made in '/proc'")
    assert proc.stderr.count("cannot") == 1, proc.stderr
