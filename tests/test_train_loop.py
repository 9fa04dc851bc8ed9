"""The C++ training epoch behind MLP.fit against reference.train_epoch (full batch, SGD, mini-batches
with a short or dropped last batch, with and without shuffling), float32 against the float64 reference,
whole-network gradients against finite differences and reference.mlp_loss_grad, and determinism."""

from __future__ import annotations

import numpy as np
import pytest

import fastmlp
from fastmlp import reference
from fastmlp.optim import SGD
from helpers import rel_close

SIZES = [3, 5, 4, 2]
N = 23  # 7 does not divide it: batches of 7, 7, 7 and a short one of 2
EPOCHS = 3
LR = 0.1
BATCHES = [
    pytest.param(None, False, id="full"),
    pytest.param(1, False, id="sgd1"),
    pytest.param(7, False, id="mini7"),
    pytest.param(7, True, id="mini7-drop_last"),
]
# The last ones keep z for their derivative: the trainer's second buffer per layer.
HIDDEN = ["tanh", "relu", "sigmoid", "gelu", "gelu_tanh", "silu", "elu(alpha=0.5)", "softplus(beta=2)", "selu"]


def _data(rng, n=N):
    x = rng.standard_normal((n, SIZES[0]))
    y = np.stack([np.tanh(x[:, 0] - x[:, 1]), 0.5 * x[:, 2] ** 2 - 0.3], axis=1)
    return x, y


def _model(hidden, dtype="float64", seed=5):
    return fastmlp.MLP(
        SIZES, activation=hidden, seed=seed, dtype=dtype, bias_init="uniform", init_kwargs={"low": -0.1, "high": 0.1}
    )


def _params(model):
    return [w.astype(np.float64) for w in model.weights], [b.astype(np.float64) for b in model.biases]


