"""The ``sk-memsel`` command line.

Two commands:

``sk-memsel select INPUT --k K [--target COLUMN] ...``
    Select ``K`` columns of a CSV or Parquet table with a neural selector,
    print their names (most important first) on stdout, and optionally write
    the selected columns, a JSON report and a bar chart of the scores.
``sk-memsel demo``
    Select pixels of scikit-learn's 8x8 digits and compare accuracies.

Everything meant for a program goes to stdout (the selected names, one per
line); progress, warnings and errors go to stderr. Bad input gives one line
``sk-memsel: error: ...`` on stderr and exit status 1 (2 for a malformed
command line), never a traceback.

The heavy libraries (torch, skorch, scikit-learn, pandas) are imported only
once there is work to do, so ``--help``, ``--version`` and the refusal of a
bad command line answer at once.
"""

import argparse
import contextlib
import json
import sys
import time
import warnings
from pathlib import Path

__all__ = ["main"]

_READERS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
_METHODS = ("concrete", "gates")


class CLIError(Exception):
    """A problem with the user's input, reported as one line on stderr."""


# ---------------------------------------------------------------------- tables
def _table_format(path, what):
    suffix = Path(path).suffix.lower()
    if suffix not in _READERS:
        known = ", ".join(sorted(_READERS))
        raise CLIError(
            f"{what} {path}: unknown file extension {suffix or '(none)'!r}; "
            f"use one of {known}."
        )
    return _READERS[suffix]


def _first_line(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _check_input(path):
    """The input's format (by extension), once it is known to be a file."""
    fmt = _table_format(path, "input")
    if not Path(path).exists():
        raise CLIError(f"input file {path} does not exist.")
    if Path(path).is_dir():
        raise CLIError(f"input {path} is a directory, not a file.")
    return fmt


def _read_table(path):
    """Read a CSV/TSV or Parquet file (by extension) into a DataFrame."""
    fmt = _check_input(path)
    import pandas as pd

    try:
        if fmt == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="\t" if fmt == "tsv" else ",")
    except pd.errors.EmptyDataError:
        raise CLIError(f"input file {path} is empty.") from None
    except ImportError as exc:
        raise CLIError(
            f"reading {path} needs a Parquet engine: pip install pyarrow "
            f"({_first_line(exc)})."
        ) from None
    except (ValueError, OSError) as exc:
        raise CLIError(f"could not read {path} as {fmt}: {_first_line(exc)}") from None


def _write_table(df, path):
    fmt = _table_format(path, "output")
    try:
        if fmt == "parquet":
            df.to_parquet(path, index=False)
        else:
            df.to_csv(path, sep="\t" if fmt == "tsv" else ",", index=False)
    except ImportError as exc:
        raise CLIError(
            f"writing {path} needs a Parquet engine: pip install pyarrow "
            f"({_first_line(exc)})."
        ) from None
    except (ValueError, OSError) as exc:
        raise CLIError(f"could not write {path}: {_first_line(exc)}") from None


def _names(columns, limit=5):
    shown = ", ".join(repr(str(c)) for c in list(columns)[:limit])
    more = len(columns) - limit
    return shown + (f" ... ({more} more)" if more > 0 else "")


def _check_writable(path, what):
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise CLIError(f"{what} {path}: the folder {parent} does not exist.")


