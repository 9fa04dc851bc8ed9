"""The lessons compute what the seed lecture says; their numbers are checked here, not their pixels."""

from __future__ import annotations

import inspect
import subprocess
import sys

import numpy as np
import pytest

import fastmlp
from fastmlp import lessons


@pytest.fixture(scope="module")
def landscape():
    return lessons.landscape()


def test_landscape_grid_minimum_is_the_least_squares_line(landscape):
    a, b = landscape["least_squares"]
    ga, gb = landscape["grid_min"]
    da = landscape["a"][1] - landscape["a"][0]
    db = landscape["b"][1] - landscape["b"][0]
    assert abs(ga - a) <= da and abs(gb - b) <= db, (ga, gb, a, b)
    # The grid came from one batched kernel call; spot-check one cell against the formula.
    from fastmlp.data import load_women

    h, w = load_women()
    x = (h - h.mean()) / h.std()
    i, j = 7, 93
    aa, bb = landscape["a"][j], landscape["b"][i]
    assert landscape["loss"][i, j] == pytest.approx(np.mean((aa * x + bb - w) ** 2), rel=1e-12)


def test_landscape_gradient_descent_path_goes_downhill_to_the_minimum(landscape):
    path = landscape["path"]
    a, b = landscape["least_squares"]
    dist = np.hypot(path[:, 0] - a, path[:, 1] - b)
    assert dist[-1] < 0.01 * dist[0]
    assert np.all(np.diff(dist) <= 1e-9), "full-batch GD on a convex quadratic must approach monotonically"


def test_learning_rate_lesson_flags_the_diverging_rate():
    d = lessons.learning_rate()
    small, good, large = sorted(d["curves"])
    assert d["verdicts"] == {small: "too slow", good: "converges", large: "diverges"}
    assert d["curves"][large][-1] > 100 * d["curves"][large][0]
    assert d["curves"][good][-1] < 0.01


def test_optimizers_lesson_runs_every_optimizer_and_they_learn():
    d = lessons.optimizers(epochs=8)
    assert set(d["runs"]) == {
        "GD (full batch)",
        "SGD (batch 1)",
        "mini-batch (32)",
        "momentum 0.9 (32)",
        "Adam (32)",
        "RMSprop (32)",
        "Adagrad (32)",
        "NAdam (32)",
        "RAdam (32)",
        "Adamax (32)",
    }
    for name, (loss, t) in d["runs"].items():
        assert len(loss) == 8 and np.all(np.diff(t) > 0), name
        assert loss[-1] < loss[0], name


@pytest.fixture(scope="module")
def init_lesson():
    return lessons.init(depth=20, width=32, n=128)


def test_init_lesson_zeros_and_ones_keep_units_identical(init_lesson):
    sym = init_lesson["symmetric_after_training"]
    assert sym["zeros"] and sym["ones"], "constant initializations stay symmetric (every unit identical)"
    assert not sym["xavier_uniform"], "random initialization breaks the symmetry"


def test_init_lesson_shows_saturation_explosion_and_stable_spreads(init_lesson):
    s = init_lesson["spreads"]
    acts, grads = s[("tanh", "zeros")]
    assert np.all(acts == 0) and np.all(grads == 0)
    acts, grads = s[("tanh", "ones")]
    assert acts[-1] > 0.95 and np.all(grads == 0), "ones saturate tanh: outputs at +-1, gradients vanish"
    acts, _ = s[("relu", "ones")]
    assert acts[-1] > 1e20, "ones explode ReLU activations"
    acts, _ = s[("relu", "He")]
    assert 0.05 < acts[-1] < 5, "He keeps ReLU activations in range"
    acts, _ = s[("relu", "Xavier")]
    assert acts[-1] < 0.01 * s[("relu", "He")][0][-1], "Xavier shrinks a deep ReLU stack (variance halves per layer)"
    acts, grads = s[("tanh", "Xavier")]
    assert acts[-1] > 0.05 and grads.max() / grads.min() < 5, "Xavier keeps tanh's gradients level across layers"
    _, grads = s[("tanh", "normal(0,1)")]
    assert grads.max() / grads.min() > 100, "N(0, 1) weights saturate tanh and the gradients explode backwards"
    assert np.array_equal(s[("tanh", "LeCun")][0], s[("tanh", "Xavier")][0]), "LeCun = Xavier when fan_in = fan_out"
    trained = init_lesson["trained_first_layer"]
    assert np.all(trained["ones"] == trained["ones"][:, :1]) and np.all(trained["zeros"] == 0)


