"""Random numbers: Philox4x32-10 known answers, ops.init against reference.init for every initializer,
the statistics of large draws, reproducibility, and the epoch permutation."""

from __future__ import annotations

import numpy as np
import pytest

from fastmlp import _core, ops, reference

# Random123's kat_vectors for philox4x32_10: (counter, key) -> output.
KAT = [
    pytest.param((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8), id="zeros"),
    pytest.param(
        (0xFFFFFFFF,) * 4, (0xFFFFFFFF, 0xFFFFFFFF), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD), id="ones"
    ),
    pytest.param(
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
        id="pi",
    ),
]


def _hex(words):
    return " ".join(f"{int(w):08x}" for w in words)


@pytest.mark.parametrize("ctr, key, want", KAT)
def test_philox_known_answers(ctr, key, want):
    core = [int(v) for v in _core.philox4x32(list(ctr), list(key))]
    ref = [int(v) for v in reference.philox4x32(np.array(ctr, np.uint32), np.array(key, np.uint32))]
    assert core == list(want), f"C++ philox4x32: {_hex(core)}, expected {_hex(want)}"
    assert ref == list(want), f"reference philox4x32: {_hex(ref)}, expected {_hex(want)}"


def test_philox_reference_vectorized_matches_core(rng):
    ctrs = rng.integers(0, 2**32, size=(50, 4), dtype=np.uint64).astype(np.uint32)
    keys = rng.integers(0, 2**32, size=(50, 2), dtype=np.uint64).astype(np.uint32)
    ref = reference.philox4x32(ctrs, keys)
    core = np.array([_core.philox4x32(c.tolist(), k.tolist()) for c, k in zip(ctrs, keys)], np.uint32)
    mismatches = np.flatnonzero((ref != core).any(axis=1))
    assert mismatches.size == 0, f"{mismatches.size} of 50 random blocks differ, first at {mismatches[:5]}"


# ---- ops.init vs reference.init -----------------------------------------------------------------------
INITS = [
    ("zeros", {}),
    ("ones", {}),
    ("constant", {"value": -0.75}),
    ("uniform", {}),
    ("uniform", {"low": -2.5, "high": 0.5}),
    ("normal", {}),
    ("normal", {"mean": 0.3, "std": 2.0}),
    ("normal", {"mean": 0.3, "std": 2.0, "truncated": True}),
    ("lecun_uniform", {}),
    ("lecun_normal", {}),
    ("lecun_normal", {"truncated": True}),
    ("xavier_uniform", {}),
    ("glorot_uniform", {}),
    ("xavier_normal", {}),
    ("glorot_normal", {}),
    ("xavier_normal", {"truncated": True}),
    ("glorot_normal", {"truncated": True}),
    ("he_uniform", {}),
    ("kaiming_uniform", {}),
    ("he_normal", {}),
    ("kaiming_normal", {}),
    ("he_normal", {"truncated": True}),
    ("kaiming_normal", {"truncated": True}),
]
INIT_PARAMS = [pytest.param(name, kw, id=name + "".join(f"-{k}={v}" for k, v in kw.items())) for name, kw in INITS]
# (fan_in, fan_out, shape, seed, stream); shape=(fan_out,) is how a bias is drawn.
LAYOUTS = [
    pytest.param(1, 1, None, 0, 0, id="1x1"),
    pytest.param(3, 17, None, 1, 0, id="3x17"),
    pytest.param(129, 5, None, 42, 2, id="129x5-stream2"),
    pytest.param(7, 13, (13,), 42, 3, id="bias13"),
    pytest.param(64, 3, (3,), 2**40 + 5, 1, id="bias3-bigseed"),
    pytest.param(5, 6, (2, 3, 4), 9, 7, id="shape2x3x4"),
]


@pytest.mark.parametrize("fan_in, fan_out, shape, seed, stream", LAYOUTS)
@pytest.mark.parametrize("name, kwargs", INIT_PARAMS)
def test_init_matches_reference(assert_close, name, kwargs, fan_in, fan_out, shape, seed, stream):
    want = reference.init(name, fan_in, fan_out, seed, shape=shape, stream=stream, **kwargs)
    # float64: same formula; libm's log/cos and NumPy's may differ in the last ulp.
    got64 = ops.init(name, fan_in, fan_out, seed, shape=shape, dtype="float64", stream=stream, **kwargs)
    scale = max(float(np.abs(want).max()) if want.size else 0.0, 1.0)
    assert_close(got64, want, np.float64, f"init {name} {kwargs} float64", rtol=1e-12, atol=1e-14 * scale)
    # float32: the float64 value rounded once (allow 1 ulp, for a double that sits on a rounding boundary).
    got32 = ops.init(name, fan_in, fan_out, seed, shape=shape, dtype="float32", stream=stream, **kwargs)
    want32 = want.astype(np.float32)
    assert_close(
        got32,
        want32,
        np.float32,
        f"init {name} {kwargs} float32 vs reference rounded",
        rtol=0.0,
        atol=np.spacing(np.abs(want32)).astype(np.float64),
    )


