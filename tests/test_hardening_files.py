"""What a hostile user tries on files and memory: container memory limits and the address-space limit,
crafted model files (shapes past memory, unknown or repeated entries, bounds in the metadata, pipes
and devices in place of files), odd save targets. Anything that could hang or kill the interpreter runs
in a subprocess with a timeout (the rest of the hostile probes: test_hardening.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

import fastmlp
from fastmlp.memory import available_memory, cgroup_available
from helpers import assert_clean_error, fastmlp_cli, run_python


# ---- 3. memory ---------------------------------------------------------------------------------------
def _fake_cgroup(tmp_path, version, limit, usage, inactive):
    proc = tmp_path / "cgroup"
    root = tmp_path / "fs"
    if version == 2:
        proc.write_text("0::/box/job\n")
        group = root / "box" / "job"
        group.mkdir(parents=True)
        (root / "box" / "memory.max").write_text("max\n")
        (group / "memory.max").write_text(f"{limit}\n")
        (group / "memory.current").write_text(f"{usage}\n")
        (group / "memory.stat").write_text(f"anon 1\ninactive_file {inactive}\nactive_file 5\n")
    else:
        proc.write_text("5:cpu:/\n4:memory:/docker/abc\n0::/\n")
        group = root / "memory" / "docker" / "abc"
        group.mkdir(parents=True)
        (root / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
        (group / "memory.limit_in_bytes").write_text(f"{limit}\n")
        (group / "memory.usage_in_bytes").write_text(f"{usage}\n")
        (group / "memory.stat").write_text(f"cache 7\ntotal_inactive_file {inactive}\n")
    return str(proc), str(root)


@pytest.mark.parametrize("version", [1, 2])
def test_cgroup_limit_is_read(tmp_path, version):
    proc, root = _fake_cgroup(tmp_path, version, limit=3 << 30, usage=1 << 30, inactive=256 << 20)
    assert cgroup_available(proc, root) == (3 << 30) - (1 << 30) + (256 << 20)
    assert cgroup_available(str(tmp_path / "none"), root) is None
    assert available_memory() > 0


def _memory_cgroup(limit):
    """A v1 memory cgroup with this limit that the test may move a child into, or skip."""
    base = "/sys/fs/cgroup/memory"
    path = os.path.join(base, f"fastmlp-test-{os.getpid()}")
    try:
        os.mkdir(path)
        with open(os.path.join(path, "memory.limit_in_bytes"), "w") as f:
            f.write(str(limit))
    except OSError as e:
        pytest.skip(f"cannot make a memory cgroup here ({e})")
    return path


@pytest.mark.slow
def test_fit_in_a_container_with_a_memory_limit_raises_instead_of_being_killed():
    group = _memory_cgroup(3 << 30)
    try:
        code = f"""
            import os
            with open({os.path.join(group, "cgroup.procs")!r}, "w") as f:
                f.write(str(os.getpid()))
            import numpy as np, fastmlp
            from fastmlp.memory import available_memory
            print("avail", available_memory() / 2**30)
            x = np.zeros((20000, 4096), np.float32); y = np.zeros((20000, 1), np.float32)
            model = fastmlp.MLP([4096, 16384, 1], seed=0)  # a batch of 20000 needs ~4 GiB
            try:
                model.fit(x, y, batch_size=20000, epochs=1)
                print("FIT RAN")
            except MemoryError as e:
                print("MEMORYERROR", e)
            b = fastmlp.max_batch_size(model, n_samples=20000)
            model.fit(x[:2 * b], y[:2 * b], batch_size=b, epochs=1, optimizer=fastmlp.optim.SGD(lr=1e-9))
            print("MAX OK", b)
        """
        proc = run_python(code, timeout=300)
        assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
        assert "MEMORYERROR" in proc.stdout and "MAX OK" in proc.stdout, proc.stdout
        assert float(proc.stdout.split()[1]) < 3.0, proc.stdout
    finally:
        os.rmdir(group)


def _write_npz(path, entries, compress=False):
    """An .npz file with these entries (name -> array or raw bytes of an .npy file)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        for name, value in entries.items():
            if isinstance(value, bytes):
                z.writestr(name + ".npy", value)
            else:
                with z.open(name + ".npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asarray(value))


def _meta(sizes):
    return np.array(
        json.dumps(
            {
                "format": "fastmlp.MLP",
                "version": 1,
                "sizes": sizes,
                "activations": ["relu"] * (len(sizes) - 2) + ["identity"],
                "dtype": "float32",
                "negative_slope": 0.01,
                "seed": 0,
                "init": None,
                "bias_init": None,
                "optimizer": None,
            }
        )
    )


def test_load_checks_shapes_against_meta_before_allocating(tmp_path):
    path = tmp_path / "bomb.npz"
    _write_npz(
        path,
        {
            "meta": _meta([3, 2**28, 2]),
            "W0": np.zeros((3, 2), np.float32),
            "b0": np.zeros(2, np.float32),
            "W1": np.zeros((2, 2), np.float32),
            "b1": np.zeros(2, np.float32),
        },
    )
    assert path.stat().st_size < 4096
    start = time.perf_counter()
    with pytest.raises(ValueError, match="W0"):
        fastmlp.load(path)
    assert time.perf_counter() - start < 1.0


def test_load_refuses_unknown_entries_unread(tmp_path):
    model = fastmlp.MLP([3, 4, 1], seed=0)
    model.save(tmp_path / "m.npz")
    with zipfile.ZipFile(tmp_path / "m.npz", "a", zipfile.ZIP_DEFLATED) as z:
        header = np.lib.format.header_data_from_array_1_0(np.zeros(1, np.float64))
        header["shape"] = (2**28,)  # 2 GiB declared; the data is never there and must never be read
        import io

        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, header)
        z.writestr("extra.npy", buf.getvalue() + b"\0" * 64)
    with pytest.raises(ValueError, match="extra"):
        fastmlp.load(tmp_path / "m.npz")


