"""Sample weights and class weights in every estimator, and their routing.

``fit(X, y, sample_weight=w)`` makes the training loss the weighted mean of
the rows' losses (``MemselNet.get_loss``), with the weights divided by their
mean over the training set: unit weights give the plain mean, a weight of
zero removes a row from the loss, an integer weight counts a row that many
times. What can be asserted exactly, and what only as the same selection:

- a zero-weight row still takes its place in the batches and in the random
  draws (shuffling, the gates' noise per row), so a fit with zero weights
  and a fit on the remaining rows see the same loss function but not the
  same batches; on a planted problem they select the same features, and the
  unweighted fit on all the rows does not (so an implementation that
  ignored the weights would fail);
- integer weights against repeated rows: with one batch per epoch and no
  per-row noise the losses are equal sums added in another order, so the
  outputs agree to float32 rounding; otherwise the same selection.
"""

import warnings

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import get_scorer
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.utils.class_weight import compute_sample_weight

import sk_memsel
from sk_memsel import (
    ConcreteAutoencoderSelector,
    DNCTransformer,
    MemoryAttentionTransformer,
    MemorySelectorTransformer,
    StochasticGatesSelector,
)
from sk_memsel._backbone import _data, _training

from .test_common import FAST_PARAMS

ALL = (
    ConcreteAutoencoderSelector,
    StochasticGatesSelector,
    MemorySelectorTransformer,
    DNCTransformer,
    MemoryAttentionTransformer,
)
SELECTORS = (ConcreteAutoencoderSelector, StochasticGatesSelector)


def fast(cls, **params):
    return cls(**{**FAST_PARAMS[cls.__name__], "random_state": 0, **params})


def output(est, X):
    """What a fitted estimator gives for X: a selector's importances and
    predictions where it has them, a transformer's features."""
    if hasattr(est, "feature_importances_"):
        parts = [est.feature_importances_]
        if getattr(est, "task_", None) == "classification":
            parts.append(est.predict_proba(X).ravel())
        return np.concatenate(parts)
    return est.transform(X)


@pytest.fixture(scope="module")
def toy():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 5))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, y


def planted():
    """200 clean rows (y from features 0 and 1) and 300 corrupted ones (y from
    features 5 and 6), the corrupted rows weighted zero."""
    rng = np.random.RandomState(0)
    n_clean, n_bad = 200, 300
    X = rng.normal(size=(n_clean + n_bad, 8))
    clean = np.arange(len(X)) < n_clean
    y = np.where(clean, X[:, 0] + X[:, 1] > 0, X[:, 5] - X[:, 6] > 0).astype(int)
    return X, y, clean.astype(float)


PLANTED = {
    StochasticGatesSelector: {"k": 2, "max_epochs": 60, "hidden_layer_sizes": (16,)},
    ConcreteAutoencoderSelector: {
        "k": 2,
        "objective": "classification",
        "max_epochs": 60,
        "hidden_layer_sizes": (16,),
        "convergence_threshold": 0.0,
    },
}


def planted_selector(cls, **params):
    return cls(**{**PLANTED[cls], "batch_size": 64, "random_state": 0, **params})


# ----------------------------------------------------------- no weights
@pytest.mark.parametrize("cls", ALL)
def test_unit_weights_train_as_no_weights(cls, toy):
    # the unweighted fit keeps the criterion's own mean (bitwise as before
    # weights existed); unit weights take the weighted path, whose loss is
    # the same mean added in another order
    X, y = toy
    plain = fast(cls).fit(X, y)
    unit = fast(cls).fit(X, y, sample_weight=np.ones(len(X)))
    np.testing.assert_allclose(output(plain, X), output(unit, X), rtol=1e-4, atol=1e-5)
    assert plain.history_[-1, "train_loss"] == pytest.approx(
        unit.history_[-1, "train_loss"], rel=1e-4
    )


