"""fastmlp.ops.matmul (the blocked GEMM) against reference.matmul: shapes, transposes, dtypes, every
ISA path (forced through FASTMLP_ISA in a subprocess), thread-count determinism and input layouts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fastmlp import ops, reference
from helpers import shape_id

DTYPES = [pytest.param(np.float32, id="f32"), pytest.param(np.float64, id="f64")]
TRANS = [
    pytest.param(ta, tb, id=("T" if ta else "N") + ("T" if tb else "N")) for ta in (False, True) for tb in (False, True)
]

# Every value in every role (m, n, k) at least twice, without the full 125-way product.
_V = (1, 3, 17, 64, 129)
SHAPES = sorted(
    {(_V[i], _V[(i + 1) % 5], _V[(i + 2) % 5]) for i in range(5)}
    | {(_V[i], _V[(i + 3) % 5], _V[(i + 1) % 5]) for i in range(5)}
)
ZERO_SHAPES = [(0, 3, 17), (3, 0, 17), (3, 17, 0), (0, 0, 0)]
# Deeper than one packed panel (1024), with B packed (m > 512, ragged n) and with B read in place
# (m <= 512: n a multiple of every tile width, and a ragged n whose last sliver alone is packed).
LARGE = [(1000, 517, 1031), (500, 512, 1031), (500, 517, 1031)]


def _operands(rng, m, n, k, dtype, trans_a, trans_b):
    """a, b stored so that op(a) is (m, k) and op(b) is (k, n)."""
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    return a, b


def _gemm_atol(a, b, trans_a, trans_b, dtype):
    """The deterministic error bound of a k-term dot product: |err| <= k eps (|op(a)| @ |op(b)|), doubled.
    Any real bug (a missing panel, a wrong element, a stale tile) is far outside it."""
    a_op = np.abs(a.T if trans_a else a).astype(np.float64)
    b_op = np.abs(b.T if trans_b else b).astype(np.float64)
    k = a_op.shape[1]
    return 2.0 * max(k, 1) * np.finfo(dtype).eps * (a_op @ b_op) + np.finfo(dtype).tiny


def _check(assert_close, got, a, b, trans_a, trans_b, dtype, what):
    want = reference.matmul(a, b, trans_a, trans_b)
    assert_close(got, want, dtype, what, rtol=0.0, atol=_gemm_atol(a, b, trans_a, trans_b, dtype))


@pytest.mark.parametrize("trans_a, trans_b", TRANS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: shape_id(s, "mnk"))
def test_matmul_matches_reference(rng, assert_close, shape, dtype, trans_a, trans_b):
    m, n, k = shape
    a, b = _operands(rng, m, n, k, dtype, trans_a, trans_b)
    got = ops.matmul(a, b, trans_a, trans_b)
    _check(assert_close, got, a, b, trans_a, trans_b, dtype, f"matmul {shape} trans=({trans_a}, {trans_b})")


@pytest.mark.parametrize("trans_a, trans_b", TRANS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ZERO_SHAPES, ids=lambda s: shape_id(s, "mnk"))
def test_matmul_zero_sized(rng, assert_close, shape, dtype, trans_a, trans_b):
    m, n, k = shape
    a, b = _operands(rng, m, n, k, dtype, trans_a, trans_b)
    got = ops.matmul(a, b, trans_a, trans_b)
    # k == 0: an empty sum is exactly 0 (the output must be written, not left uninitialized).
    assert_close(got, np.zeros((m, n)), dtype, f"matmul {shape}", rtol=0.0, atol=0.0)


@pytest.mark.slow
@pytest.mark.parametrize("trans_a, trans_b", TRANS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", LARGE, ids=lambda s: shape_id(s, "mnk"))
def test_matmul_large(rng, assert_close, shape, dtype, trans_a, trans_b):
    m, n, k = shape
    a, b = _operands(rng, m, n, k, dtype, trans_a, trans_b)
    got = ops.matmul(a, b, trans_a, trans_b)
    _check(assert_close, got, a, b, trans_a, trans_b, dtype, f"matmul {shape} trans=({trans_a}, {trans_b})")


# ---- every ISA path -------------------------------------------------------------------------------------
ISA_RANK = {"generic": 0, "avx2": 1, "avx512": 2}

# Runs in a fresh interpreter with FASTMLP_ISA set (the kernel is chosen once per process); prints JSON.
_ISA_SCRIPT = r"""
import json, sys
import numpy as np
import fastmlp
from fastmlp import ops, reference

out = {"isa": {"float32": fastmlp._core.gemm_isa("float32"), "float64": fastmlp._core.gemm_isa("float64")},
       "results": []}
