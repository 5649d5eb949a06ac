"""What every part of the command line shares: its error, its messages."""

import contextlib
import re
import sys


class CLIError(Exception):
    """A problem with the user's input, reported as one line on stderr."""


def first_line(exc):
    """The first line of an exception's message (its class name if empty)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


#: the estimators' parameters that the command line sets, by the flag setting them
_FLAGS = {
    "k": "--k",
    "device": "--device",
    "random_state": "--random-state",
    "max_epochs": "--max-epochs",
    "task": "--task",
    "objective": "--task",
    "redundancy": "--redundancy",
}
_PARAMETERS = "|".join(_FLAGS)
# scikit-learn's "The 'random_state' parameter of StochasticGatesSelector"
_CONSTRAINT = re.compile(rf"The '({_PARAMETERS})' parameter of \w+")
# our own "device='cuda'": the value unquoted, as it is typed after the flag
_ASSIGNMENT = re.compile(rf"(?<![\w.-])({_PARAMETERS})=(?:'([^']*)'|([\w:.+-]*\w))")
# a name alone ("raise max_epochs"), for the names no English word can be
_NAME = re.compile(r"(?<![\w'-])(random_state|max_epochs)(?![\w'])")


def with_flags(message):
    """An estimator's message with its parameter names turned into the flags.

    A command-line user typed ``--random-state -1``, not ``random_state=-1``:
    ``The 'random_state' parameter of X must be ...`` becomes
    ``--random-state must be ...``, ``device='cuda'`` ``--device cuda`` and
    ``raise max_epochs`` ``raise --max-epochs``.

    Examples
    --------
    >>> with_flags("device='cuda' was requested. Use device='cpu'.")
    '--device cuda was requested. Use --device cpu.'
    """
    message = _CONSTRAINT.sub(lambda m: _FLAGS[m[1]], message)
    message = _ASSIGNMENT.sub(
        lambda m: f"{_FLAGS[m[1]]} {m[2] if m[2] is not None else m[3]}", message
    )
    return _NAME.sub(lambda m: _FLAGS[m[1]], message)


def progress(message):
    """One line ``sk-memsel: message`` on stderr."""
    print(f"sk-memsel: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def estimator_errors():
    """Report an estimator's refusal (ValueError, TypeError) as a CLIError.

    The estimators check their parameters and data themselves; the command
    line does not check again what they check, it passes their message on,
    with the flags in place of the parameter names (:func:`with_flags`).
    """
    try:
        yield
    except (ValueError, TypeError) as exc:
        raise CLIError(with_flags(first_line(exc))) from None


def save_figure(fig, path):
    """Save a matplotlib Figure, a failure being a CLIError."""
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except (ValueError, OSError) as exc:
        raise CLIError(f"could not save the plot {path}: {first_line(exc)}") from None
