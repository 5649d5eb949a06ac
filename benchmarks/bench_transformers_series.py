"""Benchmark the neural transformers on time series against MiniRocket.

Is a transformer worth a Pipeline step for time series classification?
Every classification set that ships inside aeon (``aeon/datasets/data``:
the directories holding a ``<name>_TRAIN.ts`` and a ``<name>_TEST.ts``
whose header says ``@classLabel true``; nothing is downloaded), with its
own train / test split. Series of unequal length are padded with zeros at
their end to the longest series of the set, train and test, by aeon's
``Padder``. Each of ``DNCTransformer`` and ``MemoryAttentionTransformer``
is followed by ``StandardScaler() > LogisticRegression(max_iter=2000)``
and fitted on the 3-D series ``(n_samples, n_channels, n_timepoints)``;
the reference is aeon's ``MiniRocketClassifier(random_state=seed)``
(MiniRocket's 10,000 features, ``StandardScaler(with_mean=False)``,
``RidgeClassifierCV``), with ``n_jobs=1``. MiniRocket is fitted once on
the set before it is timed, so that numba's compilation is not counted.
The rows, their timing and the JSON record are those of
``_transformers_common.py``; the digits against PCA are
``bench_transformers_digits.py``'s, in a JSON file of their own.

``--transformers`` runs some of the transformers only, ``--params`` changes
parameters from their defaults (for the comparisons of the benchmark page),
``--sets`` some of the sets only::

    python benchmarks/bench_transformers_series.py --sets OSULeaf GunPoint \\
        --transformers DNCTransformer --params '{"max_steps": 16}' --threads 1

``--json`` saves every row (with the machine, the load and the command) and
``--plot`` draws the figure of the benchmark page from such a file (nothing
is fitted then). The page's figures come from, at the repository root::

    python benchmarks/bench_transformers_series.py --random-states 0 1 2 3 4 \\
        --threads 1 --json docs/benchmarks/data/transformers_series.json
    python benchmarks/bench_transformers_series.py \\
        --plot docs/benchmarks/data/transformers_series.json \\
        docs/benchmarks/images/transformers_series.png
"""

import functools
import json
import os
from pathlib import Path

import _transformers_common as common
import numpy as np

TRANSFORMERS = ["DNCTransformer", "MemoryAttentionTransformer"]


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
        rocket, rocket_times, _ = common.timed_fits(
            functools.partial(MiniRocketClassifier, random_state=seed, n_jobs=1),
            X_train,
            y_train,
            baseline_repeats,
        )
        rocket_accuracy = float(rocket.score(X_test, y_test))
        for transformer in names:
            pipe, times, caught = common.timed_fits(
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
                **common.fit_fields(
                    times, "MiniRocket", rocket_accuracy, rocket_times, pipe[0], caught
                ),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    return common.with_load(rows, load_before)


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
    options = common.parser(__doc__, TRANSFORMERS)
    options.add_argument("--sets", nargs="+", help="some of the series sets only")
    options.add_argument(
        "--plot", nargs=2, metavar=("JSON", "PNG"), help="draw the figure only"
    )
    args = options.parse_args()
    if args.plot:
        plot(*args.plot)
        return None
    load_start = common.start(args)
    rows = []
    for name in args.sets or classification_sets():
        rows += run_series(
            name,
            args.random_states,
            args.transformers,
            args.params,
            args.repeats,
            args.baseline_repeats,
        )
    return common.finish(rows, args, load_start)


if __name__ == "__main__":
    main()
