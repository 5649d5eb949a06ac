"""Tests of ConcreteAutoencoderSelector (fast: tiny data, few epochs)."""

import math
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler

from sk_memsel import ConcreteAutoencoderSelector
from sk_memsel.nn import ConcreteSelect, distinct_argmax

FAST = {
    "max_epochs": 20,
    "hidden_layer_sizes": (16,),
    "lr": 0.01,
    "selector_lr": 0.05,
    "batch_size": 48,
    "convergence_threshold": 0.0,
}


def make_selector(**params):
    return ConcreteAutoencoderSelector(**{**FAST, "random_state": 0, **params})


@pytest.fixture(scope="module")
def correlated():
    """Eight features driven by two latent factors, plus noise."""
    rng = np.random.RandomState(0)
    z = rng.normal(size=(240, 2))
    mixing = rng.normal(size=(2, 8))
    X = z @ mixing + 0.05 * rng.normal(size=(240, 8))
    return X


@pytest.fixture(scope="module")
def fitted(correlated):
    return make_selector(k=3).fit(correlated)


@pytest.fixture(scope="module")
def dominant():
    """One column carries nearly all the variance: every node wants it."""
    rng = np.random.RandomState(0)
    signal = rng.normal(size=(200, 1))
    return np.hstack([10 * signal, 0.01 * rng.normal(size=(200, 7))])


# ---------------------------------------------------------------- selection
def test_selects_exactly_k_distinct_features(fitted, correlated):
    assert fitted.selected_features_.shape == (3,)
    assert len(set(fitted.selected_features_.tolist())) == 3
    support = fitted.get_support(indices=True)
    np.testing.assert_array_equal(support, np.sort(fitted.selected_features_))
    assert fitted.get_support().sum() == 3
    Xt = fitted.transform(correlated)
    np.testing.assert_array_equal(Xt, correlated[:, support])


@pytest.fixture(scope="module")
def dominant_fitted(dominant):
    return make_selector(k=3, hidden_layer_sizes=(8,), gjs_weight=0.0).fit(dominant)


def test_duplicates_are_resolved_into_k_distinct_features(dominant, dominant_fitted):
    sel = dominant_fitted
    argmax = sel.selection_probabilities_.argmax(axis=1)
    # the data does make the nodes collide on the dominant column ...
    assert len(set(argmax.tolist())) < 3
    # ... and the selector still returns 3 distinct features, the most
    # confident node keeping the contested one
    assert len(set(sel.selected_features_.tolist())) == 3
    assert 0 in sel.selected_features_
    expected = distinct_argmax(torch.from_numpy(sel.selection_probabilities_))
    np.testing.assert_array_equal(sel.selected_features_, expected.numpy())
    assert sel.transform(dominant).shape == (200, 3)


def test_k_equal_to_n_features_selects_every_feature(dominant):
    sel = make_selector(k=8, max_epochs=2, hidden_layer_sizes=(4,)).fit(dominant)
    assert sorted(sel.selected_features_.tolist()) == list(range(8))


def test_selection_probabilities_and_layer(fitted, correlated):
    probs = fitted.selection_probabilities_
    assert probs.shape == (3, 8)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    layer = fitted.net_.module_.select
    assert isinstance(layer, ConcreteSelect)
    assert layer.selection.tolist() == fitted.selected_features_.tolist()


def test_same_random_state_same_support(correlated, fitted):
    again = make_selector(k=3).fit(correlated)
    np.testing.assert_array_equal(again.selected_features_, fitted.selected_features_)
    np.testing.assert_array_equal(
        again.selection_probabilities_, fitted.selection_probabilities_
    )


# ---------------------------------------------------------------- annealing
def test_temperature_is_annealed_per_epoch(fitted):
    temps = fitted.history_[:, "temperature"]
    assert len(temps) == 20
    assert temps[0] == pytest.approx(10.0)
    assert temps[-1] == pytest.approx(0.01)
    assert all(a > b for a, b in zip(temps, temps[1:], strict=False))
    # geometric by default: constant ratio between epochs
    ratio = (0.01 / 10.0) ** (1 / 19)
    np.testing.assert_allclose(np.divide(temps[1:], temps[:-1]), ratio, rtol=1e-9)
    assert fitted.net_.module_.temperature == pytest.approx(0.01)


