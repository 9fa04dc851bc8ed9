// What the binding files share: dtype dispatch, output allocation, the device choice and the kernel
// it selects. Each binding function validates its arguments (validate.h), makes its outputs, releases
// the GIL and calls the plain C++ ops of ops.h (or their CUDA twins of cuda_ops.h).
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <string>

#include "bindings/loss_args.h"
#include "bindings/validate.h"
#include "fastmlp/ops.h"
#ifdef FASTMLP_WITH_CUDA
#include "fastmlp/cuda_ops.h"
#endif

namespace fastmlp::bindings {
namespace py = pybind11;

// Calls f(T{}) with T = float or double according to dt.
template <class F>
auto dispatch(DType dt, F&& f) {
  if (dt == DType::f32) return f(float{});
  return f(double{});
}

template <class T>
py::array_t<T> empty2(index_t rows, index_t cols) {
  return py::array_t<T>({py::ssize_t(rows), py::ssize_t(cols)});
}

// true for "cuda", false for "cpu"; "auto" is CUDA when it can be used. A RuntimeError that says why
// when CUDA is asked for and cannot be used. (module.cpp)
bool use_cuda(const std::string& device);

// An optimizer's configuration as fastmlp.optim's config() gives it, parsed. (kernels.cpp)
OptimizerSpec optimizer_spec(const py::dict& d);

// The CPU kernel, or its CUDA twin (cuda_ops.h: same signature, host arrays) when gpu; `fn` names a
// template instance: on_device(gpu, dense_forward<T>)(args...).
#ifdef FASTMLP_WITH_CUDA
#define on_device(gpu, fn) ((gpu) ? &::fastmlp::cuda::fn : &::fastmlp::fn)
#else
template <class F>
F* cpu_kernel(bool /*gpu: always false here, use_cuda refused it*/, F* f) {
  return f;
}
#define on_device(gpu, fn) ::fastmlp::bindings::cpu_kernel(gpu, &::fastmlp::fn)
#endif

// The module's functions, by area.
void bind_kernels(py::module_& m);   // kernels.cpp: GEMM, dense, activations, losses, init, updates
void bind_networks(py::module_& m);  // network.cpp: whole-network forward, gradients, the guard's checks
void bind_trainer(py::module_& m);   // trainer.cpp: TrainOptions, Trainer, trainer_bytes, fused_plan
void bind_data(py::module_& m);      // data.cpp: the numeric CSV reader's fast path

}  // namespace fastmlp::bindings
