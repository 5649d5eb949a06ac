"""What ``bench_transformers_series.py`` and ``bench_transformers_digits.py`` share.

A row compares a pipeline with a neural transformer (at its defaults, only
``random_state`` set) to a reference pipeline: test accuracies, and the
wall-clock seconds of the whole pipeline's ``fit``, the best of
``--repeats`` fits for the transformers and of ``--baseline-repeats`` for
the reference (the fit least disturbed by other work); their ratio is the
``fit ratio``. ``--threads`` limits torch and numpy / scikit-learn / numba
(BLAS, OpenMP) alike. Each row keeps the 1-minute load average before and
after its data set; ``--json`` saves the rows with the machine, the load
and the command, one file per run. The scripts are run as ``python
benchmarks/<script>.py``, which puts this folder on ``sys.path``.
"""

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np


def parser(doc, transformers):
    """The options of both scripts, ``--transformers`` among ``transformers``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--random-states", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--transformers",
        nargs="+",
        choices=transformers,
        default=transformers,
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
    return parser


def start(args):
    """Limit the threads, print the machine; the load averages at the start."""
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
    return load_start


def timed_fits(make, X, y, repeats):
    """``(fitted, times, warnings)``: ``repeats`` fits of fresh estimators
    (the last one is kept), their wall-clock seconds and the warnings raised."""
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


def finish(rows, args, load_start):
    """Print the summary and the load; save the ``--json`` record."""
    summary(rows)
    load_end = os.getloadavg()
    print(f"# load average {load_end[0]:.2f} at the end")
    if args.json:
        import aeon
        import sklearn
        import torch

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
