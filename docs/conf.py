"""Sphinx configuration for the sk_memsel documentation."""

import os
import re

# The gallery runs every example while building; the examples read this
# variable and shrink their data and epochs, so the build (and CI, which
# builds the docs in the test suite) takes minutes. Build with
# SK_MEMSEL_FAST_EXAMPLES=0 to run them with their real settings.
os.environ.setdefault("SK_MEMSEL_FAST_EXAMPLES", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

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
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()
# Type lines such as "ndarray of shape (n_samples, n_features_in_)" are
# rendered as cross-references, so names ending in "_" are not read as
# reStructuredText link targets; prose words stay plain text.
numpydoc_xref_param_type = True
numpydoc_xref_ignore = {
    "of",
    "or",
    "and",
    "shape",
    "default",
    "optional",
    "instance",
    "like",
}
# numpydoc's default aliases point some of these words into the Python and
# NumPy docs through intersphinx, which the offline build does not load;
# these targets resolve quietly instead.
numpydoc_xref_aliases = {
    "bool": ":class:`bool`",
    "boolean": ":class:`bool`",
    "iterable": ":class:`~collections.abc.Iterable`",
    "sequence": ":class:`~collections.abc.Sequence`",
    "generator": ":class:`~collections.abc.Generator`",
    "array-like": ":obj:`array-like <numpy.typing.ArrayLike>`",
    "array_like": ":obj:`array-like <numpy.typing.ArrayLike>`",
    "scalar": ":obj:`scalar <numpy.generic>`",
    "Axes": "matplotlib.axes.Axes",
    "Figure": "matplotlib.figure.Figure",
}

# Scikit-learn's metadata-routing methods (set_fit_request, ...) are generated
# on every estimator; their docstrings point into scikit-learn's own docs.
_SKIP_MEMBER = re.compile(r"set_\w+_request")


def _skip_member(app, what, name, obj, skip, options):
    if _SKIP_MEMBER.fullmatch(name):
        return True
    return None


# Fitted attributes end in "_", which reStructuredText reads as a link when a
# name stands bare in a docstring, as in "ndarray of shape (n_features_in_,)".
# Escape that underscore outside literals (after numpydoc has rendered the
# docstring), so docstrings can keep scikit-learn's way of writing shapes.
_BARE_TRAILING_UNDERSCORE = re.compile(r"(?<![\w\\`|])([A-Za-z]\w*?)_(?=[,)\s]|$)")
_LITERAL = re.compile(r"(``.+?``|`[^`]+`)")


def _escape_trailing_underscores(app, what, name, obj, options, lines):
    block_indent = None  # indent of the line opening a literal block or directive
    doctest = False  # a doctest runs from ">>>" to the next blank line
    for i, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if doctest or stripped.startswith(">>>"):
            doctest = bool(stripped)
            continue
        if block_indent is not None:
            if not stripped or indent > block_indent:
                continue  # inside a literal block or a directive
            block_indent = None
        if stripped.endswith("::") or re.match(r"\.\. [\w:-]+::", stripped):
            block_indent = indent
        parts = _LITERAL.split(line)
        parts[::2] = [_BARE_TRAILING_UNDERSCORE.sub(r"\1\\_", p) for p in parts[::2]]
        lines[i] = "".join(parts)


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("autodoc-process-docstring", _escape_trailing_underscores, priority=600)


# The examples of the neural transformers join the gallery (and run) once
# their estimator is exported by sk_memsel; until then they are left out.
_EXAMPLE_NEEDS = {
    "plot_memory_selector_transformer.py": "MemorySelectorTransformer",
    "plot_dnc_basic_motions.py": "DNCTransformer",
    "plot_memory_attention_basic_motions.py": "MemoryAttentionTransformer",
}
_PENDING = [f for f, name in _EXAMPLE_NEEDS.items() if name not in sk_memsel.__all__]

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # run every example named plot_*.py (all of them)
    "filename_pattern": r"/plot_",
    "ignore_pattern": "|".join([r"__init__\.py", *map(re.escape, _PENDING)]),
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    # an example that raises fails the build (and the docs test in CI)
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
}

html_theme = "pydata_sphinx_theme"
html_title = "sk_memsel"
html_static_path = ["_static"]
# gallery cards: long titles wrap inside their card
html_css_files = ["gallery.css"]
html_theme_options = {"navigation_with_keys": False}
