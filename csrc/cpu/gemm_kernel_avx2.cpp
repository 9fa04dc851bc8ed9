// The GEMM microkernel for the avx2 instruction set (flags set per file in CMakeLists.txt).
#define FASTMLP_ISA_NS isa_avx2
#define FASTMLP_ISA_NAME "avx2"
#define FASTMLP_VEC_BYTES 32
#define FASTMLP_MR 6
#define FASTMLP_NV 2
#include "gemm_kernel.inc"
