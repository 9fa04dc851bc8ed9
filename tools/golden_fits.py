#!/usr/bin/env python3
"""Golden fits: a fixed set of small seeded fits whose results (weights, optimizer state, histories,
predictions) are recorded once and later compared bit for bit, to show that a refactor of the training
code changes no result. `record OUT.npz` writes them; `compare OUT.npz` reruns them and checks every bit."""

from __future__ import annotations

import argparse
import fnmatch
import functools
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
import zlib

import numpy as np

import fastmlp
from fastmlp import EarlyStopping, LambdaCallback
from fastmlp import optim as O
from fastmlp import schedules as S

META = "__meta__"
MPI_TIMEOUT = 120


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


# ---- data: numpy's default_rng, one fixed stream per kind ------------------------------------------
@functools.cache
def data(kind, dt):
    """(X, y, X_val, y_val, X_test) of `kind` in dtype dt (class labels stay int64)."""
    rng = np.random.default_rng([7, zlib.crc32(kind.encode())])
    n, d = {"deep": (300, 16), "big": (9000, 16), "wide": (384, 96), "split": (1024, 512), "dist": (60, 5)}.get(
        kind, (120, 5) if kind.startswith("sk") else (50, 4)
    )
    x = rng.standard_normal((n + 40, d))  # then 20 validation rows and 20 test rows
    noise = rng.standard_normal((n + 40, 3))
    if kind in ("cls", "skcls", "skbin"):
        c = 2 if kind == "skbin" else 3
        y = np.argmax(x[:, :c] + 0.5 * noise[:, :c], axis=1)
    elif kind == "bce":
        y = (x[:, :2] + 0.5 * noise[:, :2] > 0).astype(dt)
    elif kind == "pois":
        y = rng.poisson(np.exp(0.5 * x[:, :1])).astype(dt)
    elif kind in ("deep", "big", "split", "wide"):
        k = {"wide": 16, "split": 8}.get(kind, 4)
        y = np.tanh(x[:, :k] * x[:, k : 2 * k]).astype(dt)
    else:
        y = np.hstack([np.sin(1.5 * x[:, :1]) + 0.5 * x[:, 1:2] * x[:, 2:3], np.cos(x[:, 3:4])]) + 0.1 * noise[:, :2]
        y = y.astype(dt)
    x = x.astype(dt)
    return x[:n], y[:n], x[n : n + 20], y[n : n + 20], x[n + 20 :]


def weights(n):
    return np.random.default_rng(5).uniform(0.2, 2.0, n)


def onehot(y):
    return np.eye(3)[y]


def make(cls, *args, **kw):
    """A factory: optimizers, schedules and callbacks carry state, so every run builds fresh ones."""
    return lambda: cls(*args, **kw)


class StopAt(fastmlp.Callback):
    def __init__(self, epoch):
        self.at = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at:
            self.model.stop_training = True


# ---- the fits: each returns {key: array} -------------------------------------------------------------
def model_arrays(model, hist=None):
    out = {}
    for i, (w, b) in enumerate(zip(model.weights, model.biases)):
        out[f"W{i}"], out[f"b{i}"] = w, b
    if model._opt is not None:  # save() writes the optimizer state, so a refactor must keep it too
        out["opt_step"] = np.int64(model._opt["step"])
        for kind in ("w", "b"):
            for i, bufs in enumerate(model._opt[kind]):
                for name, a in zip(model._opt["names"], bufs):
                    out[f"opt_{kind}{i}_{name}"] = a
    if hist is not None:
        for k, v in hist.history.items():
            out[f"hist_{k}"] = np.asarray(v, np.float64)
        out["hist_epoch"] = np.asarray(hist.epoch, np.int64)
        out["stopped_epoch"] = np.int64(-1 if hist.stopped_epoch is None else hist.stopped_epoch)
        out["stopped_reason"] = np.str_(hist.stopped_reason or "")
        out["steps"], out["path"] = np.int64(hist.params["steps"]), np.str_(hist.params["path"])
    return out


