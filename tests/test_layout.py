"""The same values give the same results, however the caller holds them.

A DataFrame (column-major inside), a C- or Fortran-ordered array, a
read-only array, a strided view and float32 values of the same numbers must
give every estimator the same fit and the same outputs, bit for bit: PyTorch
may sum a product in another order for another memory layout, so every path
reads input into one layout (see ``_validate_X`` and ``_data._as_tensor``).
"""

import numpy as np
import pandas as pd
import pytest

from ._toy import ToyRegressor
from .test_common import make, needs_y, public_estimators


def _data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 8))
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    return X, y


def _read_only(X):
    X = X.copy()
    X.flags.writeable = False
    return X


def _strided(X):
    wide = np.zeros((X.shape[0] * 2, X.shape[1] * 3))
    wide[::2, ::3] = X
    view = wide[::2, ::3]
    assert not view.flags.c_contiguous and not view.flags.f_contiguous
    return view


LAYOUTS = {
    "C": np.ascontiguousarray,
    "Fortran": np.asfortranarray,
    "DataFrame": lambda X: pd.DataFrame(X, columns=[f"c{i}" for i in range(8)]),
    "read-only": _read_only,
    "strided": _strided,
    "float32": lambda X: X.astype(np.float32),  # what training reads anyway
}


def _outputs(est, X):
    """Everything a fitted estimator gives for ``X``, as arrays."""
    out = {}
    for name in ("transform", "predict", "predict_proba"):
        if hasattr(est, name):
            out[name] = np.asarray(getattr(est, name)(X))
    # a selector's transform keeps the input's dtype, as scikit-learn's do:
    # float32 input gives the same columns, in float32
    if "transform" in out:
        out["transform"] = out["transform"].astype(np.float32)
    if hasattr(est, "get_support"):
        out["support"] = est.get_support(indices=True)
        out["importances"] = est.feature_importances_
    return out


def _assert_same(got, expected, what):
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], value, err_msg=f"{what}: {key}")


# a DataFrame given to a model fitted on an array, and the other way round
@pytest.mark.filterwarnings("ignore:X has feature names")
@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
@pytest.mark.parametrize(
    "cls", [ToyRegressor, *public_estimators()], ids=lambda c: c.__name__
)
def test_results_do_not_depend_on_the_layout_of_the_input(cls):
    X, y = _data()
    if cls is ToyRegressor:
        y = X[:, 0] - 2 * X[:, 1]
    args = (y,) if cls is ToyRegressor or needs_y(make(cls)) else ()
    reference = make(cls).fit(X, *args)
    expected = _outputs(reference, X)
    for name, layout in LAYOUTS.items():
        # the fitted model reads every layout the same way ...
        _assert_same(_outputs(reference, layout(X)), expected, f"predict on {name}")
        # ... and a fit on any layout is the same fit
        fitted = make(cls).fit(layout(X), *args)
        _assert_same(_outputs(fitted, X), expected, f"fit on {name}")
