"""Tests of the neural transformers: MemorySelector, DNC and memory attention."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback

from sk_memsel import (
    DNCTransformer,
    MemoryAttentionTransformer,
    MemorySelectorTransformer,
)

#: tiny modules and two epochs: these tests check behaviour, not quality
FAST = {
    MemorySelectorTransformer: {
        "out_features": 3,
        "memory_size": 4,
        "embedding_size": 2,
        "hidden_size": 8,
        "max_epochs": 2,
    },
    DNCTransformer: {
        "hidden_size": 6,
        "memory_size": 4,
        "word_size": 3,
        "max_steps": 4,
        "conv_channels": 2,
        "max_epochs": 2,
    },
    MemoryAttentionTransformer: {
        "units": 8,
        "memory_size": 4,
        "num_heads": 2,
        "max_epochs": 2,
    },
}
WIDTH = {  # number of features each FAST transformer returns for tables
    MemorySelectorTransformer: 6,
    DNCTransformer: 9,  # hidden_size + num_reads * word_size
    MemoryAttentionTransformer: 8,  # the mean of 8 units
}
#: and for sequences: the mean of the 3 stages of the embedding and of the
#: memory module's output, each conv_channels (units) wide
SEQ_WIDTH = {DNCTransformer: 2 * 4, MemoryAttentionTransformer: 8 * 4}
ALL = list(FAST)
SEQUENCE = [DNCTransformer, MemoryAttentionTransformer]
IDS = [cls.__name__ for cls in ALL]
SEQ_IDS = [cls.__name__ for cls in SEQUENCE]


def make(cls, **params):
    return cls(**{"random_state": 0, **FAST[cls], **params})


@pytest.fixture(scope="module")
def tabular():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 5))
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    return X, y


@pytest.fixture(scope="module")
def sequences():
    """(n_samples, n_channels, n_timepoints), the aeon layout."""
    rng = np.random.RandomState(1)
    X = rng.normal(size=(30, 3, 10))
    y = (X[:, 0].mean(axis=1) > 0).astype(int)
    return X, y


@pytest.fixture(scope="module")
def fitted(tabular):
    """One supervised fit per transformer, shared by the read-only tests."""
    X, y = tabular
    return {cls: make(cls).fit(X, y) for cls in ALL}


# ------------------------------------------------------------------ outputs
@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_supervised_fit_gives_named_float_features(cls, fitted, tabular):
    X, _ = tabular
    est = fitted[cls]
    Z = est.transform(X)
    assert Z.shape == (len(X), WIDTH[cls])
    assert Z.dtype == np.float32
    assert np.all(np.isfinite(Z))
    assert est.task_ == "classification"
    assert est.classes_.tolist() == ["no", "yes"]
    assert est.n_features_in_ == 5
    prefix = cls.__name__.lower()
    names = est.get_feature_names_out()
    assert names.tolist() == [f"{prefix}{i}" for i in range(WIDTH[cls])]


@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_regression_target_trains_a_regression_head(cls, tabular):
    X, _ = tabular
    est = make(cls).fit(X, X[:, 0] * 1.5 + 0.25)
    assert est.task_ == "regression"
    assert est.transform(X).shape == (len(X), WIDTH[cls])


@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_fit_without_y_learns_to_reconstruct(cls, tabular):
    X, y = tabular
    est = make(cls).fit(X, y).fit(X)  # a refit drops what the old y left
    assert est.task_ == "reconstruction"
    assert not hasattr(est, "classes_")
    # the head maps the features back to the standardised input
    assert est.net_.module_.head.out_features == X.shape[1]
    assert est.transform(X).shape == (len(X), WIDTH[cls])
    losses = est.history_[:, "train_loss"]
    assert all(np.isfinite(losses))


@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_unsupervised_pipeline(cls, tabular):
    from sklearn.cluster import KMeans

    X, _ = tabular
    pipe = make_pipeline(StandardScaler(), make(cls), KMeans(2, n_init=2))
    labels = pipe.fit_predict(X)
    assert labels.shape == (len(X),)


@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_pandas_output(cls, fitted, tabular):
    X, _ = tabular
    est = clone(fitted[cls]).set_output(transform="pandas")
    df = pd.DataFrame(X, columns=[f"c{i}" for i in range(X.shape[1])])
    out = est.fit(df).transform(df)
    assert isinstance(out, pd.DataFrame)
    assert out.columns.tolist() == est.get_feature_names_out().tolist()
    assert est.feature_names_in_.tolist() == df.columns.tolist()


# ------------------------------------------------------------------ contract
@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_random_state_reproducible(cls, fitted, tabular):
    X, y = tabular
    again = make(cls).fit(X, y)
    np.testing.assert_array_equal(fitted[cls].transform(X), again.transform(X))
    other = make(cls, random_state=1).fit(X, y)
    assert not np.allclose(fitted[cls].transform(X), other.transform(X))


@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_pickle_round_trip(cls, fitted, tabular):
    X, _ = tabular
    loaded = pickle.loads(pickle.dumps(fitted[cls]))
    np.testing.assert_array_equal(fitted[cls].transform(X), loaded.transform(X))


@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_input_not_modified(cls, tabular, sequences):
    X, y = tabular
    X32 = X.astype(np.float32)
    before = X.copy(), X32.copy()
    make(cls, standardize=False).fit(X32, y).transform(X32)
    make(cls).fit(X, y).transform(X)
    np.testing.assert_array_equal(X, before[0])
    np.testing.assert_array_equal(X32, before[1])
    if cls in SEQUENCE:
        S, ys = sequences
        S_before = S.copy()
        make(cls).fit(S, ys).transform(S)
        np.testing.assert_array_equal(S, S_before)


@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_not_fitted_and_wrong_width(cls, fitted, tabular):
    X, _ = tabular
    with pytest.raises(NotFittedError):
        make(cls).transform(X)
    with pytest.raises(ValueError, match="X has 4 features, but .* expecting 5"):
        fitted[cls].transform(X[:, :4])


COMMON_BAD = [
    ({"max_epochs": 0}, "max_epochs"),
    ({"lr": -1.0}, "lr"),
    ({"standardize": "yes"}, "standardize"),
]
BAD = {
    MemorySelectorTransformer: [
        ({"out_features": 0}, "out_features"),
        ({"memory_size": 2.5}, "memory_size"),
        ({"embedding_size": -1}, "embedding_size"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"temperature": 0.0}, "temperature"),
    ],
    DNCTransformer: [
        ({"hidden_size": 0}, "hidden_size"),
        ({"memory_size": 0}, "memory_size"),
        ({"word_size": 1.5}, "word_size"),
        ({"num_reads": 0}, "num_reads"),
        ({"num_writes": -1}, "num_writes"),
        ({"max_steps": 0}, "max_steps"),
        ({"clip_value": -2.0}, "clip_value"),
    ],
    MemoryAttentionTransformer: [
        ({"units": 0}, "units"),
        ({"units": 9, "num_heads": 2}, "divisible by num_heads"),
        ({"memory_size": 0}, "memory_size"),
        ({"depth": 0}, "depth"),
        ({"pooling": "sum"}, "pooling"),
        ({"dropout": 1.0}, "dropout"),
    ],
}


@pytest.mark.parametrize(
    "cls, params, word",
    [(cls, p, w) for cls in ALL for p, w in COMMON_BAD + BAD[cls]],
    ids=lambda v: v.__name__ if isinstance(v, type) else str(v),
)
def test_bad_parameters_are_named(cls, params, word, tabular):
    X, y = tabular
    with pytest.raises(ValueError, match=word):
        make(cls, **params).fit(X, y)


# ------------------------------------------------------------------ sequences
@pytest.mark.parametrize("cls", SEQUENCE, ids=SEQ_IDS)
def test_sequences_in_the_aeon_layout(cls, sequences):
    X, y = sequences
    est = make(cls).fit(X, y)
    assert est.n_features_in_ == 3  # the channels
    assert est.n_timepoints_in_ == 10
    Z = est.transform(X)
    assert Z.shape == (len(X), SEQ_WIDTH[cls])
    assert np.all(np.isfinite(Z))
    # a model of the sequences, not of 2-D rows
    unsup = make(cls).fit(X)
    assert unsup.net_.module_.head.out_features == 3 * 10

    with pytest.raises(ValueError, match="2 channels, but .* fitted on 3"):
        est.transform(X[:, :2])
    with pytest.raises(ValueError, match="9 time points, but .* fitted on 10"):
        est.transform(X[:, :, :9])
    with pytest.raises(ValueError, match="fitted on sequences"):
        est.transform(X[:, :, 0])
    with pytest.raises(ValueError, match="2-D .* or 3-D"):
        make(cls).fit(X[..., None], y)

    tabular_est = make(cls).fit(X[:, 0], y)
    assert tabular_est.n_timepoints_in_ is None
    with pytest.raises(ValueError, match="fitted on tabular input"):
        tabular_est.transform(X[:, :, :3].transpose(0, 2, 1))


def test_memory_selector_refuses_sequences(sequences):
    X, y = sequences
    with pytest.raises(ValueError, match="3-D"):
        make(MemorySelectorTransformer).fit(X, y)


def test_dnc_max_steps_windows_of_a_table_keep_every_value():
    est = make(DNCTransformer, max_steps=4)
    Z = np.arange(2 * 10, dtype=np.float32).reshape(2, 10)
    steps = est._layout(Z)
    # a row is a one-channel sequence: ceil(10 / 4) = 3 columns per window,
    # ceil(10 / 3) = 4 windows
    assert steps.shape == (2, 4, 3)
    np.testing.assert_array_equal(steps[0, 0], Z[0, :3])
    np.testing.assert_array_equal(steps[1, 3, :1], Z[1, 9:])
    np.testing.assert_array_equal(steps[:, 3, 1:], 0.0)  # padding
    # short rows, and max_steps=None, read one column per step
    assert make(DNCTransformer, max_steps=None)._layout(Z).shape == (2, 10, 1)
    assert est._layout(Z[:, :4]).shape == (2, 4, 1)
    # sequences go to the convolutional embedding as they are
    S = np.zeros((2, 3, 10), dtype=np.float32)
    assert est._layout(S) is S


@pytest.mark.parametrize("max_steps, n_steps", [(4, 4), (3, 3), (20, 10), (None, 10)])
def test_dnc_reads_the_tokens_in_at_most_max_steps_steps(sequences, max_steps, n_steps):
    X, y = sequences  # 10 time points: 10 tokens
    est = make(DNCTransformer, max_steps=max_steps).fit(X, y)
    seen = []
    dnc = est.net_.module_.encoder.dnc
    hook = dnc.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape))
    try:
        est.transform(X)
    finally:
        hook.remove()
    assert seen == [(len(X), n_steps, 2)]  # (rows, steps, conv_channels)


def test_attention_tokens_and_pooling(tabular, sequences):
    X, y = tabular
    est = make(MemoryAttentionTransformer, pooling="mean").fit(X, y)
    assert est.transform(X).shape == (len(X), 8)
    embedding = est.net_.module_.encoder.embedding
    # tabular: one learned embedding of the value per feature, and positions
    assert tuple(embedding.weight.shape) == (5, 1, 8)
    assert tuple(embedding.position.shape) == (5, 8)
    S, ys = sequences
    seq = make(MemoryAttentionTransformer, pooling="max", depth=2).fit(S, ys)
    assert seq.transform(S).shape == (len(S), 8 * 4)  # 3 stages and the memory
    embedding = seq.net_.module_.encoder.embedding
    # sequences: a convolution of the 3 channels over 9 time points, one
    # token per time point (10 time points, at most 64 tokens)
    assert tuple(embedding.input.weight.shape) == (8, 3, 9)
    assert (embedding.pool, embedding.n_tokens) == (1, 10)
    assert len(seq.net_.module_.encoder.blocks) == 2
    short = make(MemoryAttentionTransformer, max_tokens=4, kernel_size=3).fit(S, ys)
    embedding = short.net_.module_.encoder.embedding
    assert (embedding.pool, embedding.n_tokens) == (3, 4)
    assert tuple(embedding.input.weight.shape) == (8, 3, 3)


def test_the_sequence_budget_is_counted_in_optimizer_steps(sequences, monkeypatch):
    X, y = sequences  # 30 rows
    monkeypatch.setattr(MemoryAttentionTransformer, "_auto_steps", 12)
    for batch_size, epochs in [(16, 6), (4, 2), (-1, 12)]:
        est = make(
            MemoryAttentionTransformer, max_epochs="auto", batch_size=batch_size
        ).fit(X, y)
        assert est.n_epochs_ == epochs  # ceil(12 / batches per epoch)
    assert "about 300 optimizer steps" in " ".join(DNCTransformer.__doc__.split())


# ------------------------------------------------------------------ memory
def test_memory_selector_reports_the_chosen_slots(fitted, tabular):
    X, _ = tabular
    est = fitted[MemorySelectorTransformer]
    slots, proba = est.select_memory(X, return_probabilities=True)
    assert slots.shape == (len(X), 3) and slots.dtype == np.int64
    assert proba.shape == (len(X), 3, 4)
    np.testing.assert_allclose(proba.sum(axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(slots, proba.argmax(axis=-1))
    np.testing.assert_array_equal(est.select_memory(X), slots)
    assert est.memory_bank_.shape == (3, 4, 2)
    # the features are the probability-weighted slots of each bank
    expected = np.einsum("nom,ome->noe", proba, est.memory_bank_)
    np.testing.assert_allclose(
        est.transform(X), expected.reshape(len(X), -1), rtol=1e-4, atol=1e-5
    )
    with pytest.raises(NotFittedError):
        make(MemorySelectorTransformer).select_memory(X)


def test_concurrent_reads_do_not_interfere(fitted, tabular):
    from concurrent.futures import ThreadPoolExecutor

    X, _ = tabular
    est = fitted[MemorySelectorTransformer]
    features, slots = est.transform(X), est.select_memory(X)
    calls = [est.transform, est.select_memory] * 8
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda call: call(X), calls))
    for call, result in zip(calls, results, strict=True):
        expected = features if call == est.transform else slots
        np.testing.assert_array_equal(result, expected)


# ------------------------------------------------------------------ sklearn tools
def test_grid_search_with_two_jobs(tabular):
    X, y = tabular
    pipe = Pipeline(
        [("scale", StandardScaler()), ("features", make(MemorySelectorTransformer))]
        + [("clf", LogisticRegression())]
    )
    grid = GridSearchCV(
        pipe,
        {"features": [make(cls) for cls in ALL]},
        cv=2,
        n_jobs=2,
        error_score="raise",
    ).fit(X, y)
    assert len(grid.cv_results_["mean_test_score"]) == 3
    assert grid.predict(X).shape == (len(X),)


@pytest.mark.parametrize("cls", SEQUENCE, ids=SEQ_IDS)
def test_grid_search_with_two_jobs_on_sequences(cls, sequences):
    X, y = sequences
    pipe = make_pipeline(make(cls), LogisticRegression())
    step = pipe.steps[0][0]
    grid = GridSearchCV(
        pipe, {f"{step}__max_epochs": [1, 2]}, cv=2, n_jobs=2, error_score="raise"
    ).fit(X, y)
    assert len(grid.cv_results_["mean_test_score"]) == 2
    assert grid.best_estimator_[0].n_timepoints_in_ == X.shape[2]
    assert grid.predict(X).shape == (len(X),)


@pytest.mark.parametrize("cls", SEQUENCE, ids=SEQ_IDS)
def test_pandas_output_of_sequences(cls, sequences):
    X, y = sequences
    est = make(cls).set_output(transform="pandas").fit(X, y)
    out = est.transform(X)
    assert isinstance(out, pd.DataFrame)
    assert out.shape == (len(X), SEQ_WIDTH[cls])
    assert out.columns.tolist() == est.get_feature_names_out().tolist()
    assert (out.dtypes == np.float32).all()


class _CountTrainings(Callback):
    """Append one line to ``path`` whenever a training starts."""

    def __init__(self, path):
        self.path = path

    def on_train_begin(self, net, **kwargs):
        with open(self.path, "a") as f:
            f.write("fit\n")


@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_pipeline_with_caching(cls, tabular, sequences, tmp_path):
    X, y = tabular if cls is MemorySelectorTransformer else sequences
    log = tmp_path / "trainings.txt"
    cache = tmp_path / "cache"
    pipe = Pipeline(
        [
            ("features", make(cls, callbacks=[_CountTrainings(str(log))])),
            ("clf", LogisticRegression()),
        ],
        memory=str(cache),
    )
    first = pipe.fit(X, y).predict_proba(X)
    assert log.read_text().splitlines() == ["fit"]
    second = clone(pipe).fit(X, y).predict_proba(X)
    # the fitted transformer came from the cache: no second training
    assert log.read_text().splitlines() == ["fit"]
    np.testing.assert_array_equal(first, second)
    # another parameter is another cache entry
    clone(pipe).set_params(features__max_epochs=1).fit(X, y)
    assert log.read_text().splitlines() == ["fit", "fit"]


def test_the_transformer_base_class_is_abstract():
    from sk_memsel._transformers import NeuralTransformerBase

    with pytest.raises(TypeError, match="abstract"):
        NeuralTransformerBase()


# ------------------------------------------------------------------ hard input
def test_non_finite_features_are_refused_naming_the_row(fitted, tabular):
    # finite input far outside the fit's range: the attention's layer
    # normalisation overflows float32 and would return NaN features
    X, _ = tabular
    far = X.copy()
    far[3] *= 1e20
    est = fitted[MemoryAttentionTransformer]
    with pytest.raises(ValueError, match=r"row 3 of X.*far outside the range"):
        est.transform(far)
    np.testing.assert_array_equal(est.transform(X[:3]), est.transform(far[:3]))


@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_values_beyond_float32_once_standardised_are_refused(cls, tabular):
    X, y = tabular
    narrow = X.copy()
    narrow[:, 0] = 1 + 1e-6 * X[:, 0]  # a spread of 1e-6
    est = make(cls).fit(narrow, y)
    far = narrow.copy()
    far[5, 0] = 1e33  # finite in float32, about 1e39 once standardised
    with pytest.raises(
        ValueError, match=r"Row 5 of X .* reach [0-9.]+e\+3[89], more than float32"
    ):
        est.transform(far)


def test_reads_in_chunks_give_the_same_features(tabular, monkeypatch):
    from sk_memsel._backbone import _data

    X, y = tabular
    est = make(MemoryAttentionTransformer).fit(X, y)
    whole = est.transform(X)
    # chunks of 4 rows (the last one shorter) instead of one
    monkeypatch.setattr(_data, "_CHUNK_ELEMENTS", 4 * X.shape[1])
    monkeypatch.setattr(est, "_predict_batch_size", lambda: 4)
    np.testing.assert_allclose(est.transform(X), whole, rtol=1e-5, atol=1e-6)
    far = X.copy()
    far[13] *= 1e20
    with pytest.raises(ValueError, match="row 13 of X"):
        est.transform(far)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(41, 5), (41, 3, 4)], ids=["2-D", "3-D"])
def test_standardisation_statistics(shape, weighted, monkeypatch):
    from sk_memsel._backbone import _data

    rng = np.random.RandomState(0)
    X = (rng.normal(size=shape) * 3 + 100).astype(np.float32)
    X[:, 1] = 7.0  # a constant feature (channel) is only centred
    y = rng.randint(0, 2, size=len(X))
    w = rng.randint(0, 4, size=len(X)).astype(float) if weighted else None
    axes = (0, 2) if X.ndim == 3 else (0,)
    X64 = X.astype(np.float64)
    rows = np.broadcast_to(
        (np.ones(len(X)) if w is None else w).reshape((-1,) + (1,) * (X.ndim - 1)),
        X.shape,
    )
    mean = np.average(X64, axis=axes, weights=rows, keepdims=True)
    spread = np.sqrt(np.average((X64 - mean) ** 2, axis=axes, weights=rows))
    cls = DNCTransformer if X.ndim == 3 else MemorySelectorTransformer
    est = make(cls).fit(X, y, sample_weight=w)
    if not weighted:  # numpy's mean and standard deviation, up to rounding
        # (StandardScaler's variance adds Chan's correction term, and sums
        # the time points of sequences in another order)
        np.testing.assert_allclose(
            est._input_mean,
            X.mean(axis=axes, keepdims=True, dtype=np.float64),
            rtol=1e-13,
        )
        expected = X.std(axis=axes, keepdims=True, dtype=np.float64)
        expected[:, 1] = 1.0
        np.testing.assert_allclose(est._input_scale, expected, rtol=1e-13)
    # read in chunks of 2 rows (the last one a single row), as out-of-core
    # data are: the same statistics
    monkeypatch.setattr(_data, "_CHUNK_ELEMENTS", 2 * X[0].size)
    chunked = make(cls).fit(X, y, sample_weight=w)
    for fit in (est, chunked):
        np.testing.assert_allclose(fit._input_mean.ravel(), mean.ravel(), rtol=1e-6)
        scale = fit._input_scale.ravel()
        np.testing.assert_allclose(np.delete(scale, 1), np.delete(spread, 1), rtol=1e-6)
        assert scale[1] == 1.0
    np.testing.assert_allclose(chunked._input_mean, est._input_mean, rtol=1e-12)
    np.testing.assert_allclose(chunked._input_scale, est._input_scale, rtol=1e-12)


@pytest.mark.parametrize("shape", [(70, 12), (70, 12, 3)], ids=["2-D", "3-D"])
def test_constant_features_with_weights_are_only_centred_without_a_warning(shape):
    # their weighted variance can round to a tiny negative number, whose
    # square root is NaN; with 11 constant features one of them does
    rng = np.random.RandomState(0)
    X = rng.normal(size=shape)
    constants = rng.uniform(-100, 100, size=11).astype(np.float32)
    X[:, 1:] = constants.reshape((1, -1) + (1,) * (len(shape) - 2))
    y = rng.randint(0, 2, size=len(X))
    w = rng.uniform(0, 1, size=len(X))
    cls = DNCTransformer if len(shape) == 3 else MemorySelectorTransformer
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scikit-learn's warnings too
        est = make(cls).fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(est._input_scale.ravel()[1:], 1.0)
    np.testing.assert_allclose(est._input_mean.ravel()[1:], constants, rtol=1e-12)


@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_data_on_disk_gives_the_same_features(cls, tabular, sequences, tmp_path):
    h5py = pytest.importorskip("h5py")
    X, y = tabular if cls is MemorySelectorTransformer else sequences
    w = np.random.RandomState(0).uniform(0, 2, size=len(X))
    memmap = np.memmap(tmp_path / "X.f64", dtype=np.float64, mode="w+", shape=X.shape)
    memmap[:] = X
    in_memory = make(cls).fit(X, y)
    expected = in_memory.transform(X)
    weighted = make(cls).fit(X, y, sample_weight=w).transform(X)
    with h5py.File(tmp_path / "X.h5", "w") as f:
        f["X"] = X
    with h5py.File(tmp_path / "X.h5", "r") as f:
        for data in (f["X"], memmap):
            est = make(cls).fit(data, y)
            np.testing.assert_array_equal(est.transform(data), expected)
            np.testing.assert_array_equal(est.transform(X), expected)
            np.testing.assert_array_equal(in_memory.transform(data), expected)
            est = make(cls).fit(data, y, sample_weight=w)
            np.testing.assert_array_equal(est.transform(data), weighted)
            unsupervised = make(cls, standardize=False).fit(data)
            width = (SEQ_WIDTH if cls in SEQUENCE else WIDTH)[cls]
            assert unsupervised.transform(data).shape == (len(X), width)


@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_huge_sample_weights_are_rescaled_not_overflowed(cls, tabular):
    X, y = tabular
    w = np.random.RandomState(0).randint(1, 4, size=len(X)).astype(float)
    est = make(cls).fit(X, y, sample_weight=w)
    # the sum of these weights overflows float64; divided by their largest
    # they are the weights above, exactly (a power of two is a pure rescale)
    huge = make(cls).fit(X, y, sample_weight=w * 2.0**1020)
    np.testing.assert_array_equal(huge._input_mean, est._input_mean)
    np.testing.assert_array_equal(huge._input_scale, est._input_scale)
    np.testing.assert_array_equal(huge.transform(X), est.transform(X))
    top = make(cls).fit(X, y, sample_weight=np.full(len(X), 1e308))
    unit = make(cls).fit(X, y, sample_weight=np.ones(len(X)))
    np.testing.assert_array_equal(top.transform(X), unit.transform(X))


# ------------------------------------------------------------------ embedding
def test_conv_norm_relu_is_torch_conv_batch_norm_and_relu():
    import torch

    from sk_memsel._transformers._embedding import ConvNormReLU

    torch.manual_seed(0)
    layer = ConvNormReLU(3, 5, kernel_size=4, dilation=2)
    conv = torch.nn.Conv1d(3, 5, 4, dilation=2, padding="same", bias=False)
    norm = torch.nn.BatchNorm1d(5)
    with torch.no_grad():
        conv.weight.copy_(layer.weight)
        layer.scale.uniform_(0.5, 2.0)
        layer.shift.uniform_(-1.0, 1.0)
        norm.weight.copy_(layer.scale)
        norm.bias.copy_(layer.shift)
    reference = torch.nn.Sequential(conv, norm, torch.nn.ReLU())
    x = torch.randn(6, 3, 11)
    for mode in ("train", "eval"):  # batch statistics, then running ones
        layer.train(mode == "train")
        reference.train(mode == "train")
        torch.testing.assert_close(layer(x), reference(x))
        torch.testing.assert_close(layer.running_mean, norm.running_mean)
        torch.testing.assert_close(layer.running_var, norm.running_var)
    # one value per channel (a row of one time point) has no spread: the
    # running statistics normalise it, and they do not change
    layer.train()
    before = layer.running_mean.clone(), layer.running_var.clone()
    reference.eval()
    one = torch.randn(1, 3, 1)
    torch.testing.assert_close(layer(one), reference(one))
    torch.testing.assert_close((layer.running_mean, layer.running_var), before)


@pytest.mark.parametrize(
    "n_timepoints, max_tokens, pool, n_tokens",
    [
        (1, 64, 1, 1),
        (5, 64, 1, 5),
        (64, 64, 1, 64),
        (65, 64, 2, 33),
        (1460, 64, 23, 64),
    ],
)
def test_the_embedding_pools_long_series_into_at_most_max_tokens(
    n_timepoints, max_tokens, pool, n_tokens
):
    import torch

    from sk_memsel._transformers._embedding import SequenceEmbedding

    embed = SequenceEmbedding(2, n_timepoints, 4, kernel_size=9, max_tokens=max_tokens)
    assert (embed.pool, embed.n_tokens) == (pool, n_tokens)
    stages = embed(torch.randn(3, 2, n_timepoints))
    assert [tuple(s.shape) for s in stages] == [(3, n_tokens, 4)] * 3
    # a token is the maximum over its window of the first convolution
    embed.eval()
    x = torch.randn(3, 2, n_timepoints)
    first = embed.input(x)
    window = first[:, :, (n_tokens - 1) * pool :].amax(dim=2)
    torch.testing.assert_close(embed(x)[0][:, -1], window)


def test_sequences_of_one_time_point_train_in_batches_of_one_row():
    X = np.random.RandomState(0).normal(size=(5, 2, 1))
    for cls in SEQUENCE:
        est = make(cls, batch_size=1).fit(X, np.arange(5) % 2)
        assert np.all(np.isfinite(est.transform(X)))


@pytest.mark.parametrize("cls", SEQUENCE, ids=SEQ_IDS)
def test_skops_round_trip_of_sequences(cls, sequences):
    sio = pytest.importorskip("skops.io")
    from .test_common import trusted_types

    X, y = sequences
    est = make(cls).fit(X, y)
    blob = sio.dumps(est)
    assert sio.get_untrusted_types(data=blob) == [f"{cls.__module__}.{cls.__name__}"]
    loaded = sio.loads(blob, trusted=trusted_types())
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))


# ------------------------------------------------------------------ quality
def planted_series(n_samples, seed):
    """One channel of noise with a sine period, up then down for class 1 and
    down then up for class 0, at a random place (circularly: every time point
    has the same distribution in both classes, so a linear model of the raw
    values is at chance); the shape tells the class."""
    rng = np.random.RandomState(seed)
    y = np.arange(n_samples) % 2
    X = rng.normal(size=(n_samples, 1, 48))
    wave = np.zeros(48)
    wave[:12] = 3 * np.sin(np.linspace(0, 2 * np.pi, 12))
    for row, start in enumerate(rng.randint(0, 48, size=n_samples)):
        X[row, 0] += np.roll(wave if y[row] else -wave, start)
    return X, y


def planted_table(n_samples, seed):
    """y is the exclusive or of the signs of two of six features: no linear
    model of the raw features does better than chance."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, 6))
    return X, ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(int)


