"""MLP: a stack of dense layers, its parameters, and the calls that use the C++ kernels on them
(fit, predict, evaluate, gradients), plus save and load."""

from __future__ import annotations

import json
import operator
import os
import stat
import tempfile

import numpy as np

from . import _core, ops
from ._args import check_bool, check_int
from . import init as _init
from .losses import check_loss
from .memory import max_batch_size
from .ops import resolve_device
from .optim import SGD, Optimizer, from_config, is_number
from .schedules import Schedule, goyal_warmup, scale_lr
from . import targets as _targets


from .callbacks import check_callbacks
from .train import run_fit, verbosity

__all__ = ["MLP", "load"]

FORMAT_NAME = "fastmlp.MLP"
FORMAT_VERSION = 1


def _check_activation(name, what):
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a name (str), got {type(name).__name__}")
    name = _core.aliases["activation"].get(name, name)  # "linear" -> "identity", "logistic" -> "sigmoid"
    if name not in ops.ACTIVATIONS:
        raise ValueError(f"unknown {what} {name!r}; expected one of: {', '.join(ops.ACTIVATIONS)}")
    return name


def _as_float_array(a, name, dtype):
    """Data in: any float array-like converted to the model's dtype (a read-only copy is fine here);
    integers, booleans and objects are refused rather than guessed at."""
    arr = np.asarray(a)
    if arr.dtype.kind != "f":
        raise TypeError(f"{name} has dtype {arr.dtype}; expected floating-point data "
                        f"(convert it, e.g. {name}.astype(numpy.float32))")
    with np.errstate(over="ignore"):  # a float64 value past float32's range becomes Inf: said below
        out = np.ascontiguousarray(arr, dtype=dtype)
    if out.dtype.itemsize < arr.dtype.itemsize and out.size and not np.isfinite(out).all():
        if np.isfinite(arr[~np.isfinite(out.reshape(arr.shape))]).any():
            raise ValueError(f"{name} has values outside the range of {np.dtype(dtype).name} (largest "
                             f"{np.finfo(dtype).max:.4g}); scale the data, or use dtype='float64'")
    return out


def _check_finite(a, name):
    if not np.isfinite(a).all():
        bad = int(np.flatnonzero(~np.isfinite(a.ravel()))[0])
        kind = "NaN" if np.isnan(a.ravel()[bad]) else "Inf"
        raise ValueError(f"{name} contains {kind} (first at row {bad // max(a.shape[1], 1)}); "
                         f"remove or impute non-finite values first")


