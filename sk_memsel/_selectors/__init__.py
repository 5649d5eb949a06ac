"""The feature selectors: scikit-learn ``SelectorMixin`` estimators."""

from ._concrete_autoencoder import ConcreteAutoencoderSelector
from ._stochastic_gates import StochasticGatesSelector

__all__ = ["ConcreteAutoencoderSelector", "StochasticGatesSelector"]