rng = np.random.default_rng(7)
# k = 1100 is deeper than one packed panel (1024), so later panels accumulate onto the first.
# (300, 256, 300) and (45, 64, 1100) read B in place (few rows, whole tiles); (300, 100, 300) and
# (45, 70, 1100) too, but with a ragged last sliver packed alone; (133, 100, 13) and (13, 31, 29) take the
# direct path (no packing) with a ragged last sliver; the others pack B.
shapes = [(1, 1, 1), (5, 3, 7), (13, 31, 29), (17, 129, 3), (129, 65, 257), (200, 150, 300), (31, 4100, 9),
          (45, 70, 1100), (300, 256, 300), (45, 64, 1100), (300, 100, 300), (133, 100, 13)]
for dtype in (np.float32, np.float64):
    eps = np.finfo(dtype).eps
    for m, n, k in shapes:
        for ta in (False, True):
            for tb in (False, True):
                a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
                b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
                got = ops.matmul(a, b, ta, tb).astype(np.float64)
                want = reference.matmul(a, b, ta, tb)
                bound = 2.0 * k * eps * (np.abs(a.T if ta else a).astype(np.float64)
                                         @ np.abs(b.T if tb else b).astype(np.float64)) + np.finfo(dtype).tiny
                err = np.abs(got - want)
                out["results"].append({"dtype": np.dtype(dtype).name, "shape": [m, n, k], "trans": [ta, tb],
                                       "max_abs": float(err.max()), "ratio": float((err / bound).max()),
                                       "out_shape": list(got.shape)})
# The dense layer's fused epilogue (bias, then the activation, in the kernel's store or right after it)
# on the small, direct, packed, B-in-place and multi-panel paths.
for dtype in (np.float32, np.float64):
    eps = np.finfo(dtype).eps
    for n, m, k in [(5, 3, 7), (64, 64, 64), (200, 150, 300), (300, 256, 300), (45, 64, 1100), (70, 37, 1100),
                    (133, 100, 13), (300, 100, 300)]:
        for act in ("identity", "relu", "leaky_relu", "tanh", "sigmoid"):
            x = rng.standard_normal((n, k)).astype(dtype)
            w = rng.standard_normal((k, m)).astype(dtype)
            b = rng.standard_normal(m).astype(dtype)
            got = ops.dense_forward(x, w, b, act).astype(np.float64)
            want = reference.dense_forward(x, w, b, act)
            bound = 2.0 * (k + 1) * eps * (np.abs(x).astype(np.float64) @ np.abs(w).astype(np.float64)
                                           + np.abs(b)) + np.finfo(dtype).tiny
            err = np.abs(got - want)
            out["results"].append({"dtype": np.dtype(dtype).name, "shape": [n, m, k], "trans": act,
                                   "max_abs": float(err.max()), "ratio": float((err / bound).max()),
                                   "out_shape": list(got.shape)})
out["threads"] = []
for dtype in (np.float32, np.float64):
    for m, n, k in [(300, 257, 513), (64, 1000, 300), (70, 96, 1100), (600, 256, 300), (300, 256, 300),
                    (300, 100, 300)]:
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        fastmlp.set_num_threads(1)
        one = ops.matmul(a, b)
        fastmlp.set_num_threads(2)
        two = ops.matmul(a, b)
        out["threads"].append({"dtype": np.dtype(dtype).name, "shape": [m, n, k],
                               "bitwise": bool(one.tobytes() == two.tobytes()),
                               "max_abs": float(np.abs(one.astype(np.float64) - two).max())})
