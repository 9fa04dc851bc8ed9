"""The `isolated` marker (the plugin tests/isolation.py) really contains crashes: a test that segfaults or
aborts fails alone, named with its signal, and the tests after it still run and report their own
outcomes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import UNDER_ASAN

CRASHING = """
import ctypes
import os

import pytest

pytestmark = pytest.mark.isolated


def test_segfault():
    ctypes.string_at(0)


def test_abort():
    os.abort()


def test_passes():
    assert os.getpid() > 0


def test_fails():
    assert 1 + 1 == 3, "arithmetic"


def test_skips():
    pytest.skip("not here")


def test_changes_stay_in_the_child():
    os.environ["FASTMLP_ISOLATION_PROBE"] = "set"


def test_sees_no_change_from_the_previous_test():
    assert "FASTMLP_ISOLATION_PROBE" not in os.environ
"""


@pytest.mark.slow
def test_isolated_tests_survive_crashes(tmp_path):
    # A run of its own, with the plugin alone (-p isolation, importable from this directory).
    (tmp_path / "test_crashing.py").write_text(textwrap.dedent(CRASHING))
    path = os.pathsep.join(p for p in (str(Path(__file__).parent), os.environ.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "isolation",
            "-p",
            "no:cacheprovider",
            "-rA",
            "-q",
            "-W",
            "ignore::pytest.PytestAssertRewriteWarning",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": path},
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "3 failed, 3 passed, 1 skipped" in out, out
    # Each crash is reported once in the FAILURES section; the short summary below it repeats the message,
    # cut to the terminal's width except on CI (pytest reads the CI variable), so it is checked apart.
    failures, _, summary = out.partition("short test summary info")
    assert failures.count("the test crashed its process: killed by signal") == 2, out
    for name in ("test_segfault", "test_abort", "test_fails"):
        assert f"FAILED test_crashing.py::{name}" in summary, out
    # Under AddressSanitizer (tools/sanitize.sh) a segfault is reported and turned into an abort.
    segv = "SIGABRT" if UNDER_ASAN else "SIGSEGV"
    assert f"killed by signal {segv}" in out and "killed by signal SIGABRT" in out, out
    assert "arithmetic" in out, out
    assert "SKIPPED" in out and "not here" in out, out
