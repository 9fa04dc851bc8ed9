"""The API reference's settings (autodoc, autosummary, numpydoc), imported by conf.py.

docs/api/ holds one page per public module (and one for fastmlp.MLP). Each page documents the names of
its module's ``__all__`` with autodoc directives and lists them in an autosummary table; the names that
the package re-exports (fastmlp.MLP, fastmlp.load, fastmlp.EarlyStopping, ...) are documented once, on
the fastmlp page, and their modules' pages link to them. numpydoc renders the docstrings and validates
every one of them while the site is built, so that a public name without a summary, a Parameters or a
Returns section fails the build (-W).
"""

# Single backticks in a docstring (`fastmlp train`, `early_stopping=True`, `n_iter_`) mark code, as in the
# Markdown pages and in scikit-learn's docstrings, which fastmlp.sklearn's follow: they are shown as inline
# code, not in italics as reStructuredText's default role would show them. Double backticks do the same.
default_role = "literal"

# autodoc: signatures as written (no type hints: the docstrings give the types), members in the order
# of the source, and the value of a constant shown unless its page says :no-value:.
autodoc_typehints = "none"
autodoc_member_order = "bysource"
autodoc_default_options = {"member-order": "bysource"}
autodoc_inherit_docstrings = True  # a subclass's override without a docstring shows its base's (Schedule.lr)
autodoc_class_signature = "mixed"  # a class's signature is its __init__'s

# autosummary: the tables link to the objects documented on the same or another page; no stub pages
# are generated for them (docs/api/ has none to write).
autosummary_generate = True
autosummary_imported_members = False
autosummary_ignore_module_all = False

# numpydoc: the sections of a NumPy-style docstring rendered as Sphinx fields. The pages list the
# members themselves (autodoc :members:), so numpydoc adds no member tables of its own.
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False  # types are prose ("array_like of shape (n, k)"), not references

# Validation of every docstring numpydoc renders (numpydoc.validate); a failed check is a warning, which
# -W turns into an error:
#   GL06/GL07  an unknown section, or sections out of numpydoc's order
#   GL08       no docstring
#   SS01/SS03  no summary, or a summary that does not end with a period
#   SS06       a summary longer than one line
#   PR01/PR02  a parameter of the signature not documented, or one documented that it does not have
#   PR03       parameters documented in another order than the signature's
#   PR04/PR07  a parameter without a type, or without a description
#   PR10       "name: type" without the space before the colon
#   RT01/RT03  a function that returns a value without a Returns section, or a return value without a
#              description
#   YD01       a generator without a Yields section
numpydoc_validation_checks = {
    "GL06",
    "GL07",
    "GL08",
    "SS01",
    "SS03",
    "SS06",
    "PR01",
    "PR02",
    "PR03",
    "PR04",
    "PR07",
    "PR10",
    "RT01",
    "RT03",
    "YD01",
}
# Not validated: the names defined in python/fastmlp/_sklearn_sgd.py, the stochastic solvers' mixin of
# the estimators, whose private methods mirror scikit-learn's (none of its names is documented: the
# estimators' pages list their own methods only).
numpydoc_validation_exclude = {
    r"^fastmlp\._sklearn_sgd(\.|$)",
}
