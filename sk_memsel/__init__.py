"""sk_memsel: neural feature selection and memory modules for scikit-learn.

The estimators here are scikit-learn compatible and train PyTorch modules
through skorch. The plain PyTorch modules live in :mod:`sk_memsel.nn`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sk-memsel")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

from ._attention_transformer import MemoryAttentionTransformer
from ._concrete import ConcreteAutoencoderSelector
from ._dnc_transformer import DNCTransformer
from ._gates import StochasticGatesSelector
from ._memory_selector_transformer import MemorySelectorTransformer

__all__ = [
    "ConcreteAutoencoderSelector",
    "DNCTransformer",
    "MemoryAttentionTransformer",
    "MemorySelectorTransformer",
    "StochasticGatesSelector",
    "__version__",
]