def _split_table(df, target, path):
    """Feature DataFrame (float) and target Series, after every input check."""
    import numpy as np
    import pandas as pd

    if df.shape[1] == 0 or df.shape[0] == 0:
        raise CLIError(f"input file {path} has no rows of data.")
    y = None
    if target is not None:
        matches = [c for c in df.columns if str(c) == target]
        if not matches:
            raise CLIError(
                f"target column {target!r} is not in {path}; its columns are "
                f"{_names(df.columns)}."
            )
        target_column = matches[0]
        y = df[target_column]
        n_missing = int(y.isna().sum())
        if n_missing:
            raise CLIError(
                f"target column {target!r} has {n_missing} missing value(s); "
                "drop those rows or fill them first."
            )
        df = df.drop(columns=[target_column])
    if df.shape[1] == 0:
        raise CLIError(f"input file {path} has no feature columns besides the target.")
    bad = [
        c
        for c in df.columns
        if not (
            pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c])
        )
    ]
    if bad:
        hint = "" if target is not None else ", or name a label column with --target"
        raise CLIError(
            f"non-numeric feature column(s) {_names(bad)}: encode them as "
            f"numbers (e.g. one-hot) or drop them{hint}."
        )
    X = df.astype(np.float64)
    not_finite = [c for c in X.columns if not np.isfinite(X[c].to_numpy()).all()]
    if not_finite:
        raise CLIError(
            f"feature column(s) {_names(not_finite)} have missing or infinite "
            "values; fill them (impute) or drop those rows or columns."
        )
    return X, y


# ---------------------------------------------------------------------- select
def _make_selector(method, k, task, target, args):
    from .._selectors import ConcreteAutoencoderSelector, StochasticGatesSelector

    common = {
        "k": k,
        "device": args.device,
        "random_state": args.random_state,
        # 1: one updating progress line; 2: skorch's table, a row per epoch
        "verbose": 0 if args.quiet else 2 if args.verbose else 1,
    }
    if args.max_epochs is not None:
        common["max_epochs"] = args.max_epochs
    if method == "gates":
        return StochasticGatesSelector(task=task, **common)
    objective = "reconstruction" if target is None else task
    return ConcreteAutoencoderSelector(objective=objective, **common)


def _ranking(selector, method):
    """Selected feature indices, most important first, and their scores.

    gates: the gate probability of the feature. concrete: the probability with
    which the selector node that took the feature chooses it.
    """
    import numpy as np

    if method == "gates":
        indices = selector.get_support(indices=True)
        scores = selector.gate_probabilities_[indices]
    else:
        indices = selector.selected_features_
        nodes = np.arange(len(indices))
        scores = selector.selection_probabilities_[nodes, indices]
    order = np.argsort(-scores, kind="stable")
    return np.asarray(indices)[order], np.asarray(scores, dtype=float)[order]


def _json_safe(value):
    import numpy as np

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return repr(value)


def _save_score_plot(selector, k, title, path):
    # an object-oriented Figure: no pyplot, no GUI backend, no global state
    from matplotlib.figure import Figure

    from ..plot import plot_scores

    top = min(selector.n_features_in_, max(k, 20))
    fig = Figure(figsize=(6, min(12.0, max(2.5, 0.25 * top + 1.2))))
    ax = plot_scores(selector, top=top, ax=fig.add_subplot())
    ax.set_title(f"{title} ({k} selected, in red)")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except (ValueError, OSError) as exc:
        raise CLIError(f"could not save the plot {path}: {_first_line(exc)}") from None


def _progress(message):
    print(f"sk-memsel: {message}", file=sys.stderr, flush=True)


