"""Shared fixtures for the kernel tests: `rng` (seeded), `tol` (rtol/atol per dtype), `assert_close`
(comparison with a useful failure message), `assert_bitwise` and `num_threads` (restores the thread
setting after a test changes it). The comparisons themselves live in helpers.py, which test files
import for everything else they share.

The `isolated` marker comes from the plugin isolation.py, loaded here: such a test runs in a forked
child process, so that a segfault or abort fails that one test (named with the signal) instead of
taking pytest down.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import fastmlp
import helpers

pytest_plugins = ["isolation"]


def pytest_collection_modifyitems(config, items):
    """Tests marked `emulated` build the CUDA emulator (several minutes each): they run where
    FASTMLP_TEST_EMULATED=1 (.ci/run sets it), and skip with that said elsewhere."""
    if os.environ.get("FASTMLP_TEST_EMULATED") == "1":
        return
    skip = pytest.mark.skip(reason="builds the CUDA emulator (minutes): FASTMLP_TEST_EMULATED=1 runs it, as CI does")
    for item in items:
        if "emulated" in item.keywords:
            item.add_marker(skip)


SEED = 20240607


@pytest.fixture
def rng():
    """A fresh, fixed-seed generator per test: every run draws the same data."""
    return np.random.default_rng(SEED)


@pytest.fixture(scope="session")
def tol():
    """{np.float32: (rtol, atol), np.float64: (rtol, atol)}; also indexable by np.dtype or name."""

    class _Tol(dict):
        def __getitem__(self, dtype):
            return dict.__getitem__(self, helpers.dtype_key(dtype))

    return _Tol(helpers.TOL)


@pytest.fixture(scope="session")
def assert_close():
    """helpers.assert_close(got, want, dtype, what, *, rtol=None, atol=None, check_dtype=True)."""
    return helpers.assert_close


@pytest.fixture(scope="session")
def assert_bitwise():
    """helpers.assert_bitwise(got, want, what): identical bits (shape, dtype and every value)."""
    return helpers.assert_bitwise


@pytest.fixture
def num_threads():
    """Lets a test call fastmlp.set_num_threads freely; the previous setting is restored afterwards."""
    before = fastmlp.get_num_threads()
    yield fastmlp.set_num_threads
    fastmlp.set_num_threads(before)
