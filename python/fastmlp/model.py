"""MLP: a stack of dense layers, its parameters, and the calls that use the C++ kernels on them
(fit, predict, evaluate, gradients), plus save and load."""

from __future__ import annotations

import operator
import os
import threading
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from . import _core, ops, persist
from . import activations as _activations
from . import init as _init
from . import targets as _targets
from ._constraints import check_dropout, check_int
from ._inputs import (
    as_float_array as _as_float_array,
)
from ._inputs import (
    check_finite as _check_finite,
)
from ._inputs import (
    check_names as _check_names,
)
from ._inputs import (
    column_names as _column_names,
)
from .fitting import FitChecks
from .fitting import collective as _collective
from .losses import CLASSIFICATION_LOSSES, MEAN_FUNCTIONS, check_loss
from .memory import check_parameter_memory
from .ops import resolve_device
from .optim import from_config

# The file format lives in fastmlp.persist; its names are kept here too for code that reads them here.
from .persist import FORMAT_NAME, FORMAT_VERSION  # noqa: F401
from .persist import META_KEYS as _META_KEYS  # noqa: F401

if TYPE_CHECKING:
    from typing import TypeAlias

    from mpi4py import MPI

    from ._core import LossArg
    from .optim import Optimizer
    from .schedules import Schedule
    from .summary import Summary
    from .tables import Preprocessor
    from .train import History

    # What fit, predict, evaluate and gradients take as X: an array, or a table (a DataFrame, an Arrow
    # table, a dict of columns) for a model with a preprocessing.
    Inputs: TypeAlias = ArrayLike | Mapping[str, Any]

__all__ = ["MLP", "load"]


def _check_activation(name: str, what: str) -> str:
    # "linear" -> "identity", "swish" -> "silu", parameters spelled one way: "elu(alpha=.5)" -> "elu(alpha=0.5)"
    return _activations.canonical(name, what)


def _link_scaling_message(loss: str, why: str) -> str:
    """Why a log-link loss and target standardization do not go together, and what to do instead."""
    return (
        f"loss={loss!r} fits targets in their own units (counts or rates >= 0, predicted as exp of the "
        f"network's output), but {why}; standardize the features only: "
        f"set_standardization(x_mean=..., x_std=...)"
    )


