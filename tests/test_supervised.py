"""The supervised selectors are scored and split as their task requires."""

import numpy as np
import pytest
from sklearn.base import is_classifier, is_regressor
from sklearn.model_selection import StratifiedKFold, check_cv, cross_val_score

from sk_memsel import ConcreteAutoencoderSelector, StochasticGatesSelector

from .test_common import _NOT_BITWISE_EQUIVALENT, listed_checks

FAST = {"max_epochs": 3, "hidden_layer_sizes": (4,), "random_state": 0}


def gates(task):
    return StochasticGatesSelector(k=2, task=task, **FAST)


def concrete(task):
    return ConcreteAutoencoderSelector(
        k=2, objective=task, convergence_threshold=0, **FAST
    )


@pytest.mark.parametrize("make", [gates, concrete], ids=["gates", "concrete"])
def test_the_task_asked_for_decides_classifier_or_regressor(make):
    assert is_classifier(make("classification"))
    assert not is_regressor(make("classification"))
    assert is_regressor(make("regression"))
    assert not is_classifier(make("regression"))
    # "auto" cannot know before seeing y: neither
    assert not is_classifier(make("auto")) and not is_regressor(make("auto"))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("make", [gates, concrete], ids=["gates", "concrete"])
def test_a_classification_selector_is_split_stratified_and_scored_by_roc_auc(make):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(90, 5))
    y = (X[:, 0] + 0.3 * rng.normal(size=90) > 0).astype(int)
    est = make("classification")
    assert isinstance(check_cv(3, y, classifier=is_classifier(est)), StratifiedKFold)
    # roc_auc needs a classifier's predict_proba: NaN on every fold before
    scores = cross_val_score(est, X, y, cv=3, scoring="roc_auc", error_score="raise")
    assert np.all(np.isfinite(scores)) and np.all((scores >= 0) & (scores <= 1))


#: a supervised selector asked for a task passes scikit-learn's checks of a
#: classifier or a regressor (with settings that train enough to learn)
TASK_INSTANCES = [
    StochasticGatesSelector(
        task="classification", max_epochs=100, gate_lr=0.02, random_state=0
    ),
    StochasticGatesSelector(task="regression", max_epochs=100, random_state=0),
    ConcreteAutoencoderSelector(
        k=2,
        objective="classification",
        max_epochs=30,
        convergence_threshold=0,
        random_state=0,
    ),
]


@listed_checks(
    TASK_INSTANCES,
    # the noise drawn in training differs between weighted and repeated rows,
    # dense or sparse (the batches are the same rows): see
    # _NOT_BITWISE_EQUIVALENT in test_common.py
    expected_failed_checks=lambda est: {
        f"check_sample_weight_equivalence_on_{layout}_data": _NOT_BITWISE_EQUIVALENT
        for layout in ("dense", "sparse")
    },
)
def test_sklearn_contract_of_a_classifier_or_regressor(estimator, check):
    check(estimator)


# ---------------------------------------------------------------- multilabel
@pytest.mark.parametrize("make", [gates, concrete], ids=["gates", "concrete"])
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_multilabel_target_trains_one_sigmoid_per_label(make):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 6))
    Y = np.stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 0] + X[:, 1] > 0], axis=1)
    Y = Y.astype(int)
    est = make("auto").set_params(max_epochs=200, lr=0.03, k=2).fit(X, Y)
    assert est.classes_.tolist() == [0, 1, 2]
    assert est.net_.criterion_.__class__.__name__ == "BCEWithLogitsLoss"
    pred = est.predict(X)
    assert pred.shape == (200, 3) and set(np.unique(pred)) <= {0, 1}
    proba = est.predict_proba(X)
    assert proba.shape == (200, 3) and np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_array_equal(pred, (proba > 0.5).astype(int))
    # the labels are learnable from the two informative columns
    assert (pred == Y).mean() > 0.8
    assert 0 <= est.score(X, Y) <= 1  # subset accuracy
    # a refit on plain labels forgets the multilabel target
    est.fit(X, Y[:, 0])
    assert est.predict(X).shape == (200,)
    assert est.net_.criterion_.__class__.__name__ == "CrossEntropyLoss"


