"""Tests of StochasticGatesSelector on tiny problems (a few seconds each)."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import norm
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_selection import SelectFromModel
from sklearn.model_selection import GridSearchCV

from sk_memsel import StochasticGatesSelector

#: settings that train in about a second on the data below
FAST = {
    "hidden_layer_sizes": (8,),
    "max_epochs": 30,
    "batch_size": 64,
    "lr": 0.03,
    "gate_lr": 0.03,
    "reg_weight": 0.05,
    "reg_reduction": "sum",
    "sigma": 0.5,
    "random_state": 0,
}
#: a few epochs, for tests that do not look at the quality of the selection
FEW = {**FAST, "max_epochs": 3}


def informative_data(n_samples=240, n_features=8, seed=0):
    """Binary target from columns 0 and 1 only; the rest is noise."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, n_features))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, y


@pytest.fixture(scope="module")
def data():
    return informative_data()


@pytest.fixture(scope="module", params=["gaussian", "hard_concrete"])
def fitted(request, data):
    X, y = data
    return StochasticGatesSelector(k=2, gate=request.param, **FAST).fit(X, y)


@pytest.fixture(scope="module")
def regression_fit():
    rng = np.random.RandomState(1)
    X = rng.normal(size=(200, 5))
    y = 3.0 * X[:, 2] - 2.0 * X[:, 4] + 0.1 * rng.normal(size=200)
    return X, y, StochasticGatesSelector(k=2, **FAST).fit(X, y)


# ---------------------------------------------------------------- selection
def test_both_gates_select_the_informative_features(fitted):
    assert fitted.get_support(indices=True).tolist() == [0, 1]
    p = fitted.gate_probabilities_
    assert p[:2].min() > p[2:].max()
    assert fitted.transform(informative_data()[0]).shape == (240, 2)


def test_probabilities_follow_the_gate_formula(fitted):
    gates = fitted.net_.module_.gates
    if fitted.gate == "gaussian":
        mu = gates.mu.detach().double().numpy()
        want = norm.cdf(mu / fitted.sigma)
        values = np.clip(mu, 0, 1)
    else:
        log_alpha = gates.log_alpha.detach().double().numpy()
        beta = fitted.temperature
        want = 1 / (1 + np.exp(-(log_alpha - beta * np.log(0.1 / 1.1))))
        values = np.clip(1.2 / (1 + np.exp(-log_alpha)) - 0.1, 0, 1)
    np.testing.assert_allclose(fitted.gate_probabilities_, want, rtol=1e-6)
    np.testing.assert_allclose(fitted.gate_values_, values, rtol=1e-6, atol=1e-7)
    # redundancy="keep" reads the probabilities as they are
    keep = pickle.loads(pickle.dumps(fitted)).set_params(redundancy="keep")
    np.testing.assert_allclose(keep.feature_importances_, want, rtol=1e-6)
    assert fitted.gate_probabilities_.dtype == np.float64


def test_set_params_k_changes_support_without_refit(fitted):
    selector = pickle.loads(pickle.dumps(fitted))
    net = selector.net_
    probs = selector.gate_probabilities_.copy()
    for k in (1, 3, 8):
        support = selector.set_params(k=k).get_support()
        assert support.sum() == k
        # the k largest probabilities
        assert probs[support].min() >= probs[~support].max(initial=-1)
    assert selector.net_ is net
    np.testing.assert_array_equal(selector.gate_probabilities_, probs)


def test_threshold_mode(fitted):
    selector = pickle.loads(pickle.dumps(fitted))
    p = fitted.gate_probabilities_
    for threshold in (0.0, 0.3, 0.5, float(np.median(p)), 1.0):
        selector.set_params(k=None, threshold=threshold)
        np.testing.assert_array_equal(selector.get_support(), p >= threshold)
    selector.set_params(threshold=0.0)
    assert selector.get_support().all()


def test_ties_are_broken_by_column_order(fitted):
    selector = pickle.loads(pickle.dumps(fitted)).set_params(k=3, redundancy="keep")
    selector.group_probabilities_ = np.full(8, 0.5)
    assert selector.get_support(indices=True).tolist() == [0, 1, 2]


