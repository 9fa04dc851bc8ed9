// Boundary checks for the bindings: every array that reaches a kernel has passed through here, so
// kernels may assume floating dtype, C-contiguous aligned memory, matching shapes and finite values.
// Each failure is a Python exception (TypeError for the kind of thing, ValueError for its value) that
// names the argument, what was expected and, where there is one, the fix.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "bindings/activation_args.h"
#include "bindings/names.h"
#include "fastmlp/ops.h"

namespace fastmlp {
namespace py = pybind11;

inline std::string shape_str(const py::array& a) {
  std::ostringstream os;
  os << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) os << (i ? ", " : "") << a.shape(i) << (a.ndim() == 1 ? "," : "");
  os << ")";
  return os.str();
}

// Whether an array's bytes are in this machine's order (read from its descriptor, no Python call:
// every array that reaches a kernel asks it).
inline bool native_byte_order(const py::array& a) {
  const char order = py::detail::array_descriptor_proxy(a.dtype().ptr())->byteorder;
  const std::uint16_t probe = 1;
  unsigned char low;
  std::memcpy(&low, &probe, 1);
  return order == '=' || order == '|' || order == (low == 1 ? '<' : '>');
}

inline DType dtype_of(const py::array& a, const char* name) {
  const py::dtype dt = a.dtype();
  if (dt.kind() == 'f' && dt.itemsize() == 4) return DType::f32;
  if (dt.kind() == 'f' && dt.itemsize() == 8) return DType::f64;
  std::string got = py::str(dt);
  type_error(std::string(name) + " has dtype " + got + "; expected float32 or float64 (convert it, e.g. " + name +
             ".astype(numpy.float32))");
}

// An array the kernel only reads: any array-like of float32/float64; a non-contiguous, misaligned or
// negatively strided view is copied into a fresh C-contiguous array (same values, so nothing silent).
inline py::array input_array(py::handle obj, const char* name) {
  if (obj.is_none()) type_error(std::string(name) + " is None; expected a float array");
  py::array a = py::array::ensure(obj);
  if (!a) {
    PyErr_Clear();
    type_error(std::string(name) + " is not array-like (got " + std::string(py::str(py::type::handle_of(obj))) + ")");
  }
  dtype_of(a, name);
  // Byte-swapped data (e.g. '>f4' read from a file) is converted to native order: a copy like any other.
  if (!native_byte_order(a))
    return py::module_::import("numpy").attr("ascontiguousarray")(a, a.dtype().attr("newbyteorder")("="));
  constexpr int want = py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | py::detail::npy_api::NPY_ARRAY_ALIGNED_;
  if ((a.flags() & want) != want) a = py::array::ensure(a, want);
  return a;
}

// An array a kernel writes into: it must already be what the kernel needs, since a copy would leave
// the caller's array unchanged without a word.
inline py::array output_array(py::handle obj, const char* name) {
  if (!py::isinstance<py::array>(obj))
    type_error(std::string(name) + " must be a numpy.ndarray (it is updated in place)");
  py::array a = py::reinterpret_borrow<py::array>(obj);
  dtype_of(a, name);
  constexpr int want = py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | py::detail::npy_api::NPY_ARRAY_ALIGNED_;
  if ((a.flags() & want) != want)
    value_error(std::string(name) +
                " must be C-contiguous and aligned because it is updated in place; "
                "pass numpy.ascontiguousarray(" +
                name + ") and keep that array");
  if (!a.writeable()) value_error(std::string(name) + " is read-only; it is updated in place");
  if (!native_byte_order(a))
    value_error(std::string(name) + " is byte-swapped (dtype " + std::string(py::str(a.dtype())) +
                "); it is updated in place, so pass an array in native byte order");
  return a;
}

inline void check_ndim(const py::array& a, const char* name, int ndim, const char* layout) {
  if (a.ndim() != ndim)
    value_error(std::string(name) + " must be " + std::to_string(ndim) + "-D " + layout + ", got shape " +
                shape_str(a));
}

inline void check_same_dtype(const py::array& a, const char* a_name, const py::array& ref, const char* ref_name) {
  if (dtype_of(a, a_name) != dtype_of(ref, ref_name))
    type_error(std::string(a_name) + " has dtype " + std::string(py::str(a.dtype())) + " but " + ref_name + " has " +
               std::string(py::str(ref.dtype())) + "; all arrays of one call share a dtype");
}

// max |a| read off the bits: with the sign bit cleared, a finite float's bits order as its magnitude,
// and every Inf or NaN lies above the largest finite one. One integer max over the array (the compiler
// vectorizes it; a float max would not be, for NaN's sake) tells both whether all is finite and max |a|.
template <class T>
inline auto max_abs_bits(const T* p, py::ssize_t n) {
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  constexpr Bits kMagnitude = ~Bits(0) >> 1;
  Bits largest = 0;
  for (py::ssize_t i = 0; i < n; ++i) {
    Bits b;
    std::memcpy(&b, p + i, sizeof(T));
    b &= kMagnitude;
    largest = b > largest ? b : largest;
  }
  return largest;
}

template <class T>
inline void check_finite_typed(const py::array& a, const char* name, double* max_abs) {
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  const T* p = static_cast<const T*>(a.data());
  const py::ssize_t n = a.size();
  Bits largest = 0;
  // In slices of 2^22 elements, with a look at Python's signals between them (the GIL is held here).
  constexpr py::ssize_t kSlice = py::ssize_t(1) << 22;
  for (py::ssize_t at = 0; at < n; at += kSlice) {
    if (at > 0 && PyErr_CheckSignals() != 0) throw py::error_already_set();
    largest = std::max(largest, max_abs_bits(p + at, std::min(kSlice, n - at)));
  }
  T top;
  std::memcpy(&top, &largest, sizeof(T));
  if (!std::isfinite(top)) {  // find the first offender for the message
    for (py::ssize_t i = 0; i < n; ++i)
      if (!std::isfinite(p[i])) {
        std::ostringstream os;
        os << name << " contains " << (std::isnan(p[i]) ? "NaN" : "Inf") << " (first at flat index " << i
           << "); remove or impute non-finite values first";
        value_error(os.str());
      }
  }
  if (max_abs) *max_abs = double(top);
}

// Refuses NaN and Inf; with max_abs, also gives max |a| (found in the same pass).
inline void check_finite(const py::array& a, const char* name, double* max_abs = nullptr) {
  if (dtype_of(a, name) == DType::f32)
    check_finite_typed<float>(a, name, max_abs);
  else
    check_finite_typed<double>(a, name, max_abs);
}

// An input that must be finite: the common case for data and parameters.
inline py::array finite_input(py::handle obj, const char* name) {
  py::array a = input_array(obj, name);
  check_finite(a, name);
  return a;
}

template <class T>
inline Matrix<const T> cmat(const py::array& a) {
  const index_t rows = a.ndim() >= 1 ? a.shape(0) : 1;
  const index_t cols = a.ndim() >= 2 ? a.shape(1) : 1;
  return Matrix<const T>(static_cast<const T*>(a.data()), rows, cols);
}
template <class T>
inline Matrix<T> mmat(py::array& a) {
  const index_t rows = a.ndim() >= 1 ? a.shape(0) : 1;
  const index_t cols = a.ndim() >= 2 ? a.shape(1) : 1;
  return Matrix<T>(static_cast<T*>(a.mutable_data()), rows, cols);
}

// ---- names -> enums (the tables are in names.h; activations with parameters: activation_args.h) ----
inline ActivationSpec activation_spec(const std::string& name, double negative_slope) {
  return parse_activation_spec(name, negative_slope);
}

}  // namespace fastmlp
