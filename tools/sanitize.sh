#!/usr/bin/env bash
# Builds the extension with AddressSanitizer + UndefinedBehaviorSanitizer and runs the test suite
# against it, in a private virtual environment (so no installed fastmlp can shadow the sanitized one).
# The interpreter itself is not instrumented, so libasan is preloaded and leak checking is off.
#   tools/sanitize.sh [WORKDIR] [pytest args...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
shift || true
mkdir -p "$work"

if [ ! -x "$work/venv/bin/python" ]; then
  python3 -m venv "$work/venv"
  "$work/venv/bin/python" -m pip install --quiet --upgrade pip
  "$work/venv/bin/python" -m pip install --quiet numpy pytest hypothesis pybind11 cmake ninja
fi
py="$work/venv/bin/python"

flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
cmake -S "$root" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFASTMLP_CUDA=OFF \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_MODULE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -Dpybind11_DIR="$("$py" -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$py" \
  -DSKBUILD_PROJECT_VERSION=0.0.0+asan >/dev/null
cmake --build "$work/build"

rm -rf "$work/site" && mkdir -p "$work/site"
cp -r "$root/python/fastmlp" "$work/site/"
cp "$work/build"/_core*.so "$work/site/fastmlp/"

asan="$(gcc -print-file-name=libasan.so)"
ubsan="$(gcc -print-file-name=libubsan.so)"
cd "$root"
echo "running the suite under ASan+UBSan (${asan})"
LD_PRELOAD="$asan $ubsan" \
ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1" \
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
PYTHONPATH="$work/site" \
  "$py" -m pytest tests -q -p no:cacheprovider "$@"
