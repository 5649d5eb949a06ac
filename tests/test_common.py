"""scikit-learn's estimator contract, run over every public estimator.

Each estimator appears with fast settings (few epochs, tiny layers,
``random_state=0``). A check that is expected to fail must be listed in
``EXPECTED_FAILED`` with the reason; the list is meant to stay short.
"""

import inspect

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectFromModel
from sklearn.utils.estimator_checks import parametrize_with_checks

import sk_memsel

from ._toy import ToyRegressor

#: fast settings per public estimator class name
FAST_PARAMS = {
    # convergence_threshold=0: three epochs cannot settle the selector nodes,
    # and its ConvergenceWarning would fail the checks (our warnings are errors)
    "ConcreteAutoencoderSelector": {
        "k": 2,
        "max_epochs": 3,
        "hidden_layer_sizes": (4,),
        "convergence_threshold": 0.0,
    },
    "StochasticGatesSelector": {"max_epochs": 3, "hidden_layer_sizes": (4,)},
    "MemorySelectorTransformer": {
        "out_features": 2,
        "memory_size": 3,
        "embedding_size": 2,
        "hidden_size": 4,
        "max_epochs": 2,
    },
    "DNCTransformer": {
        "hidden_size": 4,
        "memory_size": 4,
        "word_size": 2,
        "max_steps": 3,
        "max_epochs": 2,
    },
    "MemoryAttentionTransformer": {
        "units": 4,
        "memory_size": 3,
        "num_heads": 2,
        "max_epochs": 2,
    },
}

#: scikit-learn's check fits once with integer weights and once with the rows
#: repeated, and compares the outputs to rtol=1e-7: only exact arithmetic
#: passes. Our training is float32 stochastic optimisation: the weighted mean
#: loss over 15 rows and the plain mean over the ~30 repeated rows are equal
#: sums added in another order (outputs equal to ~1e-7, not bitwise), and
#: where training draws noise (the gates' noise per row, dropout, the concrete
#: nodes' Gumbel noise after a shuffle of another length) or the repeated
#: rows need more batches than the weighted ones, the draws differ.
#: tests/test_sample_weight.py checks the equivalence with a tolerance where
#: the draws match, and the same selection elsewhere.
_NOT_BITWISE_EQUIVALENT = (
    "float32 minibatch training: weights equal repeated rows only up to "
    "rounding and per-row random draws (see tests/test_sample_weight.py)"
)

#: {estimator class name: {check name: reason}}
EXPECTED_FAILED = {
    name: {"check_sample_weight_equivalence_on_dense_data": _NOT_BITWISE_EQUIVALENT}
    for name in (
        "StochasticGatesSelector",
        "MemorySelectorTransformer",
        "DNCTransformer",
        "MemoryAttentionTransformer",
    )
}
# the same check on sparse X, for the estimators that take it (the batches
# are the dense rows, so the reason is the same)
EXPECTED_FAILED["StochasticGatesSelector"][
    "check_sample_weight_equivalence_on_sparse_data"
] = _NOT_BITWISE_EQUIVALENT
# scikit-learn's sparse checks read classifier_tags.multi_class for every
# estimator with predict_proba; with task="auto" (the default) the gates
# selector is neither a classifier nor a regressor before fitting, so those
# tags are None and the check fails before comparing anything.
# tests/test_sparse.py fits it on every sparse layout, predict_proba included.
for _check in ("check_estimator_sparse_array", "check_estimator_sparse_matrix"):
    EXPECTED_FAILED["StochasticGatesSelector"][_check] = (
        "the check reads classifier tags, unset with task='auto' "
        "(see tests/test_sparse.py)"
    )


def public_estimators():
    """Every estimator class that sk_memsel exports."""
    for name in sk_memsel.__all__:
        obj = getattr(sk_memsel, name)
        if inspect.isclass(obj) and issubclass(obj, BaseEstimator):
            yield obj


