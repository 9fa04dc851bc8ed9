"""The CUDA emulator's own launch checks (tools/cuda_emu/selftest.cpp): a launch a device refuses (too
many threads, a grid too tall, dynamic shared memory past 48 KiB without the kernel's opt-in) sets the
error cudaGetLastError returns, and runs nothing, so that the emulated CUDA tests catch such launches.
Compiled here with the C++ compiler that builds fastmlp; skipped without one."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMU = os.path.join(ROOT, "tools", "cuda_emu")
CXX = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")


@pytest.mark.skipif(CXX is None, reason="no C++ compiler on PATH")
def test_the_emulator_refuses_what_a_device_refuses(tmp_path):
    exe = tmp_path / "selftest"
    cmd = [CXX, "-std=c++17", "-O1", "-Wall", "-Wextra", "-Werror", "-I", EMU, os.path.join(EMU, "selftest.cpp")]
    built = subprocess.run([*cmd, "-o", str(exe)], capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr[-4000:]
    ran = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0 and "all passed" in ran.stdout, ran.stdout + ran.stderr
