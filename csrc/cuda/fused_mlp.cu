// The fused step kernel: one launch runs a whole training step's forward, loss and backward for every
// layer of a narrow float32 MLP (all widths <= 128; the plan is fastmlp/fused_plan.h), so a step is
// this launch plus the update (fused_update.cu) instead of ~10 launches per layer on the GEMM path.
//
// Layout. A block of 256 threads takes a tile of R rows (R = 64, 32 or 16: the largest whose
// activations fit in shared memory) and keeps in shared memory, for the backward pass, the input tile
// (gathered through the epoch's order inside the kernel: no gather launch) and every layer's output,
// plus two gradient tiles. Weights are read from global memory, where every block reads the same
// ones: they stay in L1/L2 (a 128 x 128 layer is 64 KiB). Each thread computes a 4 x 4 register tile
// of its layer's output: 4 rows (q) times 4 columns spaced `groups` apart, so the 32 threads of a warp
// read 32 neighbouring weights (one coalesced line) and the same few activation rows (a broadcast).
// Per k it loads 8 values for 16 multiply-adds.
//
// Two versions, side by side until a GPU has measured them (fastmlp/fused_plan.h picks; benchmarks/
// bench_gpu.py times both): version 1 reads each layer's weights from global memory; version 2
// (FASTMLP_FUSED_KERNEL=2) first copies them into shared memory, rows padded by one float so that
// input_grads' column reads hit 32 different banks, at the price of fewer rows per tile.
//
// tiny-cuda-nn's FullyFusedMLP, for comparison (half precision, tensor-core fragments): a block owns
// 16 x N rows, each warp a 16-column slice of a layer's output with its weights in registers, the
// activations in shared memory padded against bank conflicts; its weight gradients are separate
// split-K GEMMs over activations written to global memory. Here the weight gradients are in the kernel
// too: each block adds its tiles' a^T g into its own slot of global memory (no atomics), and
// fused_update adds the slots in slot order, so the sum, and the fit, has the same bits on every run.
//
// Napkin math (width 128, 4 hidden layers, batch 2^14, an H200: R = 64, 256 blocks): 6 x 66 K
// parameters x 16 K rows = 6.4 GFLOP a step, ~0.1 ms at 60 TFLOP/s; the slots add a write and a read of
// 256 x 66 K floats (68 MB, ~15 us at 4.8 TB/s), the rows a read of 2^14 x 129 floats. The weights are
// the open question: the activations take nearly all the shared memory, so little is left for L1, and
// each tile re-reads its layer's weights from L2, one float per 4 multiply-adds (2 FLOP per byte: near
// 20 TFLOP/s at ~10 TB/s of L2). Staging each layer's weights in shared memory instead, with fewer
// activations kept there (tiny-cuda-nn writes its forward activations to global memory), is the next
// version to try once benchmarks/bench_gpu.py has measured this one on a GPU.
#include <algorithm>
#include <mutex>
#include <vector>

#include "block_sum.cuh"
#include "common.cuh"
#include "fastmlp/activation_math.h"
#include "fastmlp/dropout.h"
#include "fastmlp/loss_math.h"
#include "fused_mlp.cuh"

