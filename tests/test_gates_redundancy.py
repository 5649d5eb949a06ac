"""Tests of StochasticGatesSelector(redundancy="avoid"): complementary features."""

import pickle

import numpy as np
import pytest

from sk_memsel import StochasticGatesSelector
from sk_memsel._selectors._redundancy import complementary_order

from .test_gates import FAST, FEW, informative_data


def copies_data(n_samples=400, seed=0):
    """Column 0 decides most of y, columns 1-3 are near-copies of it, column 4
    adds what column 0 lacks; columns 5-9 are noise."""
    rng = np.random.RandomState(seed)
    signal = rng.normal(size=n_samples)
    other = rng.normal(size=n_samples)
    copies = signal[:, None] + 0.05 * rng.normal(size=(n_samples, 3))
    noise = rng.normal(size=(n_samples, 5))
    X = np.column_stack([signal, copies, other, noise])
    y = (signal + 0.6 * other > 0).astype(int)
    return X, y


def test_order_skips_a_copy_of_a_kept_column():
    rng = np.random.RandomState(0)
    a, b = rng.normal(size=(2, 500))
    X = np.column_stack([a, a + 0.01 * rng.normal(size=500), b])
    probs = np.array([0.9, 0.8, 0.5])
    codes = np.arange(3)
    # the copy scores about 0.8 * (1 - 0.99) < 0.5 once column 0 is kept
    assert complementary_order(X, probs, codes, 3)[0].tolist() == [0, 2, 1]
    # without the copy, the probabilities alone decide
    alone = complementary_order(X[:, [0, 2]], probs[[0, 2]], codes[:2], 2)[0]
    assert alone.tolist() == [0, 1]


def test_a_partly_redundant_column_keeps_its_unexplained_variance():
    # column 1 follows the kept column 0 with r = 0.6: a straight line on
    # column 0 explains r**2 = 36 % of it, so it keeps 64 % of its height
    # above the floor, and beats column 2 (uncorrelated, but only 0.5 of
    # column 1's height); discounting by 1 - r (40 % kept) puts column 2 first
    rng = np.random.RandomState(0)
    a, b, c = rng.normal(size=(3, 2000))
    a, b, c = (v - v.mean() for v in (a, b, c))
    b -= a * (a @ b) / (a @ a)  # b exactly uncorrelated with a
    c -= a * (a @ c) / (a @ a) + b * (b @ c) / (b @ b)
    X = np.column_stack([a / a.std(), 0.6 * a / a.std() + 0.8 * b / b.std(), c])
    X = np.column_stack([X, np.zeros((2000, 3))])  # the floor: three gates at 0
    probs = np.array([1.0, 0.8, 0.5, 0.0, 0.0, 0.0])  # median 0.25
    order, scores = complementary_order(X, probs, np.arange(6), 3)
    assert order.tolist() == [0, 1, 2]
    np.testing.assert_allclose(scores[1], (0.8 - 0.25) * (1 - 0.6**2), rtol=1e-6)


def test_order_of_groups_uses_their_most_correlated_columns():
    rng = np.random.RandomState(0)
    a, b, c = rng.normal(size=(3, 500))
    # group 0 = (a, c), group 1 = (b, copy of c), group 2 = (noise)
    copy_of_c = c + 0.01 * rng.normal(size=500)
    X = np.column_stack([a, c, b, copy_of_c, rng.normal(size=500)])
    codes = np.array([0, 0, 1, 1, 2])
    probs = np.array([0.9, 0.8, 0.5])
    assert complementary_order(X, probs, codes, 3)[0].tolist() == [0, 2, 1]


def test_order_puts_constant_columns_last_and_stops_at_length():
    rng = np.random.RandomState(0)
    X = np.column_stack([np.ones(50), rng.normal(size=(50, 3))])
    probs = np.array([0.9, 0.8, 0.7, 0.6])
    # the constant column tells nothing, however open its gate
    order, scores = complementary_order(X, probs, np.arange(4), 4)
    assert order.tolist()[-1] == 0 and scores[0] == 0
    assert complementary_order(X, probs, np.arange(4), 2)[0].tolist() == [1, 2]


