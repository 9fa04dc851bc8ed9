"""fastmlp: train multi-layer perceptrons with C++ kernels, checked against a NumPy reference.

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

__version__ = getattr(_core, "__version__", "0.0.0")

__all__ = [
    "MLP", "load", "max_batch_size", "History", "DivergenceError", "ops", "optim", "schedules", "scale_lr", "reference", "init",
    "activations",
    "losses", "data", "callbacks", "Callback", "EarlyStopping", "LambdaCallback",
    "cuda_built", "cuda_available", "set_num_threads", "get_num_threads", "__version__",
]


def cuda_built():
    """True when this build of fastmlp contains CUDA kernels."""
    return bool(_core.cuda_built)


def cuda_available():
    """True when CUDA kernels are built in and a CUDA device can be used."""
    return bool(_core.cuda_built) and _core.cuda_device_count() > 0


def set_num_threads(n):
    """Threads the CPU kernels may use (default: the cores this process may run on, or OMP_NUM_THREADS;
    at most 4 per core). Results do not depend on it. In a child made by fork() after fastmlp had started
    its threads, kernels run on one thread (OpenMP's threads do not survive fork) and n > 1 is refused."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads takes an int, got {type(n).__name__}")
    _core.set_num_threads(_constraints.check_int(n, "set_num_threads' n", 1, _core.max_threads() + 1))


def get_num_threads():
    """Threads the CPU kernels may use."""
    return _core.get_num_threads()
