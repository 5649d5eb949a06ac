"""Tests of the shared training backbone (sk_memsel._backbone)."""

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from skorch.callbacks import Callback
from skorch.dataset import Dataset
from torch.utils.data import Subset

import sk_memsel
from sk_memsel._backbone import (
    ArrayBatchIterator,
    MemselNet,
    NeuralEstimatorMixin,
    _data,
    _estimator,
    _net,
    _training,
    resolve_device,
)
from sk_memsel._backbone._params import SHARED_DOCS

from ._toy import ToyModule, ToyRegressor, first_weight
from .test_common import fit, make, public_estimators


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 6)).astype(np.float64)
    y = X[:, 0] * 2.0 - X[:, 1] + 0.1 * rng.normal(size=120)
    return X, y


# ---------------------------------------------------------------- seeding
def test_same_random_state_gives_identical_weights(data):
    X, y = data
    a = ToyRegressor(random_state=3).fit(X, y)
    b = ToyRegressor(random_state=3).fit(X, y)
    for pa, pb in zip(
        a.net_.module_.parameters(), b.net_.module_.parameters(), strict=True
    ):
        assert torch.equal(pa, pb)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_different_random_state_gives_different_weights(data):
    X, y = data
    a = ToyRegressor(random_state=3).fit(X, y)
    b = ToyRegressor(random_state=4).fit(X, y)
    assert not torch.equal(first_weight(a), first_weight(b))


def test_fit_leaves_global_rng_untouched(data):
    X, y = data
    torch.manual_seed(123)
    before = torch.get_rng_state()
    ToyRegressor(random_state=0).fit(X, y)
    assert torch.equal(before, torch.get_rng_state())
    # and the seed inside fit does not depend on the caller's global state
    torch.manual_seed(999)
    a = ToyRegressor(random_state=0).fit(X, y)
    torch.manual_seed(1)
    b = ToyRegressor(random_state=0).fit(X, y)
    assert torch.equal(first_weight(a), first_weight(b))


def test_random_state_none_advances_numpys_global_state_as_documented(data):
    # the docs said NumPy's global state was left as it was; None draws the
    # seed from it, as scikit-learn's estimators do
    X, y = data
    saved = np.random.get_state()
    try:
        np.random.seed(7)
        first = np.random.randint(2**31)
        np.random.seed(7)
        ToyRegressor(random_state=0).fit(X, y)
        assert np.random.randint(2**31) == first
        np.random.seed(7)
        ToyRegressor(random_state=None).fit(X, y)
        assert np.random.randint(2**31) != first
    finally:
        np.random.set_state(saved)
    doc = " ".join(SHARED_DOCS["random_state"][1].split())
    assert "``None`` draws the seed from NumPy's global random state" in doc
    assert "advances it" in doc and "an int leaves it alone" in doc


def test_random_state_instance_is_accepted(data):
    X, y = data
    a = ToyRegressor(random_state=np.random.RandomState(5)).fit(X, y)
    b = ToyRegressor(random_state=np.random.RandomState(5)).fit(X, y)
    assert torch.equal(first_weight(a), first_weight(b))


# ---------------------------------------------------------------- loss hook
def test_penalty_hook_changes_loss_and_gradient():
    torch.manual_seed(0)
    module = ToyModule(4, 1, hidden=3, penalty_weight=0.5)
    net = MemselNet(module=module, criterion=torch.nn.MSELoss, max_epochs=1)
    net.initialize()
    X = torch.randn(10, 4)
    y = torch.randn(10, 1)

    def grads(training):
        net.module_.zero_grad()
        loss = net.get_loss(net.module_(X), y, X=X, training=training)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in net.module_.parameters()]

    loss_eval, g_eval = grads(training=False)
    loss_train, g_train = grads(training=True)
    penalty = sum(p.pow(2).sum() for p in net.module_.parameters()).detach() * 0.5
    torch.testing.assert_close(loss_train - loss_eval, penalty)
    for p, ge, gt in zip(net.module_.parameters(), g_eval, g_train, strict=True):
        # d/dp of 0.5 * sum(p^2) is p
        torch.testing.assert_close(gt - ge, p.detach())


