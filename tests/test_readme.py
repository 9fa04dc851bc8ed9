"""README.md is executable documentation: each of its Python examples runs as a user would run it, saved
as a script and started with `python example_N.py` (the MPI example under `mpiexec -n 2 python -m mpi4py`
where mpiexec is installed), and the two commands it promises (the demo and the test command, each after
its HTML marker) are there and are what .ci/run executes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def readme_text():
    return README.read_text(encoding="utf-8")


def python_blocks(text):
    return re.findall(r"^```python[ \t]*\n(.*?)^```[ \t]*$", text, flags=re.S | re.M)


def command_after(marker, text):
    """The first line of the fenced block that follows `<!-- marker -->` (what .ci/run's awk takes)."""
    m = re.search(rf"<!-- {re.escape(marker)} -->[ \t]*\n```[a-z]*[ \t]*\n(.*?)\n", text)
    return m.group(1).strip() if m else None


def test_readme_has_python_examples():
    assert python_blocks(readme_text()), "README.md has no ```python block"


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(python_blocks(README.read_text(encoding="utf-8")))))
def test_readme_python_block_runs(tmp_path, index):
    code = python_blocks(readme_text())[index]
    if "sklearn" in code:  # an optional dependency (extra "sklearn"; the test extra installs it)
        pytest.importorskip("sklearn")
    if "onnx" in code:  # extra "onnx", which installs onnxruntime too to run the file (.ci/run installs both)
        pytest.importorskip("onnx", reason="the onnx package is not installed")
        pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    # Run as a saved script, not `python -c`: only a script shows what a user meets, such as process-based
    # workers (Dask's LocalCluster, multiprocessing) that re-import the main module and so need the
    # `if __name__ == "__main__":` guard.
    script = tmp_path / f"example_{index}.py"
    script.write_text(code, encoding="utf-8")
    cmd = [sys.executable, "-W", "error", script.name]
    if "dask" in code:  # extra "dask" (.ci/run installs it)
        pytest.importorskip("dask.distributed", reason="dask.distributed is not installed")
        # Its workers are other processes that inherit -W error, where a sweep's short fits may warn that
        # they did not converge, as scikit-learn's own do: warnings stay warnings there.
        cmd = [sys.executable, script.name]
    if "distributed.init()" in code:  # the data-parallel example: its files, and mpiexec when there is one
        pytest.importorskip("mpi4py", reason="mpi4py is not installed (extra 'mpi')")
        rng = np.random.default_rng(0)
        x = rng.standard_normal((1000, 8)).astype(np.float32)
        np.save(tmp_path / "X.npy", x)
        np.save(tmp_path / "y.npy", np.sin(x[:, :1]))
        mpiexec = shutil.which("mpiexec")
        if mpiexec:  # the launch the example documents: mpiexec -n P python -m mpi4py train.py
            cmd = [mpiexec, "-n", "2", sys.executable, "-m", "mpi4py", script.name]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (f"README python block {index} failed ({proc.returncode}):\n{code}\n"
                                  f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-3000:]}")


def test_readme_demo_command():
    cmd = command_after("demo-command", readme_text())
    assert cmd is not None, "no fenced block after <!-- demo-command -->"
    assert "fastmlp demo" in cmd, cmd
    assert re.search(r"pip install \.(\s|$)", cmd), cmd


def test_readme_test_command():
    cmd = command_after("test-command", readme_text())
    assert cmd is not None, "no fenced block after <!-- test-command -->"
    assert re.search(r"pip install ['\"]?\.\[test\]['\"]?", cmd), cmd
    assert "python -m pytest" in cmd, cmd


@pytest.mark.skipif(shutil.which("awk") is None, reason="needs awk, as .ci/run does")
def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    m = re.search(r"awk '([^']*)' README\.md", ci)
    assert m, ".ci/run no longer extracts the test command from README.md with awk"
    proc = subprocess.run(["awk", m.group(1), str(README)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == command_after("test-command", readme_text())
    assert 'bash -euo pipefail -c "$test_cmd"' in ci