def mlp_fit(
    dt,
    sizes=(4, 8, 2),
    act="tanh",
    out="identity",
    kind="reg",
    loss="mse",
    optimizer=make(O.SGD, lr=0.05),  # noqa: B008 (a factory: each fit calls it for a fresh optimizer)
    epochs=6,
    batch_size=16,
    threads=1,
    slope=0.01,
    standardize=False,
    y_fn=None,
    val=False,
    weighted=False,
    **fit_kw,
):
    fastmlp.set_num_threads(threads)
    x, y, xv, yv, xt = data(kind, dt)
    if y_fn is not None:
        y, yv = y_fn(y), y_fn(yv)
    model = fastmlp.MLP(list(sizes), activation=act, output_activation=out, seed=3, dtype=dt, negative_slope=slope)
    if standardize:
        model.set_standardization(x.mean(0), x.std(0) + 0.5, y.mean(0), y.std(0) + 0.5)
    kw = {k: v() if callable(v) else v for k, v in fit_kw.items()}
    if val:
        kw["validation_data"] = (xv, yv)
    if weighted:
        kw["sample_weight"] = weights(len(x))
    hist = model.fit(x, y, loss=loss, optimizer=optimizer(), epochs=epochs, batch_size=batch_size, seed=11, **kw)
    res = {**model_arrays(model, hist), "predict": model.predict(xt)}
    for i, cb in enumerate(kw.get("callbacks") or []):
        if isinstance(cb, EarlyStopping):
            for a in ("best", "best_epoch", "stopped_epoch", "wait"):
                res[f"cb{i}_{a}"] = np.float64(getattr(cb, a))
    return res


def warm_start(dt):
    x, y, *_, xt = data("reg", dt)
    model = fastmlp.MLP([4, 8, 2], activation="tanh", seed=3, dtype=dt)
    first = model.fit(x, y, optimizer=O.SGD(lr=0.05, momentum=0.9), epochs=3, seed=11)
    hist = model.fit(x, y, optimizer=O.SGD(lr=0.02, momentum=0.9), epochs=3, seed=12)  # keeps the momentum
    return {
        **model_arrays(model, hist),
        "first_hist_loss": np.asarray(first.history["loss"]),
        "predict": model.predict(xt),
    }


def gradients(dt, kind="reg", sizes=(4, 8, 8, 2), loss="mse", threads=1, weighted=False, **kw):
    fastmlp.set_num_threads(threads)
    x, y, *_ = data(kind, dt)
    model = fastmlp.MLP(list(sizes), activation="tanh", seed=4, dtype=dt)
    if weighted:
        kw["sample_weight"] = weights(len(x))
    value, grads = model.gradients(x, y, loss, **kw)
    out = {"loss": np.float64(value)}
    for i, (gw, gb) in enumerate(grads):
        out[f"dW{i}"], out[f"db{i}"] = gw, gb
    return out


def predict(dt, threads=1):
    fastmlp.set_num_threads(threads)
    x = np.random.default_rng(9).standard_normal((5000, 4)).astype(dt)  # more than one 4096-row chunk
    model = fastmlp.MLP([4, 16, 16, 3], activation="relu", seed=6, dtype=dt)
    return {
        "predict": model.predict(x),
        "predict_1row": model.predict(x[:1]),
        "proba_softmax": model.predict_proba(x[:50], "softmax"),
        "proba_sigmoid": model.predict_proba(x[:50], "sigmoid"),
    }


