"""Saving fitted estimators with skops.io: safe files, identical results.

A skops file must name no type but the estimator's own class (the documented
list, ``SKOPS_TRUSTED_TYPES``), load into an estimator that gives exactly
the same outputs, and never carry anything that loading would unpickle.
"""

import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from skorch.exceptions import DeviceWarning, SkorchTrainingImpossibleError

from sk_memsel import StochasticGatesSelector
from sk_memsel._backbone import SKOPS_TRUSTED_TYPES, _estimator, _persistence

from ._toy import ToyRegressor
from .test_common import data, fit, make, public_estimators

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
    loaded = sio.loads(blob, trusted=list(SKOPS_TRUSTED_TYPES))
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


def test_the_trusted_list_names_the_five_estimators():
    assert sorted(SKOPS_TRUSTED_TYPES) == sorted(full_name(c) for c in ESTIMATORS)


def test_the_documented_trusted_list_is_the_real_one():
    page = Path(__file__).parents[1] / "docs" / "user_guide" / "persistence.rst"
    documented = re.findall(r'"(sk_memsel\.[\w.]+)"', page.read_text())
    assert sorted(set(documented)) == sorted(SKOPS_TRUSTED_TYPES)


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
        sio.loads(blob, trusted=list(SKOPS_TRUSTED_TYPES))
    loaded = sio.loads(blob, trusted=[*SKOPS_TRUSTED_TYPES, torch.optim.AdamW])
    assert_same(outputs(est, X), outputs(loaded, X))


def test_an_unfitted_estimator_round_trips():
    est = make(ESTIMATORS[0])
    loaded = sio.loads(sio.dumps(est), trusted=list(SKOPS_TRUSTED_TYPES))
    assert loaded.get_params() == est.get_params()
    assert not hasattr(loaded, "net_")


# ------------------------------------------------------------------ training
def test_partial_fit_after_a_skops_round_trip_is_a_clear_error():
    X, y = data()
    est = StochasticGatesSelector(k=2, max_epochs=2, random_state=0).fit(X, y)
    loaded = sio.loads(sio.dumps(est), trusted=list(SKOPS_TRUSTED_TYPES))
    before = outputs(loaded, X)
    with pytest.raises(SkorchTrainingImpossibleError, match="skops.*partial_fit"):
        loaded.partial_fit(X, y)
    assert_same(before, outputs(loaded, X))  # nothing changed
    assert loaded.n_epochs_ == est.n_epochs_
    # fit trains a new network as always, and that one trains on
    loaded.fit(X, y).partial_fit(X, y)
    assert loaded.n_epochs_ == 4


# ------------------------------------------------------------------ devices
def test_a_model_saved_from_a_gpu_loads_on_a_cpu_only_machine(monkeypatch):
    X, y = data()
    est = fit(make(ESTIMATORS[0]), X, y)
    expected = outputs(est, X)
    est.net_.device = "cuda"  # as after a GPU fit (the weights are on the CPU)
    blob = sio.dumps(est)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(DeviceWarning, match="loaded on the CPU"):
        loaded = sio.loads(blob, trusted=list(SKOPS_TRUSTED_TYPES))
    assert str(loaded.net_.device) == "cpu"
    assert_same(expected, outputs(loaded, X))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_a_model_fitted_on_a_gpu_round_trips(cls, monkeypatch):
    X, y = data()
    est = fit(make(cls, device="cuda"), X, y)
    expected = outputs(est, X)
    blob = sio.dumps(est)
    loaded = sio.loads(blob, trusted=list(SKOPS_TRUSTED_TYPES))
    assert str(loaded.net_.device).startswith("cuda")
    assert_same(expected, outputs(loaded, X))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(DeviceWarning):
        on_cpu = sio.loads(blob, trusted=list(SKOPS_TRUSTED_TYPES))
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
    monkeypatch.setattr(_estimator, "SKOPS_FORMAT", _estimator.SKOPS_FORMAT + 1)
    with pytest.raises(ValueError, match="cannot read.*fit the model again"):
        sio.loads(blob, trusted=list(SKOPS_TRUSTED_TYPES))


def _load_state(est, state):
    """What skops does with a (tampered) state: a new instance, __setstate__."""
    loaded = type(est).__new__(type(est))
    loaded.__setstate__(state)
    return loaded


@pytest.mark.parametrize(
    "tamper, match",
    [
        (lambda m: m.update({"class": "builtins.eval"}), "builtins.eval"),
        (lambda m: m.update({"class": "os.system"}), "os.system"),
        (
            lambda m: m.update({"class": "torch.nn.modules.linear.Bilinear"}),
            "Bilinear",
        ),
        (lambda m: m.update({"class": "sk_memsel.__main__.main"}), "__main__"),
        (
            lambda m: m.update({"class": "sk_memsel._cli._parsing.ArgumentParser"}),
            "ArgumentParser",
        ),
        (lambda m: m["attributes"].update({"__class__": 1}), "__class__"),
        (lambda m: m["attributes"].update({"_parameters": {}}), "_parameters"),
        (lambda m: m["attributes"].update({"k": object()}), "object"),
        (
            lambda m: next(iter(m["children"].values()))["parameters"].update(
                {"weight": np.array([object()])}
            ),
            "numeric array",
        ),
    ],
    ids=[
        "eval",
        "os",
        "other-torch-layer",
        "main",
        "not-a-module",
        "dunder",
        "internals",
        "object",
        "object-array",
    ],
)
def test_a_tampered_network_is_refused(tamper, match):
    X, y = data()
    est = fit(make(ESTIMATORS[0]), X, y)
    state = est.__getstate__()
    tamper(state["_sk_memsel_net"]["module"])
    with pytest.raises((ValueError, TypeError), match=match):
        _load_state(est, state)


def test_a_skops_state_never_loads_a_pickled_net():
    X, y = data()
    est = fit(make(ESTIMATORS[0]), X, y)
    state = est.__getstate__()
    state["net_"] = "anything a file could put there"
    assert _load_state(est, state).net_ is not state["net_"]


def test_modules_from_outside_sk_memsel_are_refused_when_saving():
    X, y = data()
    est = ToyRegressor(max_epochs=1, random_state=0).fit(X, y.astype(float))
    with pytest.raises(TypeError, match=r"tests\._toy\.ToyModule"):
        sio.dumps(est)
    pickle.loads(pickle.dumps(est))  # pickle takes anything


def test_hooks_and_shared_weights_are_refused_when_saving():
    X, y = data()
    est = fit(make(ESTIMATORS[0]), X, y)
    handle = est.net_.module_.register_forward_hook(lambda *args: None)
    with pytest.raises(TypeError, match="hooks"):
        sio.dumps(est)
    handle.remove()
    sio.dumps(est)
    shared = torch.nn.Sequential(*[torch.nn.Linear(2, 2)] * 2)  # one layer twice
    with pytest.raises(TypeError, match="shared"):
        _persistence._module_state(shared, "m", {})
