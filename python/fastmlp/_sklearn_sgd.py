"""The stochastic solvers of fastmlp.sklearn's estimators ("adam", "sgd" and fastmlp's others): scikit-
learn's rules (its learning-rate schedules, stopping rules, early stopping on a held-out split,
partial_fit's one epoch) as hooks of fastmlp.train's epoch loop, the one MLP.fit runs, each epoch run
by the C++ trainer. A mixin of the estimators' base.
"""

from __future__ import annotations

import typing
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from . import _core
from . import _sklearn_input as _input
from . import optim as _optim
from ._constraints import check_dropout
from .distributed import SingleProcess
from .ops import resolve_device
from .train import EpochHooks, Guard, Network, run_epochs

if TYPE_CHECKING:
    from sklearn.preprocessing import LabelBinarizer

    from .optim import Optimizer

_SEED_MAX = np.iinfo(np.int32).max
NONFINITE_WEIGHTS = (
    "Solver produced non-finite parameter weights. The input data may contain large values and "
    "need to be preprocessed."
)  # scikit-learn's words

# scikit-learn's arguments as torch.optim's hyperparameters: an optimizer that takes one gets it (Adam
# its betas and eps, SGD and RMSprop the momentum, ...); the rest keep fastmlp.optim's defaults.
_FROM_ESTIMATOR: dict[str, Callable[[StochasticSolver], object]] = {
    "momentum": lambda est: est.momentum,
    "nesterov": lambda est: bool(est.nesterovs_momentum and est.momentum > 0),
    "betas": lambda est: (est.beta_1, est.beta_2),
    "eps": lambda est: est.epsilon,
    "weight_decay": lambda est: est.weight_decay,
}