def evaluate(dt):
    out = {}
    for kind, sizes, losses in (
        ("reg", (4, 8, 2), ("mse", "mae", "huber")),
        ("pois", (4, 8, 1), ("poisson",)),
        ("cls", (4, 8, 3), ("cross_entropy",)),
        ("bce", (4, 8, 2), ("bce",)),
    ):
        x, y, *_ = data(kind, dt)
        model = fastmlp.MLP(list(sizes), activation="tanh", seed=5, dtype=dt)
        for loss in losses:
            out[loss] = np.float64(model.evaluate(x, y, loss))
            out[f"{loss}_weighted"] = np.float64(model.evaluate(x, y, loss, sample_weight=weights(len(x))))
            if loss in ("cross_entropy", "bce"):
                out[f"{loss}_accuracy"] = np.float64(model.evaluate(x, y, loss, metrics=["accuracy"])["accuracy"])
        if kind == "cls":
            out["ce_onehot_class_weight"] = np.float64(model.evaluate(x, onehot(y), loss, class_weight={1: 2.0}))
    return out


def sk_fit(dt, est="reg", kind=None, partial=0, weighted=False, **params):
    from fastmlp.sklearn import MLPClassifier, MLPRegressor

    x, y, _, _, xt = data(kind or f"sk{est}", dt)
    y = y[:, 0] if est == "reg" else y
    model = (MLPRegressor if est == "reg" else MLPClassifier)(
        **{"hidden_layer_sizes": (8,), "random_state": 0, "max_iter": 15, **params}
    )
    kw = {"sample_weight": weights(len(x))} if weighted else {}
    for _ in range(partial):
        model.partial_fit(x, y, **kw, **({} if est == "reg" else {"classes": np.unique(y)}))
    if not partial:
        model.fit(x, y, **kw)
    out = {}
    for i, (w, b) in enumerate(zip(model.coefs_, model.intercepts_)):
        out[f"W{i}"], out[f"b{i}"] = w, b
    for name in ("loss_curve_", "validation_scores_", "best_loss_", "best_validation_score_", "loss_", "n_iter_", "t_"):
        if getattr(model, name, None) is not None:
            out[name.rstrip("_")] = np.asarray(getattr(model, name))
    out["predict"] = model.predict(xt)
    if est != "reg":
        out["proba"] = model.predict_proba(xt)
    return out


# Data parallel: 2 ranks under mpiexec run this file's _dist-child; rank 0's results come back in a file.
def mpiexec():
    found = shutil.which("mpiexec") or os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return found if os.path.exists(found) else None


def dist_rank_fit(dt, comm):
    from fastmlp import distributed

    x, y, xv, yv, xt = data("dist", dt)
    lo, hi = distributed.block(len(x), comm.Get_rank(), comm.Get_size())
    vlo, vhi = distributed.block(len(xv), comm.Get_rank(), comm.Get_size())
    model = fastmlp.MLP([5, 16, 16, 2], activation="tanh", seed=3, dtype=dt)
    hist = model.fit(
        x[lo:hi],
        y[lo:hi],
        optimizer=O.SGD(lr=0.05, momentum=0.9, nesterov=True),
        batch_size=16,
        epochs=4,
        seed=11,
        validation_data=(xv[vlo:vhi], yv[vlo:vhi]),
        clip_grad_norm=1.0,
        schedule=S.ReduceLROnPlateau(monitor="val_loss", patience=0, factor=0.5),
        comm=comm,
    )
    out = {**model_arrays(model, hist), "predict": model.predict(xt)}
    blobs = comm.gather(b"".join(a.tobytes() for a in model.weights + model.biases), root=0)
    if comm.Get_rank() == 0:
        out["ranks_identical"] = np.bool_(all(b == blobs[0] for b in blobs))
    return out


def dist_fit(dt):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "rank0.npz")
        cmd = [mpiexec(), "-n", "2", sys.executable, "-m", "mpi4py", os.path.abspath(__file__), "_dist-child", dt, path]
        try:  # a hung rank must not hang the tool
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=MPI_TIMEOUT, env=dict(os.environ, OMP_NUM_THREADS="1")
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"mpiexec -n 2 did not finish in {MPI_TIMEOUT} s") from None
        if proc.returncode != 0 or not os.path.exists(path):
            raise RuntimeError(f"mpiexec -n 2 failed (exit {proc.returncode}): {proc.stderr.strip()[-600:]}")
        with np.load(path) as f:
            return {k: f[k] for k in f.files}


