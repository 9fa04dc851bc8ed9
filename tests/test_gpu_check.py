"""tools/gpu_check.sh, the one-call GPU proof, checked where it cannot run: its shell is valid, each
group of its compute-sanitizer selections still names tests that exist (a renamed test or parameter id
would otherwise leave a kernel family out of memcheck, or the fused kernel out of racecheck, without a
word), its phases fit the device call's 600 s, and a rehearsal of the whole run on the emulated build
(--rehearse) passes and leaves what a device run leaves under $OUT."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "gpu_check.sh"
FILES = ["tests/test_cuda_ops.py", "tests/test_cuda_train.py", "tests/test_cuda_fused.py"]

pytestmark = pytest.mark.slow


def test_the_script_is_valid_shell():
    proc = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr


def _run(option):
    proc = subprocess.run(["bash", str(SCRIPT), option], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _selection():
    return _run("--memcheck-selection")


def _collected(expression):
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *FILES, "-k", expression],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    return [line for line in proc.stdout.splitlines() if "::" in line]


def test_every_memcheck_group_selects_tests():
    groups = re.findall(r"\([^()]*(?:\([^()]*\)[^()]*)*\)|\b[a-z_]+\b(?= or |$)", _selection())
    assert len(groups) >= 12, groups
    empty = [g for g in groups if not _collected(g)]
    assert not empty, f"memcheck groups that select no test: {empty}"
    ids = _collected(_selection())
    families = {line.split("::")[1].split("[")[0] for line in ids}
    for name in ("dense_forward", "dense_backward", "activations", "losses", "init_draws", "optimizer_update",
                 "fused", "dropout"):  # fmt: skip
        assert any(name in f for f in families), (name, sorted(families))
    assert 60 <= len(ids) <= 250, len(ids)  # small enough for memcheck's 120 s


def test_racecheck_selects_small_fused_fits_with_dropout_and_several_layers():
    ids = _collected(_run("--racecheck-selection"))
    assert all("test_cuda_fused.py" in i for i in ids) and 4 <= len(ids) <= 12, ids
    assert any("dropout" in i for i in ids) and any("adam" in i and "-6]" in i for i in ids), ids


def test_the_phases_fit_the_device_call():
    out = _run("--dry-run")
    budget = int(re.search(r"budget: (\d+) s", out).group(1))
    phases = re.findall(r"phase (\w+): limit (\d+) s, minimum (\d+) s", out)
    names = [p[0] for p in phases]
    assert names == ["build", "tests", "memcheck", "benchmark", "racecheck", "synccheck"], names
    # Under the call's 600 s with room for the start and the copy back; every minimum fits at once, and no
    # phase's limit exceeds the budget.
    assert budget <= 560, budget
    assert sum(int(m) for _, _, m in phases) + 5 <= budget
    assert all(int(m) <= int(limit) <= budget for _, limit, m in phases)


@pytest.mark.emulated
def test_a_rehearsal_on_the_emulated_build_runs_every_phase_and_returns_its_files(tmp_path):
    # The device run's own code, with the emulated build standing in for the GPU (--rehearse): its phases,
    # limits, logs, archive, summary and exit status, so that the script cannot rot between device runs.
    # FASTMLP_EMU_WORKDIR names a work folder of tools/cuda_emulate.sh to reuse (its build is incremental).
    work = Path(os.environ.get("FASTMLP_EMU_WORKDIR") or tmp_path / "emu")
    built = subprocess.run(
        ["bash", str(ROOT / "tools" / "cuda_emulate.sh"), str(work)],
        env=dict(os.environ, CUDA_EMULATE_BUILD_ONLY="1"),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-4000:]
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FASTMLP_EMU", "PYTEST_"))}
    ran = subprocess.run(
        ["bash", str(SCRIPT), "--rehearse", str(work)],
        env=dict(env, OUT=str(out)),
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    log = ran.stdout[-6000:] + ran.stderr[-3000:]
    assert ran.returncode == 0, log
    phases = (out / "phases.txt").read_text()
    for name in ("card", "build", "CUDA tests", "memcheck", "benchmark", "racecheck", "synccheck"):
        assert re.search(rf"^[^\n]*{name}[^\n]*: \d+ s$", phases, re.M), (name, phases)
    assert "ran past its time limit" not in phases, phases
    files = sorted(p.name for p in out.iterdir())
    assert len(files) <= 8 and "logs.tar.gz" in files, files
    with tarfile.open(out / "logs.tar.gz") as tar:
        assert sorted(tar.getnames()) == ["build.log", "memcheck_full.txt", "racecheck.log", "synccheck.log"]
    tests = (out / "pytest_cuda.txt").read_text()
    assert re.search(r"\d+ passed", tests) and "failed" not in tests, tests[-2000:]
    bench = json.loads((out / "bench_gpu.json").read_text())
    assert bench["train"] and bench["gemm"]["n"] == 256, bench
    assert "=== summary ===" in ran.stdout and "ERROR SUMMARY: 0 errors" in ran.stdout, log
