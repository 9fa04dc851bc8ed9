"""fastmlp: train multi-layer perceptrons with C++ kernels, checked against a NumPy reference.

A single neuron, y = a x + b, fitted by stochastic gradient descent::

    import fastmlp
    model = fastmlp.MLP([1, 1])                      # a single neuron: y = a x + b
    model.fit(x, y, optimizer=fastmlp.optim.SGD(lr=0.1), batch_size=4, epochs=200)
    model.predict([[57.5]])
"""

from . import _constraints, _core, activations, callbacks, data, init, losses, ops, optim, reference, schedules
from .callbacks import Callback, EarlyStopping, LambdaCallback
from .memory import max_batch_size
from .model import MLP, load
from .schedules import scale_lr
from .train import DivergenceError, History

#: The version of fastmlp, as the compiled extension reports it (a str such as "0.1.0").
__version__: str = getattr(_core, "__version__", "0.0.0")

__all__ = [
    "MLP",
    "load",
    "max_batch_size",
    "History",
    "DivergenceError",
    "ops",
    "optim",
    "schedules",
    "scale_lr",
    "reference",
    "init",
    "activations",
    "losses",
    "data",
    "callbacks",
    "Callback",
    "EarlyStopping",
    "LambdaCallback",
    "cuda_built",
    "cuda_available",
    "set_num_threads",
    "get_num_threads",
    "__version__",
]


def cuda_built() -> bool:
    """Whether this build of fastmlp contains CUDA kernels.

    Returns
    -------
    bool
        True when the compiled extension was built with CUDA kernels.

    See Also
    --------
    cuda_available : Whether those kernels can also be used now.

    Examples
    --------
    >>> import fastmlp
    >>> isinstance(fastmlp.cuda_built(), bool)
    True
    """
    return bool(_core.cuda_built)


def cuda_available() -> bool:
    """Whether CUDA kernels are built in and a CUDA device can be used.

    Returns
    -------
    bool
        True when the build contains CUDA kernels (see `cuda_built`) and at least one CUDA device is
        visible to this process.

    Examples
    --------
    >>> import fastmlp
    >>> device = "cuda" if fastmlp.cuda_available() else "cpu"
    >>> device in ("cpu", "cuda")
    True
    """
    return bool(_core.cuda_built) and _core.cuda_device_count() > 0


def set_num_threads(n: int) -> None:
    """Set the number of threads the CPU kernels may use.

    The default is the number of cores this process may run on, or OMP_NUM_THREADS when it is set.
    Results do not depend on the thread count. In a child made by fork() after fastmlp had started its
    threads, kernels run on one thread (OpenMP's threads do not survive fork) and n > 1 is refused.

    Parameters
    ----------
    n : int
        The number of threads, at least 1 and at most 4 per core.

    Raises
    ------
    TypeError
        If `n` is not an int (a bool is refused too).
    ValueError
        If `n` is below 1 or above 4 threads per core, or above 1 in a forked child (see above).

    See Also
    --------
    get_num_threads : The current setting.

    Examples
    --------
    >>> import fastmlp
    >>> before = fastmlp.get_num_threads()
    >>> fastmlp.set_num_threads(1)
    >>> fastmlp.get_num_threads()
    1
    >>> fastmlp.set_num_threads(before)
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads takes an int, got {type(n).__name__}")
    _core.set_num_threads(_constraints.check_int(n, "set_num_threads' n", 1, _core.max_threads() + 1))


def get_num_threads() -> int:
    """The number of threads the CPU kernels may use.

    Returns
    -------
    int
        The current setting (see `set_num_threads`).

    Examples
    --------
    >>> import fastmlp
    >>> fastmlp.get_num_threads() >= 1
    True
    """
    return _core.get_num_threads()
