// The GEMM microkernel for the generic instruction set (flags set per file in CMakeLists.txt).
#define FASTMLP_ISA_NS isa_generic
#define FASTMLP_ISA_NAME "generic"
#define FASTMLP_VEC_BYTES 16
#define FASTMLP_MR 4
#define FASTMLP_NV 2
#include "gemm_kernel.inc"