# ---------------------------------------------------------------- groups
def test_groups_keep_or_drop_whole_groups():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(240, 6))
    y = (X[:, 2] + X[:, 3] > 0).astype(int)
    groups = ["a", "a", "b", "b", "c", "c"]
    selector = StochasticGatesSelector(k=1, groups=groups, **FAST).fit(X, y)
    assert selector.get_support().tolist() == [False, False, True, True, False, False]
    assert selector.groups_.tolist() == ["a", "b", "c"]
    gp = selector.group_probabilities_
    assert gp.shape == (3,) and gp.argmax() == 1
    np.testing.assert_array_equal(selector.gate_probabilities_, np.repeat(gp, 2))
    # k counts groups
    assert selector.set_params(k=2).get_support().sum() == 4
    # a k above the number of groups keeps them all, as SelectKBest does
    assert selector.set_params(k=4).get_support().all()
    assert selector.net_.module_.gates.n_gates == 3


# ---------------------------------------------------------------- targets
@pytest.mark.parametrize("labels", [np.array(["no", "yes"]), np.array([3, 7])])
def test_classification_labels(data, labels):
    X, y01 = data
    y = labels[y01]
    selector = StochasticGatesSelector(k=2, **FAST).fit(X, y)
    assert selector.task_ == "classification"
    np.testing.assert_array_equal(selector.classes_, labels)
    pred = selector.predict(X)
    assert pred.shape == (240,) and set(pred) <= set(labels)
    assert pred.dtype == y.dtype
    proba = selector.predict_proba(X)
    assert proba.shape == (240, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(labels[proba.argmax(axis=1)], pred)
    assert selector.score(X, y) > 0.8


def test_multiclass_predict_proba():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(150, 4))
    y = np.digitize(X[:, 0], [-0.5, 0.5])
    selector = StochasticGatesSelector(k=1, **FAST).fit(X, y)
    proba = selector.predict_proba(X)
    assert proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_regression(regression_fit):
    X, y, selector = regression_fit
    assert selector.task_ == "regression"
    assert not hasattr(selector, "classes_")
    assert not hasattr(selector, "predict_proba")
    assert selector.get_support(indices=True).tolist() == [2, 4]
    pred = selector.predict(X)
    assert pred.shape == (200,) and pred.dtype == np.float64
    assert selector.score(X, y) > 0.8


def test_task_override(data):
    X, y = data
    selector = StochasticGatesSelector(k=2, task="regression", **FEW).fit(X, y)
    assert selector.task_ == "regression" and not hasattr(selector, "predict_proba")
    assert selector.predict(X).dtype == np.float64


def test_grid_search_uses_score(data):
    X, y = data
    search = GridSearchCV(
        StochasticGatesSelector(k=2, **FEW), {"sigma": [0.5, 1.0]}, cv=2
    ).fit(X, y)
    assert search.best_params_["sigma"] in (0.5, 1.0)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


# ---------------------------------------------------------------- attributes
def test_select_from_model_uses_feature_importances(fitted, data):
    X, y = data
    sfm = SelectFromModel(fitted, prefit=True, threshold=0.5)
    np.testing.assert_array_equal(sfm.get_support(), fitted.feature_importances_ >= 0.5)
    sfm = SelectFromModel(fitted, prefit=True, max_features=2, threshold=-np.inf)
    assert sfm.get_support(indices=True).tolist() == [0, 1]
    # and fitting it inside SelectFromModel
    sfm = SelectFromModel(clone(fitted).set_params(**FEW), threshold=0.0).fit(X, y)
    assert sfm.transform(X).shape == (240, 8)


def test_history_records_open_gates_every_epoch(fitted):
    history = fitted.history_
    assert len(history) == FAST["max_epochs"]
    open_gates = history[:, "expected_open_gates"]
    assert len(open_gates) == FAST["max_epochs"]
    assert all(0 <= v <= 8 for v in open_gates)
    np.testing.assert_allclose(
        open_gates[-1], fitted.group_probabilities_.sum(), rtol=1e-5
    )
    assert len(history[:, "train_loss"]) == FAST["max_epochs"]
    assert len(history[:, "penalty"]) == FAST["max_epochs"]