def run_select(args):
    """Run ``sk-memsel select`` with parsed arguments; return the report dict."""
    from .. import __version__

    # --quiet: nothing on stderr but warnings and errors
    say = _progress if not args.quiet else lambda message: None
    target, k = args.target, args.k
    method = args.method or ("gates" if target is not None else "concrete")
    if method == "gates" and target is None:
        raise CLIError(
            "--method gates needs --target: stochastic gates keep the features "
            "that predict a target. Without one, use --method concrete "
            "(unsupervised)."
        )
    if target is None and args.task != "auto":
        raise CLIError("--task needs --target.")
    if k < 1:
        raise CLIError(f"--k must be at least 1, got {k}.")
    if args.max_epochs is not None and args.max_epochs < 1:
        raise CLIError(f"--max-epochs must be at least 1, got {args.max_epochs}.")
    # refuse bad paths before a long fit (and before importing pandas or torch)
    _check_input(args.input)
    if args.output:
        _table_format(args.output, "output")
        _check_writable(args.output, "output")
    if args.report:
        _check_writable(args.report, "report")
    if args.plot:
        _check_writable(args.plot, "plot")
        try:
            from matplotlib.figure import Figure
        except ImportError:
            raise CLIError(
                "--plot needs matplotlib: install sk-memsel[plot]."
            ) from None
        formats = Figure().canvas.get_supported_filetypes()
        if Path(args.plot).suffix.lower().lstrip(".") not in formats:
            raise CLIError(
                f"plot {args.plot}: unknown picture format; use .png, .pdf or .svg."
            )

    # every check above needs no data: only now import the heavy libraries
    import pandas as pd
    from sklearn.preprocessing import StandardScaler

    df = _read_table(args.input)
    X, y = _split_table(df, target, args.input)
    n_samples, n_features = X.shape
    if k > n_features:
        raise CLIError(
            f"--k {k} is larger than the {n_features} feature columns of "
            f"{args.input}; choose --k between 1 and {n_features}."
        )
    names = [str(c) for c in X.columns]
    if len(set(names)) != len(names):
        raise CLIError(f"{args.input} has duplicate column names.")

    selector = _make_selector(method, k, args.task, target, args)
    if target is None:
        what = "unsupervised"
    elif args.task == "auto":
        what = f"to predict {target!r}"
    else:
        what = f"to predict {target!r} ({args.task})"
    label = "stochastic gates" if method == "gates" else "Concrete Autoencoder"
    epochs = "" if args.max_epochs is None else f", at most {args.max_epochs} epochs"
    say(
        f"selecting {k} of {n_features} feature columns of {args.input} "
        f"({n_samples} rows) with the {label}, {what}{epochs}; "
        "features standardised for training."
    )
    X_scaled = pd.DataFrame(StandardScaler().fit_transform(X), columns=names)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # skorch's per-epoch table (-v) prints to stdout, which is for the names
        with contextlib.redirect_stdout(sys.stderr):
            if y is None:
                selector.fit(X_scaled)
            else:
                selector.fit(X_scaled, y.to_numpy())
    seconds = time.perf_counter() - start
    for w in caught:
        if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning)):
            _progress(f"warning: {_first_line(w.message)}")
    n_epochs = int(selector.n_epochs_)
    say(f"fitted in {seconds:.1f} s, {n_epochs} epochs.")

    indices, scores = _ranking(selector, method)
    for i in indices:
        print(names[i])
    sys.stdout.flush()

    task = getattr(selector, "task_", None) or getattr(selector, "objective_", None)
    report = {
        "input": str(args.input),
        "target": target,
        "method": method,
        "task": task if target is not None else "unsupervised",
        "k": k,
        "n_samples": int(n_samples),
        "n_features": int(n_features),
        "names": [names[i] for i in indices],
        "indices": [int(i) for i in indices],
        "scores": [float(s) for s in scores],
        "score": (
            "gate probability"
            if method == "gates"
            else "selection probability of the feature's selector node"
        ),
        "selected": [
            {"rank": r + 1, "name": names[i], "index": int(i), "score": float(s)}
            for r, (i, s) in enumerate(zip(indices, scores, strict=True))
        ],
        "parameters": _json_safe(selector.get_params()),
        "estimator": type(selector).__name__,
        "preprocessing": "StandardScaler",
        "fit_seconds": seconds,
        "n_epochs": n_epochs,
        "sk_memsel_version": __version__,
    }
    if method == "concrete":
        report["convergence"] = float(selector.convergence_)
    if args.output:
        kept = [X.columns[i] for i in sorted(indices)]
        out = df.loc[:, [c for c in df.columns if c in set(kept)]]
        if target is not None:
            out = out.copy()
            out[y.name] = y
        _write_table(out, args.output)
        say(f"wrote {out.shape[1]} columns to {args.output}")
    if args.report:
        try:
            Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
        except OSError as exc:
            raise CLIError(
                f"could not write {args.report}: {_first_line(exc)}"
            ) from None
        say(f"wrote the report to {args.report}")
    if args.plot:
        _save_score_plot(selector, k, f"{label}: {Path(args.input).name}", args.plot)
        say(f"saved the score chart to {args.plot}")
    return report


