"""Device selection works the same with and without a GPU: errors say why CUDA cannot be used."""

from __future__ import annotations

import numpy as np
import pytest

import fastmlp


def test_cuda_flags_are_booleans_and_consistent():
    assert isinstance(fastmlp.cuda_built(), bool) and isinstance(fastmlp.cuda_available(), bool)
    assert not fastmlp.cuda_available() or fastmlp.cuda_built()


def test_auto_picks_cuda_only_when_available():
    model = fastmlp.MLP([2, 1], device="auto")
    assert model.device == ("cuda" if fastmlp.cuda_available() else "cpu")


@pytest.mark.skipif(fastmlp.cuda_available(), reason="a CUDA device is present")
def test_asking_for_cuda_without_it_is_a_runtime_error_that_says_why():
    reason = "no CUDA device" if fastmlp.cuda_built() else "no CUDA kernels"
    ops, x, w, b = fastmlp.ops, np.ones((2, 2)), np.ones((2, 2)), np.zeros(2)
    for call in (
        lambda: fastmlp.MLP([2, 1], device="cuda"),
        lambda: fastmlp.MLP([2, 1]).to("cuda"),
        lambda: ops.matmul(x, w, device="cuda"),
        lambda: ops.dense_forward(x, w, b, device="cuda"),
        lambda: ops.dense_backward(x, w, x, device="cuda"),
        lambda: ops.activation_forward("relu", x, device="cuda"),
        lambda: ops.activation_backward("relu", x, x, device="cuda"),
        lambda: ops.loss("mse", x, x, device="cuda"),
        lambda: ops.loss_grad("mae", x, x, device="cuda"),
        lambda: ops.init("he_normal", 2, 2, device="cuda"),
        lambda: ops.sgd_update(x.copy(), x, 0.1, device="cuda"),
        lambda: ops.optimizer_update(fastmlp.optim.Adam(), x.copy(), x, [x.copy(), x.copy()], 1, device="cuda"),
    ):
        with pytest.raises(RuntimeError, match=reason):
            call()


def test_unknown_device_is_a_value_error():
    with pytest.raises(ValueError, match="device"):
        fastmlp.MLP([2, 1], device="tpu")
