#!/usr/bin/env bash
# The one-call GPU proof, for a machine with an NVIDIA GPU (the device machine has no network; it has
# pybind11, scikit-build-core, cmake, ninja, numpy, pytest and torch). It prints the card, builds
# fastmlp for sm_90 without build isolation, runs the CUDA tests, runs compute-sanitizer's memcheck on
# small cases of every kernel, benchmarks against PyTorch CUDA, then runs racecheck and synccheck on
# the fused kernel (the one that shares memory between threads). Everything is also written under
# $OUT (default: a temporary folder), as it goes, so that a run cut off by its time limit still returns
# what it measured: each phase's seconds in phases.txt, at most 8 files in all. Exits 2 at once when
# there is no GPU, 1 when there is no nvcc or the build fails.
#
# `--rehearse WORKDIR` runs the same phases on a machine without a GPU, the emulated build standing in
# for the device (tools/cuda_emulate.sh's WORKDIR, built first with CUDA_EMULATE_BUILD_ONLY=1: its
# private Python and its site): the card is the emulated one, the build phase takes that build, the
# tests phase runs memcheck's selection, compute-sanitizer is a stand-in that runs its command without
# a device tool, and the benchmark runs `--smoke`. Everything else — limits, logs, the archive, the
# summary, the exit status — is the device run's own code (tests/test_gpu_check.py rehearses it).
#
# Time: the whole run keeps within GPU_CHECK_SECONDS (default 540, under the device call's 600). Each
# phase has its own limit, cut so that the phases after it keep at least their minimum; what a phase
# leaves unused goes to the next. `--dry-run` prints the phases, limits and minimums and exits (checked
# by tests/test_gpu_check.py, with `--memcheck-selection` and `--racecheck-selection`).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
status=0
# Output as it happens, and none of the machine's other pytest plugins (they may not import there).
export PYTHONUNBUFFERED=1 PYTEST_DISABLE_PLUGIN_AUTOLOAD=1
# memcheck's tests, one group per kernel family (tests/test_gpu_check.py collects each group).
memcheck_selection() {
  local groups=(
    "(dense_forward and float32 and (1-1-1 or 3-17-5))"
    "(dense_backward and float32 and (1-1-1 or 3-17-5))"
    "(matmul_matches_reference_and_cpu and (1-1-1 or 3-17-5))"
    "(activations and float64 and -3])"
    "(test_cuda_losses and float64 and -3])"
    "(classification_losses and float64 and -3-3])"
    "(init_draws and float64 and 17)"
    "(optimizer_update and 17)"
    "(float64_matches_reference and 7)"
    "deterministic"
    "(reference_and_cpu and (adam-3-48-6 or sgd-129-128-1))"
    "more_tiles"
    "(cuda_dropout_fit and 4-tanh)"
    "(fused_dropout_fit and 5-relu)"
  )
  local IFS="|"
  echo "${groups[*]}" | sed 's/|/ or /g'
}
# racecheck and synccheck: the fused step kernel (shared-memory tiles, barriers between layers), on a
# few small fits that cover its tile tails, several layers, Adam, and dropout inside the kernel.
racecheck_selection() {
  echo "(reference_and_cpu and (sgd-3-16-1 or adam-3-48-6)) or (fused_dropout_fit and 5-relu)"
}
# Phase: name, limit (s), minimum kept for it (s). In the order they run.
PHASES=(
  "build:240:90"
  "tests:180:60"
  "memcheck:120:30"
  "benchmark:120:30"
  "racecheck:90:20"
  "synccheck:60:15"
)
BUDGET="${GPU_CHECK_SECONDS:-540}"
REHEARSE=""
case "${1:-}" in
  --memcheck-selection) memcheck_selection; exit 0 ;;
  --racecheck-selection) racecheck_selection; exit 0 ;;
  --dry-run)
    echo "budget: $BUDGET s"
    for p in "${PHASES[@]}"; do IFS=: read -r name limit minimum <<<"$p"; echo "phase $name: limit $limit s, minimum $minimum s"; done
    exit 0 ;;
  --rehearse)
    REHEARSE="$(cd "${2:?--rehearse needs the WORKDIR of an emulated build}" && pwd)"
    [ -x "$REHEARSE/venv/bin/python" ] && [ -d "$REHEARSE/site/fastmlp" ] \
      || { echo "gpu_check: $REHEARSE holds no emulated build (CUDA_EMULATE_BUILD_ONLY=1 tools/cuda_emulate.sh $REHEARSE)" >&2; exit 1; } ;;
  "") ;;
  *) echo "gpu_check: unknown option $1" >&2; exit 1 ;;