def test_partial_fit_keeps_a_multilabel_target():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(100, 4))
    Y = np.stack([X[:, 0] > 0, X[:, 1] > 0], axis=1).astype(int)
    est = gates("auto").partial_fit(X[:50], Y[:50])
    est.partial_fit(X[50:], Y[50:])
    assert est.predict(X).shape == (100, 2)
    with pytest.raises(ValueError, match="0/1 matrix of 2 labels"):
        est.partial_fit(X, Y[:, :1].repeat(3, axis=1))


def _auto(make, y):
    import warnings

    X = np.random.RandomState(0).normal(size=(len(y), 3))
    est = make("auto")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
    task = getattr(est, "task_", None) or est.objective_
    return task, [str(w.message) for w in caught]


@pytest.mark.parametrize("make", [gates, concrete], ids=["gates", "concrete"])
def test_auto_reads_floats_as_a_quantity_unless_they_are_few_whole_numbers(make):
    rng = np.random.RandomState(0)
    # a target such as scikit-learn's diabetes: whole numbers, many values
    amounts = rng.randint(25, 346, size=200).astype(float)
    assert len(np.unique(amounts)) > 20
    assert _auto(make, amounts) == ("regression", [])
    # labels saved as floats
    assert _auto(make, (np.arange(200) % 3).astype(float)) == ("classification", [])
    assert _auto(make, rng.normal(size=200))[0] == "regression"


@pytest.mark.parametrize("make", [gates, concrete], ids=["gates", "concrete"])
def test_auto_warns_when_integers_look_like_a_quantity(make):
    counts = np.random.RandomState(0).randint(0, 100, size=200)
    task, messages = _auto(make, counts)
    assert task == "classification"
    assert len(messages) == 1 and "='regression'" in messages[0]
    # up to 20 classes: ordinary labels, no warning
    assert _auto(make, np.arange(200) % 20) == ("classification", [])


def test_the_warning_names_the_callers_line():
    import warnings

    X = np.random.RandomState(0).normal(size=(60, 3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gates("auto").fit(X, np.arange(60))
    assert [w.filename for w in caught] == [__file__]


@pytest.mark.parametrize(
    "y, message",
    [
        (np.r_[np.ones(20), np.nan, np.zeros(19)], "missing in 1 row.*row 20"),
        (np.array(["a"] * 20 + [None] + ["b"] * 19, dtype=object), "row 20"),
        (np.array([1.0] * 20 + [np.nan] + [2.0] * 19, dtype=object), "row 20"),
        (np.arange(40) % 2 + 1j, "complex"),
    ],
    ids=["float nan", "None label", "object nan", "complex"],
)
def test_a_missing_or_complex_y_is_named(y, message):
    X = np.random.RandomState(0).normal(size=(40, 3))
    with pytest.raises(ValueError, match=message):
        gates("auto").fit(X, y)


def test_a_transformer_takes_the_task_it_is_given():
    import warnings

    from sk_memsel import MemorySelectorTransformer

    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 3))
    ratings = rng.randint(1, 6, size=200).astype(float)  # read as 5 classes
    fast = {"max_epochs": 1, "random_state": 0}
    assert MemorySelectorTransformer(**fast).fit(X, ratings).task_ == "classification"
    asked = MemorySelectorTransformer(task="regression", **fast).fit(X, ratings)
    assert asked.task_ == "regression"
    counts = rng.randint(0, 100, size=200)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        MemorySelectorTransformer(**fast).fit(X, counts)
    [message] = [str(w.message) for w in caught]
    assert "task='regression'" in message
    # without y the head reconstructs the input, whatever the task
    assert MemorySelectorTransformer(task="regression", **fast).fit(X).task_ == (
        "reconstruction"
    )
