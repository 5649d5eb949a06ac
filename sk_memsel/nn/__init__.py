"""Plain PyTorch modules behind the sk_memsel estimators.

Everything here is an ordinary :class:`torch.nn.Module` that imports nothing
from scikit-learn, so it can be used in any PyTorch model.
"""

from ._access import AccessState, MemoryAccess
from ._addressing import (
    CosineWeights,
    Freeness,
    TemporalLinkage,
    TemporalLinkageState,
    erase_and_write,
)
from ._attention import MemoryAugmentedAttention
from ._concrete import ConcreteSelect, distinct_argmax
from ._dnc import DNC, DNCState
from ._gates import GatedMLP, GaussianStochasticGates, HardConcreteGates
from ._memory_selector import MemorySelector

__all__: list[str] = [
    "AccessState",
    "ConcreteSelect",
    "CosineWeights",
    "DNC",
    "DNCState",
    "Freeness",
    "GatedMLP",
    "GaussianStochasticGates",
    "HardConcreteGates",
    "MemoryAccess",
    "MemoryAugmentedAttention",
    "MemorySelector",
    "TemporalLinkage",
    "TemporalLinkageState",
    "distinct_argmax",
    "erase_and_write",
]
