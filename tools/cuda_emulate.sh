#!/usr/bin/env bash
# Runs the CUDA tests against the CUDA backend's own source compiled as C++ and executed on the CPU by
# tools/cuda_emu (FASTMLP_CUDA_EMULATE=ON): kernels, launch geometry, split-K, reductions, the host
# wrappers and the on-device trainer, checked here without a GPU. It proves the logic, not the speed,
# and not what only hardware shows; tools/gpu_check.sh is the proof on a real device.
#   tools/cuda_emulate.sh [WORKDIR] [pytest args...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
shift || true
mkdir -p "$work"

if [ ! -x "$work/venv/bin/python" ]; then
  python3 -m venv "$work/venv"
  "$work/venv/bin/python" -m pip install --quiet --upgrade pip
  "$work/venv/bin/python" -m pip install --quiet numpy pytest pybind11 cmake ninja
fi
py="$work/venv/bin/python"

cmake -S "$root" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFASTMLP_CUDA=OFF -DFASTMLP_CUDA_EMULATE=ON \
  -Dpybind11_DIR="$("$py" -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$py" \
  -DSKBUILD_PROJECT_VERSION=0.0.0+cudaemu >/dev/null
cmake --build "$work/build"

rm -rf "$work/site" && mkdir -p "$work/site"
cp -r "$root/python/fastmlp" "$work/site/"
cp "$work/build"/_core*.so "$work/site/fastmlp/"

cd "$root"
PYTHONPATH="$work/site" "$py" -c "import fastmlp; print(fastmlp._core.cuda_device_description())"
PYTHONPATH="$work/site" "$py" -m pytest tests/test_cuda_ops.py tests/test_cuda_train.py tests/test_memory.py \
  tests/test_devices.py -q -p no:cacheprovider -rs "$@"