# ---- the table: name -> callable returning {key: array}; each entry is one fit in float32 and float64 ----
def table():
    sgd, adam, rms = (functools.partial(make, c) for c in (O.SGD, O.Adam, O.RMSprop))
    cls = dict(kind="cls", sizes=(4, 8, 3), loss="cross_entropy", optimizer=adam(lr=0.02))
    fits = {  # name: keyword arguments of mlp_fit, or of the function given as "fn"
        "opt/sgd": {},
        "opt/sgd-momentum": dict(optimizer=sgd(lr=0.05, momentum=0.9)),
        "opt/sgd-nesterov": dict(optimizer=sgd(lr=0.05, momentum=0.9, nesterov=True)),
        "opt/sgd-dampening-wd": dict(optimizer=sgd(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=1e-3)),
        "opt/adam": dict(optimizer=adam(lr=0.01)),
        "opt/adam-amsgrad": dict(optimizer=adam(lr=0.01, amsgrad=True)),
        "opt/adam-l2": dict(optimizer=adam(lr=0.01, weight_decay=1e-2)),
        "opt/adamw": dict(optimizer=make(O.AdamW, lr=0.01, weight_decay=0.05)),
        "opt/rmsprop": dict(optimizer=rms(lr=0.01)),
        "opt/rmsprop-momentum": dict(optimizer=rms(lr=0.005, momentum=0.9)),
        "opt/rmsprop-centered": dict(optimizer=rms(lr=0.005, centered=True)),
        "opt/rmsprop-centered-momentum-wd": dict(
            optimizer=rms(lr=0.005, centered=True, momentum=0.5, weight_decay=1e-3)
        ),
        "opt/adagrad-lr_decay": dict(
            optimizer=make(O.Adagrad, lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=1e-3)
        ),
        "opt/nadam": dict(optimizer=make(O.NAdam, lr=0.01, weight_decay=1e-3)),
        "opt/nadam-decoupled": dict(optimizer=make(O.NAdam, lr=0.01, weight_decay=0.05, decoupled_weight_decay=True)),
        "opt/radam": dict(optimizer=make(O.RAdam, lr=0.01, weight_decay=1e-3)),
        "opt/radam-decoupled": dict(optimizer=make(O.RAdam, lr=0.01, weight_decay=0.05, decoupled_weight_decay=True)),
        "opt/adamax": dict(optimizer=make(O.Adamax, lr=0.01, weight_decay=1e-3)),
        "loss/mse": {},
        "loss/mae": dict(loss="mae"),
        "loss/huber": dict(loss="huber", optimizer=sgd(lr=0.2)),
        "loss/poisson": dict(kind="pois", sizes=(4, 8, 1), loss="poisson"),
        "loss/ce-labels": cls,
        "loss/ce-onehot": dict(y_fn=onehot, **cls),
        "loss/ce-class_weight": dict(class_weight=[1.0, 2.0, 0.5], **cls),
        "loss/ce-labels-weighted": dict(weighted=True, **cls),
        "loss/bce": dict(kind="bce", loss="bce", optimizer=adam(lr=0.02)),
        **{
            f"act/{a}": dict(sizes=(4, 8, 8, 2), act=a, slope=0.2 if a == "leaky_relu" else 0.01)
            for a in fastmlp.ops.ACTIVATIONS
        },
        "act/mixed-out-sigmoid": dict(
            sizes=(4, 8, 8, 2), act=["relu", "leaky_relu"], out="sigmoid", kind="bce", slope=0.3
        ),
        "batch/full": dict(batch_size=None, epochs=20),
        "batch/sgd-1": dict(batch_size=1, epochs=3),
        "batch/ragged": dict(batch_size=16),
        "batch/drop_last": dict(batch_size=16, drop_last=True),
        "batch/no-shuffle": dict(shuffle=False),
        "batch/larger-than-n": dict(batch_size=80),
        "fit/sample_weight": dict(weighted=True),
        "fit/clip_grad_value": dict(clip_grad_value=0.05),
        "fit/clip_grad_norm": dict(optimizer=sgd(lr=0.3), clip_grad_norm=0.5),
        "fit/standardized": dict(standardize=True, val=True),
        "fit/warm-start": dict(fn=warm_start),
        # The rate grows 4x per epoch until the loss overflows: the last finite epoch's weights come back.
        "fit/diverge-stop": dict(
            sizes=(4, 32, 32, 2),
            act="relu",
            optimizer=sgd(lr=0.1),
            epochs=10,
            schedule=make(S.ExponentialLR, 4.0),
            on_nonfinite="stop",
        ),
        "fit/lr_scaling-linear": dict(lr_scaling="linear", base_batch_size=4, warmup_epochs=2),
        "fit/lr_scaling-sqrt-cosine": dict(
            lr_scaling="sqrt", base_batch_size=64, schedule=make(S.CosineAnnealingLR, 6)
        ),
        "stop/early-val_loss": dict(
            val=True,
            epochs=40,
            optimizer=adam(lr=0.05),
            callbacks=lambda: [
                EarlyStopping(monitor="val_loss", patience=2, min_delta=0.01, restore_best_weights=True)
            ],
        ),
        "stop/early-baseline": dict(
            epochs=20, callbacks=lambda: [EarlyStopping(monitor="loss", patience=2, baseline=0.0, min_delta=0.05)]
        ),
        "stop/lambda": dict(epochs=20, callbacks=lambda: [LambdaCallback(on_epoch_end=lambda e, logs: e == 3)]),
        "stop/stop_training": dict(epochs=20, val=True, callbacks=lambda: [StopAt(2)]),
        "stop/validation-only": dict(val=True),
        "call/gradients": dict(fn=gradients),
        "call/gradients-mae-weighted": dict(fn=gradients, loss="mae", weighted=True),
        "call/gradients-ce-class_weight": dict(
            fn=gradients, kind="cls", sizes=(4, 8, 3), loss="cross_entropy", class_weight=[1.0, 2.0, 0.5]
        ),
        "call/evaluate": dict(fn=evaluate),
    }
    schedules = {
        "constant": make(S.ConstantLR, factor=0.25, total_iters=3),
        "step": make(S.StepLR, 2, gamma=0.5),
        "multistep": make(S.MultiStepLR, [2, 5], gamma=0.3),
        "exponential": make(S.ExponentialLR, 0.8),
        "cosine": make(S.CosineAnnealingLR, 6, eta_min=1e-3),
        "cosine-step": make(S.CosineAnnealingLR, 20, interval="step"),
        "linear": make(S.LinearLR, 0.2, 1.0, 4),
        "sequential": lambda: S.SequentialLR([S.LinearLR(0.1, 1.0, 2), S.ExponentialLR(0.7)], [2]),
        "warmup": lambda: S.warmup(S.StepLR(5, 0.5, interval="step"), 6),
        "plateau": make(S.ReduceLROnPlateau, monitor="val_loss", patience=0, factor=0.5),
        "goyal_warmup": lambda: S.goyal_warmup(4.0, 10, after=S.ExponentialLR(0.9), steps_per_epoch=4),
    }
    for name, factory in schedules.items():
        fits[f"sched/{name}"] = dict(schedule=factory, epochs=8, val=name == "plateau", optimizer=sgd(lr=0.1))
    # Shapes that take the threaded paths of csrc/cpu (network_pass.h parts_for): a batch of >= 64 rows and
    # >= 65536 multiply-adds in two parts side by side; a product of 2^27 split over GEMM tiles instead.
    for t in (1, 2):
        deep = dict(kind="deep", sizes=(16, 64, 64, 64, 4), act="relu", epochs=3, threads=t)
        fits.update(
            {
                f"threads/predict/t{t}": dict(fn=predict, threads=t),
                f"threads/gradients-9000rows/t{t}": dict(
                    fn=gradients, kind="big", sizes=(16, 64, 64, 64, 4), threads=t
                ),
                f"threads/deep-adam/t{t}": dict(batch_size=128, optimizer=adam(lr=0.01), val=True, **deep),
                f"threads/deep-full-batch/t{t}": dict(batch_size=None, weighted=True, clip_grad_norm=1.0, **deep),
                f"threads/wide/t{t}": dict(
                    kind="wide",
                    sizes=(96, 256, 256, 16),
                    batch_size=128,
                    epochs=2,
                    threads=t,
                    optimizer=sgd(lr=0.02, momentum=0.9),
                ),
                f"threads/gemm-split/t{t}": dict(
                    kind="split",
                    sizes=(512, 512, 8),
                    act="relu",
                    batch_size=512,
                    epochs=1,
                    threads=t,
                    optimizer=sgd(lr=0.01),
                ),
            }
        )
    skipped = {}
    if importlib.util.find_spec("sklearn") and importlib.util.find_spec("scipy"):
        sk = {
            "reg-sgd": dict(solver="sgd", learning_rate_init=0.01, batch_size=32),
            "reg-sgd-invscaling": dict(
                solver="sgd",
                learning_rate="invscaling",
                learning_rate_init=0.05,
                power_t=0.3,
                nesterovs_momentum=False,
                batch_size=16,
            ),
            "reg-adam-alpha": dict(solver="adam", alpha=1e-2, learning_rate_init=0.01),
            "reg-lbfgs": dict(solver="lbfgs", max_iter=40, alpha=1e-3),
            "reg-lbfgs-weighted": dict(solver="lbfgs", max_iter=20, weighted=True),
            "reg-early": dict(
                solver="adam", early_stopping=True, n_iter_no_change=3, max_iter=60, tol=1e-2, learning_rate_init=0.02
            ),
            "reg-partial": dict(solver="sgd", partial=3),
            "reg-weighted": dict(solver="adam", weighted=True),
            "reg-huber-rmsprop": dict(solver="rmsprop", loss="huber"),
            "cls-sgd-adaptive": dict(
                est="cls",
                solver="sgd",
                learning_rate="adaptive",
                tol=0.05,
                n_iter_no_change=2,
                max_iter=25,
                learning_rate_init=0.1,
            ),
            "cls-adam": dict(est="cls", solver="adam", learning_rate_init=0.01),
            "cls-lbfgs": dict(est="cls", solver="lbfgs", max_iter=40),
            "cls-early": dict(est="cls", solver="sgd", early_stopping=True, n_iter_no_change=3, max_iter=40),
            "cls-partial": dict(est="cls", solver="adam", partial=3),
            "cls-binary-adam": dict(est="cls", kind="skbin", solver="adam", weighted=True),
        }
        fits.update({f"sklearn/{name}": dict(fn=sk_fit, **kw) for name, kw in sk.items()})
    else:
        skipped["sklearn/*"] = "scikit-learn or scipy is not installed"
    if mpiexec() and importlib.util.find_spec("mpi4py"):
        fits["dist/2rank"] = dict(fn=dist_fit)
    else:
        skipped["dist/*"] = "mpiexec or mpi4py is not available; pip install mpi4py mpich"
    out = {}
    for name, kw in fits.items():
        kw = dict(kw)
        fn = kw.pop("fn", mlp_fit)
        for dt in ("float32", "float64"):
            out[f"{name}/f{dt[-2:]}"] = functools.partial(fn, dt, **kw)
    return out, skipped