def test_same_random_state_same_result(data):
    X, y = data
    a = StochasticGatesSelector(k=2, **FEW).fit(X, y)
    b = StochasticGatesSelector(k=2, **FEW).fit(X, y)
    np.testing.assert_array_equal(a.gate_probabilities_, b.gate_probabilities_)
    np.testing.assert_array_equal(a.get_support(), b.get_support())


def test_fit_leaves_global_rng_alone(data):
    X, y = data
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    StochasticGatesSelector(k=2, **FEW).fit(X, y)
    torch.testing.assert_close(torch.rand(3), expected)


def test_pickle_round_trip(fitted, data):
    X, _ = data
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.get_support(), fitted.get_support())
    np.testing.assert_array_equal(restored.transform(X), fitted.transform(X))
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(
        restored.gate_probabilities_, fitted.gate_probabilities_
    )


def test_pandas_in_and_out(data):
    X, y = data
    columns = [f"col{i}" for i in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=columns)
    selector = StochasticGatesSelector(k=3, **FEW).set_output(transform="pandas")
    out = selector.fit(frame, pd.Series(y)).transform(frame)
    kept = [columns[i] for i in selector.get_support(indices=True)]
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == kept and len(kept) == 3
    assert selector.get_feature_names_out().tolist() == kept
    np.testing.assert_array_equal(out.to_numpy(), X[:, selector.get_support()])
    np.testing.assert_array_equal(selector.feature_names_in_, columns)


def test_input_is_not_modified(data):
    X, y = data
    X_copy, y_copy = X.copy(), y.copy()
    groups = np.arange(X.shape[1]) // 2
    groups_copy = groups.copy()
    selector = StochasticGatesSelector(k=2, groups=groups, **FEW)
    selector.fit(X, y).transform(X)
    selector.predict(X)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)
    np.testing.assert_array_equal(groups, groups_copy)
    assert selector.groups is groups


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"k": 0}, "The 'k' parameter of StochasticGatesSelector must be an int"),
        ({"k": -2}, r"'k' parameter .* Got -2 instead"),
        ({"k": 2.5}, r"'k' parameter .* Got 2.5 instead"),
        ({"k": "all"}, r"'k' parameter .* Got 'all' instead"),
        ({"k": None, "threshold": 1.5}, "threshold"),
        ({"gate": "bernoulli"}, r"'gate' parameter .* Got 'bernoulli' instead"),
        ({"sigma": 0.0}, "sigma"),
        ({"sigma": -1.0}, "sigma"),
        ({"temperature": 0}, "temperature"),
        ({"temperature": -0.5}, "temperature"),
        ({"groups": [0, 1, 2]}, "groups must give one label per feature"),
        ({"reg_reduction": "none"}, "reg_reduction"),
        ({"reg_weight": -1.0}, "reg_weight"),
        ({"gate_lr": 0.0}, "gate_lr"),
        ({"hidden_layer_sizes": (4, 0)}, "hidden_layer_sizes"),
        ({"activation": "sigmoid"}, "activation"),
        ({"task": "ranking"}, "task"),
    ],
)
def test_bad_parameters(data, params, match):
    X, y = data
    with pytest.raises(ValueError, match=match):
        StochasticGatesSelector(**{**FAST, "k": 2, **params}).fit(X, y)


def test_bad_k_after_fit_is_reported_by_get_support(fitted):
    selector = pickle.loads(pickle.dumps(fitted))
    with pytest.raises(ValueError, match=r"'k' parameter .* Got 0 instead"):
        selector.set_params(k=0).get_support()
    # a k above the number of features keeps them all, as SelectKBest does
    assert selector.set_params(k=100).transform(informative_data()[0]).shape[1] == 8
    with pytest.raises(ValueError, match="threshold"):
        selector.set_params(k=None, threshold=-0.1).get_support()


def test_not_fitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        StochasticGatesSelector().get_support()


# ---------------------------------------------------------------- device
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda(data):
    X, y = data
    selector = StochasticGatesSelector(k=2, device="cuda", **FAST).fit(X, y)
    assert next(selector.net_.module_.parameters()).is_cuda
    assert selector.transform(X).shape == (240, 2)
    assert isinstance(selector.gate_probabilities_, np.ndarray)