class MLP:
    """A multi-layer perceptron: dense layers sizes[0] -> sizes[1] -> ... -> sizes[-1].

    MLP([1, 1]) is a single neuron, y = a x + b (linear regression). Hidden layers use `activation`
    (a name, or one name per hidden layer), the last layer `output_activation`. Weights are (in, out),
    y = x @ W + b (PyTorch stores W transposed). init="auto" picks He for ReLU-family activations and
    Xavier/Glorot otherwise; `seed` makes the weights reproducible on any thread count.
    """

    def __init__(self, sizes, activation="relu", output_activation="identity", init="auto",
                 bias_init="zeros", seed=0, dtype="float32", negative_slope=0.01, init_kwargs=None, device="cpu"):
        try:
            sizes = [operator.index(s) for s in sizes]
        except TypeError:
            raise TypeError(f"sizes must be a sequence of ints (layer widths), got {sizes!r}") from None
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least an input and an output size, got {sizes}")
        if any(s < 1 for s in sizes):
            raise ValueError(f"every layer size must be >= 1, got {sizes}")
        hidden = len(sizes) - 2
        if isinstance(activation, str):
            acts = [activation] * hidden
        elif isinstance(activation, (list, tuple)):
            acts = list(activation)
        else:
            raise TypeError(f"activation must be a name or a list of names (one per hidden layer), got "
                            f"{type(activation).__name__}")
        if len(acts) != hidden:
            raise ValueError(f"activation lists {len(acts)} names but the network has {hidden} hidden layers")
        self.activations = [_check_activation(a, "activation") for a in acts]
        self.activations.append(_check_activation(output_activation, "output_activation"))
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype}")
        self.negative_slope = float(negative_slope)
        if not (self.negative_slope >= 0.0 and np.isfinite(self.negative_slope)):
            raise ValueError(f"negative_slope must be a finite number >= 0, got {negative_slope}")
        self.sizes = sizes
        self.seed = check_int(seed, "seed", 0, 2**64)
        init_kwargs = dict(init_kwargs or {})
        self.weights, self.biases = [], []
        for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            w_init = _init.default_for(self.activations[layer]) if init == "auto" else init
            self.weights.append(ops.init(w_init, fan_in, fan_out, seed, dtype=self.dtype.name,
                                         stream=2 * layer, **init_kwargs))
            self.biases.append(ops.init(bias_init, fan_in, fan_out, seed, shape=(fan_out,),
                                        dtype=self.dtype.name, stream=2 * layer + 1, **init_kwargs))
        self.init, self.bias_init = init, bias_init
        self.device = resolve_device(device)
        self._opt = None  # optimizer state: {"config", "step", "w": [[arrays]], "b": [[arrays]]}
        self.stop_training = False  # a callback sets it to end fit after the current epoch

    def to(self, device):
        """Run fit and predict on `device` ("cpu", "cuda" or "auto") from now on; returns the model.
        The weights stay NumPy arrays: on CUDA they move to the device once per fit or predict call."""
        self.device = resolve_device(device)
        return self

    # ---- structure -----------------------------------------------------------------------------------
    @property
    def n_layers(self):
        return len(self.weights)

    @property
    def n_params(self):
        return sum(w.size + b.size for w, b in zip(self.weights, self.biases))

    def __repr__(self):
        acts = ",".join(self.activations)
        return f"MLP({self.sizes}, activations=[{acts}], dtype={self.dtype.name}, params={self.n_params})"

    def get_weights(self):
        """[(W0, b0), (W1, b1), ...] as copies."""
        return [(w.copy(), b.copy()) for w, b in zip(self.weights, self.biases)]

    def set_weights(self, weights):
        """Replace every (W, b) pair; shapes must match the architecture and values must be finite."""
        weights = list(weights)
        if len(weights) != self.n_layers:
            raise ValueError(f"expected {self.n_layers} (W, b) pairs, got {len(weights)}")
        new = []
        for layer, pair in enumerate(weights):
            w, b = pair
            w = _as_float_array(w, f"W{layer}", self.dtype)
            b = _as_float_array(b, f"b{layer}", self.dtype)
            if w.shape != self.weights[layer].shape or b.shape != self.biases[layer].shape:
                raise ValueError(f"layer {layer}: expected W {self.weights[layer].shape} and b "
                                 f"{self.biases[layer].shape}, got {w.shape} and {b.shape}")
            if not (np.isfinite(w).all() and np.isfinite(b).all()):
                raise ValueError(f"layer {layer}: weights contain NaN or Inf")
            new.append((w, b))
        for layer, (w, b) in enumerate(new):  # all checked first: no half-updated model
            self.weights[layer][...] = w
            self.biases[layer][...] = b

    # ---- data ----------------------------------------------------------------------------------------
    def _x(self, x, name="X"):
        x = _as_float_array(x, name, self.dtype)
        if x.ndim == 1 and self.sizes[0] == 1:
            x = x.reshape(-1, 1)
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise ValueError(f"{name} must have shape (n, {self.sizes[0]}), got {x.shape}")
        _check_finite(x, name)
        return x

    def _y(self, y, n, name="y"):
        y = _as_float_array(y, name, self.dtype)
        out = self.sizes[-1]
        if y.ndim == 1 and out == 1:
            y = y.reshape(-1, 1)
        if y.ndim != 2 or y.shape[1] != out:
            raise ValueError(f"{name} must have shape (n,) or (n, {out}) for {out} output(s), got {y.shape}"
                             if out == 1 else f"{name} must have shape (n, {out}), got {y.shape}")
        if y.shape[0] != n:
            raise ValueError(f"X has {n} samples but {name} has {y.shape[0]}")
        _check_finite(y, name)
        return y

    # ---- inference -----------------------------------------------------------------------------------
    def __setstate__(self, state):
        # An unpickled model owns writeable parameters (joblib may unpickle them as read-only memory maps),
        # so that it can be trained as well as used.
        self.__dict__.update(state)
        self.__dict__.setdefault("stop_training", False)
        self.__dict__.setdefault("device", "cpu")
        for arrays in (self.weights, self.biases):
            for i, a in enumerate(arrays):
                if not (a.flags.writeable and a.flags.c_contiguous and type(a) is np.ndarray):
                    arrays[i] = np.array(a, order="C")
        if self._opt is not None:
            for group in self._opt["w"] + self._opt["b"]:
                for i, a in enumerate(group):
                    if not (a.flags.writeable and a.flags.c_contiguous and type(a) is np.ndarray):
                        group[i] = np.array(a, order="C")

    def predict(self, x):
        """The network's output for X (n, in) -> (n, out). A 1-D X is accepted when in == 1."""
        x = self._x(x)
        try:
            return _core.mlp_forward(self.weights, self.biases, self.activations, self.negative_slope, x,
                                     self.device)
        except MemoryError as e:
            raise MemoryError(f"predict: not enough {'device' if self.device == 'cuda' else 'host'} memory to "
                              f"run {x.shape[0]} rows through layers {self.sizes} ({self.dtype.name}); every "
                              f"layer's output for a chunk of up to 4096 rows must fit ({e})") from e

    def evaluate(self, x, y, loss="mse", *, sample_weight=None, class_weight=None, metrics=None):
        """The loss (its mean, see fastmlp.losses) of the predictions for X against y. For cross_entropy,
        y may be class indices (n,); sample_weight and class_weight as in fit. metrics=["accuracy"]
        (classification losses) returns {"loss": ..., "accuracy": ...} instead of the loss alone."""
        x = self._x(x)
        if isinstance(loss, dict):  # fit's validation pass: y is already laid out for this spec
            return _core.loss(loss, self.predict(x), y, "mean", self.device)
        spec, t = _targets.loss_targets(self, y, x.shape[0], loss, sample_weight, class_weight)
        if x.shape[0] == 0:
            raise ValueError("X and y are empty; the loss of no samples is undefined")
        pred = self.predict(x)
        value = _core.loss(spec, pred, t, "mean", self.device)
        if metrics is None:
            return value
        metrics = [metrics] if isinstance(metrics, str) else list(metrics)
        if metrics != ["accuracy"]:
            raise ValueError(f"metrics may be ['accuracy'] (or None), got {metrics!r}")
        return {"loss": value, "accuracy": _targets.accuracy(pred, y, check_loss(loss))}

    def predict_proba(self, x, kind=None):
        """Class probabilities for X: softmax over the output logits (a model trained with cross_entropy)
        or the sigmoid of each (bce: binary or multi-label). kind="softmax"|"sigmoid" chooses; by
        default, the last fit's loss decides, else softmax for several outputs and sigmoid for one."""
        if kind is None:
            last = getattr(self, "classification_loss", None)
            kind = {"cross_entropy": "softmax", "bce": "sigmoid"}.get(last) or \
                ("softmax" if self.sizes[-1] > 1 else "sigmoid")
        return _targets.probabilities(self.predict(x), kind)

    def gradients(self, x, y, loss="mse", *, sample_weight=None, class_weight=None):
        """(loss, [(dL/dW0, dL/db0), ...]) for the batch (X, y) at the current weights."""
        x = self._x(x)
        spec, y = _targets.loss_targets(self, y, x.shape[0], loss, sample_weight, class_weight)
        try:
            value, grads = _core.mlp_loss_grad(self.weights, self.biases, self.activations, self.negative_slope,
                                               spec, x, y, self.device)
        except MemoryError as e:
            raise MemoryError(f"gradients: not enough memory for the activations of {x.shape[0]} rows through "
                              f"layers {self.sizes} ({self.dtype.name}); pass fewer rows ({e})") from e
        return value, [tuple(g) for g in grads]

    # ---- training ------------------------------------------------------------------------------------
    def fit(self, x, y, loss="mse", optimizer=None, batch_size=32, epochs=100, shuffle=True, seed=0,
            validation_data=None, verbose=False, drop_last=False, on_nonfinite="raise", schedule=None,
            lr_scaling=None, base_batch_size=None, warmup_epochs=None, clip_grad_norm=None, clip_grad_value=None,
            callbacks=None, sample_weight=None, class_weight=None):
        """Train with mini-batch gradient descent; returns a History.

        loss: a name of fastmlp.losses.LOSSES. For cross_entropy (softmax over the outputs) y is class
        indices (n,) or one-hot/probability rows (n, classes); for bce (sigmoid per output) 0/1 or
        [0, 1] targets, several columns for multi-label. sample_weight (n,) weighs each sample's loss;
        class_weight (classes,) or {class: weight} each class's (cross_entropy).

        batch_size=None is full-batch gradient descent, 1 is SGD (one sample at a time, drawn without
        replacement and reshuffled every epoch), k is mini-batch SGD; the last short batch is kept
        unless drop_last. batch_size="max" takes the largest batch whose training workspaces fit the
        free memory of the device (fastmlp.max_batch_size): the full batch when the data set fits. The default optimizer is SGD(lr=0.01). Optimizer state (e.g. momentum)
        carries over to the next fit with the same kind of optimizer. If the loss or a weight becomes
        NaN/Inf, the last finite weights are restored and DivergenceError is raised
        (on_nonfinite="stop" returns instead, with History.stopped_reason set).

        schedule: a fastmlp.schedules schedule of the learning rate (history["lr"] records the rate of
        each epoch's first step). lr_scaling="linear"|"sqrt" with base_batch_size: the optimizer's lr was
        tuned for base_batch_size; scale it for batch_size (fastmlp.scale_lr) and reach the scaled rate
        by Goyal et al.'s gradual warmup over warmup_epochs (default 5; 0 for none). clip_grad_norm /
        clip_grad_value: clip the gradients of each step by their global L2 norm / elementwise.

        callbacks: a list of objects with any of on_train_begin(logs), on_epoch_end(epoch, logs) and
        on_train_end(logs), called once per epoch, never per step (see fastmlp.callbacks, e.g.
        fastmlp.EarlyStopping); on_epoch_end returning True or setting model.stop_training = True ends
        training after that epoch. verbose: True (or 1) shows a progress bar on stderr when tqdm is
        installed, else prints a line every max(1, epochs // 20) epochs and after the last; 2 (or
        "epoch") prints a line after every epoch.
        """
        x = self._x(x)
        loss_name = check_loss(loss)
        loss, y = _targets.loss_targets(self, y, x.shape[0], loss_name, sample_weight, class_weight)
        if x.shape[0] == 0:
            raise ValueError("X and y are empty; there is nothing to train on")
        optimizer = SGD(lr=0.01) if optimizer is None else optimizer
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a fastmlp.optim optimizer (e.g. fastmlp.optim.SGD(lr=0.01)), "
                            f"got {type(optimizer).__name__}")
        if isinstance(batch_size, str) and batch_size == "max":
            batch_size = max_batch_size(self, n_samples=x.shape[0], optimizer=optimizer)
            if batch_size >= x.shape[0]:
                batch_size = None  # the whole data set fits: full-batch gradient descent
        if batch_size is not None:
            if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
                raise TypeError(f"batch_size must be an int, None or 'max', got {type(batch_size).__name__}")
            if batch_size < 1:
                raise ValueError(f"batch_size must be >= 1 (or None for full-batch), got {batch_size}")
            batch_size = int(batch_size)  # any size: one larger than the data set is one full batch
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"epochs must be an int >= 0, got {epochs!r}")
        if on_nonfinite not in ("raise", "stop"):
            raise ValueError(f"on_nonfinite must be 'raise' or 'stop', got {on_nonfinite!r}")
        shuffle = check_bool(shuffle, "shuffle")
        drop_last = check_bool(drop_last, "drop_last")
        if drop_last and batch_size is not None and batch_size > x.shape[0]:
            raise ValueError(f"drop_last=True with batch_size {batch_size} > {x.shape[0]} samples would leave "
                             f"no batch at all")
        seed = int.from_bytes(os.urandom(8), "little") if seed is None else check_int(seed, "seed", 0, 2**64)
        if validation_data is not None:
            if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
                raise TypeError("validation_data must be a pair (X_val, y_val)")
            xv = self._x(validation_data[0], "X_val")
            # The training spec scores the validation set too: with sample weights, each weight 1.
            ones = None if sample_weight is None else np.ones(xv.shape[0])
            yv = _targets.loss_targets(self, validation_data[1], xv.shape[0], loss_name, ones, class_weight, "y_val")[1]
            validation_data = (xv, yv)
        clip = []
        for name, value in (("clip_grad_norm", clip_grad_norm), ("clip_grad_value", clip_grad_value)):
            if value is not None and not (is_number(value) and np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a number > 0 (or None), got {value!r}")
            clip.append(0.0 if value is None else float(value))
        if schedule is not None and not isinstance(schedule, Schedule):
            raise TypeError(f"schedule must be a fastmlp.schedules schedule, got {type(schedule).__name__}")
        logged = {"loss", "lr"} | ({"val_loss"} if validation_data is not None else set())
        callbacks = check_callbacks(callbacks, logged)
        verbose = verbosity(verbose)
        if schedule is not None:
            missing = schedule.monitors() - logged
            if missing:
                raise ValueError(f"the schedule monitors {', '.join(sorted(missing))}, which this fit does not log "
                                 f"(it logs {', '.join(sorted(logged))}); pass validation_data or monitor='loss'")
        if lr_scaling is not None:
            if lr_scaling not in ("linear", "sqrt"):
                raise ValueError(f"lr_scaling must be 'linear' or 'sqrt', got {lr_scaling!r}")
            if base_batch_size is None:
                raise ValueError("lr_scaling needs base_batch_size, the batch size the learning rate was tuned for")
            if not isinstance(base_batch_size, (int, np.integer)) or isinstance(base_batch_size, bool) \
                    or base_batch_size < 1:
                raise ValueError(f"base_batch_size must be an int >= 1, got {base_batch_size!r}")
            full = batch_size is None or (drop_last is False and batch_size >= x.shape[0])
            batch = x.shape[0] if full else batch_size
            scaled = scale_lr(optimizer.lr, base_batch_size, batch, lr_scaling)
            k = scaled / optimizer.lr
            optimizer = from_config({**optimizer.config(), "lr": scaled})
            steps = x.shape[0] // batch if drop_last else -(-x.shape[0] // batch)
            warm = 5 if warmup_epochs is None else int(warmup_epochs)
            if warm < 0:
                raise ValueError(f"warmup_epochs must be >= 0, got {warmup_epochs}")
            # Goyal et al. warm up only when scaling up (k > 1); a smaller batch starts at its rate.
            schedule = goyal_warmup(k, warm * steps if k > 1 else 0, after=schedule, steps_per_epoch=steps)
        elif warmup_epochs is not None:
            raise ValueError("warmup_epochs goes with lr_scaling (use schedules.warmup for a plain warmup)")
        elif base_batch_size is not None:
            raise ValueError("base_batch_size goes with lr_scaling='linear' or 'sqrt' (without it there is "
                             "nothing to scale)")
        self.classification_loss = loss_name if loss_name in ("cross_entropy", "bce") else None
        return run_fit(self, x, y, loss=loss, optimizer=optimizer, batch_size=batch_size, epochs=int(epochs),
                       shuffle=bool(shuffle), seed=int(seed), validation_data=validation_data,
                       verbose=verbose, drop_last=bool(drop_last), on_nonfinite=on_nonfinite,
                       schedule=schedule, clip_grad_norm=clip[0], clip_grad_value=clip[1], callbacks=callbacks)

    def _optimizer_state_for(self, optimizer):
        """The state buffers for `optimizer`: kept from the last fit when the kind and layout match
        (a warm start), fresh ones otherwise (zeros, or Adagrad's initial accumulator value)."""
        cfg = optimizer.config()
        names = optimizer.state_names()
        if self._opt is not None and self._opt["config"]["name"] == cfg["name"] and self._opt.get("names") == names:
            self._opt["config"] = cfg
            return self._opt
        init = optimizer.state_initial_values()
        self._opt = {"config": cfg, "names": names, "step": 0,
                     "w": [[np.full_like(w, v) for v in init] for w in self.weights],
                     "b": [[np.full_like(b, v) for v in init] for b in self.biases]}
        return self._opt

    @property
    def optimizer(self):
        """The optimizer of the last fit (None before any), rebuilt from its configuration."""
        return None if self._opt is None else from_config(self._opt["config"])

    # ---- persistence ---------------------------------------------------------------------------------
    def save(self, path):
        """Write architecture, weights and optimizer state to an .npz file, atomically: a temporary
        file in the same directory is written, flushed to disk, then renamed over `path`."""
        path = os.fspath(path)
        meta = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "sizes": self.sizes,
                "activations": self.activations, "dtype": self.dtype.name, "negative_slope": self.negative_slope,
                "seed": self.seed, "init": self.init, "bias_init": self.bias_init,
                "optimizer": None if self._opt is None else {"config": self._opt["config"], "step": self._opt["step"],
                                                             "names": self._opt["names"]}}
        arrays = {"meta": np.array(json.dumps(meta))}
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            arrays[f"W{layer}"], arrays[f"b{layer}"] = w, b
            if self._opt is not None:
                for s, (ws, bs) in enumerate(zip(self._opt["w"][layer], self._opt["b"][layer])):
                    arrays[f"opt_W{layer}_{s}"], arrays[f"opt_b{layer}_{s}"] = ws, bs
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".fastmlp-", suffix=".npz.tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                # mkstemp makes the file private (0600); give it the mode a plain open() would have.
                os.fchmod(f.fileno(), _new_file_mode(path))
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path


