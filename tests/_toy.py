"""A minimal estimator on the shared backbone, used to test the backbone itself.

It is deliberately tiny: a one-hidden-layer network with a ``temperature``
(divides the output, so the annealing callback has something to drive) and an
optional weight penalty (so the extra-loss hook has something to add).
"""

from numbers import Integral, Real

import torch
from sklearn.base import BaseEstimator, RegressorMixin
from torch import nn

from sk_memsel._backbone import (
    NeuralEstimatorMixin,
    TemperatureAnnealing,
    start_training,
)
from sk_memsel._backbone._compat import Interval, fit_context


class ToyModule(nn.Module):
    def __init__(self, n_in, n_out, hidden=8, penalty_weight=0.0):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out)
        )
        self.temperature = 1.0
        self.penalty_weight = penalty_weight

    def forward(self, x):
        return self.body(x) / self.temperature

    def penalty(self):
        return self.penalty_weight * sum(p.pow(2).sum() for p in self.parameters())


class ToyRegressor(NeuralEstimatorMixin, RegressorMixin, BaseEstimator):
    """Regression with a tiny MLP trained through the sk_memsel backbone."""

    _parameter_constraints: dict = {
        **NeuralEstimatorMixin._parameter_constraints,
        "hidden": [Interval(Integral, 1, None, closed="left")],
        "penalty_weight": [Interval(Real, 0, None, closed="left")],
        "anneal": [dict, None],
    }

    def __init__(
        self,
        hidden=8,
        *,
        penalty_weight=0.0,
        anneal=None,
        max_epochs=5,
        batch_size=32,
        lr=1e-2,
        optimizer="adam",
        weight_decay=0.0,
        device="cpu",
        random_state=None,
        verbose=0,
        callbacks=None,
        validation_fraction=None,
        n_iter_no_change=10,
        n_threads="auto",
    ):
        self.hidden = hidden
        self.penalty_weight = penalty_weight
        self.anneal = anneal
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.n_threads = n_threads

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        X = self._validate_X(X, reset=True)
        target = self._prepare_target(X, y, task="regression")
        start_training(self, X, target)
        return self

    def _build_module(self):
        return ToyModule(
            self.n_features_in_, self.n_outputs_, self.hidden, self.penalty_weight
        )

    def _training_callbacks(self):
        if self.anneal is None:
            return []
        return [("anneal", TemperatureAnnealing(**self.anneal))]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True  # a 3-epoch toy
        return tags

    def predict(self, X):
        X = self._validate_X(X, reset=False)
        return self._decode_regression(self._forward(X))


def first_weight(est):
    return next(est.net_.module_.parameters()).detach().cpu().clone()


__all__ = ["ToyModule", "ToyRegressor", "first_weight", "torch"]