# ---------------------------------------------------------------- training length
def test_auto_epochs_make_a_fixed_number_of_steps():
    from sk_memsel._backbone import auto_epochs
    from sk_memsel._selectors._stochastic_gates import AUTO_STEPS

    assert auto_epochs(2000, 256, AUTO_STEPS) == 500  # 8 batches per epoch
    assert auto_epochs(1000, 256, AUTO_STEPS) == 1000  # 4 batches per epoch
    assert auto_epochs(60000, 256, AUTO_STEPS) == 18
    assert auto_epochs(100, -1, AUTO_STEPS) == AUTO_STEPS  # one batch per epoch
    # the held-out rows of early stopping do not count
    selector = StochasticGatesSelector(validation_fraction=0.2)
    assert selector._n_epochs(1000) == auto_epochs(800, 256, AUTO_STEPS)
    assert StochasticGatesSelector(max_epochs=7)._n_epochs(1000) == 7


def test_auto_epochs_in_a_fit(monkeypatch):
    # 40 steps instead of 4,000 keeps the test fast; 20 batches per epoch
    monkeypatch.setattr(StochasticGatesSelector, "_auto_steps", 40)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(2000, 3))
    y = (X[:, 0] > 0).astype(int)
    params = {**FAST, "max_epochs": "auto", "batch_size": 100, "settle_steps": None}
    selector = StochasticGatesSelector(k=1, **params).fit(X, y)
    assert len(selector.history_) == 2
    assert _adam_steps(selector) == {40}
    assert selector.max_epochs == "auto"  # the parameter is left as given
    # with early stopping's 20 % held out: 16 batches per epoch, 3 epochs
    selector.set_params(validation_fraction=0.2, n_iter_no_change=5).fit(X, y)
    assert len(selector.history_) == 3


def test_training_stops_once_the_top_k_has_settled(data):
    X, y = data  # 240 rows, batches of 64: 4 steps per epoch
    params = {**FAST, "max_epochs": 200, "settle_steps": 40}
    selector = StochasticGatesSelector(k=2, **params).fit(X, y)
    assert selector.history_[-1, "stop_reason"] == "settled"
    assert selector.n_epochs_ == len(selector.history_) < 200
    np.testing.assert_array_equal(selector.get_support(indices=True), [0, 1])
    # the top 2 did not change over the last 40 steps (10 epochs): training
    # longer keeps it
    longer = StochasticGatesSelector(k=2, **{**params, "settle_steps": None})
    longer.fit(X, y)
    assert longer.n_epochs_ == 200
    assert longer.history_[-1, "stop_reason"] == "max_epochs"
    np.testing.assert_array_equal(longer.get_support(indices=True), [0, 1])


def test_threshold_selection_settles_only_when_the_gates_stop_moving(data):
    X, y = data
    params = {**FAST, "max_epochs": 300, "settle_steps": 40}
    selector = StochasticGatesSelector(k=None, **params).fit(X, y)
    assert selector.history_[-1, "stop_reason"] == "settled"
    # every gate stayed within one 0.02 band over the last 40 steps (10
    # epochs), so their sum moved by less than 8 * 0.02; a set that merely
    # stopped changing would stop while the closing gates still move
    open_gates = selector.history_[-11:, "expected_open_gates"]
    assert np.ptp(open_gates) < 8 * 0.02
    p = selector.gate_probabilities_
    assert np.all((p > 0.9) | (p < 0.1))
    np.testing.assert_array_equal(selector.get_support(indices=True), [0, 1])


def test_each_partial_fit_call_settles_on_its_own_data(data):
    X, y = data  # 4 steps per epoch
    params = {**FAST, "max_epochs": 200, "settle_steps": 40}
    selector = StochasticGatesSelector(k=2, **params).partial_fit(X, y)
    assert selector.history_[-1, "stop_reason"] == "settled"
    first = selector.n_epochs_
    # the same data: the top 2 does not change, and the call stops after the
    # 40 steps (10 epochs) of patience it owes its own data
    selector.partial_fit(X, y)
    assert selector.n_epochs_ == first + 10
    assert selector.history_[-1, "stop_reason"] == "settled"
    # a call shorter than the patience trains all its epochs
    selector.set_params(max_epochs=3).partial_fit(X, y)
    assert selector.n_epochs_ == first + 13
    assert selector.history_[-1, "stop_reason"] == "max_epochs"