def test_linear_annealing_with_warmup_and_stop(correlated):
    sel = make_selector(
        k=2,
        max_epochs=6,
        temperature=2.0,
        min_temperature=0.5,
        annealing="linear",
        warmup_epochs=1,
        stop_annealing_epoch=4,
    ).fit(correlated)
    # warm-up holds epoch 1; then 2.0 -> 0.5 over epochs 2..6, held after 4
    np.testing.assert_allclose(
        sel.history_[:, "temperature"], [2.0, 2.0, 1.625, 1.25, 1.25, 1.25]
    )


def test_convergence_recorded_per_epoch(fitted):
    conv = fitted.history_[:, "convergence"]
    assert len(conv) == 20
    assert all(1 / 8 <= c <= 1 for c in conv)
    assert fitted.convergence_ == pytest.approx(conv[-1], rel=1e-5)
    assert fitted.convergence_ == pytest.approx(
        fitted.selection_probabilities_.max(axis=1).mean()
    )
    assert conv[-1] > conv[0]
    assert len(fitted.history_[:, "train_loss"]) == 20


def test_convergence_warning_when_training_is_too_short(correlated):
    sel = make_selector(k=3, max_epochs=2, convergence_threshold=0.9)
    with pytest.warns(ConvergenceWarning, match="max_epochs") as record:
        sel.fit(correlated)
    assert "min_temperature" in str(record[0].message)
    assert "scale them first" in str(record[0].message)
    assert record[0].filename == __file__  # the caller's line, not sk_memsel's
    assert sel.convergence_ < 0.9


def test_no_convergence_warning_when_nodes_settle(correlated):
    sel = make_selector(k=2, max_epochs=60, selector_lr=0.1, convergence_threshold=0.9)
    sel.fit(correlated)  # a warning from sk_memsel would fail this test
    assert sel.convergence_ >= 0.9


# ---------------------------------------------------------------- stopping
def test_training_stops_once_the_selection_has_settled(correlated):
    # 5 batches per epoch; the default budget would be ceil(1000 / 5) epochs
    sel = make_selector(k=2, max_epochs="auto", selector_lr=0.1, settle_steps=50)
    sel.fit(correlated)
    n_epochs = sel.n_epochs_
    assert n_epochs == len(sel.history_) < 200
    assert sel.history_[-1, "stop_reason"] == "settled"
    assert sel.convergence_ >= 0.95
    # the schedule spans the budget of 200 epochs, and the last epoch jumps to
    # its end: min_temperature
    temps = sel.history_[:, "temperature"]
    assert temps[-2] > 0.02
    assert temps[-1] == pytest.approx(0.01)
    assert sel.net_.module_.temperature == pytest.approx(0.01)
    # the selection did not change over the last 50 steps (10 epochs) before
    # the final epoch
    probabilities = sel.selection_probabilities_
    assert set(sel.selected_features_) == set(
        distinct_argmax(torch.from_numpy(probabilities)).tolist()
    )
    # settle_steps=None trains the whole budget and ends the schedule there
    full = make_selector(k=2, max_epochs=n_epochs + 5, selector_lr=0.1)
    full.set_params(settle_steps=None).fit(correlated)
    assert full.n_epochs_ == n_epochs + 5
    assert full.history_[-1, "stop_reason"] == "max_epochs"
    assert full.history_[-1, "temperature"] == pytest.approx(0.01)


def test_nodes_must_settle_before_training_stops(correlated):
    # a selection that does not change at a high temperature is not settled:
    # the nodes are still spread over many features
    sel = make_selector(
        k=2, max_epochs=15, temperature=50.0, min_temperature=40.0, settle_steps=1
    ).fit(correlated)
    assert sel.convergence_ < 0.95
    assert sel.n_epochs_ == 15
    assert sel.history_[-1, "stop_reason"] == "max_epochs"


def test_auto_max_epochs_makes_about_1000_steps():
    sel = ConcreteAutoencoderSelector()
    assert sel.max_epochs == "auto"
    assert sel._n_epochs(4000) == 63  # 16 batches of 256 per epoch
    assert sel._n_epochs(1437) == 167
    assert sel.set_params(max_epochs=9)._n_epochs(1437) == 9


