"""Benchmark the neural transformers: against MiniRocket on series, PCA on tables.

Two questions, each answered in the same run for every method compared, with
every transformer at its default parameters (only ``random_state`` set):

1. **Series** (``--data series``, the default): is a transformer worth a
   Pipeline step for time series classification? Every classification set
   that ships inside aeon (``aeon/datasets/data``: the directories holding a
   ``<name>_TRAIN.ts`` and a ``<name>_TEST.ts`` whose header says
   ``@classLabel true``; nothing is downloaded), with its own train / test
   split. Series of unequal length are padded with zeros at their end to
   the longest series of the set, train and test, by aeon's ``Padder``.
   Each of ``DNCTransformer`` and ``MemoryAttentionTransformer`` is
   followed by ``StandardScaler() > LogisticRegression(max_iter=2000)`` and
   fitted on the 3-D series ``(n_samples, n_channels, n_timepoints)``;
   the reference is aeon's ``MiniRocketClassifier(random_state=seed)``
   (MiniRocket's 10,000 features, ``StandardScaler(with_mean=False)``,
   ``RidgeClassifierCV``). MiniRocket is fitted once on the set before it
   is timed, so that numba's compilation is not counted.
2. **Tables** (``--data digits``): scikit-learn's 8x8 digits, stratified
   75/25 split (``random_state=0``); ``StandardScaler > transformer >
   LogisticRegression(max_iter=2000)`` for each of the three transformers,
   ``MemorySelectorTransformer`` included, against the same pipeline with
   ``PCA(n_components=<the transformer's output width>)``.

Test accuracy, and the wall-clock seconds of the whole pipeline's ``fit``:
the best of ``--repeats`` fits for the transformers and of
``--baseline-repeats`` for the reference (which takes well under a second),
the best being the fit least disturbed by other work on the machine; the
ratio of the two bests is the ``fit ratio``. ``--threads`` limits torch and
numpy / scikit-learn / numba (BLAS, OpenMP) alike; MiniRocket's ``n_jobs``
is 1. The 1-minute load average is printed (and saved) before and after
every data set.

``--transformers`` runs some of the transformers only, ``--params`` changes
parameters from their defaults (for the comparisons of the benchmark page),
``--sets`` some of the series sets only::

    python benchmarks/bench_transformers.py --sets OSULeaf GunPoint \\
        --transformers DNCTransformer --params '{"max_steps": 16}' --threads 1

``--json`` saves every row (with the machine, the load and the command) and
``--plot`` draws the figure of the benchmark page from such a file (nothing
is fitted then). The page's figures come from, at the repository root::

    python benchmarks/bench_transformers.py --random-states 0 1 2 3 4 \\
        --threads 1 --json docs/benchmarks/data/transformers_series.json
    python benchmarks/bench_transformers.py \\
        --plot docs/benchmarks/data/transformers_series.json \\
        docs/benchmarks/images/transformers_series.png
"""

import argparse
import functools
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

SEQUENCE_TRANSFORMERS = ["DNCTransformer", "MemoryAttentionTransformer"]
TABLE_TRANSFORMERS = [
    "MemorySelectorTransformer",
    "DNCTransformer",
    "MemoryAttentionTransformer",
]


# ------------------------------------------------------------------ data
def aeon_data_dir():
    import aeon

    return Path(aeon.__file__).parent / "datasets" / "data"


def classification_sets():
    """Names of the classification sets shipped inside aeon, sorted."""
    names = []
    for folder in sorted(aeon_data_dir().iterdir()):
        train = folder / f"{folder.name}_TRAIN.ts"
        test = folder / f"{folder.name}_TEST.ts"
        if not (train.is_file() and test.is_file()):
            continue
        with open(train, encoding="utf-8") as header:
            for line in header:
                if line.lower().startswith("@classlabel"):
                    if line.split()[1].lower() == "true":
                        names.append(folder.name)
                    break
                if line.lower().startswith("@data"):
                    break
    return names


