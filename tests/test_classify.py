"""Classification through the model: MLP.fit with cross_entropy / bce (and the other new losses, sample
and class weights, the trainer's L2 penalty) against reference.train_epoch in float64, predict_proba,
evaluate's accuracy, and the checks on labels at the boundary."""

from __future__ import annotations

import numpy as np
import pytest

import fastmlp
from fastmlp import _core, reference
from fastmlp.optim import SGD, Adam


def _data(rng, loss, n=37, k=4, m=3):
    x = rng.standard_normal((n, k))
    if loss == "cross_entropy":
        return x, rng.integers(0, m, n)
    if loss == "bce":
        return x, rng.integers(0, 2, (n, m)).astype(np.float64)
    if loss == "poisson":
        return x, rng.poisson(1.5, (n, m)).astype(np.float64)
    return x, rng.standard_normal((n, m))


@pytest.mark.parametrize("loss", ["cross_entropy", "bce", "poisson", "huber"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
@pytest.mark.parametrize("batch_size", [None, 1, 8])
def test_fit_matches_reference_epochs(rng, loss, weighted, batch_size):
    x, y = _data(rng, loss)
    sw = rng.random(x.shape[0]) + 0.2 if weighted else None
    model = fastmlp.MLP([4, 7, 3], activation="tanh", seed=3, dtype="float64")
    ws, bs = [w.copy() for w, _ in model.get_weights()], [b.copy() for _, b in model.get_weights()]
    opt = SGD(lr=0.05, momentum=0.9)
    hist = model.fit(x, y, loss=loss, optimizer=opt, batch_size=batch_size, epochs=3, seed=11, sample_weight=sw)
    state, step = None, 0
    for epoch in range(3):
        value, ws, bs, state, step = reference.train_epoch(
            ws,
            bs,
            model.activations,
            x,
            y,
            loss,
            batch_size,
            True,
            11,
            epoch,
            0.05,
            opt.config(),
            state,
            step,
            sample_weight=sw,
        )
        assert hist.history["loss"][epoch] == pytest.approx(value, rel=1e-10), f"epoch {epoch} loss"
    for (w, b), w0, b0 in zip(model.get_weights(), ws, bs):
        err = max(np.abs(w - w0).max(), np.abs(b - b0).max())
        assert err < 1e-10, f"{loss}: weights differ from the reference by {err:.3e}"


def test_trainer_l2_penalty_matches_reference(rng):
    x, y = _data(rng, "cross_entropy", n=29)
    model = fastmlp.MLP([4, 5, 3], activation="relu", seed=1, dtype="float64")
    ws, bs = [w.copy() for w, _ in model.get_weights()], [b.copy() for _, b in model.get_weights()]
    sw = rng.random(29) + 0.5
    t = np.hstack([y.reshape(-1, 1).astype(np.float64), sw.reshape(-1, 1)])
    opt = Adam(lr=0.01)
    st = model._optimizer_state_for(opt)
    options = _core.TrainOptions(
        loss={"name": "cross_entropy", "labels": True, "weighted": True},
        optimizer=opt.config(),
        batch_size=10,
        shuffle=True,
        seed=4,
        l2=0.3,
    )
    trainer = _core.Trainer(
        model.weights, model.biases, model.activations, model.negative_slope, st["w"], st["b"], x, t, options
    )
    value, _, _ = trainer.run_epoch(0, np.full(trainer.steps_per_epoch, 0.01), 0)
    want, ws, bs, _, _ = reference.train_epoch(
        ws, bs, model.activations, x, y, "cross_entropy", 10, True, 4, 0, 0.01, opt.config(), sample_weight=sw, l2=0.3
    )
    assert value == pytest.approx(want, rel=1e-10)
    for (w, b), w0, b0 in zip(model.get_weights(), ws, bs):
        np.testing.assert_allclose(w, w0, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(b, b0, rtol=1e-9, atol=1e-12)


def test_integer_sample_weights_equal_repeated_rows(rng):
    """Full-batch gradient descent with weight 2 on a row is the same as that row twice."""
    x, y = _data(rng, "cross_entropy", n=20)
    sw = rng.integers(1, 3, 20).astype(np.float64)
    a = fastmlp.MLP([4, 6, 3], activation="tanh", seed=2, dtype="float64")
    b = fastmlp.MLP([4, 6, 3], activation="tanh", seed=2, dtype="float64")
    ha = a.fit(x, y, loss="cross_entropy", optimizer=SGD(lr=0.1), batch_size=None, epochs=5, sample_weight=sw)
    rep = np.repeat(np.arange(20), sw.astype(int))
    hb = b.fit(x[rep], y[rep], loss="cross_entropy", optimizer=SGD(lr=0.1), batch_size=None, epochs=5)
    np.testing.assert_allclose(ha.history["loss"], hb.history["loss"], rtol=1e-12)
    for (wa, _ba), (wb, _bb) in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-10, atol=1e-13)


def test_class_weight_matches_reference(rng):
    x, y = _data(rng, "cross_entropy", n=25)
    cw = np.array([0.5, 2.0, 1.0])
    model = fastmlp.MLP([4, 3], seed=0, dtype="float64")
    value, grads = model.gradients(x, y, loss="cross_entropy", class_weight=cw)
    out = reference.mlp_forward(model.weights, model.biases, model.activations, x)
    assert value == pytest.approx(reference.loss("cross_entropy", out, y, class_weight=cw), rel=1e-12)
    g = reference.loss_grad("cross_entropy", out, y, class_weight=cw)
    np.testing.assert_allclose(grads[0][0], x.T @ g, rtol=1e-10, atol=1e-14)
    assert model.evaluate(x, y, loss="cross_entropy", class_weight={1: 2.0, 0: 0.5}) == pytest.approx(value)


def test_classifier_learns_blobs_and_reports_accuracy(rng):
    centers = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    y = rng.integers(0, 3, 600)
    x = (centers[y] + 0.5 * rng.standard_normal((600, 2))).astype(np.float32)
    model = fastmlp.MLP([2, 16, 3], activation="relu", seed=0)
    model.fit(x, y, loss="cross_entropy", optimizer=Adam(lr=0.01), batch_size=32, epochs=30)
    proba = model.predict_proba(x)
    assert proba.shape == (600, 3) and np.allclose(proba.sum(axis=1), 1.0)
    result = model.evaluate(x, y, loss="cross_entropy", metrics=["accuracy"])
    assert set(result) == {"loss", "accuracy"}
    assert result["accuracy"] > 0.97, f"accuracy {result['accuracy']:.3f} on well separated blobs"
    assert result["accuracy"] == pytest.approx(float((proba.argmax(axis=1) == y).mean()))


def test_multilabel_bce(rng):
    x = rng.standard_normal((400, 3)).astype(np.float32)
    y = np.stack([x[:, 0] > 0, x[:, 1] + x[:, 2] > 0], axis=1).astype(np.int64)  # integer 0/1 labels
    model = fastmlp.MLP([3, 16, 2], activation="tanh", seed=0)
    model.fit(x, y, loss="bce", optimizer=Adam(lr=0.02), batch_size=50, epochs=60)
    proba = model.predict_proba(x)
    assert proba.shape == (400, 2) and ((proba >= 0) & (proba <= 1)).all()
    acc = model.evaluate(x, y, loss="bce", metrics="accuracy")["accuracy"]
    assert acc > 0.9, f"multi-label subset accuracy {acc:.3f}"


@pytest.mark.parametrize(
    "y, word",
    [
        (np.array([0, 1, 3, 1]), "class labels"),
        (np.array([0.0, 1.5, 2, 1]), "class labels"),
        (np.array(["a", "b", "a", "b"]), "dtype"),
        (np.array([0, 1, np.nan, 1]), "NaN"),
    ],
)
def test_bad_labels_raise(y, word):
    model = fastmlp.MLP([2, 3], seed=0)
    x = np.zeros((4, 2), np.float32)
    with pytest.raises((ValueError, TypeError)) as info:
        model.fit(x, y, loss="cross_entropy", epochs=1)
    assert word in str(info.value), info.value


def test_cross_entropy_needs_two_outputs():
    with pytest.raises(ValueError, match="bce"):
        fastmlp.MLP([2, 1]).fit(np.zeros((3, 2), np.float32), np.zeros(3, np.int64), loss="cross_entropy")


def test_validation_loss_with_labels_and_weights(rng):
    x, y = _data(rng, "cross_entropy", n=40)
    model = fastmlp.MLP([4, 5, 3], seed=0, dtype="float64")
    hist = model.fit(
        x[:30],
        y[:30],
        loss="cross_entropy",
        epochs=2,
        sample_weight=rng.random(30) + 0.1,
        validation_data=(x[30:], y[30:]),
    )
    assert hist.history["val_loss"][-1] == pytest.approx(model.evaluate(x[30:], y[30:], loss="cross_entropy"))


def test_class_weight_for_a_class_the_network_lacks_is_refused():
    # {7: 2.0} for a 3-class network was accepted and the weight dropped silently.
    x = np.ones((4, 2), np.float32)
    y = np.array([0, 1, 2, 1])
    model = fastmlp.MLP([2, 3], seed=0)
    for bad in ({7: 2.0}, {-1: 1.0}, {"0": 1.0}, {True: 2.0}):
        with pytest.raises(ValueError, match="that this network does not have: its classes are 0 to 2"):
            model.fit(x, y, loss="cross_entropy", epochs=1, class_weight=bad)
    model.fit(x, y, loss="cross_entropy", epochs=1, class_weight={np.int64(2): 2.0, 0: 0.5})