class MLP(FitChecks):
    """A multi-layer perceptron: a stack of dense layers from sizes[0] inputs to sizes[-1] outputs.

    The layers run sizes[0] -> sizes[1] -> ... -> sizes[-1]; MLP([1, 1]) is a single neuron, y = a x + b
    (linear regression). Weights are (in, out), y = x @ W + b (PyTorch stores W transposed). fit,
    predict, evaluate and gradients run the C++ kernels on the model's parameters, which stay NumPy
    arrays.

    Parameters
    ----------
    sizes : sequence of int
        The layer widths, input first and output last: at least two, each >= 1 (and < 2**62).
    activation : str or list of str, default "relu"
        The hidden layers' activation: a name (see fastmlp.activations, parameters included, e.g.
        "elu(alpha=0.5)"), or one name per hidden layer.
    output_activation : str, default "identity"
        The last layer's activation.
    init : str, default "auto"
        The weights' initializer (see fastmlp.init). "auto" picks, per layer, the one derived for its
        activation's family (fastmlp.init.default_for): He for ReLU-family activations, LeCun normal
        for SELU, Xavier/Glorot otherwise.
    bias_init : str, default "zeros"
        The biases' initializer.
    seed : int, default 0
        The seed of the initial values, in [0, 2**64): it makes the weights reproducible on any
        thread count.
    dtype : {"float32", "float64"}, default "float32"
        The dtype of the parameters and of the computation.
    negative_slope : float, default 0.01
        The slope (finite, >= 0) of a leaky_relu that names none of its own.
    init_kwargs : dict, optional
        Keyword arguments of fastmlp.ops.init for the weights' initializer (e.g. {"truncated": True});
        the bias initializer gets those it reads.
    device : {"cpu", "cuda", "auto"}, default "cpu"
        Where fit and predict run (see `to`).
    dropout : float or list of float, default 0.0
        Inverted dropout (as torch.nn.Dropout): the probability, in [0, 1), that fit zeroes an output
        of a hidden layer in a training step, the others scaled by 1 / (1 - p); predict, evaluate and
        gradients use every output. One rate for every hidden layer, or one per hidden layer. The
        masks are drawn from the fit's seed, the step, the layer and the row
        (fastmlp.reference.dropout_keep): the same on any thread count.

    Attributes
    ----------
    sizes : list of int
        The layer widths.
    activations : list of str
        Each layer's activation, canonical (the hidden layers', then the output's).
    dropout : list of float
        Each hidden layer's dropout rate (0: none).
    weights : list of numpy.ndarray
        W of each layer, (in, out).
    biases : list of numpy.ndarray
        b of each layer, (out,).
    dtype : numpy.dtype
        float32 or float64.
    negative_slope : float
        The slope of leaky_relu layers that name none.
    seed : int
        The seed of the initial values.
    init, bias_init : str
        The initializers.
    device : str
        "cpu" or "cuda".
    classification_loss : str or None
        "cross_entropy" or "bce" after a classifier's fit (predict_proba's default), else None.
    stop_training : bool
        Set by a callback to end fit after the current epoch.

    Raises
    ------
    TypeError
        If sizes is not a sequence of ints, activation is neither a name nor a list of names, or dtype
        is neither float32 nor float64.
    ValueError
        For fewer than two sizes, a size out of range, an activation or dropout list of the wrong
        length, an unknown activation or initializer, a dropout rate outside [0, 1), or a bad
        negative_slope or seed.
    MemoryError
        If the parameters cannot fit in the memory left to this process.
    RuntimeError
        If device="cuda" where CUDA cannot be used.

    See Also
    --------
    load : A model saved by save.
    fastmlp.sklearn.MLPRegressor : The scikit-learn interface.

    Examples
    --------
    The seed lesson: a single neuron fits weight against height, which the model standardizes.

    >>> import fastmlp
    >>> height, weight = fastmlp.data.load_women()
    >>> model = fastmlp.MLP([1, 1])
    >>> mean, std = fastmlp.data.column_stats(height)
    >>> model.set_standardization(x_mean=mean, x_std=std)
    >>> history = model.fit(height, weight, optimizer=fastmlp.optim.SGD(lr=0.05), batch_size=4, epochs=300)
    >>> round(float(model.predict([[73.0]])[0, 0]))
    165
    >>> model
    MLP([1, 1], activations=[identity], dtype=float32, params=2)

    A deeper network, one activation per hidden layer:

    >>> fastmlp.MLP([16, 64, 32, 1], activation=["gelu", "tanh"], seed=1).activations
    ['gelu', 'tanh', 'identity']
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str | list[str] | tuple[str, ...] = "relu",
        output_activation: str = "identity",
        init: str = "auto",
        bias_init: str = "zeros",
        seed: int = 0,
        dtype: DTypeLike = "float32",
        negative_slope: float = 0.01,
        init_kwargs: Mapping[str, Any] | None = None,
        device: str = "cpu",
        dropout: float | Sequence[float] = 0.0,
    ) -> None:
        try:
            if any(isinstance(s, (bool, np.bool_)) for s in sizes):
                raise TypeError
            sizes = [operator.index(s) for s in sizes]
        except TypeError:
            raise TypeError(f"sizes must be a sequence of ints (layer widths), got {sizes!r}") from None
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least an input and an output size, got {sizes}")
        if any(s < 1 for s in sizes):
            raise ValueError(f"every layer size must be >= 1, got {sizes}")
        if any(s >= 2**62 for s in sizes):
            raise ValueError(f"every layer size must be < 2**62, got {sizes}")
        hidden = len(sizes) - 2
        if isinstance(activation, str):
            acts = [activation] * hidden
        elif isinstance(activation, (list, tuple)):
            acts = list(activation)
        else:
            raise TypeError(
                f"activation must be a name or a list of names (one per hidden layer), got {type(activation).__name__}"
            )
        if len(acts) != hidden:
            raise ValueError(f"activation lists {len(acts)} names but the network has {hidden} hidden layers")
        self.activations = [_check_activation(a, "activation") for a in acts]
        self.activations.append(_check_activation(output_activation, "output_activation"))
        self.dropout = check_dropout(dropout, hidden)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype}")
        self.negative_slope = float(negative_slope)
        if not (self.negative_slope >= 0.0 and np.isfinite(self.negative_slope)):
            raise ValueError(f"negative_slope must be a finite number >= 0, got {negative_slope}")
        self.sizes: list[int] = sizes
        self.seed = check_int(seed, "seed", 0, 2**64)
        init_kwargs = dict(init_kwargs or {})
        check_parameter_memory(sizes, self.dtype)
        self.weights: list[NDArray[np.floating[Any]]] = []
        self.biases: list[NDArray[np.floating[Any]]] = []
        for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            w_init = _init.default_for(self.activations[layer]) if init == "auto" else init
            self.weights.append(
                ops.init(w_init, fan_in, fan_out, seed, dtype=self.dtype.name, stream=2 * layer, **init_kwargs)
            )
            # init_kwargs are the weight initializer's (truncated=True means nothing to zeros); the bias
            # initializer gets those it understands: the plain kinds' parameters.
            bias_kwargs = {k: v for k, v in init_kwargs.items() if _init.takes_argument(bias_init, k)}
            self.biases.append(
                ops.init(
                    bias_init,
                    fan_in,
                    fan_out,
                    seed,
                    shape=(fan_out,),
                    dtype=self.dtype.name,
                    stream=2 * layer + 1,
                    **bias_kwargs,
                )
            )
        self.init, self.bias_init = init, bias_init
        self.device = resolve_device(device)
        self._opt: dict[str, Any] | None = None  # optimizer state: {"config", "step", "w": [[arrays]], "b": [[arrays]]}
        # column names, when the data had them
        self._feature_names: list[str] | None
        self._target_names: list[str] | None
        self._feature_names = self._target_names = None
        self._scaling: dict[str, NDArray[np.floating[Any]] | None] | None = None  # see set_standardization
        self._preprocessing: Preprocessor | None = None  # a table's columns -> the inputs (fastmlp.tables)
        self._training: dict[str, Any] | None = None  # what the fits so far did, see training_summary
        self.classification_loss: str | None = None  # "cross_entropy" or "bce" after a classifier's fit
        self._link_loss: str | None = None  # "poisson" after a log-link fit: predict returns exp(output)
        self.stop_training = False  # a callback sets it to end fit after the current epoch
        self._lock = threading.RLock()  # held by fit, set_weights and save (see _exclusive)

    @contextmanager
    def _exclusive(self, what: str) -> Iterator[None]:
        """Held while `what` changes or reads the parameters as a whole. A second thread that asks while
        another holds it gets a RuntimeError instead of a race; the holding thread itself may ask again
        (a callback may save the model during fit)."""
        if not self._lock.acquire(blocking=False):
            raise RuntimeError(
                f"{what}: another thread is fitting (or saving) this model right now; one model "
                f"trains in one thread at a time (wait for that call to return, or use a copy: "
                f"copy.deepcopy(model))"
            )
        try:
            yield
        finally:
            self._lock.release()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_lock", None)  # a lock cannot be pickled or copied; the copy gets its own
        return state

    def to(self, device: str) -> MLP:
        """Run fit and predict on a device from now on.

        The weights stay NumPy arrays: on CUDA they move to the device once per fit or predict call.

        Parameters
        ----------
        device : {"cpu", "cuda", "auto"}
            The device; "auto" picks CUDA when it can be used.

        Returns
        -------
        MLP
            The model itself.

        Raises
        ------
        RuntimeError
            If device="cuda" where CUDA cannot be used (the message says why).

        Examples
        --------
        >>> import fastmlp
        >>> model = fastmlp.MLP([2, 1]).to("auto")
        >>> model.device in ("cpu", "cuda")
        True
        """
        self.device = resolve_device(device)
        return self

    # ---- structure -----------------------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        """The number of dense layers, len(sizes) - 1.

        Examples
        --------
        >>> import fastmlp
        >>> fastmlp.MLP([3, 5, 2]).n_layers
        2
        """
        return len(self.weights)

    @property
    def n_params(self) -> int:
        """The number of parameters, weights and biases.

        Examples
        --------
        >>> import fastmlp
        >>> fastmlp.MLP([3, 5, 2]).n_params  # 3 * 5 + 5 + 5 * 2 + 2
        32
        """
        return sum(w.size + b.size for w, b in zip(self.weights, self.biases))

    def summary(
        self, batch_size: int = 32, *, optimizer: Optimizer | None = None, n_samples: int | None = None
    ) -> Summary:
        """The layers, their shapes, activations and parameter counts, and a fit's memory, as a table.

        Parameters
        ----------
        batch_size : int, default 32
            The batch size whose fit memory is counted (fit's default).
        optimizer : fastmlp.optim.Optimizer, optional
            The optimizer whose state buffers count; default the model's last (`optimizer`), else
            SGD().
        n_samples : int, optional
            The rows of the data set the fit would read (the fit's order and, on CUDA, the data set's
            copy on the device count too); default two batches.

        Returns
        -------
        fastmlp.summary.Summary
            Shown as its table (``print(model.summary())`` or at a console's prompt); its fields hold
            the same counts (``layers``, ``total_params``, ``fit_bytes``, ...).

        Raises
        ------
        ValueError
            If batch_size is below 1.

        See Also
        --------
        fastmlp.memory.training_bytes : The fit's memory alone.

        Examples
        --------
        >>> import fastmlp
        >>> s = fastmlp.MLP([3, 5, 2], activation="tanh").summary(batch_size=8)
        >>> s.total_params, [layer.activation for layer in s.layers]
        (32, ['tanh', 'identity'])
        >>> print(s)  # doctest: +ELLIPSIS
        MLP: 2 dense layer(s), float32, on cpu
        ----------------------------------------------------------
        Layer    Output shape  Activation  Weights  Biases  Params
        ----------------------------------------------------------
        input    (batch, 3)    -                 0       0       0
        dense_1  (batch, 5)    tanh             15       5      20
        dense_2  (batch, 2)    identity         10       2      12
        ----------------------------------------------------------
        Parameters: 32 (128 B)
        Standardizes: no
        Optimizer: SGD(lr=0.01, ...)
        A fit with batch_size=8 takes ... KiB of host memory
        """
        from .summary import summarize

        return summarize(self, batch_size, optimizer=optimizer, n_samples=n_samples)

    def __repr__(self) -> str:
        acts = ",".join(self.activations)
        drop = f", dropout={[round(p, 6) for p in self.dropout]}" if any(self.dropout) else ""
        return f"MLP({self.sizes}, activations=[{acts}]{drop}, dtype={self.dtype.name}, params={self.n_params})"

    # ---- names and standardization ---------------------------------------------------------------------
    @property
    def feature_names(self) -> list[str] | None:
        """The names of the input columns (a list of sizes[0] str), or None.

        `fastmlp train` sets them; `save` keeps them, `fastmlp predict` selects a table's columns by
        them, and fit, predict, evaluate and gradients match a DataFrame's or Arrow table's columns by
        them (extra columns left out). Setting them takes None or sizes[0] distinct non-empty str (a
        TypeError or ValueError otherwise).

        Examples
        --------
        >>> import fastmlp
        >>> model = fastmlp.MLP([2, 1])
        >>> model.feature_names = ["height", "age"]
        >>> model.feature_names
        ['height', 'age']
        """
        return None if self._feature_names is None else list(self._feature_names)

    @feature_names.setter
    def feature_names(self, names: Iterable[str] | None) -> None:
        self._feature_names = _check_names(names, self.sizes[0], "feature_names")

    @property
    def target_names(self) -> list[str] | None:
        """The names of the outputs (a list of sizes[-1] str), or None.

        Setting them takes None or sizes[-1] distinct non-empty str (a TypeError or ValueError
        otherwise); `save` keeps them.
        """
        return None if self._target_names is None else list(self._target_names)

    @target_names.setter
    def target_names(self, names: Iterable[str] | None) -> None:
        self._target_names = _check_names(names, self.sizes[-1], "target_names")

    @property
    def link_loss(self) -> str | None:
        """The log-link loss of the last fit ("poisson"), or None.

        Such a loss trains the network's output as the log of the mean (the log-rate), so predict
        returns its mean function applied (fastmlp.losses.MEAN_FUNCTIONS: exp), in the targets' units;
        evaluate, gradients and fit's validation loss read the output itself, as the loss does. A fit
        with another loss resets it; None makes predict return the raw output. Saved by `save`,
        applied by `to_onnx`. Setting it takes None or a log-link loss, and is refused (ValueError)
        for a model that standardizes its targets.

        Examples
        --------
        >>> import numpy as np
        >>> import fastmlp
        >>> x = np.arange(5.0)
        >>> model = fastmlp.MLP([1, 1])
        >>> history = model.fit(x, np.exp(0.3 * x + 0.1), loss="poisson", optimizer=fastmlp.optim.Adam(lr=0.1),
        ...                     epochs=300)
        >>> model.link_loss
        'poisson'
        >>> round(float(model.predict([[2.0]])[0, 0]), 2)  # exp(0.3 * 2 + 0.1)
        2.01
        """
        return self._link_loss

    @link_loss.setter
    def link_loss(self, loss: str | None) -> None:
        if loss is not None:
            if not isinstance(loss, str) or loss not in MEAN_FUNCTIONS:
                raise ValueError(
                    f"link_loss must be None or a log-link loss ({', '.join(map(repr, MEAN_FUNCTIONS))}), got {loss!r}"
                )
            if self._scaling is not None and self._scaling["y_mean"] is not None:
                raise ValueError(_link_scaling_message(loss, "this model standardizes its targets (y_mean, y_std)"))
        self._link_loss = loss

    @property
    def preprocessing(self) -> Preprocessor | None:
        """None, or the fastmlp.tables.Preprocessor that turns a table's columns into this network's inputs.

        The Preprocessor encodes text and categories and fills missing cells. With one, fit, predict,
        evaluate and gradients take a table (a DataFrame, an Arrow table, a dict of columns) and apply
        it; arrays are taken as inputs already encoded. `fastmlp train` sets it; save keeps it, and
        setting it also names the features. Setting it takes None or a fitted Preprocessor that gives
        sizes[0] inputs (and names no other number of classes than sizes[-1]): a TypeError or
        ValueError otherwise.

        Examples
        --------
        >>> import fastmlp
        >>> from fastmlp.tables import Preprocessor
        >>> table = {"city": ["Oslo", "Rome", "Oslo"], "rain": [1.0, 0.5, 0.0], "y": [3.0, 1.0, 2.0]}
        >>> model = fastmlp.MLP([3, 1])
        >>> model.preprocessing = Preprocessor().fit(table, targets=["y"])
        >>> model.feature_names
        ['city=Oslo', 'city=Rome', 'rain']
        >>> model.predict(table).shape
        (3, 1)
        """
        return self._preprocessing

    @preprocessing.setter
    def preprocessing(self, prep: Preprocessor | None) -> None:
        from .tables import Preprocessor

        if prep is None:
            self._preprocessing = None
            return
        if not isinstance(prep, Preprocessor):
            raise TypeError(f"preprocessing must be a fastmlp.tables.Preprocessor (or None), got {type(prep).__name__}")
        if prep.n_features != self.sizes[0]:  # n_features also refuses a Preprocessor not fitted
            raise ValueError(f"the preprocessing gives {prep.n_features} inputs but the network takes {self.sizes[0]}")
        if prep.classes is not None and len(prep.classes) != self.sizes[-1]:
            raise ValueError(
                f"the preprocessing names {len(prep.classes)} classes but the network has {self.sizes[-1]} outputs"
            )
        self.feature_names = prep.feature_names
        self._preprocessing = prep

    @property
    def standardization(self) -> dict[str, NDArray[np.floating[Any]] | None] | None:
        """None, or a dict of copies of the statistics set by set_standardization.

        Its keys are x_mean, x_std (one per input, or None) and y_mean, y_std (one per output, or None),
        in the model's dtype.

        Examples
        --------
        >>> import fastmlp
        >>> model = fastmlp.MLP([1, 1])
        >>> model.set_standardization(x_mean=65.0, x_std=4.0)
        >>> model.standardization
        {'x_mean': array([65.], dtype=float32), 'x_std': array([4.], dtype=float32), 'y_mean': None, 'y_std': None}
        """
        if self._scaling is None:
            return None
        return {k: None if v is None else v.copy() for k, v in self._scaling.items()}

    def set_standardization(
        self,
        x_mean: ArrayLike | None = None,
        x_std: ArrayLike | None = None,
        y_mean: ArrayLike | None = None,
        y_std: ArrayLike | None = None,
    ) -> None:
        """Make the model standardize its data.

        predict takes X in its own units, computes (X - x_mean) / x_std in the model's dtype, runs the
        network and returns y * y_std + y_mean. fit, evaluate and gradients take data in its own units
        too and apply the same statistics, so their losses are those of the network, in standardized
        units. Each pair is given together or not at all; all None removes the standardization. Saved
        by `save`, applied by `to_onnx`. A model fitted with a log-link loss (see link_loss) takes no y
        statistics: its targets are counts or rates in their own units.

        Parameters
        ----------
        x_mean : array_like of shape (sizes[0],) or float, optional
            The inputs' means (a number is taken for every input).
        x_std : array_like of shape (sizes[0],) or float, optional
            The inputs' standard deviations, > 0.
        y_mean : array_like of shape (sizes[-1],) or float, optional
            The outputs' means.
        y_std : array_like of shape (sizes[-1],) or float, optional
            The outputs' standard deviations, > 0.

        Raises
        ------
        ValueError
            If a pair is half given, a statistic has the wrong length, is not finite (a std not > 0)
            or does not fit the model's dtype, or y statistics are given to a model fitted with a
            log-link loss.
        RuntimeError
            If another thread is fitting (or saving) this model right now.

        See Also
        --------
        fastmlp.data.column_stats : Statistics of the data to pass here.

        Examples
        --------
        >>> import fastmlp
        >>> model = fastmlp.MLP([1, 1])
        >>> model.set_weights([([[1.0]], [0.0])])
        >>> model.set_standardization(x_mean=60.0, x_std=5.0, y_mean=100.0, y_std=10.0)
        >>> model.predict([[65.0]])  # ((65 - 60) / 5) * 10 + 100
        array([[110.]], dtype=float32)
        >>> model.set_standardization()  # removes it
        >>> model.standardization is None
        True
        """
        if self._link_loss is not None and (y_mean is not None or y_std is not None):
            raise ValueError(
                f"y_mean and y_std do not apply to this model: it was fitted with loss="
                f"{self._link_loss!r}, which fits targets in their own units (counts or rates >= 0, "
                f"predicted as exp of the network's output); standardize the features only "
                f"(x_mean, x_std), or set model.link_loss = None first (predict then returns the raw "
                f"output)"
            )
        pairs: dict[str, NDArray[np.floating[Any]] | None] = {}
        for (mean_name, mean), (std_name, std), width in (
            (("x_mean", x_mean), ("x_std", x_std), self.sizes[0]),
            (("y_mean", y_mean), ("y_std", y_std), self.sizes[-1]),
        ):
            if (mean is None) != (std is None):
                raise ValueError(f"{mean_name} and {std_name} go together: give both or neither")
            if mean is None:
                pairs[mean_name] = pairs[std_name] = None
                continue
            for name, value in ((mean_name, mean), (std_name, std)):
                a = np.asarray(value, dtype=np.float64)
                if a.ndim == 0:
                    a = np.full(width, float(a))
                if a.shape != (width,):
                    raise ValueError(
                        f"{name} must hold {width} values (one per "
                        f"{'input' if name[0] == 'x' else 'output'}), got shape {a.shape}"
                    )
                if not np.isfinite(a).all() or (name.endswith("std") and not (a > 0).all()):
                    raise ValueError(f"{name} must be finite{' and > 0' if name.endswith('std') else ''}, got {a}")
                with np.errstate(over="ignore"):
                    cast = a.astype(self.dtype)
                if not np.isfinite(cast).all() or (name.endswith("std") and not (cast > 0).all()):
                    raise ValueError(f"{name} does not fit the model's dtype {self.dtype.name}: {a}")
                pairs[name] = cast
        with self._exclusive("set_standardization"):  # a fit reads the statistics for its whole run
            self._scaling = None if all(v is None for v in pairs.values()) else pairs

    def _net_x(self, x: NDArray[Any]) -> NDArray[Any]:
        """Validated X in the data's units -> the network's input (standardized when the model says so)."""
        s = self._scaling
        if s is None or s["x_mean"] is None:
            return x
        x = (x - s["x_mean"]) / s["x_std"]
        _check_finite(x, "X standardized by the model's x_mean and x_std")
        return x

    def _net_y(self, y: NDArray[Any]) -> NDArray[Any]:
        s = self._scaling
        return y if s is None or s["y_mean"] is None else (y - s["y_mean"]) / s["y_std"]

    def _loss_targets(
        self,
        y: ArrayLike,
        n: int,
        loss: str,
        sample_weight: ArrayLike | None = None,
        class_weight: ArrayLike | dict[int, float] | None = None,
        name: str = "y",
    ) -> tuple[LossArg, NDArray[np.floating[Any]]]:
        """fastmlp.targets.loss_targets in the network's units: a regression target is standardized by the
        model's y statistics when it has them (class labels and probabilities never are; a log-link
        loss's targets are refused, standardized they would turn negative)."""
        scaled_y = self._scaling is not None and self._scaling["y_mean"] is not None
        if scaled_y and check_loss(loss) in MEAN_FUNCTIONS:
            raise ValueError(_link_scaling_message(loss, "this model standardizes its targets (y_mean, y_std)"))
        if check_loss(loss) not in CLASSIFICATION_LOSSES and scaled_y:
            y = self._net_y(self._y(y, n, name))
        return _targets.loss_targets(self, y, n, loss, sample_weight, class_weight, name)

    def _data_y(self, out: NDArray[Any]) -> NDArray[Any]:
        s = self._scaling
        return out if s is None or s["y_mean"] is None else out * s["y_std"] + s["y_mean"]

    def to_onnx(
        self,
        path: str | os.PathLike[str],
        *,
        opset: int | None = None,
        input_name: str = "input",
        output_name: str = "output",
        head: str | None = "auto",
        inputs: str = "columns",
    ) -> str:
        """Write the model to a file as an ONNX graph (needs ``pip install "fastmlp[onnx]"``).

        The graph computes predict: the standardization when the model carries it, per layer a Gemm
        and the activation, in the model's dtype (float or double), opset fastmlp.export.OPSET (17)
        unless `opset` is given. Input (n, sizes[0]) named `input_name`, output (n, sizes[-1]) named
        `output_name`; feature and target names go into the file's metadata. head: what the graph
        outputs after the last layer: "auto" (the default) gives a classifier's probabilities, as
        predict_proba (softmax after cross_entropy, sigmoid after bce) and a regressor's predictions,
        as predict (an Exp node after a log-link fit, see link_loss); "softmax"/"sigmoid" ask for
        probabilities, "logits" (or None) for the raw outputs (a log-link model's log-rates). The
        metadata's "output" says which ("probabilities", "predictions" or "log_predictions"). A model
        with a preprocessing (see `preprocessing`) that fills missing cells takes its columns with NaN
        where a cell is missing and fills them in the graph (IsNaN, Where); one that one-hot encodes
        text is refused, as the standard operators cannot, unless inputs="encoded": then the graph
        takes the encoded matrix (preprocessing.transform(table)).

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (atomically, as save writes).
        opset : int, optional
            The ONNX opset; default fastmlp.export.OPSET (17).
        input_name : str, default "input"
            The name of the graph's input.
        output_name : str, default "output"
            The name of the graph's output.
        head : {"auto", "softmax", "sigmoid", "logits"} or None, default "auto"
            What the graph outputs after the last layer, as above.
        inputs : {"columns", "encoded"}, default "columns"
            For a model with a preprocessing: the table's columns or the encoded matrix.

        Returns
        -------
        str
            The path.

        Raises
        ------
        ImportError
            If the onnx package is not installed.
        ValueError
            If an argument is out of its range, or the model one-hot encodes text and inputs="columns".
        OSError
            If the file cannot be written.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> import onnxruntime
        >>> import fastmlp
        >>> model = fastmlp.MLP([2, 8, 1], seed=0)
        >>> x = np.array([[0.5, -1.0], [2.0, 0.0]], dtype=np.float32)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = model.to_onnx(os.path.join(folder, "model.onnx"))
        ...     session = onnxruntime.InferenceSession(path)
        ...     out = session.run(None, {"input": x})[0]
        >>> np.allclose(out, model.predict(x), atol=1e-6)
        True
        """
        from .export import OPSET, to_onnx

        return to_onnx(
            self,
            path,
            opset=OPSET if opset is None else opset,
            input_name=input_name,
            output_name=output_name,
            head=head,
            inputs=inputs,
        )

    def get_weights(self) -> list[tuple[NDArray[np.floating[Any]], NDArray[np.floating[Any]]]]:
        """The parameters, as copies.

        Returns
        -------
        list of tuple of numpy.ndarray
            [(W0, b0), (W1, b1), ...], W of shape (in, out) and b of shape (out,).

        Examples
        --------
        >>> import fastmlp
        >>> [(w.shape, b.shape) for w, b in fastmlp.MLP([3, 5, 2]).get_weights()]
        [((3, 5), (5,)), ((5, 2), (2,))]
        """
        return [(w.copy(), b.copy()) for w, b in zip(self.weights, self.biases)]

    def set_weights(self, weights: Iterable[tuple[ArrayLike, ArrayLike]]) -> None:
        """Replace every (W, b) pair.

        Every pair is checked before any is written, so a refused call leaves the model as it was.

        Parameters
        ----------
        weights : iterable of (array_like, array_like)
            One (W, b) pair per layer, of the architecture's shapes, finite floats.

        Raises
        ------
        ValueError
            If the number of pairs or a shape does not match the architecture, or a value is NaN or Inf.
        TypeError
            If an array does not hold floating-point numbers.
        RuntimeError
            If another thread is fitting (or saving) this model right now.

        Examples
        --------
        >>> import fastmlp
        >>> model = fastmlp.MLP([1, 1])
        >>> model.set_weights([([[2.0]], [1.0])])
        >>> model.predict([0.0, 1.0])
        array([[1.],
               [3.]], dtype=float32)
        """
        with self._exclusive("set_weights"):
            self._set_weights(weights)

    def _set_weights(self, weights: Iterable[tuple[ArrayLike, ArrayLike]]) -> None:
        weights = list(weights)
        if len(weights) != self.n_layers:
            raise ValueError(f"expected {self.n_layers} (W, b) pairs, got {len(weights)}")
        new = []
        for layer, pair in enumerate(weights):
            w, b = pair
            w = _as_float_array(w, f"W{layer}", self.dtype)
            b = _as_float_array(b, f"b{layer}", self.dtype)
            if w.shape != self.weights[layer].shape or b.shape != self.biases[layer].shape:
                raise ValueError(
                    f"layer {layer}: expected W {self.weights[layer].shape} and b "
                    f"{self.biases[layer].shape}, got {w.shape} and {b.shape}"
                )
            if not (np.isfinite(w).all() and np.isfinite(b).all()):
                raise ValueError(f"layer {layer}: weights contain NaN or Inf")
            new.append((w, b))
        for layer, (w, b) in enumerate(new):  # all checked first: no half-updated model
            self.weights[layer][...] = w
            self.biases[layer][...] = b

    # ---- data ----------------------------------------------------------------------------------------
    def _x(self, x: Any, name: str = "X") -> NDArray[np.floating[Any]]:
        if self._preprocessing is not None and (isinstance(x, dict) or _column_names(x) is not None):
            x = self._preprocessing.transform(x)  # a table: its columns through the model's preprocessing
        x = self._by_name(x, name)
        x = _as_float_array(x, name, self.dtype)
        if x.ndim == 1 and self.sizes[0] == 1:
            x = x.reshape(-1, 1)
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise ValueError(f"{name} must have shape (n, {self.sizes[0]}), got {x.shape}")
        _check_finite(x, name)
        return x

    def _by_name(self, x: Any, name: str) -> Any:
        """X's columns in the model's order where both name them (a DataFrame or Arrow table, and a model
        with feature_names): matched by name, extra columns left out; a missing or repeated name is
        refused. Anything without column names is taken as it is, in order."""
        names = _column_names(x)
        want = self._feature_names
        if names is None or want is None or names == list(want):
            return x
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(
                f"{name} has the column name(s) {repeated} more than once; the model's features are matched by name"
            )
        missing = [n for n in want if n not in names]
        if missing:
            raise ValueError(
                f"{name} lacks the model's feature column(s) {missing}: the model was trained on "
                f"{list(want)}, {name} has {names}"
            )
        return x.select(list(want)) if hasattr(x, "column_names") else x[list(want)]

    def _y(self, y: ArrayLike, n: int, name: str = "y") -> NDArray[np.floating[Any]]:
        y = _as_float_array(y, name, self.dtype)
        out = self.sizes[-1]
        if y.ndim == 1 and out == 1:
            y = y.reshape(-1, 1)
        if y.ndim != 2 or y.shape[1] != out:
            raise ValueError(
                f"{name} must have shape (n,) or (n, {out}) for {out} output(s), got {y.shape}"
                if out == 1
                else f"{name} must have shape (n, {out}), got {y.shape}"
            )
        if y.shape[0] != n:
            raise ValueError(f"X has {n} samples but {name} has {y.shape[0]}")
        _check_finite(y, name)
        return y

    # ---- inference -----------------------------------------------------------------------------------
    def __setstate__(self, state: dict[str, Any]) -> None:
        # An unpickled model owns writeable parameters (joblib may unpickle them as read-only memory maps),
        # so that it can be trained as well as used.
        self.__dict__.update(state)
        self.__dict__["_lock"] = threading.RLock()
        self.__dict__.setdefault("stop_training", False)
        self.__dict__.setdefault("device", "cpu")
        self.__dict__.setdefault("dropout", [0.0] * (len(self.weights) - 1))  # pickled before dropout existed
        for key in ("_feature_names", "_target_names", "_scaling", "_training", "classification_loss", "_link_loss"):
            self.__dict__.setdefault(key, None)
        for arrays in (self.weights, self.biases):
            for i, a in enumerate(arrays):
                if not (a.flags.writeable and a.flags.c_contiguous and type(a) is np.ndarray):
                    arrays[i] = np.array(a, order="C")
        if self._opt is not None:
            for group in self._opt["w"] + self._opt["b"]:
                for i, a in enumerate(group):
                    if not (a.flags.writeable and a.flags.c_contiguous and type(a) is np.ndarray):
                        group[i] = np.array(a, order="C")

    def predict(self, x: Inputs) -> NDArray[np.floating[Any]]:
        """The predictions for X.

        The network's output (after the standardization, when the model carries one), except after a
        log-link fit (see link_loss): then exp(output), computed in float64 and rounded once.

        Parameters
        ----------
        x : array_like of shape (n, sizes[0]), or a table
            Floating-point inputs (a NumPy array, or anything with __dlpack__ or __array__); a 1-D X is
            accepted when sizes[0] == 1. With a preprocessing, a table (see `preprocessing`); a
            DataFrame's or Arrow table's columns are matched by feature_names.

        Returns
        -------
        numpy.ndarray of shape (n, sizes[-1])
            The predictions, in the model's dtype.

        Raises
        ------
        TypeError
            If X does not hold floating-point numbers.
        ValueError
            If X has the wrong shape or holds NaN or Inf, lacks a feature column by name, or a
            log-link prediction passes the dtype's range (rather than returning Inf).
        MemoryError
            If the forward pass does not fit in memory.

        Examples
        --------
        >>> import fastmlp
        >>> model = fastmlp.MLP([1, 1])
        >>> model.set_weights([([[2.0]], [1.0])])
        >>> model.predict([[0.0], [0.5]])
        array([[1.],
               [2.]], dtype=float32)
        """
        out = self._outputs(x)
        return out if self._link_loss is None else _targets.mean_response(out, MEAN_FUNCTIONS[self._link_loss])

    def _outputs(self, x: Inputs) -> NDArray[np.floating[Any]]:
        """The network's output for X in the data's units (the logits of a classifier, a log-link
        loss's log-rates): predict before the mean function."""
        return self._data_y(self._forward(self._net_x(self._x(x))))

    def _forward(self, x: NDArray[Any]) -> NDArray[Any]:
        """The network's output for an already validated and standardized X."""
        try:
            return _core.mlp_forward(self.weights, self.biases, self.activations, self.negative_slope, x, self.device)
        except MemoryError as e:
            # What mlp_forward holds besides the output (csrc/cpu/network_pass.cpp, csrc/cuda/train_loop.cu).
            need = (
                "the weights, a chunk's inputs and two buffers of its outputs at the widest layer, for a chunk "
                "of up to 65536 rows (fewer when those buffers would pass 1 GiB)"
                if self.device == "cuda"
                else "two buffers of a chunk's outputs at the widest hidden layer, for a chunk of up to 4096 rows "
                "(a pair per thread when small chunks run side by side)"
            )
            raise MemoryError(
                f"predict: not enough {'device' if self.device == 'cuda' else 'host'} memory to "
                f"run {x.shape[0]} rows through layers {self.sizes} ({self.dtype.name}); {need} "
                f"must fit ({e})"
            ) from e

    @overload
    def evaluate(
        self,
        x: Inputs,
        y: ArrayLike,
        loss: LossArg = ...,
        *,
        sample_weight: ArrayLike | None = ...,
        class_weight: ArrayLike | dict[int, float] | None = ...,
        metrics: None = ...,
    ) -> float: ...
    @overload
    def evaluate(
        self,
        x: Inputs,
        y: ArrayLike,
        loss: str = ...,
        *,
        sample_weight: ArrayLike | None = ...,
        class_weight: ArrayLike | dict[int, float] | None = ...,
        metrics: str | Sequence[str],
    ) -> dict[str, float]: ...
    def evaluate(
        self,
        x: Inputs,
        y: ArrayLike,
        loss: LossArg = "mse",
        *,
        sample_weight: ArrayLike | None = None,
        class_weight: ArrayLike | dict[int, float] | None = None,
        metrics: str | Sequence[str] | None = None,
    ) -> float | dict[str, float]:
        """The loss (its mean, see fastmlp.losses) of the predictions for X against y.

        The loss reads the network's own output, as fit's do: the standardized units of a model that
        standardizes its targets, the log-rates of a log-link model.

        Parameters
        ----------
        x : array_like of shape (n, sizes[0]), or a table
            The inputs, as predict takes them.
        y : array_like
            The targets, as fit takes them; for cross_entropy, y may be class indices (n,).
        loss : str, default "mse"
            A name of fastmlp.losses.LOSSES.
        sample_weight : array_like of shape (n,), optional
            As in fit.
        class_weight : array_like or dict, optional
            As in fit.
        metrics : list of str or str, optional
            ["accuracy"] (classification losses) returns {"loss": ..., "accuracy": ...} instead of the
            loss alone.

        Returns
        -------
        float or dict
            The loss, or {"loss": ..., "accuracy": ...} with metrics.

        Raises
        ------
        ValueError
            If X and y are empty, do not fit the network or each other, or metrics is not ["accuracy"]
            (or None); for targets out of the loss's range.
        TypeError
            If X does not hold floating-point numbers, or labels are not integers.

        Examples
        --------
        >>> import numpy as np
        >>> import fastmlp
        >>> model = fastmlp.MLP([1, 1])
        >>> model.set_weights([([[2.0]], [1.0])])
        >>> x = np.array([0.0, 1.0])
        >>> model.evaluate(x, np.array([1.0, 4.0]))  # ((1 - 1)^2 + (3 - 4)^2) / 2
        0.5
        >>> model.evaluate(x, np.array([1.0, 4.0]), loss="mae")
        0.5
        """
        x = self._x(x)
        if isinstance(loss, dict):  # a trainer's spec: y is already laid out for it, in the network's units
            return _core.loss(loss, self._forward(self._net_x(x)), y, "mean", self.device)
        spec, t = self._loss_targets(y, x.shape[0], loss, sample_weight, class_weight)
        if x.shape[0] == 0:
            raise ValueError("X and y are empty; the loss of no samples is undefined")
        pred = self._forward(self._net_x(x))  # the network's own units, as fit's losses
        value = _core.loss(spec, pred, t, "mean", self.device)
        if metrics is None:
            return value
        metrics = [metrics] if isinstance(metrics, str) else list(metrics)
        if metrics != ["accuracy"]:
            raise ValueError(f"metrics may be ['accuracy'] (or None), got {metrics!r}")
        return {"loss": value, "accuracy": _targets.accuracy(pred, y, check_loss(loss))}

    def predict_proba(self, x: Inputs, kind: str | None = None) -> NDArray[np.float64]:
        """Class probabilities for X.

        Softmax over the output logits (a model trained with cross_entropy) or the sigmoid of each
        (bce: binary or multi-label).

        Parameters
        ----------
        x : array_like of shape (n, sizes[0]), or a table
            The inputs, as predict takes them.
        kind : {"softmax", "sigmoid"}, optional
            Which; by default, the last fit's loss decides, else softmax for several outputs and
            sigmoid for one.

        Returns
        -------
        numpy.ndarray of shape (n, sizes[-1])
            The probabilities, float64.

        Raises
        ------
        ValueError
            As predict, or for another kind.

        Examples
        --------
        >>> import numpy as np
        >>> import fastmlp
        >>> model = fastmlp.MLP([1, 2])
        >>> model.set_weights([([[1.0, -1.0]], [0.0, 0.0])])
        >>> model.predict_proba([[0.0], [1.0]]).round(4)
        array([[0.5   , 0.5   ],
               [0.8808, 0.1192]])
        """
        if kind is None:
            last: str | None = getattr(self, "classification_loss", None)
            heads: dict[str | None, str] = {"cross_entropy": "softmax", "bce": "sigmoid"}
            kind = heads.get(last) or ("softmax" if self.sizes[-1] > 1 else "sigmoid")
        return _targets.probabilities(self._outputs(x), kind)

    def gradients(
        self,
        x: Inputs,
        y: ArrayLike,
        loss: str = "mse",
        *,
        sample_weight: ArrayLike | None = None,
        class_weight: ArrayLike | dict[int, float] | None = None,
    ) -> tuple[float, list[tuple[NDArray[Any], NDArray[Any]]]]:
        """The loss and its gradients for the batch (X, y) at the current weights.

        Parameters
        ----------
        x : array_like of shape (n, sizes[0]), or a table
            The inputs, as predict takes them.
        y : array_like
            The targets, as fit takes them.
        loss : str, default "mse"
            A name of fastmlp.losses.LOSSES.
        sample_weight : array_like of shape (n,), optional
            As in fit.
        class_weight : array_like or dict, optional
            As in fit.

        Returns
        -------
        loss : float
            The batch's mean loss.
        grads : list of tuple of numpy.ndarray
            [(dL/dW0, dL/db0), ...], one pair per layer, of the parameters' shapes.

        Raises
        ------
        ValueError
            If X and y do not fit the network or each other, or hold NaN or Inf.
        MemoryError
            If the activations of the batch do not fit in memory.

        Examples
        --------
        >>> import numpy as np
        >>> import fastmlp
        >>> model = fastmlp.MLP([1, 1])
        >>> model.set_weights([([[2.0]], [1.0])])
        >>> loss, [(dw, db)] = model.gradients(np.array([1.0]), np.array([4.0]))  # (2 + 1 - 4)^2
        >>> loss, dw, db
        (1.0, array([[-2.]], dtype=float32), array([-2.], dtype=float32))
        """
        x = self._x(x)
        spec, y = self._loss_targets(y, x.shape[0], loss, sample_weight, class_weight)
        x = self._net_x(x)
        try:
            value, grads = _core.mlp_loss_grad(
                self.weights, self.biases, self.activations, self.negative_slope, spec, x, y, self.device
            )
        except MemoryError as e:
            raise MemoryError(
                f"gradients: not enough memory for the activations of {x.shape[0]} rows through "
                f"layers {self.sizes} ({self.dtype.name}); pass fewer rows ({e})"
            ) from e
        # Each g is a (dL/dW, dL/db) pair.
        return value, typing.cast("list[tuple[NDArray[Any], NDArray[Any]]]", [tuple(g) for g in grads])

    # ---- training ------------------------------------------------------------------------------------
    def fit(
        self,
        x: Inputs,
        y: ArrayLike,
        loss: str = "mse",
        optimizer: Optimizer | str | None = None,
        batch_size: int | Literal["max"] | None = 32,
        epochs: int = 100,
        shuffle: bool = True,
        seed: int | None = 0,
        validation_data: tuple[Inputs, ArrayLike] | None = None,
        verbose: bool | int | str = False,
        drop_last: bool = False,
        on_nonfinite: Literal["raise", "stop"] = "raise",
        schedule: Schedule | None = None,
        lr_scaling: Literal["linear", "sqrt"] | None = None,
        base_batch_size: int | None = None,
        warmup_epochs: int | None = None,
        clip_grad_norm: float | None = None,
        clip_grad_value: float | None = None,
        callbacks: Sequence[Any] | None = None,
        sample_weight: ArrayLike | None = None,
        class_weight: ArrayLike | dict[int, float] | None = None,
        comm: MPI.Comm | None = None,
        validation_split: float | None = None,
    ) -> History:
        """Train with mini-batch gradient descent.

        Callbacks and schedules run once per epoch, never per step: the epoch's steps run in the C++
        loop. If the loss or a weight becomes NaN/Inf, the last finite weights are restored and
        DivergenceError is raised (on_nonfinite="stop" returns instead, with History.stopped_reason
        set). Optimizer state (e.g. momentum) carries over to the next fit with the same kind of
        optimizer.

        Parameters
        ----------
        x : array_like of shape (n, sizes[0]), or a table
            The inputs, as predict takes them (in their own units when the model standardizes).
        y : array_like
            The targets: (n,) or (n, sizes[-1]) for regression; see `loss` for classification.
        loss : str, default "mse"
            A name of fastmlp.losses.LOSSES. For cross_entropy (softmax over the outputs) y is class
            indices (n,) or one-hot/probability rows (n, classes); for bce (sigmoid per output) 0/1 or
            [0, 1] targets, several columns for multi-label. A log-link loss (poisson) trains the
            output as a log-rate: predict then returns exp(output), see link_loss. Such a loss refuses
            target standardization (set_standardization's y_mean, y_std).
        optimizer : fastmlp.optim.Optimizer or str, optional
            A fastmlp.optim optimizer, or the name of one (fastmlp.optim.OPTIMIZERS: "sgd", "adam",
            ...) for it with its default hyperparameters; the default is SGD(lr=0.01).
        batch_size : int or "max" or None, default 32
            None is full-batch gradient descent, 1 is SGD (one sample at a time, drawn without
            replacement and reshuffled every epoch), k is mini-batch SGD. "max" takes the largest batch
            whose training workspaces fit the free memory of the device (fastmlp.max_batch_size): the
            full batch when the data set fits. Data parallel, it is the global batch.
        epochs : int, default 100
            The epochs to run (>= 0).
        shuffle : bool, default True
            Visit the rows in a new order every epoch.
        seed : int or None, default 0
            The seed of the epochs' order, in [0, 2**64); None draws a fresh one.
        validation_data : tuple of (array_like, array_like), optional
            A pair (X_val, y_val) scored after every epoch (history["val_loss"]; with sample weights
            each of its rows weighs 1). Data parallel, each rank's block of the validation rows.
        verbose : bool or int or str, default False
            True (or 1) shows a progress bar on stderr when tqdm is installed, else prints a line every
            max(1, epochs // 20) epochs and after the last; 2 (or "epoch") prints a line after every
            epoch. Data parallel, rank 0 prints.
        drop_last : bool, default False
            Drop the last short batch of each epoch (by default it is kept).
        on_nonfinite : {"raise", "stop"}, default "raise"
            What a NaN/Inf loss or weight does after the last finite weights are restored: raise
            DivergenceError, or return with History.stopped_reason set.
        schedule : fastmlp.schedules.Schedule, optional
            A schedule of the learning rate (history["lr"] records the rate of each epoch's first step).
        lr_scaling : {"linear", "sqrt"}, optional
            With base_batch_size: the optimizer's lr was tuned for base_batch_size; scale it for
            batch_size (fastmlp.scale_lr) and reach the scaled rate by Goyal et al.'s gradual warmup
            over warmup_epochs.
        base_batch_size : int, optional
            The batch size the learning rate was tuned for (goes with lr_scaling).
        warmup_epochs : int, optional
            The epochs of lr_scaling's warmup (default 5; 0 for none). The warmup runs only when the
            rate is scaled up.
        clip_grad_norm : float, optional
            Clip the gradients of each step by their global L2 norm (> 0).
        clip_grad_value : float, optional
            Clip the gradients of each step elementwise (> 0).
        callbacks : list, optional
            Objects with any of on_train_begin(logs), on_epoch_end(epoch, logs) and
            on_train_end(logs), called once per epoch, never per step (see fastmlp.callbacks, e.g.
            fastmlp.EarlyStopping); on_epoch_end returning True or setting model.stop_training = True
            ends training after that epoch.
        sample_weight : array_like of shape (n,), optional
            Weighs each sample's loss (>= 0). Not in a data-parallel fit.
        class_weight : array_like of shape (classes,) or dict, optional
            Weighs each class's loss, (classes,) or {class: weight} (cross_entropy).
        comm : mpi4py communicator, optional
            For data-parallel training over its processes (see fastmlp.distributed): each rank passes
            its contiguous block of the global rows, in rank order, and batch_size is the global batch;
            the weights are those of a one-process fit on all the rows (up to the order of a sum),
            identical on every rank. Progress is printed by rank 0, and save() writes from rank 0 only.
        validation_split : float, optional
            A fraction in (0, 1) of the rows of X and y held out instead (not with validation_data),
            round(fraction * n) of them, at least one on each side. Unlike Keras's (the last rows,
            which of a sorted file are its tail alone) they are drawn at random: the first of
            numpy.random.default_rng(seed).permutation(n), seed being fit's own (with seed=None, the
            fresh seed the fit draws). Both parts keep their rows' order, so the fit equals one on the
            training rows with the held-out rows as validation_data. Sample weights go with their rows:
            the held-out rows' weigh the validation loss. Data parallel, the rows are drawn over all
            ranks' rows, as one process draws them, and each rank holds out its own.

        Returns
        -------
        History
            history["loss"] (and "val_loss", "lr") per epoch run, epoch, params and why it stopped.

        Raises
        ------
        DivergenceError
            If the loss or a weight becomes NaN/Inf (with on_nonfinite="raise"); the message says which
            weights the model holds.
        TypeError
            If an argument has the wrong type (named in the message).
        ValueError
            If an argument is out of range, arguments do not go together (e.g. validation_split with
            validation_data, lr_scaling without base_batch_size), the data do not fit the network or the
            loss, or a callback or schedule monitors a value the fit does not log.
        MemoryError
            If the fit's workspaces do not fit in memory (fastmlp.max_batch_size gives the largest batch
            that does).
        RuntimeError
            If another thread is fitting (or saving) this model right now.

        See Also
        --------
        fastmlp.callbacks : Hooks called after each epoch.
        fastmlp.schedules : Learning-rate schedules.

        Examples
        --------
        >>> import numpy as np
        >>> import fastmlp
        >>> x = np.linspace(-1, 1, 20).reshape(-1, 1)
        >>> model = fastmlp.MLP([1, 1])
        >>> history = model.fit(x, 2 * x + 1, optimizer=fastmlp.optim.SGD(lr=0.1), batch_size=4, epochs=50)
        >>> len(history.history["loss"]), history.history["loss"][-1] < 1e-6
        (50, True)

        A classifier with class indices, a schedule and early stopping on held-out rows:

        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(200, 2))
        >>> labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
        >>> net = fastmlp.MLP([2, 16, 3], seed=0)
        >>> history = net.fit(X, labels, loss="cross_entropy", optimizer="adam", epochs=300,
        ...                   schedule=fastmlp.schedules.StepLR(100, gamma=0.5), validation_split=0.25,
        ...                   callbacks=[fastmlp.EarlyStopping(patience=20, restore_best_weights=True)])
        >>> sorted(history.history)
        ['loss', 'lr', 'val_loss']
        >>> net.evaluate(X, labels, loss="cross_entropy", metrics=["accuracy"])["accuracy"] > 0.9
        True
        """
        arguments = {
            "loss": loss,
            "optimizer": optimizer,
            "batch_size": batch_size,
            "epochs": epochs,
            "shuffle": shuffle,
            "seed": seed,
            "validation_data": validation_data,
            "verbose": verbose,
            "drop_last": drop_last,
            "on_nonfinite": on_nonfinite,
            "schedule": schedule,
            "lr_scaling": lr_scaling,
            "base_batch_size": base_batch_size,
            "warmup_epochs": warmup_epochs,
            "clip_grad_norm": clip_grad_norm,
            "clip_grad_value": clip_grad_value,
            "callbacks": callbacks,
            "sample_weight": sample_weight,
            "class_weight": class_weight,
            "validation_split": validation_split,
        }
        with self._exclusive("fit"):
            dist = _collective(comm)
            self._save_rank = None if dist.size == 1 else dist.rank
            with dist.deferred_interrupts():  # data parallel: Ctrl-C waits for a point every rank hears of it
                try:
                    # X may be a table too: FitChecks._fit declares ArrayLike but converts X with _x, as predict does.
                    return self._fit(dist, typing.cast("ArrayLike", x), y, arguments)
                except BaseException as e:
                    dist.abort_unless_agreed(e)  # this rank's alone: the others would wait for it forever
                    raise

    def _optimizer_state_for(self, optimizer: Optimizer) -> dict[str, Any]:
        """The state buffers for `optimizer`: kept from the last fit when the kind and layout match
        (a warm start), fresh ones otherwise (zeros, or Adagrad's initial accumulator value)."""
        cfg = optimizer.config()
        names = optimizer.state_names()
        if self._opt is not None and self._opt["config"]["name"] == cfg["name"] and self._opt.get("names") == names:
            self._opt["config"] = cfg
            return self._opt
        init = optimizer.state_initial_values()
        self._opt = {
            "config": cfg,
            "names": names,
            "step": 0,
            "w": [[np.full_like(w, v) for v in init] for w in self.weights],
            "b": [[np.full_like(b, v) for v in init] for b in self.biases],
        }
        return self._opt

    @property
    def optimizer(self) -> Optimizer | None:
        """The optimizer of the last fit (None before any), rebuilt from its configuration.

        Examples
        --------
        >>> import numpy as np
        >>> import fastmlp
        >>> model = fastmlp.MLP([1, 1])
        >>> history = model.fit(np.zeros(4), np.ones(4), optimizer="adam", epochs=1)
        >>> model.optimizer
        Adam(lr=0.001, betas=[0.9, 0.999], eps=1e-08, weight_decay=0.0, amsgrad=False)
        """
        return None if self._opt is None else from_config(self._opt["config"])

    # ---- persistence ---------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> str:
        """Write architecture, weights and optimizer state to an .npz file, atomically.

        A temporary file in the same directory is written, flushed to disk, then renamed over `path`.
        A symlink is written through (the file it names is replaced); anything but a regular file is
        refused, and so is a model holding NaN/Inf (load would refuse the file). Temporary files that a
        killed save left for the same path are removed. After a data-parallel fit (fit(comm=...)) only
        rank 0 writes: on the other ranks save returns without writing. The file also keeps the column
        names, standardization, preprocessing and training summary. See fastmlp.persist.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write.

        Returns
        -------
        str
            The path.

        Raises
        ------
        ValueError
            If the model holds NaN or Inf, or the path names something other than a regular file.
        IsADirectoryError
            If the path is a directory.
        OSError
            If the file cannot be written; the message names the path.
        RuntimeError
            If another thread is fitting (or saving) this model right now.

        See Also
        --------
        load : Read the file back.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> import fastmlp
        >>> model = fastmlp.MLP([2, 4, 1], seed=3)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = model.save(os.path.join(folder, "model.npz"))
        ...     same = fastmlp.load(path)
        >>> all(np.array_equal(a, b) for a, b in zip(same.weights, model.weights))
        True
        """
        if getattr(self, "_save_rank", None):  # fitted data-parallel, on a rank other than 0: rank 0 writes
            return os.fspath(path)
        with self._exclusive("save"):
            return persist.save(self, path)


def load(path: str | os.PathLike[str]) -> MLP:
    """An MLP saved by MLP.save.

    fastmlp.persist.load checks the file and builds it as an MLP: weights, optimizer state (a later
    fit with the same kind of optimizer goes on from it), column names, standardization,
    preprocessing and training summary. Never unpickles.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.

    Returns
    -------
    MLP
        The model.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If the file is not a fastmlp model file or is damaged (the message names the file and what is
        wrong with it).
    MemoryError
        If its arrays take more memory than this process has left.

    Examples
    --------
    >>> import os, tempfile
    >>> import fastmlp
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = fastmlp.MLP([2, 3, 1], activation="tanh").save(os.path.join(folder, "model.npz"))
    ...     fastmlp.load(path)
    MLP([2, 3, 1], activations=[tanh,identity], dtype=float32, params=13)
    """
    return persist.load(path, MLP)