def _reference_fit(weights, biases, acts, x, y, batch_size, shuffle, drop_last, seed, epochs, loss="mse", lr=LR):
    losses, state, step = [], None, 0
    for epoch in range(epochs):
        value, weights, biases, state, step = reference.train_epoch(
            weights,
            biases,
            acts,
            x,
            y,
            loss,
            batch_size,
            shuffle,
            seed,
            epoch,
            lr,
            optimizer=SGD(lr=lr).config(),
            state=state,
            step=step,
            drop_last=drop_last,
        )
        losses.append(value)
    return losses, weights, biases, step


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("shuffle", [False, True], ids=["ordered", "shuffled"])
@pytest.mark.parametrize("batch_size, drop_last", BATCHES)
def test_fit_matches_reference_float64(rng, batch_size, drop_last, shuffle, hidden):
    x, y = _data(rng)
    model = _model(hidden)
    w0, b0 = _params(model)
    hist = model.fit(
        x,
        y,
        loss="mse",
        optimizer=SGD(lr=LR),
        batch_size=batch_size,
        epochs=EPOCHS,
        shuffle=shuffle,
        seed=17,
        drop_last=drop_last,
    )
    losses, weights, biases, step = _reference_fit(
        w0, b0, model.activations, x, y, batch_size, shuffle, drop_last, 17, EPOCHS
    )
    expected_steps = {None: 1, 1: N, 7: N // 7 if drop_last else -(-N // 7)}[batch_size]
    assert hist.params["steps"] == expected_steps, f"steps per epoch {hist.params['steps']}, expected {expected_steps}"
    assert step == EPOCHS * expected_steps
    what = f"batch_size={batch_size} drop_last={drop_last} shuffle={shuffle} {hidden}"
    rel_close(hist.history["loss"], losses, f"{what}: loss per epoch", 1e-10)
    for l in range(len(weights)):
        rel_close(model.weights[l], weights[l], f"{what}: W{l}", 1e-10)
        rel_close(model.biases[l], biases[l], f"{what}: b{l}", 1e-10)


@pytest.mark.parametrize("loss", ["mse", "mae"])
def test_fit_matches_reference_each_epoch(rng, loss):
    """The weights after every epoch, not only the last: fits of 1, 2 and 3 epochs from the same start."""
    x, y = _data(rng)
    w0, b0 = _params(_model("tanh"))
    for epochs in (1, 2, 3):
        model = _model("tanh")
        model.fit(x, y, loss=loss, optimizer=SGD(lr=LR), batch_size=7, epochs=epochs, shuffle=True, seed=2)
        _, ref_w, ref_b, _ = _reference_fit(w0, b0, model.activations, x, y, 7, True, False, 2, epochs, loss)
        for l in range(len(ref_w)):
            rel_close(model.weights[l], ref_w[l], f"{loss}: W{l} after epoch {epochs}", 1e-10)
            rel_close(model.biases[l], ref_b[l], f"{loss}: b{l} after epoch {epochs}", 1e-10)


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("batch_size, drop_last", BATCHES)
def test_fit_float32_matches_float64_reference(rng, batch_size, drop_last, hidden):
    x, y = _data(rng)
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    model = _model(hidden, dtype="float32")
    w0, b0 = _params(model)  # the float32 initial weights, exactly
    # SELU from its LeCun normal start at lr 0.1, one sample at a time, is chaotic here: a relative change
    # of 1e-7 in the float64 weights moves the third epoch's loss by 2%, so float32 rounding is compared
    # with float64 on a gentler rate.
    lr = LR / 10 if hidden == "selu" else LR
    hist = model.fit(
        x32, y32, optimizer=SGD(lr=lr), batch_size=batch_size, epochs=EPOCHS, shuffle=True, seed=9, drop_last=drop_last
    )
    losses, weights, biases, _ = _reference_fit(
        w0,
        b0,
        model.activations,
        x32.astype(np.float64),
        y32.astype(np.float64),
        batch_size,
        True,
        drop_last,
        9,
        EPOCHS,
        lr=lr,
    )
    what = f"float32 batch_size={batch_size} drop_last={drop_last} {hidden}"
    rel_close(np.asarray(hist.history["loss"]), losses, f"{what}: loss per epoch", 1e-4)
    for l in range(len(weights)):
        assert model.weights[l].dtype == np.float32
        rel_close(model.weights[l], weights[l], f"{what}: W{l}", 1e-4, dtype=np.float32)
        rel_close(model.biases[l], biases[l], f"{what}: b{l}", 1e-4, dtype=np.float32)


# ---- whole-network gradients --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradients_of_nets_that_differ_only_in_activation(rng, dtype):
    # The full-data gradient keeps its workspaces between calls of the same shapes: a net whose
    # activation keeps z after one of the same widths that keeps none must not reuse them as they are.
    x, y = _data(rng, n=16)
    for hidden in ("tanh", "gelu", "relu", "silu"):
        model = fastmlp.MLP(SIZES, activation=hidden, seed=3, dtype=dtype)
        _, grads = model.gradients(x.astype(dtype), y.astype(dtype))
        _, want = reference.mlp_loss_grad(*_params(model), model.activations, "mse", x.astype(dtype), y.astype(dtype))
        for l, ((gw, _), (rw, _)) in enumerate(zip(grads, want)):
            rel_close(gw, rw, f"{hidden} after another net: dL/dW{l}", 1e-4, dtype=np.dtype(dtype))


@pytest.mark.parametrize("loss", ["mse", "mae"])
def test_model_gradients_finite_differences(rng, assert_close, loss):
    x, y = _data(rng, n=9)
    model = _model("tanh")
    if loss == "mae":  # keep every residual away from |.|'s kink
        pred = model.predict(x)
        y = pred + np.where(rng.random(pred.shape) < 0.5, -1.0, 1.0) * rng.uniform(0.2, 1.0, pred.shape)
    value, grads = model.gradients(x, y, loss=loss)
    assert len(grads) == 3
    assert_close(value, model.evaluate(x, y, loss=loss), np.float64, "gradients' loss vs evaluate", check_dtype=False)
    h = 1e-6
    for l in range(3):
        for which, param in (("W", model.weights[l]), ("b", model.biases[l])):
            numeric = np.empty_like(param)
            for idx in np.ndindex(param.shape):
                old = param[idx]
                param[idx] = old + h
                up = model.evaluate(x, y, loss=loss)
                param[idx] = old - h
                down = model.evaluate(x, y, loss=loss)
                param[idx] = old
                numeric[idx] = (up - down) / (2 * h)
            analytic = grads[l][0 if which == "W" else 1]
            assert_close(
                analytic, numeric, np.float64, f"{loss} dL/d{which}{l} vs central differences", rtol=1e-6, atol=1e-9
            )


@pytest.mark.parametrize("dtype", [pytest.param("float32", id="f32"), pytest.param("float64", id="f64")])
@pytest.mark.parametrize("hidden", HIDDEN + ["leaky_relu", "identity"])
def test_model_gradients_match_reference(rng, assert_close, tol, hidden, dtype):
    x, y = _data(rng, n=16)
    model = fastmlp.MLP(
        SIZES,
        activation=hidden,
        output_activation="sigmoid",
        seed=3,
        dtype=dtype,
        bias_init="uniform",
        negative_slope=0.05,
    )
    w, b = _params(model)
    x_in, y_in = x.astype(dtype), y.astype(dtype)
    value, grads = model.gradients(x_in, y_in)
    ref_value, ref_grads = reference.mlp_loss_grad(w, b, model.activations, "mse", x_in, y_in, negative_slope=0.05)
    rel = tol[np.dtype(dtype)][0]
    assert_close(value, ref_value, np.float64, f"{hidden} loss value", rtol=rel, atol=0.0, check_dtype=False)
    for l, ((gw, gb), (rw, rb)) in enumerate(zip(grads, ref_grads)):
        rel_close(gw, rw, f"{hidden} dL/dW{l}", 10 * rel, dtype=np.dtype(dtype))
        rel_close(gb, rb, f"{hidden} dL/db{l}", 10 * rel, dtype=np.dtype(dtype))
    assert_close(
        model.predict(x_in),
        reference.mlp_forward(w, b, model.activations, x_in, negative_slope=0.05),
        np.dtype(dtype),
        f"{hidden} predict vs mlp_forward",
    )


# ---- determinism ----------------------------------------------------------------------------------------
def _fit_weights(x, y, sizes, batch_size, epochs, hidden="tanh"):
    model = fastmlp.MLP(sizes, activation=hidden, seed=8, dtype="float32")
    hist = model.fit(
        x, y, optimizer=SGD(lr=0.01, momentum=0.9), batch_size=batch_size, epochs=epochs, shuffle=True, seed=21
    )
    return hist.history["loss"], [a.copy() for pair in zip(model.weights, model.biases) for a in pair]


def test_fit_same_seed_bitwise(rng, assert_bitwise):
    x, y = _data(rng)
    loss1, p1 = _fit_weights(x.astype(np.float32), y.astype(np.float32), SIZES, 7, EPOCHS)
    loss2, p2 = _fit_weights(x.astype(np.float32), y.astype(np.float32), SIZES, 7, EPOCHS)
    assert loss1 == loss2, f"loss history differs between identical fits: {loss1} vs {loss2}"
    for i, (a, b) in enumerate(zip(p1, p2)):
        assert_bitwise(b, a, f"parameter #{i} of two identical fits")


@pytest.mark.parametrize(
    "sizes, n, batch",
    [
        pytest.param(SIZES, N, 7, id="small"),
        # big enough that each GEMM of a step (>= 2*128^3 multiply-adds) is split over 2 threads
        pytest.param([96, 256, 256, 16], 384, 128, id="threaded"),
        # a small network's batches cut in two parts, one per core (the last, 100 rows, is cut too)
        pytest.param([16, 64, 64, 1], 356, 128, id="batch-parts"),
    ],
)
def test_fit_thread_count_bitwise(rng, assert_bitwise, num_threads, sizes, n, batch):
    x = rng.standard_normal((n, sizes[0])).astype(np.float32)
    y = np.tanh(x[:, : sizes[-1]] * 0.5).astype(np.float32)
    num_threads(1)
    loss1, p1 = _fit_weights(x, y, sizes, batch, 2)
    num_threads(2)
    loss2, p2 = _fit_weights(x, y, sizes, batch, 2)
    assert loss1 == loss2, (
        f"loss history depends on the thread count: {loss1} vs {loss2} "
        f"(max error {max(abs(a - b) for a, b in zip(loss1, loss2)):.3e})"
    )
    for i, (a, b) in enumerate(zip(p1, p2)):
        assert_bitwise(b, a, f"parameter #{i} after fit with 2 threads vs 1")


def test_fits_on_two_python_threads_match_one_thread(rng, assert_bitwise, num_threads):
    """Two fits at once on two Python threads (one of them gets the step's helper thread, the other runs
    its parts in order), and a third thread's full-data gradients meanwhile: every result is bitwise
    the single-threaded one."""
    import threading

    sizes, n, batch = [16, 64, 64, 1], 356, 128
    x = rng.standard_normal((n, sizes[0])).astype(np.float32)
    y = np.tanh(x[:, :1] * 0.5).astype(np.float32)
    grad_model = fastmlp.MLP([16, 64, 1], seed=2)
    xg = rng.standard_normal((1000, 16)).astype(np.float32)
    yg = rng.standard_normal((1000, 1)).astype(np.float32)
    num_threads(1)
    want = _fit_weights(x, y, sizes, batch, 3)
    want_grad = grad_model.gradients(xg, yg)
    num_threads(2)
    got, errors = [None, None, None], []

    def run(i):
        try:
            for _ in range(5):
                got[i] = grad_model.gradients(xg, yg) if i == 2 else _fit_weights(x, y, sizes, batch, 3)
        except BaseException as e:  # reported below: a thread's exception would otherwise vanish
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads), "a fit did not finish in 120 s"
    for i in range(2):
        assert got[i][0] == want[0], f"thread {i}: loss history {got[i][0]} vs {want[0]}"
        for j, (a, b) in enumerate(zip(want[1], got[i][1])):
            assert_bitwise(b, a, f"thread {i}, parameter #{j}")
    assert got[2][0] == want_grad[0]
    for l, ((a, b), (c, d)) in enumerate(zip(want_grad[1], got[2][1])):
        assert_bitwise(c, a, f"gradients thread, dW{l}")
        assert_bitwise(d, b, f"gradients thread, db{l}")