# ---------------------------------------------------------------- reconstruction
def test_reconstruct_beats_mean_imputation(fitted, correlated):
    rec = fitted.reconstruct(correlated)
    assert rec.shape == correlated.shape
    mse = np.mean((rec - correlated) ** 2)
    mse_mean = np.mean((correlated - correlated.mean(axis=0)) ** 2)
    assert mse < 0.5 * mse_mean
    assert fitted.score(correlated) == pytest.approx(-mse, rel=1e-4)


def test_inverse_transform_zero_fills(fitted, correlated):
    back = fitted.inverse_transform(fitted.transform(correlated))
    support = fitted.get_support()
    np.testing.assert_array_equal(back[:, support], correlated[:, support])
    assert not back[:, ~support].any()


def test_score_is_higher_for_a_trained_model(fitted, correlated):
    degenerate = make_selector(k=3, max_epochs=1, lr=1e-5).fit(correlated)
    assert fitted.score(correlated) > degenerate.score(correlated)
    assert fitted.score(correlated) <= 0


def test_reconstruction_ignores_y_and_hides_predict(fitted, correlated):
    y = np.arange(len(correlated)) % 2
    with_y = make_selector(k=3).fit(correlated, y)
    np.testing.assert_array_equal(with_y.selected_features_, fitted.selected_features_)
    assert not hasattr(fitted, "predict")
    assert not hasattr(fitted, "predict_proba")
    assert fitted.objective_ == "reconstruction"


# ---------------------------------------------------------------- supervised
@pytest.fixture(scope="module")
def labelled():
    rng = np.random.RandomState(1)
    X = rng.normal(size=(240, 6))
    names = np.array(["cat", "dog", "eel"])
    y = names[(X[:, 1] > 0).astype(int) + (X[:, 4] > 0.5).astype(int)]
    return X, y