def test_no_weights_never_takes_the_weighted_path(toy, monkeypatch):
    calls = []
    weighted = sk_memsel._backbone.MemselNet._weighted_loss

    def spy(self, *args):
        calls.append(1)
        return weighted(self, *args)

    monkeypatch.setattr(sk_memsel._backbone.MemselNet, "_weighted_loss", spy)
    X, y = toy
    fast(StochasticGatesSelector).fit(X, y)
    fast(StochasticGatesSelector).fit(X, y, sample_weight=None)
    assert calls == []
    fast(StochasticGatesSelector).fit(X, y, sample_weight=np.ones(len(X)))
    assert calls


# ----------------------------------------------------------- zero weights
@pytest.mark.parametrize("cls", SELECTORS)
def test_zero_weights_act_like_dropped_rows(cls):
    X, y, w = planted()
    clean = w > 0
    weighted = planted_selector(cls).fit(X, y, sample_weight=w)
    dropped = planted_selector(cls).fit(X[clean], y[clean])
    ignored = planted_selector(cls).fit(X, y)
    np.testing.assert_array_equal(weighted.get_support(indices=True), [0, 1])
    np.testing.assert_array_equal(dropped.get_support(indices=True), [0, 1])
    # the corrupted rows mislead a fit that ignores the weights
    assert not np.array_equal(ignored.get_support(indices=True), [0, 1])


@pytest.mark.parametrize("cls", ALL)
def test_weights_change_the_fit(cls, toy):
    X, y = toy
    w = np.random.RandomState(1).randint(0, 4, size=len(X))
    plain = output(fast(cls).fit(X, y), X)
    weighted = output(fast(cls).fit(X, y, sample_weight=w), X)
    assert not np.allclose(plain, weighted, rtol=1e-3, atol=1e-4)


# ----------------------------------------------------------- repeated rows
@pytest.mark.parametrize("cls", SELECTORS)
def test_integer_weights_select_as_repeated_rows(cls):
    X, y, _ = planted()
    w = np.random.RandomState(2).randint(0, 4, size=len(X))
    weighted = planted_selector(cls).fit(X, y, sample_weight=w)
    repeated = planted_selector(cls).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_array_equal(
        weighted.get_support(indices=True), repeated.get_support(indices=True)
    )


@pytest.mark.parametrize("cls", [MemorySelectorTransformer, DNCTransformer])
@pytest.mark.parametrize("supervised", [False, True])
def test_integer_weights_equal_repeated_rows_up_to_rounding(cls, supervised):
    # one batch per epoch, no noise drawn per row: the same loss in another
    # order of summation (scikit-learn's own check asks for rtol=1e-7). The
    # selectors draw noise (the concrete nodes' Gumbel noise after a shuffle
    # of another length, the gates' noise per row): the same selection only
    rng = np.random.RandomState(42)
    X = rng.rand(15, 6)
    y = rng.randint(0, 3, size=15) if supervised else None
    w = rng.randint(0, 5, size=15)
    weighted = fast(cls, batch_size=-1).fit(X, y, sample_weight=w)
    repeated = fast(cls, batch_size=-1).fit(
        np.repeat(X, w, axis=0), None if y is None else np.repeat(y, w)
    )
    np.testing.assert_allclose(
        output(weighted, X), output(repeated, X), rtol=1e-4, atol=1e-5
    )


def test_regression_targets_are_standardised_with_the_weights():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 3))
    y = 3 * X[:, 0] + 5
    w = rng.randint(0, 3, size=40)
    weighted = fast(StochasticGatesSelector).fit(X, y, sample_weight=w)
    repeated = fast(StochasticGatesSelector).fit(
        np.repeat(X, w, axis=0), np.repeat(y, w)
    )
    np.testing.assert_allclose(weighted._y_mean, repeated._y_mean)
    np.testing.assert_allclose(weighted._y_scale, repeated._y_scale)
    # weights as large as 1e308 scale nothing: their sums cannot overflow
    huge = fast(StochasticGatesSelector).fit(X, y, sample_weight=w * 1e307)
    np.testing.assert_allclose(huge._y_mean, weighted._y_mean, rtol=1e-12)
    np.testing.assert_allclose(huge._y_scale, weighted._y_scale, rtol=1e-12)


