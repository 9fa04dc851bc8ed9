// The register-tiled GEMM microkernel, compiled once per instruction set (gemm_kernel_<isa>.cpp) and
// chosen at run time by gemm.cpp. A kernel multiplies one packed MR x kc sliver of A by one packed
// kc x NR sliver of B and writes C = alpha * A*B + beta * C on an MR x NR tile (or the part of it that
// lies inside C: edge tiles are computed whole and stored partially).
#pragma once
#include "fastmlp/tensor.h"

namespace fastmlp {

template <class T>
using MicroKernel = void (*)(index_t kc, const T* a_packed, const T* b_packed, T* c, index_t ldc,
                             int m_rem, int n_rem, T alpha, T beta);

template <class T>
struct GemmKernel {
  const char* isa;
  int mr, nr;  // tile shape: MR rows of A, NR columns of B
  MicroKernel<T> kernel;
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
