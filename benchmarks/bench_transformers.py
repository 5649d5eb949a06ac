"""Benchmark the neural transformers against PCA of the same width.

What it measures, all in the same run, with every transformer at its
default parameters (only ``random_state`` set):

- scikit-learn's 8x8 digits (``load_digits``), stratified 75/25 split
  (``train_test_split(..., stratify=y, test_size=0.25, random_state=0)``):
  test accuracy and fit time of ``StandardScaler > transformer >
  LogisticRegression(max_iter=2000)`` for each of the three transformers,
  fitted with ``y``, against the same pipeline with
  ``PCA(n_components=<the transformer's output width>)``;
- aeon's BasicMotions (``load_basic_motions``, its own train/test split,
  X of shape (n, 6, 100)): test accuracy and fit time of ``transformer >
  LogisticRegression(max_iter=2000)`` for ``DNCTransformer`` and
  ``MemoryAttentionTransformer`` on the 3-D sequences, against the
  baseline ``flatten > StandardScaler > PCA(same width, at most the 40
  training series) > LogisticRegression(max_iter=2000)``.

Fit times are wall-clock seconds of the whole pipeline's ``fit`` (for the
PCA pipelines, the median of 5 fits, as one fit takes well under a second);
the ratio is against the PCA pipeline of the same row, measured in the same
run. ``--threads`` limits torch and numpy / scikit-learn (BLAS, OpenMP)
alike.
``--unsupervised`` adds rows where the transformer is fitted without ``y``
(reconstruction), the LogisticRegression still with it. ``--transformers``
runs some of the transformers only, and ``--params`` changes parameters from
their defaults (for the comparisons of the benchmark page), e.g.::

    python benchmarks/bench_transformers.py --data basic_motions \
        --transformers DNCTransformer --params '{"hidden_size": 24}' \
        --random-states 0 1 2 3 4 5 6 7 8 9 --threads 1

Run from the repository root::

    python benchmarks/bench_transformers.py --random-states 0 1
"""

import argparse
import json
import os
import platform
import time

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from threadpoolctl import threadpool_limits

from sk_memsel import (
    DNCTransformer,
    MemoryAttentionTransformer,
    MemorySelectorTransformer,
)

TABULAR = [MemorySelectorTransformer, DNCTransformer, MemoryAttentionTransformer]
SEQUENCES = [DNCTransformer, MemoryAttentionTransformer]


class _Unsupervised(TransformerMixin, BaseEstimator):
    """Fit the wrapped transformer without y (for the --unsupervised rows)."""

    def __init__(self, transformer):
        self.transformer = transformer

    def fit(self, X, y=None):
        self.transformer_ = self.transformer.fit(X)
        return self

    def transform(self, X):
        return self.transformer_.transform(X)