# ---- record and compare ---------------------------------------------------------------------------
def fingerprint():
    from fastmlp import _core

    info = {
        "gemm_isa": {dt: _core.gemm_isa(dt) for dt in ("float32", "float64")},
        "FASTMLP_ISA": os.environ.get("FASTMLP_ISA"),
        "fastmlp": fastmlp.__version__,
        "cuda_built": bool(_core.cuda_built),
        "cuda_emulated": bool(getattr(_core, "cuda_emulated", False)),
        "max_threads": _core.max_threads(),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }
    for mod in ("scipy", "sklearn", "mpi4py"):  # L-BFGS's steps are SciPy's, the validation splits scikit-learn's
        if importlib.util.find_spec(mod):
            info[mod] = getattr(__import__(mod), "__version__", "?")
    return info


def source():
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        git = [
            subprocess.run(["git", "-C", here, *a], capture_output=True, text=True).stdout.strip()
            for a in (["rev-parse", "HEAD"], ["status", "--porcelain", "--untracked-files=no"])
        ]
    except OSError:
        return {}
    return {"commit": git[0], "dirty": bool(git[1])}


def run(fits, names):
    results, errors = {}, {}
    for name in names:
        fastmlp.set_num_threads(1)  # every fit starts on one thread; the threads/ ones ask for more
        try:
            with warnings.catch_warnings():  # the fits are short on purpose: ConvergenceWarning is expected
                warnings.simplefilter("ignore")
                results[name] = {k: np.asarray(v) for k, v in fits[name]().items()}
        except Exception as e:
            errors[name] = f"{type(e).__name__}: {e}"
    return results, errors


