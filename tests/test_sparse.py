"""Sparse input: the selectors read it batch by batch, the transformers refuse it.

The selectors train on sparse ``X`` one densified batch at a time; a batch
holds exactly the values of the same rows of the dense array, so the same
``random_state`` must give the same selection, importances and predictions
whatever the layout (dense, CSR, CSC, COO, matrix or array, a DataFrame of
sparse columns). ``ConcreteAutoencoderSelector.partial_fit`` is tested here
too: it is what fits a selector on data larger than memory (a Dask array,
see tests/test_distributed.py).
"""

import pickle
import tracemalloc

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone

from sk_memsel import (
    ConcreteAutoencoderSelector,
    DNCTransformer,
    MemoryAttentionTransformer,
    MemorySelectorTransformer,
    StochasticGatesSelector,
)
from sk_memsel._backbone._data import SparseRows


def _counts(n=240, d=30, seed=0):
    """Sparse-ish counts (about 75 % zeros); y from columns 2 and 7."""
    rng = np.random.RandomState(seed)
    X = rng.poisson(0.3, size=(n, d)).astype(np.float64)
    X[:, 2] += rng.poisson(0.6, size=n)
    y = (X[:, 2] + X[:, 7] > 1).astype(int)
    return np.log1p(X), y


X_DENSE, Y = _counts()

SELECTORS = {
    "gates": StochasticGatesSelector(
        k=3, hidden_layer_sizes=(8,), max_epochs=15, batch_size=64, random_state=0
    ),
    "concrete": ConcreteAutoencoderSelector(
        k=3,
        hidden_layer_sizes=(8,),
        max_epochs=8,
        batch_size=64,
        convergence_threshold=0.0,
        random_state=0,
    ),
    "concrete-classification": ConcreteAutoencoderSelector(
        k=3,
        objective="classification",
        hidden_layer_sizes=(8,),
        max_epochs=8,
        batch_size=64,
        convergence_threshold=0.0,
        random_state=0,
    ),
}


def _frame_of_sparse_columns(X):
    columns = {
        f"gene{j}": pd.arrays.SparseArray(X[:, j], fill_value=0.0)
        for j in range(X.shape[1])
    }
    return pd.DataFrame(columns)


LAYOUTS = {
    "csr_matrix": sp.csr_matrix,
    "csr_array": sp.csr_array,
    "csc_matrix": sp.csc_matrix,
    "coo_array": sp.coo_array,
    "csr float32": lambda X: sp.csr_array(X.astype(np.float32)),
    "csr int64 indices": lambda X: _with_int64_indices(sp.csr_array(X)),
}


def _with_int64_indices(X):
    X.indices = X.indices.astype(np.int64)
    X.indptr = X.indptr.astype(np.int64)
    return X


@pytest.fixture(scope="module")
def dense_fits():
    return {name: clone(est).fit(X_DENSE, Y) for name, est in SELECTORS.items()}


def _same_fit(a, b):
    np.testing.assert_array_equal(a.get_support(), b.get_support())
    np.testing.assert_array_equal(a.feature_importances_, b.feature_importances_)
    assert len(a.history_) == len(b.history_)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", SELECTORS)
def test_sparse_x_gives_the_selection_of_the_dense_array(dense_fits, name, layout):
    X = LAYOUTS[layout](X_DENSE)
    before = X.copy()
    est = clone(SELECTORS[name]).fit(X, Y)
    _same_fit(est, dense_fits[name])
    # the caller's matrix is untouched
    assert (X != before).nnz == 0
    assert X.format == before.format
    # transform keeps it sparse, as scikit-learn's selectors do
    out = est.transform(X)
    assert sp.issparse(out)
    assert out.dtype == X.dtype
    np.testing.assert_array_equal(
        out.toarray(), X.toarray()[:, dense_fits[name].get_support()]
    )


