# Sourced by tools/sanitize.sh and tools/cuda_emulate.sh: a build of the extension beside the installed
# one. Sets root (the checkout), work (WORKDIR, the first argument, or a fresh temporary folder) and py
# (a private virtual environment's python, so that no installed fastmlp can shadow the side build),
# and defines install_site: the package plus the side build's _core into "$work/site", for PYTHONPATH.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
if [ ! -x "$work/venv/bin/python" ]; then
  python3 -m venv "$work/venv"
  "$work/venv/bin/python" -m pip install --quiet --upgrade pip
  "$work/venv/bin/python" -m pip install --quiet numpy pytest hypothesis pybind11 cmake ninja scikit-learn
fi
py="$work/venv/bin/python"

install_site() {
  rm -rf "$work/site" && mkdir -p "$work/site"
  cp -r "$root/python/fastmlp" "$work/site/"
  cp "$work/build"/_core*.so "$work/site/fastmlp/"
}