def test_penalty_hook_is_used_in_training(data):
    X, y = data
    plain = ToyRegressor(random_state=0, max_epochs=20).fit(X, y)
    shrunk = ToyRegressor(random_state=0, max_epochs=20, penalty_weight=1.0).fit(X, y)
    norm = lambda est: sum(  # noqa: E731
        p.pow(2).sum().item() for p in est.net_.module_.parameters()
    )
    assert norm(shrunk) < 0.8 * norm(plain)


# ---------------------------------------------------------------- device
def test_resolve_device_names():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device(torch.device("cpu")) == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == expected
    with pytest.raises(ValueError, match="not a known device"):
        resolve_device("tpu")
    with pytest.raises(ValueError, match="not a device name"):
        resolve_device(3)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu_is_a_clear_error(data):
    X, y = data
    with pytest.raises(ValueError, match="sees no CUDA GPU"):
        ToyRegressor(device="cuda").fit(X, y)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fit_and_cpu_predict_agree(data):
    X, y = data
    est = ToyRegressor(device="cuda", random_state=0).fit(X, y)
    assert next(est.net_.module_.parameters()).is_cuda
    assert est.predict(X).shape == (len(X),)


# ---------------------------------------------------------------- parameters
@pytest.mark.parametrize(
    "params, message",
    [
        ({"max_epochs": 0}, "max_epochs"),
        ({"max_epochs": 2.5}, "max_epochs"),
        (
            {"max_epochs": "auto"},
            r"'max_epochs' parameter of ToyRegressor must be an int .* Got 'auto'",
        ),
        ({"batch_size": 0}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"lr": -1.0}, "lr"),
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"optimizer": "adamax"}, r"'optimizer' parameter .* Got 'adamax'"),
        ({"optimizer": 3}, r"'optimizer' parameter .* Got 3"),
        ({"validation_fraction": 1.5}, "validation_fraction"),
        ({"device": "gpu"}, r"'device' parameter .* Got 'gpu'"),
        ({"callbacks": "none"}, r"'callbacks' parameter .* must be a list"),
    ],
)
def test_bad_common_parameters_are_named(data, params, message):
    X, y = data
    with pytest.raises((ValueError, TypeError), match=message):
        ToyRegressor(**params).fit(X, y)


def test_optimizer_class_is_accepted(data):
    X, y = data
    est = ToyRegressor(optimizer=torch.optim.SGD, random_state=0).fit(X, y)
    assert isinstance(est.net_.optimizer_, torch.optim.SGD)


def test_weight_decay_reaches_the_optimizer(data):
    X, y = data
    est = ToyRegressor(weight_decay=0.25, random_state=0).fit(X, y)
    assert est.net_.optimizer_.param_groups[0]["weight_decay"] == 0.25


# ------------------------------------------------ validation, early stopping
def test_validation_fraction_enables_early_stopping():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 20))
    y = rng.normal(size=200)  # pure noise: the validation loss cannot improve long
    est = ToyRegressor(
        hidden=64,
        lr=0.05,
        max_epochs=200,
        validation_fraction=0.25,
        n_iter_no_change=3,
        random_state=0,
    ).fit(X, y)
    history = est.history_
    assert "valid_loss" in history[-1]
    assert len(history) < 200


def test_no_validation_by_default(data):
    X, y = data
    est = ToyRegressor(random_state=0).fit(X, y)
    assert "valid_loss" not in est.history_[-1]
    assert len(est.history_) == est.max_epochs


