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

The parts: ``_parsing`` (the parser), ``_tables`` (reading, writing and
checking tables), ``_select`` and ``_demo`` (the commands), ``_common``
(errors and messages). The heavy libraries (torch, skorch, scikit-learn,
pandas) are imported only once there is work to do, so ``--help``,
``--version`` and the refusal of a bad command line answer at once.
"""

import sys

from ._common import CLIError, first_line
from ._demo import run_demo_command
from ._parsing import build_parser
from ._select import run_select

__all__ = ["main"]

_COMMANDS = {"select": run_select, "demo": run_demo_command}


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
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version or a malformed command line
        return exc.code if isinstance(exc.code, int) else 0
    try:
        _COMMANDS[args.command](args)
    except (CLIError, ValueError, OSError) as exc:
        print(f"sk-memsel: error: {first_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sk-memsel: interrupted.", file=sys.stderr)
        return 130
    return 0