def test_classification_with_string_labels(labelled):
    X, y = labelled
    sel = make_selector(k=2, objective="classification", max_epochs=40).fit(X, y)
    assert sel.objective_ == "classification"
    assert list(sel.classes_) == ["cat", "dog", "eel"]
    assert sorted(sel.selected_features_.tolist()) == [1, 4]
    pred = sel.predict(X)
    assert pred.dtype == y.dtype and set(pred) <= set(y)
    proba = sel.predict_proba(X)
    assert proba.shape == (240, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(sel.classes_[proba.argmax(axis=1)], pred)
    assert sel.score(X, y) == pytest.approx(np.mean(pred == y))
    assert sel.score(X, y) > 0.8
    assert not hasattr(sel, "reconstruct")
    with pytest.raises(ValueError, match="needs y"):
        sel.score(X)


def test_regression_objective():
    rng = np.random.RandomState(2)
    X = rng.normal(size=(240, 6))
    y = 3.0 * X[:, 2] - 2.0 * X[:, 5] + 10.0
    sel = make_selector(k=2, objective="regression", max_epochs=40).fit(X, y)
    assert sel.objective_ == "regression"
    assert sorted(sel.selected_features_.tolist()) == [2, 5]
    assert sel.predict(X).shape == (240,)
    assert sel.score(X, y) > 0.9
    assert not hasattr(sel, "predict_proba")


def test_auto_objective_follows_y(labelled):
    X, y = labelled
    sup = make_selector(k=2, objective="auto", max_epochs=2).fit(X, y)
    assert sup.objective_ == "classification"
    unsup = make_selector(k=2, objective="auto", max_epochs=2).fit(X)
    assert unsup.objective_ == "reconstruction"
    assert not hasattr(unsup, "classes_")
    # refitting with another objective leaves no stale class labels
    sup.set_params(objective="reconstruction").fit(X, y)
    assert not hasattr(sup, "classes_")


def test_supervised_objective_requires_y(labelled):
    X, _ = labelled
    with pytest.raises(ValueError, match="requires y"):
        make_selector(k=2, objective="classification").fit(X)


# ---------------------------------------------------------------- sklearn tools
def test_grid_search_over_k_and_temperature_in_a_pipeline(correlated):
    pipe = Pipeline(
        [
            ("scale", MinMaxScaler()),
            ("select", make_selector(k=2, max_epochs=15, batch_size=16)),
        ]
    )
    grid = GridSearchCV(
        pipe,
        {"select__k": [1, 3], "select__temperature": [1.0, 10.0]},
        cv=2,
        n_jobs=2,
    )
    grid.fit(correlated)
    assert set(grid.best_params_) == {"select__k", "select__temperature"}
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
    # reconstructing from 3 features beats reconstructing from 1
    best_k = grid.best_params_["select__k"]
    assert best_k == 3
    assert grid.transform(correlated).shape == (240, best_k)


def test_pickle_round_trip(fitted, correlated):
    clone = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(
        clone.transform(correlated), fitted.transform(correlated)
    )
    np.testing.assert_array_equal(
        clone.reconstruct(correlated), fitted.reconstruct(correlated)
    )
    np.testing.assert_array_equal(clone.selected_features_, fitted.selected_features_)
    assert clone.score(correlated) == fitted.score(correlated)


def test_pandas_in_and_out(correlated):
    columns = [f"f{i}" for i in range(8)]
    df = pd.DataFrame(correlated, columns=columns)
    sel = make_selector(k=3, max_epochs=3).set_output(transform="pandas").fit(df)
    out = sel.transform(df)
    assert isinstance(out, pd.DataFrame)
    names = [columns[i] for i in sorted(sel.selected_features_)]
    assert list(out.columns) == names
    assert list(sel.get_feature_names_out()) == names
    np.testing.assert_array_equal(sel.feature_names_in_, columns)
    assert sel.reconstruct(df).shape == (240, 8)


def test_input_is_not_modified(correlated):
    X = correlated.astype(np.float32)
    before = X.copy()
    sel = make_selector(k=2, max_epochs=2).fit(X)
    sel.transform(X)
    sel.reconstruct(X)
    sel.score(X)
    np.testing.assert_array_equal(X, before)


def test_transform_needs_no_network(fitted, correlated):
    clone = pickle.loads(pickle.dumps(fitted))
    del clone.net_
    np.testing.assert_array_equal(
        clone.transform(correlated), fitted.transform(correlated)
    )


# ---------------------------------------------------------------- parameters
@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"k": 0}, r"'k' parameter .* must be an int in the range \[1, inf\)"),
        ({"k": 2.5}, r"'k' parameter .* must be an int .* Got 2.5"),
        ({"annealing": "cosine"}, r"'annealing' parameter .* Got 'cosine'"),
        ({"objective": "ranking"}, r"'objective' parameter .* Got 'ranking'"),
        ({"temperature": 0.0}, r"'temperature' parameter .* range \(0.0, inf\)"),
        ({"min_temperature": 20.0}, "min_temperature=20.0 is higher than"),
        ({"hidden_layer_sizes": (0,)}, r"'hidden_layer_sizes' parameter .* Got \(0,\)"),
        ({"dropout": 1.0}, r"'dropout' parameter .* range \[0.0, 1.0\)"),
        ({"gjs_weight": -1.0}, r"'gjs_weight' parameter .* range \[0.0, inf\)"),
        ({"warmup_epochs": -1}, r"'warmup_epochs' parameter .* range \[0, inf\)"),
        ({"stop_annealing_epoch": 0}, r"'stop_annealing_epoch' parameter .* Got 0"),
        ({"convergence_threshold": 2.0}, r"'convergence_threshold' parameter"),
        ({"selector_lr": 0.0}, r"'selector_lr' parameter .* range \(0.0, inf\)"),
    ],
)
def test_bad_parameters_are_named(correlated, params, match):
    with pytest.raises(ValueError, match=match):
        make_selector(**{"k": 2, "max_epochs": 1, **params}).fit(correlated)


def test_init_only_stores_parameters():
    sel = ConcreteAutoencoderSelector(k=-3, annealing="nope")
    assert sel.k == -3 and sel.annealing == "nope"
    assert sel.get_params()["hidden_layer_sizes"] == (256,)


def test_linear_decoder_and_int_hidden_sizes(correlated):
    for hidden in ((), 5):
        sel = make_selector(k=2, max_epochs=2, hidden_layer_sizes=hidden)
        assert sel.fit(correlated).reconstruct(correlated).shape == (240, 8)


