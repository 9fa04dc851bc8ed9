"""Long-run reliability: a checkpoint survives a process killed mid-save, and repeated fits do not
leak memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import fastmlp
from helpers import UNDER_ASAN, run_python

SAVER = r"""
import sys, numpy as np, fastmlp
path = sys.argv[1]
model = fastmlp.MLP([256, 512, 512, 16], seed=0)
i = 0
print("ready", flush=True)
while True:                       # rewrite the checkpoint forever, each time with new weights
    i += 1
    model.set_weights([(w + 1.0, b + 1.0) for w, b in model.get_weights()])
    model.save(path)
"""


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.05, 0.13, 0.29])
def test_a_process_killed_while_saving_leaves_a_loadable_checkpoint(tmp_path, delay):
    path = tmp_path / "ckpt.npz"
    first = fastmlp.MLP([256, 512, 512, 16], seed=0)
    first.save(path)
    proc = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)  # somewhere inside one of the saves (each takes a few ms)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stdout.close()
    model = fastmlp.load(path)  # the previous or the new checkpoint, never a torn one
    ((w0, b0),) = model.get_weights()[:1]
    shift = float(w0[0, 0] - first.weights[0][0, 0])
    assert shift == pytest.approx(round(shift)), "weights are not those of any complete save"
    for (w, b), (fw, fb) in zip(model.get_weights(), first.get_weights()):
        np.testing.assert_allclose(w, fw + shift, rtol=0, atol=1e-3 * (1 + abs(shift)))
        np.testing.assert_allclose(b, fb + shift, rtol=0, atol=1e-3 * (1 + abs(shift)))
    leftovers = [p for p in os.listdir(tmp_path) if p != "ckpt.npz"]
    # A kill between creating and renaming the temporary file may leave it; it is never the target.
    assert all(p.startswith(".fastmlp-") for p in leftovers), leftovers


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads VmRSS from /proc/self/status")
@pytest.mark.skipif(
    UNDER_ASAN,
    reason="under AddressSanitizer (tools/sanitize.sh) freed memory waits in its quarantine, so "
    "RSS does not measure the program",
)
def test_repeated_small_fits_keep_memory_flat():
    """1,000 fits (each making a C++ trainer with its workspaces) must not grow the process. Measured in
    a fresh interpreter: in this one, the heap that earlier tests left fragmented can grow by a few MiB
    for no fault of the fits."""
    proc = run_python(
        """
        import numpy as np, fastmlp

        def rss_kib():
            with open("/proc/self/status") as f:
                return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

        rng = np.random.default_rng(0)
        x = rng.standard_normal((64, 4)).astype(np.float32)
        y = rng.standard_normal((64, 1)).astype(np.float32)
        model = fastmlp.MLP([4, 16, 1], seed=0)
        opt = fastmlp.optim.Adam(lr=1e-3)
        for _ in range(100):  # warm up allocator pools and caches
            model.fit(x, y, optimizer=opt, batch_size=16, epochs=1)
            model.predict(x)
        before = rss_kib()
        for _ in range(1000):
            model.fit(x, y, optimizer=opt, batch_size=16, epochs=1)
            model.predict(x)
        print(rss_kib() - before)
    """,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    grown = int(proc.stdout.split()[-1])
    assert grown < 2048, f"RSS grew by {grown} KiB over 1,000 fits"