@pytest.mark.parametrize("dtype", [pytest.param("float32", id="f32"), pytest.param("float64", id="f64")])
def test_predict_many_rows_matches_reference(rng, assert_close, tol, dtype):
    """More rows than predict's 4096-row chunk, and a ragged last chunk."""
    x = rng.standard_normal((9000, SIZES[0])).astype(dtype)
    model = fastmlp.MLP(SIZES, activation="tanh", seed=2, dtype=dtype, bias_init="uniform")
    w, b = _params(model)
    want = reference.mlp_forward(w, b, model.activations, x)
    assert_close(model.predict(x), want, np.dtype(dtype), "predict on 9000 rows")


@pytest.mark.parametrize("optimizer", [SGD(lr=LR), fastmlp.optim.Adam(lr=1e-2)], ids=["sgd", "adam"])
def test_batches_cut_in_parts_match_the_reference(rng, optimizer):
    """A small network with batches of >= 64 rows: the trainer computes the gradients of the two halves
    of each batch side by side and adds them. Batches of 128, 128 and a last one of 100 (cut into 50 +
    50), and of 40 (not cut), against the reference's whole-batch gradients, in float64."""
    sizes = [16, 64, 64, 1]
    x = rng.standard_normal((396, sizes[0]))
    y = np.tanh(x[:, :1] - 0.5 * x[:, 1:2])
    for batch in (128, 40):
        model = fastmlp.MLP(sizes, activation="tanh", seed=3, dtype="float64")
        weights, biases = _params(model)
        hist = model.fit(x, y, optimizer=optimizer, batch_size=batch, epochs=2, seed=9)
        state, step = None, 0
        for epoch in range(2):
            value, weights, biases, state, step = reference.train_epoch(
                weights,
                biases,
                model.activations,
                x,
                y,
                "mse",
                batch,
                True,
                9,
                epoch,
                optimizer.lr,
                optimizer=optimizer.config(),
                state=state,
                step=step,
            )
            assert hist.history["loss"][epoch] == pytest.approx(value, rel=1e-12)
        for got, want in zip(model.weights + model.biases, weights + biases):
            rel_close(got, want, f"batch {batch}", 1e-11)