def test_equal_scores_go_to_the_more_probable_gate():
    # three copies of one column: once one is kept the others score 0, as
    # does the constant column; the likelier gate comes first among them
    a = np.random.RandomState(0).normal(size=100)
    X = np.column_stack([a, np.zeros(100), a, a])
    order, _ = complementary_order(X, np.array([0.9, 0.8, 0.3, 0.6]), np.arange(4), 4)
    assert order.tolist() == [0, 1, 3, 2]


#: strong gate noise spreads the gates over the copies, as the defaults do
SPREAD = {
    **FAST,
    "hidden_layer_sizes": (16,),
    "sigma": 1.0,
    "reg_weight": 0.01,
    "gate_lr": 0.01,
    "lr": 3e-3,
    "max_epochs": 40,
}


def test_avoid_keeps_one_copy_and_the_complementary_column():
    X, y = copies_data()
    keep = StochasticGatesSelector(k=3, **SPREAD).fit(X, y)
    avoid = StochasticGatesSelector(k=3, redundancy="avoid", **SPREAD).fit(X, y)
    # the same training: the gates are identical, only the reading differs
    np.testing.assert_array_equal(keep.gate_probabilities_, avoid.gate_probabilities_)
    copies = {0, 1, 2, 3}
    kept = set(keep.get_support(indices=True))
    assert 4 in kept and len(kept & copies) == 2
    # one copy and the complementary column come first ...
    first_two = set(np.argsort(-avoid.feature_importances_)[:2])
    assert 4 in first_two and len(first_two & copies) == 1
    # ... then the other copies, which repeat a kept column but carry the
    # signal, ahead of the noise columns at the floor of the gates
    importances = avoid.feature_importances_
    assert importances[list(copies)].min() > importances[5:].max()


def test_scores_fall_along_the_order():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 12))
    X[:, 1] = X[:, 0] + 0.3 * rng.normal(size=300)
    X[:, 5] = X[:, 4] + 0.1 * rng.normal(size=300)
    probs = rng.uniform(size=12)
    order, scores = complementary_order(X, probs, np.arange(12), 6)
    ranked = scores[order]
    assert np.all(np.diff(ranked) <= 0)
    # the gates left out score at most the last kept one, and never above p
    rest = np.setdiff1d(np.arange(12), order)
    assert scores[rest].max() <= ranked[-1]
    assert np.all(scores <= probs)
    np.testing.assert_array_equal(np.argsort(-scores, kind="stable")[:6], order)


@pytest.mark.parametrize("k", [1, 3, 6])
def test_the_top_k_importances_are_the_support_with_avoid(k):
    from sklearn.feature_selection import SelectFromModel

    X, y = copies_data()
    selector = StochasticGatesSelector(k=k, redundancy="avoid", **SPREAD).fit(X, y)
    importances = selector.feature_importances_
    top = np.argsort(-importances, kind="stable")[:k]
    np.testing.assert_array_equal(np.sort(top), selector.get_support(indices=True))
    assert np.all(importances <= selector.gate_probabilities_)
    from_model = SelectFromModel(
        selector, prefit=True, max_features=k, threshold=-np.inf
    )
    np.testing.assert_array_equal(from_model.get_support(), selector.get_support())
    # read as "keep", the importances are the probabilities again
    selector.set_params(redundancy="keep")
    np.testing.assert_array_equal(
        selector.feature_importances_, selector.gate_probabilities_
    )


def test_set_params_k_reads_the_order_fitted():
    X, y = copies_data()
    selector = StochasticGatesSelector(k=2, redundancy="avoid", **FEW).fit(X, y)
    order = selector._complementary_order
    assert len(order) == X.shape[1]  # fewer features than ranked at fit
    for k in (1, 3, 10):
        support = selector.set_params(k=k).get_support(indices=True)
        np.testing.assert_array_equal(support, np.sort(order[:k]))


