# Type stub of the compiled extension fastmlp._core (csrc/bindings/). Private: use fastmlp.ops.
# device is "cpu", "cuda" or "auto" wherever it appears.
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

__version__: str
cuda_built: bool
cuda_emulated: bool
names: dict[str, dict[str, str]]  # kind ("activation", "loss", ...) -> {canonical name: description}
aliases: dict[str, dict[str, str]]  # kind -> {alias: canonical name}
# activation -> {"doc", "params" {name: default}, "needs_z", "init", "onnx"} (csrc/bindings/activation_args.h)
activation_table: dict[str, dict[str, Any]]
# The losses' table: canonical name -> {"doc", "head" (a classifier's softmax/sigmoid, or ""),
# "mean" (a log-link loss's inverse link, "exp" for poisson, or "")}.
loss_table: dict[str, dict[str, str]]

def canonical_activation(name: str) -> str: ...

# The optimizers' registry (csrc/include/fastmlp/optimizers/): each optimizer's config keys, in its
# header's order, and the most state buffers per parameter that any keeps.
optimizer_hyperparameters: dict[str, list[str]]
max_optimizer_states: int

# A loss: its name, or {"name", "delta", "labels", "weighted", "factor", "class_weight"} (see LossSpec in
# csrc/include/fastmlp/ops.h: class indices and sample weights travel as columns of the target array).
LossArg = str | dict[str, Any]

def get_num_threads() -> int: ...
def set_num_threads(n: int) -> None: ...
def max_threads() -> int: ...
def forked_after_threads() -> bool: ...
def gemm_isa(dtype: str) -> str: ...
def cuda_device_count() -> int: ...
def check_device(device: str) -> bool: ...
def cuda_device_description() -> str: ...
def cuda_memory_info() -> tuple[int, int]: ...
def matmul(
    a: ArrayLike, b: ArrayLike, trans_a: bool = False, trans_b: bool = False, device: str = "cpu"
) -> NDArray[Any]: ...
def dense_forward(
    x: ArrayLike, w: ArrayLike, b: ArrayLike, activation: str, negative_slope: float, device: str = "cpu"
) -> NDArray[Any]: ...
def dense_backward(
    x: ArrayLike,
    w: ArrayLike,
    grad_y: ArrayLike,
    activation: str,
    y: ArrayLike | None,
    negative_slope: float,
    device: str = "cpu",
    z: ArrayLike | None = None,
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]: ...
def activation_forward(name: str, z: ArrayLike, negative_slope: float, device: str = "cpu") -> NDArray[Any]: ...
def activation_backward(
    name: str, z: ArrayLike, grad_a: ArrayLike, negative_slope: float, device: str = "cpu"
) -> NDArray[Any]: ...
def loss(spec: LossArg, pred: ArrayLike, target: ArrayLike, reduction: str, device: str = "cpu") -> float: ...
def check_targets(spec: LossArg, target: ArrayLike, outputs: int, name: str = "target") -> None: ...
def loss_grad(
    spec: LossArg, pred: ArrayLike, target: ArrayLike, reduction: str, device: str = "cpu"
) -> NDArray[Any]: ...
def init(
    name: str,
    fan_in: int,
    fan_out: int,
    seed: int,
    shape: Sequence[int],
    dtype: str,
    stream: int,
    truncated: bool,
    value: float,
    low: float,
    high: float,
    mean: float,
    std: float,
    device: str = "cpu",
) -> NDArray[Any]: ...
def philox4x32(counter: Sequence[int], key: Sequence[int]) -> list[int]: ...
def permutation(n: int, seed: int, epoch: int) -> NDArray[np.int64]: ...
def sgd_update(param: NDArray[Any], grad: ArrayLike, lr: float, device: str = "cpu") -> None: ...
def optimizer_update(
    param: NDArray[Any],
    grad: ArrayLike,
    state: list[NDArray[Any]],
    step: int,
    lr: float,
    config: dict[str, Any],
    device: str = "cpu",
) -> None: ...
def optimizer_states(config: dict[str, Any]) -> list[tuple[str, float]]: ...  # [(name, initial value)]
def mlp_forward(
    weights: list[NDArray[Any]],
    biases: list[NDArray[Any]],
    activations: list[str],
    negative_slope: float,
    x: ArrayLike,
    device: str = "cpu",
) -> NDArray[Any]: ...
def mlp_loss_grad(
    weights: list[NDArray[Any]],
    biases: list[NDArray[Any]],
    activations: list[str],
    negative_slope: float,
    loss: LossArg,
    x: ArrayLike,
    y: ArrayLike,
    device: str = "cpu",
    out: list[tuple[NDArray[Any], NDArray[Any]]] | None = None,
) -> tuple[float, list[tuple[NDArray[Any], NDArray[Any]]]]: ...

