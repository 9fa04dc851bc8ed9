"""The CPU's own exp, expm1, log1p, tanh, logistic and erf (csrc/include/fastmlp/vec_math.h, evaluated in
SIMD by every activation and its derivative) against fastmlp.reference.vector_function, in ulps of
the exact result: float32 over its whole range (every 2^12-th bit pattern here, every 2^8-th in the
slow lane, plus the edges), float64 on every binade against a wider float; +-0, denormals, the
saturation regions, +-Inf and NaN. The bounds are the ones vec_math.h states."""

import numpy as np
import pytest

import fastmlp
from fastmlp import reference

FUNCTIONS = ["exp", "expm1", "log1p", "tanh", "logistic", "erf"]
BOUND_ULP = {"exp": 2.0, "expm1": 2.0, "log1p": 2.0, "tanh": 3.0, "logistic": 3.0, "erf": 3.0}
WIDE = np.longdouble if np.finfo(np.longdouble).nmant > 52 else None


def ulp_error(got, exact, dtype):
    """|got - exact| in units of the spacing of `dtype` at exact (the denormal spacing below the normal
    range); 0 where both are the same NaN/Inf, inf where got is not what an IEEE result must be."""
    info = np.finfo(dtype)
    exact = np.asarray(exact)
    wide = exact.dtype
    with np.errstate(all="ignore"):
        rounded = exact.astype(dtype)  # the correctly rounded result's magnitude (Inf past the range)
        _, e = np.frexp(np.where(np.isfinite(exact) & (exact != 0), exact, 1).astype(wide))
        spacing = np.ldexp(np.ones_like(exact, dtype=wide), (e - 1 - info.nmant).astype(np.int32))
        spacing = np.maximum(spacing, wide.type(info.smallest_subnormal))
        err = np.abs(got.astype(wide) - exact) / spacing
    special = ~np.isfinite(rounded) | np.isnan(exact)
    same = (got == rounded) | (np.isnan(got) & np.isnan(exact))
    return np.where(special, np.where(same, 0.0, np.inf), err)


def exact_values(name, x, exact_dtype):
    """The reference's values in exact_dtype; erf in float64 or wider from mpmath (math.erf, the
    reference's, is itself float64, so only exact enough for float32 results)."""
    if name != "erf" or exact_dtype == np.float64:
        return reference.vector_function(name, x.astype(exact_dtype))
    mpmath = pytest.importorskip("mpmath", reason="float64 erf is checked against mpmath (the test extra)")
    mpmath.mp.dps = 40

    def digits(v):  # 30 significant digits of erf(v), which the wide float then rounds once
        return "nan" if np.isnan(v) else mpmath.nstr(mpmath.erf(mpmath.mpf(float(v))), 30)

    return np.array([digits(v) for v in x]).astype(exact_dtype)