def test_k_beyond_the_ranked_features_asks_for_a_refit():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 300))
    y = (X[:, 0] > 0).astype(int)
    selector = StochasticGatesSelector(k=5, redundancy="avoid", **FEW).fit(X, y)
    assert len(selector._complementary_order) == 256
    assert selector.set_params(k=256).get_support().sum() == 256
    with pytest.raises(ValueError, match="more than the 256 features ranked"):
        selector.set_params(k=257).get_support()
    # a larger k at fit time ranks that many
    refit = StochasticGatesSelector(k=280, redundancy="avoid", **FEW).fit(X, y)
    assert len(refit._complementary_order) == 280
    assert refit.get_support().sum() == 280
    # k above the number of features keeps them all, as with "keep"
    with pytest.warns(UserWarning, match="all 300 are kept"):
        refit.set_params(k=400).fit(X, y)
    assert refit.get_support().all()


def test_avoid_without_k_keeps_as_many_as_the_open_gates():
    # k=None: the gates decide how many (those at threshold), the reading
    # decides which
    X, y = informative_data()
    selector = StochasticGatesSelector(redundancy="avoid", **FEW).fit(X, y)
    n_open = np.count_nonzero(selector.gate_probabilities_ >= selector.threshold)
    support = selector.get_support(indices=True)
    assert len(support) == n_open
    top = np.argsort(-selector.feature_importances_, kind="stable")[:n_open]
    np.testing.assert_array_equal(np.sort(top), support)


def test_switching_to_avoid_after_fit_asks_for_a_refit():
    X, y = informative_data()
    selector = StochasticGatesSelector(k=2, redundancy="keep", **FEW).fit(X, y)
    with pytest.raises(ValueError, match="Fit it again with redundancy='avoid'"):
        selector.set_params(redundancy="avoid").get_support()
    with pytest.raises(ValueError, match="Fit it again with redundancy='avoid'"):
        getattr(selector, "feature_importances_")  # noqa: B009
    # and back: "keep" reads the probabilities, always there
    avoid = StochasticGatesSelector(k=2, redundancy="avoid", **FEW).fit(X, y)
    top = np.argsort(-avoid.gate_probabilities_, kind="stable")[:2]
    np.testing.assert_array_equal(
        avoid.set_params(redundancy="keep").get_support(indices=True), np.sort(top)
    )


def test_pickle_keeps_the_avoid_selection():
    X, y = copies_data()
    selector = StochasticGatesSelector(k=3, redundancy="avoid", **FEW).fit(X, y)
    again = pickle.loads(pickle.dumps(selector))
    np.testing.assert_array_equal(again.get_support(), selector.get_support())
    np.testing.assert_array_equal(again.transform(X), selector.transform(X))


def test_partial_fit_ranks_again_on_every_row_seen():
    X, y = copies_data()
    selector = StochasticGatesSelector(k=2, redundancy="avoid", **FEW)
    selector.partial_fit(X[:200], y[:200])
    first = selector._complementary_order.copy()
    probs = selector.gate_probabilities_.copy()
    selector.partial_fit(X[200:], y[200:])
    assert not np.array_equal(probs, selector.gate_probabilities_)
    # a later call adds its rows to the sample and ranks again
    support = selector.get_support()
    np.testing.assert_array_equal(
        selector._complementary_order,
        complementary_order(
            X.astype(np.float32),
            selector.group_probabilities_,
            np.arange(X.shape[1]),
            X.shape[1],
        )[0],
    )
    assert first.shape == selector._complementary_order.shape
    np.testing.assert_array_equal(selector.get_support(), support)


