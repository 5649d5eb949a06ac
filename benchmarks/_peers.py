"""The selectors the benchmark scripts compare, one definition each.

Each function fits one method on ``X, y`` and returns ``(columns, note)``:
the indices of the ``k`` columns it keeps (a method that ranks the columns
gives its top ``k``) and a short note for the tables ("" when there is
nothing to say). ``seed`` is the method's random state; ``quick`` applies
:data:`QUICK`'s short training.

- sk_memsel: :func:`gates`, :func:`concrete` (built with their defaults, only
  ``k`` and ``random_state`` set);
- neural and kernel peers, installed apart (``pip install -c constraints.txt
  stg lassonet boruta skrebate pyHSICLasso``): :func:`stg`, :func:`lassonet`,
  :func:`boruta`, :func:`multisurf`, :func:`hsic`, with the settings of
  :data:`PEERS` (their READMEs' and examples'); call :func:`require` first,
  outside any timing: it imports the peer or raises :class:`NotInstalled`;
- scikit-learn one-liners: :func:`forest` (``SelectFromModel`` on a random
  forest), :func:`l1_logistic` (the L1 path), :func:`f_classif` and
  :func:`mutual_info` filters; :func:`mrmr`; :func:`random_columns`, the
  floor.
"""

import contextlib
import io
import time
import warnings

import numpy as np
import torch
from _data import stratified_rows
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_selection import SelectFromModel, mutual_info_classif
from sklearn.feature_selection import f_classif as _f_classif
from sklearn.linear_model import LogisticRegression

from sk_memsel import ConcreteAutoencoderSelector, StochasticGatesSelector

#: The peers' settings; ``k``, the seed and the data's sizes are added at run
#: time. ``bench_time_to_quality.py --peer-params`` overrides them.
PEERS = {
    # STG(...) and fit(X, y, nr_epochs=..., verbose=False); batch = all rows
    "stg": {
        "task_type": "classification",
        "hidden_dims": [60, 20],
        "activation": "tanh",
        "optimizer": "SGD",
        "learning_rate": 0.1,
        "sigma": 0.5,
        "lam": 0.5,
        "feature_selection": True,
        "device": "cpu",
        "nr_epochs": 5000,
    },
    # LassoNetClassifier(random_state=seed, torch_seed=seed, ...).path(X, y)
    "lassonet": {"verbose": 0},
    # BorutaPy(RandomForestClassifier(**boruta_forest), random_state=seed, ...)
    "boruta_forest": {"n_jobs": -1, "class_weight": "balanced", "max_depth": 5},
    "boruta": {"n_estimators": "auto"},
    # MultiSURF(n_features_to_select=k, ...)
    "multisurf": {"n_jobs": -1},
    # HSICLasso().classification(k, ...)
    "hsic": {"B": 20, "M": 3, "n_jobs": -1},
}

#: What ``--quick`` changes: short training everywhere.
QUICK = {
    "sk_memsel": {"max_epochs": 3},
    "stg": {"nr_epochs": 30},
    # lambda_start="auto" alone takes ~30 s (a search over many prox steps)
    "lassonet": {
        "n_iters": (20, 5),
        "patience": (5, 2),
        "lambda_start": 5.0,
        "path_multiplier": 1.5,
    },
    "boruta": {"max_iter": 8, "n_estimators": 50},
}

#: The distributions of the peers installed apart, for the reports.
PEER_DISTRIBUTIONS = ("stg", "lassonet", "Boruta", "skrebate", "pyHSICLasso")

#: The L1 path of :func:`l1_logistic`.
C_PATH = np.logspace(-3, 2, 21)


def peer_params(name, quick):
    """The settings of peer ``name`` (with ``--quick``'s changes)."""
    params = dict(PEERS[name])
    if quick:
        params.update(QUICK.get(name, {}))
    return params


def top(scores, k):
    """Indices of the ``k`` largest scores (NaN last, ties by index)."""
    scores = np.nan_to_num(np.asarray(scores, dtype=float), nan=-np.inf)
    return np.argsort(-scores, kind="stable")[:k]