def test_transformers_standardise_with_the_weights():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 2, 4))  # sequences: per channel
    w = rng.randint(0, 3, size=30)
    weighted = fast(DNCTransformer).fit(X, sample_weight=w)
    repeated = fast(DNCTransformer).fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(weighted._input_mean, repeated._input_mean)
    np.testing.assert_allclose(weighted._input_scale, repeated._input_scale)


# ----------------------------------------------------------- bad weights
@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize(
    "weights, message",
    [
        (-np.ones(60), "Negative values .* `sample_weight`"),
        (np.full(60, np.nan), "sample_weight contains NaN"),
        (np.full(60, np.inf), "sample_weight contains infinity"),
        (np.ones(59), r"sample_weight.shape == \(59,\), expected \(60,\)"),
        (np.ones((60, 2)), "Invalid sample_weight: .* 1D array"),
        (np.zeros(60), "sample_weight is zero for every row"),
        (["a"] * 60, "Invalid sample_weight"),
    ],
)
def test_bad_weights_are_refused(cls, toy, weights, message):
    X, y = toy
    est = fast(cls)
    with pytest.raises(ValueError, match=message):
        est.fit(X, y, sample_weight=weights)
    assert not hasattr(est, "net_")


def test_partial_fit_takes_weights():
    X, y, w = planted()
    params = {**PLANTED[StochasticGatesSelector], "max_epochs": 3}
    fitted = StochasticGatesSelector(**params, random_state=0).fit(
        X, y, sample_weight=w
    )
    first = StochasticGatesSelector(**params, random_state=0).partial_fit(
        X, y, sample_weight=w
    )
    # the first call trains as fit does
    np.testing.assert_array_equal(fitted.gate_probabilities_, first.gate_probabilities_)
    plain = StochasticGatesSelector(**params, random_state=0).partial_fit(X, y)
    plain.partial_fit(X, y)
    first.partial_fit(X, y, sample_weight=w)
    assert not np.allclose(plain.gate_probabilities_, first.gate_probabilities_)
    with pytest.raises(ValueError, match=r"sample_weight.shape"):
        first.partial_fit(X, y, sample_weight=w[:10])


# ----------------------------------------------------------- where they flow
def test_weights_are_sliced_with_the_rows():
    import torch
    from skorch.dataset import Dataset
    from torch.utils.data import Subset

    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    w = np.arange(10, dtype=np.float32)
    dataset = Subset(Dataset(_data.with_weights(X, w), np.arange(10)), [7, 2, 5, 0])
    for on_device in (False, True):
        if on_device:  # as _preload leaves them: tensors
            data = {"X": torch.from_numpy(X), "sample_weight": torch.from_numpy(w)}
            codes = torch.arange(10)
            dataset = Subset(Dataset(data, codes), [7, 2, 5, 0])
        batches = list(_data.ArrayBatchIterator(dataset, batch_size=3, shuffle=True))
        for Xb, yb in batches:
            rows = Xb["X"][:, 0].numpy() / 2
            np.testing.assert_array_equal(Xb["sample_weight"].numpy(), rows)
            np.testing.assert_array_equal(yb.numpy(), rows)
        assert sum(len(yb) for _, yb in batches) == 4