def trusted_types():
    """What a skops file of a fitted estimator names: the estimator classes
    (see docs/user_guide/persistence.rst)."""
    return [f"{c.__module__}.{c.__qualname__}" for c in public_estimators()]


def fast_instances():
    # the backbone's own test estimator, so the contract holds for the backbone
    yield ToyRegressor(max_epochs=3, random_state=0)
    for cls in public_estimators():
        yield cls(**{"random_state": 0, **FAST_PARAMS.get(cls.__name__, {})})


def make(cls, **params):
    """An instance of ``cls`` with its fast settings and ``random_state=0``."""
    return cls(**{"random_state": 0, **FAST_PARAMS.get(cls.__name__, {}), **params})


def needs_y(est):
    return est.__sklearn_tags__().target_tags.required


def data(n=40, d=6, seed=0):
    """A small binary problem: y from columns 0 and 1."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, d))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, y


def fit(est, X, y):
    """``fit(X, y)``, or ``fit(X)`` for an estimator that takes no target."""
    return est.fit(X, y) if needs_y(est) else est.fit(X)


def expected_failed(estimator):
    return EXPECTED_FAILED.get(type(estimator).__name__, {})


def test_every_public_estimator_has_fast_settings():
    missing = [c.__name__ for c in public_estimators() if c.__name__ not in FAST_PARAMS]
    assert not missing, f"add fast settings for {missing} to FAST_PARAMS"


def listed_checks(estimators, **kwargs):
    """scikit-learn's ``parametrize_with_checks``, its checks in a list.

    scikit-learn 1.6 hands pytest a generator, which pytest deprecates
    (``PytestRemovedIn10Warning``); later releases give a list already.
    """
    mark = parametrize_with_checks(estimators, **kwargs).mark
    names, values = mark.args
    return pytest.mark.parametrize(names, list(values), **mark.kwargs)


@listed_checks(list(fast_instances()), expected_failed_checks=expected_failed)
def test_sklearn_contract(estimator, check):
    check(estimator)


# ------------------------------------------------------------ importances
SELECTORS = ("ConcreteAutoencoderSelector", "StochasticGatesSelector")


@pytest.mark.parametrize("name", SELECTORS)
@pytest.mark.parametrize("k", [1, 3, 7])
def test_the_top_k_importances_are_the_support(name, k):
    # three epochs leave the concrete nodes unsettled, so that several nodes
    # prefer the same feature and one takes a second choice: the importances
    # must still rank exactly the selected features first
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 8))
    y = (X[:, 0] > 0).astype(int)
    est = getattr(sk_memsel, name)(**{**FAST_PARAMS[name], "k": k, "random_state": 0})
    est.fit(X, y)
    importances = est.feature_importances_
    assert importances.shape == (8,)
    top = np.argsort(-importances, kind="stable")[:k]
    np.testing.assert_array_equal(np.sort(top), est.get_support(indices=True))
    assert importances[top].min() > np.delete(importances, top).max()
    # so scikit-learn's SelectFromModel keeps the same k features
    from_model = SelectFromModel(est, prefit=True, max_features=k, threshold=-np.inf)
    np.testing.assert_array_equal(from_model.get_support(), est.get_support())


@pytest.mark.parametrize("name", SELECTORS)
def test_a_k_above_the_number_of_features_keeps_them_all_with_a_warning(name):
    # as scikit-learn's SelectKBest: a grid over k must survive narrow data
    X = np.random.RandomState(0).normal(size=(40, 4))
    y = (X[:, 0] > 0).astype(int)
    est = getattr(sk_memsel, name)(**{**FAST_PARAMS[name], "random_state": 0, "k": 9})
    with pytest.warns(
        UserWarning, match=r"k=9 is larger .* \(n_features=4\): all 4"
    ) as record:
        est.fit(X, y)
    # named at the caller's line, not at sk_memsel's or scikit-learn's
    assert {w.filename for w in record} == {__file__}
    assert est.get_support().all()
    assert est.transform(X).shape == (40, 4)