def test_a_short_last_chunk_does_not_decide_the_correlations():
    # on two rows every pair of columns correlates fully: ranked on the last
    # chunk alone, everything after the first pick would score 0
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 8))
    y = (X[:, 5] + X[:, 6] + X[:, 7] > 0).astype(int)
    params = {**FEW, "max_epochs": 30, "gate_lr": 0.02, "settle_steps": None}
    selector = StochasticGatesSelector(k=3, redundancy="avoid", **params)
    selector.partial_fit(X[:398], y[:398]).partial_fit(X[398:], y[398:])
    assert selector._rows_seen == 400
    # a new fit starts a new sample: the rows of the last one count no more
    assert selector.fit(X[:100], y[:100])._rows_seen == 100
    assert selector.get_support(indices=True).tolist() == [5, 6, 7]
    assert np.all(selector.feature_importances_[[5, 6, 7]] > 0.5)


def test_the_sample_spreads_over_every_chunk():
    from sk_memsel._selectors._redundancy import (
        CORRELATION_ROWS,
        correlation_sample,
    )

    X = np.arange(3 * CORRELATION_ROWS, dtype=np.float32)[:, None]
    sample, seen = correlation_sample(X[: 2 * CORRELATION_ROWS])
    sample, seen = correlation_sample(X[2 * CORRELATION_ROWS :], sample, seen)
    assert seen == len(X) and len(sample) == CORRELATION_ROWS
    # two thirds of the sample from the first chunk, one third from the second
    from_first = np.count_nonzero(sample < 2 * CORRELATION_ROWS)
    assert abs(from_first - 2 * CORRELATION_ROWS / 3) <= 1
    # a short chunk adds its share, not more
    sample, seen = correlation_sample(X[:2], sample, seen)
    assert len(sample) <= CORRELATION_ROWS + 2 and seen == len(X) + 2


def test_a_pickle_between_partial_fit_calls_reads_the_same_support():
    X, y = copies_data()
    selector = StochasticGatesSelector(k=2, redundancy="avoid", **FEW)
    selector.partial_fit(X[:200], y[:200]).partial_fit(X[200:], y[200:])
    again = pickle.loads(pickle.dumps(selector))
    np.testing.assert_array_equal(again.get_support(), selector.get_support())
    np.testing.assert_array_equal(
        again.feature_importances_, selector.feature_importances_
    )


def test_avoid_reads_a_memmap(tmp_path):
    X, y = copies_data()
    path = tmp_path / "X.npy"
    np.save(path, X.astype(np.float32))
    mapped = np.load(path, mmap_mode="r")
    in_memory = StochasticGatesSelector(k=3, redundancy="avoid", **FEW).fit(
        X.astype(np.float32), y
    )
    streamed = StochasticGatesSelector(k=3, redundancy="avoid", **FEW).fit(mapped, y)
    np.testing.assert_array_equal(streamed.get_support(), in_memory.get_support())


def test_very_many_columns_measure_on_fewer_rows(monkeypatch):
    from sk_memsel._selectors import _redundancy

    rng = np.random.RandomState(0)
    X = rng.normal(size=(1000, 10))
    # column 1 copies column 0 on 100 evenly spaced rows only
    rows = np.linspace(0, 999, 100).round().astype(int)
    X[rows, 1] = X[rows, 0]
    probs = np.array([0.9, 0.89, *np.linspace(0.5, 0.4, 8)])
    # on all rows (1,000 x 10 = 10,000 values) the two barely correlate
    assert complementary_order(X, probs, np.arange(10), 2)[0].tolist() == [0, 1]
    # at most 1,000 values for 10 columns: the 100 rows, where 1 copies 0
    monkeypatch.setattr(_redundancy, "CORRELATION_VALUES", 1000)
    assert complementary_order(X, probs, np.arange(10), 10)[0][-1] == 1


def test_reading_the_selection_changes_nothing():
    # as in scikit-learn, get_support, transform and the importances only
    # read the fitted state, after fit and after a later partial_fit call
    X, y = copies_data()
    selector = StochasticGatesSelector(k=2, redundancy="avoid", **FEW)
    for fit in (selector.fit, selector.partial_fit):
        fit(X, y)
        before = pickle.dumps(selector)
        selector.get_support()
        selector.transform(X)
        getattr(selector, "feature_importances_")  # noqa: B009
        assert pickle.dumps(selector) == before