def check(name, x, dtype, exact_dtype):
    with np.errstate(invalid="ignore"):  # the bit patterns include signalling NaNs
        x = x.astype(dtype)
        got = fastmlp._core.vector_function(name, x)
        exact = exact_values(name, x, exact_dtype)
    assert got.dtype == dtype and got.shape == x.shape
    if name == "log1p":  # below -1: NaN
        below = x < -1
        assert np.isnan(got[below]).all(), f"log1p below -1 is not NaN at {x[below][~np.isnan(got[below])][:3]}"
        x, got, exact = x[~below], got[~below], exact[~below]
    err = ulp_error(got, exact, dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= BOUND_ULP[name], (
        f"{name} {np.dtype(dtype).name}: {err[worst]:.3f} ulp at x = {x[worst]!r}: got {got[worst]!r}, "
        f"want {exact[worst]!r} (bound {BOUND_ULP[name]} ulp)"
    )
    return float(err.max())


def float32_patterns(step):
    bits = np.arange(0, 2**32, step, dtype=np.uint64).astype(np.uint32)
    edges = np.array(
        [
            0.0,
            -0.0,
            np.inf,
            -np.inf,
            np.nan,
            1e-45,
            -1e-45,
            1.1754942e-38,
            88.7228394,
            88.72284,
            -103.97,
            -104.0,
            -87.33655,
            89.0,
            -18.0,
            9.0,
            10.0,
            20.0,
            -1.0,
            -0.99999994,
            1e-30,
        ],
        np.float32,
    )
    return np.concatenate([bits.view(np.float32), edges])


@pytest.mark.parametrize("name", FUNCTIONS)
def test_float32_across_its_range(name):
    check(name, float32_patterns(2**12), np.float32, np.float64)


@pytest.mark.slow
@pytest.mark.parametrize("name", FUNCTIONS)
def test_float32_every_256th_bit_pattern(name):
    check(name, float32_patterns(2**8), np.float32, np.float64)


def float64_binades(per_binade, seed=0):
    rng = np.random.default_rng(seed)
    exps = np.repeat(np.arange(-1074, 1024), per_binade)
    x = np.ldexp(1.0 + rng.random(exps.size), exps)
    edges = np.array(
        [
            0.0,
            -0.0,
            np.inf,
            -np.inf,
            np.nan,
            5e-324,
            -5e-324,
            2.2250738585072014e-308,
            709.782712893384,
            709.78,
            -745.1,
            -745.2,
            -708.4,
            -38.0,
            22.0,
            -1.0,
            -0.9999999999999999,
            1e-300,
        ]
    )
    return np.concatenate([x, -x, edges])


@pytest.mark.skipif(WIDE is None, reason="needs a long double wider than float64 for the exact values")
@pytest.mark.parametrize("name", FUNCTIONS)
def test_float64_on_every_binade(name):
    x = float64_binades(40)
    if name == "erf":  # mpmath is slow: erf is 1 past 6, and its binades below 2^-60 are x 2/sqrt(pi)
        x = x[~(np.abs(x) > 8) & ~((np.abs(x) < 2.0**-60) & (np.abs(x) > 2.0**-1000))]
    check(name, x, np.float64, WIDE)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values(dtype):
    inf, nan = np.inf, np.nan
    x = np.array([0.0, -0.0, inf, -inf, nan], dtype)
    want = {
        "exp": [1, 1, inf, 0, nan],
        "expm1": [0, 0, inf, -1, nan],
        "log1p": [0, 0, inf, nan, nan],
        "tanh": [0, -0.0, 1, -1, nan],
        "logistic": [0.5, 0.5, 1, 0, nan],
        "erf": [0, -0.0, 1, -1, nan],
    }
    for name, values in want.items():
        got = fastmlp._core.vector_function(name, x)
        assert np.array_equal(got, np.array(values, dtype), equal_nan=True), (name, got)
    assert np.signbit(fastmlp._core.vector_function("tanh", x)[1]), "tanh(-0) is -0"
    assert np.signbit(fastmlp._core.vector_function("erf", x)[1]), "erf(-0) is -0"
    assert np.isneginf(fastmlp._core.vector_function("log1p", np.array([-1.0], dtype))[0])


def test_the_activations_use_them():
    # sigmoid and tanh in the kernels are these functions: the same bits as vector_function.
    z = np.linspace(-30, 30, 1001, dtype=np.float32)
    assert np.array_equal(fastmlp._core.activation_forward("tanh", z, 0.01), fastmlp._core.vector_function("tanh", z))
    assert np.array_equal(
        fastmlp._core.activation_forward("sigmoid", z, 0.01), fastmlp._core.vector_function("logistic", z)
    )
    # the exact GELU's Phi(z) is erf's: 0.5 z (1 + erf(z / sqrt 2)), each operation rounded to float32
    erf = fastmlp._core.vector_function("erf", z * np.float32(np.sqrt(0.5)))
    assert np.array_equal(fastmlp._core.activation_forward("gelu", z, 0.01), np.float32(0.5) * z * (1 + erf))


def test_bad_input():
    with pytest.raises(ValueError, match="unknown function 'sin'; expected one of: exp"):
        fastmlp._core.vector_function("sin", np.ones(3))
    with pytest.raises(TypeError, match="float32 or float64"):
        fastmlp._core.vector_function("exp", np.ones(3, np.int64))
    assert fastmlp._core.vector_function("exp", np.ones((0, 3))).shape == (0, 3)
    strided = np.linspace(-1, 1, 20)[::3]  # non-contiguous: read through a copy
    assert np.allclose(fastmlp._core.vector_function("tanh", strided), np.tanh(strided), rtol=1e-15, atol=0)