@contextlib.contextmanager
def quiet():
    """Swallow what a peer prints (pyHSICLasso and lassonet talk)."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


@contextlib.contextmanager
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# --- importing the peers installed apart --------------------------------------


class NotInstalled(Exception):
    """A peer could not be imported."""


def _import(module, hint):
    try:
        return __import__(module, fromlist=["_"])
    except Exception as exc:  # ImportError, or a peer broken on import
        raise NotInstalled(f"{hint}: {type(exc).__name__}: {exc}") from exc


def _import_stg():
    # stg 0.1.2 uses collections.Sequence etc., gone since Python 3.10
    import collections
    import collections.abc

    for name in ("Iterable", "Mapping", "MutableMapping", "Sequence", "Set"):
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))
    return _import("stg", "pip install stg")


_MODULES = {
    "stg": _import_stg,
    "lassonet": lambda: _import("lassonet", "pip install lassonet"),
    "boruta": lambda: _import("boruta", "pip install boruta"),
    "multisurf": lambda: _import("skrebate", "pip install skrebate"),
    "hsic": lambda: _import("pyHSICLasso", "pip install pyHSICLasso"),
}


def require(method):
    """Import the peer ``method`` needs (if any) or raise NotInstalled."""
    if method in _MODULES:
        return _MODULES[method]()
    return None


# --- running a method ---------------------------------------------------------


def timed(select, *args):
    """``(value, seconds, caught)``: ``select(*args)``, its wall-clock time
    and the warnings it raised, each as ``"<class name>: <message>"``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        value = select(*args)
        seconds = time.perf_counter() - start
    return value, seconds, [f"{w.category.__name__}: {w.message}" for w in caught]


def warning_kinds(caught):
    """The class names of :func:`timed`'s warnings, each once, sorted."""
    return sorted({w.split(":")[0] for w in caught})


def with_kinds(note, kinds):
    """The note with the warnings' class names appended."""
    if not kinds:
        return note
    return ", ".join([note, *kinds]) if note else ", ".join(kinds)


def failed(exc):
    """The note of a method that raised ``exc``."""
    message = " ".join(str(exc).split())[:160]
    return f"failed: {type(exc).__name__}: {message}"


# --- sk_memsel ----------------------------------------------------------------


def _ours(quick):
    return dict(QUICK["sk_memsel"]) if quick else {}


def gates(X, y, k, seed, quick=False, redundancy=None):
    """``StochasticGatesSelector(k=k, random_state=seed)``, supervised."""
    params = _ours(quick)
    if redundancy is not None:
        params["redundancy"] = redundancy
    selector = StochasticGatesSelector(k=k, random_state=seed, **params)
    selector.fit(X, y)
    return selector.get_support(indices=True), f"{len(selector.history_)} epochs"


def concrete(X, y, k, seed, quick=False, supervised=False):
    """``ConcreteAutoencoderSelector(k=k, random_state=seed)``: ``fit(X)``, or
    ``fit(X, y)`` with ``objective="classification"`` when ``supervised``."""
    params = _ours(quick)
    if supervised:
        params["objective"] = "classification"
    selector = ConcreteAutoencoderSelector(k=k, random_state=seed, **params)
    if supervised:
        selector.fit(X, y)
    else:
        selector.fit(X)
    columns = np.unique(selector.selected_features_)
    note = f"{len(selector.history_)} epochs"
    if len(columns) < k:
        note += f", {len(columns)} distinct columns"
    return columns, note


def warm_up():
    """Fit each sk_memsel selector once on a few random rows, untimed.

    The first fit in a process pays one-off costs (PyTorch's lazy imports and
    kernels, the optimizer's first step) that no later fit pays; the peers
    that use PyTorch profit from this warm-up too.
    """
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(64, 10)), np.arange(64) % 2
    with no_warnings():
        StochasticGatesSelector(k=2, max_epochs=1, random_state=0).fit(X, y)
        ConcreteAutoencoderSelector(k=2, max_epochs=1, random_state=0).fit(X)


# --- peers installed apart ----------------------------------------------------


def stg(X, y, k, seed, quick=False):
    """STG (Yamada et al. 2020): the ``k`` columns of largest gate mean."""
    stg = _import_stg()
    torch.manual_seed(seed)  # STG ignores its random_state
    params = peer_params("stg", quick)
    epochs = params.pop("nr_epochs")
    params.setdefault("batch_size", X.shape[0])
    model = stg.STG(
        input_dim=X.shape[1],
        output_dim=len(np.unique(y)),
        random_state=seed,
        **params,
    )
    model.fit(X, y, nr_epochs=epochs, verbose=False)
    mu = model.get_gates(mode="raw")
    prob = model.get_gates(mode="prob")
    note = f"{epochs} epochs, {int(np.sum(prob > 0))} gates open"
    return top(mu, k), note


def lassonet(X, y, k, seed, quick=False):
    """LassoNet's whole path; the ``k`` columns that leave it last."""
    lassonet = require("lassonet")
    params = peer_params("lassonet", quick)
    model = lassonet.LassoNetClassifier(random_state=seed, torch_seed=seed, **params)
    with quiet():
        path = model.path(X, y, disable_lambda_warning=True)
    note = f"{len(path)} path steps"
    return top(model.feature_importances_.numpy(), k), note


