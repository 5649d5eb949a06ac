"""Saving fitted estimators with skops.io: safe files, identical results.

A skops file must name no type but the estimator's own class (the documented
list, ``trusted_types()`` in test_common), load into an estimator that gives exactly
the same outputs, and never carry anything that loading would unpickle.
"""

import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from skorch.exceptions import DeviceWarning

from sk_memsel import ConcreteAutoencoderSelector, StochasticGatesSelector
from sk_memsel._backbone import _estimator

from ._toy import ToyRegressor
from .test_common import data, fit, make, public_estimators, trusted_types

sio = pytest.importorskip("skops.io")

ESTIMATORS = list(public_estimators())
IDS = [cls.__name__ for cls in ESTIMATORS]


def outputs(est, X):
    """Everything a fitted estimator gives for X."""
    out = {"transform": est.transform(X)}
    for method in ("predict", "predict_proba", "reconstruct"):
        if hasattr(est, method) and (
            method == "reconstruct" or getattr(est, "task_", "") != "reconstruction"
        ):
            out[method] = getattr(est, method)(X)
    if hasattr(est, "get_support"):
        out["get_support"] = est.get_support()
        out["feature_importances_"] = est.feature_importances_
    return out


def assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def full_name(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


# ------------------------------------------------------------------ round trip
@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_skops_round_trip_is_identical_and_trusts_only_the_estimator(cls):
    X, y = data()
    est = fit(make(cls), X, y)
    expected = outputs(est, X)
    blob = sio.dumps(est)
    assert sio.get_untrusted_types(data=blob) == [full_name(cls)]
    loaded = sio.loads(blob, trusted=trusted_types())
    assert type(loaded) is cls
    assert_same(expected, outputs(loaded, X))
    assert loaded.get_params() == est.get_params()
    assert loaded.history_ == est.history_
    assert loaded.n_epochs_ == est.n_epochs_
    # dumping left the estimator as it was, and pickle still saves it whole
    assert_same(expected, outputs(est, X))
    assert "_sk_memsel_net" not in vars(est)
    assert not any(name.startswith("_sk_memsel") for name in vars(est))
    # the loaded estimator pickles, and dumps again, to the same results
    assert_same(expected, outputs(pickle.loads(pickle.dumps(loaded)), X))
    again = sio.loads(sio.dumps(loaded), trusted=[cls])
    assert_same(expected, outputs(again, X))


def test_the_documented_trusted_list_is_the_real_one():
    page = Path(__file__).parents[1] / "docs" / "user_guide" / "persistence.rst"
    documented = re.findall(r'"(sk_memsel\.[\w.]+)"', page.read_text())
    assert sorted(set(documented)) == sorted(trusted_types())


def test_dataframes_string_labels_groups_and_redundancy():
    rng = np.random.RandomState(1)
    X = pd.DataFrame(rng.normal(size=(60, 5)), columns=list("abcde"))
    y = np.where(X["a"] + X["b"] > 0, "yes", "no")
    est = StochasticGatesSelector(
        k=2,
        groups=[0, 0, 1, 2, 2],
        gate="hard_concrete",
        redundancy="avoid",
        max_epochs=3,
        random_state=0,
    ).fit(X, y)
    blob = sio.dumps(est)
    assert sio.get_untrusted_types(data=blob) == [full_name(StochasticGatesSelector)]
    loaded = sio.loads(blob, trusted=[StochasticGatesSelector])
    assert_same(outputs(est, X), outputs(loaded, X))
    assert list(loaded.get_feature_names_out()) == list(est.get_feature_names_out())
    assert list(loaded.classes_) == ["no", "yes"]
    # the order redundancy="avoid" reads is saved too: a new k needs no refit
    for k in (1, 3):
        np.testing.assert_array_equal(
            est.set_params(k=k).get_support(), loaded.set_params(k=k).get_support()
        )


def test_a_class_given_as_a_parameter_is_named_too():
    X, y = data()
    cls = ESTIMATORS[0]
    est = fit(make(cls, optimizer=torch.optim.AdamW), X, y)
    blob = sio.dumps(est)
    assert sio.get_untrusted_types(data=blob) == sorted(
        [full_name(cls), "torch.optim.adamw.AdamW"]
    )
    with pytest.raises(Exception, match="AdamW"):
        sio.loads(blob, trusted=trusted_types())
    loaded = sio.loads(blob, trusted=[*trusted_types(), torch.optim.AdamW])
    assert_same(outputs(est, X), outputs(loaded, X))


def test_an_unfitted_estimator_round_trips():
    est = make(ESTIMATORS[0])
    loaded = sio.loads(sio.dumps(est), trusted=trusted_types())
    assert loaded.get_params() == est.get_params()
    assert not hasattr(loaded, "net_")


# ------------------------------------------------------------------ training
def _pickled(est):
    return pickle.loads(pickle.dumps(est))


def _skopsed(est):
    return sio.loads(sio.dumps(est), trusted=trusted_types())


PARTIAL = [cls for cls in ESTIMATORS if hasattr(cls, "partial_fit")]


@pytest.mark.parametrize("load", [_pickled, _skopsed], ids=["pickle", "skops"])
@pytest.mark.parametrize("cls", PARTIAL, ids=[c.__name__ for c in PARTIAL])
def test_partial_fit_after_loading_trains_on_as_without_saving(cls, load):
    # the optimizer's moments, the callbacks' state (early stopping's best
    # score, the settling rule's steps) and the call count are saved: the
    # loaded model trains on exactly as the one never saved
    X, y = data()
    kept = make(cls, validation_fraction=0.25).fit(X, y)
    loaded = load(make(cls, validation_fraction=0.25).fit(X, y))
    for chunk in (slice(0, 20), slice(20, None)):
        kept.partial_fit(X[chunk], y[chunk])
        loaded.partial_fit(X[chunk], y[chunk])
    assert_same(outputs(kept, X), outputs(loaded, X))
    assert loaded.n_epochs_ == kept.n_epochs_ == len(loaded.history_)
    for (name, a), (_, b) in zip(
        kept.net_.module_.named_parameters(),
        loaded.net_.module_.named_parameters(),
        strict=True,
    ):
        np.testing.assert_array_equal(a.detach(), b.detach(), err_msg=name)


@pytest.mark.parametrize("load", [_pickled, _skopsed], ids=["pickle", "skops"])
def test_a_network_is_loaded_with_the_parameters_it_was_built_with(load):
    # set_params after fit does not change the fitted network's shape, so
    # loading builds it from the parameters of the fit
    X, y = data()
    cls = ConcreteAutoencoderSelector
    est = fit(make(cls, k=3, hidden_layer_sizes=(7,)), X, y)
    expected = outputs(est, X)
    est.set_params(k=2, hidden_layer_sizes=(5, 5))
    loaded = load(est)
    assert loaded.get_params()["k"] == 2
    assert (
        loaded.net_.module_.select.logits.shape == est.net_.module_.select.logits.shape
    )
    est.set_params(k=3, hidden_layer_sizes=(7,))
    assert_same(expected, outputs(loaded.set_params(k=3, hidden_layer_sizes=(7,)), X))


def _leaves(value):
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str), k
            yield from _leaves(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_the_saved_network_is_plain_values_and_arrays(cls):
    # no module, optimizer, callback or tensor object: what loading builds
    # comes from the estimator's own builder, the file gives only numbers
    X, y = data()
    state = fit(make(cls, validation_fraction=0.25), X, y).__getstate__()
    assert "net_" not in state
    for leaf in _leaves(state["_sk_memsel_net"]):
        assert leaf is None or isinstance(leaf, (bool, int, float, str, np.ndarray))
    saved = state["_sk_memsel_net"]
    assert saved["optimizer"]["state"]  # Adam's moments are saved
    assert "early_stopping" in saved["callbacks"]


# ------------------------------------------------------------------ devices
def test_a_model_saved_from_a_gpu_loads_on_a_cpu_only_machine(monkeypatch):
    X, y = data()
    est = fit(make(ESTIMATORS[0]), X, y)
    expected = outputs(est, X)
    est.net_.device = "cuda"  # as after a GPU fit (the weights are on the CPU)
    blob = sio.dumps(est)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(DeviceWarning, match="loaded on the CPU"):
        loaded = sio.loads(blob, trusted=trusted_types())
    assert str(loaded.net_.device) == "cpu"
    assert_same(expected, outputs(loaded, X))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_a_model_fitted_on_a_gpu_round_trips(cls, monkeypatch):
    X, y = data()
    est = fit(make(cls, device="cuda"), X, y)
    expected = outputs(est, X)
    blob = sio.dumps(est)
    loaded = sio.loads(blob, trusted=trusted_types())
    assert str(loaded.net_.device).startswith("cuda")
    assert_same(expected, outputs(loaded, X))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(DeviceWarning):
        on_cpu = sio.loads(blob, trusted=trusted_types())
    assert str(on_cpu.net_.device) == "cpu"
    for key, value in outputs(on_cpu, X).items():
        if key in ("get_support", "feature_importances_", "predict"):
            np.testing.assert_array_equal(value, expected[key], err_msg=key)
        else:  # the same weights, CPU arithmetic
            np.testing.assert_allclose(value, expected[key], rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ refusals
def test_a_file_of_an_unreadable_format_is_a_clear_error(monkeypatch):
    X, y = data()
    blob = sio.dumps(fit(make(ESTIMATORS[0]), X, y))
    monkeypatch.setattr(_estimator, "SAVED_FORMAT", _estimator.SAVED_FORMAT + 1)
    with pytest.raises(ValueError, match="cannot read.*fit the model again"):
        sio.loads(blob, trusted=trusted_types())


def _load_state(est, state):
    """What skops does with a (tampered) state: a new instance, __setstate__."""
    loaded = type(est).__new__(type(est))
    loaded.__setstate__(state)
    return loaded


@pytest.mark.parametrize(
    "tamper, match",
    [
        (
            lambda s: s["module"]["state_dict"].update(
                {"select.logits": np.array([object()])}
            ),
            "numeric array",
        ),
        (
            lambda s: s["module"]["state_dict"].update(
                {"select.logits": np.zeros((1, 1, 1), np.float32)}
            ),
            "does not fit",
        ),
        (
            lambda s: s["module"]["state_dict"].update(
                {"no_such.weight": np.zeros(1, np.float32)}
            ),
            "does not fit",
        ),
        (
            lambda s: s["module"]["attributes"].update({"": {"_parameters": {}}}),
            "_parameters",
        ),
        (
            lambda s: s["module"]["attributes"].update({"": {"__class__": 1}}),
            "__class__",
        ),
        (lambda s: s["module"]["attributes"].update({"nowhere": {}}), "no module"),
        (
            lambda s: next(iter(s["callbacks"].values())).update({"patience": 0}),
            "may not set 'patience'",
        ),
        (lambda s: s.update({"net": "os.system"}), "dict"),
        (lambda s: s["optimizer"].update({"state": None}), "'state'"),
    ],
    ids=[
        "object-array",
        "wrong-shape",
        "unknown-weight",
        "internals",
        "dunder",
        "unknown-module",
        "callback-parameter",
        "no-net-facts",
        "no-optimizer-state",
    ],
)
def test_a_tampered_network_is_refused(tamper, match):
    X, y = data()
    est = fit(make(ESTIMATORS[0]), X, y)
    state = est.__getstate__()
    tamper(state["_sk_memsel_net"])
    with pytest.raises(ValueError, match=match):
        _load_state(est, state)


def test_a_skops_state_never_loads_a_pickled_net():
    X, y = data()
    est = fit(make(ESTIMATORS[0]), X, y)
    state = est.__getstate__()
    state["net_"] = "anything a file could put there"
    assert _load_state(est, state).net_ is not state["net_"]


def test_an_estimator_defined_outside_sk_memsel_saves_with_skops_too():
    # its network is built by its own builder on loading: the file names
    # only the estimator's class
    X, y = data()
    est = ToyRegressor(max_epochs=1, random_state=0).fit(X, y.astype(float))
    blob = sio.dumps(est)
    assert sio.get_untrusted_types(data=blob) == ["tests._toy.ToyRegressor"]
    loaded = sio.loads(blob, trusted=[ToyRegressor])
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