def test_partial_fit_records_why_each_call_stopped(data):
    X, y = data
    params = {**FAST, "max_epochs": 3}
    selector = StochasticGatesSelector(k=2, **params)
    selector.partial_fit(X, y).partial_fit(X, y)
    assert selector.n_epochs_ == len(selector.history_) == 6
    assert selector.history_[2, "stop_reason"] == "max_epochs"
    assert selector.history_[5, "stop_reason"] == "max_epochs"


def test_bad_max_epochs_word(data):
    X, y = data
    with pytest.raises(ValueError, match=r"'max_epochs' parameter .* Got 'many'"):
        StochasticGatesSelector(**{**FAST, "max_epochs": "many"}).fit(X, y)


# ---------------------------------------------------------------- partial_fit
def _adam_steps(selector):
    return {int(s["step"]) for s in selector.net_.optimizer_.state.values()}


def test_partial_fit_first_call_is_fit(data):
    X, y = data
    a = StochasticGatesSelector(k=2, **FAST).partial_fit(X, y, classes=[1, 0])
    b = StochasticGatesSelector(k=2, **FAST).fit(X, y)
    np.testing.assert_array_equal(a.gate_probabilities_, b.gate_probabilities_)
    np.testing.assert_array_equal(a.classes_, [0, 1])
    assert len(a.history_) == FAST["max_epochs"]


def test_partial_fit_continues_the_same_network(data):
    X, y = data
    first, second = slice(0, 120), slice(120, None)
    selector = StochasticGatesSelector(k=2, **FEW)
    selector.partial_fit(X[first], y[first], classes=[0, 1])
    mu = selector.net_.module_.gates.mu
    after_first = selector.gate_probabilities_.copy()
    steps = _adam_steps(selector)
    assert len(steps) == 1  # every parameter took the same number of steps
    selector.partial_fit(X[second], y[second])
    # the same gate parameter, trained further: not new gates
    assert selector.net_.module_.gates.mu is mu
    assert not np.array_equal(selector.gate_probabilities_, after_first)
    # the optimizer went on counting (a new one would start again from 0)
    assert _adam_steps(selector) == {2 * steps.pop()}
    assert len(selector.history_) == 2 * FEW["max_epochs"]
    np.testing.assert_allclose(
        selector.history_[-1, "expected_open_gates"],
        selector.gate_probabilities_.sum(),
        rtol=1e-5,
    )
    # training on the first half left its mark
    fresh = StochasticGatesSelector(k=2, **FEW).fit(X[second], y[second])
    assert not np.allclose(fresh.gate_probabilities_, selector.gate_probabilities_)


def test_partial_fit_learns_from_the_chunks(data):
    # one pass per call over chunks of 60 rows: the gates end as a fit would
    X, y = data
    selector = StochasticGatesSelector(k=2, **{**FAST, "max_epochs": 1})
    for _ in range(30):
        for start in range(0, 240, 60):
            rows = slice(start, start + 60)
            selector.partial_fit(X[rows], y[rows], classes=[0, 1])
    assert selector.get_support(indices=True).tolist() == [0, 1]
    assert len(selector.history_) == 120
    p = selector.gate_probabilities_
    assert p[:2].min() > 0.9 and p[2:].max() < 0.1


def test_partial_fit_reads_max_epochs_at_every_call(data):
    X, y = data
    selector = StochasticGatesSelector(k=2, **FEW).partial_fit(X, y, classes=[0, 1])
    selector.set_params(max_epochs=1).partial_fit(X, y)
    assert len(selector.history_) == FEW["max_epochs"] + 1
    with pytest.raises(ValueError, match="max_epochs"):
        selector.set_params(max_epochs=0).partial_fit(X, y)
    assert len(selector.history_) == FEW["max_epochs"] + 1


