// Activation derivatives on the GPU, read off the forward output (twin of the CPU's
// activation_backward_from_output; the forward activation is fused into gemm.cu's epilogue).
#include "common.cuh"
#include "kernels.cuh"

namespace fastmlp {
namespace cuda {
namespace {

template <class T>
__global__ void backward_from_output(Activation kind, const T* __restrict__ a, T* __restrict__ g, index_t n,
                                     T slope) {
  const index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const T ai = a[i];
  switch (kind) {
    case Activation::identity: break;
    case Activation::step: g[i] = T(0); break;
    case Activation::sigmoid: g[i] *= ai * (T(1) - ai); break;
    case Activation::tanh: g[i] *= T(1) - ai * ai; break;
    case Activation::relu: g[i] = ai > T(0) ? g[i] : T(0); break;
    case Activation::leaky_relu: g[i] = ai > T(0) ? g[i] : slope * g[i]; break;
  }
}

}  // namespace

template <class T>
void activation_backward_from_output(ActivationSpec act, const T* a, T* grad, index_t count) {
  if (count == 0 || act.kind == Activation::identity) return;
  backward_from_output<T><<<ceil_div(count, 256), 256>>>(act.kind, a, grad, count, T(act.negative_slope));
  CUDA_CHECK_LAUNCH();
}

template void activation_backward_from_output<float>(ActivationSpec, const float*, float*, index_t);
template void activation_backward_from_output<double>(ActivationSpec, const double*, double*, index_t);

}  // namespace cuda
}  // namespace fastmlp