def boruta(X, y, k, seed, quick=False, n_jobs=-1, ties="importance"):
    """BorutaPy as in its README; columns ranked by ``ranking_`` (confirmed,
    tentative, then rejected), ties broken by the median importance over the
    iterations (``ties="importance"``) or by index (``ties="index"``)."""
    boruta = require("boruta")
    forest = RandomForestClassifier(**{**PEERS["boruta_forest"], "n_jobs": n_jobs})
    selector = boruta.BorutaPy(
        forest, random_state=seed, **peer_params("boruta", quick)
    )
    selector.fit(X, y)
    if ties == "index":
        order = np.argsort(selector.ranking_, kind="stable")
    else:
        history = selector.importance_history_[1:]
        with np.errstate(all="ignore"), no_warnings():
            median = np.nan_to_num(np.nanmedian(history, axis=0), nan=-np.inf)
        order = np.lexsort((-median, selector.ranking_))
    note = (
        f"{int(selector.support_.sum())} confirmed, "
        f"{int(selector.support_weak_.sum())} tentative"
    )
    return order[:k], note


def multisurf(X, y, k, seed, rows=None):
    """MultiSURF (skrebate), on a stratified subsample of ``rows`` rows."""
    skrebate = require("multisurf")
    note = ""
    if rows and rows < len(y):
        keep = stratified_rows(y, rows, seed)
        X, y = X[keep], y[keep]
        note = f"{len(keep):,} rows (stratified subsample)"
    selector = skrebate.MultiSURF(n_features_to_select=k, **PEERS["multisurf"])
    selector.fit(X, y)
    return top(selector.feature_importances_, k), note


def hsic(X, y, k):
    """HSIC Lasso: ``classification(k)`` with :data:`PEERS`' settings."""
    pyHSICLasso = require("hsic")
    model = pyHSICLasso.HSICLasso()
    with quiet():
        model.input(X, y)
        model.classification(k, **PEERS["hsic"])
    columns = np.asarray(model.get_index(), dtype=int)
    note = "" if len(columns) == k else f"{len(columns)} columns"
    return columns, note


# --- scikit-learn and mRMR ----------------------------------------------------


def forest(X, y, k, seed):
    """``SelectFromModel(RandomForestClassifier(n_estimators=500))``."""
    rf = RandomForestClassifier(n_estimators=500, random_state=seed)
    sfm = SelectFromModel(rf, max_features=k, threshold=-np.inf).fit(X, y)
    return top(sfm.estimator_.feature_importances_, k), ""


def l1_logistic(X, y, ks):
    """``{k: columns}``: along :data:`C_PATH`, the first C whose L1 logistic
    regression keeps at least ``k`` columns, and its top ``k`` by |coef|.

    ``random_state=0``: saga shuffles the rows, and without a seed it drew
    from NumPy's global state, so the columns changed from run to run."""
    coefs = []
    for C in C_PATH:
        lr = LogisticRegression(
            l1_ratio=1.0, solver="saga", C=C, max_iter=500, tol=1e-3, random_state=0
        )
        with no_warnings():
            coefs.append(np.abs(lr.fit(X, y).coef_).max(axis=0))
        if (coefs[-1] > 0).sum() >= max(ks):
            break
    out = {}
    for k in ks:
        score = next((c for c in coefs if (c > 0).sum() >= k), coefs[-1])
        out[k] = top(score, k)
    return out


def mrmr(X, y, k):
    """mRMR (``mrmr_selection.mrmr_classif``), one job."""
    import pandas as pd
    from mrmr import mrmr_classif

    order = mrmr_classif(
        X=pd.DataFrame(X), y=pd.Series(y), K=k, n_jobs=1, show_progress=False
    )
    return np.asarray(order), ""


def f_classif(X, y, k):
    """The top ``k`` of the ANOVA F statistic (constant columns last)."""
    with np.errstate(all="ignore"), no_warnings():
        scores = _f_classif(X, y)[0]
    return top(scores, k), ""


def mutual_info(X, y, k, seed):
    """The top ``k`` of ``mutual_info_classif(random_state=seed)``."""
    return top(mutual_info_classif(X, y, random_state=seed), k), ""


def random_columns(n_columns, k, seed):
    """``k`` columns drawn by ``RandomState(seed)``, in the order drawn."""
    return np.random.RandomState(seed).permutation(n_columns)[:k], ""