def load_series(name):
    """Train and test series of an aeon set, padded to one length if needed."""
    from aeon.datasets import load_from_ts_file
    from aeon.transformations.collection.unequal_length import Padder

    folder = aeon_data_dir() / name
    X_train, y_train = load_from_ts_file(str(folder / f"{name}_TRAIN.ts"))
    X_test, y_test = load_from_ts_file(str(folder / f"{name}_TEST.ts"))
    padded = False
    if not (isinstance(X_train, np.ndarray) and isinstance(X_test, np.ndarray)):
        longest = max(x.shape[-1] for x in [*X_train, *X_test])
        X_train = Padder(padded_length=longest).fit_transform(X_train)
        X_test = Padder(padded_length=longest).fit_transform(X_test)
        padded = True
    if X_train.shape[-1] != X_test.shape[-1]:  # equal within, not across
        longest = max(X_train.shape[-1], X_test.shape[-1])
        X_train = Padder(padded_length=longest).fit_transform(X_train)
        X_test = Padder(padded_length=longest).fit_transform(X_test)
        padded = True
    X_train = np.asarray(X_train, dtype=np.float64)
    X_test = np.asarray(X_test, dtype=np.float64)
    return X_train, y_train, X_test, y_test, padded


# ------------------------------------------------------------------ fitting
def timed_fits(make, X, y, repeats):
    """``(fitted, seconds)``: the best wall-clock time of ``repeats`` fits of
    fresh estimators (the last one is kept), and the warnings raised."""
    times, caught = [], []
    for _ in range(repeats):
        estimator = make()
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            start = time.perf_counter()
            estimator.fit(X, y)
            times.append(time.perf_counter() - start)
        caught += [f"{w.category.__name__}: {w.message}" for w in record]
    return estimator, times, sorted(set(caught))


def fit_fields(times, baseline, baseline_accuracy, baseline_times, step, caught):
    """A row's fit times against its baseline's (the best is the least
    disturbed), the transformer ``step``'s epochs and the warnings."""
    return {
        "fit_s": min(times),
        "fit_times": times,
        "baseline": baseline,
        "baseline_accuracy": baseline_accuracy,
        "baseline_fit_s": min(baseline_times),
        "baseline_fit_times": baseline_times,
        "epochs": int(step.n_epochs_),
        "warnings": caught,
    }


def with_load(rows, load_before):
    """The rows, each with the 1-minute load average before and now."""
    for row in rows:
        row["load"] = [load_before, os.getloadavg()[0]]
    return rows


def transformer_pipeline(name, seed, params):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import sk_memsel

    transformer = getattr(sk_memsel, name)(random_state=seed, **params)
    return make_pipeline(
        transformer, StandardScaler(), LogisticRegression(max_iter=2000)
    )


