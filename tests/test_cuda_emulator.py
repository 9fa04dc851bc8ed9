"""The CUDA emulator's own checks (tools/cuda_emu/selftest.cpp): a launch a device refuses (too many
threads, a grid too tall, dynamic shared memory past 48 KiB without the kernel's opt-in) sets the error
cudaGetLastError returns, and runs nothing, so that the emulated CUDA tests catch such launches; it runs
blocks and threads in the order FASTMLP_EMU_ORDER asks for; work on a stream runs only when something
waits for it; the device memory is the size FASTMLP_EMU_MEMORY asks for. And the race check
(tools/cuda_emu/racecheck_selftest.cpp, built with the thread-sanitizer instrumentation against
tools/cuda_emu/racecheck.cpp) reports each planted hazard and passes its correct twin.
Compiled here with the C++ compiler that builds fastmlp; skipped without one."""

from __future__ import annotations

import os
import re
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
        run.memory = [int(v) for v in lines["memory"].split()]
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


def test_the_emulated_device_memory_is_sized_as_asked(selftest):
    selftest()
    assert selftest.memory == [8 << 30, 4 << 30]  # the default: half of an 8 GiB card free
    selftest(FASTMLP_EMU_MEMORY="h100")
    assert selftest.memory == [81559 << 20, (81559 - 512) << 20]
    selftest(FASTMLP_EMU_MEMORY="16:12.5")
    assert selftest.memory == [16 << 30, int(12.5 * (1 << 30))]
    for bad in ("80", "4:8", "h300"):
        ran = subprocess.run(
            [str(selftest.exe)],
            capture_output=True,
            text=True,
            timeout=60,
            env=dict(os.environ, FASTMLP_EMU_MEMORY=bad),
        )
        assert ran.returncode != 0 and "FASTMLP_EMU_MEMORY must be" in ran.stderr, bad


def test_the_race_check_reports_each_planted_hazard_and_passes_its_twin(tmp_path):
    objects = []
    for source, instrumented in (("racecheck_selftest.cpp", True), ("racecheck.cpp", False)):
        obj = tmp_path / (source + ".o")
        flags = ["-fsanitize=thread", "--param=tsan-instrument-func-entry-exit=0"] if instrumented else []
        cmd = [CXX, "-std=c++17", "-O1", "-pthread", "-Wall", "-Wextra", "-Werror", "-DFASTMLP_EMU_RACECHECK", *flags]
        built = subprocess.run([*cmd, "-I", EMU, "-c", os.path.join(EMU, source), "-o", str(obj)],
                               capture_output=True, text=True, timeout=120)  # fmt: skip
        if built.returncode != 0 and "sanitize" in built.stderr:
            pytest.skip(f"this compiler has no thread-sanitizer instrumentation: {built.stderr[-300:]}")
        assert built.returncode == 0, built.stderr[-4000:]
        objects.append(str(obj))
    exe = tmp_path / "racecheck_selftest"
    linked = subprocess.run([CXX, "-pthread", *objects, "-o", str(exe)], capture_output=True, text=True, timeout=120)
    assert linked.returncode == 0, linked.stderr[-4000:]  # no sanitizer runtime: racecheck.cpp is the runtime
    for order in ("forward", "reverse", "shuffle"):
        ran = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60,
                             env=dict(os.environ, FASTMLP_EMU_ORDER=order, FASTMLP_EMU_SEED="3"))  # fmt: skip
        assert ran.returncode == 0 and "all passed" in ran.stdout, ran.stdout + ran.stderr
        verdict = dict(line.split(": ") for line in ran.stdout.splitlines() if line.endswith((": race", ": clean")))
        verdict.pop("shared_stale_first")  # seen only where a block that loads the whole tile ran first
        races = sorted(k for k, v in verdict.items() if v == "race")
        assert races == ["dynamic_stale", "global_block_race", "global_thread_race", "reduction_race", "shared_race",
                         "shared_stale"], (order, verdict)  # fmt: skip
        assert len(verdict) == 12, verdict
        # Each report names the kernel, the block and thread, and what the other side did.
        assert "kernel global_block_race, block (" in ran.stderr and "touched in the same launch" in ran.stderr
        assert "kernel shared_stale" in ran.stderr and "before its block wrote it" in ran.stderr


@pytest.mark.slow
@pytest.mark.emulated
def test_the_cuda_kernels_pass_the_race_check_shuffled_on_an_h100_sized_device(tmp_path):
    # Every check at once, on small cases of every kernel (memcheck's selection): the race check's
    # build, blocks and threads shuffled, an H100's memory, streams queued until waited for.
    # FASTMLP_EMU_RACE_WORKDIR names a work folder to reuse (its build is incremental).
    script = os.path.join(ROOT, "tools", "gpu_check.sh")
    selection = subprocess.run(["bash", script, "--memcheck-selection"], capture_output=True, text=True, timeout=30)
    work = os.environ.get("FASTMLP_EMU_RACE_WORKDIR") or str(tmp_path / "race")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FASTMLP_EMU", "PYTEST_"))}
    env |= {"CUDA_EMULATE_RACECHECK": "1", "FASTMLP_EMU_ORDER": "shuffle", "FASTMLP_EMU_SEED": "11",
            "FASTMLP_EMU_MEMORY": "h100"}  # fmt: skip
    ran = subprocess.run(
        ["bash", os.path.join(ROOT, "tools", "cuda_emulate.sh"), work, "-k", selection.stdout.strip()],
        env=env,
        capture_output=True,
        text=True,
        timeout=2400,
    )
    log = ran.stdout[-4000:] + ran.stderr[-4000:]
    assert ran.returncode == 0 and "racecheck" not in ran.stderr, log
    assert "emulated CUDA device (CPU) (sm_90, 79.6 GiB)" in ran.stdout, log
    passed = re.search(r"(\d+) passed", ran.stdout)
    assert passed and int(passed.group(1)) >= 100, log
