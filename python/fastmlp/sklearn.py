"""scikit-learn's MLPClassifier and MLPRegressor, trained by fastmlp's C++ epoch loop.

`from fastmlp.sklearn import MLPClassifier, MLPRegressor` replaces
`from sklearn.neural_network import MLPClassifier, MLPRegressor` without changing an argument: the same
signature and defaults, scikit-learn's loss scaling (half squared error; log-loss summed over outputs),
its L2 penalty alpha (on the weights only, divided by the batch's size or sample-weight sum), its
Glorot-uniform initialization drawn from `random_state` as scikit-learn draws it, its learning-rate
schedules and stopping rules, `partial_fit` (with `classes`), `warm_start`, `sample_weight`, sparse X,
string and multi-label targets, and its fitted attributes. `solver="lbfgs"` runs SciPy's L-BFGS-B over
the C++ loss and gradient (fastmlp._core.mlp_loss_grad). fastmlp's extras come after scikit-learn's
arguments: `solver` may also be any other optimizer of fastmlp.optim.OPTIMIZERS ("adamw", "rmsprop",
"adagrad", ...: the kernels' registry), which gets beta_1 and beta_2, epsilon, momentum and
nesterovs_momentum where it takes them; `weight_decay` (PyTorch's, for those optimizers), `init` (a
fastmlp.init initializer instead of scikit-learn's), `dtype` (default: X's float dtype) and `device`;
`activation` may also be any of fastmlp's (fastmlp.activations.NAMES: "gelu", "silu", "elu",
"softplus", "selu", ..., with their default parameters), or a list of one name per hidden layer;
MLPClassifier takes `class_weight` ("balanced" or a dict, as scikit-learn's other classifiers);
`dropout` (inverted, per hidden layer); `scoring` (what early stopping watches: "loss" or any
scikit-learn scorer), with the validation loss in `validation_loss_curve_`; MLPRegressor's `loss` may
also be "absolute_error" or "huber".

Where the result differs from scikit-learn's (same distribution, different numbers): the epoch order
comes from fastmlp's Philox permutation, not from NumPy's shuffle; Adam adds epsilon to
sqrt(v) / sqrt(1 - beta_2^t) (PyTorch's form) where scikit-learn adds it to sqrt(v); SGD's momentum
buffer holds gradients (PyTorch's form), which equals scikit-learn's velocity at a constant rate and
differs slightly after an "invscaling"/"adaptive" rate change; sparse X is densified for each call.

This module imports scikit-learn and SciPy (optional: pip install "fastmlp[sklearn]"); `import fastmlp`
does not import them.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

try:
    import scipy.optimize
    import scipy.sparse
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.neural_network import MLPClassifier as _SkClassifier
    from sklearn.neural_network import MLPRegressor as _SkRegressor
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state, column_or_1d
    from sklearn.utils.class_weight import compute_class_weight
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted
except ImportError as e:  # pragma: no cover - exercised by tests/test_sklearn.py with sklearn hidden
    raise ImportError(
        'fastmlp.sklearn needs scikit-learn and SciPy: pip install "fastmlp[sklearn]" (or pip install scikit-learn)'
    ) from e

from . import _core
from . import _sklearn_input as _input
from . import optim as _optim
from ._constraints import check_dropout
from ._lbfgs import Objective
from ._sklearn_sgd import _SEED_MAX, NONFINITE_WEIGHTS, StochasticSolver
from .data import as_array
from .model import MLP
from .ops import resolve_device
from .train import History

if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from typing import TypeAlias

    from scipy.sparse import sparray, spmatrix
    from sklearn.utils import Tags
    from sklearn.utils._param_validation import Interval

    # scikit-learn's "{array-like, sparse matrix}".
    MatrixLike: TypeAlias = ArrayLike | spmatrix | sparray

_Estimator = TypeVar("_Estimator", bound="_BaseMLP")

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _sklearn_validate_data
except ImportError:  # older scikit-learn: the estimator method it replaced

    def _sklearn_validate_data(
        estimator: Any, X: Any = "no_validation", y: Any = "no_validation", reset: bool = True, **check_params: Any
    ) -> Any:
        return estimator._validate_data(X, y, reset=reset, **check_params)


def _validate_data(
    estimator: Any, X: Any = "no_validation", y: Any = "no_validation", reset: bool = True, **check_params: Any
) -> Any:
    """scikit-learn's validation, after arrays of other libraries (PyTorch, JAX, ...) become NumPy views
    by fastmlp.data.as_array: the same data gives the same numbers whatever holds it."""

    def host(a: object) -> object:
        if a is None or isinstance(a, (str, np.ndarray)) or not hasattr(a, "__dlpack__"):
            return a
        return as_array(a, "X")

    return _sklearn_validate_data(estimator, host(X), host(y), reset=reset, **check_params)


try:
    from sklearn.utils._param_validation import StrOptions
except ImportError:  # pragma: no cover
    StrOptions = None

__all__ = ["MLPClassifier", "MLPRegressor"]

_STOCHASTIC = tuple(_optim.OPTIMIZERS)  # every optimizer of the kernels' registry; "lbfgs" is SciPy's
# The hidden activations by the kernels' names: scikit-learn's four ("logistic" is an alias of
# "sigmoid"), and as an extra every other the kernels have (gelu, silu, elu, ...; with their default
# parameters: the estimators take names only).
_HIDDEN = {
    a: _core.aliases["activation"].get(a, a)
    for a in ("identity", "logistic", "tanh", "relu", *_core.names["activation"], *_core.aliases["activation"])
}


def _extra_constraints(base: type, **extra: list[Any]) -> dict[str, list[Any]]:
    """scikit-learn's own parameter constraints of `base`, widened by fastmlp's extras."""
    constraints = dict(getattr(base, "_parameter_constraints", {}))
    if StrOptions is not None and constraints:
        constraints["solver"] = [StrOptions({"lbfgs", *_STOCHASTIC})]
        constraints.update(extra)
        constraints.update(
            {
                "weight_decay": [_nonneg_real()],
                "init": [None, str],
                "activation": [StrOptions(set(_HIDDEN)), list, tuple],
                "dtype": [None, StrOptions({"float32", "float64"})],
                "device": [StrOptions({"cpu", "cuda", "auto"})],
                "dropout": [_nonneg_real(below=1), list, tuple],
                "scoring": [None, str, callable],
            }
        )
    return constraints


def _hidden_activations(activation: str | Sequence[str], n_hidden: int) -> list[str]:
    """The hidden layers' activations by the kernels' names: `activation` is one name for every hidden
    layer, or a list of one name per hidden layer."""
    names = [activation] * n_hidden if isinstance(activation, str) else list(activation)
    if len(names) != n_hidden:
        raise ValueError(
            f"activation lists {len(names)} names but hidden_layer_sizes has {n_hidden} hidden layers; "
            "give one name for all of them, or one per hidden layer"
        )
    for a in names:
        if not isinstance(a, str) or a not in _HIDDEN:
            raise ValueError(f"activation {a!r} is not one of: {', '.join(sorted(_HIDDEN))}")
    return [_HIDDEN[a] for a in names]


def _nonneg_real(below: float | None = None) -> Interval:
    """scikit-learn's constraint of a real number >= 0 (and < below, when given)."""
    from numbers import Real

    from sklearn.utils._param_validation import Interval

    return Interval(Real, 0, below, closed="left")


