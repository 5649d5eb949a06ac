"""The ``select`` command: select K columns of a table with a selector.

The two methods differ only by the entries of :data:`METHODS`; the rest of
the command is the same for both. The selectors check their own parameters
and data, and their refusals are passed on as they are; what is checked here
is what they cannot check: the command line before any heavy import (so that
a bad one is refused at once), the paths, and the table's columns by name.
"""

import contextlib
import json
import shlex
import sys
import time
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ._common import (
    CLIError,
    estimator_errors,
    first_line,
    progress,
    save_figure,
    with_flags,
)
from ._tables import (
    check_input,
    check_writable,
    has_row_labels,
    read_table,
    row_number_columns,
    set_row_labels,
    split_table,
    table_format,
    write_table,
)


@dataclass(frozen=True)
class _Method:
    """What ``select`` needs to know of one method."""

    #: class name in ``sk_memsel._selectors``, looked up only to train
    estimator: str
    #: its name in the progress line and in the plot's title
    label: str
    #: what its ``feature_importances_`` are, for the report, from the arguments
    score: Callable
    #: its own parameters, from the parsed arguments
    parameters: Callable
    #: why it needs --target, when it does
    needs_target: str = ""
    #: fitted attributes ``name_`` copied into the report as ``name``
    reported: tuple = ()


METHODS = {
    "concrete": _Method(
        estimator="ConcreteAutoencoderSelector",
        label="Concrete Autoencoder",
        score=lambda args: "selection probability of the feature's selector node",
        parameters=lambda args: {
            "objective": "reconstruction" if args.target is None else args.task
        },
        reported=("convergence",),
    ),
    "gates": _Method(
        estimator="StochasticGatesSelector",
        label="stochastic gates",
        score=lambda args: (
            "gate probability above the gates' median times 1 - the square of "
            "its largest correlation with a column ranked before it"
            if args.redundancy != "keep"
            else "gate probability"
        ),
        parameters=lambda args: {
            "task": args.task,
            **({"redundancy": args.redundancy} if args.redundancy else {}),
        },
        needs_target="stochastic gates keep the features that predict a target. "
        "Without one, use --method concrete (unsupervised).",
    ),
}


def _check_command_line(args, name, method):
    """Refuse a command line that cannot work, before anything is imported."""
    if method.needs_target and args.target is None:
        raise CLIError(f"--method {name} needs --target: {method.needs_target}")
    if args.target is None and args.task != "auto":
        raise CLIError("--task needs --target.")
    if args.redundancy is not None and name != "gates":
        raise CLIError("--redundancy applies to --method gates only.")
    if args.index_col is not None and args.index_col == args.target:
        raise CLIError("--index-col and --target name the same column.")
    for option, value in (("--k", args.k), ("--max-epochs", args.max_epochs)):
        if value is not None and value < 1:
            raise CLIError(f"{option} must be at least 1, got {value}.")


def _check_plot_path(path, input_path):
    check_writable(path, "plot", input_path)
    try:
        from matplotlib.figure import Figure
    except ImportError:
        message = '--plot needs matplotlib: pip install "sk-memsel[cli]".'
        raise CLIError(message) from None
    formats = Figure().canvas.get_supported_filetypes()
    if Path(path).suffix.lower().lstrip(".") not in formats:
        raise CLIError(f"plot {path}: unknown picture format; use .png, .pdf or .svg.")


def _check_paths(args):
    """Refuse bad paths before a long fit (and before importing pandas or torch)."""
    if check_input(args.input) == "parquet" and args.sep is not None:
        raise CLIError("--sep applies to CSV and TSV input, not to Parquet.")
    if args.output:
        table_format(args.output, "output")
        check_writable(args.output, "output", args.input)
    if args.report:
        check_writable(args.report, "report", args.input)
    if args.plot:
        _check_plot_path(args.plot, args.input)