esac
PY=python3
tests_k=()
bench_args=()
if [ -n "$REHEARSE" ]; then
  PY="$REHEARSE/venv/bin/python"
  export PYTHONPATH="$REHEARSE/site${PYTHONPATH:+:$PYTHONPATH}"
  tests_k=(-k "$(memcheck_selection)")
  bench_args=(--smoke)
  stubs="$(mktemp -d)"
  trap 'rm -rf "$stubs"' EXIT
  cat >"$stubs/compute-sanitizer" <<'STUB'
#!/usr/bin/env bash
# The rehearsal's stand-in: runs the command with no device tool, and says so where the tool reports.
while [ $# -gt 0 ]; do case "$1" in --tool | --error-exitcode) shift 2 ;; *) break ;; esac; done
"$@"
rc=$?
echo "========= ERROR SUMMARY: 0 errors (rehearsal: ran without compute-sanitizer)"
exit $rc
STUB
  chmod +x "$stubs/compute-sanitizer"
fi
deadline=$(( $(date +%s) + BUDGET ))
# The seconds phase $1 may take now: its limit, or less, so that every later phase keeps its minimum.
limit_for() {
  local after=0 found=0 name limit minimum mine=0
  for p in "${PHASES[@]}"; do
    IFS=: read -r name limit minimum <<<"$p"
    if [ "$found" = 1 ]; then after=$((after + minimum)); fi
    if [ "$name" = "$1" ]; then found=1; mine=$limit; fi
  done
  local left=$(( deadline - $(date +%s) - after - 5 ))  # 5 s for the summary
  [ "$left" -lt "$mine" ] && mine=$left
  [ "$mine" -lt 1 ] && mine=1
  echo "$mine"
}
phase_start=$(date +%s)
phase_name=""
step() {
  local now
  now=$(date +%s)
  [ -n "$phase_name" ] && echo "$phase_name: $((now - phase_start)) s" >>"$OUT/phases.txt"
  phase_name="$*"
  phase_start=$now
  echo
  echo "=== $* ==="
}
# timeout's exit status 124 (or 137 after its kill) said as what it is.
said() { case "$1" in 124 | 137) echo "gpu_check: $2 ran past its time limit (exit $1)" | tee -a "$OUT/phases.txt" ;; esac; }

if [ -z "$REHEARSE" ] && { ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; }; then
  echo "gpu_check: no NVIDIA GPU here (nvidia-smi is missing or lists no device); nothing to check" >&2
  exit 2
fi
step "card"
if [ -n "$REHEARSE" ]; then
  echo "rehearsal on the emulated device in $REHEARSE" | tee "$OUT/device.txt"
else
  nvidia-smi 2>&1 | tee "$OUT/device.txt"
fi

step "build (sm_90, no build isolation)"
for d in /usr/local/cuda/bin /usr/local/cuda-*/bin; do [ -x "$d/nvcc" ] && PATH="$PATH:$d"; done
export PATH
if command -v nvcc >/dev/null 2>&1; then
  nvcc --version 2>&1 | tail -n 2 | tee -a "$OUT/device.txt"
elif [ -z "$REHEARSE" ]; then
  echo "gpu_check: no nvcc on PATH or under /usr/local/cuda*: a build would have no CUDA backend" | tee -a "$OUT/device.txt" >&2
  exit 1
fi
start=$(date +%s)
if [ -n "$REHEARSE" ]; then
  echo "rehearsal: the emulated build in $REHEARSE/site" >"$OUT/build.log"
  rc=0
else
  CUDAARCHS=90 timeout "$(limit_for build)" "$PY" -m pip install --no-build-isolation --no-deps \
    --disable-pip-version-check -q . -Ccmake.define.FASTMLP_CUDA=ON -Ccmake.define.CMAKE_CUDA_ARCHITECTURES=90 \
    -Cbuild-dir=build/gpu-check >"$OUT/build.log" 2>&1
  rc=$?
