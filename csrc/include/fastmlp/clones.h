// FASTMLP_CLONES: an elementwise loop compiled three times (AVX-512, AVX2, the x86-64 baseline), the
// best one this CPU runs picked when the library loads (GCC/Clang function multiversioning). The
// portable build targets the baseline, whose 128-bit vectors would leave an optimizer step or an
// activation's derivative at a quarter of the width the GEMM kernels use. The clones give the same
// bits: each element is the same IEEE operations in the same order (no contraction: -ffp-contract=off;
// exp, expm1, log1p, tanh and the logistic function are fastmlp/vec_math.h's, plain arithmetic that
// each clone vectorizes, never a vector math library's). The loop must be the cloned function's own
// body: a lambda's body is a function of its own, compiled for the baseline only.
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__AVX2__) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(FASTMLP_NO_CLONES)
#define FASTMLP_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FASTMLP_CLONES
#endif
