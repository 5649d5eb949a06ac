"""Sphinx configuration for the sk_memsel documentation."""

import sk_memsel

project = "sk_memsel"
author = "The sk_memsel developers"
copyright = "2026, The sk_memsel developers"
release = sk_memsel.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()

html_theme = "pydata_sphinx_theme"
html_title = "sk_memsel"
html_static_path = ["_static"]
html_theme_options = {"navigation_with_keys": False}