def _resaved(src, dst, edit_meta=None, extra=()):
    """A copy of the model file src with its meta edited and `extra` (name, bytes) members appended."""
    import warnings

    with zipfile.ZipFile(src) as z:
        members = {info.filename: z.read(info) for info in z.infolist()}
    if edit_meta:
        with zipfile.ZipFile(src) as z, z.open("meta.npy") as f:
            meta = json.loads(str(np.lib.format.read_array(f)))
        edit_meta(meta)
        import io

        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.array(json.dumps(meta)))
        members["meta.npy"] = buf.getvalue()
    with warnings.catch_warnings(), zipfile.ZipFile(dst, "w") as z:
        warnings.simplefilter("ignore")  # zipfile warns about a duplicate name, which is the point
        for name, data in list(members.items()) + list(extra):
            z.writestr(name, data)
    return dst


@pytest.mark.parametrize("step", [2**64 + 5, 2**63 - 1, 2**53 + 1])
def test_load_bounds_the_optimizer_step(tmp_path, step):
    # 2^64 + 5 reached the next fit as pybind11's "incompatible function arguments"; 2^63 - 1 as a
    # DivergenceError that blamed the learning rate.
    model = fastmlp.MLP([3, 4, 1], seed=0)
    model.fit(np.ones((8, 3), np.float32), np.ones((8, 1), np.float32), optimizer=fastmlp.optim.Adam(), epochs=1)
    model.save(tmp_path / "m.npz")

    def edit(meta):
        meta["optimizer"]["step"] = step

    with pytest.raises(ValueError, match=rf"step count {step} is past 2\*\*53"):
        fastmlp.load(_resaved(tmp_path / "m.npz", tmp_path / "edited.npz", edit))
    fastmlp.load(_resaved(tmp_path / "m.npz", tmp_path / "fine.npz", lambda meta: meta["optimizer"].update(step=2**53)))


def test_load_refuses_a_member_stored_twice(tmp_path):
    # Two zip members of one name: the last one won, silently.
    model = fastmlp.MLP([3, 4, 1], seed=0)
    model.save(tmp_path / "m.npz")
    import io

    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.full((3, 4), 7.0, np.float32))
    path = _resaved(tmp_path / "m.npz", tmp_path / "twice.npz", extra=[("W0.npy", buf.getvalue())])
    with pytest.raises(ValueError, match="holds the entry 'W0' more than once"):
        fastmlp.load(path)