class _BaseMLP(StochasticSolver, BaseEstimator):
    """What both estimators share: validation, initialization, the stochastic loop and L-BFGS."""

    if TYPE_CHECKING:
        # What each estimator (MLPClassifier, MLPRegressor) defines for the methods here.
        def _output_activation(self) -> str: ...
        def _loss_name_and_factor(self) -> tuple[str, float]: ...
        def _validate_input(self, X: Any, y: Any, incremental: bool, reset: bool) -> tuple[Any, NDArray[Any]]: ...
        def _predict(self, X: Any, check_input: bool = True) -> NDArray[Any]: ...

    def __init__(
        self,
        hidden_layer_sizes: int | Iterable[int],
        activation: str | Sequence[str],
        solver: str,
        alpha: float,
        batch_size: int | Literal["auto"],
        learning_rate: str,
        learning_rate_init: float,
        power_t: float,
        max_iter: int,
        shuffle: bool,
        random_state: int | np.random.RandomState | None,
        tol: float,
        verbose: bool,
        warm_start: bool,
        momentum: float,
        nesterovs_momentum: bool,
        early_stopping: bool,
        validation_fraction: float,
        beta_1: float,
        beta_2: float,
        epsilon: float,
        n_iter_no_change: int,
        max_fun: int,
        weight_decay: float,
        init: str | None,
        dtype: str | None,
        device: str,
        dropout: float | list[float],
        scoring: str | Callable[..., float] | None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.weight_decay = weight_decay
        self.init = init
        self.dtype = dtype
        self.device = device
        self.dropout = dropout
        self.scoring = scoring

    # ---- the network as the kernels see it --------------------------------------------------------------
    def _activations(self) -> list[str]:
        """Each layer's activation by the kernels' names: the hidden layers', then the output layer's
        values before out_activation_ (identity: the losses are fused with the output)."""
        return _hidden_activations(self.activation, self.n_layers_ - 2) + ["identity"]

    def _parameters(self, dtype: np.dtype[Any]) -> tuple[list[NDArray[Any]], list[NDArray[Any]]]:
        """coefs_ and intercepts_ as C-contiguous, writeable arrays of dtype (the trainer updates them in
        place): whatever a user assigned is converted once, here."""
        for name in ("coefs_", "intercepts_"):
            arrays = getattr(self, name)
            setattr(
                self,
                name,
                [
                    a
                    if isinstance(a, np.ndarray) and a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable
                    else np.array(a, dtype=dtype, order="C")
                    for a in arrays
                ],
            )
        return self.coefs_, self.intercepts_

    def _logits(self, X: Any) -> NDArray[Any]:
        dtype = np.asarray(self.coefs_[0]).dtype
        dtype = dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)
        X = _dense(X, dtype)
        coefs = [np.asarray(c, dtype) for c in self.coefs_]
        intercepts = [np.asarray(b, dtype) for b in self.intercepts_]
        if not all(np.isfinite(p).all() for p in coefs + intercepts):  # a diverged fit predicts NaN, as scikit-learn's
            return np.full((X.shape[0], coefs[-1].shape[1]), np.nan, dtype)
        return _core.mlp_forward(coefs, intercepts, self._activations(), 0.01, X, resolve_device(self.device))

    def _forward_pass_fast(self, X: Any, check_input: bool = True) -> NDArray[Any]:
        """The output layer's activation (probabilities, or the regression output) for X."""
        if check_input:
            X = _validate_data(self, X, accept_sparse=["csr", "csc"], reset=False, dtype=(np.float64, np.float32))
        # Computed in the parameters' dtype, returned in X's (as scikit-learn: float32 X, float32 results).
        out_dtype = getattr(X, "dtype", None)
        out_dtype = out_dtype if out_dtype in (np.float32, np.float64) else np.dtype(np.float64)
        z = self._logits(X)
        return self._output(z).astype(out_dtype, copy=False)

    def _output(self, z: NDArray[Any]) -> NDArray[Any]:
        """The output activation applied to the last layer's values z."""
        act = self.out_activation_
        if act == "softmax":
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        if act == "logistic":
            e = np.exp(-np.abs(z))
            return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)
        if act == "exp":
            return np.exp(z)
        return z

    # ---- fit --------------------------------------------------------------------------------------------
    def _fit(
        self: _Estimator, X: Any, y: Any, sample_weight: ArrayLike | None = None, incremental: bool = False
    ) -> _Estimator:
        if hasattr(self, "_validate_params"):
            self._validate_params()
        hidden = self.hidden_layer_sizes
        hidden = list(hidden) if hasattr(hidden, "__iter__") else [hidden]
        if np.any(np.array(hidden) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {hidden}.")
        _hidden_activations(self.activation, len(hidden))
        if any(check_dropout(self.dropout, len(hidden))) and self.solver == "lbfgs":
            raise ValueError(
                "dropout needs a stochastic solver ('adam', 'sgd', ...): L-BFGS minimizes one fixed "
                "function, which random masks would change at every evaluation"
            )
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        dtype = np.dtype(self.dtype) if self.dtype is not None else X.dtype
        X = _dense(X, dtype)
        if sample_weight is not None:
            sample_weight = typing.cast("NDArray[np.floating[Any]]", _check_sample_weight(sample_weight, X))
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        weights = self._class_sample_weight(y, incremental)
        if weights is not None:  # class_weight: each row's weight times its class's, as scikit-learn's classifiers
            sample_weight = weights if sample_weight is None else sample_weight * weights
        self.n_outputs_ = y.shape[1]
        layer_units = [X.shape[1]] + hidden + [self.n_outputs_]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(y, layer_units, dtype)
        else:
            fitted = [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]
            if fitted != layer_units:  # the fitted network cannot start a fit of another shape
                raise ValueError(
                    f"{'partial_fit' if incremental else 'warm_start=True'} continues the fitted "
                    f"network, whose layers (inputs, hidden, outputs) are {fitted}, but hidden_layer_sizes "
                    f"and the data give {layer_units}; set warm_start=False (or make a new estimator) to fit a new one"
                )
        self._parameters(dtype)
        if self.solver in _STOCHASTIC:
            self._fit_stochastic(X, y, sample_weight, incremental)
        else:
            self._fit_lbfgs(X, y, sample_weight)
        if not all(np.isfinite(p).all() for p in self.coefs_ + self.intercepts_):
            raise ValueError(NONFINITE_WEIGHTS)
        return self

    def _initialize(self, y: NDArray[Any], layer_units: list[int], dtype: np.dtype[Any]) -> None:
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._output_activation()
        # scikit-learn's initialization (Glorot & Bengio 2010, uniform; factor 2 for the logistic),
        # drawn from the same random_state in the same order, so the same seed starts from the same weights.
        # Each layer's factor is that of the activation after it; the output layer's that of the last
        # hidden layer (scikit-learn's one activation sets every layer's).
        hidden = self._activations()[:-1]
        if hidden:
            follows = [*hidden, hidden[-1]]
        else:
            follows = [_HIDDEN.get(self.activation, "identity") if isinstance(self.activation, str) else "identity"]
        self.coefs_, self.intercepts_ = [], []
        for fan_in, fan_out, act in zip(layer_units[:-1], layer_units[1:], follows):
            if self.init is None:
                bound = np.sqrt((2.0 if act == "sigmoid" else 6.0) / (fan_in + fan_out))
                w: NDArray[np.floating[Any]] = self._random_state.uniform(-bound, bound, (fan_in, fan_out))
                b = self._random_state.uniform(-bound, bound, fan_out)
            else:
                from . import ops

                seed = int(self._random_state.randint(0, _SEED_MAX))
                w = ops.init(self.init, fan_in, fan_out, seed, dtype="float64")
                b = np.zeros(fan_out)
            self.coefs_.append(np.ascontiguousarray(w, dtype=dtype))
            self.intercepts_.append(np.ascontiguousarray(b, dtype=dtype))
        self._best_coefs = [c.copy() for c in self.coefs_]
        self._best_intercepts = [b.copy() for b in self.intercepts_]
        self._state = None  # the optimizer's buffers and step count, kept across partial_fit calls
        self._epochs_seen = 0
        self.__dict__.pop("_optimizer", None)
        if self.solver in _STOCHASTIC:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.validation_loss_curve_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.validation_loss_curve_ = None
                self.best_validation_score_ = None

    def _class_sample_weight(self, y: NDArray[Any], incremental: bool) -> NDArray[np.float64] | None:
        """Each row's weight from class_weight (None without one): a classifier's extra."""
        return None

    def _loss_spec(self, sample_weight: ArrayLike | None) -> dict[str, Any]:
        """The kernels' loss spec: scikit-learn's loss for this output, its scaling, and whether the
        targets carry a sample-weight column (see fastmlp.targets for the layout)."""
        name, factor = self._loss_name_and_factor()
        spec = {"name": name, "factor": factor, "weighted": sample_weight is not None}
        if name == "cross_entropy":
            spec["labels"] = True
        return spec

    def _targets(
        self, y: NDArray[Any], sample_weight: ArrayLike | None, spec: Mapping[str, Any], dtype: DTypeLike
    ) -> NDArray[Any]:
        t = y.argmax(axis=1).reshape(-1, 1) if spec.get("labels") else y
        if sample_weight is not None:
            t = np.hstack([t, np.asarray(sample_weight).reshape(-1, 1)])
        return np.ascontiguousarray(t, dtype=dtype)

    def _lbfgs_objective(self, X: Any, y: ArrayLike, sample_weight: ArrayLike | None) -> Objective:
        """f(packed parameters) -> (loss, packed gradient) as scikit-learn's L-BFGS sees them (see
        fastmlp._lbfgs); coefs_ and intercepts_ become views of the point last evaluated."""
        spec = self._loss_spec(sample_weight)
        dtype = np.asarray(self.coefs_[0]).dtype
        X = _dense(X, dtype)
        targets = self._targets(np.asarray(y).reshape(X.shape[0], -1), sample_weight, spec, dtype)
        weight = X.shape[0] if sample_weight is None else float(np.sum(sample_weight))
        coefs, intercepts = self._parameters(dtype)
        objective = Objective(
            coefs, intercepts, self._activations(), spec, X, targets, weight, self.alpha, resolve_device(self.device)
        )
        self.coefs_, self.intercepts_ = list(objective.coefs), list(objective.intercepts)
        return objective

    def _loss_grad_lbfgs(
        self, packed_coef_inter: ArrayLike, X: Any, y: ArrayLike, sample_weight: ArrayLike | None, *workspaces: object
    ) -> tuple[float, NDArray[np.float64]]:
        """scikit-learn's private objective of L-BFGS (its tests check its gradient by finite
        differences); the workspaces it passes are not needed here."""
        return self._lbfgs_objective(X, y, sample_weight)(np.asarray(packed_coef_inter, np.float64))

    def _fit_lbfgs(self, X: Any, y: ArrayLike, sample_weight: ArrayLike | None) -> None:
        loss_grad = self._lbfgs_objective(X, y, sample_weight)
        x0 = loss_grad.point()
        iprint = 1 if self.verbose is True or self.verbose >= 1 else -1
        options = {"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol}
        try:  # SciPy < 1.15 takes iprint; newer ones dropped it
            from sklearn.utils.fixes import _get_additional_lbfgs_options_dict

            options.update(_get_additional_lbfgs_options_dict("iprint", iprint))
        except ImportError:  # pragma: no cover
            pass
        with _blas_on_one_thread():
            result = scipy.optimize.minimize(loss_grad, x0, method="L-BFGS-B", jac=True, options=options)
        try:
            from sklearn.utils.optimize import _check_optimize_result

            self.n_iter_ = _check_optimize_result("lbfgs", result, self.max_iter)
        except ImportError:  # pragma: no cover
            self.n_iter_ = int(result.nit)
        self.loss_ = float(result.fun)
        loss_grad.params[...] = result.x  # the solution (the last evaluation may have been another point)

    # ---- scikit-learn protocol --------------------------------------------------------------------------
    def fit(self: _Estimator, X: MatrixLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> _Estimator:
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data (sparse X is densified).

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels in classification, real numbers in
            regression).

        sample_weight : array-like of shape (n_samples,), default=None
            One weight per sample.

        Returns
        -------
        self : object
            Returns a trained MLP model.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def _check_solver(self) -> bool:
        if self.solver not in _STOCHASTIC:
            raise AttributeError(
                f"partial_fit is only available for stochastic optimizers. {self.solver} is not stochastic."
            )
        return True

    def _score_with_function(
        self, X: Any, y: ArrayLike, sample_weight: ArrayLike | None, score_function: Callable[..., float]
    ) -> float:
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return score_function(y, y_pred, sample_weight=sample_weight)

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    @property
    def model_(self) -> MLP:
        """The network as a fastmlp.MLP sharing ``coefs_`` and ``intercepts_``.

        Training it trains this estimator; its predict gives the output layer before
        ``out_activation_``: logits for a classifier.
        """
        check_is_fitted(self, "coefs_")
        dtype = self._parameters(np.asarray(self.coefs_[0]).dtype)[0][0].dtype
        sizes = [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]
        model = MLP(
            sizes,
            activation=self._activations()[:-1],
            output_activation="identity",
            dropout=check_dropout(self.dropout, len(self.coefs_) - 1),
            init="zeros",
            dtype=dtype.name,
            device=self.device,
        )
        model.weights, model.biases = list(self.coefs_), list(self.intercepts_)
        return model

    @property
    def history_(self) -> History:
        """The training loss per epoch (and validation score) as a fastmlp.History.

        history["loss"] is ``loss_curve_`` and, with early stopping, history["val_score"] the validation
        scores.
        """
        check_is_fitted(self, "coefs_")
        hist = History({"solver": self.solver, "max_iter": self.max_iter})
        hist.history["loss"] = list(getattr(self, "loss_curve_", None) or [])
        hist.epoch = list(range(len(hist.history["loss"])))
        if getattr(self, "validation_scores_", None) is not None:
            hist.history["val_score"] = list(typing.cast("list[float]", self.validation_scores_))
        if getattr(self, "validation_loss_curve_", None) is not None:
            hist.history["val_loss"] = list(typing.cast("list[float]", self.validation_loss_curve_))
        return hist


# threadpoolctl's controller (untyped: Any), made once (finding the loaded BLAS libraries takes ~0.2 ms)
_BLAS: list[Any] = []


def _blas_on_one_thread() -> AbstractContextManager[object]:
    """A context in which NumPy's and SciPy's BLAS run on one thread. L-BFGS-B's own work is vector
    operations over the parameters, too small to share; OpenBLAS's idle threads would spin beside
    fastmlp's threads between evaluations and take their cores (it doubled a small fit's time)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - a scikit-learn dependency
        import contextlib

        return contextlib.nullcontext()
    if not _BLAS:
        _BLAS.append(ThreadpoolController())
    return _BLAS[0].limit(limits=1, user_api="blas")


def _dense(X: Any, dtype: DTypeLike) -> NDArray[Any]:
    """X as a C-contiguous dense array of dtype (sparse input is densified for the kernels)."""
    if scipy.sparse.issparse(X):
        X = X.toarray()
    return np.ascontiguousarray(X, dtype=dtype)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's MLPClassifier, trained by fastmlp.

    The same arguments, defaults and attributes as sklearn.neural_network.MLPClassifier. Binary and
    multi-label targets use logistic outputs and binary log-loss, more than two classes a softmax and
    the categorical log-loss (both fused with the output in fastmlp's kernels). fastmlp's extra
    arguments come after scikit-learn's; the module text says where the results differ. score (the
    accuracy), get_params and set_params are scikit-learn's.

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape(n_layers - 2,), default=(100,)
        The ith element represents the number of neurons in the ith
        hidden layer.

    activation : str or list of str, default='relu'
        Activation function for the hidden layer: scikit-learn's 'identity'
        (f(x) = x), 'logistic' (f(x) = 1 / (1 + exp(-x))), 'tanh'
        (f(x) = tanh(x)) and 'relu' (f(x) = max(0, x)), or any other of
        fastmlp's (fastmlp.activations.NAMES: 'gelu', 'silu', 'elu',
        'softplus', 'selu', ...), with their default parameters. As an
        extra, a list of one name per hidden layer (e.g. ['relu', 'tanh']);
        scikit-learn's initialization then takes each layer's bound from
        the activation after it (the output layer's from the last hidden
        layer's).

    solver : str, default='adam'
        The solver for weight optimization.

        - 'lbfgs' runs SciPy's L-BFGS-B, a quasi-Newton method, over
          fastmlp's loss and gradient.

        - 'sgd' refers to stochastic gradient descent.

        - 'adam' refers to the stochastic gradient-based optimizer of
          Kingma and Ba.

        - any other name of fastmlp.optim.OPTIMIZERS ('adamw', 'rmsprop',
          'adagrad', 'nadam', 'radam', 'adamax') trains with that optimizer,
          which gets beta_1 and beta_2, epsilon, momentum and
          nesterovs_momentum where it takes them.

    alpha : float, default=0.0001
        Strength of the L2 regularization term (on the weights only). The
        L2 regularization term is divided by the batch's size (or
        sample-weight sum) when added to the loss.

    batch_size : int, default='auto'
        Size of minibatches for stochastic optimizers.
        If the solver is 'lbfgs', the classifier will not use minibatch.
        When set to "auto", `batch_size=min(200, n_samples)`.

    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Learning rate schedule for weight updates.

        - 'constant' is a constant learning rate given by
          'learning_rate_init'.

        - 'invscaling' gradually decreases the learning rate at each
          time step 't' using an inverse scaling exponent of 'power_t'.
          effective_learning_rate = learning_rate_init / pow(t, power_t)

        - 'adaptive' keeps the learning rate constant to
          'learning_rate_init' as long as training loss keeps decreasing.
          Each time two consecutive epochs fail to decrease training loss by at
          least tol, or fail to increase validation score by at least tol if
          'early_stopping' is on, the current learning rate is divided by 5.

        Only used when ``solver='sgd'``.

    learning_rate_init : float, default=0.001
        The initial learning rate used. It controls the step-size
        in updating the weights. Used by every solver but 'lbfgs'.

    power_t : float, default=0.5
        The exponent for inverse scaling learning rate.
        It is used in updating effective learning rate when the learning_rate
        is set to 'invscaling'. Only used when solver='sgd'.

    max_iter : int, default=200
        Maximum number of iterations. The solver iterates until convergence
        (determined by 'tol') or this number of iterations. For stochastic
        solvers (every solver but 'lbfgs'), note that this determines the
        number of epochs (how many times each data point will be used), not
        the number of gradient steps.

    shuffle : bool, default=True
        Whether to shuffle samples in each iteration. Not used when
        solver='lbfgs'.

    random_state : int, RandomState instance, default=None
        Determines random number generation for weights and bias
        initialization, train-test split if early stopping is used, and batch
        sampling for the stochastic solvers.
        Pass an int for reproducible results across multiple function calls.

    tol : float, default=1e-4
        Tolerance for the optimization. When the loss or score is not improving
        by at least ``tol`` for ``n_iter_no_change`` consecutive iterations,
        unless ``learning_rate`` is set to 'adaptive', convergence is
        considered to be reached and training stops.

    verbose : bool, default=False
        Whether to print progress messages to stdout.

    warm_start : bool, default=False
        When set to True, reuse the solution of the previous
        call to fit as initialization, otherwise, just erase the
        previous solution.

    momentum : float, default=0.9
        Momentum for gradient descent update. Should be between 0 and 1. Used
        when solver='sgd', and by the other optimizers that take a momentum.

    nesterovs_momentum : bool, default=True
        Whether to use Nesterov's momentum. Only used when solver='sgd' and
        momentum > 0.

    early_stopping : bool, default=False
        Whether to use early stopping to terminate training when validation
        score is not improving. If set to True, it will automatically set
        aside ``validation_fraction`` of training data as validation and
        terminate training when validation score is not improving by at least
        ``tol`` for ``n_iter_no_change`` consecutive epochs. The split is
        stratified, except in a multilabel setting.
        If early stopping is False, then the training stops when the training
        loss does not improve by more than ``tol`` for ``n_iter_no_change``
        consecutive passes over the training set.
        Only effective for the stochastic solvers.

    validation_fraction : float, default=0.1
        The proportion of training data to set aside as validation set for
        early stopping. Must be between 0 and 1.
        Only used if early_stopping is True.

    beta_1 : float, default=0.9
        Exponential decay rate for estimates of first moment vector in adam
        (and the first of the betas of the other optimizers that take them),
        should be in [0, 1).

    beta_2 : float, default=0.999
        Exponential decay rate for estimates of second moment vector in adam
        (and the second of the betas of the other optimizers that take them),
        should be in [0, 1).

    epsilon : float, default=1e-8
        Value for numerical stability in adam, and the eps of the other
        optimizers that take one.

    n_iter_no_change : int, default=10
        Maximum number of epochs to not meet ``tol`` improvement.
        Only effective for the stochastic solvers.

    max_fun : int, default=15000
        Only used when solver='lbfgs'. Maximum number of loss function calls.
        The solver iterates until convergence (determined by 'tol'), number
        of iterations reaches max_iter, or this number of loss function calls.
        Note that number of loss function calls will be greater than or equal
        to the number of iterations.

    weight_decay : float, default=0.0
        PyTorch's weight decay, given to the stochastic solver's optimizer
        (every optimizer of fastmlp.optim takes one; AdamW's is decoupled).
        It comes on top of alpha's L2 penalty.

    init : str, default=None
        A fastmlp.init initializer for the weights, seeded from random_state
        (the biases then start at zero). None keeps scikit-learn's
        Glorot-uniform initialization, drawn from random_state as
        scikit-learn draws it.

    dtype : {'float32', 'float64'}, default=None
        The dtype of the parameters and of the computation. None takes X's
        float dtype.

    device : {'cpu', 'cuda', 'auto'}, default='cpu'
        Where the network is trained and run.

    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes (an extra), as scikit-learn's other
        classifiers take them: a dict {class label: weight} (classes it
        does not name weigh 1), or 'balanced', which weighs each class
        n_samples / (n_classes * its count in y). Each row's weight is
        its class's times its sample_weight. Binary and multiclass targets
        only; partial_fit takes a dict only (it does not see the whole
        training set's counts).

    dropout : float or list of float, default=0.0
        Inverted dropout (an extra, as torch.nn.Dropout): the probability, in
        [0, 1), that a training step zeroes an output of a hidden layer, the
        others scaled by 1 / (1 - p); predict uses every output. One rate
        for all hidden layers or one per hidden layer. Stochastic solvers
        only (not 'lbfgs').

    scoring : str, callable or None, default=None
        What early stopping watches on the validation split (an extra):
        None for scikit-learn's own (the accuracy, or R^2), 'loss' for the
        validation loss (stored negated in ``validation_scores_``, so that
        greater is better), or any scikit-learn scorer: a name such as
        'f1_macro' or 'neg_mean_absolute_error', or a callable
        scorer(estimator, X, y).

    Attributes
    ----------
    classes_ : ndarray or list of ndarray of shape (n_classes,)
        Class labels for each output.

    loss_ : float
        The current loss computed with the loss function.

    best_loss_ : float or None
        The minimum loss reached by the solver throughout fitting.
        If `early_stopping=True`, this attribute is set to `None`. Refer to
        the `best_validation_score_` fitted attribute instead.

    loss_curve_ : list of shape (`n_iter_`,)
        The ith element in the list represents the loss at the ith iteration.

    validation_scores_ : list of shape (`n_iter_`,) or None
        The score at each iteration on a held-out validation set. The score
        reported is the accuracy score. Only available if `early_stopping=True`,
        otherwise the attribute is set to `None`.

    validation_loss_curve_ : list of shape (`n_iter_`,) or None
        The loss of the held-out validation set at the end of each iteration
        (an extra), counted as ``loss_curve_`` counts the training loss
        (scikit-learn's loss plus alpha's L2 term over the validation rows).
        Only available if `early_stopping=True`, otherwise None.

    best_validation_score_ : float or None
        The best validation score (i.e. accuracy score) that triggered the
        early stopping. Only available if `early_stopping=True`, otherwise the
        attribute is set to `None`.

    t_ : int
        The number of training samples seen by the solver during fitting.

    coefs_ : list of shape (n_layers - 1,)
        The ith element in the list represents the weight matrix corresponding
        to layer i.

    intercepts_ : list of shape (n_layers - 1,)
        The ith element in the list represents the bias vector corresponding to
        layer i + 1.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit. Defined only when `X`
        has feature names that are all strings.

    n_iter_ : int
        The number of iterations the solver has run.

    n_layers_ : int
        Number of layers.

    n_outputs_ : int
        Number of outputs.

    out_activation_ : str
        Name of the output activation function.

    See Also
    --------
    MLPRegressor : The regressor.
    fastmlp.MLP : The network itself (``model_``).

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp.sklearn import MLPClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2))
    >>> y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    >>> clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=1000,
    ...                     random_state=0).fit(X, y)
    >>> clf.classes_
    array(['no', 'yes'], dtype='<U3')
    >>> clf.predict_proba(X[:3]).shape
    (3, 2)
    >>> clf.score(X, y) > 0.95
    True
    """

    _parameter_constraints = _extra_constraints(
        _SkClassifier, **({"class_weight": [None, dict, StrOptions({"balanced"})]} if StrOptions is not None else {})
    )
    _classifier = True

    def __init__(
        self,
        hidden_layer_sizes: int | Iterable[int] = (100,),
        activation: str | Sequence[str] = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: int | Literal["auto"] = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: int | np.random.RandomState | None = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        max_fun: int = 15000,
        weight_decay: float = 0.0,
        init: str | None = None,
        dtype: str | None = None,
        device: str = "cpu",
        class_weight: str | dict[Any, float] | None = None,
        dropout: float | list[float] = 0.0,
        scoring: str | Callable[..., float] | None = None,
    ) -> None:
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            weight_decay=weight_decay,
            init=init,
            dtype=dtype,
            device=device,
            dropout=dropout,
            scoring=scoring,
        )
        self.class_weight = class_weight

    def _output_activation(self) -> str:
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _class_sample_weight(self, y: NDArray[Any], incremental: bool) -> NDArray[np.float64] | None:
        """Each row's weight from class_weight (scikit-learn's compute_class_weight: "balanced" gives a
        class n_samples / (n_classes * its count)), or None without class_weight. y is the binarized
        target (one column for two classes)."""
        cw = self.class_weight
        if cw is None:
            return None
        if self._label_binarizer.y_type_.startswith("multilabel"):
            raise ValueError(
                "class_weight applies to binary and multiclass targets, not to multi-label ones; "
                "weight the rows with sample_weight instead"
            )
        if incremental and isinstance(cw, str):
            raise ValueError(
                "class_weight='balanced' counts the classes of the whole training set, which partial_fit "
                "does not see; pass the weights as a dict (e.g. from sklearn.utils.class_weight."
                "compute_class_weight('balanced', classes=classes, y=y))"
            )
        if isinstance(cw, dict):
            unknown = [k for k in cw if k not in set(self.classes_.tolist())]
            if unknown:
                raise ValueError(
                    f"class_weight names {unknown}, which are not classes of y; "
                    f"its classes are {self.classes_.tolist()}"
                )
            values = np.asarray(list(cw.values()), dtype=np.float64)
            if not (np.isfinite(values).all() and (values >= 0).all()):
                raise ValueError(f"class_weight's weights must be finite and >= 0, got {cw}")
        index = y.argmax(axis=1) if y.shape[1] > 1 else y[:, 0].astype(np.intp)
        per_class = compute_class_weight(cw, classes=self.classes_, y=self.classes_[index])
        return per_class[index]

    def _loss_name_and_factor(self) -> tuple[str, float]:
        if self.out_activation_ == "softmax":
            return "cross_entropy", 1.0
        return "bce", float(self.n_outputs_)  # scikit-learn sums the binary log-loss over the outputs

    def _validate_input(self, X: Any, y: Any, incremental: bool, reset: bool) -> tuple[Any, NDArray[Any]]:
        fresh = (not hasattr(self, "classes_")) or (not self.warm_start and not incremental)
        plain = _input.classification_xy(self, X, y, reset) if fresh else None
        if plain is not None:  # plain arrays: scikit-learn's checks' answer, without their cost
            X, self.classes_, index = plain
            self._label_binarizer = _input.fitted_binarizer(self.classes_)
            return X, _input.one_hot(index, len(self.classes_))
        X, y = _validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True, dtype=(np.float64, np.float32), reset=reset
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if fresh:
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        f"warm_start can only be used where `y` has the same classes as in the previous "
                        f"call to fit. Previously got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. 'y' has {classes}."
                )
        y = self._label_binarizer.transform(y).astype(bool)
        return X, y

    def predict(self, X: MatrixLike) -> NDArray[Any]:
        """Predict using the multi-layer perceptron classifier.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
            The predicted classes (labels as given to fit); one column per label for multi-label
            targets.
        """
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X: Any, check_input: bool = True) -> NDArray[Any]:
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    def _score(self, X: Any, y: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        return self._score_with_function(X, y, sample_weight=sample_weight, score_function=accuracy_score)

    @available_if(lambda est: est._check_solver())
    def partial_fit(
        self, X: MatrixLike, y: ArrayLike, sample_weight: ArrayLike | None = None, classes: ArrayLike | None = None
    ) -> MLPClassifier:
        """Update the model with a single iteration (one epoch) over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,)
            The target values.

        sample_weight : array-like of shape (n_samples,), default=None
            One weight per sample.

        classes : array of shape (n_classes,), default=None
            All the labels there will be; needed on the first call, ignored on
            later ones.

        Returns
        -------
        self : object
            Trained MLP model.
        """
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict_log_proba(self, X: MatrixLike) -> NDArray[Any]:
        """Return the log of probability estimates, log(predict_proba(X)).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_y_prob : ndarray of shape (n_samples, n_classes)
            The predicted log-probability of each class, in the order of ``classes_``.
        """
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def predict_proba(self, X: MatrixLike) -> NDArray[Any]:
        """Probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes)
            The predicted probability of each class, in the order of ``classes_``.
        """
        check_is_fitted(self)
        y_pred = self._forward_pass_fast(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's MLPRegressor, trained by fastmlp.

    The same arguments, defaults and attributes as sklearn.neural_network.MLPRegressor (loss
    "squared_error", the half squared error, or "poisson", the half Poisson deviance with a log link),
    and also loss="absolute_error" or "huber" (delta 1). fastmlp's extra arguments come after
    scikit-learn's; the module text says where the results differ. score (the R2), get_params and
    set_params are scikit-learn's.

    Parameters
    ----------
    loss : {'squared_error', 'poisson', 'absolute_error', 'huber'}, default='squared_error'
        The loss function to use. 'squared_error' is the half squared error and 'poisson' the half
        Poisson deviance with a log link (targets >= 0), as in scikit-learn; fastmlp adds
        'absolute_error' and 'huber' (delta 1).

    hidden_layer_sizes : array-like of shape(n_layers - 2,), default=(100,)
        The ith element represents the number of neurons in the ith
        hidden layer.

    activation : str or list of str, default='relu'
        Activation function for the hidden layer: scikit-learn's 'identity'
        (f(x) = x), 'logistic' (f(x) = 1 / (1 + exp(-x))), 'tanh'
        (f(x) = tanh(x)) and 'relu' (f(x) = max(0, x)), or any other of
        fastmlp's (fastmlp.activations.NAMES: 'gelu', 'silu', 'elu',
        'softplus', 'selu', ...), with their default parameters. As an
        extra, a list of one name per hidden layer (e.g. ['relu', 'tanh']);
        scikit-learn's initialization then takes each layer's bound from
        the activation after it (the output layer's from the last hidden
        layer's).

    solver : str, default='adam'
        The solver for weight optimization.

        - 'lbfgs' runs SciPy's L-BFGS-B, a quasi-Newton method, over
          fastmlp's loss and gradient.

        - 'sgd' refers to stochastic gradient descent.

        - 'adam' refers to the stochastic gradient-based optimizer of
          Kingma and Ba.

        - any other name of fastmlp.optim.OPTIMIZERS ('adamw', 'rmsprop',
          'adagrad', 'nadam', 'radam', 'adamax') trains with that optimizer,
          which gets beta_1 and beta_2, epsilon, momentum and
          nesterovs_momentum where it takes them.

    alpha : float, default=0.0001
        Strength of the L2 regularization term (on the weights only). The
        L2 regularization term is divided by the batch's size (or
        sample-weight sum) when added to the loss.

    batch_size : int, default='auto'
        Size of minibatches for stochastic optimizers.
        If the solver is 'lbfgs', the regressor will not use minibatch.
        When set to "auto", `batch_size=min(200, n_samples)`.

    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Learning rate schedule for weight updates.

        - 'constant' is a constant learning rate given by
          'learning_rate_init'.

        - 'invscaling' gradually decreases the learning rate at each
          time step 't' using an inverse scaling exponent of 'power_t'.
          effective_learning_rate = learning_rate_init / pow(t, power_t)

        - 'adaptive' keeps the learning rate constant to
          'learning_rate_init' as long as training loss keeps decreasing.
          Each time two consecutive epochs fail to decrease training loss by at
          least tol, or fail to increase validation score by at least tol if
          'early_stopping' is on, the current learning rate is divided by 5.

        Only used when ``solver='sgd'``.

    learning_rate_init : float, default=0.001
        The initial learning rate used. It controls the step-size
        in updating the weights. Used by every solver but 'lbfgs'.

    power_t : float, default=0.5
        The exponent for inverse scaling learning rate.
        It is used in updating effective learning rate when the learning_rate
        is set to 'invscaling'. Only used when solver='sgd'.

    max_iter : int, default=200
        Maximum number of iterations. The solver iterates until convergence
        (determined by 'tol') or this number of iterations. For stochastic
        solvers (every solver but 'lbfgs'), note that this determines the
        number of epochs (how many times each data point will be used), not
        the number of gradient steps.

    shuffle : bool, default=True
        Whether to shuffle samples in each iteration. Not used when
        solver='lbfgs'.

    random_state : int, RandomState instance, default=None
        Determines random number generation for weights and bias
        initialization, train-test split if early stopping is used, and batch
        sampling for the stochastic solvers.
        Pass an int for reproducible results across multiple function calls.

    tol : float, default=1e-4
        Tolerance for the optimization. When the loss or score is not improving
        by at least ``tol`` for ``n_iter_no_change`` consecutive iterations,
        unless ``learning_rate`` is set to 'adaptive', convergence is
        considered to be reached and training stops.

    verbose : bool, default=False
        Whether to print progress messages to stdout.

    warm_start : bool, default=False
        When set to True, reuse the solution of the previous
        call to fit as initialization, otherwise, just erase the
        previous solution.

    momentum : float, default=0.9
        Momentum for gradient descent update. Should be between 0 and 1. Used
        when solver='sgd', and by the other optimizers that take a momentum.

    nesterovs_momentum : bool, default=True
        Whether to use Nesterov's momentum. Only used when solver='sgd' and
        momentum > 0.

    early_stopping : bool, default=False
        Whether to use early stopping to terminate training when validation
        score is not improving. If set to True, it will automatically set
        aside ``validation_fraction`` of training data as validation and
        terminate training when validation score is not improving by at least
        ``tol`` for ``n_iter_no_change`` consecutive epochs.
        If early stopping is False, then the training stops when the training
        loss does not improve by more than ``tol`` for ``n_iter_no_change``
        consecutive passes over the training set.
        Only effective for the stochastic solvers.

    validation_fraction : float, default=0.1
        The proportion of training data to set aside as validation set for
        early stopping. Must be between 0 and 1.
        Only used if early_stopping is True.

    beta_1 : float, default=0.9
        Exponential decay rate for estimates of first moment vector in adam
        (and the first of the betas of the other optimizers that take them),
        should be in [0, 1).

    beta_2 : float, default=0.999
        Exponential decay rate for estimates of second moment vector in adam
        (and the second of the betas of the other optimizers that take them),
        should be in [0, 1).

    epsilon : float, default=1e-8
        Value for numerical stability in adam, and the eps of the other
        optimizers that take one.

    n_iter_no_change : int, default=10
        Maximum number of epochs to not meet ``tol`` improvement.
        Only effective for the stochastic solvers.

    max_fun : int, default=15000
        Only used when solver='lbfgs'. Maximum number of loss function calls.
        The solver iterates until convergence (determined by 'tol'), number
        of iterations reaches max_iter, or this number of loss function calls.
        Note that number of loss function calls will be greater than or equal
        to the number of iterations.

    weight_decay : float, default=0.0
        PyTorch's weight decay, given to the stochastic solver's optimizer
        (every optimizer of fastmlp.optim takes one; AdamW's is decoupled).
        It comes on top of alpha's L2 penalty.

    init : str, default=None
        A fastmlp.init initializer for the weights, seeded from random_state
        (the biases then start at zero). None keeps scikit-learn's
        Glorot-uniform initialization, drawn from random_state as
        scikit-learn draws it.

    dtype : {'float32', 'float64'}, default=None
        The dtype of the parameters and of the computation. None takes X's
        float dtype.

    device : {'cpu', 'cuda', 'auto'}, default='cpu'
        Where the network is trained and run.

    dropout : float or list of float, default=0.0
        Inverted dropout (an extra, as torch.nn.Dropout): the probability, in
        [0, 1), that a training step zeroes an output of a hidden layer, the
        others scaled by 1 / (1 - p); predict uses every output. One rate
        for all hidden layers or one per hidden layer. Stochastic solvers
        only (not 'lbfgs').

    scoring : str, callable or None, default=None
        What early stopping watches on the validation split (an extra):
        None for scikit-learn's own (the accuracy, or R^2), 'loss' for the
        validation loss (stored negated in ``validation_scores_``, so that
        greater is better), or any scikit-learn scorer: a name such as
        'f1_macro' or 'neg_mean_absolute_error', or a callable
        scorer(estimator, X, y).

    Attributes
    ----------
    loss_ : float
        The current loss computed with the loss function.

    best_loss_ : float or None
        The minimum loss reached by the solver throughout fitting.
        If `early_stopping=True`, this attribute is set to `None`. Refer to
        the `best_validation_score_` fitted attribute instead.

    loss_curve_ : list of shape (`n_iter_`,)
        The ith element in the list represents the loss at the ith iteration.

    validation_scores_ : list of shape (`n_iter_`,) or None
        The score at each iteration on a held-out validation set. The score
        reported is the R2 score. Only available if `early_stopping=True`,
        otherwise the attribute is set to `None`.

    validation_loss_curve_ : list of shape (`n_iter_`,) or None
        The loss of the held-out validation set at the end of each iteration
        (an extra), counted as ``loss_curve_`` counts the training loss
        (scikit-learn's loss plus alpha's L2 term over the validation rows).
        Only available if `early_stopping=True`, otherwise None.

    best_validation_score_ : float or None
        The best validation score (i.e. R2 score) that triggered the
        early stopping. Only available if `early_stopping=True`, otherwise the
        attribute is set to `None`.

    t_ : int
        The number of training samples seen by the solver during fitting.

    coefs_ : list of shape (n_layers - 1,)
        The ith element in the list represents the weight matrix corresponding
        to layer i.

    intercepts_ : list of shape (n_layers - 1,)
        The ith element in the list represents the bias vector corresponding to
        layer i + 1.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit. Defined only when `X`
        has feature names that are all strings.

    n_iter_ : int
        The number of iterations the solver has run.

    n_layers_ : int
        Number of layers.

    n_outputs_ : int
        Number of outputs.

    out_activation_ : str
        Name of the output activation function.

    See Also
    --------
    MLPClassifier : The classifier.
    fastmlp.MLP : The network itself (``model_``).

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp.sklearn import MLPRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, size=(200, 1))
    >>> y = np.sin(3 * X[:, 0])
    >>> reg = MLPRegressor(hidden_layer_sizes=(32,), activation="gelu", solver="lbfgs", max_iter=500,
    ...                    random_state=0).fit(X, y)
    >>> reg.predict(X[:2]).shape
    (2,)
    >>> reg.score(X, y) > 0.99
    True
    """

    _parameter_constraints = _extra_constraints(
        _SkRegressor,
        **(
            {"loss": [StrOptions({"squared_error", "poisson", "absolute_error", "huber"})]}
            if StrOptions is not None
            else {}
        ),
    )
    _classifier = False

    def __init__(
        self,
        loss: str = "squared_error",
        hidden_layer_sizes: int | Iterable[int] = (100,),
        activation: str | Sequence[str] = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: int | Literal["auto"] = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: int | np.random.RandomState | None = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        max_fun: int = 15000,
        weight_decay: float = 0.0,
        init: str | None = None,
        dtype: str | None = None,
        device: str = "cpu",
        dropout: float | list[float] = 0.0,
        scoring: str | Callable[..., float] | None = None,
    ) -> None:
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            weight_decay=weight_decay,
            init=init,
            dtype=dtype,
            device=device,
            dropout=dropout,
            scoring=scoring,
        )
        self.loss = loss

    def _output_activation(self) -> str:
        return "exp" if self.loss == "poisson" else "identity"

    def _loss_name_and_factor(self) -> tuple[str, float]:
        # scikit-learn's scalings: half the squared error averaged over outputs; the half Poisson deviance
        # summed over outputs (fastmlp's means are over every element).
        return {
            "squared_error": ("mse", 0.5),
            "poisson": ("poisson", float(self.n_outputs_)),
            "absolute_error": ("mae", 1.0),
            "huber": ("huber", 1.0),
        }[self.loss]

    def _validate_input(self, X: Any, y: Any, incremental: bool, reset: bool) -> tuple[Any, NDArray[Any]]:
        plain = _input.regression_xy(self, X, y, reset)  # plain arrays: scikit-learn's checks' answer
        if plain is not None:
            X, y = plain
        else:
            X, y = _validate_data(
                self,
                X,
                y,
                accept_sparse=["csr", "csc"],
                multi_output=True,
                y_numeric=True,
                dtype=(np.float64, np.float32),
                reset=reset,
            )
            if y.ndim == 2 and y.shape[1] == 1:
                y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("loss='poisson' needs targets >= 0 (counts or rates)")
        return X, y

    def predict(self, X: MatrixLike) -> NDArray[Any]:
        """Predict using the multi-layer perceptron model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values: shape (n_samples,) for one output.
        """
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X: Any, check_input: bool = True) -> NDArray[Any]:
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred

    def _score(self, X: Any, y: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        return self._score_with_function(X, y, sample_weight=sample_weight, score_function=r2_score)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X: MatrixLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> MLPRegressor:
        """Update the model with a single iteration (one epoch) over the given data.

        It continues from the current weights (created on the first call).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The target values.

        sample_weight : array-like of shape (n_samples,), default=None
            One weight per sample.

        Returns
        -------
        self : object
            Trained MLP model.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def __sklearn_tags__(self) -> Tags:  # scikit-learn >= 1.6: several target columns are fitted together
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _more_tags(self) -> dict[str, bool]:  # scikit-learn < 1.6
        return {"multioutput": True}