@pytest.mark.parametrize("name", SELECTORS)
def test_a_frame_of_sparse_columns_is_read_sparse_with_its_names(dense_fits, name):
    frame = _frame_of_sparse_columns(X_DENSE)
    est = clone(SELECTORS[name]).fit(frame, Y)
    _same_fit(est, dense_fits[name])
    assert list(est.feature_names_in_) == list(frame.columns)
    out = est.transform(frame)
    assert sp.issparse(out)
    np.testing.assert_array_equal(out.toarray(), dense_fits[name].transform(X_DENSE))
    names = est.get_feature_names_out()
    assert list(names) == [f"gene{j}" for j in est.get_support(indices=True)]


def test_the_network_reads_sparse_x_as_the_dense_array(dense_fits):
    X = sp.csr_array(X_DENSE)
    gates = clone(SELECTORS["gates"]).fit(X, Y)
    np.testing.assert_array_equal(
        gates.predict_proba(X), dense_fits["gates"].predict_proba(X_DENSE)
    )
    np.testing.assert_array_equal(gates.predict(X), dense_fits["gates"].predict(X))
    concrete = clone(SELECTORS["concrete"]).fit(X)
    np.testing.assert_array_equal(
        concrete.reconstruct(X), dense_fits["concrete"].reconstruct(X_DENSE)
    )
    assert concrete.score(X) == dense_fits["concrete"].score(X_DENSE)


@pytest.mark.parametrize("name", ["gates", "concrete"])
def test_a_selector_fitted_on_sparse_x_pickles(name):
    X = sp.csr_matrix(X_DENSE)
    est = clone(SELECTORS[name]).fit(X, Y)
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.get_support(), est.get_support())
    np.testing.assert_array_equal(
        loaded.transform(X).toarray(), est.transform(X).toarray()
    )


def test_the_redundancy_ranking_and_validation_split_read_sparse_x():
    # redundancy="avoid" samples rows for its correlations, and
    # validation_fraction holds rows out: both index the sparse rows
    params = dict(validation_fraction=0.2, redundancy="avoid")
    est = clone(SELECTORS["gates"]).set_params(**params)
    dense = clone(est).fit(X_DENSE, Y)
    sparse = clone(est).fit(sp.csc_array(X_DENSE), Y)
    _same_fit(sparse, dense)


def test_the_whole_matrix_is_never_densified():
    # 3,000 x 2,000 at 1 % non-zero: 24 MB dense as float32, 0.5 MB as CSR.
    # NumPy reports its allocations to tracemalloc: the largest held at once
    # while fitting must stay far below the dense matrix (a batch of 256 rows
    # is 2 MB)
    X = sp.random(3000, 2000, density=0.01, format="csr", random_state=0)
    X.data = np.log1p(100 * X.data).astype(np.float32)
    y = np.asarray(X[:, 0].toarray().ravel() > 0, dtype=int)
    dense_bytes = X.shape[0] * X.shape[1] * 4
    # (redundancy="avoid" also keeps a dense sample of at most 2,000 rows
    # for its correlations, a fixed amount whatever the rows: "keep" here)
    for est in (
        StochasticGatesSelector(
            k=5, hidden_layer_sizes=(4,), max_epochs=1, redundancy="keep"
        ),
        ConcreteAutoencoderSelector(
            k=5, hidden_layer_sizes=(), max_epochs=1, convergence_threshold=0.0
        ),
    ):
        # a first fit imports what training imports lazily (the optimizer
        # pulls in torch._dynamo): module objects, not data
        clone(est).fit(X_DENSE, Y)
        tracemalloc.start()
        try:
            est.set_params(random_state=0).fit(X, y)
            est.transform(X)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < dense_bytes / 4, (type(est).__name__, peak)


def test_a_float32_csr_matrix_is_read_without_a_copy():
    X = sp.csr_array(X_DENSE.astype(np.float32))
    est = clone(SELECTORS["gates"])
    rows = est._validate_X(X, reset=True)
    assert isinstance(rows, SparseRows)
    assert rows.matrix.data is X.data or np.shares_memory(rows.matrix.data, X.data)
    np.testing.assert_array_equal(rows[5:9], X_DENSE[5:9].astype(np.float32))


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.inf, "infinity"),
        (np.nan, "NaN"),
    ],
)
def test_sparse_x_with_values_that_are_not_finite_is_refused(bad, match):
    X = sp.csr_array(X_DENSE)
    X.data[3] = bad
    est = clone(SELECTORS["gates"])
    with pytest.raises(ValueError, match=match):
        est.fit(X, Y)
    assert not hasattr(est, "net_")


