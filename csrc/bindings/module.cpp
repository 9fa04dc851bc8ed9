// fastmlp._core: the module itself (version, build facts, threads, devices); its functions are bound by
// area in kernels.cpp and network.cpp. Python's fastmlp.ops and fastmlp.MLP wrap them with keyword
// defaults and docs; nothing here is meant to be called by users directly.
#include <atomic>
#include <cstddef>
#include <string>
#include <utility>

#include "bindings/common.h"
#include "fastmlp/parallel.h"

namespace fastmlp::bindings {

bool use_cuda(const std::string& device) {
  if (device == "cpu") return false;
  if (device != "cuda" && device != "auto") value_error("device must be 'cpu', 'cuda' or 'auto', got '" + device + "'");
#ifndef FASTMLP_WITH_CUDA
  if (device == "auto") return false;
  throw std::runtime_error(
      "device='cuda' but this build of fastmlp has no CUDA kernels (no CUDA compiler was found when it was "
      "built, or FASTMLP_CUDA=OFF); reinstall with nvcc on PATH, or use device='cpu'");
#else
  const bool present = cuda::device_count() > 0;
  if (device == "auto") return present;
  if (!present) {
    const std::string why = cuda::device_count_error();
    throw std::runtime_error("device='cuda' but no CUDA device is available (" +
                             (why.empty() ? std::string("no GPU, or no driver") : "CUDA: " + why) +
                             "); use device='cpu'");
  }
  return true;
#endif
}

namespace {

// Installed as the library's interrupt check (parallel.h): runs Python's signal handlers for signals
// that arrived while a kernel ran. A Ctrl-C makes the default handler raise KeyboardInterrupt, which
// leaves here as error_already_set, unwinds the kernel, and is raised again at the binding boundary.
// Only the main thread handles signals, so other threads never take the GIL for it.
std::atomic<unsigned long> g_main_thread{0};

void raise_pending_interrupt() {
  if (PyThread_get_thread_ident() != g_main_thread.load(std::memory_order_relaxed)) return;
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

// name -> description of the canonical names, and alias -> canonical name, of one table of names.h.
template <class E, std::size_t N>
void export_table(py::dict& names, py::dict& aliases, const char* kind, const Named<E> (&table)[N]) {
  py::dict canonical, alias;
  for (const auto& entry : table) {
    if (entry.alias)
      alias[entry.name] = name_of(entry.value, table);
    else
      canonical[entry.name] = entry.doc;
  }
  names[kind] = canonical;
  aliases[kind] = alias;
}

int cuda_device_count() {
#ifdef FASTMLP_WITH_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

}  // namespace
}  // namespace fastmlp::bindings

PYBIND11_MODULE(_core, m) {
  using namespace fastmlp;
  using namespace fastmlp::bindings;
  m.doc() = "fastmlp's C++ kernels (private: use fastmlp.ops and fastmlp.MLP)";
  g_main_thread.store(py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>());
#ifdef FASTMLP_VERSION
  m.attr("__version__") = FASTMLP_VERSION;
#endif
#ifdef FASTMLP_WITH_CUDA
  m.attr("cuda_built") = true;
#else
  m.attr("cuda_built") = false;
#endif
  // The CUDA kernels run on the CPU (tools/cuda_emulate.sh's build): tests take smaller cases there.
#ifdef FASTMLP_CUDA_EMULATED
  m.attr("cuda_emulated") = true;
#else
  m.attr("cuda_emulated") = false;
#endif
  // A bad FASTMLP_ISA fails the import with its reason, not the first product.
  try {
    gemm_isa<float>();
    gemm_isa<double>();
  } catch (const std::invalid_argument& e) {
    throw py::import_error(e.what());
  }
  set_interrupt_check(&raise_pending_interrupt);
  py::dict names, aliases;
  export_table(names, aliases, "activation", kActivations);
  export_table(names, aliases, "loss", kLosses);
  export_table(names, aliases, "reduction", kReductions);
  export_table(names, aliases, "init", kInits);
  export_table(names, aliases, "optimizer", kOptimizers);
  export_table(names, aliases, "dtype", kDTypes);
  m.attr("names") = names;      // kind -> {name: description}, in the enums' order
  m.attr("aliases") = aliases;  // kind -> {alias: canonical name}
  m.def("get_num_threads", &get_num_threads);
  m.def("max_threads", &max_threads);
  m.def("forked_after_threads", &forked_after_threads);
  m.def("set_num_threads", [](long long n) {
    if (n < 1 || n > max_threads())
      value_error("set_num_threads needs 1 <= n <= " + std::to_string(max_threads()) +
                  " (4 per core this process "
                  "may use), got " +
                  std::to_string(n));
    if (n > 1 && forked_after_threads())
      throw std::runtime_error(
          "set_num_threads(" + std::to_string(n) +
          ") in a process made by fork() after its parent had started "
          "fastmlp's threads: OpenMP's threads do not survive fork, so fastmlp runs on one thread here. Start "
          "worker processes with multiprocessing.get_context('spawn') or 'forkserver' to use more threads.");
    set_num_threads(int(n));
  });
  m.def("gemm_isa", [](const std::string& dtype) -> std::string {
    return parse_dtype(dtype) == DType::f32 ? gemm_isa<float>() : gemm_isa<double>();
  });
  m.def("cuda_device_count", &cuda_device_count);
  m.def("check_device", &use_cuda, py::arg("device"),
        "True for 'cuda', False for 'cpu'; raises when the name is unknown or CUDA cannot be used");
  m.def("cuda_device_description", []() -> std::string {
    use_cuda("cuda");
#ifdef FASTMLP_WITH_CUDA
    return cuda::device_description();
#else
    return "";
#endif
  });
  m.def("cuda_memory_info", []() -> std::pair<std::size_t, std::size_t> {
    use_cuda("cuda");
    std::size_t free_bytes = 0, total_bytes = 0;
#ifdef FASTMLP_WITH_CUDA
    cuda::memory_info(free_bytes, total_bytes);
#endif
    return {free_bytes, total_bytes};
  });
  bind_kernels(m);
  bind_networks(m);
  bind_trainer(m);
  bind_data(m);
}