def test_partial_fit_same_calls_same_result_pickled_or_not(data):
    X, y = data
    chunks = [slice(0, 80), slice(80, 160), slice(160, 240)]

    def run(pickle_between):
        selector = StochasticGatesSelector(k=2, **FEW)
        for rows in chunks:
            if pickle_between:
                selector = pickle.loads(pickle.dumps(selector))
            selector.partial_fit(X[rows], y[rows], classes=[0, 1])
        return selector

    a, b, c = run(False), run(False), run(True)
    np.testing.assert_array_equal(a.gate_probabilities_, b.gate_probabilities_)
    np.testing.assert_array_equal(a.gate_probabilities_, c.gate_probabilities_)
    np.testing.assert_array_equal(a.predict_proba(X), c.predict_proba(X))


def test_partial_fit_after_fit_continues_and_fit_starts_afresh(data):
    X, y = data
    fresh = StochasticGatesSelector(k=2, **FEW).fit(X, y)
    selector = StochasticGatesSelector(k=2, **FEW).fit(X, y)
    selector.partial_fit(X, y)
    assert len(selector.history_) == 2 * FEW["max_epochs"]
    assert not np.array_equal(selector.gate_probabilities_, fresh.gate_probabilities_)
    selector.partial_fit(X, y).fit(X, y)
    assert len(selector.history_) == FEW["max_epochs"]
    np.testing.assert_array_equal(
        selector.gate_probabilities_, fresh.gate_probabilities_
    )
    # and partial_fit after that fit counts its calls from the start again
    selector.partial_fit(X, y)
    again = StochasticGatesSelector(k=2, **FEW).fit(X, y).partial_fit(X, y)
    np.testing.assert_array_equal(
        selector.gate_probabilities_, again.gate_probabilities_
    )


def test_partial_fit_string_labels_and_a_chunk_without_every_class(data):
    X, y01 = data
    labels = np.array(["no", "yes"])
    y = labels[y01]
    only_no = y == "no"
    selector = StochasticGatesSelector(k=2, **FEW)
    selector.partial_fit(X[only_no], y[only_no], classes=["yes", "no"])
    selector.partial_fit(X, y, classes=np.array(["no", "yes"]))
    np.testing.assert_array_equal(selector.classes_, labels)
    assert set(selector.predict(X)) <= set(labels)
    assert selector.predict_proba(X).shape == (240, 2)


def test_partial_fit_regression_keeps_the_first_scaling(regression_fit):
    X, y, _ = regression_fit
    selector = StochasticGatesSelector(k=2, **FAST).partial_fit(X[:100], y[:100])
    assert selector.task_ == "regression" and not hasattr(selector, "classes_")
    mean, scale = selector._y_mean.copy(), selector._y_scale.copy()
    selector.partial_fit(X[100:], y[100:])
    np.testing.assert_array_equal(selector._y_mean, mean)
    np.testing.assert_array_equal(selector._y_scale, scale)
    assert selector.get_support(indices=True).tolist() == [2, 4]
    assert selector.score(X, y) > 0.8
    with pytest.raises(ValueError, match="2 target"):
        selector.partial_fit(X, np.c_[y, y])
    with pytest.raises(ValueError, match="only for classification"):
        selector.partial_fit(X, y, classes=[0, 1])


@pytest.mark.parametrize("labels", [np.array([0, 1]), np.array(["a", "b"])])
def test_partial_fit_classes_of_the_first_call(data, labels):
    X, y01 = data
    y = labels[y01]
    # without classes=, the first call takes the classes of its y, as fit does
    selector = StochasticGatesSelector(k=2, **FEW).partial_fit(X, y)
    np.testing.assert_array_equal(selector.classes_, labels)
    assert selector.task_ == "classification"
    # so a label that only a later chunk holds is an error, pointing at classes=
    y3 = np.where(np.arange(len(y)) < 20, "c" if labels.dtype.kind == "U" else 9, y)
    with pytest.raises(ValueError, match="classes=") as info:
        selector.partial_fit(X, y3)
    assert "not in classes" in str(info.value)
    with pytest.raises(ValueError, match="single class"):
        StochasticGatesSelector(k=2, **FEW).partial_fit(X[y01 == 0], y[y01 == 0])
    with pytest.raises(ValueError, match="only for classification"):
        StochasticGatesSelector(k=2, task="regression", **FEW).partial_fit(
            X, y01, classes=[0, 1]
        )
    with pytest.raises(ValueError, match="at least two"):
        StochasticGatesSelector(k=2, **FEW).partial_fit(X, y01, classes=[1])
    with pytest.raises(ValueError, match="1-D list"):
        StochasticGatesSelector(k=2, **FEW).partial_fit(X, y01, classes=[[0, 1]])