def run_series(name, seeds, names, params, repeats, baseline_repeats):
    from aeon.classification.convolution_based import MiniRocketClassifier

    X_train, y_train, X_test, y_test, padded = load_series(name)
    n, channels, length = X_train.shape
    load_before = os.getloadavg()[0]
    # compile MiniRocket's numba functions for this set's shapes first, and
    # run each transformer once (one epoch), so that neither pays for the
    # first calls of the process
    MiniRocketClassifier(random_state=0, n_jobs=1).fit(X_train, y_train)
    for transformer in names:
        transformer_pipeline(transformer, 0, {**params, "max_epochs": 1}).fit(
            X_train, y_train
        )
    rows = []
    for seed in seeds:
        rocket, rocket_times, _ = timed_fits(
            functools.partial(MiniRocketClassifier, random_state=seed, n_jobs=1),
            X_train,
            y_train,
            baseline_repeats,
        )
        rocket_accuracy = float(rocket.score(X_test, y_test))
        for transformer in names:
            pipe, times, caught = timed_fits(
                functools.partial(transformer_pipeline, transformer, seed, params),
                X_train,
                y_train,
                repeats,
            )
            row = {
                "data": name,
                "train": n,
                "test": len(X_test),
                "channels": channels,
                "length": length,
                "classes": len(np.unique(y_train)),
                "padded": padded,
                "transformer": transformer,
                "seed": seed,
                "width": int(pipe[:-2].transform(X_test[:1]).shape[1]),
                "accuracy": float(pipe.score(X_test, y_test)),
                "train_accuracy": float(pipe.score(X_train, y_train)),
                **fit_fields(
                    times, "MiniRocket", rocket_accuracy, rocket_times, pipe[0], caught
                ),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    return with_load(rows, load_before)


def digits_pipeline(step, seed):
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
            pipe, times, caught = timed_fits(
                lambda cls=cls, seed=seed: digits_pipeline(
                    cls(random_state=seed, **params), seed
                ),
                X_train,
                y_train,
                repeats,
            )
            width = int(pipe[:-1].transform(X_test[:1]).shape[1])
            pca, pca_times, _ = timed_fits(
                lambda k=width, seed=seed: digits_pipeline(
                    PCA(n_components=k, random_state=seed), seed
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
                **fit_fields(times, "PCA", pca_accuracy, pca_times, pipe[1], caught),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    return with_load(rows, load_before)


# ------------------------------------------------------------------ reports
def summary(rows):
    """Per data set and transformer: mean accuracies over the seeds, the
    accuracy ratio, the median of the fit times and of their ratio."""
    print()
    header = (
        f"{'data':<23}{'transformer':<28}{'seeds':>5}{'acc.':>7}{'base':>7}"
        f"{'acc. ratio':>11}{'fit s':>8}{'base s':>8}{'fit ratio':>10}"
    )
    print(header)
    print("-" * len(header))
    keys = sorted({(r["data"], r["transformer"]) for r in rows})
    for data, transformer in keys:
        group = [
            r for r in rows if (r["data"], r["transformer"]) == (data, transformer)
        ]
        accuracy = np.mean([r["accuracy"] for r in group])
        base = np.mean([r["baseline_accuracy"] for r in group])
        fit = np.median([r["fit_s"] for r in group])
        base_fit = np.median([r["baseline_fit_s"] for r in group])
        ratio = np.median([r["fit_s"] / r["baseline_fit_s"] for r in group])
        print(
            f"{data:<23}{transformer:<28}{len(group):>5}{accuracy:>7.3f}"
            f"{base:>7.3f}{accuracy / base:>11.3f}{fit:>8.2f}{base_fit:>8.2f}"
            f"{ratio:>10.1f}"
        )


def plot(source, target):
    """Accuracy and fit-time ratio against MiniRocket, per set, from ``--json``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [r for r in json.loads(Path(source).read_text())["rows"]]
    rows = [r for r in rows if r["baseline"] == "MiniRocket"]
    sets = sorted(
        {r["data"] for r in rows}, key=lambda s: (rows_of(rows, s)[0]["length"], s)
    )
    names = sorted({r["transformer"] for r in rows})
    colours = {"DNCTransformer": "#d95f02", "MemoryAttentionTransformer": "#1b9e77"}
    figure = Figure(figsize=(11, 5.0), dpi=100)
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    x = np.arange(len(sets))
    width = 0.8 / (len(names) + 1)
    rocket = [np.mean([r["baseline_accuracy"] for r in rows_of(rows, s)]) for s in sets]
    left.bar(
        x - 0.4 + width / 2, rocket, width, color="#7570b3", label="MiniRocket + ridge"
    )
    for i, name in enumerate(names):
        mean, low, high = [], [], []
        for s in sets:
            values = [r["accuracy"] for r in rows_of(rows, s, name)]
            mean.append(np.mean(values))
            low.append(np.mean(values) - min(values))
            high.append(max(values) - np.mean(values))
        left.bar(
            x - 0.4 + (i + 1.5) * width,
            mean,
            width,
            yerr=[low, high],
            capsize=2,
            color=colours.get(name),
            label=name,
        )
        ratios = [
            np.median(
                [r["fit_s"] / r["baseline_fit_s"] for r in rows_of(rows, s, name)]
            )
            for s in sets
        ]
        right.plot(x, ratios, "o-", color=colours.get(name), label=name)
    left.plot(
        x,
        0.9 * np.array(rocket),
        "_",
        color="black",
        markersize=22,
        mew=1.5,
        label="0.9 x MiniRocket",
    )
    left.set_ylim(0.55, 1.01)
    left.set_ylabel("test accuracy (mean over seeds; bars: range)")
    right.axhline(10, color="black", lw=1, ls="--", label="10 x MiniRocket")
    right.set_yscale("log")
    right.set_ylabel("pipeline fit time / MiniRocket's (median)")
    labels = [
        f"{s}\n{rows_of(rows, s)[0]['channels']}x{rows_of(rows, s)[0]['length']}"
        for s in sets
    ]
    for axes in (left, right):
        axes.set_xticks(x)
        axes.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
        axes.legend(
            fontsize=8,
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
            ncol=2,
            frameon=False,
        )
    figure.tight_layout()
    figure.savefig(target)


def rows_of(rows, data, transformer=None):
    return [
        r
        for r in rows
        if r["data"] == data
        and (transformer is None or r["transformer"] == transformer)
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random-states", type=int, nargs="+", default=[0])
    parser.add_argument("--data", choices=["series", "digits", "all"], default="series")
    parser.add_argument("--sets", nargs="+", help="some of the series sets only")
    parser.add_argument(
        "--transformers",
        nargs="+",
        choices=TABLE_TRANSFORMERS,
        help="run these transformers only",
    )
    parser.add_argument(
        "--params",
        type=json.loads,
        default={},
        help="JSON of parameters changed from the defaults",
    )
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--baseline-repeats", type=int, default=5)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads for torch and for numpy / scikit-learn / numba",
    )
    parser.add_argument("--json", help="save the rows to this file")
    parser.add_argument(
        "--plot", nargs=2, metavar=("JSON", "PNG"), help="draw the figure only"
    )
    args = parser.parse_args()
    if args.plot:
        plot(*args.plot)
        return None
    # before numba and BLAS start their thread pools
    os.environ["NUMBA_NUM_THREADS"] = str(args.threads)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    load_start = os.getloadavg()
    print(
        f"# python {platform.python_version()}, torch {torch.__version__}, "
        f"{args.threads} threads, {os.cpu_count()} CPUs, "
        f"load average {load_start[0]:.2f} at start"
    )
    if args.params:
        print(f"# parameters changed from the defaults: {json.dumps(args.params)}")
    rows = []
    if args.data in ("series", "all"):
        names = args.transformers or SEQUENCE_TRANSFORMERS
        names = [n for n in names if n in SEQUENCE_TRANSFORMERS]
        for name in args.sets or classification_sets():
            rows += run_series(
                name,
                args.random_states,
                names,
                args.params,
                args.repeats,
                args.baseline_repeats,
            )
    if args.data in ("digits", "all"):
        names = args.transformers or TABLE_TRANSFORMERS
        rows += run_digits(
            args.random_states, names, args.params, args.repeats, args.baseline_repeats
        )
    summary(rows)
    load_end = os.getloadavg()
    print(f"# load average {load_end[0]:.2f} at the end")
    if args.json:
        import aeon
        import sklearn

        record = {
            "command": "python " + " ".join(sys.argv),
            "machine": {
                "python": platform.python_version(),
                "torch": torch.__version__,
                "aeon": aeon.__version__,
                "scikit-learn": sklearn.__version__,
                "cpu": platform.machine(),
                "cpu_count": os.cpu_count(),
                "threads": args.threads,
            },
            "load_start": list(load_start),
            "load_end": list(load_end),
            "rows": rows,
        }
        Path(args.json).write_text(json.dumps(record, indent=1) + "\n")
    return rows


if __name__ == "__main__":
    main()
