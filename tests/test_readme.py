"""README.md and the documentation are executable: each of their Python examples runs as a user would
run it, saved as a script and started with `python example_N.py` (the MPI example under `mpiexec -n 2
python -m mpi4py` where mpiexec is installed), and so does each lesson script of docs/gallery/, which
the documentation build runs to draw the lesson figures. The two commands README.md promises (the demo
and the test command, each after its HTML marker) are there and are what .ci/run executes, and the
documentation build .ci/run runs is the one docs/contributing.md states."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def readme_text():
    return README.read_text(encoding="utf-8")


def python_blocks(text):
    return re.findall(r"^```python[ \t]*\n(.*?)^```[ \t]*$", text, flags=re.S | re.M)


def command_after(marker, text):
    """The first line of the fenced block that follows `<!-- marker -->` (what .ci/run's awk takes)."""
    m = re.search(rf"<!-- {re.escape(marker)} -->[ \t]*\n```[a-z]*[ \t]*\n(.*?)\n", text)
    return m.group(1).strip() if m else None


def pages():
    """README.md and every Markdown page of docs/ (not the build's output)."""
    docs = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.relative_to(DOCS).parts)
    return [README] + docs


def examples():
    """(page relative to the repository, index of the block on its page) of every ```python block."""
    return [
        (page.relative_to(ROOT).as_posix(), i)
        for page in pages()
        for i in range(len(python_blocks(page.read_text(encoding="utf-8"))))
    ]


def gallery_scripts():
    return sorted(p.relative_to(ROOT).as_posix() for p in (DOCS / "gallery").glob("*.py"))


def test_readme_has_python_examples():
    assert python_blocks(readme_text()), "README.md has no ```python block"


def test_docs_have_python_examples():
    with_examples = {page for page, _ in examples()}
    assert len(with_examples) > 5, f"only {sorted(with_examples)} have ```python blocks"


@pytest.mark.slow
@pytest.mark.parametrize("page,index", examples(), ids=[f"{p}-{i}" for p, i in examples()])
def test_python_example_runs(tmp_path, page, index):
    code = python_blocks((ROOT / page).read_text(encoding="utf-8"))[index]
    if "sklearn" in code:  # an optional dependency (extra "sklearn"; the test extra installs it)
        pytest.importorskip("sklearn")
    if "onnx" in code:  # extra "onnx", which installs onnxruntime too to run the file (.ci/run installs both)
        pytest.importorskip("onnx", reason="the onnx package is not installed")
        pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    if "fastmlp.plots" in code or "matplotlib" in code:  # extra "plot" (the test extra installs it)
        pytest.importorskip("matplotlib")
    if "pandas" in code:  # the test extra installs it
        pytest.importorskip("pandas")
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
    assert proc.returncode == 0, (
        f"{page}: python block {index} failed ({proc.returncode}):\n{code}\n"
        f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-3000:]}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("script", gallery_scripts())
def test_lesson_gallery_script_runs(tmp_path, script):
    """What the documentation build runs to draw a lesson's figure (sphinx-gallery executes each script)."""
    pytest.importorskip("matplotlib")
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(ROOT / script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert proc.returncode == 0, f"{script} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}"
    assert proc.stdout.strip(), f"{script} printed no summary"


def test_every_lesson_has_a_gallery_script():
    from fastmlp.lessons import LESSONS

    scripts = "\n".join((ROOT / s).read_text(encoding="utf-8") for s in gallery_scripts())
    missing = [name for name in LESSONS if f'LESSONS["{name}"]' not in scripts]
    assert not missing, f"lessons without a script in docs/gallery/ (and so without a figure): {missing}"


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


def test_ci_builds_the_docs_with_the_documented_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    m = re.search(r"^(python -m sphinx .*)$", ci, flags=re.M)
    assert m, ".ci/run does not build the documentation"
    build = m.group(1).strip()
    assert "-W" in build.split() and "-n" in build.split(), build
    assert build in (DOCS / "contributing.md").read_text(encoding="utf-8"), "docs/contributing.md states another build"
    assert re.search(r'pip install --quiet "\.\[docs\]"', ci), ".ci/run does not install the docs extra"
