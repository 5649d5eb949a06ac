"""The selectors on a Dask cluster: GridSearchCV through joblib's Dask
backend, and one fit over the blocks of a Dask array (dask_ml's Incremental)."""

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from sk_memsel import ConcreteAutoencoderSelector, StochasticGatesSelector


def _torch_threads():
    import torch

    return torch.get_num_threads()


@pytest.mark.slow
def test_grid_search_on_a_dask_cluster_matches_the_local_search():
    distributed = pytest.importorskip("dask.distributed")
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 8))
    y = (X[:, 0] + X[:, 3] > 0).astype(int)
    pipe = Pipeline(
        [
            (
                "select",
                ConcreteAutoencoderSelector(
                    max_epochs=4,
                    hidden_layer_sizes=(8,),
                    convergence_threshold=0.0,
                    random_state=0,
                ),
            ),
            ("clf", LogisticRegression()),
        ]
    )
    grid = {"select__k": [2, 4], "select__temperature": [1.0, 10.0]}
    # the workers run one torch thread each; the local search does too, so
    # both sum floating-point numbers in the same order
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = GridSearchCV(pipe, grid, cv=2).fit(X, y)
    finally:
        torch.set_num_threads(threads)

    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        # the nanny starts workers with OMP_NUM_THREADS=1: one torch thread
        # per single-threaded worker, so two workers use two cores, not four
        assert set(client.run(_torch_threads).values()) == {1}
        with joblib.parallel_backend("dask"):
            remote = GridSearchCV(pipe, grid, cv=2, n_jobs=-1).fit(X, y)

    np.testing.assert_array_equal(
        local.cv_results_["mean_test_score"], remote.cv_results_["mean_test_score"]
    )
    assert local.best_params_ == remote.best_params_
    np.testing.assert_array_equal(
        local.best_estimator_.named_steps["select"].get_support(),
        remote.best_estimator_.named_steps["select"].get_support(),
    )


def _planted_counts(n=600, d=30, seed=0):
    """log1p counts, most of them zero, of four cell types: two markers, each
    raised in two of the types, tell all four apart (both are needed)."""
    rng = np.random.RandomState(seed)
    X = rng.poisson(0.2, size=(n, d)).astype(np.float32)
    marks = rng.randint(2, size=(n, 2))
    X[:, :2] += rng.poisson(3.0 * marks)
    return np.log1p(X), 2 * marks[:, 0] + marks[:, 1]


@pytest.fixture(scope="module")
def one_worker_cluster():
    """A LocalCluster of one single-threaded worker process (started once)."""
    distributed = pytest.importorskip("dask.distributed")
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.mark.slow
@pytest.mark.parametrize("chunks", ["dense", "sparse"])
def test_a_dask_array_fits_block_by_block_on_a_cluster(chunks, one_worker_cluster):
    # dask_ml's Incremental calls partial_fit once per block of rows, on the
    # cluster's workers (the estimator pickled between blocks): the fit must
    # equal partial_fit over the same blocks here, and find the planted
    # columns as a fit of all the rows in memory does
    da = pytest.importorskip("dask.array")
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X, y = _planted_counts()
    dX = da.from_array(X, chunks=(200, X.shape[1]))
    if chunks == "sparse":
        dX = dX.map_blocks(sp.csr_matrix, dtype=X.dtype)
    dy = da.from_array(y, chunks=200)
    blocks = [slice(0, 200), slice(200, 400), slice(400, 600)]
    selectors = {
        "gates": (
            StochasticGatesSelector(
                k=2, hidden_layer_sizes=(8,), max_epochs=25, random_state=0
            ),
            {"classes": [0, 1, 2, 3]},
        ),
        "concrete": (
            ConcreteAutoencoderSelector(
                k=2,
                objective="classification",
                hidden_layer_sizes=(8,),
                batch_size=50,
                convergence_threshold=0.0,
                random_state=0,
            ),
            {"classes": [0, 1, 2, 3]},
        ),
    }
    # one torch thread here, as on the single-threaded workers: the same sums
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local, in_memory = {}, {}
        for name, (est, kwargs) in selectors.items():
            local[name] = clone(est)
            for rows in blocks:
                local[name].partial_fit(X[rows], y[rows], **kwargs)
            in_memory[name] = clone(est).fit(X, y)
    finally:
        torch.set_num_threads(threads)
    with one_worker_cluster.as_current():
        for name, (est, kwargs) in selectors.items():
            # the blocks in order (Incremental shuffles them by default)
            incremental = wrappers.Incremental(clone(est), shuffle_blocks=False)
            fitted = incremental.fit(dX, dy, **kwargs)
            remote = fitted.estimator_
            np.testing.assert_array_equal(
                remote.get_support(), local[name].get_support(), err_msg=name
            )
            np.testing.assert_array_equal(
                remote.feature_importances_, local[name].feature_importances_
            )
            planted = [0, 1]
            assert list(remote.get_support(indices=True)) == planted, name
            assert list(in_memory[name].get_support(indices=True)) == planted, name
            # transform maps over the blocks, sparse blocks staying sparse
            out = fitted.transform(dX).compute()
            assert sp.issparse(out) == (chunks == "sparse")
            assert out.shape == (600, 2)