@pytest.mark.parametrize("sizes", [[16, 64, 64, 1], [256, 256, 2]], ids=["chunks-side-by-side", "gemm-threads"])
def test_predict_thread_count_bitwise(rng, assert_bitwise, assert_close, tol, num_threads, sizes):
    """predict runs the 4096-row chunks of a small network one per thread, and splits each product of a
    larger one: either way the same bits as on one thread, and the reference's values."""
    x = rng.standard_normal((3 * 4096 + 77, sizes[0])).astype(np.float32)
    model = fastmlp.MLP(sizes, activation="tanh", seed=4)
    num_threads(1)
    one = model.predict(x)
    num_threads(2)
    two = model.predict(x)
    assert_bitwise(two, one, "predict with 2 threads vs 1")
    want = reference.mlp_forward(model.weights, model.biases, model.activations, x)
    assert_close(two, want, np.float32, "predict of many rows", rtol=1e-4, atol=1e-5)


# ---- the whole data set's gradient in chunks (L-BFGS's objective) ------------------------------------------
@pytest.mark.parametrize("n", [1, 255, 256, 257, 1000, 1031])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_gradients_over_many_chunks_match_reference(rng, assert_close, assert_bitwise, n, loss):
    """MLP.gradients runs its rows in chunks of 256, cut into two parts that run side by side: any count
    of rows (one chunk, a chunk and one row, several) gives the reference's loss and gradients, with
    and without sample weights, and one thread gives the same bits as two."""
    sizes = [7, 33, 100, 5]
    model = fastmlp.MLP(sizes, activation="relu", seed=4, dtype="float64", bias_init="uniform")
    x = rng.standard_normal((n, sizes[0]))
    y = rng.integers(0, 5, n) if loss == "cross_entropy" else rng.standard_normal((n, 5))
    w, b = _params(model)
    for sw in (None, rng.uniform(0.1, 2.0, n)):
        results, before = [], fastmlp.get_num_threads()
        for threads in (1, 2):
            fastmlp.set_num_threads(threads)
            try:
                results.append(model.gradients(x, y, loss=loss, sample_weight=sw))
            finally:
                fastmlp.set_num_threads(before)
        value, grads = results[0]
        ref_y = np.eye(5)[y] if loss == "cross_entropy" else y
        ref_value, ref_grads = reference.mlp_loss_grad(w, b, model.activations, loss, x, ref_y, sample_weight=sw)
        what = f"n={n} {loss} {'weighted' if sw is not None else ''}"
        assert_close(value, ref_value, np.float64, f"{what} loss", rtol=1e-12, atol=0.0, check_dtype=False)
        for l, ((gw, gb), (rw, rb)) in enumerate(zip(grads, ref_grads)):
            assert_close(gw, rw, np.float64, f"{what} dL/dW{l}", rtol=1e-10, atol=1e-13)
            assert_close(gb, rb, np.float64, f"{what} dL/db{l}", rtol=1e-10, atol=1e-13)
        assert results[0][0] == results[1][0], f"{what}: loss differs between 1 and 2 threads"
        for l, (one, two) in enumerate(zip(results[0][1], results[1][1])):
            assert_bitwise(two[0], one[0], f"{what} dL/dW{l}, 2 threads vs 1")
            assert_bitwise(two[1], one[1], f"{what} dL/db{l}, 2 threads vs 1")