def linear_score(features, y, test_features, y_test):
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return pipe.fit(features, y).score(test_features, y_test)


#: the accuracy that the features of each transformer, with its defaults
#: (the DNC with fewer epochs, for time), must give a logistic regression on
#: the planted problem; noise features of the same width, and the raw
#: values, stay near chance (0.5) and below NOISE_CEILING
PLANTED_FLOOR = 0.9
NOISE_CEILING = 0.65


@pytest.mark.parametrize(
    "cls, params",
    [
        (MemoryAttentionTransformer, {}),
        (DNCTransformer, {"max_epochs": 30}),  # 120 steps of the 300
        (MemorySelectorTransformer, {}),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else str(v),
)
def test_features_carry_the_signal_of_a_planted_problem(cls, params):
    planted = planted_table if cls is MemorySelectorTransformer else planted_series
    X, y = planted(64 if cls in SEQUENCE else 200, seed=0)
    X_test, y_test = planted(400, seed=1)
    est = cls(random_state=0, **params).fit(X, y)
    features = est.transform(X)
    score = linear_score(features, y, est.transform(X_test), y_test)
    assert score >= PLANTED_FLOOR
    # the control: noise features of the same width, and the raw values
    rng = np.random.RandomState(0)
    noise = linear_score(
        rng.normal(size=features.shape),
        y,
        rng.normal(size=(400, features.shape[1])),
        y_test,
    )
    raw = linear_score(X.reshape(len(X), -1), y, X_test.reshape(400, -1), y_test)
    assert max(noise, raw) < NOISE_CEILING