def test_sparse_x_with_values_too_large_to_train_on_is_refused():
    X = sp.csr_array(X_DENSE)
    X.data[3] = 1e30
    with pytest.raises(ValueError, match="as large as 1e.30"):
        clone(SELECTORS["concrete"]).fit(X)


def test_a_failed_fit_on_sparse_x_changes_nothing(dense_fits):
    est = pickle.loads(pickle.dumps(dense_fits["gates"]))
    before = est.get_support()
    X = sp.csr_array(X_DENSE[:, :-1])  # one column fewer than fitted
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X, Y)
    np.testing.assert_array_equal(est.get_support(), before)
    assert est.n_features_in_ == X_DENSE.shape[1]


TRANSFORMERS = [
    MemoryAttentionTransformer(units=4, memory_size=3, num_heads=2, max_epochs=1),
    DNCTransformer(hidden_size=4, memory_size=4, word_size=2, max_steps=3),
    MemorySelectorTransformer(out_features=2, memory_size=3, embedding_size=2),
]


@pytest.mark.parametrize("est", TRANSFORMERS, ids=lambda e: type(e).__name__)
def test_the_transformers_refuse_sparse_x_saying_what_to_do(est):
    with pytest.raises(TypeError, match=r"sparse.*centres.*toarray\(\).*Pipeline"):
        clone(est).fit(sp.csr_array(X_DENSE))
    with pytest.raises(TypeError, match="sparse"):
        clone(est).fit(_frame_of_sparse_columns(X_DENSE))
    fitted = clone(est).set_params(max_epochs=1).fit(X_DENSE)
    with pytest.raises(TypeError, match="toarray"):
        fitted.transform(sp.csr_matrix(X_DENSE))
    assert not fitted.__sklearn_tags__().input_tags.sparse


def test_the_selectors_declare_sparse_input():
    for est in SELECTORS.values():
        assert est.__sklearn_tags__().input_tags.sparse


# -------------------------------------------------- partial_fit, sparse or not
CHUNKS = [slice(0, 120), slice(120, 240)]


@pytest.mark.parametrize("name", ["gates", "concrete", "concrete-classification"])
def test_partial_fit_on_sparse_chunks_equals_dense_chunks(name):
    est = SELECTORS[name]
    classes = None if name == "concrete" else [0, 1]
    dense, sparse = clone(est), clone(est)
    for rows in CHUNKS:
        dense.partial_fit(X_DENSE[rows], Y[rows], classes=classes)
        sparse.partial_fit(sp.csr_array(X_DENSE[rows]), Y[rows], classes=classes)
    _same_fit(sparse, dense)


def test_the_first_concrete_partial_fit_is_a_fit():
    est = SELECTORS["concrete"]
    fitted = clone(est).fit(X_DENSE)
    first = clone(est).partial_fit(X_DENSE)
    _same_fit(first, fitted)
    np.testing.assert_array_equal(
        first.selection_probabilities_, fitted.selection_probabilities_
    )


def test_concrete_partial_fit_trains_the_same_network_further():
    est = clone(SELECTORS["concrete"]).set_params(max_epochs=4)
    est.partial_fit(X_DENSE[CHUNKS[0]])
    net, logits = est.net_, est.net_.module_.select.logits.detach().clone()
    est.partial_fit(X_DENSE[CHUNKS[1]])
    assert est.net_ is net
    assert len(est.history_) == 8
    assert not np.array_equal(est.net_.module_.select.logits.detach(), logits)
    # the later epochs train at the temperature the schedule ended at
    temperatures = est.history_[:, "temperature"]
    assert temperatures[4:] == [est.min_temperature] * 4
    # and the selection is read again, fixed for transform
    assert est.transform(X_DENSE).shape == (240, 3)
    np.testing.assert_array_equal(
        est.net_.module_.select.selection.numpy(), est.selected_features_
    )


