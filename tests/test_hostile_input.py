"""Hostile input gets a right answer or an error that names the problem.

Table-driven over every public estimator (with the fast settings of the
contract tests), like ``test_reliability.py``.
"""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from skorch.callbacks import Callback

import sk_memsel

from .test_common import FAST_PARAMS, make, public_estimators

ESTIMATORS = list(public_estimators())
SELECTORS = [sk_memsel.ConcreteAutoencoderSelector, sk_memsel.StochasticGatesSelector]


#: parameters under which an estimator learns from y (the concrete selector
#: ignores y with its default objective, reconstruction)
LEARNS_Y = {"ConcreteAutoencoderSelector": {"objective": "auto"}}


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).normal(size=(40, 5))


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_a_target_of_three_dimensions_is_refused_with_its_shape(cls, X):
    y = (X[:, :1, None] > 0).astype(int)
    with pytest.raises(ValueError, match=r"y must be 1-D .* shape \(40, 1, 1\)"):
        make(cls, **LEARNS_Y.get(cls.__name__, {})).fit(X, y)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "labels, message",
    [
        # None among strings: a missing label, named as such
        (["a", "b", None, "a"], r"y is missing in 10 row\(s\) \(NaN or None\)"),
        ([1, "a", 2, "b"], r"mix types \(int, str\)"),
    ],
    ids=["str and None", "int and str"],
)
def test_labels_of_mixed_types_are_refused_in_plain_words(cls, X, labels, message):
    y = np.array(labels * 10, dtype=object)
    with pytest.raises(ValueError, match=message):
        make(cls, **LEARNS_Y.get(cls.__name__, {})).fit(X, y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    "cls, params",
    [
        (sk_memsel.StochasticGatesSelector, {"task": "regression"}),
        (sk_memsel.ConcreteAutoencoderSelector, {"objective": "regression"}),
    ],
    ids=["gates", "concrete"],
)
@pytest.mark.parametrize("size", [1e-150, 1.0, 1e155])
def test_regression_targets_of_any_finite_size_give_finite_predictions(
    cls, params, size, X
):
    # the target is standardised for training; at 1e155 its variance
    # overflowed and predictions came back as +-inf
    y = (X[:, 0] + 0.5 * X[:, 1]) * size
    est = make(cls, **params, k=2).fit(X, y)
    pred = est.predict(X)
    assert np.all(np.isfinite(pred))
    # the predictions are on the scale of y, not of the standardised target
    assert 0.01 < np.std(pred / size) / np.std(y / size) < 10
    small = make(cls, **params, k=2).fit(X, y / size).predict(X)
    np.testing.assert_allclose(pred / size, small, rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls", SELECTORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float64, np.bool_])
def test_a_memory_mapped_array_selects_as_the_same_array_in_memory(
    cls, dtype, X, tmp_path
):
    # an int64 memmap reached torch as int64 and failed in the first layer
    values = (X > 0) if dtype is np.bool_ else np.round(X * 10).astype(dtype)
    mm = np.memmap(tmp_path / "X.dat", dtype=dtype, mode="w+", shape=values.shape)
    mm[:] = values
    mm.flush()
    y = (X[:, 0] > 0).astype(int)
    est = make(cls, k=2)
    in_memory = clone(est).fit(values, y)
    on_disk = clone(est).fit(mm, y)
    np.testing.assert_array_equal(on_disk.get_support(), in_memory.get_support())
    np.testing.assert_array_equal(on_disk.transform(mm), in_memory.transform(values))


# ------------------------------------------------ a failed fit changes nothing
class FailsInEpoch2(Callback):
    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 2:
            raise RuntimeError("out of memory (simulated)")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_a_refit_that_fails_leaves_the_fitted_estimator_as_it_was(cls, X):
    # a refit on wider data that fails during training used to leave the new
    # n_features_in_ next to the old network
    y = (X[:, 0] > 0).astype(int)
    est = make(cls, k=2) if "k" in cls().get_params() else make(cls)
    est.fit(X, y)
    expected = est.transform(X)
    wider = np.hstack([X, X[:, :3]])
    est.set_params(callbacks=[FailsInEpoch2()], max_epochs=4)
    before = dict(est.__dict__)
    with pytest.raises(RuntimeError, match="simulated"):
        est.fit(wider, y)
    assert est.n_features_in_ == X.shape[1]
    assert set(est.__dict__) == set(before)
    assert all(est.__dict__[name] is before[name] for name in before)
    np.testing.assert_array_equal(est.transform(X), expected)


def test_a_partial_fit_that_fails_in_training_leaves_the_network_as_it_was(
    X, monkeypatch
):
    # partial_fit trains the network in place: a call that fails halfway,
    # after some optimizer steps, must not leave its weights half-updated
    y = (X[:, 0] > 0).astype(int)
    params = {**FAST_PARAMS["StochasticGatesSelector"], "k": 2, "random_state": 0}
    est = sk_memsel.StochasticGatesSelector(**params).partial_fit(X, y)
    expected = est.transform(X)
    n_epochs = len(est.history_)
    weights = [p.detach().clone() for p in est.net_.module_.parameters()]
    steps = []
    net_class = type(est.net_)
    real_step = net_class.train_step

    def fails_at_the_third_step(net, *args, **kwargs):
        result = real_step(net, *args, **kwargs)  # the weights move
        steps.append(1)
        if len(steps) == 3:
            raise RuntimeError("out of memory (simulated)")
        return result

    monkeypatch.setattr(net_class, "train_step", fails_at_the_third_step)
    with pytest.raises(RuntimeError, match="simulated"):
        est.partial_fit(X, y)
    monkeypatch.undo()
    assert len(steps) == 3
    assert len(est.history_) == n_epochs  # the failed call's epochs are gone
    np.testing.assert_array_equal(est.transform(X), expected)
    for old, new in zip(weights, est.net_.module_.parameters(), strict=True):
        torch.testing.assert_close(old, new, rtol=0, atol=0)
    # the restored network's callbacks still read this estimator (its k), not
    # a copy of it taken with the network
    assert dict(est.net_.callbacks_)["settled"].selection.__self__ is est
    # and training goes on as if the failed call had not happened
    twice = sk_memsel.StochasticGatesSelector(**params).partial_fit(X, y)
    np.testing.assert_array_equal(
        est.partial_fit(X, y).gate_probabilities_,
        twice.partial_fit(X, y).gate_probabilities_,
    )


SEQUENCES = [sk_memsel.DNCTransformer, sk_memsel.MemoryAttentionTransformer]


@pytest.mark.parametrize("cls", SEQUENCES, ids=lambda c: c.__name__)
def test_a_memory_mapped_sequence_array_transforms_as_in_memory(cls, tmp_path):
    # 3-D memmaps were refused ("Expected a 2-D array") while the same array
    # in memory was accepted
    values = np.random.RandomState(1).normal(size=(30, 2, 6)).astype(np.float32)
    mm = np.memmap(tmp_path / "X.dat", dtype=np.float32, mode="w+", shape=values.shape)
    mm[:] = values
    mm.flush()
    est = make(cls)
    np.testing.assert_array_equal(
        clone(est).fit(mm).transform(mm), clone(est).fit(values).transform(values)
    )


@pytest.mark.parametrize("cls", SEQUENCES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("shape", [(30, 0, 6), (30, 2, 0)])
def test_sequences_without_channels_or_time_points_are_refused(cls, shape):
    # zero channels trained on nothing and returned identical rows, or spoke
    # of an internal input_size
    with pytest.raises(ValueError, match="at least one channel and one time point"):
        make(cls).fit(np.zeros(shape))


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_a_date_column_is_named_in_the_error(cls, X):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=list("abcde"))
    df["when"] = pd.date_range("2020-01-01", periods=len(df))
    with pytest.raises(ValueError, match="'when' \\(datetime64"):
        make(cls).fit(df, (X[:, 0] > 0).astype(int))


@pytest.mark.parametrize("value", [1e20, -1e30, 3e38])
def test_values_too_large_to_reconstruct_are_named(X, value):
    # the reconstruction error of such values overflows float32: the fit
    # stopped with "the training loss became inf"
    Xb = X.copy()
    Xb[3, 2] = value
    est = make(sk_memsel.ConcreteAutoencoderSelector)
    with pytest.raises(ValueError, match="values as large as .*Scale the features"):
        est.fit(Xb)
    # a supervised objective does not reconstruct X: it trains
    supervised = make(sk_memsel.ConcreteAutoencoderSelector, objective="auto")
    supervised.fit(Xb, (X[:, 0] > 0).astype(int))


@pytest.mark.parametrize("value", [1e20, -1e30, 3e38])
def test_values_the_gates_cannot_learn_from_are_named(X, value):
    # every hidden unit saturated: the same losses whatever the scale, and
    # gates that never moved, read as a selection
    y = (X[:, 0] > 0).astype(int)
    Xb = X * (value / np.abs(X).max())
    est = make(sk_memsel.StochasticGatesSelector)
    with pytest.raises(ValueError, match="values as large as .*Scale the features"):
        est.fit(Xb, y)
    fitted = make(sk_memsel.StochasticGatesSelector).fit(X, y)
    with pytest.raises(ValueError, match="values as large as"):
        fitted.partial_fit(Xb, y)
    assert fitted.n_features_in_ == X.shape[1]


# ------------------------------------------------ the caller's torch settings
@pytest.fixture
def float64_default():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


class RecordsDefaultDtype(Callback):
    def on_epoch_begin(self, net, **kwargs):
        net.history.record("default_dtype", str(torch.get_default_dtype()))


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_a_float64_default_dtype_still_trains_and_predicts_in_float32(
    cls, X, float64_default
):
    # four estimators failed ("mat1 and mat2 must have the same dtype"), and
    # the attention transformer trained in float64 and returned float64
    X32 = X.astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    est = make(cls, callbacks=[RecordsDefaultDtype()]).fit(X32, y)
    assert {p.dtype for p in est.net_.module_.parameters()} == {torch.float32}
    assert est.transform(X32).dtype == np.float32
    # the caller's default is left as it is, also while training (changing it
    # would change it for every thread of the process)
    assert torch.get_default_dtype() == torch.float64
    assert set(est.history_[:, "default_dtype"]) == {"torch.float64"}


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("mode", [torch.inference_mode, torch.no_grad])
def test_a_fit_inside_inference_mode_trains_as_outside(cls, mode, X):
    # "element 0 of tensors does not require grad and does not have a grad_fn"
    y = (X[:, 0] > 0).astype(int)
    expected = make(cls).fit(X, y).transform(X)
    with mode():
        est = make(cls).fit(X, y)
        assert not torch.is_grad_enabled()  # the caller's mode is put back
    np.testing.assert_array_equal(est.transform(X), expected)
    state = [*est.net_.module_.parameters(), *est.net_.module_.buffers()]
    assert not any(t.is_inference() for t in state)


def test_a_partial_fit_inside_inference_mode_trains_as_outside(X):
    y = (X[:, 0] > 0).astype(int)
    est = make(sk_memsel.StochasticGatesSelector).partial_fit(X, y)
    expected = clone(est).partial_fit(X, y).partial_fit(X, y).gate_probabilities_
    with torch.inference_mode():
        est.partial_fit(X, y)
    np.testing.assert_array_equal(est.gate_probabilities_, expected)


# ------------------------------------------------ empty data on disk
@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "shape, message",
    [((40, 0), r"0 feature\(s\) \(shape=\(40, 0\)\)"), ((0, 5), r"0 sample\(s\)")],
)
def test_a_memory_mapped_array_without_columns_or_rows_is_refused(
    cls, shape, message, tmp_path
):
    # 0 columns passed the checks of an out-of-core X, warned (k larger than
    # the features) and failed inside: "in_features must be a positive integer"
    mm = np.lib.format.open_memmap(
        tmp_path / "X.npy", mode="w+", dtype=np.float32, shape=shape
    )
    est = make(cls, **LEARNS_Y.get(cls.__name__, {}))
    for data in (mm, np.zeros(shape)):  # as the same array in memory
        with pytest.raises(ValueError, match=message):
            est.fit(data, np.zeros(shape[0], dtype=int))