def ordered_bits(a):
    """Floats as integers in the order of their values, so that a difference counts ulps."""
    it = np.int32 if a.dtype == np.float32 else np.int64
    i = np.ascontiguousarray(a).view(it).astype(np.int64)
    return np.where(i < 0, np.iinfo(it).min - i, i)


def describe(key, got, want):
    if got.dtype != want.dtype or got.shape != want.shape:
        return f"{key}: {got.dtype}{list(got.shape)} vs recorded {want.dtype}{list(want.shape)}"
    g, w = np.ascontiguousarray(got).reshape(-1), np.ascontiguousarray(want).reshape(-1)
    bad = (g.view(np.uint8).reshape(g.size, -1) != w.view(np.uint8).reshape(w.size, -1)).any(axis=1)
    g, w = g[bad], w[bad]
    if got.dtype.kind != "f":
        return f"{key}: {g[:3].tolist()} vs recorded {w[:3].tolist()}"
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(g.astype(np.float64) - w.astype(np.float64)).max()
    # Python ints: a difference of two int64 can overflow, and float64 would round small counts away.
    ulps = max(abs(p - q) for p, q in zip(ordered_bits(g).tolist(), ordered_bits(w).tolist()))
    nan = int(np.sum(np.isnan(g) != np.isnan(w)))
    return f"{key}: max |diff| {diff:.3g}, {ulps} ulp(s), {int(bad.sum())} of {got.size} element(s) differ" + (
        f", {nan} NaN where the other is not" if nan else ""
    )