def _pixel_grid(support, shape):
    rows = []
    for r in range(shape[0]):
        cells = support[r * shape[1] : (r + 1) * shape[1]]
        rows.append(" ".join("#" if c else "." for c in cells))
    return "\n".join(rows)


def run_demo(k=16, plot="digits_selected_pixels.png", random_state=0, device="cpu"):
    """Select pixels of scikit-learn's 8x8 digits and compare accuracies.

    Parameters
    ----------
    k : int, default=16
        Number of pixels to select (of 64).
    plot : str or None, default="digits_selected_pixels.png"
        Where to save a picture of the chosen pixels (needs matplotlib);
        ``None`` saves nothing.
    random_state : int, default=0
    device : str, default="cpu"

    Returns
    -------
    result : dict
        ``selected`` (pixel indices), ``accuracy_selected``, ``accuracy_all``,
        ``accuracy_random`` and ``fit_seconds``.
    """
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    from .._selectors import ConcreteAutoencoderSelector

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=random_state
    )
    print(
        f"Digits: {X.shape[0]} images of 8x8 pixels; selecting {k} of "
        f"{X.shape[1]} pixels without looking at the labels "
        "(Concrete Autoencoder)...",
        flush=True,
    )
    start = time.perf_counter()
    selector = ConcreteAutoencoderSelector(
        k=k, random_state=random_state, device=device
    ).fit(X_train)
    seconds = time.perf_counter() - start
    selected = selector.get_support(indices=True)

    def accuracy(columns):
        clf = LogisticRegression(max_iter=2000)
        clf.fit(X_train[:, columns], y_train)
        return clf.score(X_test[:, columns], y_test)

    rng = np.random.RandomState(random_state)
    random_cols = np.sort(rng.choice(X.shape[1], size=k, replace=False))
    result = {
        "selected": selected,
        "accuracy_selected": accuracy(selected),
        "accuracy_all": accuracy(np.arange(X.shape[1])),
        "accuracy_random": accuracy(random_cols),
        "fit_seconds": seconds,
    }
    print(f"Fitted in {seconds:.1f} s.")
    print(f"Selected pixels (index = 8 * row + column): {selected.tolist()}")
    print(_pixel_grid(selector.get_support(), (8, 8)))
    print("Test accuracy of a logistic regression on")
    print(f"  the {k} selected pixels: {result['accuracy_selected']:.3f}")
    print(f"  {k} random pixels:       {result['accuracy_random']:.3f}")
    print(f"  all 64 pixels:          {result['accuracy_all']:.3f}")
    if plot:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("(Install matplotlib, or sk-memsel[plot], for a picture.)")
        else:
            fig, axes = plt.subplots(1, 2, figsize=(6, 3))
            axes[0].imshow(X_train.mean(axis=0).reshape(8, 8), cmap="gray_r")
            axes[0].set_title("mean digit")
            axes[1].imshow(selector.get_support().reshape(8, 8), cmap="Reds")
            axes[1].set_title(f"{k} selected pixels")
            for ax in axes:
                ax.set_xticks([])
                ax.set_yticks([])
            fig.tight_layout()
            fig.savefig(plot, dpi=100)
            plt.close(fig)
            print(f"Saved a picture of the selected pixels to {plot}")
    return result


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


