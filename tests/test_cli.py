"""The `fastmlp` command (python -m fastmlp): demo, train, predict, --version, and its error messages.

Each call runs in a child process, as a user would run it. Errors must be one clear line on stderr and
a non-zero exit status, never a Python traceback.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

import fastmlp
from helpers import assert_clean_error, fastmlp_cli


def write_csv(path, header, rows):
    lines = [",".join(header)] + [",".join(f"{v!r}" if isinstance(v, float) else str(v) for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def linear_csvs(tmp_path_factory):
    """train.csv: y = 2 x1 - x2 + 1 on 200 rows; query.csv: 5 new points without y; their truth."""
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (200, 2))
    y = 2 * x[:, 0] - x[:, 1] + 1
    write_csv(d / "train.csv", ["x1", "x2", "y"], np.column_stack([x, y]).tolist())
    q = np.array([[0.5, 0.25], [-0.5, 0.5], [0.0, 0.0], [0.9, -0.9], [-1.0, 1.0]])
    write_csv(d / "query.csv", ["x1", "x2"], q.tolist())
    write_csv(d / "query_with_y.csv", ["x1", "x2", "y"], np.column_stack([q, 2 * q[:, 0] - q[:, 1] + 1]).tolist())
    return d, 2 * q[:, 0] - q[:, 1] + 1


# ---- demo -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_output():
    proc = fastmlp_cli("demo", timeout=60)
    assert proc.returncode == 0, f"fastmlp demo failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.slow
def test_demo_recovers_least_squares_line(demo_output):
    m = re.search(r"weight = (-?[\d.]+) lb/in \* height \+ \((-?[\d.]+) lb\)", demo_output)
    assert m, f"no fitted line in the demo output:\n{demo_output}"
    a, b = float(m.group(1)), float(m.group(2))
    height, weight = fastmlp.data.load_women()
    a_ls, b_ls = np.polyfit(height, weight, 1)  # 3.45, -87.52
    assert abs(a - 3.45) < 0.05 and abs(a - a_ls) < 0.05, a
    assert abs(b - (-87.52)) < 2 and abs(b - b_ls) < 2, b


@pytest.mark.slow
def test_demo_predicts_unseen_heights(demo_output):
    height, weight = fastmlp.data.load_women()
    a_ls, b_ls = np.polyfit(height, weight, 1)
    for h in (57.5, 73.0):
        m = re.search(rf"{h:5.1f} in -> +(-?[\d.]+) lb", demo_output)
        assert m, f"no prediction for {h} in:\n{demo_output}"
        assert abs(float(m.group(1)) - (a_ls * h + b_ls)) < 1.0, (h, m.group(1))


@pytest.mark.slow
def test_demo_mlp_beats_the_line(demo_output):
    lin = re.search(r"linear fit\s+test MSE ([\d.]+)", demo_output)
    mlp = re.search(r"ReLU MLP\s+test MSE ([\d.]+)", demo_output)
    assert lin and mlp, demo_output
    assert float(mlp.group(1)) < float(lin.group(1))
    assert "the MLP beats the line" in demo_output
    assert "does NOT beat" not in demo_output


# ---- train and predict -----------------------------------------------------------------------------------
def test_train_save_predict(linear_csvs):
    d, truth = linear_csvs
    model_path = d / "linear.npz"
    # Unstandardized, so that the saved weights are the line's own a and b.
    proc = fastmlp_cli(
        "train",
        d / "train.csv",
        "--target",
        "y",
        "--hidden",
        "",
        "--lr",
        "0.1",
        "--epochs",
        "100",
        "--standardize",
        "none",
        "--save",
        model_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "saved to" in proc.stdout and model_path.exists()
    assert "Traceback" not in proc.stderr
    loss = float(re.search(r"final training mse: (\S+)", proc.stdout).group(1))
    assert loss < 1e-6

    for query, extra in (("query.csv", []), ("query_with_y.csv", ["--target", "y"])):
        proc = fastmlp_cli("predict", model_path, d / query, *extra)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.strip().splitlines()
        assert lines[0] == "y"  # the target's name, which the model keeps
        pred = np.array([float(v) for v in lines[1:]])
        np.testing.assert_allclose(pred, truth, atol=1e-3)

    # The saved file is an ordinary model.
    model = fastmlp.load(model_path)
    ((w, b),) = model.get_weights()
    np.testing.assert_allclose(w.ravel(), [2.0, -1.0], atol=1e-3)
    np.testing.assert_allclose(b, [1.0], atol=1e-3)


@pytest.mark.slow
def test_train_hidden_layers(linear_csvs):
    d, truth = linear_csvs
    model_path = d / "mlp.npz"
    proc = fastmlp_cli(
        "train",
        d / "train.csv",
        "--target",
        "y",
        "--hidden",
        "16",
        "--activation",
        "tanh",
        "--optimizer",
        "sgd",
        "--lr",
        "0.05",
        "--momentum",
        "0.9",
        "--batch-size",
        "16",
        "--epochs",
        "60",
        "--weight-decay",
        "0",
        "--save",
        model_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert fastmlp.load(model_path).sizes == [2, 16, 1]
    proc = fastmlp_cli("predict", model_path, d / "query.csv")
    assert proc.returncode == 0, proc.stderr
    pred = np.array([float(v) for v in proc.stdout.split()[1:]])
    np.testing.assert_allclose(pred, truth, atol=0.15)


@pytest.mark.parametrize("activation", ["gelu", "elu(alpha=0.5)"])
def test_train_with_an_activation_that_keeps_z(linear_csvs, activation):
    d, truth = linear_csvs
    model_path = d / "act.npz"
    proc = fastmlp_cli(
        "train",
        d / "train.csv",
        "--target",
        "y",
        "--hidden",
        "16",
        "--activation",
        activation,
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--batch-size",
        "16",
        "--epochs",
        "60",
        "--weight-decay",
        "0",
        "--save",
        model_path,
    )  # a noise-free fit: no penalty
    assert proc.returncode == 0, proc.stderr
    assert fastmlp.load(model_path).activations == [activation, "identity"]
    proc = fastmlp_cli("predict", model_path, d / "query.csv")
    pred = np.array([float(v) for v in proc.stdout.split()[1:]])
    np.testing.assert_allclose(pred, truth, atol=0.15)
    assert "gelu" in fastmlp_cli("train", "--help").stdout  # the allowed names are listed


# Those of the kernels' registry that no other test here trains with (each run is a child process).
@pytest.mark.parametrize("optimizer", ["nadam", "radam", "adamax"])
def test_train_with_each_newer_optimizer_saves_its_state(linear_csvs, tmp_path, optimizer):
    d, truth = linear_csvs
    model_path = tmp_path / f"{optimizer}.npz"
    proc = fastmlp_cli(
        "train",
        d / "train.csv",
        "--target",
        "y",
        "--hidden",
        "",
        "--optimizer",
        optimizer,
        "--lr",
        "0.02",
        "--batch-size",
        "16",
        "--epochs",
        "40",
        "--validation-split",
        "0",
        "--patience",
        "0",
        "--save",
        model_path,
    )
    assert proc.returncode == 0, proc.stderr
    model = fastmlp.load(model_path)
    assert model.optimizer.name == optimizer and model._opt["step"] == 40 * 13
    assert model._opt["names"] == model.optimizer.state_names()
    proc = fastmlp_cli("predict", model_path, d / "query.csv")
    assert proc.returncode == 0, proc.stderr
    pred = np.array([float(v) for v in proc.stdout.split()[1:]])
    np.testing.assert_allclose(pred, truth, atol=0.1)


def test_version():
    proc = fastmlp_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"fastmlp {fastmlp.__version__}"


# ---- errors ------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_missing_csv(tmp_path):
    assert_clean_error(fastmlp_cli("train", tmp_path / "nope.csv", "--target", "y"), "nope.csv")


@pytest.mark.slow
def test_missing_target_column(linear_csvs):
    d, _ = linear_csvs
    assert_clean_error(fastmlp_cli("train", d / "train.csv", "--target", "weight"), "'weight'", "x1, x2, y")


@pytest.mark.slow
def test_target_option_required(linear_csvs):
    d, _ = linear_csvs
    assert_clean_error(fastmlp_cli("train", d / "train.csv"), "--target")


@pytest.mark.slow
def test_non_numeric_cell(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("x1,x2,y\n1,2,3\n4,five,6\n")
    assert_clean_error(fastmlp_cli("train", path, "--target", "y"), "line 3", "'x2'", "'five'")


@pytest.mark.slow
def test_ragged_row(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("x1,x2,y\n1,2,3\n4,5\n")
    assert_clean_error(fastmlp_cli("train", path, "--target", "y"), "line 3")


@pytest.mark.slow
@pytest.mark.parametrize("text,word", [("", "empty"), ("x,y\n", "no data rows")])
def test_empty_csv(tmp_path, text, word):
    path = tmp_path / "empty.csv"
    path.write_text(text)
    assert_clean_error(fastmlp_cli("train", path, "--target", "y"), word)


@pytest.mark.slow
@pytest.mark.parametrize(
    "args,word",
    [
        (["--activation", "mish"], "unknown activation"),
        (["--loss", "hinge"], "unknown loss"),
        (["--optimizer", "lbfgs"], "unknown optimizer"),
        (["--lr", "-1"], "lr"),
        (["--batch-size", "-3"], "--batch-size"),
        (["--hidden", "4,x"], "--hidden"),
        (["--hidden", "0"], "size"),
        (["--epochs", "-1"], "--epochs"),
    ],
)
def test_bad_training_options(linear_csvs, args, word):
    d, _ = linear_csvs
    assert_clean_error(fastmlp_cli("train", d / "train.csv", "--target", "y", "--epochs", "1", *args), word)


@pytest.mark.slow
def test_diverging_training_is_reported(linear_csvs):
    d, _ = linear_csvs
    proc = fastmlp_cli("train", d / "train.csv", "--target", "y", "--lr", "1e9", "--epochs", "50")
    assert_clean_error(proc, "learning rate")


@pytest.mark.slow
def test_zero_epochs(linear_csvs):
    # Zero epochs trains nothing; that is either fine (exit 0) or a clear error, never a traceback.
    d, _ = linear_csvs
    proc = fastmlp_cli("train", d / "train.csv", "--target", "y", "--epochs", "0")
    assert "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("where", ["missing_dir", "is_a_dir"])
def test_unwritable_save_path(linear_csvs, tmp_path, where):
    d, _ = linear_csvs
    target = tmp_path / "no" / "such" / "dir" / "m.npz" if where == "missing_dir" else tmp_path
    proc = fastmlp_cli("train", d / "train.csv", "--target", "y", "--epochs", "1", "--save", target)
    assert_clean_error(proc)
    assert str(target) in proc.stderr or target.name in proc.stderr, proc.stderr
    assert not list(tmp_path.glob("**/.fastmlp-*")), "temporary file left behind"


@pytest.mark.slow
def test_predict_missing_model(linear_csvs, tmp_path):
    d, _ = linear_csvs
    assert_clean_error(fastmlp_cli("predict", tmp_path / "none.npz", d / "query.csv"), "none.npz")


@pytest.mark.slow
def test_predict_not_a_model(linear_csvs):
    d, _ = linear_csvs
    assert_clean_error(fastmlp_cli("predict", d / "train.csv", d / "query.csv"), "not a")


@pytest.mark.slow
def test_predict_wrong_number_of_columns(linear_csvs):
    d, _ = linear_csvs
    model_path = d / "cols.npz"
    assert (
        fastmlp_cli(
            "train", d / "train.csv", "--target", "y", "--hidden", "", "--epochs", "1", "--save", model_path
        ).returncode
        == 0
    )
    # A model without feature names (saved by older versions, or built in Python) cannot pick columns.
    model = fastmlp.load(model_path)
    model.feature_names = model.target_names = model.preprocessing = None
    model.save(model_path)
    assert_clean_error(fastmlp_cli("predict", model_path, d / "train.csv"), "--target")


def test_no_command():
    proc = fastmlp_cli()
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "usage" in proc.stderr


# ---- devices -------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_device_auto_runs_and_gives_the_cpu_result(linear_csvs):
    # auto is the GPU when there is one, the CPU otherwise; the demo's line is the same either way.
    proc = fastmlp_cli("demo", "--device", "auto", "--epochs", "5")
    assert proc.returncode == 0, proc.stderr
    assert "a = 3.45" in proc.stdout
    d, _ = linear_csvs
    proc = fastmlp_cli("train", d / "train.csv", "--target", "y", "--epochs", "2", "--device", "auto")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
@pytest.mark.skipif(fastmlp.cuda_available(), reason="a CUDA device is present")
@pytest.mark.parametrize(
    "command",
    [["demo"], ["lesson", "landscape"], ["train", "x.csv", "--target", "y"], ["predict", "m.npz", "x.csv"]],
    ids=lambda c: c[0],
)
def test_device_cuda_without_it_is_a_clean_error(command):
    reason = "no CUDA device" if fastmlp.cuda_built() else "no CUDA kernels"
    assert_clean_error(fastmlp_cli(*command, "--device", "cuda"), reason)


@pytest.mark.slow
def test_unknown_device_is_refused():
    proc = fastmlp_cli("demo", "--device", "tpu")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


@pytest.mark.slow
def test_train_classify_prints_accuracy_and_confusion_matrix(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 2))
    label = np.where(x[:, 0] > 0, 7, 3)  # any numeric labels: 3 and 7
    path = tmp_path / "cls.csv"
    write_csv(path, ["a", "b", "label"], [[float(a), float(b), int(c)] for a, b, c in zip(x[:, 0], x[:, 1], label)])
    proc = fastmlp_cli(
        "train",
        str(path),
        "--target",
        "label",
        "--task",
        "classify",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--epochs",
        "20",
    )
    assert proc.returncode == 0, proc.stderr
    acc = float(re.search(r"training rows: accuracy ([0-9.]+)", proc.stdout).group(1))
    assert acc > 0.95, proc.stdout
    assert "confusion matrix" in proc.stdout and re.search(r"^\s+3\s+\d+\s+\d+$", proc.stdout, re.M), proc.stdout
    bad = fastmlp_cli("train", str(path), "--target", "a,label", "--task", "classify")
    assert_clean_error(bad, "one target column")


@pytest.mark.slow
def test_predict_of_a_classifier_gives_labels_and_probabilities(tmp_path):
    """A model saved by `train --task classify` predicts the label itself (first column, named after the
    target), then each class's probability; a regression model still predicts its outputs."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 2))
    label = np.where(x[:, 0] > 0.3, 7, np.where(x[:, 1] > 0, 3, -2))
    path, model = tmp_path / "cls.csv", tmp_path / "cls.fmlp"
    write_csv(path, ["a", "b", "label"], [[float(a), float(b), int(c)] for a, b, c in zip(x[:, 0], x[:, 1], label)])
    proc = fastmlp_cli(
        "train",
        str(path),
        "--target",
        "label",
        "--task",
        "classify",
        "--optimizer",
        "adam",
        "--lr",
        "0.02",
        "--epochs",
        "60",
        "--save",
        str(model),
    )
    assert proc.returncode == 0, proc.stderr
    out = fastmlp_cli("predict", str(model), str(path))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "label,label=-2,label=3,label=7", lines[0]
    rows = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    assert rows.shape == (300, 4)
    np.testing.assert_allclose(rows[:, 1:].sum(axis=1), 1.0, atol=1e-6)
    assert np.array_equal(rows[:, 0], np.array([-2.0, 3.0, 7.0])[rows[:, 1:].argmax(axis=1)])
    assert (rows[:, 0] == label).mean() > 0.9, (rows[:, 0] == label).mean()


