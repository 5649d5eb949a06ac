"""What every part of the command line shares: its error, its messages."""

import contextlib
import sys


class CLIError(Exception):
    """A problem with the user's input, reported as one line on stderr."""


def first_line(exc):
    """The first line of an exception's message (its class name if empty)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def progress(message):
    """One line ``sk-memsel: message`` on stderr."""
    print(f"sk-memsel: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def estimator_errors():
    """Report an estimator's refusal (ValueError, TypeError) as a CLIError.

    The estimators check their parameters and data themselves; the command
    line does not check again what they check, it passes their message on.
    """
    try:
        yield
    except (ValueError, TypeError) as exc:
        raise CLIError(first_line(exc)) from None


def save_figure(fig, path):
    """Save a matplotlib Figure, a failure being a CLIError."""
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except (ValueError, OSError) as exc:
        raise CLIError(f"could not save the plot {path}: {first_line(exc)}") from None
