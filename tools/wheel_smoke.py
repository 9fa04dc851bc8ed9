"""Smoke test of an installed fastmlp wheel, run from outside the source tree: it imports, reports its build,
trains the seed lesson's single neuron on the women data to the least-squares slope, and round-trips a
model through save/load and a CSV through read_csv. .ci/run and cibuildwheel's test step run it.

    python tools/wheel_smoke.py [--cpu-only]
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np

import fastmlp


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cpu-only", action="store_true", help="fail if the wheel contains CUDA kernels")
    args = p.parse_args(argv)
    here = os.path.dirname(os.path.abspath(fastmlp.__file__))
    assert not os.path.exists(os.path.join(here, "..", "..", "CMakeLists.txt")), (
        f"fastmlp imported from the source tree ({here})"
    )
    if args.cpu_only:
        assert not fastmlp.cuda_built() and not fastmlp.cuda_available(), "a CPU-only wheel has CUDA kernels"
    h, w = fastmlp.data.load_women()
    x = (h - h.mean()) / h.std()
    model = fastmlp.MLP([1, 1])
    model.fit(x, w, optimizer=fastmlp.optim.SGD(lr=0.1), batch_size=None, epochs=200)
    a = model.get_weights()[0][0][0, 0] / h.std()
    assert abs(a - 3.45) < 0.01, a
    with tempfile.TemporaryDirectory() as d:
        model.save(os.path.join(d, "m.npz"))
        np.testing.assert_array_equal(fastmlp.load(os.path.join(d, "m.npz")).predict(x), model.predict(x))
        with open(os.path.join(d, "t.csv"), "w") as f:
            f.write("a,b\n" + "".join(f"{i},{i * 0.5}\n" for i in range(1000)))
        names, values = fastmlp.data.read_csv(os.path.join(d, "t.csv"))
        assert names == ["a", "b"] and values.shape == (1000, 2) and values[999, 1] == 499.5
    print(
        f"fastmlp {fastmlp.__version__} wheel: ok (from {here}, CUDA built: {fastmlp.cuda_built()}, "
        f"GEMM {fastmlp._core.gemm_isa('float32')}, {fastmlp.get_num_threads()} threads), a = {a:.4f}"
    )


if __name__ == "__main__":
    main()