def timed_fit(pipe, X, y, repeats=1):
    """Median wall-clock seconds of ``repeats`` fits (the last fit is kept)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        pipe.fit(X, y)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def width(pipe, X):
    """Number of features the fitted pipeline gives its final step."""
    return pipe[:-1].transform(X[:1]).shape[1]


def flatten(X):
    return X.reshape(len(X), -1)


def compare(data, splits, classes, seed, unsupervised, params, pipeline, baseline):
    """Rows of one data set: each transformer's pipeline against its baseline.

    ``pipeline(step)`` puts the transformer step in its pipeline;
    ``baseline(k)`` returns the baseline pipeline for a transformer of output
    width ``k`` and the baseline's own width.
    """
    X_train, X_test, y_train, y_test = splits
    variants = [("supervised", False)] + (
        [("unsupervised", True)] if unsupervised else []
    )
    rows = []
    for cls in classes:
        for mode, unsup in variants:
            transformer = cls(random_state=seed, **params)
            pipe = pipeline(_Unsupervised(transformer) if unsup else transformer)
            t_fit = timed_fit(pipe, X_train, y_train)
            k = width(pipe, X_test)
            base, k_base = baseline(k)
            t_base = timed_fit(base, X_train, y_train, repeats=5)
            rows.append(
                {
                    "data": data,
                    "transformer": cls.__name__,
                    "mode": mode,
                    "seed": seed,
                    "width": k,
                    "baseline_width": k_base,
                    "accuracy": float(pipe.score(X_test, y_test)),
                    "baseline_accuracy": float(base.score(X_test, y_test)),
                    "fit_s": t_fit,
                    "baseline_fit_s": t_base,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def run_digits(seed, unsupervised, names, params):
    X, y = load_digits(return_X_y=True)
    splits = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)

    def pipeline(step):
        return make_pipeline(StandardScaler(), step, LogisticRegression(max_iter=2000))

    def baseline(k):
        pca = PCA(n_components=k, random_state=seed)
        return make_pipeline(
            StandardScaler(), pca, LogisticRegression(max_iter=2000)
        ), k

    classes = [c for c in TABULAR if c.__name__ in names]
    return compare(
        "digits", splits, classes, seed, unsupervised, params, pipeline, baseline
    )


def run_basic_motions(seed, unsupervised, names, params):
    from aeon.datasets import load_basic_motions

    X_train, y_train = load_basic_motions(split="train")
    X_test, y_test = load_basic_motions(split="test")

    def pipeline(step):
        return make_pipeline(step, LogisticRegression(max_iter=2000))

    def baseline(k):
        # PCA cannot give more components than there are training series
        k_base = min(k, len(X_train))
        return make_pipeline(
            FunctionTransformer(flatten),
            StandardScaler(),
            PCA(n_components=k_base, random_state=seed),
            LogisticRegression(max_iter=2000),
        ), k_base

    classes = [c for c in SEQUENCES if c.__name__ in names]
    splits = (X_train, X_test, y_train, y_test)
    return compare(
        "BasicMotions", splits, classes, seed, unsupervised, params, pipeline, baseline
    )


def summary(rows):
    print()
    header = (
        f"{'data':<13}{'transformer':<28}{'mode':<13}{'seed':>4}{'width':>6}"
        f"{'PCA':>5}{'accuracy':>10}{'PCA acc.':>10}{'fit s':>9}{'PCA fit s':>11}"
        f"{'ratio':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['data']:<13}{r['transformer']:<28}{r['mode']:<13}{r['seed']:>4}"
            f"{r['width']:>6}{r['baseline_width']:>5}"
            f"{r['accuracy']:>10.4f}{r['baseline_accuracy']:>10.4f}"
            f"{r['fit_s']:>9.1f}{r['baseline_fit_s']:>11.2f}"
            f"{r['fit_s'] / r['baseline_fit_s']:>8.0f}"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random-states", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--data",
        choices=["digits", "basic_motions", "all"],
        default="all",
    )
    parser.add_argument("--unsupervised", action="store_true")
    parser.add_argument(
        "--transformers",
        nargs="+",
        choices=[cls.__name__ for cls in TABULAR],
        default=[cls.__name__ for cls in TABULAR],
        help="run these transformers only",
    )
    parser.add_argument(
        "--params",
        type=json.loads,
        default={},
        help="JSON of parameters changed from the defaults",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="threads for torch and for numpy / scikit-learn",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # the same number of threads for numpy / scikit-learn (BLAS, OpenMP), so
    # that the PCA pipelines and the LogisticRegression of every pipeline
    # run under the same limit as the transformers
    threadpool_limits(args.threads)
    print(
        f"# python {platform.python_version()}, torch {torch.__version__}, "
        f"{args.threads} threads, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    names, params = set(args.transformers), args.params
    if params:
        print(f"# parameters changed from the defaults: {json.dumps(params)}")
    rows = []
    for seed in args.random_states:
        if args.data in ("digits", "all"):
            rows += run_digits(seed, args.unsupervised, names, params)
        if args.data in ("basic_motions", "all"):
            rows += run_basic_motions(seed, args.unsupervised, names, params)
    summary(rows)
    print(f"# load average {os.getloadavg()[0]:.1f} at the end")
    return rows


if __name__ == "__main__":
    main()