def test_selector_logits_have_their_own_learning_rate(fitted):
    groups = fitted.net_.optimizer_.param_groups
    logits = fitted.net_.module_.select.logits
    (selector,) = [g for g in groups if any(p is logits for p in g["params"])]
    assert selector["lr"] == 0.05 and len(selector["params"]) == 1
    assert all(g["lr"] == 0.01 for g in groups if g is not selector)


def test_gjs_term_pushes_the_nodes_apart(dominant, dominant_fitted):
    # 40 epochs: at 20 the nodes are still apart on 5 of 6 seeds, not all
    diverse = make_selector(
        k=3, hidden_layer_sizes=(8,), gjs_weight=10.0, max_epochs=40
    )
    diverse.fit(dominant)
    # without the term all nodes peak on the dominant column; with it they
    # peak on distinct columns and their divergence nears its maximum, log 3
    assert len(set(dominant_fitted.selection_probabilities_.argmax(1))) == 1
    assert len(set(diverse.selection_probabilities_.argmax(1))) == 3
    with torch.no_grad():
        gjsd = diverse.net_.module_.select.gjsd().item()
        plain_gjsd = dominant_fitted.net_.module_.select.gjsd().item()
        assert plain_gjsd < 0.9 < gjsd <= math.log(3) + 1e-6
        # the penalty added to the training loss is -gjs_weight * GJSD
        assert diverse.net_.module_.penalty().item() == pytest.approx(-10.0 * gjsd)
    assert dominant_fitted.net_.module_.penalty() == 0.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_cuda(correlated):
    sel = make_selector(k=3, max_epochs=3, device="cuda").fit(correlated)
    assert next(sel.net_.module_.parameters()).is_cuda
    assert sel.transform(correlated).shape == (240, 3)
    assert sel.reconstruct(correlated).shape == (240, 8)


def test_k_set_after_fit_applies_as_for_the_gates_selector():
    """set_params(k) after fit: the k most important features, as the gates
    selector's k applies to its fitted probabilities; a larger k is refused."""
    from sk_memsel import ConcreteAutoencoderSelector

    X = np.random.RandomState(0).normal(size=(40, 8))
    sel = ConcreteAutoencoderSelector(
        k=4, max_epochs=3, convergence_threshold=0.0, random_state=0
    ).fit(X)
    fitted = sel.get_support(indices=True)
    top = np.sort(np.argsort(-sel.feature_importances_, kind="stable")[:2])
    np.testing.assert_array_equal(sel.set_params(k=2).get_support(indices=True), top)
    assert set(top) <= set(fitted)
    assert sel.transform(X).shape == (40, 2)
    np.testing.assert_array_equal(sel.set_params(k=4).get_support(indices=True), fitted)
    with pytest.raises(ValueError, match="fitted with k=4"):
        sel.set_params(k=6).transform(X)
    with pytest.raises(ValueError, match="k must be"):
        sel.set_params(k=0).get_support()


def _logit_spread_after_a_few_steps(n_features):
    """How far 40 steps moved the logits, on counts-like data (4 cell types,
    5 marker columns each, the rest rarely non-zero) with ``n_features``."""
    rng = np.random.RandomState(0)
    types = rng.randint(4, size=400)
    means = np.full((4, n_features), 0.06)
    for t in range(4):
        means[t, 5 * t : 5 * (t + 1)] = 3.0
    X = np.log1p(rng.poisson(means[types])).astype(np.float32)
    selector = make_selector(k=20, max_epochs=10, batch_size=100).fit(X)
    logits = selector.net_.module_.select.logits.detach()
    return float((logits - logits.mean(dim=1, keepdim=True)).std())


def test_logits_move_as_far_over_many_features_as_over_few():
    # with Adam's fixed eps the logits' steps shrank with the number of
    # features (their gradients do): over 10,000 columns they moved a tenth
    # as far as over 200, and over 20,000 genes the nodes never settled
    few = _logit_spread_after_a_few_steps(200)
    many = _logit_spread_after_a_few_steps(10_000)
    assert many > 0.5 * few