# The bytes a trainer of this network allocates for n rows under options (its buffer plan).
def trainer_bytes(
    sizes: Sequence[int], dtype: str, activations: Sequence[str], n: int, options: TrainOptions
) -> int: ...
def epoch_steps(n: int, batch_size: int, drop_last: bool) -> int: ...  # batch_size 0: the full batch
def cuda_gemm_scratch_bytes(dtype: str) -> int: ...
def cuda_gemm_seconds(n: int, repeats: int) -> float: ...

# (rows per block tile, reason): the CUDA path a fit of this network under options takes (rows 0: GEMM).
def fused_plan(
    sizes: Sequence[int],
    dtype: str,
    activations: Sequence[str],
    options: TrainOptions,
    shared_limit: int = -1,
) -> tuple[int, str]: ...

# The small path's dense layer alone (no activation): (z = x @ w + b, grad_x, grad_w, grad_b) from grad_z.
def small_dense(
    x: ArrayLike, w: ArrayLike, b: ArrayLike, grad_z: ArrayLike
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]: ...
def vector_function(name: str, x: ArrayLike) -> NDArray[Any]: ...  # exp, expm1, log1p, tanh, logistic
def workspace_cache_bytes() -> int: ...  # freed trainer workspaces kept for the next trainer
def all_finite(arrays: list[NDArray[Any]]) -> int: ...
def output_bound(
    weights: list[NDArray[Any]],
    biases: list[NDArray[Any]],
    activations: list[str],
    negative_slope: float,
    x_max: float,
) -> float: ...

# A trainer's options, checked on construction (the loss against the network and the rows against the
# data are checked by Trainer). batch_size 0: the full batch; clip 0: none; l2: scikit-learn's alpha;
# global_rows != 0: data parallel, this process holding rows [row_offset, row_offset + n) and reduce
# summing the step's flat gradient buffer over all processes in place.
class TrainOptions:
    def __init__(
        self,
        *,
        loss: LossArg,
        optimizer: dict[str, Any],
        batch_size: int = 0,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        clip_grad_norm: float = 0.0,
        clip_grad_value: float = 0.0,
        device: str = "cpu",
        l2: float = 0.0,
        global_rows: int = 0,
        row_offset: int = 0,
        reduce: Callable[[NDArray[Any]], None] | None = None,
        dropout: Sequence[float] = ...,
    ) -> None: ...
    # Read-only, as given (checked) on construction.
    @property
    def loss(self) -> LossArg: ...
    @property
    def optimizer(self) -> dict[str, Any]: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def shuffle(self) -> bool: ...
    @property
    def drop_last(self) -> bool: ...
    @property
    def seed(self) -> int: ...
    @property
    def clip_grad_norm(self) -> float: ...
    @property
    def clip_grad_value(self) -> float: ...
    @property
    def device(self) -> str: ...
    @property
    def l2(self) -> float: ...
    @property
    def global_rows(self) -> int: ...
    @property
    def row_offset(self) -> int: ...
    @property
    def reduce(self) -> Callable[[NDArray[Any]], None] | None: ...

class Trainer:
    def __init__(
        self,
        weights: list[NDArray[Any]],
        biases: list[NDArray[Any]],
        activations: list[str],
        negative_slope: float,
        w_states: list[list[NDArray[Any]]],
        b_states: list[list[NDArray[Any]]],
        x: ArrayLike,
        y: ArrayLike,
        options: TrainOptions,
    ) -> None: ...
    # (loss, step, -1 or what became non-finite: l < L weights l, L + l biases l, 2L the optimizer state)
    def run_epoch(
        self, epoch: int, lr: NDArray[np.float64], step: int, snapshot: bool = False
    ) -> tuple[float, int, int]: ...
    def restore_snapshot(self) -> None: ...
    @property
    def steps_per_epoch(self) -> int: ...
    @property
    def allocated_bytes(self) -> int: ...
    @property
    def path(self) -> str: ...
    @property
    def path_reason(self) -> str: ...  # why that path was taken
    @property
    def step(self) -> int: ...
    @property
    def x_max(self) -> float: ...
    @property
    def epoch_loss_sum(self) -> float: ...
    @property
    def epoch_rows(self) -> int: ...

def parse_csv(data: bytes, offset: int, cols: int) -> NDArray[np.float64] | None: ...  # None: not plain numbers
