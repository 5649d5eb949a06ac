"""Reliability, tested as an attacker would: every public estimator, bad input.

Each bad input must give a ``ValueError`` or ``TypeError`` (or
``NotFittedError``) whose message names the problem; never a silent result.
The tables run over every public estimator with the fast settings of the
contract suite.
"""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from skorch.callbacks import Callback

from .test_common import (
    data,
    fit,
    make,
    needs_y,
    public_estimators,
)

ESTIMATORS = list(public_estimators())
IDS = [cls.__name__ for cls in ESTIMATORS]

#: parameters particular to one estimator, each with the words its error names
BAD_PARAMS = {
    "ConcreteAutoencoderSelector": [
        ({"k": 0}, "k"),
        ({"k": -3}, "k"),
        ({"k": 2.5}, "k"),
        ({"annealing": "cosine"}, "annealing"),
        ({"objective": "ranking"}, "objective"),
        ({"temperature": 0.0}, "temperature"),
    ],
    "StochasticGatesSelector": [
        ({"k": 0}, "k"),
        ({"k": -3}, "k"),
        ({"k": 2.5}, "k"),
        ({"gate": "sigmoid"}, "gate"),
        ({"sigma": 0.0}, "sigma"),
        ({"temperature": -1.0}, "temperature"),
        ({"task": "ranking"}, "task"),
    ],
}

COMMON_BAD_PARAMS = [
    ({"max_epochs": 0}, "max_epochs"),
    ({"max_epochs": -2}, "max_epochs"),
    ({"batch_size": 0}, "batch_size"),
    ({"lr": 0.0}, "lr"),
    ({"lr": -0.1}, "lr"),
    ({"device": "tpu"}, "device"),
    ({"optimizer": "newton"}, "optimizer"),
]


def output(est, X):
    """What the fitted estimator gives for X (transform, and predict if any)."""
    out = [np.asarray(est.transform(X))]
    if hasattr(est, "predict") and needs_y(est):
        out.append(np.asarray(est.predict(X)))
    return out


