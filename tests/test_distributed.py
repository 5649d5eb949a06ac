"""GridSearchCV on a Dask cluster through joblib's Dask backend."""

import joblib
import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from sk_memsel import ConcreteAutoencoderSelector


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