def test_a_memory_mapped_X_streams_with_its_weights(tmp_path, monkeypatch):
    X, y, w = planted()
    mm = np.memmap(tmp_path / "X.dat", dtype=np.float32, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    read = []
    as_tensor = _data._as_tensor

    def spy(a, **kwargs):
        read.append(len(a))
        return as_tensor(a, **kwargs)

    params = {"max_epochs": 2, "batch_size": 50}
    expected = planted_selector(StochasticGatesSelector, **params).fit(
        X.astype(np.float32), y, sample_weight=w
    )
    monkeypatch.setattr(_data, "_as_tensor", spy)
    got = planted_selector(StochasticGatesSelector, **params).fit(
        mm, y, sample_weight=w
    )
    np.testing.assert_array_equal(expected.gate_probabilities_, got.gate_probabilities_)
    assert max(read) == 50  # batch by batch, rows and weights


@pytest.mark.parametrize("validation_fraction", [None, 0.25])
def test_preloaded_weights_train_as_batch_copies(monkeypatch, validation_fraction):
    # no GPU here: the CPU is treated as a device that takes the one-off copy,
    # so the preloaded path (rows, targets and weights as tensors) runs
    X, y, w = planted()
    params = {"max_epochs": 3, "validation_fraction": validation_fraction}
    expected = planted_selector(StochasticGatesSelector, **params).fit(
        X, y, sample_weight=w
    )
    calls = []
    preload = _data._preload

    def counting(*args):
        out = preload(*args)
        calls.append(out is not None and isinstance(out[0], dict))
        return out

    monkeypatch.setattr(_data, "_PRELOAD_DEVICE_TYPES", ("cpu",))
    monkeypatch.setattr(_training, "_preload", counting)
    got = planted_selector(StochasticGatesSelector, **params).fit(X, y, sample_weight=w)
    assert calls == [True]
    np.testing.assert_array_equal(expected.gate_probabilities_, got.gate_probabilities_)


def test_the_validation_loss_is_weighted():
    # rows of weight zero do not count in the validation loss either: with
    # the corrupted rows weighted out, the held-out loss is that of the clean
    # rows, which the model learns; counted, they keep it near chance
    X, y, w = planted()
    params = {"validation_fraction": 0.3, "n_iter_no_change": 100}
    weighted = planted_selector(StochasticGatesSelector, **params)
    weighted.fit(X, y, sample_weight=w)
    ignored = planted_selector(StochasticGatesSelector, **params)
    ignored.fit(X, y, sample_weight=np.ones(len(X)))
    assert (
        weighted.history_[-1, "valid_loss"] < 0.5 * ignored.history_[-1, "valid_loss"]
    )


# ----------------------------------------------------------- class_weight
def imbalanced():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 6))
    y = (X[:, 0] + 0.5 * X[:, 1] > 1.3).astype(int)  # about 10 % ones
    return X, y


@pytest.mark.parametrize("cls", SELECTORS)
def test_balanced_class_weight_is_balanced_sample_weight(cls):
    X, y = imbalanced()
    assert 0.05 < y.mean() < 0.15
    params = (
        {"objective": "classification"} if cls is ConcreteAutoencoderSelector else {}
    )
    plain = fast(cls, **params).fit(X, y)
    balanced = fast(cls, class_weight="balanced", **params).fit(X, y)
    by_rows = fast(cls, **params).fit(
        X, y, sample_weight=compute_sample_weight("balanced", y)
    )
    np.testing.assert_array_equal(output(balanced, X), output(by_rows, X))
    assert not np.allclose(output(plain, X), output(balanced, X), rtol=1e-3)
    # the minority class gets more of the predicted probability
    assert balanced.predict_proba(X)[:, 1].mean() > plain.predict_proba(X)[:, 1].mean()


@pytest.mark.parametrize("cls", SELECTORS)
def test_class_weight_dict_multiplies_sample_weight(cls):
    X, y = imbalanced()
    params = (
        {"objective": "classification"} if cls is ConcreteAutoencoderSelector else {}
    )
    w = np.random.RandomState(3).randint(1, 4, size=len(X))
    both = fast(cls, class_weight={0: 1.0, 1: 5.0}, **params).fit(X, y, sample_weight=w)
    product = fast(cls, **params).fit(X, y, sample_weight=w * np.where(y, 5.0, 1.0))
    np.testing.assert_array_equal(output(both, X), output(product, X))


@pytest.mark.parametrize("cls", SELECTORS)
def test_class_weight_needs_classification(cls, toy):
    X, _ = toy
    y = X[:, 0] * 1.5
    params = {"objective": "regression"} if cls is ConcreteAutoencoderSelector else {}
    est = fast(cls, class_weight="balanced", **params)
    with pytest.raises(ValueError, match="class_weight='balanced' .* regression"):
        est.fit(X, y)
    assert not hasattr(est, "net_")


def test_class_weight_needs_a_supervised_objective(toy):
    X, y = toy
    est = fast(ConcreteAutoencoderSelector, class_weight={0: 1, 1: 2})
    with pytest.raises(ValueError, match="class_weight=.* reconstruction"):
        est.fit(X, y)


