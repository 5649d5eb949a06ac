"""Parameters: the constraints scikit-learn cannot spell, and shared docs.

The estimators declare their parameters the scikit-learn way, in a
``_parameter_constraints`` dict checked by ``@_fit_context`` on ``fit``
(``Interval``, ``StrOptions``, ...). This module adds:

- :class:`Satisfies`, a constraint given by a predicate, for the values
  scikit-learn has no constraint for (a list of skorch callbacks, an
  optimizer class, a device name, layer sizes);
- :class:`IntInterval`, scikit-learn's ``Interval`` of integers without the
  booleans it lets through;
- the numpydoc entries of the parameters that several estimators share,
  written once here and put into each estimator's docstring by
  :func:`fill_shared_docs`, so that ``device`` or ``random_state`` read the
  same everywhere.
"""

import inspect
import numbers
import re
import textwrap

import numpy as np
import torch
from skorch.callbacks import Callback

from . import _warnings
from ._compat import Interval, Options

__all__ = [
    "IntInterval",
    "Satisfies",
    "effective_k",
    "fill_shared_docs",
    "layer_sizes",
]


# ------------------------------------------------------------------ constraints
class Satisfies(Options):
    """A parameter constraint given by a predicate and its description.

    scikit-learn's ``make_constraint`` accepts only its own constraint
    classes, so this one is an ``Options`` (see ``_compat``) whose membership
    test is ``predicate``. ``description`` ends the
    sentence "The 'p' parameter of Est must be ...".

    >>> from sk_memsel._backbone._compat import (
    ...     InvalidParameterError,
    ...     validate_parameter_constraints,
    ... )
    >>> even = Satisfies(lambda v: v % 2 == 0, "an even number")
    >>> try:
    ...     validate_parameter_constraints({"n": [even]}, {"n": 3}, caller_name="f")
    ... except InvalidParameterError as error:
    ...     print(error)
    The 'n' parameter of f must be an even number. Got 3 instead.
    """

    def __init__(self, predicate, description):
        super().__init__(object, set())
        self.predicate = predicate
        self.description = description

    def is_satisfied_by(self, val):
        return bool(self.predicate(val))

    def __str__(self):
        return self.description


class IntInterval(Interval):
    """An interval of integers that, unlike scikit-learn's, refuses booleans.

    ``Interval(Integral, 1, None, closed="left")`` takes ``True`` for 1,
    since ``bool`` is a subclass of ``int``: ``max_epochs=True`` would train
    one epoch. A count given as a boolean is a mistake, refused here with
    scikit-learn's message.

    >>> from sk_memsel._backbone._compat import (
    ...     InvalidParameterError,
    ...     validate_parameter_constraints,
    ... )
    >>> positive = IntInterval(1, None, closed="left")
    >>> positive.is_satisfied_by(3), positive.is_satisfied_by(True)
    (True, False)
    >>> try:
    ...     validate_parameter_constraints({"n": [positive]}, {"n": True}, "f")
    ... except InvalidParameterError as error:
    ...     print(error)
    The 'n' parameter of f must be an int in the range [1, inf). Got True instead.
    """

    def __init__(self, left, right, *, closed):
        super().__init__(numbers.Integral, left, right, closed=closed)

    def is_satisfied_by(self, val):
        return not isinstance(val, bool | np.bool_) and super().is_satisfied_by(val)


#: a width of a hidden layer: an int of 1 or more, not a boolean
_is_int = IntInterval(1, None, closed="left").is_satisfied_by


def _is_callbacks(value):
    """A list (or tuple) of skorch callbacks or ``(name, callback)`` pairs."""
    if not isinstance(value, list | tuple):
        return False
    return all(
        isinstance(item, Callback)
        or (
            isinstance(item, tuple)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], Callback)
        )
        for item in value
    )


def _is_layer_sizes(value):
    """A positive int, or a sequence of them (``()`` for no hidden layer)."""
    if _is_int(value):
        return True
    if isinstance(value, np.ndarray):
        return value.ndim == 1 and all(_is_int(v) for v in value)
    return isinstance(value, list | tuple) and all(_is_int(v) for v in value)


#: skorch callbacks, as the ``callbacks`` parameter takes them
CALLBACKS = Satisfies(
    _is_callbacks,
    "a list of skorch callbacks or of (name, callback) pairs",
)
#: an optimizer class, beside the names of ``StrOptions``
OPTIMIZER_CLASS = Satisfies(
    lambda v: isinstance(v, type) and issubclass(v, torch.optim.Optimizer),
    "a torch.optim.Optimizer subclass",
)
#: a device name; whether the GPU is there is checked when fitting
DEVICE = Satisfies(
    lambda v: (
        isinstance(v, torch.device)
        or (isinstance(v, str) and re.fullmatch(r"auto|cpu|cuda(:\d+)?", v))
    ),
    "'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device",
)
#: hidden layer widths
LAYER_SIZES = Satisfies(
    _is_layer_sizes,
    "a positive int or a tuple of positive ints (() for no hidden layer)",
)


def layer_sizes(value):
    """The hidden layer widths of a valid ``hidden_layer_sizes``, as a tuple.

    >>> layer_sizes(5), layer_sizes([8, 4]), layer_sizes(())
    ((5,), (8, 4), ())
    """
    if _is_int(value):
        return (int(value),)
    return tuple(int(v) for v in value)