namespace fastmlp {
namespace cuda {
namespace {

constexpr int kMaxTileRows = kFusedRowChoices[0];

// acc[i][c] = sum over t < len of a(i, t) b(c, t), t in order: a thread's 4 x 4 register tile of a
// product. The loaders return 0 outside the operands, so edge tiles need no other test.
template <class LoadA, class LoadB>
__device__ void tile_product(int len, LoadA a, LoadB b, float (&acc)[4][4]) {
  for (int i = 0; i < 4; ++i)
    for (int c = 0; c < 4; ++c) acc[i][c] = 0.0f;
  for (int t = 0; t < len; ++t) {
    float av[4], bv[4];
    for (int i = 0; i < 4; ++i) av[i] = a(i, t);
    for (int c = 0; c < 4; ++c) bv[c] = b(c, t);
    for (int i = 0; i < 4; ++i)
      for (int c = 0; c < 4; ++c) acc[i][c] += av[i] * bv[c];
  }
}

// out (n x m) = act(in (n x k) w (k x m) + b), w's rows ldw apart: thread tiles of rows r0..r0+3 and
// columns j0 + c groups.
__device__ void layer_forward(const float* in, float* out, const float* w, int ldw, const float* __restrict__ b, int k,
                              int m, int n, Activation act, const ActivationParams<float>& ap) {
  const int groups = (m + 3) / 4, quads = (n + 3) / 4;
  for (int e = threadIdx.x; e < quads * groups; e += blockDim.x) {
    const int r0 = 4 * (e / groups), j0 = e % groups;
    float acc[4][4];
    tile_product(
        k, [&](int i, int t) { return r0 + i < n ? in[(r0 + i) * k + t] : 0.0f; },
        [&](int c, int t) { return j0 + c * groups < m ? w[t * ldw + j0 + c * groups] : 0.0f; }, acc);
    for (int i = 0; i < 4 && r0 + i < n; ++i)
      for (int c = 0; c < 4 && j0 + c * groups < m; ++c) {
        const int j = j0 + c * groups;
        out[(r0 + i) * m + j] = activation_value(act, acc[i][c] + b[j], ap);  // the GEMM path's order
      }
  }
}

// The block's slot of dL/dw (k x m) and dL/db (m) gets a^T g and the column sums of g over the tile's n
// rows (rows in order); `first`: the block's first tile writes the slot, later ones add to it.
__device__ void weight_grads(const float* a, const float* g, int k, int m, int n, float* gw, float* gb, bool first) {
  const int groups = (m + 3) / 4, quads = (k + 3) / 4;
  for (int e = threadIdx.x; e < quads * groups; e += blockDim.x) {
    const int t0 = 4 * (e / groups), j0 = e % groups;
    float acc[4][4];
    tile_product(
        n, [&](int i, int r) { return t0 + i < k ? a[r * k + t0 + i] : 0.0f; },
        [&](int c, int r) { return j0 + c * groups < m ? g[r * m + j0 + c * groups] : 0.0f; }, acc);
    for (int i = 0; i < 4 && t0 + i < k; ++i)
      for (int c = 0; c < 4 && j0 + c * groups < m; ++c) {
        float& slot = gw[(t0 + i) * m + j0 + c * groups];
        slot = first ? acc[i][c] : slot + acc[i][c];
      }
  }
  for (int j = threadIdx.x; j < m; j += blockDim.x) {
    float s = 0.0f;
    for (int r = 0; r < n; ++r) s += g[r * m + j];
    gb[j] = first ? s : gb[j] + s;
  }
}

// Where the previous layer has a dropout rate: its tile holds the output after dropout, a' = a / (1 - p)
// or 0, and the gradient goes through the same mask (recomputed from the row and unit). The derivative
// reads a back as a' (1 - p), within a rounding of the output itself.
struct TileDropout {
  std::uint32_t threshold = 0;  // 0: no dropout
  float scale = 1.0f;
  std::uint64_t seed = 0;
  std::int64_t step = 0;
  std::uint32_t layer = 0;
  const index_t* src = nullptr;  // the tile's data rows
  __device__ bool keeps(int r, int j, int width) const {
    return dropout_keeps(seed, step, layer, std::uint64_t(src[r]) * std::uint64_t(width) + std::uint64_t(j), threshold);
  }
};

// gin (n x k) = (g (n x m) w^T) * act'(a), a = the previous layer's output: the gradient one layer down.
__device__ void input_grads(const float* g, const float* w, int ldw, const float* a, int k, int m, int n,
                            Activation act, const ActivationParams<float>& ap, float* gin, const TileDropout& drop) {
  const int groups = (k + 3) / 4, quads = (n + 3) / 4;
  for (int e = threadIdx.x; e < quads * groups; e += blockDim.x) {
    const int r0 = 4 * (e / groups), t0 = e % groups;
    float acc[4][4];
    tile_product(
        m, [&](int i, int j) { return r0 + i < n ? g[(r0 + i) * m + j] : 0.0f; },
        [&](int c, int j) { return t0 + c * groups < k ? w[(t0 + c * groups) * ldw + j] : 0.0f; }, acc);
    for (int i = 0; i < 4 && r0 + i < n; ++i)
      for (int c = 0; c < 4 && t0 + c * groups < k; ++c) {
        const int at = (r0 + i) * k + t0 + c * groups;
        if (drop.threshold == 0)
          gin[at] = activation_grad_saved(act, a[at], acc[i][c], ap);
        else if (drop.keeps(r0 + i, t0 + c * groups, k))
          gin[at] = activation_grad_saved(act, a[at] / drop.scale, acc[i][c] * drop.scale, ap);
        else
          gin[at] = 0.0f;
      }
  }
}

// Version 2's weights: layer's w (k x m, global) copied into shared memory with rows m + 1 apart (the
// padding puts input_grads' 32 reads of a column, one row each, in 32 different banks). Returns where
// the layer reads its weights and sets ldw; version 1 reads them from global memory.
__device__ const float* layer_weights(const float* __restrict__ w, int k, int m, float* staged, int& ldw) {
  if (!staged) {
    ldw = m;
    return w;
  }
  ldw = m + 1;
  for (int e = threadIdx.x; e < k * m; e += blockDim.x) staged[(e / m) * ldw + e % m] = w[e];
  __syncthreads();
  return staged;
}

// The tile's loss (summed, times loss.factor) for this thread's share, and g = scale d(loss)/dz of
// the output layer (the loss's gradient times its activation's derivative, read off the output p).
__device__ double loss_tile(const FusedLoss& loss, const float* p, const float* __restrict__ y, const index_t* src,
                            int n, int m, const double* __restrict__ class_weight, double scale, Activation act,
                            const ActivationParams<float>& ap, float* g) {
  double local = 0.0;
  if (loss.kind == Loss::cross_entropy) {  // one row per thread (loss_math.h's row function)
    for (int r = threadIdx.x; r < n; r += blockDim.x) {
      float* gr = g + r * m;
      local += loss.factor * cross_entropy_row<float>(p + r * m, y + src[r] * loss.tcols, m, loss.labels, class_weight,
                                                      loss.factor * scale, gr);
      for (int j = 0; j < m; ++j) gr[j] = activation_grad_saved(act, p[r * m + j], gr[j], ap);
    }
    return local;
  }
  const float coef = float(loss_grad_coefficient(loss.kind, scale) * loss.factor);
  for (int e = threadIdx.x; e < n * m; e += blockDim.x) {
    const int r = e / m, j = e % m;
    const float pv = p[e], tv = y[src[r] * m + j];
    local += loss.factor * loss_term(loss.kind, double(pv), double(tv), double(loss.delta));
    g[e] = activation_grad_saved(act, pv, loss_grad_term<float>(loss.kind, pv, tv, coef, loss.delta), ap);
  }
  return local;
}

__global__ void __launch_bounds__(kFusedThreads)
    fused_step_kernel(FusedNet net, FusedLoss loss, int tile_rows, bool stage_weights, const float* __restrict__ params,
                      const float* __restrict__ x, const float* __restrict__ y, const std::int64_t* __restrict__ order,
                      index_t first, index_t rows, const double* __restrict__ class_weight, double scale,
                      float* __restrict__ slots, double* __restrict__ loss_slots, FusedDropout dropout,
                      const std::int64_t* __restrict__ step_at) {
  FASTMLP_DYNAMIC_SHARED(float, smem);
  __shared__ index_t src[kMaxTileRows];  // the data rows of the tile
  const int L = net.layers, R = tile_rows;
  // Shared memory: act[0] = the input tile, act[l + 1] = layer l's output (R rows each), then two
  // gradient tiles as wide as the widest layer.
  float* act[kFusedMaxLayers + 1];
  int widest = 0;
  float* at = smem;
  for (int l = 0; l <= L; ++l) {
    act[l] = at;
    at += R * net.width[l];
    widest = widest > net.width[l] ? widest : net.width[l];
  }
  float* grad_a = at;
  float* grad_b = at + R * widest;
  float* staged = stage_weights ? grad_b + R * widest : nullptr;
  float* slot = slots + index_t(blockIdx.x) * net.params;
  const index_t tiles = (rows + R - 1) / R;
  const std::int64_t step = dropout.any ? *step_at : 0;
  // Layer l's dropout as the tile sees it (threshold 0: none, and never the output layer).
  auto tile_dropout = [&](int l) {
    TileDropout d;
    if (dropout.any && l < L - 1)
      d = {dropout.threshold[l], dropout.scale[l], dropout.seed, step, std::uint32_t(l), src};
    return d;
  };
  double loss_sum = 0.0;
  for (index_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const index_t row0 = first + tile * R;
    const int n = int(first + rows - row0 < R ? first + rows - row0 : R);
    const bool first_tile = tile == index_t(blockIdx.x);
    for (int r = threadIdx.x; r < n; r += blockDim.x) src[r] = order ? order[row0 + r] : row0 + r;
    __syncthreads();
    const int in = net.width[0];
    for (int e = threadIdx.x; e < n * in; e += blockDim.x) act[0][e] = x[src[e / in] * in + e % in];
    __syncthreads();
    for (int l = 0; l < L; ++l) {
      int ldw;
      const float* w = layer_weights(params + net.w_off[l], net.width[l], net.width[l + 1], staged, ldw);
      layer_forward(act[l], act[l + 1], w, ldw, params + net.b_off[l], net.width[l], net.width[l + 1], n, net.act[l],
                    net.param[l]);
      __syncthreads();
      const TileDropout d = tile_dropout(l);
      if (d.threshold != 0) {  // the output after dropout, as the CPU's Dropout::apply computes it
        const int m = net.width[l + 1];
        for (int e = threadIdx.x; e < n * m; e += blockDim.x)
          act[l + 1][e] = d.keeps(e / m, e % m, m) ? act[l + 1][e] * d.scale : 0.0f;
        __syncthreads();
      }
    }
    loss_sum +=
        loss_tile(loss, act[L], y, src, n, net.width[L], class_weight, scale, net.act[L - 1], net.param[L - 1], grad_a);
    __syncthreads();
    float *g = grad_a, *g_next = grad_b;
    for (int l = L - 1; l >= 0; --l) {  // g: dL/dz of layer l
      int ldw = 0;
      const float* w =
          l > 0 ? layer_weights(params + net.w_off[l], net.width[l], net.width[l + 1], staged, ldw) : nullptr;
      weight_grads(act[l], g, net.width[l], net.width[l + 1], n, slot + net.w_off[l], slot + net.b_off[l], first_tile);
      if (l > 0)
        input_grads(g, w, ldw, act[l], net.width[l], net.width[l + 1], n, net.act[l - 1], net.param[l - 1], g_next,
                    tile_dropout(l - 1));
      __syncthreads();
      float* done = g;
      g = g_next;
      g_next = done;
    }
  }
  block_sum<kFusedThreads>(loss_sum, loss_slots);
}

}  // namespace

index_t fused_blocks(index_t rows, int tile_rows) {
  return std::min<index_t>(kFusedMaxSlots, (rows + tile_rows - 1) / tile_rows);
}

std::size_t fused_shared_limit() {
  int device = 0, optin = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  // The kernel's static arrays as the compiler laid them out (not as counted here by hand).
  cudaFuncAttributes attributes{};
  CUDA_CHECK(cudaFuncGetAttributes(&attributes, fused_step_kernel));
  const std::size_t fixed = attributes.sharedSizeBytes;
  return std::size_t(optin) > fixed ? std::size_t(optin) - fixed : 0;
}

void fused_allow_shared_memory() {
  // Past 48 KiB a kernel must ask for its dynamic shared memory, once per device (the attribute
  // belongs to the kernel in each device's context, and devices may differ in what they allow).
  static std::mutex mutex;
  static std::vector<bool> done;
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(mutex);
  if (size_t(device) < done.size() && done[size_t(device)]) return;
  CUDA_CHECK(
      cudaFuncSetAttribute(fused_step_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(fused_shared_limit())));
  if (done.size() <= size_t(device)) done.resize(size_t(device) + 1, false);
  done[size_t(device)] = true;
}

void fused_step(const FusedNet& net, const FusedLoss& loss, const FusedPlan& plan, const float* params, const float* x,
                const float* y, const std::int64_t* order, index_t first, index_t rows, const double* class_weight,
                double scale, float* slots, double* loss_slots, const FusedDropout& dropout, const std::int64_t* step,
                cudaStream_t stream) {
  std::vector<LayerShape> shapes;
  for (int l = 0; l < net.layers; ++l) shapes.push_back({net.width[l], net.width[l + 1]});
  FASTMLP_LAUNCH_ON(fused_step_kernel, unsigned(fused_blocks(rows, plan.rows)), kFusedThreads,
                    fused_shared_bytes(shapes, plan.rows, plan.staged_weights),
                    stream)(net, loss, plan.rows, plan.staged_weights, params, x, y, order, first, rows, class_weight,
                            scale, slots, loss_slots, dropout, step);
  CUDA_CHECK_LAUNCH();
}

}  // namespace cuda
}  // namespace fastmlp
