"""MLP.summary (fastmlp.summary): the layers, shapes, activations and parameter counts of the model, and
the fit memory of fastmlp.memory.training_bytes, checked against hand counts and the model itself."""

from __future__ import annotations

import pytest

import fastmlp
from fastmlp import memory, optim


def test_summary_counts_each_layer_by_hand():
    model = fastmlp.MLP([7, 5, 3, 2], activation=["tanh", "elu(alpha=0.5)"], output_activation="sigmoid")
    s = model.summary(batch_size=16)
    assert [(layer.name, layer.inputs, layer.outputs) for layer in s.layers] == [
        ("dense_1", 7, 5),
        ("dense_2", 5, 3),
        ("dense_3", 3, 2),
    ]
    assert [layer.activation for layer in s.layers] == ["tanh", "elu(alpha=0.5)", "sigmoid"]
    assert [layer.params for layer in s.layers] == [7 * 5 + 5, 5 * 3 + 3, 3 * 2 + 2]
    assert s.total_params == model.n_params == 40 + 18 + 8
    assert s.param_bytes == 4 * s.total_params
    assert (s.dtype, s.device, s.batch_size, s.standardized) == ("float32", "cpu", 16, "no")
    text = str(s)
    assert repr(s) == text
    for needle in ("dense_3", "(batch, 2)", "elu(alpha=0.5)", "Parameters: 66 (264 B)", "batch_size=16"):
        assert needle in text, text


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_summary_fit_memory_is_the_trainers_plan(dtype):
    model = fastmlp.MLP([10, 64, 1], dtype=dtype)
    adam = optim.Adam()
    s = model.summary(256, optimizer=adam, n_samples=1000)
    assert s.fit_bytes == memory.training_bytes(model, 256, n_samples=1000, optimizer=adam)
    assert s.optimizer == repr(adam)
    assert model.summary(256).fit_bytes < s.fit_bytes  # SGD keeps no state
    assert s.param_bytes == model.n_params * (4 if dtype == "float32" else 8)


def test_summary_defaults_to_the_models_last_optimizer_and_reports_standardization():
    model = fastmlp.MLP([1, 1])
    x, y = fastmlp.data.load_women()
    mean, std = fastmlp.data.column_stats(x)
    model.set_standardization(x_mean=mean, x_std=std)
    model.fit(x, y, optimizer=optim.RMSprop(lr=0.01), epochs=2)
    s = model.summary()
    assert s.optimizer.startswith("RMSprop(") and s.standardized == "features"
    assert s.fit_bytes == memory.training_bytes(model, 32, optimizer=model.optimizer)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "32", None])
def test_summary_refuses_a_bad_batch_size(bad):
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        fastmlp.MLP([2, 1]).summary(bad)


def test_summary_of_a_single_neuron_has_one_row_past_the_input():
    lines = str(fastmlp.MLP([1, 1]).summary()).splitlines()
    assert lines[0] == "MLP: 1 dense layer(s), float32, on cpu"
    rows = [line for line in lines if line.startswith(("input", "dense_"))]
    assert [r.split()[0] for r in rows] == ["input", "dense_1"]
    assert rows[1].split()[-1] == "2"  # a and b
