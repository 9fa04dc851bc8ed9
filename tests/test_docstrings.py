"""Every Examples section of the package's docstrings (the API reference's examples, docs/api) runs and
prints what it shows, as doctest reads it, so that none can go stale."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil

import numpy as np
import pytest

import fastmlp

# Modules that need an optional extra, and the module it brings.
_NEEDS = {"fastmlp.sklearn": "sklearn", "fastmlp._sklearn_sgd": "sklearn", "fastmlp._sklearn_input": "sklearn"}
MODULES = sorted(
    ["fastmlp"] + [m.name for m in pkgutil.walk_packages(fastmlp.__path__, "fastmlp.") if m.name != "fastmlp.__main__"]
)


def _examples(module):
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, module.__name__, globs={})
    return [t for t in tests if t.filename == module.__file__]


def test_the_walk_finds_the_documented_modules_and_their_examples():
    assert {"fastmlp.model", "fastmlp.summary", "fastmlp.sklearn", "fastmlp.lessons.regression"} <= set(MODULES)
    count = sum(len(t.examples) for m in MODULES if m not in _NEEDS for t in _examples(importlib.import_module(m)))
    assert count > 300, f"only {count} docstring examples found: the finder misses them"


# Optional extras an example may need: where one is not installed, the examples that need it are skipped.
OPTIONAL = ("onnx", "onnxruntime", "matplotlib", "pandas", "pyarrow", "sklearn", "scipy", "mpi4py", "dask", "tqdm")


def _missing_extra(error):
    """The optional module a failed example's ImportError is about, when it is not installed, else None."""
    if not isinstance(error, ImportError):
        return None
    text = f"{getattr(error, 'name', '') or ''} {error}"
    for module in OPTIONAL:
        if module in text and importlib.util.find_spec(module) is None:
            return module
    return None


class _Runner(doctest.DocTestRunner):
    """A doctest runner that notes when an example failed for want of an optional extra."""

    missing: str | None = None

    def report_unexpected_exception(self, out, test, example, exc_info):
        self.missing = self.missing or _missing_extra(exc_info[1])
        super().report_unexpected_exception(out, test, example, exc_info)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    if name in _NEEDS:
        pytest.importorskip(_NEEDS[name])
    module = importlib.import_module(name)
    monkeypatch.chdir(tmp_path)  # an example that saves a file writes it here
    runner = _Runner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    threads = fastmlp.get_num_threads()
    failures, skipped = [], []
    with np.printoptions(legacy=False):
        for test in _examples(module):  # a name imported from elsewhere is tested where it is defined
            out = []
            runner.missing = None
            result = runner.run(test, out=out.append, clear_globs=True)
            if runner.missing is not None:
                skipped.append(f"{test.name} (needs {runner.missing})")
            elif result.failed:
                failures.append("".join(out))
    fastmlp.set_num_threads(threads)
    assert not failures, "\n".join(failures)
    if skipped:
        pytest.skip(f"optional extras not installed: {', '.join(skipped)}")
