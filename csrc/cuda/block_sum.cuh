// The block-wide sum of one double per thread, used by the deterministic reductions (loss.cu and the
// fused step's loss, fused_mlp.cu): a tree in shared memory in a fixed pattern, so the same values
// always give the same bits. Every thread of the block must call it (it meets barriers).
#pragma once
#include "common.cuh"

namespace fastmlp {
namespace cuda {

// Thread 0 writes the sum of the block's v into partial[blockIdx.x]. Threads: blockDim.x, a power of 2.
template <int Threads>
__device__ void block_sum(double v, double* partial) {
  __shared__ double s[Threads];
  s[threadIdx.x] = v;
  __syncthreads();
  for (int w = Threads / 2; w > 0; w /= 2) {
    if (int(threadIdx.x) < w) s[threadIdx.x] += s[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

}  // namespace cuda
}  // namespace fastmlp
