// exp, expm1, log1p, tanh, the logistic function and erf for the CPU loops, written so that the compiler
// turns a loop over them into SIMD code for every instruction set the library is compiled for (each
// FASTMLP_CLONES loop: AVX-512, AVX2, the x86-64 baseline), where a call into libm would stay one
// scalar call per element. Branch-free: every special case is a select after the arithmetic, the
// rounding to an integer is the 1.5 * 2^mantissa trick, and 2^n is built from its bits.
//
// Only IEEE additions, multiplications and divisions in a fixed order, never contracted into FMAs
// (-ffp-contract=off), so every clone gives the same bits. The CUDA kernels keep CUDA's own functions
// (activation_math.h picks). Reference: numpy's float64 functions; the bounds below are checked by
// tests/test_vec_math.py over the whole float32 range (every 2^8-th bit pattern and the edges) and on
// each float64 binade, including +-0, denormals, the saturation regions, +-Inf and NaN:
//   exp, expm1, log1p: at most 2 ulp;  tanh, logistic, erf: at most 3 ulp
// (results that are denormal: within 1 of the denormal spacing). NaN in gives NaN out.
//
// Method. exp and expm1 reduce x = n ln2 + r with n = round(x / ln2) and |r| <= ln2 / 2, ln2 split in
// two (Cody and Waite) so that r carries no rounding error of n ln2: ln2_hi has few enough bits that
// n ln2_hi is exact for every n the range allows. Then expm1(r) is its Taylor series
// r + r^2/2! + ... + r^d/d!: with |r| <= 0.347 the first omitted term is below 0.1 ulp of the result
// (d = 8 in float32, 13 in float64), so a plain truncated series is as good as a minimax polynomial
// of the same degree here, and its coefficients are exact reciprocal factorials anyone can check.
// exp(x) = 2^n (1 + expm1(r)), scaled by two powers of two so that no intermediate overflows or
// loses bits before the final rounding; expm1(x) = 2^n expm1(r) + (2^n - 1), where 2^n - 1 is exact.
// log1p(y) writes u = 1 + y = 2^k m with m in [sqrt(1/2), sqrt(2)), log(m) = 2 atanh(s) with
// s = (m - 1) / (m + 1), |s| <= 0.172, from the series 2 (s + s^3/3 + s^5/5 + ...) to the term below
// 0.1 ulp, and adds the rounding error of 1 + y back as (y - (u - 1)) / u (as fdlibm does).
// tanh(x) = e / (e + 2) with e = expm1(2 |x|), its sign restored, exact to 1 past |x| = 10 (float32)
// or 22 (float64); logistic(z) = 1 / (1 + e^-z) for z >= 0 and e^z / (1 + e^z) below, with one exp
// of -|z| for both.
// erf(x), odd, from two polynomials fitted by tools/erf_fit.py (Chebyshev interpolants at 50 digits,
// the script prints them and their errors): for |x| <= 1, x p(x^2) with p(z) ~ erf(sqrt z) / sqrt z;
// above, 1 - t exp(q(t) - x^2) with t = 2 / (2 + |x|) and q(t) ~ log(erfc(x) / t) + x^2, the form of
// Numerical Recipes' erfc (Press et al., 3rd ed., 6.2.2): erfc's e^(-x^2) decay is exp's, and what is
// left is smooth in t. Past erf_cap (3.92 in float32, 6 in float64) erf rounds to 1.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