class StochasticSolver:
    """fit for the stochastic solvers (train.run_epochs with _SolverHooks); the estimator provides the
    network and its checks."""

    if TYPE_CHECKING:
        # What the solver uses of the estimator it is a base of (fastmlp.sklearn._BaseMLP and its
        # subclasses set each). scikit-learn's hyperparameters:
        solver: str
        alpha: float
        batch_size: int | Literal["auto"]
        learning_rate: str
        learning_rate_init: float
        power_t: float
        max_iter: int
        shuffle: bool
        tol: float
        verbose: bool
        momentum: float
        nesterovs_momentum: bool
        early_stopping: bool
        validation_fraction: float
        beta_1: float
        beta_2: float
        epsilon: float
        n_iter_no_change: int
        weight_decay: float
        device: str
        dropout: float | list[float]
        scoring: Any  # None, "loss", a scorer's name or a callable
        n_layers_: int
        _classifier: ClassVar[bool]
        # The fitted state (scikit-learn's attributes, and the fit's own):
        coefs_: list[NDArray[Any]]
        intercepts_: list[NDArray[Any]]
        n_outputs_: int
        out_activation_: str
        classes_: NDArray[Any]
        n_iter_: int
        t_: int
        loss_: float
        loss_curve_: list[float]
        best_loss_: float | None  # None with early stopping
        validation_scores_: list[float] | None  # None without early stopping
        validation_loss_curve_: list[float] | None  # None without early stopping
        _val_loss_args: tuple[Any, NDArray[Any], float]  # early stopping: see _fit_stochastic
        best_validation_score_: float | None  # None without early stopping
        _random_state: np.random.RandomState
        _label_binarizer: LabelBinarizer
        _learning_rate: float
        _state: dict[str, Any] | None  # the optimizer's buffers and step count, see _optimizer_state
        _optimizer: _OptimizerView
        _no_improvement_count: int
        _best_coefs: list[NDArray[Any]]
        _best_intercepts: list[NDArray[Any]]
        _epochs_seen: int

        def _activations(self) -> list[str]: ...
        def _logits(self, X: Any) -> NDArray[Any]: ...
        def _loss_spec(self, sample_weight: Any) -> dict[str, Any]: ...
        def _targets(self, y: Any, sample_weight: Any, spec: Any, dtype: Any) -> NDArray[Any]: ...

    def _make_optimizer(self, lr: float) -> Optimizer:
        """The solver's optimizer (fastmlp.optim.OPTIMIZERS, the kernels' registry), given the estimator's
        arguments for the hyperparameters it takes (_FROM_ESTIMATOR); never another one in its place."""
        cls = _optim.OPTIMIZERS.get(self.solver)
        if cls is None:
            raise ValueError(
                f"solver {self.solver!r} has no optimizer here; expected 'lbfgs' or one of: "
                f"{', '.join(_optim.OPTIMIZERS)}"
            )
        return cls(lr=lr, **{key: value(self) for key, value in _FROM_ESTIMATOR.items() if key in cls.hyperparameters})

    def _optimizer_state(self, optimizer: Optimizer) -> dict[str, Any]:
        """The optimizer's buffers: kept from the last call when it continues training (partial_fit) with
        the same optimizer and parameter layout, fresh otherwise (as scikit-learn makes a new optimizer)."""
        names = optimizer.state_names()
        layout = [(c.shape, c.dtype) for c in self.coefs_]
        state = getattr(self, "_state", None)
        if state is None or state["names"] != names or state["layout"] != layout:
            init = optimizer.state_initial_values()
            state = {
                "names": names,
                "step": 0,
                "layout": layout,
                "w": [[np.full_like(c, v) for v in init] for c in self.coefs_],
                "b": [[np.full_like(b, v) for v in init] for b in self.intercepts_],
            }
            self._state = state
        return state

    def _fit_stochastic(
        self, X: NDArray[Any], y: NDArray[Any], sample_weight: NDArray[Any] | None, incremental: bool
    ) -> None:
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        if early_stopping:
            stratify = _stratify_by(y, self.validation_fraction) if self._classifier and self.n_outputs_ == 1 else None
            parts = train_test_split(
                X,
                y,
                *(() if sample_weight is None else (sample_weight,)),
                random_state=self._random_state,
                test_size=self.validation_fraction,
                stratify=stratify,
            )
            X_train, X_val, y_train, y_val = parts[:4]
            sw_train, sw_val = (None, None) if sample_weight is None else parts[4:]
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' or the size of your dataset."
                )
            y_val_fitted = y_val  # as fit trains on it (binarized classes): for the validation loss
            if self._classifier:
                y_val = self._label_binarizer.inverse_transform(y_val)
        else:
            X_train, y_train, sw_train = X, y, sample_weight
            X_val = y_val = sw_val = None
        n = X_train.shape[0]
        if self.batch_size == "auto":
            batch = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than sample size. It is going to be clipped", stacklevel=2
                )
            batch = int(np.clip(self.batch_size, 1, n))
        dtype = X_train.dtype
        if early_stopping:  # the validation loss's spec, targets and mean's divisor, made once per fit
            spec_val = self._loss_spec(sw_val)
            weight_val = X_val.shape[0] if sw_val is None else float(np.sum(sw_val))
            self._val_loss_args = (spec_val, self._targets(y_val_fitted, sw_val, spec_val, dtype), weight_val)
        spec = self._loss_spec(sw_train)
        targets = self._targets(y_train, sw_train, spec, dtype)
        if not incremental or not hasattr(self, "_optimizer"):  # a new optimizer, as scikit-learn's
            self._learning_rate = float(self.learning_rate_init)
            self._state = None
        optimizer = self._make_optimizer(self._learning_rate)
        state = self._optimizer_state(optimizer)
        seed = int(self._random_state.randint(0, _SEED_MAX))
        device = resolve_device(self.device)
        options = _core.TrainOptions(
            loss=spec,
            optimizer=optimizer.config(),
            batch_size=batch,
            shuffle=bool(self.shuffle),
            drop_last=False,
            seed=seed,
            device=device,
            l2=float(self.alpha),
            dropout=check_dropout(self.dropout, self.n_layers_ - 2),
        )
        activations = self._activations()
        trainer = _core.Trainer(
            self.coefs_, self.intercepts_, activations, 0.01, state["w"], state["b"], X_train, targets, options
        )
        self.n_iter_ = 0
        # fastmlp.train's epoch loop, as MLP.fit runs it: its guard restores usable weights when the fit
        # diverges (told to stop, not raise: the outcome is scikit-learn's, below) and keeps those of the
        # last completed step on Ctrl-C; the hooks are scikit-learn's rates and stopping rules.
        dist = SingleProcess()
        network = Network(self.coefs_, self.intercepts_, activations, 0.01, self.coefs_[0].dtype, device)
        guard = Guard(network, state, trainer, X_train, dist)

        def forward(x: NDArray[Any]) -> NDArray[Any]:  # the logits of the weights being fitted
            return _core.mlp_forward(network.weights, network.biases, activations, 0.01, x, device)

        hooks = _SolverHooks(self, trainer.steps_per_epoch, n, incremental, (X_val, y_val, sw_val), forward)
        run_epochs(trainer, guard, hooks, self.max_iter, dist, on_nonfinite="stop")
        if early_stopping:
            self.coefs_ = self._best_coefs
            self.intercepts_ = self._best_intercepts
        self._optimizer = _OptimizerView(self.solver, self._learning_rate)
        if hooks.divergence and not early_stopping:
            # As scikit-learn ends a fit whose weights went non-finite, but with the guard's weights kept.
            error = ValueError(NONFINITE_WEIGHTS)
            if hasattr(error, "add_note"):
                error.add_note(f"fastmlp: {hooks.divergence}")
            raise error

    def _validation_score(self, z: NDArray[Any], y: NDArray[Any], sample_weight: ArrayLike | None) -> float:
        """self._score(X, y, sample_weight) (accuracy or R^2, as scikit-learn computes them) from the held-out
        split's finite logits z = self._logits(X), without re-validating X each epoch: X is the held-out
        part of fit's already checked data."""
        w = None if sample_weight is None else np.asarray(sample_weight, np.float64)
        if self._classifier:
            if self.out_activation_ == "softmax":
                pred = self.classes_[z.argmax(axis=1)]
            elif z.shape[1] == 1 and len(self.classes_) == 2:  # logistic: p > 1/2 exactly when the logit is > 0
                pred = self.classes_[(z[:, 0] > 0).astype(np.intp)]
            else:  # several labels (or a single class)
                pred = self._label_binarizer.inverse_transform((z > 0).astype(np.float64))
            right = pred == y if pred.ndim == 1 else (pred == y).all(axis=1)
            return float(np.average(right, weights=w))
        if self.out_activation_ == "exp":
            z = np.exp(z)
        return _input.r2(y, z, sample_weight=w)

    def _validation_loss(self, z: NDArray[Any]) -> float:
        """The held-out split's loss at the current weights (z: its finite logits), as loss_curve_ counts
        the training loss: scikit-learn's loss and scaling, plus alpha's L2 term (alpha / 2) sum ||W||^2
        over the split's rows (or weight sum)."""
        spec, targets, weight = self._val_loss_args
        value = _core.loss(spec, z, targets, "mean")
        if self.alpha and weight > 0:
            value += 0.5 * self.alpha * sum(float(np.vdot(c, c)) for c in self.coefs_) / weight
        return float(value)

    def _scored(self, X: NDArray[Any], z: NDArray[Any], y: NDArray[Any], sample_weight: ArrayLike | None) -> float:
        """The early-stopping score of the held-out split: accuracy or R^2 (scoring=None), minus the
        validation loss (scoring="loss"), or scikit-learn's scorer `scoring` (a name or a callable
        scorer(estimator, X, y)); greater is better."""
        if self.scoring is None:
            return self._validation_score(z, y, sample_weight)
        if isinstance(self.scoring, str) and self.scoring == "loss":
            return -typing.cast("list[float]", self.validation_loss_curve_)[-1]
        from sklearn.metrics import check_scoring

        scorer = check_scoring(self, scoring=self.scoring)
        if sample_weight is None:
            return float(scorer(self, X, y))
        return float(scorer(self, X, y, sample_weight=np.asarray(sample_weight, np.float64)))

    def _update_no_improvement_count(
        self,
        early_stopping: bool,
        X: NDArray[Any] | None,
        y: NDArray[Any] | None,
        sample_weight: NDArray[Any] | None,
        forward: Callable[[NDArray[Any]], NDArray[Any]],
    ) -> None:
        # With early stopping, fit holds out (X, y) and _initialize starts validation_scores_ and
        # best_validation_score_; without it, best_loss_: the casts name which of them is set.
        if early_stopping:
            X, y = typing.cast("NDArray[Any]", X), typing.cast("NDArray[Any]", y)
            # One forward pass of the split for its loss and its score, by the fit's own forward (no
            # checks: the guard has found the weights finite).
            z = forward(X)
            finite = bool(np.isfinite(z).all())  # else the fit diverged: NaN, as scikit-learn scores it
            typing.cast("list[float]", self.validation_loss_curve_).append(
                self._validation_loss(z) if finite else np.nan
            )
            score = self._scored(X, z, y, sample_weight) if finite else np.nan
            typing.cast("list[float]", self.validation_scores_).append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            if score < typing.cast(float, self.best_validation_score_) + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > typing.cast(float, self.best_validation_score_):
                self.best_validation_score_ = score
                self._best_coefs = [c.copy() for c in self.coefs_]
                self._best_intercepts = [b.copy() for b in self.intercepts_]
        else:
            if self.loss_curve_[-1] > typing.cast(float, self.best_loss_) - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < typing.cast(float, self.best_loss_):
                self.best_loss_ = self.loss_curve_[-1]