def _make_selector(method, args):
    from .. import _selectors

    params = {
        "k": args.k,
        "device": args.device,
        "random_state": args.random_state,
        # 1: one updating progress line; 2: skorch's table, a row per epoch
        "verbose": 0 if args.quiet else 2 if args.verbose else 1,
    }
    if args.max_epochs is not None:
        params["max_epochs"] = args.max_epochs
    return getattr(_selectors, method.estimator)(**params, **method.parameters(args))


def _describe(args, method, shape, guessed_labels):
    """The progress line that says what is about to be trained."""
    if args.target is None:
        what = "unsupervised"
    elif args.task == "auto":
        what = f"to predict {args.target!r}"
    else:
        what = f"to predict {args.target!r} ({args.task})"
    epochs = "" if args.max_epochs is None else f", at most {args.max_epochs} epochs"
    rows = f"{shape[0]} rows"
    if guessed_labels:
        rows += "; its first column, which has no name, read as row labels"
    return (
        f"selecting {args.k} of {shape[1]} feature columns of {args.input} "
        f"({rows}) with the {method.label}, {what}{epochs}; "
        "features standardised for training."
    )


def _task_line(args, selector):
    """How the target was read: the task guessed by ``--task auto`` is shown,
    since a target of whole numbers saved as floats may be read as classes."""
    if selector.task_ == "classification":
        task = f"classification target with {len(selector.classes_)} classes"
    else:
        task = f"{selector.task_} target"
    if args.task != "auto":
        return f"{args.target!r} is a {task}."
    other = "regression" if selector.task_ == "classification" else "classification"
    return (
        f"{args.target!r} was read as a {task} (guessed from its values; "
        f"pass --task {other} if that is wrong)."
    )


def _warn_row_numbers(X):
    """One warning per feature column that looks like a saved row index."""
    for column in row_number_columns(X):
        first = int(X[column].iloc[0])
        progress(
            f"warning: feature column {str(column)!r} holds the row numbers "
            f"{first} to {first + X.shape[0] - 1} in order; if it numbers the "
            f"rows rather than measures something, pass --index-col "
            f"{shlex.quote(str(column))} so that it is not a feature."
        )


def _fit(selector, X, y):
    """Fit on standardised features; the seconds taken. Warnings: one line each."""
    import pandas as pd
    from sklearn.preprocessing import StandardScaler

    X_scaled = pd.DataFrame(
        StandardScaler().fit_transform(X), columns=[str(c) for c in X.columns]
    )
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught, estimator_errors():
        warnings.simplefilter("always")
        # skorch's per-epoch table (-v) prints to stdout, which is for the names
        with contextlib.redirect_stdout(sys.stderr):
            if y is None:
                selector.fit(X_scaled)
            else:
                selector.fit(X_scaled, y.to_numpy())
    seconds = time.perf_counter() - start
    if selector.history_[-1, "stop_reason"] == "interrupted":
        # skorch ends training on Ctrl-C and returns; the model is half-trained
        raise KeyboardInterrupt
    for w in caught:
        if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning)):
            progress(f"warning: {with_flags(first_line(w.message))}")
    return seconds


def _ranking(selector):
    """Selected feature indices, most important first, and their scores.

    The score is ``feature_importances_``, whose top k is ``get_support()``.
    """
    import numpy as np

    indices = np.asarray(selector.get_support(indices=True))
    scores = np.asarray(selector.feature_importances_, dtype=float)[indices]
    order = np.argsort(-scores, kind="stable")
    return indices[order], scores[order]


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


def _report(args, name, method, selector, X, seconds):
    """The JSON report: the ranking, the data's shape and the parameters."""
    from .. import __version__

    indices, scores = _ranking(selector)
    names = [str(X.columns[i]) for i in indices]
    report = {
        "input": str(args.input),
        "target": args.target,
        "method": name,
        "task": "unsupervised" if args.target is None else selector.task_,
        "k": args.k,
        "n_samples": int(X.shape[0]),
        "n_features": int(X.shape[1]),
        "names": names,
        "indices": [int(i) for i in indices],
        "scores": [float(s) for s in scores],
        "score": method.score(args),
        "selected": [
            {"rank": r + 1, "name": n, "index": int(i), "score": float(s)}
            for r, (n, i, s) in enumerate(zip(names, indices, scores, strict=True))
        ],
        "parameters": _json_safe(selector.get_params()),
        "estimator": type(selector).__name__,
        "preprocessing": "StandardScaler",
        "fit_seconds": seconds,
        "n_epochs": int(selector.n_epochs_),
        "sk_memsel_version": __version__,
    }
    for attribute in method.reported:
        report[attribute] = float(getattr(selector, f"{attribute}_"))
    return report


