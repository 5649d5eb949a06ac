"""The supervised selectors are scored and split as their task requires."""

import numpy as np
import pytest
from sklearn.base import is_classifier, is_regressor
from sklearn.model_selection import StratifiedKFold, check_cv, cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from sk_memsel import ConcreteAutoencoderSelector, StochasticGatesSelector

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


@parametrize_with_checks(TASK_INSTANCES)
def test_sklearn_contract_of_a_classifier_or_regressor(estimator, check):
    check(estimator)
