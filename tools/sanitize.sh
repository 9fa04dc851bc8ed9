#!/usr/bin/env bash
# Builds the extension with AddressSanitizer + UndefinedBehaviorSanitizer and runs the test suite
# against it, in a private virtual environment (so no installed fastmlp can shadow the sanitized one).
# The interpreter itself is not instrumented, so libasan is preloaded and leak checking is off.
#   tools/sanitize.sh [WORKDIR] [pytest args...]
set -euo pipefail
source "$(dirname "$0")/side_build.sh"
shift || true

flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
cmake -S "$root" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFASTMLP_CUDA=OFF \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_MODULE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -Dpybind11_DIR="$("$py" -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$py" \
  -DSKBUILD_PROJECT_VERSION=0.0.0+asan >/dev/null
cmake --build "$work/build"

install_site

asan="$(gcc -print-file-name=libasan.so)"
ubsan="$(gcc -print-file-name=libubsan.so)"
cd "$root"
echo "running the suite under ASan+UBSan (${asan})"
LD_PRELOAD="$asan $ubsan" \
ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1" \
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
PYTHONPATH="$work/site" \
  "$py" -m pytest tests -q -p no:cacheprovider "$@"
