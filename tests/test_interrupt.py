"""The interrupt contract (Ctrl-C, or a ``KeyboardInterrupt`` from a callback).

An interrupt keeps the epochs the call finished, with a warning and
``stop_reason="interrupted"``, and counts only finished epochs; an interrupt
before the call finished one epoch undoes the call (the previous fit, or
unfitted) and raises ``KeyboardInterrupt`` again.
"""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from skorch.callbacks import Callback

import sk_memsel

from .test_common import data, fit, make, public_estimators
from .test_reliability import output

ESTIMATORS = list(public_estimators())
IDS = [cls.__name__ for cls in ESTIMATORS]


class InterruptAtBatch(Callback):
    """Raise ``KeyboardInterrupt`` after the ``batch``-th training batch."""

    def __init__(self, batch):
        self.batch = batch

    def on_train_begin(self, net, **kwargs):
        self.seen_ = 0

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            self.seen_ += 1
            if self.seen_ == self.batch:
                raise KeyboardInterrupt


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_an_interrupted_refit_before_one_epoch_keeps_the_previous_fit(cls):
    X, y = data(n=48)
    est = fit(make(cls, batch_size=16), X, y)
    before = output(est, X)
    history = list(est.history_)
    est.set_params(callbacks=[InterruptAtBatch(1)], random_state=1)
    with pytest.raises(KeyboardInterrupt):
        fit(est, X, y)
    for got, want in zip(output(est, X), before, strict=True):
        np.testing.assert_array_equal(got, want)
    assert list(est.history_) == history


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_a_first_fit_interrupted_before_one_epoch_stays_unfitted(cls):
    X, y = data(n=48)
    est = make(cls, batch_size=16, callbacks=[InterruptAtBatch(2)])
    with pytest.raises(KeyboardInterrupt):
        fit(est, X, y)
    with pytest.raises(NotFittedError):
        est.transform(X)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_an_interrupt_in_the_last_epoch_keeps_the_finished_ones(cls):
    X, y = data(n=48)  # 3 batches an epoch
    est = make(cls, batch_size=16, max_epochs=3, callbacks=[InterruptAtBatch(8)])
    with pytest.warns(UserWarning, match="interrupted after 2 finished epoch"):
        fit(est, X, y)
    assert est.n_epochs_ == 2
    assert len(est.history_) == 2
    assert est.history_[-1, "stop_reason"] == "interrupted"
    for out in output(est, X):
        assert np.all(np.isfinite(out))


def test_an_interrupted_partial_fit_before_one_epoch_keeps_the_network():
    X, y = data(n=48)
    est = make(sk_memsel.StochasticGatesSelector, batch_size=16)
    est.partial_fit(X, y, classes=[0, 1])
    before, n_epochs = est.predict_proba(X), est.n_epochs_
    est.net_.callbacks_.append(("stop", InterruptAtBatch(1)))
    with pytest.raises(KeyboardInterrupt):
        est.partial_fit(X, y)
    np.testing.assert_array_equal(est.predict_proba(X), before)
    assert est.n_epochs_ == n_epochs == len(est.history_)
    assert clone(est).get_params() == est.get_params()