# ------------------------------------------------------------------ fork
_FORK_SCRIPT = """
import multiprocessing, warnings
import numpy as np
import torch
from sk_memsel import ConcreteAutoencoderSelector, StochasticGatesSelector

warnings.simplefilter("ignore")
X = np.random.RandomState(0).normal(size=(60, 8))
y = (X[:, 0] > 0).astype(int)

def job(n_threads):
    a = ConcreteAutoencoderSelector(k=2, max_epochs=2, n_threads=n_threads)
    b = StochasticGatesSelector(k=2, max_epochs=2, n_threads=n_threads)
    return int(a.fit(X).get_support().sum() + b.fit(X, y).get_support().sum())

torch.randn(512, 512) @ torch.randn(512, 512)  # the parent's OpenMP threads
print(job("auto"), job(2), flush=True)
with multiprocessing.get_context("fork").Pool(1) as pool:
    print(pool.map_async(job, ["auto", 2]).get(timeout=60), flush=True)
"""


@pytest.mark.skipif(
    "fork" not in __import__("multiprocessing").get_all_start_methods(),
    reason="no fork start method on this platform",
)
def test_a_fit_in_a_forked_child_after_one_in_the_parent_finishes():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _FORK_SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["4", "4", "[4,", "4]"]


# ------------------------------------------------------------------ input kinds
def _frame(X, column):
    import pandas as pd

    frame = pd.DataFrame(X[:, :2], columns=["a", "b"])
    frame["odd"] = column
    return frame


