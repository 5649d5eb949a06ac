"""Benchmark the neural transformers on scikit-learn's digits against PCA.

Is a transformer worth a Pipeline step on a table? scikit-learn's 8x8
digits, stratified 75/25 split (``random_state=0``); ``StandardScaler >
transformer > LogisticRegression(max_iter=2000)`` for each of the three
transformers, against the same pipeline with ``PCA(n_components=<the
transformer's output width>)``. The rows, their timing and the JSON record
are those of ``_transformers_common.py``; the time series against
MiniRocket are ``bench_transformers_series.py``'s, in a JSON file of their
own.

``--transformers`` runs some of the transformers only, ``--params`` changes
parameters from their defaults, ``--json`` saves every row (with the
machine, the load and the command). The page's figures come from, at the
repository root::

    python benchmarks/bench_transformers_digits.py --random-states 0 1 2 3 4 \\
        --threads 1 --json docs/benchmarks/data/transformers_digits.json
"""

import json
import os

import _transformers_common as common

TRANSFORMERS = [
    "MemorySelectorTransformer",
    "DNCTransformer",
    "MemoryAttentionTransformer",
]


def digits_pipeline(step):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), step, LogisticRegression(max_iter=2000))


def run_digits(seeds, names, params, repeats, baseline_repeats):
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.model_selection import train_test_split

    import sk_memsel

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    load_before = os.getloadavg()[0]
    rows = []
    for seed in seeds:
        for transformer in names:
            cls = getattr(sk_memsel, transformer)
            pipe, times, caught = common.timed_fits(
                lambda cls=cls, seed=seed: digits_pipeline(
                    cls(random_state=seed, **params)
                ),
                X_train,
                y_train,
                repeats,
            )
            width = int(pipe[:-1].transform(X_test[:1]).shape[1])
            pca, pca_times, _ = common.timed_fits(
                lambda k=width, seed=seed: digits_pipeline(
                    PCA(n_components=k, random_state=seed)
                ),
                X_train,
                y_train,
                baseline_repeats,
            )
            pca_accuracy = float(pca.score(X_test, y_test))
            row = {
                "data": "digits",
                "transformer": transformer,
                "seed": seed,
                "width": width,
                "accuracy": float(pipe.score(X_test, y_test)),
                **common.fit_fields(
                    times, "PCA", pca_accuracy, pca_times, pipe[1], caught
                ),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    return common.with_load(rows, load_before)


def main():
    args = common.parser(__doc__, TRANSFORMERS).parse_args()
    load_start = common.start(args)
    rows = run_digits(
        args.random_states,
        args.transformers,
        args.params,
        args.repeats,
        args.baseline_repeats,
    )
    return common.finish(rows, args, load_start)


if __name__ == "__main__":
    main()
