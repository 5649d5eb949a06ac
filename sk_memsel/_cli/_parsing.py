"""The command line's parser: its options, help texts and one-line errors.

It imports no estimator, torch or pandas: ``--help``, ``--version`` and the
refusal of a malformed command line answer at once.
"""

import argparse
import re

from ._select import METHODS

#: the seeds scikit-learn's ``random_state`` accepts: NumPy's, 0 to 2**32 - 1
_MAX_SEED = 2**32 - 1
#: what the separator's name may be besides the character itself
_SEPARATOR_NAMES = {"tab": "\t", "\\t": "\t"}


def _seed(text):
    """``--random-state``: checked here, so a bad one is refused at once."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if not 0 <= value <= _MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"must be between 0 and {_MAX_SEED}, got {value}"
        )
    return value


def _device(text):
    """``--device``: the names the estimators take (whether a GPU is there is
    known only once torch is loaded; the estimator says so then)."""
    if text in ("cpu", "cuda", "auto") or re.fullmatch(r"cuda:\d+", text):
        return text
    raise argparse.ArgumentTypeError(
        f"unknown device {text!r}; use cpu, cuda, cuda:N or auto"
    )


def _separator(text):
    """``--sep``: one character; ``tab`` or a typed ``\\t`` for the tab."""
    sep = _SEPARATOR_NAMES.get(text, text)
    if len(sep) != 1 or sep in '"\r\n':
        raise argparse.ArgumentTypeError(
            f"must be one character such as ';' or tab, got {text!r}"
        )
    return sep


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


_SELECT_EPILOG = """\
The default method is 'gates' (stochastic gates, supervised) when --target is
given and 'concrete' (Concrete Autoencoder, unsupervised: it keeps the columns
from which all the others are best reconstructed) otherwise. A target with
string or integer values is a classification target (more than 20 integer
values give a warning), other numbers a regression target, except whole
numbers with at most 20 values (labels saved as floats); override with --task.
Features are standardised for training; --output keeps their original values.

stdout gets the selected column names, most important first (gates: gate
probability; concrete: the selection probability of the feature's node).
Progress (one updating line) goes to stderr; -v prints a table per epoch;
--quiet silences progress.

examples:
  sk-memsel select data.csv --k 10 --target label
  sk-memsel select data.parquet --k 5 --output selected.parquet --report r.json
"""


def _add_select(sub):
    select = sub.add_parser(
        "select",
        help="select the K most useful columns of a CSV or Parquet table",
        description="Select K columns of a CSV or Parquet table with a neural "
        "feature selector and print their names, most important first.",
        epilog=_SELECT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = select.add_argument
    add("input", help="table to read: .csv, .tsv, .parquet or .pq")
    add(
        "--sep",
        type=_separator,
        metavar="CHAR",
        help="column separator of a CSV/TSV input, e.g. ';' or tab (default: "
        "',' for .csv, tab for .tsv)",
    )
    add(
        "--index-col",
        metavar="COLUMN",
        help="column of row labels (an id): not a feature, written first by "
        "--output (default: the first column when it has no name, as "
        "pandas' to_csv() writes the index)",
    )
    add("--k", type=int, required=True, help="number of columns to select")
    add(
        "--target",
        metavar="COLUMN",
        help="column to predict; it is kept out of the features",
    )
    add(
        "--method",
        choices=tuple(METHODS),
        help="gates (needs --target) or concrete; default: gates with --target, "
        "concrete without",
    )
    add(
        "--task",
        choices=("auto", "classification", "regression"),
        default="auto",
        help="learning task for --target (auto: inferred from its values)",
    )
    add(
        "--output",
        metavar="OUT",
        help="write the selected columns (and the target) here; "
        "CSV or Parquet by extension",
    )
    add(
        "--report",
        metavar="REPORT.json",
        help="write names, indices, scores and parameters as JSON",
    )
    add(
        "--redundancy",
        choices=("keep", "avoid"),
        help="gates only: K columns that together predict best, near-copies "
        "of a kept column left out (avoid, the default), or the K most "
        "probable gates, correlated copies included (keep: every column that "
        "carries signal)",
    )
    add("--plot", metavar="FIG.png", help="save a ranked bar chart of the scores")
    add(
        "--device",
        type=_device,
        default="cpu",
        help="cpu, cuda, cuda:N or auto (default: cpu)",
    )
    add("--random-state", type=_seed, default=0, metavar="N", help="seed (0)")
    add(
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


def _add_demo(sub):
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
    demo.add_argument("--random-state", type=_seed, default=0, metavar="N")
    demo.add_argument(
        "--device", type=_device, default="cpu", help="cpu, cuda, cuda:N or auto"
    )


def build_parser():
    """The ``sk-memsel`` parser, with its ``select`` and ``demo`` commands."""
    from .. import __version__

    parser = _Parser(
        prog="sk-memsel",
        description="Neural feature selection for tables, from the command line.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_select(sub)
    _add_demo(sub)
    return parser
