"""Sphinx configuration of fastmlp's documentation.

Build (docs/contributing.md): python -m sphinx -W -n --keep-going -b html docs docs/_build/html
The build reads nothing from the network: no intersphinx inventories, no remote images or themes.
"""

from __future__ import annotations

import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(__file__))  # _api_conf.py, the API reference's settings

project = "fastmlp"
author = "the fastmlp authors"
copyright = "2026, the fastmlp authors"

extensions = [
    "myst_parser",  # the user guide is Markdown
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",  # NumPy-style docstrings: Parameters / Returns / Raises / Examples
    "sphinx.ext.doctest",
    "sphinx_gallery.gen_gallery",  # the lesson figures, drawn from docs/gallery/*.py at build time
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "gallery/GALLERY_HEADER.rst"]
nitpicky = True
html_theme = "furo"
html_title = "fastmlp"
html_static_path = ["_static"]
html_css_files = ["fastmlp.css"]  # the theme's few adjustments, such as wrapping the lessons' printed output

# Markdown: headings up to level 3 get anchors, so a page can link to [a section](cli.md#scores).
myst_heading_anchors = 3

# Types outside fastmlp that docstrings name (the build has no intersphinx inventories to resolve
# them); Python's builtins are resolved by Sphinx itself.
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|pandas|pd|pyarrow|sklearn|scipy|matplotlib|mpi4py|onnx|onnxruntime)(\..*)?"),
]

# The lessons' figures: each script in docs/gallery/ runs one lesson with fastmlp's kernels and draws
# its figure with the function `fastmlp lesson NAME` uses, so the figures cannot go stale.
sphinx_gallery_conf = {
    "examples_dirs": ["gallery"],
    "gallery_dirs": ["lesson_gallery"],
    "filename_pattern": r"plot_",  # every script runs
    "within_subsection_order": "FileNameSortKey",
    "write_computation_times": False,  # no sg_execution_times page outside the toctree
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "plot_gallery": "True",
    "run_stale_examples": True,  # rerun every script on every build, even when only the library changed
    "abort_on_example_error": True,  # a lesson that fails fails the build
}
# The lessons run on the CPU whatever machine builds the docs, on a non-interactive backend.
os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", message="Matplotlib is currently using agg", category=UserWarning)

from _api_conf import *  # noqa: E402,F403 (the API reference's autodoc and numpydoc settings)
