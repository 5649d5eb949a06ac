"""The backbone every sk_memsel estimator is built on, one concern per module.

- :mod:`._estimator`: :class:`NeuralEstimatorMixin`, the constraints of the
  shared parameters, input validation, prediction, saving and loading;
- :mod:`._training`: the one training path (start, resume and their loop),
  from the estimator's hooks;
- :mod:`._params`: the constraints scikit-learn has no class for, and the
  shared parameters' docs, written once and put into every docstring;
- :mod:`._net`: :class:`MemselNet` (the skorch net with the extra-loss hook),
  the optimizers, the epoch budget and the record of why training stopped;
- :mod:`._callbacks`: the skorch callbacks (annealing, settling, progress, the
  optimizer's eps);
- :mod:`._data`: out-of-core arrays, the batch iterator, GPU preloading;
- :mod:`._runtime`: the device, seeding and the PyTorch thread policy;
- :mod:`._persistence`: what a saved estimator holds (pickle and skops
  alike), and how its net is loaded back.
"""

from ._callbacks import (
    EpochRecorder,
    FiniteLossGuard,
    GradientScaledEps,
    ProgressLine,
    SettledStopping,
    TemperatureAnnealing,
)
from ._data import ArrayBatchIterator
from ._estimator import NeuralEstimatorMixin, all_or_nothing
from ._net import MemselNet, auto_epochs
from ._persistence import SAVED_FORMAT
from ._runtime import resolve_device
from ._supervised import SupervisedOutputMixin
from ._targets import TargetMixin
from ._training import start_training

__all__ = [
    "SAVED_FORMAT",
    "ArrayBatchIterator",
    "EpochRecorder",
    "FiniteLossGuard",
    "GradientScaledEps",
    "MemselNet",
    "NeuralEstimatorMixin",
    "ProgressLine",
    "SettledStopping",
    "SupervisedOutputMixin",
    "TargetMixin",
    "TemperatureAnnealing",
    "all_or_nothing",
    "auto_epochs",
    "resolve_device",
    "start_training",
]