@pytest.mark.parametrize(
    "args",
    [
        ("demo", "--epochs", "-5"),
        ("demo", "--epochs", "two"),
        ("train", "x.csv", "--target", "y", "--epochs", "-1"),
        ("train", "x.csv", "--target", "y", "--batch-size", "-3"),
    ],
)
def test_negative_counts_are_refused_in_one_line(args):
    # They reached fit's own check and ended in a traceback.
    assert_clean_error(fastmlp_cli(*args), "must be")


@pytest.mark.slow
@pytest.mark.parametrize("save", [True, False])
def test_ctrl_c_during_train_keeps_the_run(tmp_path, save):
    # Ctrl-C in a long run: one line that says what the model keeps, the model saved when --save was
    # given, exit status 130, no traceback (it used to print 25 lines and write nothing).
    import signal
    import subprocess
    import sys

    rng = np.random.default_rng(0)
    x = rng.standard_normal((3000, 4))
    table = tmp_path / "d.csv"
    table.write_text("a,b,c,d,y\n" + "".join(",".join(f"{float(v)!r}" for v in (*r, r.sum())) + "\n" for r in x))
    model_path = tmp_path / "m.npz"
    cmd = [
        sys.executable,
        "-m",
        "fastmlp",
        "train",
        str(table),
        "--target",
        "y",
        "--epochs",
        "100000000",
        "--patience",
        "0",
        "--quiet",
    ] + (["--save", str(model_path)] if save else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(4.0)  # imported, read, training
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, (proc.returncode, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "interrupted by Ctrl-C" in err and "last completed step" in err, err
    if save:
        assert f"saved to {model_path}" in err, err
        model = fastmlp.load(model_path)
        assert all(np.isfinite(w).all() for w in model.weights)
        assert model._opt["step"] > 0  # the optimizer's state of the steps run, saved with the weights
    else:
        assert "nothing was saved (no --save)" in err and not model_path.exists(), err


def test_save_to_a_non_regular_file_is_refused_before_training(linear_csvs, tmp_path):
    # /dev/null or a named pipe: save would refuse them after the whole run; train refuses them first.
    d, _ = linear_csvs
    import os

    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    for target in ("/dev/null", str(fifo)):
        start = time.perf_counter()
        proc = fastmlp_cli(
            "train", d / "train.csv", "--target", "y", "--epochs", "100000", "--save", target, timeout=60
        )
        assert_clean_error(proc, "not a regular file", target)
        assert time.perf_counter() - start < 30  # refused up front, not after 100,000 epochs


def test_info_on_a_table_says_it_is_not_a_model_file(linear_csvs):
    # It said the file "contains pickled (object) data" (NumPy's guess for anything not .npy/.npz).
    d, _ = linear_csvs
    proc = fastmlp_cli("info", d / "train.csv")
    assert_clean_error(proc, "is not a fastmlp model file", "it looks like a table")
    assert "pickle" not in proc.stderr


def test_help_shows_defaults_and_choices():
    proc = fastmlp_cli("train", "--help")
    text = " ".join(proc.stdout.split())
    for said in (
        "(default: adam)",
        "(default: 64,64)",
        "(default: 200)",
        "(default: 20)",
        "{mean,median,most_frequent,constant}",
        "cosine",
        "--split-seed",
    ):
        assert said in text, (said, text)
    lessons = " ".join(fastmlp_cli("lesson", "--help").stdout.split())
    assert "perceptron" in lessons, lessons


@pytest.mark.skipif(fastmlp.cuda_available(), reason="a GPU is there: --device cuda works")
def test_device_cuda_without_a_gpu_names_the_option(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x,y\n1,2\n2,4\n3,6\n")
    proc = fastmlp_cli("train", path, "--target", "y", "--device", "cuda")
    assert proc.returncode != 0 and "--device cpu" in proc.stderr and "device='cpu'" not in proc.stderr, proc.stderr


def test_classify_and_info_agree_on_what_was_standardized(tmp_path):
    path = tmp_path / "t.csv"
    rows = "\n".join(f"{i % 7},{i % 3},{'ab'[i % 2]}" for i in range(40))
    path.write_text("x,z,label\n" + rows + "\n")
    train = fastmlp_cli(
        "train", path, "--target", "label", "--task", "classify", "--epochs", "3", "--save", tmp_path / "m.npz"
    )
    assert train.returncode == 0, train.stderr
    assert "(features standardized)" in train.stdout, train.stdout
    info = fastmlp_cli("info", tmp_path / "m.npz").stdout
    assert "standardize: features (" in info and "classes:     a, b" in info, info


def test_train_with_dropout_and_an_output_activation_is_saved_and_shown_by_info(linear_csvs):
    d, _ = linear_csvs
    model_path = d / "dropped.npz"
    proc = fastmlp_cli(
        "train", d / "train.csv", "--target", "y", "--hidden", "16,8", "--activation", "tanh,relu",
        "--dropout", "0.3,0.1", "--output-activation", "softplus", "--epochs", "5", "--save", model_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    model = fastmlp.load(model_path)
    assert model.dropout == [0.3, 0.1] and model.activations == ["tanh", "relu", "softplus"]
    info = fastmlp_cli("info", model_path)
    assert info.returncode == 0, info.stderr
    assert "dropout:     0.3, 0.1" in info.stdout
    # the layer table of MLP.summary(), with the fit memory at the last fit's batch size (32)
    for needle in ("Output shape", "dense_3", "softplus", "Dropout", "batch_size=32 takes"):
        assert needle in info.stdout, info.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--dropout", "1"), ("--dropout", "[0, 1)")),
        (("--dropout", "0.1,0.2,0.3"), ("--dropout", "3 rates", "2 hidden")),
        (("--dropout", "half"), ("--dropout", "number")),
        (("--output-activation", "nope"), ("output_activation", "nope")),
    ],
)
def test_bad_dropout_or_output_activation_is_one_line(linear_csvs, args, words):
    d, _ = linear_csvs
    proc = fastmlp_cli("train", d / "train.csv", "--target", "y", "--hidden", "4,4", "--epochs", "1", *args)
    assert_clean_error(proc, *words)


def test_a_classifier_with_a_sigmoid_output_is_refused_as_a_double_sigmoid(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 2))
    write_csv(tmp_path / "c.csv", ["a", "b", "label"], [(a, b, "yes" if a > 0 else "no") for a, b in x])
    proc = fastmlp_cli(
        "train", tmp_path / "c.csv", "--target", "label", "--task", "classify", "--output-activation", "sigmoid",
        "--epochs", "1",
    )  # fmt: skip
    assert_clean_error(proc, "double sigmoid")