def _save_score_plot(selector, title, path):
    """The chart of :func:`sk_memsel.plot.plot_scores`, titled, saved to ``path``."""
    # an object-oriented Figure: no pyplot, no GUI backend, no global state
    from matplotlib.figure import Figure

    from ..plot import _n_bars, _scores_figsize, _set_suptitle, plot_scores

    n_selected = int(selector.get_support().sum())
    fig = Figure(
        figsize=_scores_figsize(_n_bars(selector.n_features_in_, n_selected, None))
    )
    plot_scores(selector, ax=fig.add_subplot())
    _set_suptitle(fig, title)
    save_figure(fig, path)


def _write_outputs(args, method, selector, tables, report, say):
    """Write what --output, --report and --plot ask for."""
    df, X, y = tables
    if args.output:
        kept = {X.columns[i] for i in report["indices"]}
        columns = [c for c in df.columns if c in kept]
        out = df.loc[:, columns if y is None else [*columns, y.name]]
        # row labels (--index-col, an unnamed first column) go out as they came
        write_table(out, args.output, index=has_row_labels(df))
        say(f"wrote {out.shape[1]} columns to {args.output}")
    if args.report:
        try:
            Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
        except OSError as exc:
            raise CLIError(
                f"could not write {args.report}: {first_line(exc)}"
            ) from None
        say(f"wrote the report to {args.report}")
    if args.plot:
        title = f"{method.label}: {Path(args.input).name}"
        _save_score_plot(selector, title, args.plot)
        say(f"saved the score chart to {args.plot}")


def _quiet(message):
    """--quiet: nothing on stderr but warnings and errors."""


def run_select(args):
    """Run ``sk-memsel select`` with parsed arguments; return the report dict."""
    say = _quiet if args.quiet else progress
    name = args.method or ("gates" if args.target is not None else "concrete")
    method = METHODS[name]
    _check_command_line(args, name, method)
    _check_paths(args)

    # every check above needs no data: only now import the heavy libraries
    df = read_table(args.input, args.sep)
    df, guessed_labels = set_row_labels(df, args.index_col, args.input)
    X, y = split_table(df, args.target, args.input)
    if args.k > X.shape[1]:
        raise CLIError(
            f"--k {args.k} is larger than the {X.shape[1]} feature columns of "
            f"{args.input}; choose --k between 1 and {X.shape[1]}."
        )
    selector = _make_selector(method, args)
    say(_describe(args, method, X.shape, guessed_labels))
    _warn_row_numbers(X)
    seconds = _fit(selector, X, y)
    say(f"fitted in {seconds:.1f} s, {int(selector.n_epochs_)} epochs.")
    if y is not None:
        say(_task_line(args, selector))
    report = _report(args, name, method, selector, X, seconds)
    # the files first: a name stdout cannot take must not cost the user them
    _write_outputs(args, method, selector, (df, X, y), report, say)
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    for column in report["names"]:
        print(_printable(str(column), encoding))
    sys.stdout.flush()
    return report


def _printable(name, encoding):
    """``name`` on one line of stdout: control characters (a line break) as
    escapes (``\\n``), characters the encoding lacks as ``\\xe9``-style
    escapes. The report (``--report``) holds the names exactly."""
    if any(unicodedata.category(c) == "Cc" for c in name):
        name = "".join(
            c.encode("unicode_escape").decode("ascii")
            if unicodedata.category(c) == "Cc"
            else c
            for c in name
        )
    return name.encode(encoding, "backslashreplace").decode(encoding)