def _odd_inputs(X):
    import pandas as pd

    n = len(X)
    holes = np.where(X[:, 2] > 0, X[:, 2], np.nan)
    return {
        "datetime64": (X.astype("datetime64[s]"), "dates"),
        "timedelta64": (X.astype("timedelta64[s]"), "durations"),
        "masked": (np.ma.masked_array(X, mask=X > 1.0), "masked array"),
        "period": (
            _frame(X, pd.period_range("2020-01", periods=n, freq="M")),
            "'odd' \\(period",
        ),
        "interval": (_frame(X, pd.interval_range(0, n)), "'odd' \\(interval"),
        "sparse NaN fill": (
            _frame(X, pd.arrays.SparseArray(holes)),
            "sparse columns .* NaN .*'odd'",
        ),
    }


@pytest.mark.parametrize(
    "kind",
    ["datetime64", "timedelta64", "masked", "period", "interval", "sparse NaN fill"],
)
@pytest.mark.parametrize("cls", SELECTORS, ids=lambda c: c.__name__)
def test_inputs_that_are_not_plain_numbers_are_refused_by_name(cls, X, kind):
    bad, message = _odd_inputs(X)[kind]
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(ValueError, match=message):
        make(cls, **LEARNS_Y.get(cls.__name__, {})).fit(bad, y)