# ------------------------------------------------------------------ bad input
def _bad_X_cases():
    X, _ = data()
    nan = X.copy()
    nan[3, 2] = np.nan
    inf = X.copy()
    inf[0, 0] = np.inf
    strings = X.astype(object)
    strings[1, 1] = "seven"
    return [
        ("nan", nan, "NaN"),
        ("inf", inf, "infinity"),
        ("strings", strings, "not numbers"),
        ("empty", np.empty((0, 6)), "0 sample"),
        ("one-sample", X[:1], "1 sample"),
        ("complex", X.astype(complex), "[Cc]omplex"),
    ]


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
@pytest.mark.parametrize("case", _bad_X_cases(), ids=lambda c: c[0])
def test_bad_X_at_fit_is_named(cls, case):
    _, X, message = case
    est = make(cls)
    y = np.arange(len(X)) % 2
    with pytest.raises((ValueError, TypeError), match=message):
        est.fit(X, y) if needs_y(est) else est.fit(X)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_bad_y_is_named(cls):
    est = make(cls)
    if not needs_y(est):
        pytest.skip("learns without y")
    X, y = data()
    with pytest.raises(ValueError, match="inconsistent|samples"):
        est.fit(X, y[:-3])
    with pytest.raises(ValueError, match="single class|one class"):
        make(cls, task="classification").fit(X, np.zeros(len(X), dtype=int))
    y_nan = y.astype(float)
    y_nan[2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(X, y_nan)
    with pytest.raises((ValueError, TypeError), match="'y'|y is None|requires y"):
        est.fit(X)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_3d_input_is_refused_or_read_as_sequences(cls):
    est = make(cls)
    X3 = np.random.RandomState(0).normal(size=(20, 3, 4))
    y = np.arange(20) % 2
    try:
        fit(est, X3, y)
    except ValueError as exc:
        assert "dim 3" in str(exc) or "3-D" in str(exc) or "3D" in str(exc)
    else:
        # estimators documented to take sequences must give 2-D features
        out = est.transform(X3)
        assert out.ndim == 2 and len(out) == 20


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_wrong_width_and_not_fitted(cls):
    X, y = data()
    with pytest.raises(NotFittedError):
        make(cls).transform(X)
    est = fit(make(cls), X, y)
    with pytest.raises(ValueError, match="features"):
        est.transform(X[:, :4])


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_bad_parameters_are_named(cls):
    X, y = data()
    cases = COMMON_BAD_PARAMS + BAD_PARAMS.get(cls.__name__, [])
    for params, word in cases:
        est = make(cls, **params)
        with pytest.raises((ValueError, TypeError)) as info:
            fit(est, X, y)
        assert word in str(info.value), (params, str(info.value))


def test_every_estimator_has_its_own_bad_parameters():
    selectors = [c.__name__ for c in ESTIMATORS if c.__name__.endswith("Selector")]
    missing = [name for name in selectors if name not in BAD_PARAMS]
    assert not missing, f"add bad-parameter cases for {missing}"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_cuda_without_gpu_is_named(cls):
    X, y = data()
    with pytest.raises(ValueError, match="no CUDA GPU"):
        fit(make(cls, device="cuda"), X, y)


# ------------------------------------------------------------------ nothing lost
@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_inputs_are_never_modified(cls):
    X, y = data()
    X32 = X.astype(np.float32)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    copies = (X.copy(), X32.copy(), df.copy(), y.copy())
    for inp in (X, X32):
        est = fit(make(cls), inp, y)
        output(est, inp)
    est = fit(make(cls), df, y)
    output(est, df)
    np.testing.assert_array_equal(X, copies[0])
    np.testing.assert_array_equal(X32, copies[1])
    pd.testing.assert_frame_equal(df, copies[2])
    np.testing.assert_array_equal(y, copies[3])


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_pickle_round_trip_is_identical(cls):
    X, y = data()
    est = fit(make(cls), X, y)
    loaded = pickle.loads(pickle.dumps(est))
    for a, b in zip(output(est, X), output(loaded, X), strict=True):
        np.testing.assert_array_equal(a, b)
    if hasattr(est, "get_support"):
        np.testing.assert_array_equal(est.get_support(), loaded.get_support())


def _load_without_a_gpu(blob, monkeypatch):
    """Unpickle as a machine with no GPU would."""
    from skorch.exceptions import DeviceWarning

    with monkeypatch.context() as patch:
        patch.setattr(torch.cuda, "is_available", lambda: False)
        with pytest.warns(DeviceWarning):
            return pickle.loads(blob)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_model_saved_from_a_gpu_net_loads_on_a_cpu_only_machine(cls, monkeypatch):
    # runs everywhere: the net is marked as living on 'cuda' (as after a GPU
    # fit) so that loading goes through the GPU-to-CPU mapping; the weights
    # themselves are CPU tensors here. The test below does it on a real GPU.
    X, y = data()
    est = fit(make(cls), X, y)
    expected = output(est, X)
    est.set_params(device="cuda")
    est.net_.device = "cuda"
    loaded = _load_without_a_gpu(pickle.dumps(est), monkeypatch)
    assert str(loaded.net_.device) == "cpu"
    for a, b in zip(expected, output(loaded, X), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_model_fitted_on_a_gpu_loads_on_a_cpu_only_machine(cls, monkeypatch):
    X, y = data()
    est = fit(make(cls, device="cuda"), X, y)
    on_gpu = output(est, X)
    loaded = _load_without_a_gpu(pickle.dumps(est), monkeypatch)
    assert str(loaded.net_.device) == "cpu"
    if hasattr(est, "get_support"):
        np.testing.assert_array_equal(est.get_support(), loaded.get_support())
    for a, b in zip(on_gpu, output(loaded, X), strict=True):
        if hasattr(est, "get_support"):
            np.testing.assert_array_equal(a, b)  # selected columns are exact
        else:  # learned features: the same weights, CPU arithmetic
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def _fit_and_output(est, X, y):
    est = fit(est, X, y)
    return output(est, X)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_same_seed_same_result_across_processes(cls):
    X, y = data()
    here = _fit_and_output(make(cls), X, y)
    there = Parallel(n_jobs=2, backend="loky")(
        delayed(_fit_and_output)(make(cls), X, y) for _ in range(2)
    )
    for other in there:
        for a, b in zip(here, other, strict=True):
            np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ training faults
@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_awkward_columns_give_finite_results(cls):
    rng = np.random.RandomState(1)
    base = rng.normal(size=(60, 3))
    X = np.column_stack(
        [
            base,
            np.full(60, 3.0),  # constant
            base[:, 0],  # duplicated
            base[:, 1] * 1e6,  # wildly larger scale
            base[:, 2] * 1e-6,  # wildly smaller scale
        ]
    )
    y = (base[:, 0] > 0).astype(int)
    est = fit(make(cls), X, y)
    for out in output(est, X):
        assert np.all(np.isfinite(out.astype(float)))


class _InterruptAt(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_keyboard_interrupt_leaves_a_usable_estimator(cls):
    X, y = data()
    est = make(cls, max_epochs=5, callbacks=[_InterruptAt(2)])
    with pytest.warns(UserWarning, match="interrupted after 2 finished"):
        fit(est, X, y)
    assert len(est.net_.history) == 2 == est.n_epochs_
    assert est.history_[-1, "stop_reason"] == "interrupted"
    for out in output(est, X):
        assert len(out) == len(X)


# ------------------------------------------------------------------ random input
def _random_inputs():
    shapes = hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=12)
    dtypes = st.sampled_from([np.float64, np.float32, np.int64, np.bool_])
    return dtypes.flatmap(
        lambda dt: hnp.arrays(
            dt,
            shapes,
            elements=(
                st.floats(
                    allow_nan=True,
                    allow_infinity=True,
                    width=32 if dt == np.float32 else 64,
                )
                if np.issubdtype(dt, np.floating)
                else None
            ),
        )
    )


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
@given(X=_random_inputs())
def test_random_input_gives_a_clean_result_or_a_clean_error(cls, X):
    est = make(cls, max_epochs=1)
    y = np.arange(len(X)) % 2
    before = X.copy()
    try:
        fit(est, X, y)
    except (ValueError, TypeError, FloatingPointError) as exc:
        assert str(exc)
        np.testing.assert_array_equal(X, before)
        return
    out = est.transform(X)
    assert len(out) == len(X)
    assert np.all(np.isfinite(np.asarray(out, dtype=float)))
    np.testing.assert_array_equal(X, before)


def test_clone_of_a_fitted_estimator_is_unfitted():
    for cls in ESTIMATORS:
        X, y = data()
        est = fit(make(cls), X, y)
        with pytest.raises(NotFittedError):
            clone(est).transform(X)
