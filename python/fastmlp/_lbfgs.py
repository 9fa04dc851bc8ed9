"""The objective that scikit-learn's solver="lbfgs" hands to SciPy's L-BFGS-B: the network's mean loss
plus the L2 term, and its gradient, from the C++ kernels (fastmlp._core.mlp_loss_grad).

L-BFGS-B works on one float64 vector, in scikit-learn's packing: every coefficient matrix flattened,
then every intercept vector. Here the network's parameters are views of one buffer in that same
packing, and the kernel writes its gradient through views of a second one, so an evaluation copies the
point in once and the gradient out once, whatever the depth; nothing is packed or unpacked layer by
layer in Python.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import _core

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike, NDArray

    from ._core import LossArg


def _views(buffer: NDArray[np.floating[Any]], shapes: Sequence[tuple[int, ...]]) -> list[NDArray[np.floating[Any]]]:
    out, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(buffer[start : start + size].reshape(shape))
        start += size
    return out


class Objective:
    """f(point) -> (loss, gradient) for the network whose parameters start as (coefs, intercepts).

    loss = the kernels' mean loss over (X, targets) + alpha / 2 * sum ||W_l||^2 / weight, where weight is
    the row count or the sample weights' sum (scikit-learn's L2 term; biases are not penalized).
    `coefs` and `intercepts` are views of `params` (the last point evaluated), in the network's dtype.
    """

    def __init__(
        self,
        coefs: Sequence[ArrayLike],
        intercepts: Sequence[ArrayLike],
        activations: list[str],
        spec: LossArg,
        X: ArrayLike,
        targets: ArrayLike,
        weight: float,
        alpha: float,
        device: str,
    ) -> None:
        dtype = np.asarray(coefs[0]).dtype
        shapes = [np.shape(c) for c in coefs] + [np.shape(b) for b in intercepts]
        layers = len(coefs)
        total = sum(int(np.prod(s)) for s in shapes)
        self.params = np.empty(total, dtype)
        self.grad = np.empty(total, dtype)
        views = _views(self.params, shapes)
        for view, value in zip(views, list(coefs) + list(intercepts)):
            view[...] = value
        self.coefs, self.intercepts = views[:layers], views[layers:]
        grads = _views(self.grad, shapes)
        self._out = [(grads[l], grads[layers + l]) for l in range(layers)]
        self._n_coef = sum(int(np.prod(s)) for s in shapes[:layers])
        self._args = (activations, 0.01, spec, X, targets, device)
        self._weight, self._alpha = float(weight), float(alpha)

    def point(self) -> NDArray[np.float64]:
        """The current parameters as L-BFGS's float64 vector."""
        return self.params.astype(np.float64)

    def __call__(self, point: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        if not np.isfinite(point).all():
            # A step past the float range (targets so large that the loss overflows): an infinite loss
            # makes L-BFGS-B step back or stop, as with scikit-learn's own objective, instead of the
            # kernels refusing non-finite weights as if the user had passed them.
            return np.inf, np.zeros_like(point)
        self.params[...] = point  # (rounded to float32 for a float32 network)
        acts, slope, spec, X, targets, device = self._args
        value, _ = _core.mlp_loss_grad(
            self.coefs, self.intercepts, acts, slope, spec, X, targets, device, out=self._out
        )
        grad = self.grad.astype(np.float64)  # a new array: SciPy may keep the previous gradient
        if self._alpha:
            w = self.params[: self._n_coef].astype(np.float64, copy=False)
            value += 0.5 * self._alpha * float(np.dot(w, w)) / self._weight
            grad[: self._n_coef] += self._alpha * w / self._weight
        return value, grad