def test_concrete_partial_fit_is_reproducible_across_pickling():
    est = clone(SELECTORS["concrete"])
    straight = clone(est)
    for rows in CHUNKS:
        straight.partial_fit(X_DENSE[rows])
    resumed = pickle.loads(pickle.dumps(clone(est).partial_fit(X_DENSE[CHUNKS[0]])))
    resumed.partial_fit(X_DENSE[CHUNKS[1]])
    _same_fit(resumed, straight)


def test_concrete_partial_fit_checks_each_chunk():
    est = clone(SELECTORS["concrete-classification"])
    est.partial_fit(X_DENSE[:100], Y[:100], classes=[0, 1])
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X_DENSE[:50, :5], Y[:50])
    with pytest.raises(ValueError):
        est.partial_fit(X_DENSE[:50], np.full(50, 7))  # a label not in classes
    with pytest.raises(ValueError, match="column names"):
        est.partial_fit(_frame_of_sparse_columns(X_DENSE), Y)
    balanced = clone(est).set_params(class_weight="balanced")
    with pytest.raises(ValueError, match="balanced.*partial_fit"):
        balanced.partial_fit(X_DENSE, Y, classes=[0, 1])
    assert not hasattr(balanced, "net_")
    assert est.n_epochs_ == 8  # the refused calls trained nothing


# -------------------------------------------------------------- on a GPU
def test_a_sparse_batch_becomes_the_dense_rows_as_a_torch_tensor():
    # what a GPU receives: the rows as a sparse tensor, densified there
    from sk_memsel._backbone._data import _sparse_tensor

    X = sp.csr_array(X_DENSE.astype(np.float32))
    rows = np.array([0, 3, 4, 200])
    for block in (X[rows], sp.csr_matrix(X)[rows], _with_int64_indices(X[rows])):
        dense = _sparse_tensor(block).to_dense()
        assert dense.dtype == torch.float32
        np.testing.assert_array_equal(dense.numpy(), X_DENSE[rows].astype(np.float32))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_sparse_x_on_a_gpu_selects_as_dense_x_on_the_gpu():
    for name in ("gates", "concrete"):
        est = clone(SELECTORS[name]).set_params(device="cuda")
        dense = clone(est).fit(X_DENSE, Y)
        sparse = clone(est).fit(sp.csr_array(X_DENSE), Y)
        np.testing.assert_array_equal(sparse.get_support(), dense.get_support())
        out = sparse.transform(sp.csr_array(X_DENSE))
        assert sp.issparse(out)


def test_sample_weight_with_sparse_x_weighs_as_with_dense_x():
    weights = np.where(np.arange(len(Y)) % 3 == 0, 2.0, 1.0)
    est = clone(SELECTORS["gates"])
    dense = clone(est).fit(X_DENSE, Y, sample_weight=weights)
    sparse = clone(est).fit(sp.csr_array(X_DENSE), Y, sample_weight=weights)
    _same_fit(sparse, dense)


def test_concrete_partial_fit_on_sparse_rows_after_a_skops_round_trip():
    skops_io = pytest.importorskip("skops.io")

    from .test_common import trusted_types

    kept = clone(SELECTORS["concrete"]).fit(X_DENSE)
    fitted = clone(SELECTORS["concrete"]).fit(X_DENSE)
    loaded = skops_io.loads(skops_io.dumps(fitted), trusted=trusted_types())
    # the loaded selector trains on, on sparse rows, as the one never saved
    kept.partial_fit(sp.csr_array(X_DENSE))
    loaded.partial_fit(sp.csr_array(X_DENSE))
    np.testing.assert_array_equal(loaded.transform(X_DENSE), kept.transform(X_DENSE))
    assert loaded.n_epochs_ == kept.n_epochs_ > fitted.n_epochs_
