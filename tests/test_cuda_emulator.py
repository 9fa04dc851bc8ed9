"""The CUDA emulator's own launch checks (tools/cuda_emu/selftest.cpp): a launch a device refuses (too
many threads, a grid too tall, dynamic shared memory past 48 KiB without the kernel's opt-in) sets the
error cudaGetLastError returns, and runs nothing, so that the emulated CUDA tests catch such launches;
and it runs blocks and threads in the order FASTMLP_EMU_ORDER asks for.
Compiled here with the C++ compiler that builds fastmlp; skipped without one."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMU = os.path.join(ROOT, "tools", "cuda_emu")
CXX = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")


pytestmark = pytest.mark.skipif(CXX is None, reason="no C++ compiler on PATH")


@pytest.fixture(scope="module")
def selftest(tmp_path_factory):
    exe = tmp_path_factory.mktemp("emu") / "selftest"
    cmd = [
        CXX,
        "-std=c++17",
        "-O1",
        "-pthread",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-I",
        EMU,
        os.path.join(EMU, "selftest.cpp"),
    ]
    built = subprocess.run([*cmd, "-o", str(exe)], capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr[-4000:]

    def run(**env):
        ran = subprocess.run(
            [str(exe)],
            capture_output=True,
            text=True,
            timeout=60,
            env={k: v for k, v in os.environ.items() if not k.startswith("FASTMLP_EMU")} | env,
        )
        assert ran.returncode == 0 and "all passed" in ran.stdout, ran.stdout + ran.stderr
        lines = dict(line.split(":", 1) for line in ran.stdout.splitlines() if ":" in line)
        return [int(v) for v in lines["blocks"].split()], [int(v) for v in lines["threads"].split()], int(lines["race"])

    run.exe = exe
    return run


def test_the_emulator_refuses_what_a_device_refuses_in_index_order(selftest):
    blocks, threads, race = selftest()
    assert blocks == list(range(16)) and threads == list(range(8))
    assert race == 0  # the reader ran before the writer


def test_the_emulator_runs_blocks_and_threads_in_reverse_and_shuffled_orders(selftest):
    # A device promises no order: FASTMLP_EMU_ORDER=reverse or shuffle runs the CUDA tests under
    # others, and the race the selftest's kernel has shows as a different result.
    blocks, threads, race = selftest(FASTMLP_EMU_ORDER="reverse")
    assert blocks == list(range(15, -1, -1)) and threads == list(range(7, -1, -1))
    assert race == 2  # the writer ran first
    first = selftest(FASTMLP_EMU_ORDER="shuffle", FASTMLP_EMU_SEED="1")
    assert sorted(first[0]) == list(range(16)) and sorted(first[1]) == list(range(8))
    assert first[0] != list(range(16))
    assert selftest(FASTMLP_EMU_ORDER="shuffle", FASTMLP_EMU_SEED="1") == first  # a seed repeats its orders
    assert selftest(FASTMLP_EMU_ORDER="shuffle", FASTMLP_EMU_SEED="2")[0] != first[0]


def test_an_unknown_order_is_an_error_not_a_silent_default(selftest):
    ran = subprocess.run(
        [str(selftest.exe)],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, FASTMLP_EMU_ORDER="backwards"),
    )
    assert ran.returncode != 0 and "FASTMLP_EMU_ORDER must be forward, reverse or shuffle" in ran.stderr