class _SolverHooks(EpochHooks):
    """scikit-learn's part of the stochastic solvers' epoch loop (fastmlp.train.run_epochs): one rate for
    all steps of an epoch, changed between epochs by "invscaling" and "adaptive"; epoch numbers that
    continue the permutation across partial_fit calls; an epoch's bookkeeping (n_iter_, t_, loss_curve_,
    validation_scores_, best_loss_, the verbose lines) and scikit-learn's stopping rules."""

    def __init__(
        self,
        estimator: StochasticSolver,
        steps: int,
        rows: int,
        incremental: bool,
        validation: tuple[NDArray[Any] | None, NDArray[Any] | None, NDArray[Any] | None],
        forward: Callable[[NDArray[Any]], NDArray[Any]],
    ) -> None:
        self.est, self.steps, self.rows, self.incremental = estimator, steps, rows, incremental
        self.validation = validation  # (X_val, y_val, sample_weight_val) of early stopping
        self.forward = forward  # the logits of the weights being fitted
        self.first = getattr(estimator, "_epochs_seen", 0)  # a new order every epoch, also across calls
        self.divergence = ""  # the guard's reason, when the fit diverged
        self._rates: NDArray[np.float64] | None = None  # the last epoch's rates, returned again while the rate holds
        self._rate = 0.0  # their value

    def rates(self, epoch: int) -> NDArray[np.float64]:
        rate = self.est._learning_rate
        if self._rates is None or self._rate != rate:
            self._rates, self._rate = np.full(self.steps, rate), rate
        return self._rates

    def order(self, epoch: int) -> int:
        return self.first + epoch

    def _record(self, epoch: int, loss: float) -> None:
        est = self.est
        est._epochs_seen = self.first + epoch + 1
        est.n_iter_ += 1
        est.loss_ = float(loss)
        est.t_ += self.rows
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")

    def end_epoch(self, epoch: int, loss: float, lr: float, seconds: float) -> bool:
        est = self.est
        self._record(epoch, loss)
        est._update_no_improvement_count(est.early_stopping, *self.validation, self.forward)
        if est.solver == "sgd" and est.learning_rate == "invscaling":
            est._learning_rate = est.learning_rate_init / (est.t_ + 1) ** est.power_t
        if est._no_improvement_count > est.n_iter_no_change:
            what = "Validation score" if est.early_stopping else "Training loss"
            msg = f"{what} did not improve more than tol={est.tol:f} for {est.n_iter_no_change} consecutive epochs."
            if est.solver == "sgd" and est.learning_rate == "adaptive" and est._learning_rate > 1e-6:
                est._learning_rate /= 5.0
                if est.verbose:
                    print(msg + f" Setting learning rate to {est._learning_rate:f}")
                est._no_improvement_count = 0
            else:
                if est.verbose:
                    print(msg + (" Learning rate too small." if est.learning_rate == "adaptive" else "") + " Stopping.")
                return True
        if self.incremental:
            return True
        if est.n_iter_ == est.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return False

    def diverged(self, epoch: int, reason: str, loss: float | None) -> None:
        self.divergence = reason
        if loss is not None:  # the epoch ran: it counts as scikit-learn counts it, scored NaN if validated
            self._record(epoch, loss)
            if self.est.early_stopping:
                typing.cast("list[float]", self.est.validation_scores_).append(np.nan)  # set with early stopping
                if self.est.verbose:
                    print(f"Validation score: {np.nan:f}")


def _stratify_by(y: NDArray[Any], test_size: float) -> NDArray[Any]:
    """What early stopping stratifies a binary classifier's split by: its (n, 1) boolean targets. Given
    as a 2-D array, scikit-learn first turns every row into a string ("True"/"False"), which costs more
    than the epochs on a small data set; raveled, the classes sort the same (False < True as "False" <
    "True"), so the split is the same. Kept 2-D where the split may fail, so that its error names the
    classes as scikit-learn's does."""
    n = len(y)
    n_test = int(np.ceil(test_size * n))
    if np.bincount(y.ravel().astype(np.intp), minlength=2).min() < 2 or min(n_test, n - n_test) < 2:
        return y
    return y.ravel()


class _OptimizerView:
    """What scikit-learn's estimators expose as _optimizer and their tests read: the current rate."""

    def __init__(self, solver: str, learning_rate: float) -> None:
        self.solver, self.learning_rate = solver, learning_rate