def test_class_weight_all_zero_is_refused(toy):
    X, y = toy
    est = fast(StochasticGatesSelector, class_weight={0: 0.0, 1: 0.0})
    with pytest.raises(ValueError, match="zero for every row"):
        est.fit(X, y)


def test_partial_fit_refuses_balanced_but_takes_a_dict(toy):
    X, y = toy
    with pytest.raises(ValueError, match="'balanced' is not supported by partial"):
        fast(StochasticGatesSelector, class_weight="balanced").partial_fit(X, y)
    by_dict = fast(StochasticGatesSelector, class_weight={0: 1.0, 1: 3.0})
    by_rows = fast(StochasticGatesSelector)
    for _ in range(2):
        by_dict.partial_fit(X, y)
        by_rows.partial_fit(X, y, sample_weight=np.where(y, 3.0, 1.0))
    np.testing.assert_array_equal(
        by_dict.gate_probabilities_, by_rows.gate_probabilities_
    )


# ----------------------------------------------------------- metadata routing
def weighted_pipeline(cls=StochasticGatesSelector):
    return Pipeline(
        [
            ("select", fast(cls, k=2).set_fit_request(sample_weight=True)),
            (
                "clf",
                LogisticRegression()
                .set_fit_request(sample_weight=True)
                .set_score_request(sample_weight=True),
            ),
        ]
    )


def weighted_scoring():
    """The search's scoring with the weights, as the user guide says.

    scikit-learn 1.8 and later route them to the pipeline's ``score``
    (``None``: the default scoring); 1.6 and 1.7 need a scorer that asks
    for them.
    """
    if tuple(map(int, sklearn.__version__.split(".")[:2])) >= (1, 8):
        return None
    return get_scorer("accuracy").set_score_request(sample_weight=True)


@pytest.mark.parametrize("cls", ALL)
def test_every_estimator_has_a_fit_request(cls):
    with sklearn.config_context(enable_metadata_routing=True):
        est = fast(cls).set_fit_request(sample_weight=True)
        assert est.get_metadata_routing().fit.requests == {"sample_weight": True}


@pytest.mark.parametrize("cls", SELECTORS)
def test_a_pipeline_routes_the_weights_to_the_selector(cls):
    X, y, w = planted()
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = weighted_pipeline(cls).fit(X, y, sample_weight=w)
    direct = fast(cls, k=2).fit(X, y, sample_weight=w)
    unweighted = fast(cls, k=2).fit(X, y)
    got = output(pipe.named_steps["select"], X)
    np.testing.assert_array_equal(got, output(direct, X))
    assert not np.array_equal(got, output(unweighted, X))


def test_an_unrequested_weight_is_not_sent():
    X, y, w = planted()
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = Pipeline(
            [
                (
                    "select",
                    fast(StochasticGatesSelector, k=2).set_fit_request(
                        sample_weight=False
                    ),
                ),
                ("clf", LogisticRegression().set_fit_request(sample_weight=True)),
            ]
        ).fit(X, y, sample_weight=w)
    unweighted = fast(StochasticGatesSelector, k=2).fit(X, y)
    np.testing.assert_array_equal(
        pipe.named_steps["select"].gate_probabilities_,
        unweighted.gate_probabilities_,
    )


def test_grid_search_routes_the_weights(monkeypatch):
    X, y, w = planted()
    seen = []
    fit = StochasticGatesSelector.fit

    def spy(self, X, y, sample_weight=None):
        seen.append(None if sample_weight is None else len(sample_weight))
        return fit(self, X, y, sample_weight=sample_weight)

    monkeypatch.setattr(StochasticGatesSelector, "fit", spy)
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            weighted_pipeline(),
            {"select__k": [1, 2]},
            cv=KFold(3, shuffle=True, random_state=0),
            error_score="raise",
            scoring=weighted_scoring(),
        ).fit(X, y, sample_weight=w)
    # 2 candidates x 3 folds, each with the weights of its training rows,
    # then the refit on all the rows
    assert sorted(seen[:-1]) == [333] * 2 + [333] * 2 + [334] * 2
    assert seen[-1] == len(X)
    best = search.best_estimator_.named_steps["select"]
    direct = fast(StochasticGatesSelector, k=search.best_params_["select__k"]).fit(
        X, y, sample_weight=w
    )
    np.testing.assert_array_equal(best.gate_probabilities_, direct.gate_probabilities_)


