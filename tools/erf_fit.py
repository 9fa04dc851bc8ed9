"""Prints the polynomial coefficients of fastmlp's CPU erf (csrc/include/fastmlp/vec_math.h), with the
largest error of each fit, so that anyone can regenerate and check them. Needs mpmath.

    python tools/erf_fit.py

Two fits, each a Chebyshev interpolant computed at 50 significant digits and rewritten as a polynomial
in s in [-1, 1] (evaluated by Horner's rule in T):
  near: erf(x) / x as a polynomial in z = x^2 on [0, 1] (|x| <= 1), s = 2 z - 1;
  far:  f(t) = log(erfc(x) / t) + x^2 with t = 2 / (2 + x), on x in [1, cap] (erf rounds to 1 past cap:
        3.92 in float32, 6 in float64), s = (2 t - (t_cap + 2/3)) / (2/3 - t_cap); then
        erf(x) = 1 - t exp(f(t) - x^2). The form of the far fit, a smooth function of t = 2 / (2 + x)
        inside an exponential, is the one of Press et al., Numerical Recipes (3rd ed., 6.2.2, erfc).
The degrees are the smallest whose interpolation error is below a tenth of an ulp of the result.
"""

import mpmath as mp

mp.mp.dps = 50


def chebyshev_monomial(f, a, b, degree):
    """Coefficients (constant first) of the degree-`degree` Chebyshev interpolant of f on [a, b], as a
    polynomial in s = (2 u - (a + b)) / (b - a), and its largest error on 4001 points."""
    n = degree + 1
    nodes = [mp.cos(mp.pi * (k + mp.mpf(1) / 2) / n) for k in range(n)]
    values = [f((a + b) / 2 + (b - a) / 2 * s) for s in nodes]
    c = [2 * mp.fsum(values[k] * mp.cos(mp.pi * j * (k + mp.mpf(1) / 2) / n) for k in range(n)) / n for j in range(n)]
    c[0] /= 2
    basis = [[mp.mpf(1)], [mp.mpf(0), mp.mpf(1)]]  # T_j's monomial coefficients
    for j in range(2, n):
        up = [mp.mpf(0)] + [2 * v for v in basis[j - 1]]
        down = basis[j - 2] + [mp.mpf(0)] * (len(up) - len(basis[j - 2]))
        basis.append([p - q for p, q in zip(up, down)])
    mono = [mp.mpf(0)] * n
    for j in range(n):
        for i, v in enumerate(basis[j]):
            mono[i] += c[j] * v
    err = mp.mpf(0)
    for k in range(4001):
        s = -1 + mp.mpf(2) * k / 4000
        p = mp.mpf(0)
        for v in reversed(mono):
            p = p * s + v
        err = max(err, abs(p - f((a + b) / 2 + (b - a) / 2 * s)))
    return mono, err


def near(z):
    if z == 0:
        return 2 / mp.sqrt(mp.pi)
    x = mp.sqrt(z)
    return mp.erf(x) / x


def far(t):
    x = 2 / t - 2
    return mp.log(mp.erfc(x) / t) + x * x


def main():
    for dtype, cap, (d_near, d_far) in (("float", "3.92", (6, 7)), ("double", "6", (11, 16))):
        t_cap = mp.mpf(2) / (2 + mp.mpf(cap))
        for name, f, a, b, d in (
            ("near", near, mp.mpf(0), mp.mpf(1), d_near),
            ("far", far, t_cap, mp.mpf(2) / 3, d_far),
        ):
            mono, err = chebyshev_monomial(f, a, b, d)
            digits = 9 if dtype == "float" else 17
            print(
                f"// {dtype} {name}: degree {d}, interpolation error {mp.nstr(err, 3)}"
                + (f", t_cap = 2 / (2 + {cap})" if name == "far" else "")
            )
            print(", ".join(mp.nstr(v, digits, min_fixed=-1, max_fixed=-1) for v in mono))


if __name__ == "__main__":
    main()
