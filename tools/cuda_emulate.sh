#!/usr/bin/env bash
# Runs the CUDA tests against the CUDA backend's own source compiled as C++ and executed on the CPU by
# tools/cuda_emu (FASTMLP_CUDA_EMULATE=ON): kernels, launch geometry, split-K, reductions, the host
# wrappers and the on-device trainer, checked here without a GPU. It proves the logic, not the speed,
# and not what only hardware shows; tools/gpu_check.sh is the proof on a real device.
#   tools/cuda_emulate.sh [WORKDIR] [pytest args...]
# With CUDA_EMULATE_RACECHECK=1 every kernel's loads and stores are also checked for races
# (tools/cuda_emu/racecheck.cpp): a build of its own (use another WORKDIR), several times slower.
# With CUDA_EMULATE_BUILD_ONLY=1 it stops after the build (WORKDIR/site, for tools/gpu_check.sh --rehearse).
set -euo pipefail
source "$(dirname "$0")/side_build.sh"
shift || true

cmake -S "$root" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFASTMLP_CUDA=OFF -DFASTMLP_CUDA_EMULATE=ON \
  -DFASTMLP_CUDA_EMULATE_RACECHECK="$([ "${CUDA_EMULATE_RACECHECK:-0}" = 1 ] && echo ON || echo OFF)" \
  -Dpybind11_DIR="$("$py" -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$py" \
  -DSKBUILD_PROJECT_VERSION=0.0.0+cudaemu >/dev/null
cmake --build "$work/build"

install_site

cd "$root"
PYTHONPATH="$work/site" "$py" -c "import fastmlp; print(fastmlp._core.cuda_device_description())"
[ "${CUDA_EMULATE_BUILD_ONLY:-0}" = 1 ] && exit 0
PYTHONPATH="$work/site" "$py" -m pytest tests/test_cuda_ops.py tests/test_cuda_train.py tests/test_cuda_fused.py \
  tests/test_memory.py tests/test_data_parallel.py tests/test_devices.py -q -p no:cacheprovider -rs "$@"