def effective_k(k, n, what="features", warn=True):
    """``k``, or all ``n`` features (or groups) of X when ``k`` is larger.

    As scikit-learn's ``SelectKBest`` does, a ``k`` larger than the number of
    features keeps them all, with a warning (when ``warn``) rather than an
    error, so that a grid over ``k`` survives a narrow fold or data set.
    """
    k = int(k)
    if k > n:
        if warn:
            _warnings.warn(
                f"k={k} is larger than the number of {what} of X "
                f"(n_{what}={n}): all {n} are kept."
            )
        return n
    return k


# ------------------------------------------------------------------ shared docs
def _max_epochs(cls):
    steps = cls._auto_steps
    if steps is None:
        return "int", "Most passes over the training data."
    return 'int or "auto"', (
        f'Most passes over the training data. ``"auto"`` allows about '
        f"{steps:,} optimizer steps whatever the size of the data: "
        f"``ceil({steps} / n_batches)`` epochs, ``n_batches`` being the "
        "mini-batches per epoch."
    )


#: numpydoc entries of the shared parameters: ``(type, description)``, or a
#: function of the class that returns them; the default is the signature's
SHARED_DOCS = {
    "max_epochs": _max_epochs,
    "batch_size": (
        "int",
        "Rows per optimizer step; ``-1`` uses the whole training set.",
    ),
    "lr": ("float", "Learning rate of the optimizer."),
    "optimizer": (
        "str or torch.optim.Optimizer class",
        '``"adam"``, ``"adamw"``, ``"sgd"``, ``"rmsprop"``, or a '
        ":class:`torch.optim.Optimizer` subclass.",
    ),
    "weight_decay": ("float", "Weight decay (L2 penalty) of the optimizer."),
    "device": (
        "str or torch.device",
        'Where to train and predict: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, or '
        '``"auto"`` (a GPU when PyTorch sees one, else the CPU).',
    ),
    "random_state": (
        "int, RandomState instance or None",
        "Seeds the initial weights, the shuffling, the validation split and "
        "any noise of training; PyTorch's global random state is left as it "
        "was. ``None`` draws the seed from NumPy's global random state, which "
        "advances it, as scikit-learn's estimators do; an int leaves it alone.",
    ),
    "verbose": (
        "int",
        "``0`` is silent, ``1`` shows one updating progress line on standard "
        "error, ``2`` skorch's table with a row per epoch.",
    ),
    "callbacks": (
        "list of skorch callbacks or None",
        "Extra skorch callbacks, given as callbacks or as ``(name, callback)`` "
        "pairs; each fit uses copies, so those passed are never changed.",
    ),
    "validation_fraction": (
        "float or None",
        "Fraction of the training data held out to stop early on the "
        "validation loss (stratified for classification); ``None`` trains on "
        "all of it without early stopping.",
    ),
    "n_iter_no_change": (
        "int",
        "Patience of the early stopping, in epochs (with ``validation_fraction``).",
    ),
    "n_threads": (
        'int, "auto" or None',
        "PyTorch threads on the CPU while fitting and predicting; torch's own "
        'setting is restored afterwards. ``"auto"`` uses one thread for small '
        "networks and torch's setting for large ones, ``None`` leaves torch's "
        "setting alone. Results are reproducible for the same number of "
        "threads. See :ref:`threads`.",
    ),
    "standardize": (
        "bool",
        "Standardise the input with the mean and standard deviation of the "
        "training data before the network: per feature, or per channel for "
        "sequences.",
    ),
    "kernel_size": (
        "int",
        "Sequences only: time points (tokens) each convolution reads.",
    ),
    "max_tokens": (
        "int",
        "Sequences only: most tokens per series; a longer series is max-pooled "
        "in windows of ``ceil(n_timepoints / max_tokens)`` time points after "
        "its first convolution.",
    ),
    "task": (
        '{"auto", "classification", "regression"}',
        'Learning task. ``"auto"`` reads labels as classes and floats as a '
        "regression target; see :ref:`inferred_task` for whole numbers.",
    ),
}

#: a line holding only ``{name}``, and the more indented lines under it
_PLACEHOLDER = re.compile(r"^([ \t]*)\{(\w+)\}[ \t]*\n((?:\1[ \t]+\S.*\n)*)", re.M)


def _default(value):
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _entry(cls, name, indent, more):
    doc = SHARED_DOCS[name]
    kind, text = doc(cls) if callable(doc) else doc
    text = " ".join([text, *more.split()])
    default = inspect.signature(cls.__init__).parameters[name].default
    body = textwrap.fill(
        text,
        width=79,
        initial_indent=indent + "    ",
        subsequent_indent=indent + "    ",
        break_long_words=False,
        break_on_hyphens=False,
    )
    return f"{indent}{name} : {kind}, default={_default(default)}\n{body}\n"


def fill_shared_docs(cls):
    """Class decorator: put the shared parameters' entries into the docstring.

    A line of the docstring that holds only ``{name}``, ``name`` a key of
    :data:`SHARED_DOCS`, becomes that parameter's numpydoc entry, with the
    class's default. Lines indented under it add to the description what is
    particular to the class (one paragraph). (The pattern of imbalanced-learn's
    ``Substitution``, which formats the whole docstring; here only whole
    placeholder lines are replaced, so the braces of LaTeX are safe.)
    """
    if cls.__doc__:  # None under python -OO

        def replace(match):
            indent, name, more = match.groups()
            if name not in SHARED_DOCS:
                raise KeyError(f"{cls.__name__}'s docstring names no shared {name}")
            return _entry(cls, name, indent, more)

        cls.__doc__ = _PLACEHOLDER.sub(replace, cls.__doc__)
    return cls
