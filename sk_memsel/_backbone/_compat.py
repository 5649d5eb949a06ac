"""Every private name of scikit-learn that sk_memsel uses, in one place.

A private name is a promise its library never made: any release may move it.
Keeping each one here, with the public alternative or why there is none,
means that the release that moves one breaks this file only, and
``constraints-min.txt`` (tested in CI) says which releases it works with.
skorch and torch are used through their public API only.
"""

import inspect

# ``@_fit_context`` checks the parameters against ``_parameter_constraints``
# on fit and partial_fit (and skips the nested checks of estimators fitted
# inside). There is no public decorator; scikit-learn's own estimators and
# scikit-learn-contrib projects (imbalanced-learn) use this one.
from sklearn.base import _fit_context
from sklearn.utils import validation as _validation

# The parameter constraints (``Interval``, ``StrOptions``, ``Options``) and
# their check. scikit-learn has no public module for them; its estimator
# checks (``check_param_validation``) test estimators that declare them.
# ``InvalidParameterError`` is what a failed check raises (a ValueError and
# a TypeError), named here for the tests and the docs.
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    validate_parameter_constraints,
)

__all__ = [
    "Interval",
    "InvalidParameterError",
    "Options",
    "StrOptions",
    "check_sample_weight",
    "fit_context",
    "validate_params",
    "validate_parameter_constraints",
]

fit_context = _fit_context


def validate_params(estimator):
    """Check every parameter of ``estimator`` against its constraints.

    What ``@fit_context`` does on entry, for a call that it does not check
    (``partial_fit`` after the first call, when parameters may have changed).
    The same as scikit-learn's private ``BaseEstimator._validate_params``,
    written with the public ``get_params``.
    """
    validate_parameter_constraints(
        estimator._parameter_constraints,
        estimator.get_params(deep=False),
        caller_name=type(estimator).__name__,
    )


#: whether ``_check_sample_weight`` knows ``allow_all_zero_weights``
#: (scikit-learn 1.9 and later; before, it did not check the sum at all)
_ZERO_WEIGHTS_KEYWORD = (
    "allow_all_zero_weights"
    in inspect.signature(_validation._check_sample_weight).parameters
)


def check_sample_weight(sample_weight, X, *, dtype):
    """Non-negative, finite weights, one per row of ``X``, as ``dtype``.

    scikit-learn's private ``_check_sample_weight`` (there is no public
    one; every scikit-learn estimator with ``sample_weight`` calls it), with
    all-zero weights let through: the caller refuses them in its own words.
    """
    extra = {"allow_all_zero_weights": True} if _ZERO_WEIGHTS_KEYWORD else {}
    return _validation._check_sample_weight(
        sample_weight, X, dtype=dtype, ensure_non_negative=True, **extra
    )