namespace fastmlp {
namespace vm {

template <class T>
struct Format;

template <>
struct Format<float> {
  using Bits = std::uint32_t;
  using Int = std::int32_t;
  static constexpr int mantissa = 23, bias = 127;
  static constexpr float round_magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  static constexpr float log2e = 1.44269504088896341f;
  static constexpr float ln2_hi = 0.693359375f;     // 355 / 512: n ln2_hi is exact for |n| < 2^15
  static constexpr float ln2_lo = -2.12194440e-4f;  // ln2 - ln2_hi
  static constexpr float exp_hi = 88.7228394f;      // above: exp overflows
  static constexpr float exp_lo = -104.0f;          // below: exp rounds to 0
  static constexpr float expm1_lo = -18.0f;         // below: expm1 rounds to -1
  static constexpr Int expm1_big = 25;              // from 2^25 on, expm1 = exp to within rounding
  static constexpr float tanh_cap = 10.0f;          // tanh(10) rounds to 1
  static constexpr int taylor_terms = 8;            // expm1(r) to r^8 / 8!
  static constexpr int atanh_terms = 5;             // 2 atanh(s) to s^11 / 11 (|s| <= 0.172)
};

template <>
struct Format<double> {
  using Bits = std::uint64_t;
  using Int = std::int64_t;
  static constexpr int mantissa = 52, bias = 1023;
  static constexpr double round_magic = 6755399441055744.0;  // 1.5 * 2^52
  static constexpr double log2e = 1.4426950408889634074;
  static constexpr double ln2_hi = 6.93147180369123816490e-01;  // 0x3fe62e42fee00000: n ln2_hi exact
  static constexpr double ln2_lo = 1.90821492927058770002e-10;  // ln2 - ln2_hi
  static constexpr double exp_hi = 709.782712893383973;
  static constexpr double exp_lo = -745.2;
  static constexpr double expm1_lo = -38.0;
  static constexpr Int expm1_big = 54;
  static constexpr double tanh_cap = 22.0;
  static constexpr int taylor_terms = 13;
  static constexpr int atanh_terms = 11;  // to s^23 / 23
};

// erf's polynomials (tools/erf_fit.py), constant term first, each in s in [-1, 1]: near, s = 2 x^2 - 1;
// far, s = far_scale t - far_shift (t = 2 / (2 + |x|) on [1, erf_cap]). Interpolation errors: float32
// 1.3e-9 and 3.7e-10, float64 7.4e-18 and 1.2e-17, each below a tenth of an ulp of the result.
template <class T>
struct ErfFit;

template <>
struct ErfFit<float> {
  static constexpr float cap = 3.92f;
  static constexpr float far_scale = float(2.0 / (2.0 / 3.0 - 2.0 / 5.92));
  static constexpr float far_shift = float((2.0 / 5.92 + 2.0 / 3.0) / (2.0 / 3.0 - 2.0 / 5.92));
  static constexpr int near_degree = 6, far_degree = 7;
  static constexpr float near[] = {9.65468739e-1f, -1.40536097e-1f, 1.98524971e-2f, -2.28541954e-3f,
                                   2.17513542e-4f, -1.7669068e-5f,  1.23060548e-6f};
  static constexpr float far[] = {-6.68763203e-1f, 2.21323794e-1f, 5.05049852e-3f, -1.67366185e-3f,
                                  -1.13075588e-4f, 3.40713574e-5f, 2.09371812e-6f, -9.1922133e-7f};
};

template <>
struct ErfFit<double> {
  static constexpr double cap = 6.0;
  static constexpr double far_scale = 2.0 / (2.0 / 3.0 - 2.0 / 8.0);
  static constexpr double far_shift = (2.0 / 8.0 + 2.0 / 3.0) / (2.0 / 3.0 - 2.0 / 8.0);
  static constexpr int near_degree = 11, far_degree = 16;
  static constexpr double near[] = {9.654687386698673e-1,    -1.4053608902271712e-1, 1.9852496688984219e-2,
                                    -2.2854855611440855e-3,  2.1751715603563489e-4,  -1.7537169441280197e-5,
                                    1.2233827638093573e-6,   -7.5115692510860903e-8, 4.1157515002658848e-9,
                                    -2.0352319564835269e-10, 9.2112501874282299e-12, -3.8065912241221398e-13};
  static constexpr double far[] = {-7.2749228535220418e-1,  2.7658358936131209e-1,  1.0174695380256196e-2,
                                   -3.1116996674214267e-3,  -4.0147120416450857e-4, 9.5600063757970907e-5,
                                   1.6041266348882175e-5,   -4.5271521336004175e-6, -6.0199240011095051e-7,
                                   2.5643737344496315e-7,   1.4524347300627905e-8,  -1.4606518534595551e-8,
                                   5.0947784981805795e-10,  7.2778175075134697e-10, -1.0292374797044583e-10,
                                   -2.4944763820833786e-11, 6.9715210821377168e-12};
};

template <class To, class From>
inline To bits_as(From x) {
  static_assert(sizeof(To) == sizeof(From), "same width");
  To y;
  std::memcpy(&y, &x, sizeof(To));
  return y;
}

// 2^n for n in the normal exponent range, from its bits.
template <class T>
inline T pow2(typename Format<T>::Int n) {
  using F = Format<T>;
  return bits_as<T>(typename F::Bits(n + F::bias) << F::mantissa);
}

// floor(k / 2) for |k| < 2^12 with a logical shift (AVX2 has no arithmetic shift of 64-bit lanes).
template <class T>
inline typename Format<T>::Int floor_half(typename Format<T>::Int k) {
  using F = Format<T>;
  constexpr typename F::Int offset = 4096;
  return typename F::Int(typename F::Bits(k + offset) >> 1) - offset / 2;
}

// x = n ln2 + r: n as a T and an integer, and r (|r| <= ln2 / 2 up to rounding). x must be finite or
// NaN and small enough that |n| < 2^(mantissa - 1).
template <class T>
struct Reduced {
  T n, r;
  typename Format<T>::Int k;
};

template <class T>
inline Reduced<T> reduce_ln2(T x) {
  using F = Format<T>;
  const T shifted = x * F::log2e + F::round_magic;
  const T n = shifted - F::round_magic;
  const T r = (x - n * F::ln2_hi) - n * F::ln2_lo;
  // The integer is in the low bits of `shifted` (its exponent is that of 1.5 * 2^mantissa). A NaN's bits
  // are no integer: k = 0 there (r carries the NaN into the result), so that no sum of k can overflow.
  const auto bits = typename F::Int(bits_as<typename F::Bits>(shifted) - bits_as<typename F::Bits>(F::round_magic));
  const auto k = x == x ? bits : typename F::Int(0);
  return {n, r, k};
}

// The series' coefficients, computed at compile time in double and rounded once to T: 1/k! for the
// exponential, 1/(2j + 1) for atanh. The sums are unrolled by templates rather than loops, so that a
// loop over elements is one straight block the compiler can vectorize.
constexpr double inverse_factorial(int k) {
  double inv = 1.0;
  for (int i = 2; i <= k; ++i) inv /= double(i);
  return inv;
}

// 1/K! + r (1/(K+1)! + ... + r (1/D!)), Horner from the top.
template <class T, int K, int D>
inline T taylor_tail(T r) {
  if constexpr (K == D) {
    return T(inverse_factorial(D));
  } else {
    return taylor_tail<T, K + 1, D>(r) * r + T(inverse_factorial(K));
  }
}

// 1/(2J+1) + z (1/(2J+3) + ... + z (1/(2D+1))).
template <class T, int J, int D>
inline T odd_tail(T z) {
  if constexpr (J == D) {
    return T(1.0 / double(2 * D + 1));
  } else {
    return odd_tail<T, J + 1, D>(z) * z + T(1.0 / double(2 * J + 1));
  }
}

// expm1(r) for |r| <= ln2 / 2: r + r^2 (1/2! + r (1/3! + ... + r^(d-2) / d!)).
template <class T>
inline T expm1_reduced(T r) {
  return r + (r * r) * taylor_tail<T, 2, Format<T>::taylor_terms>(r);
}

template <class T>
inline T exp(T x) {
  using F = Format<T>;
  const T xc = x > F::exp_hi ? F::exp_hi : (x < F::exp_lo ? F::exp_lo : x);  // NaN passes both
  const Reduced<T> red = reduce_ln2(xc);
  const T p = T(1) + expm1_reduced(red.r);
  // 2^k as two factors, each in the normal range, so that neither 2^k nor p 2^(k/2) overflows and a
  // denormal result is rounded once.
  const auto half = floor_half<T>(red.k);
  const T y = (p * pow2<T>(half)) * pow2<T>(red.k - half);
  return x > F::exp_hi ? std::numeric_limits<T>::infinity() : y;
}

template <class T>
inline T expm1(T x) {
  using F = Format<T>;
  const T xc = x > F::exp_hi ? F::exp_hi : (x < F::expm1_lo ? F::expm1_lo : x);
  const Reduced<T> red = reduce_ln2(xc);
  const T q = expm1_reduced(red.r);
  const bool big = red.k >= F::expm1_big;
  const auto k = big ? F::expm1_big : red.k;
  const T t = pow2<T>(k);
  const T scaled = t * q + (t - T(1));  // t - 1 is exact for |k| < mantissa
  const T small = red.k == 0 ? q : scaled;
  const auto half = floor_half<T>(red.k);
  const T large = ((T(1) + q) * pow2<T>(half)) * pow2<T>(red.k - half);
  const T y = big ? large : small;
  return x > F::exp_hi ? std::numeric_limits<T>::infinity() : y;
}

// log1p(y) = log(u) + (the rounding error of u = 1 + y) / u, with log(u) = k ln2 + log(1 + f),
// u = 2^k (1 + f), 1 + f in [sqrt(1/2), sqrt(2)). With s = f / (2 + f), log(1 + f) = 2 atanh(s) =
// f - s f + s R, R = 2 s^2/3 + 2 s^4/5 + ...; summed as f - (f^2/2 - s (f^2/2 + R)) (as fdlibm does),
// so that the large terms cancel exactly and only small ones carry rounding.
template <class T>
inline T log1p(T y) {
  using F = Format<T>;
  using Bits = typename F::Bits;
  const T inf = std::numeric_limits<T>::infinity();
  const T u = T(1) + y;
  // u = 0 (y = -1), u < 0 (y < -1) and +Inf are selected below, log of 1 standing in for them.
  const T finite = u < inf ? u : T(1);
  const T safe = u > T(0) ? finite : T(1);       // NaN too: then the correction below is NaN
  const T correction = (y - (u - T(1))) / safe;  // exact up to its own rounding while u <= 2
  // The exponent of safe / sqrt(1/2) (its bits less those of sqrt(1/2)), so that the mantissa splits
  // at sqrt(1/2) instead of at 1: 1 + f = safe / 2^k lands in [sqrt(1/2), sqrt(2)).
  constexpr Bits mant_mask = (Bits(1) << F::mantissa) - 1;
  const Bits sqrt_half = bits_as<Bits>(T(0.70710678118654752440));
  const Bits shifted = bits_as<Bits>(safe) - sqrt_half;
  // k from the exponent field of shifted + 1.0's bits, which is never negative: a logical shift
  // (AVX2 has no arithmetic shift of 64-bit lanes), and k small enough for an int32 (whose conversion
  // to floating point every vector unit has).
  const Bits biased = shifted + (Bits(F::bias) << F::mantissa);
  const auto k = std::int32_t(biased >> F::mantissa) - F::bias;
  const T f = bits_as<T>((shifted & mant_mask) + sqrt_half) - T(1);  // exact: within a factor 2 of 1
  const T s = f / (T(2) + f);
  const T z = s * s;
  const T R = T(2) * z * odd_tail<T, 1, F::atanh_terms>(z);  // 2 z (1/3 + z/5 + ...)
  const T hfsq = T(0.5) * f * f;
  const T kt = T(k);
  const T small = kt * F::ln2_lo + correction;
  const T r = kt * F::ln2_hi + (f - (hfsq - (s * (hfsq + R) + small)));
  T out = u == T(0) ? -inf : r;
  out = u == inf ? inf : out;
  out = u < T(0) ? std::numeric_limits<T>::quiet_NaN() : out;
  return out;
}

template <class T>
inline T tanh(T x) {
  using F = Format<T>;
  const T a0 = x < T(0) ? -x : x;
  const T a = a0 > F::tanh_cap ? F::tanh_cap : a0;  // NaN passes
  const T e = expm1(T(2) * a);
  const T t = e / (e + T(2));
  const T minus = -t;
  return x < T(0) ? minus : (x > T(0) ? t : x);  // x = +-0 and NaN come back as they are
}

template <class T>
inline T logistic(T z) {
  const T a = z < T(0) ? z : -z;  // -|z|: exp never overflows
  const T e = exp(a);
  const T s = T(1) / (T(1) + e);
  const T below = e * s;
  return z >= T(0) ? s : below;  // NaN: e * s is NaN
}

// c[K] + s (c[K+1] + ... + s c[D]), Horner from the top, unrolled.
template <int K, int D, class T, std::size_t N>
inline T horner(const T (&c)[N], T s) {
  if constexpr (K == D) {
    return c[K];
  } else {
    return c[K] + s * horner<K + 1, D>(c, s);
  }
}

template <class T>
inline T erf(T x) {
  using E = ErfFit<T>;
  const T a0 = x < T(0) ? -x : x;
  const T a = a0 > E::cap ? E::cap : a0;  // NaN passes
  const T z = a * a;
  const T near = a * horner<0, E::near_degree>(E::near, T(2) * z - T(1));
  const T t = T(2) / (T(2) + a);
  const T far = T(1) - t * exp(horner<0, E::far_degree>(E::far, E::far_scale * t - E::far_shift) - z);
  const T r = a0 > E::cap ? T(1) : (a <= T(1) ? near : far);
  const T minus = -r;
  return x < T(0) ? minus : (x > T(0) ? r : x);  // x = +-0 and NaN come back as they are
}

}  // namespace vm

// The functions the formulas shared by both backends (activation_math.h, loss_math.h) call: on the CPU
// the ones above, which a loop over elements turns into SIMD code (libm's would stay one scalar call
// per element); on the device CUDA's own.
namespace fm {
#ifdef __CUDA_ARCH__
// std's T overload of each (float32 stays float32), as the device's own function.
#define FASTMLP_DEVICE_MATH(f)          \
  template <class T>                    \
  __device__ __forceinline__ T f(T x) { \
    using std::f;                       \
    return f(x);                        \
  }
FASTMLP_DEVICE_MATH(exp)
FASTMLP_DEVICE_MATH(expm1)
FASTMLP_DEVICE_MATH(log1p)
FASTMLP_DEVICE_MATH(tanh)
FASTMLP_DEVICE_MATH(erf)
#undef FASTMLP_DEVICE_MATH
// Split by sign so that exp never overflows: for z < 0, e^z / (1 + e^z).
template <class T>
__device__ __forceinline__ T logistic(T z) {
  if (z >= T(0)) return T(1) / (T(1) + exp(-z));
  const T e = exp(z);
  return e / (T(1) + e);
}
#else
using vm::erf;
using vm::exp;
using vm::expm1;
using vm::log1p;
using vm::logistic;
using vm::tanh;
#endif
}  // namespace fm

}  // namespace fastmlp
