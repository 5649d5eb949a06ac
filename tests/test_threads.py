"""Fits in threads: each draws what it would draw alone, and the caller's
random state is never touched (the threading contract of the reliability
guide)."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from joblib import parallel_backend
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

import sk_memsel
from sk_memsel.nn import (
    ConcreteSelect,
    GaussianStochasticGates,
    HardConcreteGates,
    MemoryAugmentedAttention,
    MemorySelector,
)
from sk_memsel.nn._random import Dropout, random_stream

from .test_common import data, fit, make, public_estimators
from .test_reliability import output

ESTIMATORS = list(public_estimators())
IDS = [cls.__name__ for cls in ESTIMATORS]


def _fit_output(est, X, y):
    return output(fit(est, X, y), X)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_eight_fits_in_threads_equal_the_sequential_fit_bit_for_bit(cls):
    X, y = data(n=48)
    est = make(cls, batch_size=16)
    state = torch.get_rng_state()
    expected = _fit_output(clone(est), X, y)
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda e: _fit_output(e, X, y), [clone(est) for _ in range(8)])
        )
    for result in results:
        for got, want in zip(result, expected, strict=True):
            np.testing.assert_array_equal(got, want)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_a_fit_leaves_torchs_global_random_state_untouched(cls):
    X, y = data()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit(make(cls), X, y)
    assert torch.equal(torch.rand(3), expected)


def test_a_partial_fit_in_threads_equals_the_sequential_one():
    X, y = data(n=48)
    est = make(sk_memsel.StochasticGatesSelector, batch_size=16)

    def two_calls(e):
        e.partial_fit(X, y, classes=[0, 1])
        return e.partial_fit(X, y).predict_proba(X)

    expected = two_calls(clone(est))
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(two_calls, [clone(est) for _ in range(4)]))
    for result in results:
        np.testing.assert_array_equal(result, expected)


def test_a_grid_search_on_joblibs_threads_equals_the_sequential_one():
    X, y = data(n=48)
    search = GridSearchCV(
        make(sk_memsel.ConcreteAutoencoderSelector, batch_size=16),
        {"temperature": [5.0, 10.0], "k": [2, 3]},
        cv=2,
    )
    expected = clone(search).fit(X).cv_results_["mean_test_score"]
    with parallel_backend("threading", n_jobs=4):
        got = clone(search).set_params(n_jobs=4).fit(X).cv_results_
    np.testing.assert_array_equal(got["mean_test_score"], expected)


# ------------------------------------------------------------------ the modules
def _layers():
    torch.manual_seed(0)
    selector = MemorySelector(6, 8, 2, 4)
    return {
        "concrete": (ConcreteSelect(6, 2), torch.randn(4, 6)),
        "gaussian gates": (GaussianStochasticGates(6), torch.randn(4, 6)),
        "hard concrete gates": (HardConcreteGates(6), torch.randn(4, 6)),
        "memory selector": (
            lambda x: selector(x, sampling=True),
            torch.randn(16, 6),
        ),
        "attention": (
            MemoryAugmentedAttention(4, 3, 2, dropout=0.5),
            torch.randn(2, 3, 4),
        ),
        "dropout": (Dropout(0.5), torch.randn(4, 6)),
    }


@pytest.mark.parametrize("name", list(_layers()))
def test_a_random_stream_gives_the_modules_their_noise(name):
    layer, x = _layers()[name]
    state = torch.get_rng_state()
    with random_stream(7):
        first = layer(x)
    with random_stream(7):
        again = layer(x)
    with random_stream(8):
        other = layer(x)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert torch.equal(torch.get_rng_state(), state)
    # outside a stream: torch's global generator, as any layer
    torch.manual_seed(3)
    a = layer(x)
    torch.manual_seed(3)
    assert torch.equal(layer(x), a)


def test_a_random_stream_belongs_to_its_thread():
    layer, x = _layers()["concrete"]
    with random_stream(7):
        expected = layer(x)

    def in_thread(_):
        with random_stream(7):
            return [layer(x) for _ in range(20)][0]

    with ThreadPoolExecutor(4) as pool:
        for got in pool.map(in_thread, range(8)):
            assert torch.equal(got, expected)