@pytest.mark.parametrize(
    "alias, name",
    [
        ("glorot_uniform", "xavier_uniform"),
        ("glorot_normal", "xavier_normal"),
        ("kaiming_uniform", "he_uniform"),
        ("kaiming_normal", "he_normal"),
    ],
)
def test_init_aliases_identical(assert_bitwise, alias, name):
    assert_bitwise(ops.init(alias, 11, 7, 3), ops.init(name, 11, 7, 3), f"{alias} vs {name}")


# ---- statistics ---------------------------------------------------------------------------------------
FAN_IN, FAN_OUT = 300, 400  # 120,000 draws
TRUNC = reference.TRUNCATED_STD


def _stat_cases():
    fi, fo = float(FAN_IN), float(FAN_OUT)
    cases = []
    for name, l in (
        ("lecun_uniform", np.sqrt(3 / fi)),
        ("xavier_uniform", np.sqrt(6 / (fi + fo))),
        ("he_uniform", np.sqrt(6 / fi)),
    ):
        cases.append(pytest.param(name, {}, 0.0, l * l / 3, (-l, l), None, id=name))
    cases.append(pytest.param("uniform", {"low": -1.0, "high": 3.0}, 1.0, 16 / 12, (-1.0, 3.0), None, id="uniform-1-3"))
    for name, var in (("lecun_normal", 1 / fi), ("xavier_normal", 2 / (fi + fo)), ("he_normal", 2 / fi)):
        cases.append(pytest.param(name, {}, 0.0, var, None, None, id=name))
        # truncated at +-2 sigma' with sigma' = sigma / 0.8796: the variance is still the formula's
        cases.append(
            pytest.param(name, {"truncated": True}, 0.0, var, None, 2 * np.sqrt(var) / TRUNC, id=name + "-truncated")
        )
    cases.append(pytest.param("normal", {"mean": 0.5, "std": 2.0}, 0.5, 4.0, None, None, id="normal"))
    # a plain normal is truncated at +-2 std without a rescale: variance (0.8796 std)^2
    cases.append(
        pytest.param(
            "normal",
            {"mean": 0.5, "std": 2.0, "truncated": True},
            0.5,
            (2.0 * TRUNC) ** 2,
            None,
            4.0,
            id="normal-truncated",
        )
    )
    return cases


@pytest.mark.parametrize("name, kwargs, mean, var, bounds, max_dev", _stat_cases())
def test_init_statistics(name, kwargs, mean, var, bounds, max_dev):
    w = ops.init(name, FAN_IN, FAN_OUT, seed=123, dtype="float64", **kwargs).ravel()
    n = w.size
    assert n >= 10**5
    if bounds is not None:
        lo, hi = bounds
        assert w.min() >= lo and w.max() <= hi, (
            f"{name} outside [{lo}, {hi}]: min {w.min()!r} (by {lo - w.min():.3e}), max {w.max()!r} "
            f"(by {w.max() - hi:.3e})"
        )
        w32 = ops.init(name, FAN_IN, FAN_OUT, seed=123, dtype="float32", **kwargs)
        assert w32.min() >= np.float32(lo) and w32.max() <= np.float32(hi), (
            f"{name} float32 outside [{lo}, {hi}]: min {w32.min()!r}, max {w32.max()!r}"
        )
    if max_dev is not None:
        dev = np.abs(w - mean).max()
        assert dev <= max_dev * (1 + 1e-12), f"{name} truncated: max |w - mean| {dev:.6g} > {max_dev:.6g}"
    se_mean = np.sqrt(var / n)
    err_mean = abs(w.mean() - mean)
    assert err_mean <= 5 * se_mean, (
        f"{name}: mean {w.mean():.6g}, expected {mean} (error {err_mean:.3e}, 5 SE = {5 * se_mean:.3e})"
    )
    sq = (w - mean) ** 2
    se_var = sq.std() / np.sqrt(n)
    err_var = abs(sq.mean() - var)
    assert err_var <= 5 * se_var, (
        f"{name}: variance {sq.mean():.6g}, expected {var:.6g} (error {err_var:.3e}, "
        f"relative {err_var / var:.3e}; 5 SE = {5 * se_var:.3e})"
    )


# ---- reproducibility ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["he_uniform", "xavier_normal", "normal"])
def test_init_seed_and_stream(assert_bitwise, name):
    kw = {"truncated": True} if name == "xavier_normal" else {}
    base = ops.init(name, 30, 20, 7, dtype="float64", **kw)
    assert_bitwise(ops.init(name, 30, 20, 7, dtype="float64", **kw), base, f"{name} same seed")
    for label, other in (
        ("seed 8", ops.init(name, 30, 20, 8, dtype="float64", **kw)),
        ("seed 7 + 2^32", ops.init(name, 30, 20, 7 + 2**32, dtype="float64", **kw)),
        ("stream 1", ops.init(name, 30, 20, 7, dtype="float64", stream=1, **kw)),
    ):
        same = int(np.count_nonzero(other == base))
        assert same <= 2, f"{name}: {label} shares {same} of {base.size} values with seed 7 stream 0 (should differ)"


