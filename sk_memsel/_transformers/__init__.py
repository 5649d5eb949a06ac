"""The neural transformers: fit a memory module, transform to its features."""

from ._attention_transformer import MemoryAttentionTransformer
from ._base import FeatureNet, NeuralTransformerBase
from ._dnc_transformer import DNCTransformer
from ._memory_selector_transformer import MemorySelectorTransformer

__all__ = [
    "DNCTransformer",
    "FeatureNet",
    "MemoryAttentionTransformer",
    "MemorySelectorTransformer",
    "NeuralTransformerBase",
]