def test_load_refuses_a_file_whose_arrays_cannot_fit(tmp_path, monkeypatch):
    model = fastmlp.MLP([3, 4, 1], seed=0)
    model.save(tmp_path / "m.npz")
    monkeypatch.setattr(fastmlp.memory, "available_memory", lambda: 16)
    with pytest.raises(MemoryError, match="m.npz"):
        fastmlp.load(tmp_path / "m.npz")


@pytest.mark.slow
def test_predict_workspace_holds_no_training_buffers():
    # 4096 rows through three 2048-wide layers on one thread: a training workspace would hold every
    # layer's output and two gradient buffers (5 x 32 MiB); inference needs two buffers (64 MiB).
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("needs Linux's /proc/self/clear_refs to reset the peak RSS")
    proc = run_python(
        """
        import numpy as np, fastmlp

        def status(key):
            with open("/proc/self/status") as f:
                return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))

        fastmlp.set_num_threads(1)
        m = fastmlp.MLP([64, 2048, 2048, 2048, 1], seed=0)
        x = np.ones((4096, 64), np.float32)
        m.predict(x[:10])
        before = status("VmRSS")
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # the peak (VmHWM) starts again from the current RSS
        m.predict(x)
        print((status("VmHWM") - before) / 1024)
    """,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    grown_mib = float(proc.stdout.split()[-1])
    assert grown_mib < 100, f"predict's peak memory grew by {grown_mib:.0f} MiB"


# ---- 6. save -----------------------------------------------------------------------------------------
def test_save_refuses_non_regular_targets(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="named pipe"):
        fastmlp.MLP([2, 1]).save(fifo)
    assert os.path.exists(fifo) and not os.path.isfile(fifo)
    with pytest.raises(IsADirectoryError, match=str(tmp_path)):
        fastmlp.MLP([2, 1]).save(tmp_path)
    if os.path.exists("/dev/null"):
        with pytest.raises(ValueError, match="character device"):
            fastmlp.MLP([2, 1]).save("/dev/null")


def test_load_and_the_cli_refuse_non_regular_files_without_blocking(tmp_path):
    # A named pipe with no writer would block the reader forever: load, predict and info refuse it
    # (checked in a child with a timeout, so a hang fails the test instead of the suite).
    fifo = tmp_path / "model.npz"
    os.mkfifo(fifo)
    proc = run_python(
        f"""
        import fastmlp
        for path in ({str(fifo)!r}, "/dev/zero"):
            try:
                fastmlp.load(path)
            except ValueError as e:
                print(type(e).__name__, e)
    """,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ModelFileError" in proc.stdout and "a named pipe, not a model file" in proc.stdout, proc.stdout
    assert "a character device, not a model file" in proc.stdout, proc.stdout
    for args in (("info", str(fifo)), ("predict", str(fifo), str(fifo))):
        out = fastmlp_cli(*args, timeout=30)
        assert_clean_error(out, "named pipe")
    with pytest.raises(IsADirectoryError):
        fastmlp.load(tmp_path)


def test_save_writes_through_symlinks(tmp_path):
    real = tmp_path / "real.npz"
    link = tmp_path / "link.npz"
    fastmlp.MLP([2, 1], seed=1).save(real)
    link.symlink_to(real)
    model = fastmlp.MLP([2, 3, 1], seed=2)
    model.save(link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert fastmlp.load(real).sizes == [2, 3, 1]


def test_save_errors_name_the_users_path(tmp_path):
    missing = tmp_path / "no" / "such" / "m.npz"
    with pytest.raises(FileNotFoundError) as info:
        fastmlp.MLP([2, 1]).save(missing)
    assert str(missing) in str(info.value) and ".tmp" not in str(info.value)


def test_next_save_removes_temporaries_of_killed_saves(tmp_path):
    path = tmp_path / "ckpt.npz"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    stale = tmp_path / f".fastmlp-ckpt.npz.{dead}.abc123.tmp"
    stale.write_bytes(b"half a file")
    other = tmp_path / f".fastmlp-other.npz.{dead}.abc123.tmp"  # another target's: not ours to remove
    other.write_bytes(b"half a file")
    live = tmp_path / f".fastmlp-ckpt.npz.{os.getppid()}.abc123.tmp"  # a live process may still rename it
    live.write_bytes(b"half a file")
    fastmlp.MLP([2, 1]).save(path)
    assert not stale.exists() and other.exists() and live.exists()
