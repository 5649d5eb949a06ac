"""Where the modules of earlier releases went, so that their pickles load.

A pickle names the module of every class it holds. Models saved before the
package was laid out in ``_backbone``, ``_selectors`` and ``_transformers``
name the old flat modules (``sk_memsel._gates``, ``sk_memsel._base``, ...);
the finder below answers an import of an old name with the module that now
holds its classes, so those models load (and meet the saved-format check)
instead of failing with ``ModuleNotFoundError``.
"""

import importlib
import importlib.abc
import importlib.util
import sys

#: old module -> the module that now holds its classes
MOVED_MODULES = {
    "sk_memsel._base": "sk_memsel._backbone._estimator",
    "sk_memsel._callbacks": "sk_memsel._backbone._callbacks",
    "sk_memsel._concrete": "sk_memsel._selectors._concrete_autoencoder",
    "sk_memsel._gates": "sk_memsel._selectors._stochastic_gates",
    "sk_memsel._memory_selector_transformer": (
        "sk_memsel._transformers._memory_selector_transformer"
    ),
    "sk_memsel._dnc_transformer": "sk_memsel._transformers._dnc_transformer",
    "sk_memsel._attention_transformer": (
        "sk_memsel._transformers._attention_transformer"
    ),
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Import an old module name as the module that replaced it."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED_MODULES:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        module = importlib.import_module(MOVED_MODULES[spec.name])
        spec.loader_state = module.__spec__
        return module

    def exec_module(self, module):
        # the module was executed under its new name; the import machinery
        # has just given it the old name's spec: give it back its own
        module.__spec__ = module.__spec__.loader_state


def install():
    """Put the finder last on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())
