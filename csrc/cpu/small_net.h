// The dense layer of a small network (every width up to kSmallWidth, a step of at most
// kSmallStepWork multiply-adds) as plain loops over packed rows: no GEMM dispatch, no packing, no
// transposed copy of W, nothing that pays only on large products. The trainer (train_loop.cpp) takes
// this path when its plan says so, and updates each layer right after its gradients, while they are
// still in L1.
//
// The loops (layer_forward and layer_backward in gemm_kernel.inc) are compiled with the GEMM's
// microkernels, once per instruction set and with its options (a*b+c fused), and picked with them
// (FASTMLP_ISA). They compute
//   z[r][j]  = b[j] + x[r][0] W[0][j] + x[r][1] W[1][j] + ...   in p order       (small_gemm's loop)
//   z[r][0]  = b[0] + dot(x[r], W[:, 0])                         out == 1, in >= 16 (small_gemm's dot)
//   gW[p][j] = 0 + x[0][p] g[0][j] + x[1][p] g[1][j] + ...       in row order     (small_gemm's loop)
//   gb[j]    = 0 + g[0][j] + g[1][j] + ...                        in row order     (dense_backward's)
//   gx[r][p] = short_dot(g[r], W[p]): 8 partial sums, term k in sum k mod 8, added pairwise, then the
//              last terms in order; under 8 terms, all in order
// so a fit whose products the GEMM path runs on its small-product loops, and whose dL/dx are single
// products (one layer: the lecture's neuron, linear and logistic regression; or a hidden layer feeding
// one output), gets the GEMM path's bits; other fits differ from it by rounding (tests/test_small_net.py).
// Internal to the CPU backend.
#pragma once
#include "fastmlp/ops.h"

namespace fastmlp {
namespace small {

// Widest layer (inputs or outputs) the small path takes, and the most multiply-adds of a step's
// forward pass (rows x the sum of in x out): past them the GEMM's register tiles win (measured on a
// 2-core Zen 4: 16-64-64-1 takes 2.4x less time per step at one row and 1.8x at two, and 1.2x more at
// four; benchmarks/RESULTS.md).
constexpr index_t kSmallWidth = 64;
constexpr double kSmallStepWork = 12288.0;

// z (rows x out, packed) = x w + b; x has row stride ldx, w is in x out (row-major).
template <class T>
void dense_forward(index_t rows, index_t in, index_t out, const T* x, index_t ldx, const T* w, const T* b, T* z);

// From g = dL/dz (rows x out, packed): gw (in x out) = x^T g, gb (out) = the column sums of g and,
// unless gx is null, gx (rows x in, packed) = g w^T. Reads w, so it comes before w's update.
template <class T>
void dense_backward(index_t rows, index_t in, index_t out, const T* x, index_t ldx, const T* w, const T* g, T* gw,
                    T* gb, T* gx);

}  // namespace small
}  // namespace fastmlp
