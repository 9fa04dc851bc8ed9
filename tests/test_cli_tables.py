"""The `fastmlp` command on real tables: names carried from train to predict, standardization, a held-out
split, Parquet in and out, export and info; and the inputs that once gave tracebacks (a byte order mark,
NaN cells, huge cells or layers, bad seeds and paths, duplicate names, momentum with Adam)."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

import fastmlp
from fastmlp.optim import OPTIMIZERS
from helpers import assert_clean_error, fastmlp_cli


def write_csv(path, header, rows, bom=False):
    text = ",".join(header) + "\n" + "".join(",".join(repr(float(v)) for v in r) + "\n" for r in rows)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def truth(x):
    """An unscaled target of unscaled features: price = 3 * area - 2000 * age + 40000 (plus a curve)."""
    return 3.0 * x[:, 0] - 2000.0 * x[:, 1] + 40_000.0 + 5000.0 * np.tanh((x[:, 0] - 1500.0) / 500.0)


@pytest.fixture(scope="module")
def houses(tmp_path_factory):
    d = tmp_path_factory.mktemp("tables")
    rng = np.random.default_rng(1)
    x = np.column_stack([rng.uniform(500, 2500, 600), rng.uniform(0, 10, 600)])
    write_csv(d / "train.csv", ["area", "age", "price"], np.column_stack([x, truth(x)]))
    q = np.column_stack([rng.uniform(600, 2400, 40), rng.uniform(0, 10, 40)])
    # The query table: other column order, an extra column, no target.
    write_csv(d / "query.csv", ["id", "age", "area"], np.column_stack([np.arange(40), q[:, 1], q[:, 0]]))
    return d, q


@pytest.fixture(scope="module")
def trained(houses):
    d, _ = houses
    proc = fastmlp_cli(
        "train",
        d / "train.csv",
        "--target",
        "price",
        "--hidden",
        "32",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--epochs",
        "60",
        "--validation-split",
        "0.2",
        "--save",
        d / "m.npz",
    )
    assert proc.returncode == 0, proc.stderr
    return d / "m.npz", proc.stdout


def r2(pred, want):
    return 1.0 - np.mean((pred - want) ** 2) / np.var(want)


@pytest.mark.slow
def test_train_standardizes_by_default_and_reports_the_split(houses, trained):
    path, out = trained
    model = fastmlp.load(path)
    assert model.feature_names == ["area", "age"] and model.target_names == ["price"]
    s = model.standardization
    assert s["x_mean"] is not None and s["y_mean"] is not None
    assert 1000 < s["x_mean"][0] < 2000 and 30_000 < s["y_mean"][0] < 50_000
    m = re.search(r"validation rows: R2 (\S+), RMSE (\S+), MAE (\S+) \((\d+) rows held out\)", out)
    assert m, out
    assert float(m.group(1)) > 0.95 and int(m.group(4)) == 120
    assert re.search(r"training rows:\s+R2 (\S+)", out)
    summary = model.training_summary
    assert summary["last"]["samples"] == 480 and summary["last"]["final_val_loss"] is not None


@pytest.mark.slow
def test_unscaled_table_trains_badly_without_standardization(houses, trained):
    d, q = houses
    proc = fastmlp_cli(
        "train",
        d / "train.csv",
        "--target",
        "price",
        "--hidden",
        "32",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--epochs",
        "60",
        "--standardize",
        "none",
        "--save",
        d / "raw.npz",
    )
    if proc.returncode == 0:  # it may also diverge, which is reported cleanly
        raw = fastmlp.load(d / "raw.npz").predict(q)
        good = fastmlp.load(trained[0]).predict(q)
        print(f"R2 standardized {r2(good.ravel(), truth(q)):.4f}, unscaled {r2(raw.ravel(), truth(q)):.4f}")
        assert r2(good.ravel(), truth(q)) > max(0.95, r2(raw.ravel(), truth(q)))
    else:
        assert_clean_error(proc)


@pytest.mark.slow
def test_predict_selects_columns_by_name(houses, trained):
    d, q = houses
    proc = fastmlp_cli("predict", trained[0], d / "query.csv")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "price"
    pred = np.array([float(v) for v in lines[1:]])
    np.testing.assert_allclose(pred, fastmlp.load(trained[0]).predict(q).ravel(), rtol=1e-6)
    assert r2(pred, truth(q)) > 0.95  # back in the target's units
    write_csv(d / "no_age.csv", ["area", "rooms"], [[1000.0, 3.0]])
    assert_clean_error(fastmlp_cli("predict", trained[0], d / "no_age.csv"), "'age'", "area, rooms")


@pytest.mark.slow
def test_predict_writes_csv_and_parquet_files(houses, trained, tmp_path):
    d, q = houses
    out = tmp_path / "preds.csv"
    proc = fastmlp_cli("predict", trained[0], d / "query.csv", "--out", out)
    assert proc.returncode == 0, proc.stderr
    names, values = fastmlp.data.read_csv(out)
    assert names == ["price"] and values.shape == (40, 1)
    assert_clean_error(fastmlp_cli("predict", trained[0], d / "query.csv", "--out", tmp_path / "p.xlsx"), ".csv")
    pytest.importorskip("pyarrow", reason="pyarrow is not installed")
    proc = fastmlp_cli("predict", trained[0], d / "query.csv", "--out", tmp_path / "preds.parquet")
    assert proc.returncode == 0, proc.stderr
    names2, values2 = fastmlp.data.read_table(tmp_path / "preds.parquet")
    assert names2 == ["price"]
    np.testing.assert_allclose(values2, values, rtol=1e-8)


@pytest.mark.slow
def test_train_and_predict_on_parquet(houses, tmp_path):
    pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed")
    import pyarrow.parquet as pq

    d, q = houses
    names, values = fastmlp.data.read_csv(d / "train.csv")
    pq.write_table(pa.table({n: values[:, i] for i, n in enumerate(names)}), tmp_path / "train.parquet")
    pq.write_table(pa.table({"age": q[:, 1], "area": q[:, 0]}), tmp_path / "query.parquet")
    proc = fastmlp_cli(
        "train",
        tmp_path / "train.parquet",
        "--target",
        "price",
        "--hidden",
        "16",
        "--optimizer",
        "adam",
        "--epochs",
        "20",
        "--save",
        tmp_path / "p.npz",
    )
    assert proc.returncode == 0, proc.stderr
    proc = fastmlp_cli("predict", tmp_path / "p.npz", tmp_path / "query.parquet")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "price" and len(proc.stdout.splitlines()) == 41


@pytest.mark.slow
def test_info(trained):
    proc = fastmlp_cli("info", trained[0])
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for words in (
        "2 -> 32 -> 1",
        "relu, identity",
        "Adam(lr=0.01",
        "steps taken",
        "area, age",
        "price",
        "features and targets",
        "1 fit(s), 60 epochs",
        "on 480 rows",
        "validation",
    ):
        assert words in out, (words, out)
    assert_clean_error(fastmlp_cli("info", trained[0].parent / "none.npz"), "none.npz")


@pytest.mark.slow
def test_export(trained, tmp_path):
    pytest.importorskip("onnx", reason="onnx is not installed")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    proc = fastmlp_cli("export", trained[0], tmp_path / "m.onnx")
    assert proc.returncode == 0, proc.stderr
    assert "opset 17" in proc.stdout
    model = fastmlp.load(trained[0])
    x = np.array([[1000.0, 2.0], [2000.0, 8.0]], np.float32)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})[0]
    np.testing.assert_allclose(got, model.predict(x), rtol=1e-5)
    assert_clean_error(fastmlp_cli("export", trained[0], tmp_path / "x.onnx", "--opset", "3"), "opset")


@pytest.mark.slow
def test_verbose_prints_each_epoch(houses):
    d, _ = houses
    proc = fastmlp_cli("train", d / "train.csv", "--target", "price", "--epochs", "3", "--verbose")
    assert proc.returncode == 0, proc.stderr
    assert len(re.findall(r"epoch \d/3 - loss", proc.stdout)) == 3


@pytest.mark.slow
@pytest.mark.parametrize("split", ["1.5", "-0.1", "0.0001"])
def test_bad_validation_split(houses, split):
    d, _ = houses
    assert_clean_error(
        fastmlp_cli("train", d / "train.csv", "--target", "price", "--epochs", "1", "--validation-split", split),
        "--validation-split",
    )


# ---- inputs that gave tracebacks or wrong results ----------------------------------------------------------------
def test_byte_order_mark_in_the_first_column(tmp_path):
    path = write_csv(
        tmp_path / "excel.csv", ["height", "weight"], [[58.0, 115.0], [60.0, 120.0], [62.0, 126.0]], bom=True
    )
    proc = fastmlp_cli(
        "train", path, "--target", "height", "--hidden", "", "--epochs", "2", "--save", tmp_path / "m.npz"
    )
    assert proc.returncode == 0, proc.stderr
    assert fastmlp.load(tmp_path / "m.npz").target_names == ["height"]


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory):
    """A 2-input model saved from Python: no names, no statistics."""
    path = tmp_path_factory.mktemp("plain") / "plain.npz"
    fastmlp.MLP([2, 1]).save(path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["nan", "inf", "-inf"])
def test_non_finite_cells_are_a_clean_error(plain_model, tmp_path, cell):
    path = tmp_path / "q.csv"
    path.write_text(f"area,age\n1000,2\n1200,{cell}\n")
    assert_clean_error(fastmlp_cli("predict", plain_model, path), "row 2", "'age'", "finite")
    path.write_text(f"area,age,price\n1000,2,3\n1200,4,{cell}\n1300,5,6\n")
    proc = fastmlp_cli("train", path, "--target", "price", "--epochs", "1")
    if cell == "nan":  # a missing target: its row is left out, and counted
        assert proc.returncode == 0 and "left out 1 row(s) whose target is missing" in proc.stdout, proc.stderr
    else:
        assert_clean_error(proc, "row 2", "'price'", "finite")


@pytest.mark.slow
def test_a_131_kb_cell_is_a_clean_error(plain_model, tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text("area,age\n1000," + "9" * 10 + "x" * 131_072 + "\n")
    proc = fastmlp_cli("predict", plain_model, path)
    assert_clean_error(proc, "line 2")
    assert len(proc.stderr) < 400


def test_duplicate_column_names_are_refused(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("x,y,y\n1,2,2\n3,4,4\n")
    assert_clean_error(fastmlp_cli("train", path, "--target", "y", "--epochs", "1"), "'y' appears twice")


@pytest.mark.slow
@pytest.mark.parametrize("hidden", ["100000,100000", "2147483648"])
def test_huge_layers_fail_fast_before_allocating(houses, hidden):
    d, _ = houses
    start = time.perf_counter()
    proc = fastmlp_cli("train", d / "train.csv", "--target", "price", "--hidden", hidden, "--epochs", "1")
    elapsed = time.perf_counter() - start
    assert_clean_error(proc, "GiB", "--hidden")
    assert elapsed < 20, f"took {elapsed:.1f} s to refuse"


@pytest.mark.slow
def test_negative_demo_seed_is_a_clean_error():
    assert_clean_error(fastmlp_cli("demo", "--seed", "-1"), "--seed")


@pytest.mark.slow
def test_unwritable_lesson_directory_is_a_clean_error():
    pytest.importorskip("matplotlib", reason="without matplotlib the lessons write no figures")
    assert_clean_error(fastmlp_cli("lesson", "landscape", "--out", "/proc/x"), "/proc/x")


@pytest.mark.slow
@pytest.mark.parametrize(
    "optimizer", [name for name, cls in OPTIMIZERS.items() if "momentum" not in cls.hyperparameters]
)
def test_momentum_is_refused_for_optimizers_without_it(houses, optimizer):
    d, _ = houses
    assert_clean_error(
        fastmlp_cli(
            "train",
            d / "train.csv",
            "--target",
            "price",
            "--epochs",
            "1",
            "--optimizer",
            optimizer,
            "--momentum",
            "0.9",
        ),
        "--momentum",
        optimizer,
    )