# ---------------------------------------------------------------- input handling
def test_inputs_are_not_modified(data):
    X, y = data
    X64, y64 = X.copy(), y.copy()
    X32 = X.astype(np.float32)
    X32_copy = X32.copy()
    est = ToyRegressor(random_state=0).fit(X, y)
    est.predict(X)
    ToyRegressor(random_state=0).fit(X32, y).predict(X32)
    np.testing.assert_array_equal(X, X64)
    np.testing.assert_array_equal(y, y64)
    np.testing.assert_array_equal(X32, X32_copy)


def test_pandas_input_sets_feature_names(data):
    X, y = data
    df = pd.DataFrame(X, columns=[f"c{i}" for i in range(X.shape[1])])
    est = ToyRegressor(random_state=0).fit(df, pd.Series(y))
    assert list(est.feature_names_in_) == list(df.columns)
    assert est.n_features_in_ == X.shape[1]
    plain = ToyRegressor(random_state=0).fit(X, y)
    np.testing.assert_allclose(est.predict(df), plain.predict(X), rtol=1e-6)


def test_nan_input_is_refused(data):
    X, y = data
    X = X.copy()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ToyRegressor().fit(X, y)


def test_wrong_width_at_predict(data):
    X, y = data
    est = ToyRegressor(random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :3])


def test_prepare_target_classification_and_regression():
    est = NeuralEstimatorMixin()
    X = np.zeros((4, 2))
    codes = est._prepare_target(X, np.array(["b", "a", "b", "c"]))
    assert est.task_ == "classification"
    assert list(est.classes_) == ["a", "b", "c"]
    np.testing.assert_array_equal(codes, [1, 0, 1, 2])
    assert codes.dtype == np.int64
    target = est._prepare_target(X, np.array([0.5, 1.5, 2.5, 3.5]))
    assert est.task_ == "regression"
    np.testing.assert_allclose(target.ravel().mean(), 0, atol=1e-6)
    np.testing.assert_allclose(est._decode_regression(target), [0.5, 1.5, 2.5, 3.5])
    with pytest.raises(ValueError, match="single class"):
        est._prepare_target(X, np.array([1, 1, 1, 1]))
    with pytest.raises(ValueError, match="X has 4 samples but y has 3"):
        est._prepare_target(X, np.array([1, 2, 1]))


# ---------------------------------------------------------------- training faults
def test_non_finite_loss_stops_with_clear_error():
    X = np.full((20, 3), 1e30)
    y = np.linspace(0, 1, 20)
    with pytest.raises(FloatingPointError, match="epoch 1.*smaller learning rate"):
        ToyRegressor(random_state=0, lr=1e10).fit(X, y)


# ------------------------------------------------ callbacks, verbose, pickle
class CountEpochs(Callback):
    def initialize(self):
        self.count_ = 0
        return self

    def on_epoch_end(self, net, **kwargs):
        self.count_ += 1


def test_user_callbacks_run_on_copies(data):
    X, y = data
    cb = CountEpochs()
    est = ToyRegressor(max_epochs=3, callbacks=[cb], random_state=0).fit(X, y)
    assert not hasattr(cb, "count_")  # the user's object is untouched
    used = dict(est.net_.callbacks_)["user_0_CountEpochs"]
    assert used.count_ == 3