def test_the_loss_is_the_weighted_mean_of_the_rows_losses():
    import torch

    from sk_memsel._backbone import MemselNet

    net = MemselNet(torch.nn.Linear(2, 3), criterion=torch.nn.MSELoss).initialize()
    y_pred, y_true = torch.randn(4, 3), torch.randn(4, 3)
    w = torch.tensor([0.0, 2.0, 1.0, 1.0])
    per_row = ((y_pred - y_true) ** 2).mean(dim=1)
    for training in (False, True):  # the validation loss is weighted alike
        loss = net.get_loss(
            y_pred, y_true, X={"X": None, "sample_weight": w}, training=training
        )
        torch.testing.assert_close(loss, (w * per_row).mean())
    plain = net.get_loss(y_pred, y_true, X=torch.zeros(4, 2))
    torch.testing.assert_close(plain, torch.nn.functional.mse_loss(y_pred, y_true))
    assert net.criterion_.reduction == "mean"  # put back after the weighted loss


def test_the_reconstruction_score_is_weighted(toy):
    X, _ = toy
    est = fast(ConcreteAutoencoderSelector).fit(X)
    errors = ((est.reconstruct(X) - X) ** 2).mean(axis=1)
    w = np.random.RandomState(4).randint(0, 3, size=len(X))
    assert est.score(X) == pytest.approx(-errors.mean())
    assert est.score(X, sample_weight=w) == pytest.approx(
        -np.average(errors, weights=w)
    )
    with pytest.raises(ValueError, match="sample_weight"):
        est.score(X, sample_weight=-w)


def test_class_weight_of_a_multilabel_target():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(100, 4))
    Y = np.stack([X[:, 0] > 0, X[:, 1] > 1], axis=1).astype(int)
    per_label = [{0: 1.0, 1: 2.0}, {0: 1.0, 1: 3.0}]
    by_dicts = fast(StochasticGatesSelector, class_weight=per_label).fit(X, Y)
    by_rows = fast(StochasticGatesSelector).fit(
        X, Y, sample_weight=compute_sample_weight(per_label, Y)
    )
    np.testing.assert_array_equal(output(by_dicts, X), output(by_rows, X))
    fast(StochasticGatesSelector, class_weight="balanced").fit(X, Y)
    with pytest.raises(ValueError, match="list of dicts"):
        fast(StochasticGatesSelector, class_weight={0: 1, 1: 2}).fit(X, Y)
    with pytest.raises(ValueError, match="list of dicts, which is for a multil"):
        fast(StochasticGatesSelector, class_weight=per_label).fit(X, Y[:, 0])


@pytest.mark.parametrize("weight", [-1.0, np.nan, np.inf, "2", True])
@pytest.mark.parametrize("cls", [StochasticGatesSelector, ConcreteAutoencoderSelector])
def test_a_class_weight_that_is_not_a_weight_is_refused(cls, toy, weight):
    X, y = toy
    params = {} if cls is StochasticGatesSelector else {"objective": "classification"}
    est = fast(cls, class_weight={0: weight, 1: 1.0}, **params)
    with pytest.raises(ValueError, match="class 0 the weight .* finite numbers"):
        est.fit(X, y)
    assert not hasattr(est, "n_features_in_")


def test_weighted_regression_with_a_constant_output_does_not_warn():
    # weighted, the variance of a constant column can round below zero; its
    # square root must not reach the user as a RuntimeWarning
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = np.c_[X[:, 0] + 0.1 * rng.normal(size=50), np.full(50, 0.37)]
    for seed in range(5):
        w = np.random.default_rng(seed).random(50)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            StochasticGatesSelector(k=1, max_epochs=2, random_state=0).fit(
                X, y, sample_weight=w
            )
