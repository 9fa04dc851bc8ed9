"""Every Examples section of the package's docstrings (the API reference's examples, docs/api) runs and
prints what it shows, as doctest reads it, so that none can go stale."""

from __future__ import annotations

import doctest
import importlib
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


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    if name in _NEEDS:
        pytest.importorskip(_NEEDS[name])
    module = importlib.import_module(name)
    monkeypatch.chdir(tmp_path)  # an example that saves a file writes it here
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    threads = fastmlp.get_num_threads()
    failures = []
    with np.printoptions(legacy=False):
        for test in _examples(module):  # a name imported from elsewhere is tested where it is defined
            out = []
            result = runner.run(test, out=out.append, clear_globs=True)
            if result.failed:
                failures.append("".join(out))
    fastmlp.set_num_threads(threads)
    assert not failures, "\n".join(failures)