def test_verbose_2_prints_one_table_row_per_epoch(data, capsys):
    X, y = data
    ToyRegressor(max_epochs=3, verbose=2, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert "train_loss" in out
    assert (
        sum(line.strip().startswith(("1 ", "2 ", "3 ")) for line in out.splitlines())
        == 3
    )
    ToyRegressor(max_epochs=3, verbose=0, random_state=0).fit(X, y)
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""


def test_verbose_1_is_one_progress_line_on_stderr(data, capsys):
    X, y = data
    est = ToyRegressor(max_epochs=40, verbose=1, random_state=0).fit(X, y)
    captured = capsys.readouterr()
    assert captured.out == ""  # no epoch table
    # tqdm redraws one line with carriage returns: a single line in the end
    lines = [line for line in captured.err.split("\n") if line.strip()]
    assert len(lines) == 1
    final = lines[0].split("\r")[-1]
    assert "ToyRegressor" in final and "40/40" in final and "loss=" in final
    # the pickled estimator carries no open progress bar
    clone = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(est.predict(X), clone.predict(X))


def test_the_reserved_callback_names_are_those_our_nets_use(capsys):
    # a user's callback is refused under these names, written out apart from
    # the code that adds the callbacks: the backbone's own in _training.py,
    # each estimator's in its _callback_names. Every name a net uses must be
    # on its estimator's list, and every name on the lists used
    X = np.random.RandomState(0).normal(size=(40, 5))
    shared = set(_training.RESERVED_CALLBACK_NAMES)
    names = set()
    for cls in public_estimators():
        own = set(cls._callback_names)
        used = set()
        for verbose in (1, 2):  # a progress line, or skorch's table
            est = make(cls, validation_fraction=0.25, verbose=verbose)
            used |= {name for name, _ in fit(est, X, X[:, 0] > 0).net_.callbacks_}
        assert used <= shared | own, cls.__name__
        assert own <= used, cls.__name__
        names |= used
    assert shared <= names


# ---------------------------------------------------------------- stopping
class StopAtEpoch(Callback):
    """Record a stop reason at the end of epoch ``epoch``."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            net.history.record("stop_reason", "settled")


def test_stop_reason_and_n_epochs(data):
    X, y = data
    est = ToyRegressor(max_epochs=4, random_state=0).fit(X, y)
    assert est.n_epochs_ == len(est.history_) == 4
    assert est.history_[-1, "stop_reason"] == "max_epochs"
    assert "stop_reason" not in est.history_[-2]
    # a callback that records a reason ends training after that epoch, once
    # every callback (here the later CountEpochs) has seen the epoch
    est.set_params(max_epochs=50, callbacks=[StopAtEpoch(3), CountEpochs()])
    est.fit(X, y)
    assert est.n_epochs_ == len(est.history_) == 3
    assert est.history_[-1, "stop_reason"] == "settled"
    assert dict(est.net_.callbacks_)["user_1_CountEpochs"].count_ == 3
    # the validation early stopping says so
    est.set_params(
        callbacks=None, max_epochs=200, validation_fraction=0.3, n_iter_no_change=2
    ).fit(X, y)
    assert est.n_epochs_ < 200
    assert est.history_[-1, "stop_reason"] == "no_improvement"


# ---------------------------------------------------------------- threads
class RecordThreads(Callback):
    def on_epoch_end(self, net, **kwargs):
        net.history.record("threads", torch.get_num_threads())


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_small_networks_train_on_one_thread_and_restore_the_setting(data, two_threads):
    X, y = data
    est = ToyRegressor(max_epochs=2, callbacks=[RecordThreads()], random_state=0)
    est.fit(X, y)
    assert est.history_[:, "threads"] == [1, 1]
    assert est.n_threads_ == 1
    assert torch.get_num_threads() == 2  # torch's setting is back
    # an explicit count is honoured; None leaves torch's setting alone
    est.set_params(n_threads=3).fit(X, y)
    assert est.history_[:, "threads"] == [3, 3] and est.n_threads_ == 3
    assert torch.get_num_threads() == 2
    est.set_params(n_threads=None).fit(X, y)
    assert est.history_[:, "threads"] == [2, 2] and est.n_threads_ == 2
    # prediction runs with the fit's threads and restores the setting too
    est.set_params(n_threads="auto").fit(X, y)
    seen = []
    module = est.net_.module_
    module.register_forward_hook(lambda *a: seen.append(torch.get_num_threads()))
    est.predict(X)
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == 2


def test_threads_are_restored_after_a_failed_fit(data, two_threads):
    X, y = data
    with pytest.raises(FloatingPointError):
        ToyRegressor(lr=1e30, max_epochs=5, random_state=0).fit(X * 1e30, y)
    assert torch.get_num_threads() == 2


def test_large_networks_keep_torchs_threads(data, two_threads, monkeypatch):
    X, y = data
    monkeypatch.setattr(_estimator, "_SMALL_NETWORK_WORK", 1)  # every network is large
    est = ToyRegressor(max_epochs=2, callbacks=[RecordThreads()], random_state=0)
    est.fit(X, y)
    assert est.history_[:, "threads"] == [2, 2] and est.n_threads_ == 2


@pytest.mark.parametrize("bad", [0, -1, 1.5, "many"])
def test_bad_n_threads(data, bad):
    X, y = data
    with pytest.raises((TypeError, ValueError), match="n_threads"):
        ToyRegressor(n_threads=bad).fit(X, y)


@pytest.mark.parametrize(
    "name",
    [
        "ConcreteAutoencoderSelector",
        "StochasticGatesSelector",
        "MemorySelectorTransformer",
        "DNCTransformer",
        "MemoryAttentionTransformer",
    ],
)
def test_the_html_repr_links_to_the_estimators_api_entry(name, monkeypatch):
    est = getattr(sk_memsel, name)()
    # the entry's anchor on the API page (autodoc ids it by its public name)
    url = f"https://sk-memsel.readthedocs.io/en/stable/api.html#sk_memsel.{name}"
    assert est._get_doc_link() == url
    assert f'href="{url}"' in est._repr_html_()
    monkeypatch.setattr(_estimator, "_package_version", lambda: "0.2.0.dev1")
    assert est._get_doc_link() == url.replace("/stable/", "/latest/")


def test_the_doc_link_is_the_documentation_url_of_the_package(data):
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert f'Documentation = "{_estimator.DOCS_URL}"' in pyproject
    # a subclass defined outside sk_memsel has no page there: no link
    assert ToyRegressor()._get_doc_link() == ""


def test_pickling_leaves_the_estimator_as_it_was(data):
    X, y = data
    est = ToyRegressor(random_state=0).fit(X, y)
    before = dict(vars(est))
    pickle.dumps(est)
    assert vars(est) == before  # it gained _sk_memsel_format / _version


def test_pickle_round_trip_predicts_identically(data):
    X, y = data
    est = ToyRegressor(random_state=0).fit(X, y)
    clone = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(est.predict(X), clone.predict(X))


def test_a_pickle_saved_before_a_parameter_existed_gets_its_default(data):
    X, y = data
    est = ToyRegressor(n_threads=3, random_state=0).fit(X, y)
    expected = est.predict(X)
    del est.n_threads  # as saved by a release without the parameter
    loaded = pickle.loads(pickle.dumps(est))
    assert loaded.get_params()["n_threads"] == "auto"
    np.testing.assert_array_equal(loaded.predict(X), expected)


def test_loading_an_incompatible_pickle_is_a_clear_error(data, monkeypatch):
    X, y = data
    blob = pickle.dumps(ToyRegressor(random_state=0).fit(X, y))
    monkeypatch.setattr(_estimator, "SAVED_FORMAT", _estimator.SAVED_FORMAT + 1)
    with pytest.raises(ValueError, match="cannot read.*fit the model again"):
        pickle.loads(blob)


# ---------------------------------------------------------------- batch iterator
def test_array_iterator_covers_each_sample_once_per_epoch():
    X = np.arange(23, dtype=np.float32).reshape(23, 1)
    y = np.arange(23)
    it = ArrayBatchIterator(Dataset(X, y), batch_size=5, shuffle=True)
    assert len(it) == 5
    batches = list(it)
    assert [len(b[0]) for b in batches] == [5, 5, 5, 5, 3]
    seen = torch.cat([b[1] for b in batches]).numpy()
    assert sorted(seen) == list(range(23))
    # rows stay aligned with their targets
    for Xb, yb in batches:
        np.testing.assert_array_equal(Xb[:, 0].numpy(), yb.numpy())


def test_array_iterator_respects_subsets_and_full_batch():
    X = np.arange(10, dtype=np.float32).reshape(10, 1)
    sub = Subset(Dataset(X, np.arange(10)), [7, 2, 5])
    ((Xb, yb),) = list(ArrayBatchIterator(sub, batch_size=-1))
    assert sorted(yb.tolist()) == [2, 5, 7]
    assert len(ArrayBatchIterator(sub, batch_size=2)) == 2


def test_array_iterator_shuffle_follows_torch_seed():
    X = np.arange(50, dtype=np.float32).reshape(50, 1)
    ds = Dataset(X, np.arange(50))

    def order(seed):
        torch.manual_seed(seed)
        return torch.cat([b[1] for b in ArrayBatchIterator(ds, 7, shuffle=True)])

    assert torch.equal(order(0), order(0))
    assert not torch.equal(order(0), order(1))


# ---------------------------------------------------------------- data on the device
@pytest.mark.parametrize("shuffle", [False, True])
def test_tensor_dataset_gives_the_same_batches_as_arrays(shuffle):
    # the path used when the training set was copied to the GPU once
    rng = np.random.RandomState(0)
    X = rng.normal(size=(37, 3)).astype(np.float32)
    y = rng.randint(0, 3, size=37).astype(np.int64)
    sub = [int(i) for i in rng.permutation(37)[:30]]

    def batches(X, y):
        torch.manual_seed(0)
        ds = Subset(Dataset(X, y), sub)
        return list(ArrayBatchIterator(ds, batch_size=8, shuffle=shuffle))

    expected = batches(X, y)
    got = batches(torch.from_numpy(X), torch.from_numpy(y))
    assert len(got) == len(expected) == 4
    for (Xa, ya), (Xb, yb) in zip(expected, got, strict=True):
        assert torch.equal(Xa, Xb) and torch.equal(ya, yb)


def test_preload_leaves_cpu_and_out_of_core_data_alone(tmp_path):
    X = np.ones((4, 2), dtype=np.float32)
    assert _data._preload(X, X, "cpu") is None
    mm = np.memmap(tmp_path / "x", dtype=np.float32, mode="w+", shape=(4, 2))
    assert _data._preload(mm, None, "cpu") is None


@pytest.mark.parametrize("validation_fraction", [None, 0.25])
def test_fit_with_the_training_set_on_the_device_equals_batch_copies(
    data, monkeypatch, validation_fraction
):
    # no GPU here: the CPU is treated as a device that takes the one-off copy,
    # so the whole preloaded path runs and must train exactly the same model
    X, y = data
    params = {"random_state": 0, "validation_fraction": validation_fraction}
    expected = first_weight(ToyRegressor(**params).fit(X, y))
    calls = []
    preload = _data._preload

    def counting(*args):
        out = preload(*args)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(_data, "_PRELOAD_DEVICE_TYPES", ("cpu",))
    monkeypatch.setattr(_training, "_preload", counting)
    got = first_weight(ToyRegressor(**params).fit(X, y))
    assert calls == [True]
    np.testing.assert_array_equal(expected, got)


# ---------------------------------------------------------------- epoch table
@pytest.mark.parametrize("terminal", [False, True])
def test_epoch_table_is_coloured_only_on_a_terminal(
    data, capsys, monkeypatch, terminal
):
    monkeypatch.setattr(_net, "_use_colour", lambda: terminal)
    X, y = data
    ToyRegressor(verbose=2, max_epochs=3, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert "train_loss" in out
    assert ("\x1b[" in out) is terminal


def test_no_color_turns_colour_off(monkeypatch):
    monkeypatch.setattr(_net.sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert _net._use_colour()
    monkeypatch.setenv("NO_COLOR", "1")
    assert not _net._use_colour()