def test_batch_size_lesson_scaling_helps_until_it_breaks():
    d = lessons.batch_size(batches=(8, 64, None), epochs=6, n=1024)
    runs = d["runs"]
    assert runs[(8, True)]["lr"] == runs[(8, False)]["lr"], "the base batch keeps the base rate"
    assert runs[(64, True)]["lr"] == pytest.approx(8 * d["base_lr"])
    assert runs[(64, True)]["loss"][-1] < runs[(64, False)]["loss"][-1], "scaled lr learns faster per epoch"
    assert runs[(None, True)]["diverged"], "full batch at base_lr * 128 is past the rule's limit"
    assert not any(r["diverged"] for (b, s), r in runs.items() if not s)


def test_deep_lesson_trains_a_hundred_layers():
    d = lessons.deep(epochs=6)
    assert d["layers"] == 101 and d["stopped"] is None
    assert d["final_loss"] < 0.5 * d["initial_loss"]


def test_plots_history_draws_a_fit(tmp_path):
    pytest.importorskip("matplotlib")
    from fastmlp import plots
    from fastmlp.schedules import StepLR

    x = np.linspace(-1, 1, 64).reshape(-1, 1)
    hist = fastmlp.MLP([1, 8, 1], seed=0).fit(x, x**2, epochs=4, validation_data=(x, x**2), schedule=StepLR(2, 0.5))
    fig = plots.history(hist)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["loss", "val_loss"]
    assert np.allclose(ax.get_lines()[0].get_ydata(), hist.history["loss"])
    assert len(fig.axes) == 2, "a changing learning rate gets its own axis"
    path = plots.save(fig, tmp_path / "history.png")
    assert (tmp_path / "history.png").stat().st_size > 1000 and str(path).endswith("history.png")


@pytest.mark.slow
def test_lesson_cli_writes_figures_or_says_how(tmp_path):
    out = tmp_path / "figs"
    proc = subprocess.run(
        [sys.executable, "-m", "fastmlp", "lesson", "learning-rate", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "diverges" in proc.stdout
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib" in proc.stdout
    else:
        png = out / "learning-rate.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_unknown_lesson_is_a_clean_error():
    proc = subprocess.run([sys.executable, "-m", "fastmlp", "lesson", "nope"], capture_output=True, text=True)
    assert proc.returncode != 0 and "unknown lesson" in proc.stderr and "Traceback" not in proc.stderr


def test_lessons_take_a_device():
    # Every lesson runs on device="auto" (the GPU when there is one); on the CPU the numbers are the same.
    for name, (compute, _, _, _) in lessons.LESSONS.items():
        assert "device" in inspect.signature(compute).parameters, f"lesson {name} takes no device"
    cpu = lessons.learning_rate(epochs=10)
    auto = lessons.learning_rate(epochs=10, device="auto")
    assert cpu["verdicts"] == auto["verdicts"]
    for lr in cpu["curves"]:
        np.testing.assert_allclose(auto["curves"][lr], cpu["curves"][lr], rtol=1e-9)


def test_perceptron_lesson_learns_and_or_not_xor_and_the_mlp_learns_xor():
    d = lessons.perceptron()
    for gate in ("AND", "OR"):
        assert d["gates"][gate]["converged"] and d["gates"][gate]["accuracy"] == 1.0, gate
    xor = d["gates"]["XOR"]
    # no line separates XOR: Rosenblatt's rule never stops making mistakes, at most 3 of 4 can be right
    assert not xor["converged"] and min(xor["errors"]) > 0 and xor["accuracy"] <= 0.75
    assert d["mlp"]["accuracy"] == 1.0 and d["mlp"]["loss"][-1] < 0.05
    assert list(d["mlp"]["model"].sizes) == [2, 2, 1]


def test_rosenblatt_rule_by_hand():
    """One epoch on AND from w = 0, b = 0, lr 0.1, samples in order: only (0,0) (output 1, target 0)
    and (1,1) (output 0 after the first update, target 1) change the weights."""
    from fastmlp.lessons.perceptron import GATES, X, rosenblatt

    w, b, errors = rosenblatt(X, GATES["AND"], lr=0.1, epochs=1)
    assert errors == [2]
    np.testing.assert_allclose(w[:, 0], [0.1, 0.1])
    np.testing.assert_allclose(b, [0.0])


def test_dropout_lesson_overfits_without_dropout_and_less_with_it():
    d = lessons.dropout()
    noise = d["noise"] ** 2
    plain, half = d["fits"][0.0], d["fits"][0.5]
    # Without dropout the training error is below the noise's variance: the noise itself is learned,
    # and the error on the true curve ends well above its lowest.
    assert plain["train"] < 0.7 * noise and plain["val"] > 2 * min(plain["val_loss"])
    assert half["train"] > plain["train"] and half["val"] < 0.5 * plain["val"]
    assert d["fits"][0.3]["val"] < plain["val"]
    for f in d["fits"].values():
        assert len(f["loss"]) == len(f["masked_loss"]) == len(f["val_loss"]) == 1500
        assert f["val"] == pytest.approx(f["val_loss"][-1], rel=1e-12)
    assert "dropout 0.5: training MSE" in lessons.LESSONS["dropout"][2](d)
