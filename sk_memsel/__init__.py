"""sk_memsel: neural feature selection and memory modules for scikit-learn.

The estimators here are scikit-learn compatible and train PyTorch modules
through skorch. The plain PyTorch modules live in :mod:`sk_memsel.nn`.

The estimators are imported on first use (PEP 562), so ``import sk_memsel``
alone, and the ``sk-memsel`` command line's ``--help``, do not import torch.
"""

import importlib
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sk-memsel")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

# public name -> the submodule that defines it, imported on first access
_LAZY = {
    "ConcreteAutoencoderSelector": "._selectors",
    "DNCTransformer": "._transformers",
    "MemoryAttentionTransformer": "._transformers",
    "MemorySelectorTransformer": "._transformers",
    "StochasticGatesSelector": "._selectors",
}

__all__ = [
    "ConcreteAutoencoderSelector",
    "DNCTransformer",
    "MemoryAttentionTransformer",
    "MemorySelectorTransformer",
    "StochasticGatesSelector",
    "__version__",
]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    elif name == "nn":  # ``import sk_memsel; sk_memsel.nn`` worked before
        value = importlib.import_module(".nn", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__) | {"nn"})