def compare_fit(got, want):
    """'' when every array of the fit has the recorded bits, else what differs (the first key in full)."""
    bad = [
        k
        for k in want
        if k in got
        and (got[k].dtype != want[k].dtype or got[k].shape != want[k].shape or got[k].tobytes() != want[k].tobytes())
    ]
    missing, new = [k for k in want if k not in got], [k for k in got if k not in want]
    text = (
        ""
        if not bad
        else describe(bad[0], got[bad[0]], want[bad[0]]) + (f" (+{len(bad) - 1} more key(s))" if len(bad) > 1 else "")
    )
    if missing or new:
        text += ("; " if text else "") + f"keys missing {missing}, new {new}"
    return text


def load_record(path):
    if os.path.isfile(path) and not zipfile.is_zipfile(path):
        fail(f"{path} is not an .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except FileNotFoundError:
        fail(f"no record at {path} (make one with: record {path})")
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        fail(f"cannot read {path} as a golden record: {e}")
    if f"{META}/info" not in arrays or not all("/" in k for k in arrays):
        fail(f"{path} is an .npz but not a golden record (no {META}/info entry)")
    fits = {}
    for key, a in arrays.items():
        fit, name = key.rsplit("/", 1)
        if fit != META:
            fits.setdefault(fit, {})[name] = a
    return fits, json.loads(str(arrays[f"{META}/info"]))


def record(path, got, seconds, only, skipped):
    meta = {
        "fingerprint": fingerprint(),
        "source": source(),
        "fits": len(got),
        "seconds": round(seconds, 2),
        "only": only,
        "skipped": skipped,
    }
    arrays = {f"{n}/{k}": a for n, res in got.items() for k, a in res.items()}
    arrays[f"{META}/info"] = np.str_(json.dumps(meta))
    tmp = f"{path}.tmp{os.getpid()}"  # a record is complete or absent
    try:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        fail(f"cannot write {path}: {e.strerror or e}")
    print(f"record: {len(got)} fits, {len(arrays) - 1} arrays in {seconds:.1f} s -> {path}")


def compare(names, got, errors, want, info, match, fits, skipped, seconds):
    now = fingerprint()
    for k, v in info.get("fingerprint", {}).items():
        if now.get(k) != v:
            print(f"note: recorded with {k}={v!r}, here {now.get(k)!r} (bit differences may come from that)")
    counts = dict.fromkeys(("same", "differ", "failed", "missing", "new"), 0)
    for name in sorted(set(names) | {n for n in want if match(n)}, key=lambda n: (n not in fits, n)):
        if name in errors:
            kind, text = "failed", errors[name]
        elif name not in want:
            kind, text = "new", "run here but not in the record"
        elif name not in got:
            why = next((w for g, w in skipped.items() if fnmatch.fnmatchcase(name, g)), "no such fit in the table")
            kind, text = "missing", f"in the record but not run here ({why})"
        else:
            text = compare_fit(got[name], want[name])
            kind = "differ" if text else "same"
        counts[kind] += 1
        print(f"{kind if kind == 'same' else kind.upper():8s} {name}" + (f": {text}" if text else ""))
    print(
        f"compare: {sum(counts.values())} fits in {seconds:.1f} s: "
        + ", ".join(f"{v} {k}" for k, v in counts.items() if v)
    )
    return 0 if counts["same"] == sum(counts.values()) else 1


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="exit status: 0 every fit the same, 1 a fit differs, failed, is missing or new, 2 bad input",
    )
    p.add_argument(
        "mode",
        choices=["record", "compare", "list"],
        help="record: run the fits and write PATH; compare: rerun them against PATH; list: their names",
    )
    p.add_argument("path", nargs="?", help="the .npz record (record, compare)")
    p.add_argument(
        "--only",
        metavar="PATTERN",
        help="only the fits whose name contains PATTERN or matches it as an fnmatch pattern (e.g. 'opt/*/f32')",
    )
    args = p.parse_args(argv)
    if args.mode != "list" and not args.path:
        p.error(f"{args.mode} needs the path of the .npz record")
    fits, skipped = table()
    want, info = load_record(args.path) if args.mode == "compare" else ({}, {})
    match = (lambda n: True) if args.only is None else (lambda n: args.only in n or fnmatch.fnmatchcase(n, args.only))
    names = [n for n in fits if match(n)]
    if not names and not any(match(n) for n in want):
        fail(f"--only {args.only!r} matches no fit; `list` shows the names")
    for group, why in skipped.items():
        print(f"note: {group} not run: {why}")
    if args.mode == "list":
        print("\n".join(names))
        return 0
    start = time.perf_counter()
    got, errors = run(fits, names)
    seconds = time.perf_counter() - start
    if args.mode == "compare":
        return compare(names, got, errors, want, info, match, fits, skipped, seconds)
    for name, err in errors.items():
        print(f"FAILED   {name}: {err}")
    if errors:
        print(f"record: {len(errors)} fit(s) failed; nothing written")
        return 1
    record(args.path, got, seconds, args.only, skipped)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["_dist-child"]:  # one rank of dist_fit, under mpiexec
        from fastmlp import distributed

        comm = distributed.init()
        fastmlp.set_num_threads(1)
        res = dist_rank_fit(sys.argv[2], comm)
        if comm.Get_rank() == 0:
            np.savez(sys.argv[3], **res)
        sys.exit(0)
    sys.exit(main())
