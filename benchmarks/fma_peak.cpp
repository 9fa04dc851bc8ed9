// The fp32 FMA peak of this machine, to put the GEMM's GFLOP/s in proportion: 12 independent chains of
// 512-bit fused multiply-adds per thread (enough to hide the FMA latency), on 1 and on 2 threads.
//   g++ -O3 -march=native -fopenmp benchmarks/fma_peak.cpp -o /tmp/fma_peak && /tmp/fma_peak
#include <initializer_list>
#include <immintrin.h>
#include <chrono>
#include <cstdio>
#include <omp.h>
int main() {
  const long iters = 200000000;
  for (int threads : {1, 2}) {
    double best = 0;
    for (int rep = 0; rep < 3; ++rep) {
      auto t0 = std::chrono::steady_clock::now();
      float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+:sink)
      {
        __m512 a[12];
        for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(1.0f + i * 1e-7f);
        const __m512 b = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
        for (long it = 0; it < iters / 12; ++it)
          for (int i = 0; i < 12; ++i) a[i] = _mm512_fmadd_ps(a[i], b, c);
        __m512 s = a[0];
        for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, a[i]);
        sink += _mm512_reduce_add_ps(s);
      }
      double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      double gf = double(iters / 12) * 12 * 16 * 2 * threads / sec / 1e9;
      if (gf > best) best = gf;
      if (sink == 42) std::printf("x");
    }
    std::printf("%d thread(s): %.1f GFLOP/s fp32 FMA peak\n", threads, best);
  }
}