def test_init_independent_of_threads(assert_bitwise, num_threads):
    num_threads(1)
    one = [
        ops.init(name, 300, 257, 5, dtype=dt, truncated=name.endswith("normal"))
        for name in ("he_normal", "xavier_uniform")
        for dt in ("float32", "float64")
    ]
    num_threads(2)
    two = [
        ops.init(name, 300, 257, 5, dtype=dt, truncated=name.endswith("normal"))
        for name in ("he_normal", "xavier_uniform")
        for dt in ("float32", "float64")
    ]
    for i, (a, b) in enumerate(zip(one, two)):
        assert_bitwise(b, a, f"init #{i} with 2 threads vs 1")


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"name": "orthogonal"}, "orthogonal"),
        ({"name": "he_uniform", "truncated": True}, "truncated"),
        ({"name": "uniform", "low": 1.0, "high": 0.0}, "low"),
        ({"name": "normal", "std": -1.0}, "std"),
        ({"name": "he_normal", "fan_in": 0}, "fan_in"),
        ({"name": "zeros", "shape": (3, -1)}, "negative"),
        ({"name": "zeros", "dtype": "float16"}, "dtype"),
    ],
    ids=["unknown", "truncated-uniform", "low>high", "std<0", "fan_in-0", "negative-shape", "float16"],
)
def test_init_errors(kwargs, word):
    kwargs = dict(kwargs)
    args = (kwargs.pop("name"), kwargs.pop("fan_in", 3), kwargs.pop("fan_out", 4))
    with pytest.raises((ValueError, TypeError)) as info:
        ops.init(*args, **kwargs)
    assert info.type is ValueError, f"expected ValueError, got {info.type.__name__}: {info.value}"
    assert word in str(info.value), f"message lacks {word!r}: {info.value}"


# ---- permutation --------------------------------------------------------------------------------------
@pytest.mark.parametrize("epoch", [0, 1, 5, 2**32 + 3], ids=["e0", "e1", "e5", "e2^32+3"])
@pytest.mark.parametrize("seed", [0, 2**40 + 11], ids=["seed0", "seedbig"])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 17, 1000])
def test_permutation_matches_reference(n, seed, epoch):
    got = ops.permutation(n, seed, epoch)
    want = reference.permutation(n, seed, epoch)
    assert got.dtype == np.int64 and got.shape == (n,), f"got {got.dtype}{got.shape}, expected int64({n},)"
    diff = np.flatnonzero(got != want)
    assert diff.size == 0, (
        f"permutation(n={n}, seed={seed}, epoch={epoch}) differs from the reference at "
        f"{diff.size} positions (first {diff[:5]}: got {got[diff[:5]]}, want {want[diff[:5]]})"
    )
    assert np.array_equal(np.sort(got), np.arange(n)), f"not a permutation of range({n}): {got[:20]}"


@pytest.mark.parametrize("n", [17, 1000])
def test_permutation_changes_with_epoch_and_seed(n):
    base = ops.permutation(n, 3, 0)
    for label, other in (
        ("epoch 1", ops.permutation(n, 3, 1)),
        ("epoch 2^32", ops.permutation(n, 3, 2**32)),
        ("seed 4", ops.permutation(n, 4, 0)),
    ):
        assert not np.array_equal(other, base), f"{label} gives the same order as epoch 0 seed 3"
    assert np.array_equal(ops.permutation(n, 3, 0), base), "same seed and epoch gave a different order"


def test_permutation_small_n_varies():
    orders = {tuple(ops.permutation(3, 0, e)) for e in range(200)}
    assert len(orders) == 6, f"only {len(orders)} of the 6 orders of 3 items seen in 200 epochs: {sorted(orders)}"


def test_permutation_uniformish():
    n, epochs = 17, 3000
    perms = np.stack([ops.permutation(n, 99, e) for e in range(epochs)])
    sd = np.sqrt((n * n - 1) / 12.0)  # of a uniform draw from range(n)
    pos_mean = perms.mean(axis=0)  # value found at each position
    where = np.argsort(perms, axis=1).mean(axis=0)  # position of each value
    tol = 5 * sd / np.sqrt(epochs)
    for label, means in (("value at each position", pos_mean), ("position of each value", where)):
        err = np.abs(means - (n - 1) / 2).max()
        assert err <= tol, f"mean {label} off (n-1)/2 by up to {err:.3f} > {tol:.3f}: {np.round(means, 2)}"
    # every value reaches every position sometimes
    counts = np.zeros((n, n), int)
    np.add.at(counts, (np.tile(np.arange(n), epochs), perms.ravel()), 1)
    assert counts.min() > 0, f"some value never lands at some position: min count {counts.min()}"


def test_permutation_errors():
    with pytest.raises(ValueError, match="n"):
        ops.permutation(-1, 0, 0)