@pytest.mark.parametrize("cls", SELECTORS, ids=lambda c: c.__name__)
def test_a_masked_array_without_masked_values_and_a_zero_filled_sparse_column_fit(
    cls, X
):
    import pandas as pd

    y = (X[:, 0] > 0).astype(int)
    est = make(cls, **LEARNS_Y.get(cls.__name__, {}))
    expected = clone(est).fit(X, y).get_support()
    np.testing.assert_array_equal(
        clone(est).fit(np.ma.masked_array(X), y).get_support(), expected
    )
    frame = pd.DataFrame(X)
    frame[4] = pd.arrays.SparseArray(X[:, 4], fill_value=0.0)
    frame.columns = frame.columns.astype(str)
    clone(est).fit(frame, y)  # no warning, no error


@pytest.mark.parametrize("how", ["requires_grad", "bfloat16"])
@pytest.mark.parametrize("cls", SELECTORS, ids=lambda c: c.__name__)
def test_a_torch_tensor_that_requires_grad_or_is_bfloat16_fits(cls, X, how):
    y = (X[:, 0] > 0).astype(int)
    tensor = torch.tensor(X, dtype=torch.float32)
    tensor = tensor.requires_grad_() if how == "requires_grad" else tensor.bfloat16()
    est = make(cls, **LEARNS_Y.get(cls.__name__, {})).fit(tensor, y)
    assert est.transform(tensor).shape == (len(X), est.get_support().sum())


@pytest.mark.parametrize("cls", SELECTORS, ids=lambda c: c.__name__)
def test_a_constant_regression_target_is_refused(cls, X):
    task = {"objective" if "Concrete" in cls.__name__ else "task": "regression"}
    with pytest.raises(ValueError, match="y is constant"):
        make(cls, **task).fit(X, np.full(len(X), 3.5))


@pytest.mark.parametrize("classes", [[0, 1, np.nan], [0, 1, None], [0, 1, "a"]])
def test_partial_fit_classes_with_missing_or_mixed_labels_are_refused(X, classes):
    y = (X[:, 0] > 0).astype(int)
    est = make(sk_memsel.StochasticGatesSelector)
    with pytest.raises(ValueError, match="missing label|mixes"):
        est.partial_fit(X, y, classes=classes)