fi
said "$rc" "the build"
[ "$rc" -eq 0 ] || { tail -50 "$OUT/build.log"; echo "gpu_check: build failed" >&2; exit 1; }
echo "built in $(( $(date +%s) - start )) s"
"$PY" -c "import fastmlp; print('cuda_built', fastmlp.cuda_built(), 'cuda_available', fastmlp.cuda_available()); \
print(fastmlp._core.cuda_device_description())" 2>&1 | tee -a "$OUT/device.txt"
# A build without CUDA would skip every CUDA test and pass: that is a failure here.
"$PY" -c "import fastmlp, sys; sys.exit(not fastmlp.cuda_available())" \
  || { grep -i "cuda" "$OUT/build.log" | tail -5; echo "gpu_check: the build has no usable CUDA backend" >&2; exit 1; }

step "CUDA tests"
timeout "$(limit_for tests)" "$PY" -m pytest tests/test_cuda_ops.py tests/test_cuda_train.py tests/test_cuda_fused.py tests/test_memory.py \
  tests/test_devices.py "${tests_k[@]}" \
  -q -p no:cacheprovider -rs --maxfail=20 2>&1 | tee "$OUT/pytest_cuda.txt"
rc=${PIPESTATUS[0]}
said "$rc" "the CUDA tests"
[ "$rc" -eq 0 ] || status=1

step "compute-sanitizer memcheck (short test)"
sanitizer="$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -n 1)"
[ -n "$REHEARSE" ] && sanitizer="$stubs/compute-sanitizer"
if [ -n "$sanitizer" ]; then
  # Small cases of every kernel: GEMM edges, dense forward and backward, activations, losses, init, every
  # optimizer, fits with gather and clipping, the fused step, dropout on both paths (about 160 tests;
  # tests/test_gpu_check.py checks that each group still selects some). Some runtimes (gVisor) refuse
  # the tool: reported, not counted as a failure.
  timeout "$(limit_for memcheck)" "$sanitizer" --tool memcheck --error-exitcode 3 "$PY" -m pytest tests/test_cuda_ops.py \
    tests/test_cuda_train.py tests/test_cuda_fused.py -q -p no:cacheprovider -k "$(memcheck_selection)" \
    >"$OUT/memcheck_full.txt" 2>&1
  rc=$?
  said "$rc" "memcheck"
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
timeout "$(limit_for benchmark)" "$PY" benchmarks/bench_gpu.py "${bench_args[@]}" --json "$OUT/bench_gpu.json" 2>&1 | tee "$OUT/bench_gpu.txt"
rc=${PIPESTATUS[0]}
said "$rc" "the benchmark"
[ "$rc" -eq 0 ] || status=1

# racecheck (shared-memory hazards between a block's threads) and synccheck (barriers misused: divergent
# __syncthreads), on the fused kernel. Their reports go to hazards.txt, after memcheck's device check.
: >"$OUT/hazards.txt"
for tool in racecheck synccheck; do
  step "compute-sanitizer $tool (fused kernel)"
  if [ -z "$sanitizer" ] || grep -q "Device not supported" "$OUT/memcheck_full.txt" 2>/dev/null; then
    echo "$tool skipped: no compute-sanitizer for this device" | tee -a "$OUT/hazards.txt"
    continue
  fi
  timeout "$(limit_for $tool)" "$sanitizer" --tool "$tool" --error-exitcode 3 "$PY" -m pytest tests/test_cuda_fused.py \
    -q -p no:cacheprovider -k "$(racecheck_selection)" >"$OUT/$tool.log" 2>&1
  rc=$?
  said "$rc" "$tool"
  { echo "--- $tool (exit $rc)"; tail -15 "$OUT/$tool.log"; } | tee -a "$OUT/hazards.txt"
  [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] || status=1
done

step "summary"
grep -E "passed|failed|error" "$OUT/pytest_cuda.txt" | tail -n 1
grep -E "ERROR SUMMARY|memcheck skipped" "$OUT/memcheck.txt" | tail -n 1
grep -E "ERROR SUMMARY|RACECHECK SUMMARY|skipped|exit" "$OUT/hazards.txt"
tail -n 22 "$OUT/bench_gpu.txt"
# The full logs in one archive, so that $OUT stays at 8 files.
(cd "$OUT" && tar -czf logs.tar.gz $(ls build.log memcheck_full.txt racecheck.log synccheck.log 2>/dev/null) &&
  rm -f build.log memcheck_full.txt racecheck.log synccheck.log)
cat "$OUT/phases.txt"
exit $status
