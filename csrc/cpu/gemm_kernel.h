// The register-tiled GEMM microkernel, compiled once per instruction set (gemm_kernel_<isa>.cpp) and
// chosen at run time by gemm.cpp. A kernel multiplies one packed MR x kc sliver of A by a kc x NR
// sliver of B (row p at b + p * ldb: ldb = NR when packed, B's own row stride when read in place) and
// writes C = alpha * A*B + beta * C on an MR x NR tile (or the part of it that
// lies inside C: edge tiles are computed whole and stored partially).
#pragma once
#include "fastmlp/ops.h"
#include "fastmlp/tensor.h"

namespace fastmlp {

// What a kernel's store does after C = alpha * acc + beta * C: add a bias to the tile's columns
// (bias points at the tile's first column), then a ReLU or leaky ReLU. Other activations are applied by
// gemm.cpp after the store, with the code of activation_forward (fused_in_store says which).
template <class T>
struct TileEpilogue {
  const T* bias = nullptr;
  Activation act = Activation::identity;  // identity, relu or leaky_relu
  T slope = T(0);
};

// The activations a microkernel's store applies itself (two vector selections, no function call).
constexpr bool fused_in_store(Activation kind) { return kind == Activation::relu || kind == Activation::leaky_relu; }

template <class T>
using MicroKernel = void (*)(index_t kc, const T* a_packed, const T* b, index_t ldb, T* c, index_t ldc, int m_rem,
                             int n_rem, T alpha, T beta, TileEpilogue<T> ep);

// One column sliver of C (all m rows, MR at a time) from unpacked operands: A element (i, p) at
// a[i * ars + p * acs], B row p at b + p * ldb (NR readable columns: B's own, or a packed, zero-padded
// edge sliver), the first n_rem columns stored. For small products whose operands sit in L1 anyway.
template <class T>
using DirectKernel = void (*)(index_t kc, const T* a, index_t ars, index_t acs, const T* b, index_t ldb, T* c,
                              index_t ldc, index_t m, int n_rem, T alpha, T beta, TileEpilogue<T> ep);

// The whole product without packing, for products so small that packing would cost more than it
// saves (a tiny network's layers, or a layer of width 1).
template <class T>
using SmallGemm = void (*)(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a,
                           index_t lda, const T* b, index_t ldb, T beta, T* c, index_t ldc);

// Packs rows [0, mc) x depth [0, kc) of A (element (i, p) at a[i * rs + p * cs]) into MR-tall slivers,
// each stored p-major: sliver[p * MR + i]. Rows past mc are zero so edge tiles need no special case.
template <class T>
using PackA = void (*)(const T* a, index_t rs, index_t cs, index_t mc, index_t kc, T* out);

// Packs depth [0, kc) x columns [s0 * NR, min(s1 * NR, nc)) of B (element (p, j) at b[p * rs + j * cs])
// into NR-wide slivers stored p-major; sliver s starts at out + s * kc * NR. Columns past nc are zero.
template <class T>
using PackB = void (*)(const T* b, index_t rs, index_t cs, index_t kc, index_t nc, index_t s0, index_t s1, T* out);

// A small network's dense layer without any product call (small_net.h has what they compute).
template <class T>
using LayerForward = void (*)(index_t rows, index_t in, index_t out, const T* x, index_t ldx, const T* w, const T* b,
                              T* z);
template <class T>
using LayerBackward = void (*)(index_t rows, index_t in, index_t out, const T* x, index_t ldx, const T* w, const T* g,
                               T* gw, T* gb, T* gx);

template <class T>
struct GemmKernel {
  const char* isa;
  int mr, nr;  // tile shape: MR rows of A, NR columns of B
  MicroKernel<T> kernel;
  DirectKernel<T> direct;
  DirectKernel<T> direct_narrow;  // 2 MR rows x NR / 2 columns: a sliver of at most NR / 2 columns
  SmallGemm<T> small;
  PackA<T> pack_a;  // packing is compiled with the kernel, so its copies use the same vector width
  PackB<T> pack_b;
  LayerForward<T> layer_forward;    // the small path's layer: compiled with the kernel, so it fuses
  LayerBackward<T> layer_backward;  // a*b+c and reads x as small_gemm does
};

namespace isa_generic {
GemmKernel<float> kernel_f32();
GemmKernel<double> kernel_f64();
}  // namespace isa_generic
namespace isa_avx2 {
GemmKernel<float> kernel_f32();
GemmKernel<double> kernel_f64();
}  // namespace isa_avx2
namespace isa_avx512 {
GemmKernel<float> kernel_f32();
GemmKernel<double> kernel_f64();
}  // namespace isa_avx512

}  // namespace fastmlp