print(json.dumps(out))
"""


def _run_isa(isa):
    env = dict(os.environ)
    env.pop("FASTMLP_ISA", None)
    if isa is not None:
        env["FASTMLP_ISA"] = isa
    proc = subprocess.run([sys.executable, "-c", _ISA_SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"FASTMLP_ISA={isa} subprocess failed:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def best_isa():
    """What the machine can run: the ISA picked automatically with FASTMLP_ISA unset."""
    env = dict(os.environ)
    env.pop("FASTMLP_ISA", None)
    proc = subprocess.run(
        [sys.executable, "-c", "import fastmlp; print(fastmlp._core.gemm_isa('float32'))"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.mark.slow
@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
def test_matmul_each_isa(best_isa, isa):
    if ISA_RANK[isa] > ISA_RANK.get(best_isa, 0):
        pytest.skip(f"this machine runs {best_isa} at best, not {isa}")
    out = _run_isa(isa)
    assert out["isa"] == {"float32": isa, "float64": isa}, f"FASTMLP_ISA={isa} ran {out['isa']}"
    bad = [r for r in out["results"] if not (r["ratio"] <= 1.0 and r["out_shape"] == r["shape"][:2])]
    worst = max(out["results"], key=lambda r: r["ratio"])
    assert not bad, (
        f"ISA {isa}: {len(bad)} product(s) outside the k*eps bound or misshapen; max abs err "
        f"{worst['max_abs']:.3e} (error/bound {worst['ratio']:.3g}) at {worst}; all bad: {bad}"
    )
    differ = [r for r in out["threads"] if not r["bitwise"]]
    assert not differ, f"ISA {isa}: 2 threads vs 1 not bitwise identical (max abs err in each): {differ}"


# ---- determinism and layouts ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "shape",
    [
        (300, 257, 513),  # ~40M multiply-adds: several row blocks, split over threads
        (64, 1000, 300),  # one row block: the columns are split instead
        (100, 4200, 16),  # wider than one packed B panel (4096 columns), columns split
        (90, 200, 2100),  # deeper than one packed panel (1024): three panels summed in turn
        (200, 256, 1500),  # B read in place (few rows, whole tiles), two panels
    ],
    ids=lambda s: shape_id(s, "mnk"),
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_thread_count_bitwise(rng, assert_bitwise, assert_close, num_threads, dtype, shape):
    m, n, k = shape
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    num_threads(1)
    one = ops.matmul(a, b)
    one_t = ops.matmul(a.T.copy(), b, True, False)
    num_threads(2)
    two = ops.matmul(a, b)
    two_t = ops.matmul(a.T.copy(), b, True, False)
    assert_bitwise(two, one, "matmul with 2 threads vs 1")
    assert_bitwise(two_t, one_t, "matmul(trans_a) with 2 threads vs 1")
    _check(assert_close, two, a, b, False, False, dtype, f"matmul {shape} with 2 threads")
    _check(assert_close, two_t, a, b, False, False, dtype, f"matmul {shape} (trans_a) with 2 threads")


def _layouts(a):
    """(label, view) pairs holding the same values as `a` in other memory layouts."""
    wide = np.zeros((a.shape[0], 2 * a.shape[1]), a.dtype)
    wide[:, ::2] = a
    tall = np.zeros((2 * a.shape[0], a.shape[1]), a.dtype)
    tall[::2] = a
    return [
        ("fortran", np.asfortranarray(a)),
        ("cols[::2]", wide[:, ::2]),
        ("rows[::2]", tall[::2]),
        ("neg-stride", np.flipud(np.flipud(a).copy())),
        ("T.T", np.ascontiguousarray(a.T).T),
    ]


@pytest.mark.parametrize("trans_a, trans_b", TRANS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_noncontiguous_inputs(rng, assert_bitwise, assert_close, dtype, trans_a, trans_b):
    m, n, k = 37, 19, 45
    a, b = _operands(rng, m, n, k, dtype, trans_a, trans_b)
    want = ops.matmul(np.ascontiguousarray(a), np.ascontiguousarray(b), trans_a, trans_b)
    _check(assert_close, want, a, b, trans_a, trans_b, dtype, "matmul contiguous")
    for label, view in _layouts(a):
        assert_bitwise(ops.matmul(view, b, trans_a, trans_b), want, f"a as {label}")
    for label, view in _layouts(b):
        assert_bitwise(ops.matmul(a, view, trans_a, trans_b), want, f"b as {label}")
    # a transposed view with the flag flipped is the same product
    assert_bitwise(ops.matmul(np.ascontiguousarray(a.T).T, b, trans_a, trans_b), want, "a.T view")
    assert_bitwise(ops.matmul(np.ascontiguousarray(a.T), b, not trans_a, trans_b), want, "a.T with flipped flag")
    assert_bitwise(ops.matmul(a, np.ascontiguousarray(b.T), trans_a, not trans_b), want, "b.T with flipped flag")


def test_matmul_strided_slice_of_bigger_matrix(rng, assert_bitwise):
    big = rng.standard_normal((40, 50))
    a = big[3:20, 1:40:3]  # (17, 13), strided both ways
    b = big[::4, 7:20].T  # (13, 10), a transposed strided view
    assert a.shape == (17, 13) and b.shape == (13, 10)
    got = ops.matmul(a, b)
    assert_bitwise(got, ops.matmul(np.ascontiguousarray(a), np.ascontiguousarray(b)), "strided views")
    assert_bitwise(
        ops.matmul(b, a, True, True),
        ops.matmul(np.ascontiguousarray(b), np.ascontiguousarray(a), True, True),
        "strided views, both transposed",
    )


# ---- argument errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "a, b, exc, word",
    [
        pytest.param(np.ones((3, 4)), np.ones((5, 2)), ValueError, "inner", id="inner-mismatch"),
        pytest.param(np.ones(4), np.ones((4, 2)), ValueError, "a", id="a-1d"),
        pytest.param(np.ones((3, 4)), np.ones((4, 2, 1)), ValueError, "b", id="b-3d"),
        pytest.param(np.ones((3, 4), np.float32), np.ones((4, 2)), TypeError, "b", id="dtype-mix"),
        pytest.param(np.ones((3, 4), np.int64), np.ones((4, 2)), TypeError, "a", id="int"),
        pytest.param(np.full((3, 4), np.nan), np.ones((4, 2)), ValueError, "NaN", id="nan"),
    ],
)
def test_matmul_argument_errors(a, b, exc, word):
    with pytest.raises(exc) as info:
        ops.matmul(a, b)
    assert word in str(info.value), f"message does not mention {word!r}: {info.value}"