def _new_file_mode(path):
    """The permission bits of the file at `path` if it exists, else those open() would give a new file
    (0666 less the process's umask)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        pass
    try:
        with open("/proc/self/status") as f:  # reads the umask without changing it (Linux)
            mask = next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


# What a version-1 file's meta entry holds, and the type each value must have.
_META_KEYS = {"format": str, "version": int, "sizes": list, "activations": list, "dtype": str,
              "negative_slope": (int, float), "seed": int, "init": (str, type(None)),
              "bias_init": (str, type(None)), "optimizer": (dict, type(None))}


def load(path):
    """An MLP saved by MLP.save. Never unpickles: files with object arrays are refused."""
    try:
        # The file is opened here, not by np.load, so that it is closed even when np.load fails.
        with open(os.fspath(path), "rb") as fh, np.load(fh, allow_pickle=False) as f:
            files = {k: f[k] for k in f.files}
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as e:  # truncated zip, bad CRC, pickled arrays, not an npz at all
        raise ValueError(f"{path} is not a readable fastmlp model file ({type(e).__name__}: {e})") from None
    try:
        meta = json.loads(str(files.pop("meta")))
        assert meta["format"] == FORMAT_NAME
    except Exception:
        raise ValueError(f"{path} is not a fastmlp model file (no valid 'meta' entry)") from None
    if meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path} has format version {meta.get('version')}; this fastmlp reads version "
                         f"{FORMAT_VERSION}")
    for key, kind in _META_KEYS.items():
        if key not in meta:
            raise ValueError(f"{path}: the model's meta entry lacks {key!r}")
        if not isinstance(meta[key], kind) or isinstance(meta[key], bool):
            raise ValueError(f"{path}: the meta entry's {key!r} is {meta[key]!r}, not a {kind}")
    sizes, acts = meta["sizes"], meta["activations"]
    try:
        model = MLP(sizes, activation=acts[:-1], output_activation=acts[-1] if acts else None, init="zeros",
                    bias_init="zeros", seed=meta["seed"], dtype=meta["dtype"],
                    negative_slope=meta["negative_slope"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path} describes no valid network: {e}") from None
    model.init, model.bias_init = meta["init"], meta["bias_init"]
    try:
        model.set_weights([(files[f"W{l}"], files[f"b{l}"]) for l in range(model.n_layers)])
    except KeyError as e:
        raise ValueError(f"{path} lacks the array {e}") from None
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path} holds weights that do not fit its network: {e}") from None
    opt = meta["optimizer"]
    if opt is not None:
        try:
            optimizer = from_config(opt["config"])  # an unknown optimizer is refused now, not at the next fit
            names, step = list(opt["names"]), opt["step"]
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path} holds an invalid optimizer entry ({type(e).__name__}: {e})") from None
        if names != list(optimizer.state_names()):
            raise ValueError(f"{path}: the optimizer's state is {names}, but {type(optimizer).__name__} keeps "
                             f"{list(optimizer.state_names())}")
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"{path}: the optimizer's step count is {step!r}, not an int >= 0")
        state = {"w": [], "b": []}
        for l, (w, b) in enumerate(zip(model.weights, model.biases)):
            for kind, param in (("W", w), ("b", b)):
                buffers = []
                for s in range(len(names)):
                    key = f"opt_{kind}{l}_{s}"
                    if key not in files:
                        raise ValueError(f"{path} lacks the optimizer array '{key}'")
                    a = files[key]
                    if a.shape != param.shape or a.dtype.kind != "f" or not np.isfinite(a).all():
                        raise ValueError(f"{path}: optimizer array '{key}' has {a.dtype}{a.shape} or non-finite "
                                         f"values; it must be finite floats shaped like its parameter "
                                         f"{param.shape}")
                    buffers.append(np.ascontiguousarray(a, dtype=model.dtype))
                state["w" if kind == "W" else "b"].append(buffers)
        model._opt = {"config": opt["config"], "names": names, "step": step, **state}
    return model
