#!/usr/bin/env bash
# The one-call GPU proof, for a machine with an NVIDIA GPU (the device machine has no network; it has
# pybind11, scikit-build-core, cmake, ninja, numpy, pytest and torch). It prints the card, builds
# fastmlp for sm_90 without build isolation, runs the CUDA tests, runs compute-sanitizer's memcheck on
# a short CUDA test, and runs the GPU benchmark against PyTorch CUDA. Everything is also written under
# $OUT (default: a temporary folder). Exits 2 at once when there is no GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
status=0
step() { echo; echo "=== $* ==="; }

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu_check: no NVIDIA GPU here (nvidia-smi is missing or lists no device); nothing to check" >&2
  exit 2
fi
step "card"
nvidia-smi 2>&1 | tee "$OUT/nvidia-smi.txt"

step "build (sm_90, no build isolation)"
for d in /usr/local/cuda/bin /usr/local/cuda-*/bin; do [ -x "$d/nvcc" ] && PATH="$PATH:$d"; done
export PATH
start=$(date +%s)
CUDAARCHS=90 python3 -m pip install --no-build-isolation --no-deps --disable-pip-version-check -q . \
  -Ccmake.define.FASTMLP_CUDA=ON -Ccmake.define.CMAKE_CUDA_ARCHITECTURES=90 -Cbuild-dir=build/gpu-check \
  >"$OUT/build.log" 2>&1 || { tail -50 "$OUT/build.log"; echo "gpu_check: build failed" >&2; exit 1; }
echo "built in $(( $(date +%s) - start )) s"
python3 -c "import fastmlp; print('cuda_built', fastmlp.cuda_built(), 'cuda_available', fastmlp.cuda_available()); \
print(fastmlp._core.cuda_device_description())" 2>&1 | tee "$OUT/device.txt"
# A build without CUDA would skip every CUDA test and pass: that is a failure here.
python3 -c "import fastmlp, sys; sys.exit(not fastmlp.cuda_available())" \
  || { grep -i "cuda" "$OUT/build.log" | tail -5; echo "gpu_check: the build has no usable CUDA backend" >&2; exit 1; }

step "CUDA tests"
timeout 180 python3 -m pytest tests/test_cuda_ops.py tests/test_cuda_train.py tests/test_cuda_fused.py tests/test_memory.py \
  tests/test_devices.py \
  -q -p no:cacheprovider -rs --maxfail=20 2>&1 | tee "$OUT/pytest_cuda.txt" || status=1

step "compute-sanitizer memcheck (short test)"
sanitizer="$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -n 1)"
if [ -n "$sanitizer" ]; then
  # Small cases of every kernel: GEMM edges, dense backward, losses, init, every optimizer, a fit with
  # gather and clipping. Some runtimes (gVisor) refuse the tool: reported, not counted as a failure.
  timeout 120 "$sanitizer" --tool memcheck --error-exitcode 3 python3 -m pytest tests/test_cuda_ops.py \
    tests/test_cuda_train.py tests/test_cuda_fused.py -q -p no:cacheprovider \
    -k "1-1-1 or 3-17-5 or (float64_matches_reference and 7) or deterministic or (optimizer_update and 17) \
        or (reference_and_cpu and (adam-3-48-6 or sgd-129-128-1)) or more_tiles" \
    >"$OUT/memcheck_full.txt" 2>&1
  rc=$?
  tail -25 "$OUT/memcheck_full.txt" | tee "$OUT/memcheck.txt"
  if grep -q "Device not supported" "$OUT/memcheck_full.txt"; then
    echo "memcheck skipped: compute-sanitizer does not support the device on this runtime" | tee -a "$OUT/memcheck.txt"
  elif [ $rc -ne 0 ]; then
    status=1
  fi
else
  echo "compute-sanitizer not found; memcheck skipped" | tee "$OUT/memcheck.txt"
fi

step "benchmark vs PyTorch CUDA"
timeout 150 python3 benchmarks/bench_gpu.py --json "$OUT/bench_gpu.json" 2>&1 | tee "$OUT/bench_gpu.txt" || status=1

step "summary"
grep -E "passed|failed|error" "$OUT/pytest_cuda.txt" | tail -n 1
grep -E "ERROR SUMMARY|memcheck skipped" "$OUT/memcheck.txt" | tail -n 1
tail -n 22 "$OUT/bench_gpu.txt"
exit $status