_SELECT_EPILOG = """\
The default method is 'gates' (stochastic gates, supervised) when --target is
given and 'concrete' (Concrete Autoencoder, unsupervised: it keeps the columns
from which all the others are best reconstructed) otherwise. A target with
string or integer values is a classification target, other numbers a
regression target (override with --task). Features are standardised for
training; --output keeps their original values.

stdout gets the selected column names, most important first (gates: gate
probability; concrete: the selection probability of the feature's node).
Progress (one updating line) goes to stderr; -v prints a table per epoch;
--quiet silences progress.

examples:
  sk-memsel select data.csv --k 10 --target label
  sk-memsel select data.parquet --k 5 --output selected.parquet --report r.json
"""


def _build_parser():
    parser = _Parser(
        prog="sk-memsel",
        description="Neural feature selection for tables, from the command line.",
    )
    # no estimator module here: they import torch, and --help must be instant
    from .. import __version__

    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    select = sub.add_parser(
        "select",
        help="select the K most useful columns of a CSV or Parquet table",
        description="Select K columns of a CSV or Parquet table with a neural "
        "feature selector and print their names, most important first.",
        epilog=_SELECT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    select.add_argument("input", help="table to read: .csv, .tsv, .parquet or .pq")
    select.add_argument(
        "--k", type=int, required=True, help="number of columns to select"
    )
    select.add_argument(
        "--target",
        metavar="COLUMN",
        help="column to predict; it is kept out of the features",
    )
    select.add_argument(
        "--method",
        choices=_METHODS,
        help="gates (needs --target) or concrete; default: gates with --target, "
        "concrete without",
    )
    select.add_argument(
        "--task",
        choices=("auto", "classification", "regression"),
        default="auto",
        help="learning task for --target (auto: inferred from its values)",
    )
    select.add_argument(
        "--output",
        metavar="OUT",
        help="write the selected columns (and the target) here; "
        "CSV or Parquet by extension",
    )
    select.add_argument(
        "--report",
        metavar="REPORT.json",
        help="write names, indices, scores and parameters as JSON",
    )
    select.add_argument(
        "--plot", metavar="FIG.png", help="save a ranked bar chart of the scores"
    )
    select.add_argument(
        "--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)"
    )
    select.add_argument(
        "--random-state", type=int, default=0, metavar="N", help="seed (0)"
    )
    select.add_argument(
        "--max-epochs",
        type=int,
        metavar="N",
        help="most training epochs (default: the selector's own; training "
        "stops earlier once the selection has settled)",
    )
    loudness = select.add_mutually_exclusive_group()
    loudness.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="a table per epoch on stderr instead of one progress line",
    )
    loudness.add_argument(
        "--quiet", "-q", action="store_true", help="no progress on stderr"
    )

    demo = sub.add_parser(
        "demo",
        help="select pixels of scikit-learn's digits and compare accuracies",
        description="Select pixels of scikit-learn's 8x8 digits with the "
        "Concrete Autoencoder, report the accuracy with them against all "
        "pixels, and save a picture of the chosen pixels.",
    )
    demo.add_argument("--k", type=int, default=16, help="pixels to select (16)")
    demo.add_argument(
        "--plot",
        default="digits_selected_pixels.png",
        help="picture of the chosen pixels (digits_selected_pixels.png); '' for none",
    )
    demo.add_argument("--random-state", type=int, default=0)
    demo.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    return parser


def main(argv=None):
    """Entry point of the ``sk-memsel`` console script.

    Parameters
    ----------
    argv : list of str or None
        Arguments without the program name; ``None`` reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success, 1 when the input was refused, 2 for a malformed command
        line, 130 when interrupted.
    """
    try:
        args = _build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version or a malformed command line
        return exc.code if isinstance(exc.code, int) else 0
    try:
        if args.command == "demo":
            if not 1 <= args.k <= 64:
                raise CLIError(f"--k must be between 1 and 64, got {args.k}.")
            run_demo(
                k=args.k,
                plot=args.plot or None,
                random_state=args.random_state,
                device=args.device,
            )
        else:
            run_select(args)
    except (CLIError, ValueError, OSError) as exc:
        print(f"sk-memsel: error: {_first_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sk-memsel: interrupted.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