def test_loss_grad_writes_into_given_arrays(rng):
    """_core.mlp_loss_grad(out=...) (L-BFGS's flat gradient) writes the very values it would return, and
    refuses arrays of the wrong shape, dtype or layout, and arrays that share memory with an input."""
    from fastmlp import _core

    sizes = [4, 9, 3]
    w = [rng.standard_normal((a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    b = [rng.standard_normal(n) for n in sizes[1:]]
    x, y = rng.standard_normal((300, 4)), rng.standard_normal((300, 3))
    args = (w, b, ["tanh", "identity"], 0.01, {"name": "mse", "factor": 0.5}, x, y)
    value, grads = _core.mlp_loss_grad(*args)
    flat = np.full(sum(a.size for a in w + b), np.nan)
    views, start = [], 0
    for a in w + b:
        views.append(flat[start : start + a.size].reshape(a.shape))
        start += a.size
    out = [(views[0], views[2]), (views[1], views[3])]
    value2, grads2 = _core.mlp_loss_grad(*args, out=out)
    assert value2 == value
    for (gw, gb), (ow, ob) in zip(grads, out):
        assert np.array_equal(gw, ow) and np.array_equal(gb, ob)
    assert grads2[0][0] is out[0][0]
    bad = {
        "shape": ([(flat[:36].reshape(9, 4), views[2]), out[1]], "shape"),
        "dtype": ([(views[0].astype(np.float32), views[2]), out[1]], "dtype"),
        "count": ([out[0]], "one \\(dW, db\\) pair per layer"),
        "aliases a weight": ([(w[0], views[2]), out[1]], "shares memory with weights\\[0\\]"),
        "aliases x": ([(x.reshape(-1)[:36].reshape(4, 9), views[2]), out[1]], "shares memory with x"),
        "aliases out": ([(views[0], views[2]), (views[1], flat[:3])], "shares memory with out"),
        "read-only": ([(np.zeros((4, 9)).view(), views[2]), out[1]], "read-only"),
    }
    bad["read-only"][0][0][0].flags.writeable = False
    bad["layout"] = ([(np.zeros((9, 4)).T, views[2]), out[1]], "C-contiguous")
    for _what, (o, match) in bad.items():
        with pytest.raises((ValueError, TypeError), match=match):
            _core.mlp_loss_grad(*args, out=o)


@pytest.mark.parametrize("n", [1, 3, 17, 64, 129])
@pytest.mark.parametrize("batch_size", [0, 1, 7, 64, 200])
@pytest.mark.parametrize("drop_last", [False, True])
def test_epoch_steps_is_what_the_trainer_runs(n, batch_size, drop_last):
    """_core.epoch_steps (fastmlp/epoch_plan.h, asked by fit before a trainer exists) against the rule
    spelled out, ceil(n / batch) or floor with drop_last, and against the trainer's own count."""
    batch = n if batch_size == 0 else min(batch_size, n)
    want = n // batch if drop_last else -(-n // batch)
    assert fastmlp._core.epoch_steps(n, batch_size, drop_last) == want
    if drop_last and batch_size > n:
        return  # refused by fit and by the trainer: no batch at all
    x = np.zeros((n, 2))
    hist = fastmlp.MLP([2, 1], dtype="float64").fit(
        x, x[:, :1], batch_size=batch_size or None, epochs=0, drop_last=drop_last
    )
    assert hist.params["steps"] == want


def test_train_options_hold_what_they_were_given_and_refuse_bad_values():
    """The trainer's options object: read back as given (the loss and the optimizer's config as passed),
    and checked when made, before any network or data is looked at."""
    opt = SGD(lr=0.1, momentum=0.9).config()
    o = fastmlp._core.TrainOptions(
        loss={"name": "huber", "delta": 2.0},
        optimizer=opt,
        batch_size=7,
        shuffle=False,
        drop_last=True,
        seed=2**63 + 5,
        clip_grad_norm=1.5,
        l2=0.25,
    )
    assert (o.loss, o.optimizer, o.batch_size, o.shuffle, o.drop_last, o.seed) == (
        {"name": "huber", "delta": 2.0},
        opt,
        7,
        False,
        True,
        2**63 + 5,
    )
    assert (o.clip_grad_norm, o.clip_grad_value, o.l2, o.device, o.global_rows, o.row_offset, o.reduce) == (
        1.5,
        0.0,
        0.25,
        "cpu",
        0,
        0,
        None,
    )
    for bad, error, match in [
        ({"l2": -1.0}, ValueError, "l2"),
        ({"clip_grad_value": -1.0}, ValueError, "clip"),
        ({"batch_size": -1}, ValueError, "batch_size"),
        ({"device": "tpu"}, ValueError, "device"),
        ({"optimizer": {"name": "nope"}}, ValueError, "nope"),
        ({"global_rows": 10}, TypeError, "reduce"),
    ]:
        with pytest.raises(error, match=match):
            fastmlp._core.TrainOptions(**{"loss": "mse", "optimizer": opt, **bad})
    with pytest.raises(TypeError):  # keyword arguments only: no order to get wrong
        fastmlp._core.TrainOptions("mse", opt)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer", ["sgd_momentum", "adam"])
@pytest.mark.parametrize("path", ["small", "gemm", "small-budget"])
def test_a_divergence_gives_back_the_last_finite_epoch_bit_for_bit(monkeypatch, rng, dtype, optimizer, path):
    # Without callbacks the guard keeps no copy per epoch: it replays the epochs from the weights of
    # before the fit. The weights restored after epoch 5 (0-based 4) diverges are those of a fit of 4
    # epochs, bit for bit, optimizer state and step count included. "budget": the rates kept for the
    # replay pass its budget in epoch 3, and the fit goes on with the trainer's copy per epoch.
    if path == "gemm":
        monkeypatch.setenv("FASTMLP_CPU_PATH", "gemm")
    if path == "small-budget":
        monkeypatch.setattr(fastmlp.train.Guard, "REPLAY_BYTES", 100)  # 6 steps of 8 bytes per epoch
    x = rng.standard_normal((41, 3)).astype(dtype)
    y = np.sin(x[:, :2])

    def fit(epochs, blow_up):
        opt = fastmlp.optim.SGD(lr=0.05, momentum=0.9) if optimizer == "sgd_momentum" else fastmlp.optim.Adam(lr=0.01)
        model = fastmlp.MLP([3, 16, 2], activation="tanh", seed=2, dtype=dtype)
        huge = float(np.finfo(dtype).max) / 1e3  # a finite rate that overflows the first update
        schedule = fastmlp.schedules.MultiStepLR(milestones=[4], gamma=huge if blow_up else 1.0)
        hist = model.fit(
            x, y, optimizer=opt, batch_size=8, epochs=epochs, seed=5, schedule=schedule, on_nonfinite="stop"
        )
        return model, hist

    diverged, hist = fit(8, True)
    assert "weights of the last finite epoch were restored (the end of epoch 4" in hist.stopped_reason, (
        hist.stopped_reason
    )
    four, _ = fit(4, False)
    for (w, b), (w4, b4) in zip(diverged.get_weights(), four.get_weights()):
        assert w.tobytes() == w4.tobytes() and b.tobytes() == b4.tobytes()
    assert diverged._opt["step"] == four._opt["step"]
    for bufs, bufs4 in zip(diverged._opt["w"] + diverged._opt["b"], four._opt["w"] + four._opt["b"]):
        assert all(a.tobytes() == c.tobytes() for a, c in zip(bufs, bufs4))
