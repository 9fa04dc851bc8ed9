// The GEMM microkernel for the avx512 instruction set (flags set per file in CMakeLists.txt).
#define FASTMLP_ISA_NS isa_avx512
#define FASTMLP_ISA_NAME "avx512"
#define FASTMLP_VEC_BYTES 64
#define FASTMLP_MR 8
#define FASTMLP_NV 2
#include "gemm_kernel.inc"