def test_partial_fit_bad_later_calls(data):
    X, y = data
    selector = StochasticGatesSelector(k=2, **FEW).partial_fit(X, y, classes=[0, 1])
    probs = selector.gate_probabilities_.copy()
    with pytest.raises(ValueError, match=r"not in classes: \[2\]"):
        selector.partial_fit(X, np.where(y == 1, 2, 0))
    with pytest.raises(ValueError, match="not the set of classes"):
        selector.partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="expecting 8 features"):
        selector.partial_fit(X[:, :5], y)
    with pytest.raises(ValueError, match="240 samples but y has 239"):
        selector.partial_fit(X, y[:-1])
    with pytest.raises(ValueError, match="was first fitted without"):
        selector.partial_fit(pd.DataFrame(X, columns=list("abcdefgh")), y)
    # nothing was trained by the failed calls
    np.testing.assert_array_equal(selector.gate_probabilities_, probs)
    assert len(selector.history_) == FEW["max_epochs"]


def test_partial_fit_feature_names_must_match(data):
    X, y = data
    frame = pd.DataFrame(X, columns=list("abcdefgh"))
    selector = StochasticGatesSelector(k=2, **FEW).partial_fit(frame, y, classes=[0, 1])
    with pytest.raises(ValueError, match="feature names"):
        selector.partial_fit(frame.rename(columns={"a": "z"}), y)
    with pytest.raises(ValueError, match="no column names"):
        selector.partial_fit(X, y)
    selector.partial_fit(frame, y)
    assert selector.get_feature_names_out().shape == (2,)


# ------------------------------------------------------------ training must learn
def wide_data(n_samples=64, n_features=2000, n_informative=12, seed=1):
    """Gene expression's shape: few rows, many columns, 4 classes whose means
    differ on the first ``n_informative`` columns only."""
    rng = np.random.RandomState(seed)
    y = np.arange(n_samples) % 4
    X = rng.normal(size=(n_samples, n_features))
    X[:, :n_informative] += rng.normal(scale=1.5, size=(4, n_informative))[y]
    return X, y


def test_gates_that_never_moved_are_not_a_settled_selection():
    # 64 rows: one optimizer step per epoch, and Adam moves every gate by
    # about gate_lr per step, all alike under the penalty: the top k stayed
    # the random starting order, "settled" after 500 steps and was returned
    # (columns 59, 337, 393, 452 and 1472 here, on any such data)
    X, y = wide_data()
    selector = StochasticGatesSelector(k=5, random_state=0).fit(X, y)
    assert set(selector.get_support(indices=True)) <= set(range(12))
    assert dict(selector.net_.callbacks_)["settled"].moved_
    assert selector.history_[-1, "stop_reason"] == "settled"
    # the gates' learning rate rose while they had not moved, then held
    factors = selector.history_[:, "speed_up"]
    assert factors[0] == 1 and factors[-1] > 1
    assert np.all(np.diff(factors) >= 0)


def test_the_default_budget_warns_when_the_gates_never_move():
    # a target no column predicts: the gates close together, in their
    # starting order, and no selection can be read off them
    X, _ = wide_data(n_features=50)
    y = np.random.RandomState(1).permutation(np.arange(len(X)) % 2)
    selector = StochasticGatesSelector(
        k=3, hidden_layer_sizes=(), reg_weight=0.5, random_state=0
    )
    with pytest.warns(ConvergenceWarning, match="did not move apart"):
        selector.fit(X, y)
    # an explicit budget is the user's choice: no warning
    selector.set_params(max_epochs=50).fit(X, y)


@pytest.mark.parametrize("missing", [np.nan, None])
def test_a_feature_without_a_group_label_is_named(missing):
    X, y = informative_data(n_features=4)
    groups = np.array([0, 1, missing, 2], dtype=object)
    with pytest.raises(ValueError, match="no label for 1 feature.*feature 2"):
        StochasticGatesSelector(k=2, groups=groups, **FEW).fit(X, y)
