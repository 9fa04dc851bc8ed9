"""tools/gpu_check.sh, the one-call GPU proof, checked where it cannot run: its shell is valid, and each
group of its compute-sanitizer selection still names tests that exist (a renamed test or parameter id
would otherwise leave a kernel family out of memcheck without a word)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "gpu_check.sh"
FILES = ["tests/test_cuda_ops.py", "tests/test_cuda_train.py", "tests/test_cuda_fused.py"]

pytestmark = pytest.mark.slow


def test_the_script_is_valid_shell():
    proc = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr


def _selection():
    proc = subprocess.run(["bash", str(SCRIPT), "--memcheck-selection"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


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
