// General matrix multiply, C = alpha * op(A) op(B) + beta * C, row-major, for float and double.
// The classic blocked scheme (Goto & van de Geijn, "Anatomy of high-performance matrix multiplication",
// 2008): a kc x nc panel of B and an mc x kc block of A are packed into contiguous slivers, and a
// register-tiled microkernel (gemm_kernel.inc) sweeps them. Packing reads A and B through (row, col)
// strides, so a transposed operand costs nothing extra: dense_backward never materializes x^T or W^T.
// Products too small to repay packing skip it (all of it, or B's when few rows of A share it), and
// gemm_bias_act finishes each tile with the dense layer's bias and activation. Each element of C is owned by one work
// item and summed in one fixed k order, so the result is bitwise the same whatever the thread count.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastmlp/ops.h"
#include "fastmlp/parallel.h"
#include "gemm_kernel.h"
#include "small_net.h"

namespace fastmlp {
namespace {

// Block sizes, measured on a 2-core Zen 4 (1 MB L2 per core; see benchmarks/RESULTS.md). A deep panel
// pays: each tile's C is loaded and stored once per panel, and with k <= kKC only once in all. The
// A block (32 x 1024) and one B sliver (1024 x NR) are 128 KB each at 4 bytes, so both stay in L2
// while the microkernel streams them; kc = 256 (slivers in L1) was 10-15% slower.
constexpr index_t kKC = 1024;                          // depth of a packed panel
constexpr index_t kMCTiles = 4;                        // an A block is 4 microkernel tiles tall
constexpr index_t kNC = 4096;                          // width of a packed B panel (L3 / memory)
constexpr index_t kDirectDepth = 256;                  // deepest product that may skip packing (see gemm below)
constexpr index_t kBInPlaceRows = 512;                 // most rows of A for which B is read unpacked (see gemm below)
constexpr double kSmallWork = 16.0 * 16.0 * 16.0;      // multiply-adds below which packing does not pay
constexpr double kDirectWork = 128.0 * 128.0 * 128.0;  // below which a product runs on one thread

// The three compiled variants of the microkernel, per element type.
template <class T>
struct Variants;
template <>
struct Variants<float> {
  static GemmKernel<float> generic() { return isa_generic::kernel_f32(); }
  static GemmKernel<float> avx2() { return isa_avx2::kernel_f32(); }
  static GemmKernel<float> avx512() { return isa_avx512::kernel_f32(); }
};
template <>
struct Variants<double> {
  static GemmKernel<double> generic() { return isa_generic::kernel_f64(); }
  static GemmKernel<double> avx2() { return isa_avx2::kernel_f64(); }
  static GemmKernel<double> avx512() { return isa_avx512::kernel_f64(); }
};

// The best variant this CPU runs, or the one `isa` names. A name that is not one of the variants, or
// one this CPU cannot run, is refused: a silent fallback to the portable kernel would cost 5-10x.
template <class T>
GemmKernel<T> pick(const char* isa) {
  const std::string want = isa ? isa : "";
  if (!(want.empty() || want == "auto" || want == "generic" || want == "avx2" || want == "avx512"))
    throw std::invalid_argument("FASTMLP_ISA='" + want +
                                "' is not an instruction set of fastmlp's GEMM; use generic, avx2, avx512 or "
                                "auto (lower case), or unset it");
  if (want == "generic") return Variants<T>::generic();
#if defined(FASTMLP_X86)
  __builtin_cpu_init();
  const bool avx512 =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (want == "avx512" && avx512) return Variants<T>::avx512();
  if (want == "avx2" && avx2) return Variants<T>::avx2();
  if (want.empty() || want == "auto") {
    if (avx512) return Variants<T>::avx512();
    if (avx2) return Variants<T>::avx2();
    return Variants<T>::generic();
  }
#else
  if (want.empty() || want == "auto") return Variants<T>::generic();
#endif
  throw std::invalid_argument("FASTMLP_ISA=" + want + " but this CPU (or this build) cannot run " + want +
                              "; use auto, or unset it");
}

// The kernel is chosen once per process; FASTMLP_ISA=generic|avx2|avx512 forces a path (tests use it
// to check every path against the reference on a machine that has them all).
template <class T>
const GemmKernel<T>& kernel() {
  static const GemmKernel<T> k = pick<T>(std::getenv("FASTMLP_ISA"));
  return k;
}

// Buffers that grow to the largest size seen and are then reused: no allocation per call in steady
// state. thread_local because two Python threads may run GEMMs at the same time.
template <class T>
T* scratch(std::vector<T>& buf, size_t n) {
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// What gemm_bias_act adds to a plain product: a bias added to every row of C and an activation applied
// to C, both done on each tile as the microkernel stores it (see in_store and after_store).
template <class T>
struct Epilogue {
  const T* bias = nullptr;  // none: plain gemm
  ActivationSpec act;
  bool active() const { return bias != nullptr; }
};

// The part of the epilogue the microkernel does in its store: the bias after the first panel (C was
// stored with beta = 0 there, so acc + bias rounds as bias + 1 * acc did) and a ReLU or leaky ReLU after
// the last.
template <class T>
TileEpilogue<T> in_store(const Epilogue<T>& ep, index_t j0, bool first, bool last) {
  TileEpilogue<T> t;
  if (!ep.active()) return t;
  if (first) t.bias = ep.bias + j0;
  if (last && fused_in_store(ep.act.kind)) {
    t.act = ep.act.kind;
    t.slope = T(ep.act.negative_slope);
  }
  return t;
}

// The rest, after the last panel's store: the activations the store does not do (step, sigmoid, tanh),
// with activation_forward's own code, on rows x cols of C.
template <class T>
void after_store(const Epilogue<T>& ep, T* c, index_t ldc, index_t rows, index_t cols, bool last) {
  const Activation kind = ep.act.kind;
  if (!ep.active() || !last || kind == Activation::identity || fused_in_store(kind)) return;
  for (index_t i = 0; i < rows; ++i) activation_forward<T>(ep.act, c + i * ldc, c + i * ldc, cols);
}

template <class T>
void gemm_impl(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda,
               const T* b, index_t ldb, T beta, T* c, index_t ldc, const Epilogue<T>& ep) {
  if (m == 0 || n == 0) return;
  const GemmKernel<T>& kern = kernel<T>();
  // Small products, and thin ones whose edge tiles would be mostly padding, skip packing. The
  // choice depends on the shape only, never on the thread count, so results stay reproducible.
  const double work = double(m) * double(n) * double(k);
  // A layer of width 1 (n == 1) is a matrix-vector product: a packed 8 x NR tile would be 1/NR useful,
  // so it always takes the small path's dot (or axpy, for op(A) = A^T) loops.
  const bool small =
      work <= kSmallWork ||
      (n == 1 && (work <= 64.0 * kSmallWork || (!trans_b && (trans_a ? ldc == 1 : ldb == 1 && k >= 16))));
  if (ep.active() && (small || k == 0)) {  // C = bias row by row, accumulate, then the activation
    for (index_t i = 0; i < m; ++i) std::copy(ep.bias, ep.bias + n, c + i * ldc);
    if (k > 0) kern.small(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, T(1), c, ldc);
    if (ep.act.kind != Activation::identity)
      for (index_t i = 0; i < m; ++i) activation_forward<T>(ep.act, c + i * ldc, c + i * ldc, n);
    return;
  }
  if (k == 0 || alpha == T(0)) {  // C = beta * C, without reading C when beta == 0
    for (index_t i = 0; i < m; ++i)
      for (index_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    return;
  }
  if (small) {
    kern.small(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  const int mr = kern.mr, nr = kern.nr;
  const index_t ars = trans_a ? 1 : lda, acs = trans_a ? lda : 1;
  // Products that one thread does anyway, with one k panel and B's rows contiguous, skip packing:
  // their operands already sit in cache, and packing them would cost as much as the product (a small
  // network's layers, or the parts of a cut batch). A last sliver narrower than NR (a width of 100, say)
  // is packed alone, with zero columns, so the kernel never reads past B's rows. Same k order, same bits.
  thread_local std::vector<T> b_buf;
  if (!trans_b && k <= kDirectDepth && work < kDirectWork) {
    for (index_t j0 = 0; j0 < n; j0 += nr) {  // one B sliver (k x NR) stays in L1 across the rows of A
      const int n_rem = int(std::min<index_t>(nr, n - j0));
      const T* sliver = b + j0;
      index_t ld = ldb;
      if (n_rem < nr) {
        T* packed = scratch(b_buf, size_t(k) * size_t(nr));
        kern.pack_b(b + j0, ldb, 1, k, n_rem, 0, 1, packed);
        sliver = packed;
        ld = nr;
      }
      // A sliver of at most NR / 2 columns (a few classes' outputs) takes the half-width kernel, twice as
      // tall: half the padded columns, the same sums.
      (n_rem <= nr / 2 ? kern.direct_narrow : kern.direct)(k, a, ars, acs, sliver, ld, c + j0, ldc, m, n_rem, alpha,
                                                           beta, in_store(ep, j0, true, true));
    }
    after_store(ep, c, ldc, m, n, true);  // whole rows: C is small enough to be in L1 still
    return;
  }
  const index_t brs = trans_b ? 1 : ldb, bcs = trans_b ? ldb : 1;
  const index_t mc_max = kMCTiles * mr;
  // With few rows of A, each B sliver serves few tiles, and packing B costs about what it saves: the
  // microkernel then reads whole NR-wide slivers of B where they lie, and only a narrower last sliver is
  // packed (with zero columns). Same sums, same bits.
  const bool b_in_place = !trans_b && m <= kBInPlaceRows;

  const int threads = threads_for(work);
  const size_t b_size = size_t(std::min(kKC, k)) * size_t(b_in_place ? nr : (std::min(kNC, n) + nr - 1) / nr * nr);
  T* b_packed = scratch(b_buf, b_size);
  // Every thread's A block, allocated here: nothing may throw inside the parallel region below.
  thread_local std::vector<T> a_buf;
  const size_t a_block = size_t(mc_max) * size_t(kKC);
  T* a_blocks = scratch(a_buf, a_block * size_t(threads));

  for (index_t jc = 0; jc < n; jc += kNC) {
    const index_t nc = std::min(kNC, n - jc);
    const index_t n_slivers = (nc + nr - 1) / nr;
    for (index_t pc = 0; pc < k; pc += kKC) {
      poll_interrupt();  // between panels (a 4096^3 product has 4 per column block, ~0.1 s each)
      const index_t kc = std::min(kKC, k - pc);
      const T beta_here = pc == 0 ? beta : T(1);
      const T* a_panel = a + pc * acs;
      const T* b_panel = b + pc * brs + jc * bcs;
      const index_t edge = b_in_place && nc % nr != 0 ? n_slivers - 1 : -1;  // the packed narrow sliver
      if (edge >= 0) kern.pack_b(b_panel + edge * nr, brs, 1, kc, nc - edge * nr, 0, 1, b_packed);

      // Work items: (A block, column chunk) pairs. With few A blocks (a small batch), the columns are
      // split instead so both cores still have work.
      const index_t m_blocks = (m + mc_max - 1) / mc_max;
      index_t n_chunks = std::max<index_t>(1, (threads + m_blocks - 1) / m_blocks);
      n_chunks = std::min(n_chunks, n_slivers);
      const index_t items = m_blocks * n_chunks;
      const index_t slivers_per_chunk = (n_slivers + n_chunks - 1) / n_chunks;

      // Ctrl-C is polled between work items too (a panel of a big product takes ~0.1-0.5 s): the thread
      // that sees it keeps the exception, the others skip their remaining items, and it is rethrown
      // after the region.
      std::exception_ptr interrupted;
      std::atomic<bool> stop{false};
#pragma omp parallel num_threads(threads) if (threads > 1)
      {
        if (!b_in_place) {
#pragma omp for schedule(static)
          for (index_t s = 0; s < n_slivers; ++s) kern.pack_b(b_panel, brs, bcs, kc, nc, s, s + 1, b_packed);
        }

        T* a_packed = a_blocks + a_block * size_t(team_rank());
#pragma omp for schedule(static)
        for (index_t item = 0; item < items; ++item) {
          if (stop.load(std::memory_order_relaxed)) continue;
          try {
            poll_interrupt();
          } catch (...) {
#pragma omp critical(fastmlp_gemm_interrupt)
            if (!interrupted) interrupted = std::current_exception();
            stop.store(true);
            continue;
          }
          const index_t ib = item / n_chunks, chunk = item % n_chunks;
          const index_t ic = ib * mc_max;
          const index_t mc = std::min(mc_max, m - ic);
          const index_t s0 = chunk * slivers_per_chunk;
          const index_t s1 = std::min(n_slivers, s0 + slivers_per_chunk);
          if (s0 >= s1) continue;
          kern.pack_a(a_panel + ic * ars, ars, acs, mc, kc, a_packed);
          for (index_t s = s0; s < s1; ++s) {
            const index_t j0 = s * nr;
            const int n_rem = int(std::min<index_t>(nr, nc - j0));
            const TileEpilogue<T> tile_ep = in_store(ep, jc + j0, pc == 0, pc + kc == k);
            for (index_t i0 = 0; i0 < mc; i0 += mr) {
              const int m_rem = int(std::min<index_t>(mr, mc - i0));
              T* tile = c + (ic + i0) * ldc + jc + j0;
              if (s == edge)
                kern.kernel(kc, a_packed + i0 * kc, b_packed, nr, tile, ldc, m_rem, n_rem, alpha, beta_here, tile_ep);
              else if (b_in_place)
                kern.kernel(kc, a_packed + i0 * kc, b_panel + j0, brs, tile, ldc, m_rem, n_rem, alpha, beta_here,
                            tile_ep);
              else
                kern.kernel(kc, a_packed + i0 * kc, b_packed + s * kc * nr, nr, tile, ldc, m_rem, n_rem, alpha,
                            beta_here, tile_ep);
              after_store(ep, tile, ldc, m_rem, n_rem, pc + kc == k);
            }
          }
        }
      }
      if (interrupted) std::rethrow_exception(interrupted);
    }
  }
}

}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda, const T* b,
          index_t ldb, T beta, T* c, index_t ldc) {
  gemm_impl(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, Epilogue<T>{});
}

template <class T>
void gemm_bias_act(index_t m, index_t n, index_t k, const T* a, index_t lda, const T* b, index_t ldb, const T* bias,
                   ActivationSpec act, T* c, index_t ldc) {
  gemm_impl(false, false, m, n, k, T(1), a, lda, b, ldb, T(0), c, ldc, Epilogue<T>{bias, act});
}

template <class T>
const char* gemm_isa() {
  return kernel<T>().isa;
}

namespace small {
template <class T>
void dense_forward(index_t rows, index_t in, index_t out, const T* x, index_t ldx, const T* w, const T* b, T* z) {
  kernel<T>().layer_forward(rows, in, out, x, ldx, w, b, z);
}
template <class T>
void dense_backward(index_t rows, index_t in, index_t out, const T* x, index_t ldx, const T* w, const T* g, T* gw,
                    T* gb, T* gx) {
  if (rows == 0) {  // the kernel's sums start from their first row: none is all zeros
    std::fill(gw, gw + in * out, T(0));
    std::fill(gb, gb + out, T(0));
    return;
  }
  kernel<T>().layer_backward(rows, in, out, x, ldx, w, g, gw, gb, gx);
}
#define FASTMLP_INSTANTIATE(T)                                                                          \
  template void dense_forward<T>(index_t, index_t, index_t, const T*, index_t, const T*, const T*, T*); \
  template void dense_backward<T>(index_t, index_t, index_t, const T*, index_t, const T*, const T*, T*, T*, T*);
FASTMLP_INSTANTIATE(float)
FASTMLP_INSTANTIATE(double)
#undef FASTMLP_INSTANTIATE
}  // namespace small

template void gemm<float>(bool, bool, index_t, index_t, index_t, float, const float*, index_t, const float*, index_t,
                          float, float*, index_t);
template void gemm<double>(bool, bool, index_t, index_t, index_t, double, const double*, index_t, const double*,
                           index_t, double, double*, index_t);
template void gemm_bias_act<float>(index_t, index_t, index_t, const float*, index_t, const float*, index_t,
                                   const float*, ActivationSpec, float*, index_t);
template void gemm_bias_act<double>(index_t, index_t, index_t, const double*, index_t, const double*, index_t,
                                    const double*, ActivationSpec, double*, index_t);
template const char* gemm_isa<float>();
template const char* gemm_isa<double>();

}  // namespace fastmlp
