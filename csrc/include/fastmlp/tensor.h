// A non-owning view of a row-major matrix. Every kernel takes these; who owns the memory (NumPy, a
// workspace, a CUDA allocation) is the caller's business. Nothing clever lives here on purpose.
#pragma once
#include <cstdint>
#include <type_traits>

namespace fastmlp {

using index_t = std::int64_t;

template <class T>
struct Matrix {
  T* data = nullptr;
  index_t rows = 0, cols = 0;
  index_t stride = 0;  // elements between the starts of two rows (>= cols)

  Matrix() = default;
  Matrix(T* d, index_t r, index_t c) : data(d), rows(r), cols(c), stride(c) {}
  Matrix(T* d, index_t r, index_t c, index_t s) : data(d), rows(r), cols(c), stride(s) {}

  T& operator()(index_t i, index_t j) const { return data[i * stride + j]; }
  T* row(index_t i) const { return data + i * stride; }
  index_t size() const { return rows * cols; }
  // A mutable view converts to a read-only one (and a read-only one is already that).
  template <class U = T, class = std::enable_if_t<!std::is_const_v<U>>>
  operator Matrix<const U>() const {
    return {data, rows, cols, stride};
  }
};

}  // namespace fastmlp
