"""What a model carries besides its weights: column names and standardization statistics. predict,
fit, evaluate and gradients apply the statistics; save and load keep both, old files without them still
load, and load refuses ill-formed ones by name."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fastmlp


def scaled_data(rng, n=300):
    x = rng.standard_normal((n, 3)) * [1000.0, 0.01, 5.0] + [5e3, -1.0, 20.0]
    y = 3e3 + 500.0 * np.tanh((x[:, :1] - 5e3) / 1000.0) + 100.0 * ((x[:, 1:2] + 1.0) / 0.01)
    return x.astype(np.float32), y.astype(np.float32)


def with_stats(model, x, y):
    model.set_standardization(x.mean(0), x.std(0), y.mean(0), y.std(0))
    return model


def test_predict_is_the_network_on_standardized_data(rng):
    x, y = scaled_data(rng)
    model = with_stats(fastmlp.MLP([3, 8, 1], seed=0), x, y)
    s = model.standardization
    plain = fastmlp.MLP([3, 8, 1], seed=0)
    xs = (x - s["x_mean"]) / s["x_std"]
    np.testing.assert_array_equal(model.predict(x), plain.predict(xs) * s["y_std"] + s["y_mean"])
    ys = (y - s["y_mean"]) / s["y_std"]
    assert model.evaluate(x, y) == plain.evaluate(xs, ys)  # the loss is the network's, standardized
    loss, grads = model.gradients(x[:9], y[:9])
    loss2, grads2 = plain.gradients(xs[:9], ys[:9])
    assert loss == loss2
    np.testing.assert_array_equal(grads[0][0], grads2[0][0])


def test_fit_with_standardization_learns_unscaled_data(rng):
    x, y = scaled_data(rng, 2000)
    raw = fastmlp.MLP([3, 32, 1], seed=0)
    raw_hist = raw.fit(x, y, optimizer=fastmlp.optim.Adam(lr=0.01), epochs=30, on_nonfinite="stop")
    model = with_stats(fastmlp.MLP([3, 32, 1], seed=0), x, y)
    hist = model.fit(x, y, optimizer=fastmlp.optim.Adam(lr=0.01), epochs=30, validation_data=(x[:200], y[:200]))
    r2 = 1 - np.mean((model.predict(x) - y) ** 2) / np.var(y)
    r2_raw = 1 - np.mean((raw.predict(x) - y) ** 2) / np.var(y) if raw_hist.stopped_reason is None else -np.inf
    print(f"R2 with standardization {r2:.4f}, without {r2_raw:.4f}")
    assert r2 > 0.98 and r2 > r2_raw
    # the validation loss is on the same (standardized) scale as the training loss
    assert hist.history["val_loss"][-1] == pytest.approx(model.evaluate(x[:200], y[:200]))
    assert hist.history["val_loss"][-1] < 0.05


def test_set_standardization_checks(rng):
    model = fastmlp.MLP([2, 1])
    with pytest.raises(ValueError, match="x_mean and x_std go together"):
        model.set_standardization(x_mean=[0, 0])
    with pytest.raises(ValueError, match="x_std must be finite and > 0"):
        model.set_standardization([0, 0], [1, 0])
    with pytest.raises(ValueError, match="y_mean must hold 1"):
        model.set_standardization(y_mean=[0, 0], y_std=[1, 1])
    with pytest.raises(ValueError, match="dtype float32"):
        model.set_standardization([1e300, 0], [1, 1])
    model.set_standardization(0.5, 2.0)  # a scalar is one value for every column
    np.testing.assert_array_equal(model.standardization["x_std"], [2.0, 2.0])
    assert model.standardization["y_mean"] is None
    model.set_standardization()
    assert model.standardization is None


def test_names_checks():
    model = fastmlp.MLP([2, 1])
    assert model.feature_names is None and model.target_names is None
    model.feature_names = ("a", "b")
    assert model.feature_names == ["a", "b"]
    with pytest.raises(ValueError, match="more than once: 'a'"):
        model.feature_names = ["a", "a"]
    with pytest.raises(ValueError, match="2 column"):
        model.feature_names = ["a"]
    with pytest.raises(TypeError, match="list of str"):
        model.target_names = "y"
    with pytest.raises(ValueError, match="empty name"):
        model.target_names = [""]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_load_round_trip(tmp_path, rng, dtype):
    x, y = scaled_data(rng)
    model = fastmlp.MLP([3, 4, 1], dtype=dtype, seed=2)
    model.set_standardization(x.mean(0).astype(dtype), x.std(0).astype(dtype), y.mean(0), y.std(0))
    model.feature_names, model.target_names = ["a", "b", "c"], ["price"]
    model.save(tmp_path / "m.npz")
    back = fastmlp.load(tmp_path / "m.npz")
    assert back.feature_names == ["a", "b", "c"] and back.target_names == ["price"]
    for key, value in model.standardization.items():
        np.testing.assert_array_equal(back.standardization[key], value)  # bit for bit
        assert back.standardization[key].dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.predict(x.astype(dtype)), model.predict(x.astype(dtype)))


def edited_copy(tmp_path, edit):
    model = fastmlp.MLP([2, 3, 1], seed=0)
    model.feature_names, model.target_names = ["a", "b"], ["y"]
    model.set_standardization([0.0, 1.0], [1.0, 2.0], [3.0], [4.0])
    model.save(tmp_path / "good.npz")
    with np.load(tmp_path / "good.npz") as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    edit(meta)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "edited.npz", **arrays)
    return tmp_path / "edited.npz"


def test_files_without_names_or_statistics_still_load(tmp_path):
    def old(meta):  # what a file written before these entries existed holds
        for key in ("feature_names", "target_names", "standardization"):
            del meta[key]

    model = fastmlp.load(edited_copy(tmp_path, old))
    assert model.feature_names is None and model.target_names is None and model.standardization is None


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("feature_names", "a,b", "'feature_names' is 'a,b'"),
        ("feature_names", ["a"], "2 column"),
        ("feature_names", ["a", "a"], "more than once"),
        ("target_names", [1], "list of str"),
        ("standardization", [1, 2], "'standardization' is"),
        ("standardization", {"x_mean": [0, 0]}, "keys"),
        ("standardization", {"x_mean": [0, 0], "x_std": [1, -1], "y_mean": None, "y_std": None}, "x_std must be"),
        ("standardization", {"x_mean": [0, 0], "x_std": [1, 1], "y_mean": [0], "y_std": None}, "go together"),
        ("standardization", {"x_mean": ["0", 0], "x_std": [1, 1], "y_mean": None, "y_std": None}, "list of numbers"),
        ("standardization", {"x_mean": [0, 0, 0], "x_std": [1, 1, 1], "y_mean": None, "y_std": None}, "hold 2"),
    ],
)
def test_load_refuses_ill_formed_names_and_statistics(tmp_path, key, value, match):
    bad = edited_copy(tmp_path, lambda meta: meta.__setitem__(key, value))
    with pytest.raises(ValueError, match=match):
        fastmlp.load(bad)


def test_training_summary_is_kept_and_checked(tmp_path, rng):
    x, y = scaled_data(rng, 50)
    model = with_stats(fastmlp.MLP([3, 2, 1], seed=0), x, y)
    assert model.training_summary is None
    model.fit(x, y, epochs=2)
    model.fit(x, y, epochs=3, batch_size=None, validation_data=(x, y))
    summary = model.training_summary
    assert summary["fits"] == 2 and summary["epochs"] == 5
    assert summary["last"]["epochs"] == 3 and summary["last"]["batch_size"] is None
    assert summary["last"]["final_val_loss"] == pytest.approx(model.evaluate(x, y))
    model.save(tmp_path / "s.npz")
    assert fastmlp.load(tmp_path / "s.npz").training_summary == summary


@pytest.mark.parametrize("value", [{"fits": 1}, {"fits": -1, "epochs": 0, "last": {}}, "x"])
def test_load_refuses_ill_formed_training_summary(tmp_path, value):
    bad = edited_copy(tmp_path, lambda meta: meta.__setitem__("training", value))
    with pytest.raises(ValueError, match="training"):
        fastmlp.load(bad)
