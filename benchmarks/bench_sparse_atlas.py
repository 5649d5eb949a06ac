"""Sparse input at single-cell scale: memory, speed and the genes selected.

Run from the repository root::

    python benchmarks/bench_sparse_atlas.py --rows 200000 --genes 20000 \\
        --json atlas.json

A generated counts matrix shaped like a single-cell atlas, ``--rows``
cells x ``--genes`` genes (the issue's 200,000 x 20,000), of ``--types`` cell
types, ``log1p`` of negative-binomial counts (dispersion
``r = 2``) about 5 % non-zero, each type with ``--markers-per-type`` planted
marker genes (mean times ``--fold`` in that type only), the other genes'
means drawn from a Gamma distribution and shifted slightly per type. Each
selector selects ``--k`` genes:

- ``StochasticGatesSelector(k)`` learning the cell type, and
  ``ConcreteAutoencoderSelector(k)`` reconstructing the genes (unsupervised),
  both with their defaults and ``random_state=0``, fitted on the first 90 %
  of the cells, each in a fresh process that loads the CSR matrix from disk:
  its peak resident memory (``VmHWM``) against the CSR matrix's own
  bytes and the process's memory before loading it (interpreter, NumPy,
  PyTorch: the fixed part), fit time, epochs;
- rows per second of one epoch (``max_epochs=1``, no settling) on the
  first ``--dense-rows`` cells, CSR against the same rows as a dense array,
  in the same process one after the other;
- the genes chosen against the planted markers (recall: the share of the
  markers selected) and for telling the cell types apart (accuracy of a
  logistic regression trained on 10,000 of the fitted cells' selected genes
  and tested on the held-out 10 %), against the ``k`` most highly variable
  genes by scanpy's ``highly_variable_genes(flavor="seurat")`` (the formula
  of that flavour when scanpy is not installed: dispersion, variance over
  mean of the counts, normalised within 20 bins of mean expression) and
  against ``k`` genes drawn at random (the mean over 5 draws).

Each fit's process runs with ``MALLOC_MMAP_THRESHOLD_=1048576``
(``--mmap-threshold``; 0 for glibc's default). By default glibc raises its
threshold for mapping memory to the size of the largest block freed, so after
the first step the 20 MB dense batches and the network's activations of that
size come from the heap, which fragments: on 40,000 of the cells, the gates
selector's resident memory rose from 0.73 to 1.14 GiB through one epoch with
glibc's default, against 0.95 GiB, flat, with the threshold fixed (sampled
every 20 ms in the fitting process). Set the same variable where you fit on
large sparse data. A fit's peak is read from ``VmHWM`` (see
:func:`max_rss_bytes`).

The matrix is generated once into ``--cache`` (``atlas-<rows>x<genes>/``,
one ``.npy`` file per array, about 8 bytes per non-zero value) and reused;
each fit's process reads only the rows it fits on.

``bench_sparse_first_layer.py`` times the first layer alone, densified
against sparse products.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import scipy.sparse as sp
import torch

#: the selectors' settings (their defaults, apart from these)
SELECTORS = ("StochasticGatesSelector", "ConcreteAutoencoderSelector")


def load_average():
    return os.getloadavg()[0]


def csr_bytes(X):
    return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes


def max_rss_bytes():
    """This process's peak resident memory since it started its program.

    ``VmHWM`` of ``/proc/self/status``, not ``getrusage``'s ``ru_maxrss``:
    Linux carries the latter over from the parent through ``fork`` and
    ``exec``, so a child started by a process holding the matrix would report
    the parent's memory (the first runs of this script did).
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def make_selector(name, k, **params):
    from sk_memsel import ConcreteAutoencoderSelector, StochasticGatesSelector

    if name == "StochasticGatesSelector":
        return StochasticGatesSelector(k=k, random_state=0, **params)
    return ConcreteAutoencoderSelector(k=k, random_state=0, **params)


def read_npy(path, count=-1):
    """The first ``count`` values of a ``.npy`` file (all with -1), read
    into memory: no mapping of the file stays resident next to the copy."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            _, _, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            _, _, dtype = np.lib.format.read_array_header_2_0(f)
        return np.fromfile(f, dtype=dtype, count=count)


def load_atlas(folder, rows=None):
    """The cached matrix (its first ``rows`` rows: only they are read),
    types and markers."""
    shape = read_npy(os.path.join(folder, "shape.npy"))
    n_rows = int(shape[0]) if rows is None else rows
    indptr = read_npy(os.path.join(folder, "indptr.npy"), n_rows + 1)
    end = int(indptr[-1])
    X = sp.csr_array(
        (
            read_npy(os.path.join(folder, "data.npy"), end),
            read_npy(os.path.join(folder, "indices.npy"), end),
            indptr,
        ),
        shape=(n_rows, int(shape[1])),
    )
    types = read_npy(os.path.join(folder, "types.npy"), n_rows)
    return X, types, read_npy(os.path.join(folder, "markers.npy"))


def child_fit(args):
    """One selector fitted in this fresh process; prints a JSON line."""
    before = current_rss_bytes()  # interpreter, NumPy, SciPy, PyTorch
    import sk_memsel  # noqa: F401  (imported before measuring: fixed memory)

    fixed = current_rss_bytes()
    n_cells = int(read_npy(os.path.join(args.cache_dir, "shape.npy"))[0])
    X, types, _ = load_atlas(args.cache_dir, rows=int(0.9 * n_cells))
    with_data = current_rss_bytes()
    params = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
    selector = make_selector(args.child, args.k, verbose=0, **params)
    start = time.perf_counter()
    if args.child == "StochasticGatesSelector":
        selector.fit(X, types)
    else:
        selector.fit(X)
    seconds = time.perf_counter() - start
    result = {
        "selector": args.child,
        "csr_bytes": csr_bytes(X),
        "rss_start": before,
        "rss_fixed": fixed,
        "rss_with_data": with_data,
        "peak_rss": max_rss_bytes(),
        "fit_seconds": round(seconds, 1),
        "epochs": selector.n_epochs_,
        "stop_reason": selector.history_[-1, "stop_reason"],
        "selected": selector.get_support(indices=True).tolist(),
        "load": round(load_average(), 2),
    }
    print("RESULT " + json.dumps(result), flush=True)


def rows_per_second(X, y, name, k, n_rows):
    """One epoch on the first ``n_rows`` rows, CSR and dense, same settings."""
    from sklearn.base import clone

    rows = slice(0, n_rows)
    sparse_rows, labels = X[rows], y[rows]
    dense_rows = sparse_rows.toarray()
    params = {"max_epochs": 1, "settle_steps": None}
    if name == "ConcreteAutoencoderSelector":  # one epoch cannot settle
        params["convergence_threshold"] = 0.0
    selector = make_selector(name, k, **params)

    def fit(data, labels):
        est = clone(selector)
        start = time.perf_counter()
        if name == "StochasticGatesSelector":
            est.fit(data, labels)
        else:
            est.fit(data)
        return time.perf_counter() - start

    # a first fit pays for what training imports lazily (the fused optimizer
    # imports torch._dynamo): not counted
    fit(sparse_rows[:512], labels[:512])
    out = {}
    layouts = (("dense", dense_rows), ("csr", sparse_rows))
    seconds = {"dense": [], "csr": []}
    for _ in range(2):  # alternately, the best of two each
        for layout, data in layouts:
            seconds[layout].append(fit(data, labels))
    for layout, _ in layouts:
        best = min(seconds[layout])
        out[layout] = {
            "rows_per_second": round(n_rows / best),
            "load": round(load_average(), 2),
        }
        print(
            f"  {name:28s} {layout:5s} {n_rows / best:9.0f} rows/s "
            f"(load {load_average():.2f})",
            flush=True,
        )
    out["csr_over_dense"] = round(
        out["csr"]["rows_per_second"] / out["dense"]["rows_per_second"], 2
    )
    return out


def highly_variable(X, k):
    """The ``k`` most highly variable genes, scanpy's "seurat" flavour."""
    try:
        import anndata
        import scanpy as sc

        adata = anndata.AnnData(sp.csr_matrix(X, dtype=np.float32))
        table = sc.pp.highly_variable_genes(
            adata, flavor="seurat", n_top_genes=k, inplace=False
        )
        return np.flatnonzero(table["highly_variable"].to_numpy()), "scanpy"
    except ImportError:
        pass
    # the formula of the "seurat" flavour, on the counts (expm1 of log1p)
    counts = X.copy()
    counts.data = np.expm1(counts.data.astype(np.float64))
    mean = np.asarray(counts.mean(axis=0)).ravel()
    square = counts.multiply(counts)
    var = (np.asarray(square.mean(axis=0)).ravel() - mean**2) * (
        X.shape[0] / (X.shape[0] - 1)
    )
    dispersion = np.log(np.where(mean > 0, var / np.maximum(mean, 1e-12), 1e-12))
    log_mean = np.log1p(mean)
    bins = np.digitize(log_mean, np.histogram_bin_edges(log_mean, 20)[1:-1])
    normalised = np.zeros_like(dispersion)
    for b in np.unique(bins):
        inside = bins == b
        spread = dispersion[inside].std(ddof=1) if inside.sum() > 1 else 0.0
        centre = dispersion[inside].mean()
        normalised[inside] = (dispersion[inside] - centre) / (spread or 1.0)
    return np.sort(np.argsort(-normalised, kind="stable")[:k]), "formula"


def accuracy(X, types, genes, n_train=10_000):
    from sklearn.linear_model import LogisticRegression

    n_fit = int(0.9 * X.shape[0])
    train = np.linspace(0, n_fit - 1, min(n_train, n_fit)).astype(int)
    test = np.arange(n_fit, X.shape[0])
    model = LogisticRegression(max_iter=2000)
    model.fit(X[train][:, genes].toarray(), types[train])
    return float(model.score(X[test][:, genes].toarray(), types[test]))


def atlas(args):
    # imported here, not at the top: a child process measures the memory of
    # the interpreter, NumPy, SciPy and PyTorch before it imports sk_memsel
    from _data import generate_atlas
    from _report import cores_text

    folder = os.path.join(args.cache, f"atlas-{args.rows}x{args.genes}")
    start = time.perf_counter()
    if not os.path.exists(os.path.join(folder, "markers.npy")):
        os.makedirs(folder, exist_ok=True)
        X, types, markers = generate_atlas(
            args.rows, args.genes, args.types, args.markers_per_type, args.fold
        )
        arrays = {"data": X.data, "indices": X.indices, "indptr": X.indptr}
        arrays.update(shape=np.array(X.shape), types=types, markers=markers)
        for name, array in arrays.items():  # markers last: the cache is whole
            np.save(os.path.join(folder, f"{name}.npy"), array)
        del X
        print(f"generated in {time.perf_counter() - start:.0f} s", flush=True)
    X, types, markers = load_atlas(folder)
    report = {
        "machine": cores_text(),
        "torch": torch.__version__,
        "shape": list(X.shape),
        "nonzero_share": round(X.nnz / (X.shape[0] * X.shape[1]), 4),
        "csr_bytes": csr_bytes(X),
        "k": args.k,
        "markers": len(markers),
        "fits": {},
        "mmap_threshold": args.mmap_threshold,
        "speed": {},
        "quality": {},
    }
    print(
        f"{X.shape[0]} x {X.shape[1]}, {100 * report['nonzero_share']:.1f} % "
        f"non-zero, CSR {csr_bytes(X) / 2**30:.2f} GiB, {len(markers)} markers",
        flush=True,
    )

    # memory and the selection: a fresh process per selector
    for name in args.selectors:
        command = [sys.executable, __file__, "--child", name]
        command += ["--cache-dir", folder, "--k", str(args.k)]
        if args.max_epochs is not None:
            command += ["--max-epochs", str(args.max_epochs)]
        env = dict(os.environ)
        if args.mmap_threshold:
            env["MALLOC_MMAP_THRESHOLD_"] = str(args.mmap_threshold)
        done = subprocess.run(
            command, capture_output=True, text=True, check=False, env=env
        )
        line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
        if not line:
            print(done.stdout[-2000:], done.stderr[-4000:])
            raise RuntimeError(f"the fit of {name} failed")
        fit = json.loads(line[0][len("RESULT ") :])
        extra = fit["peak_rss"] - fit["rss_fixed"]
        fit["peak_over_csr"] = round(extra / fit["csr_bytes"], 2)
        report["fits"][name] = fit
        print(
            f"{name:28s} fit {fit['fit_seconds']:7.0f} s, {fit['epochs']} epochs "
            f"({fit['stop_reason']}); peak {fit['peak_rss'] / 2**30:.2f} GiB = "
            f"fixed {fit['rss_fixed'] / 2**30:.2f} + "
            f"{fit['peak_over_csr']:.2f} x CSR {fit['csr_bytes'] / 2**30:.2f} GiB "
            f"(load {fit['load']:.2f})",
            flush=True,
        )

    # speed: the same rows, dense and CSR
    n_rows = min(args.dense_rows, X.shape[0])
    print(f"one epoch on {n_rows} rows, dense then CSR:", flush=True)
    for name in args.selectors:
        report["speed"][name] = rows_per_second(X, types, name, args.k, n_rows)

    # quality: markers recovered, cell types told apart
    hvg, how = highly_variable(X[: int(0.9 * X.shape[0])], args.k)
    rng = np.random.default_rng(0)
    choices = {name: np.array(fit["selected"]) for name, fit in report["fits"].items()}
    choices[f"highly variable ({how})"] = hvg
    for name, genes in choices.items():
        recall = np.isin(markers, genes).mean()
        report["quality"][name] = {
            "marker_recall": round(float(recall), 3),
            "accuracy": round(accuracy(X, types, genes), 3),
        }
    randoms = [rng.choice(X.shape[1], args.k, replace=False) for _ in range(5)]
    recalls = [np.isin(markers, genes).mean() for genes in randoms]
    accuracies = [accuracy(X, types, genes) for genes in randoms]
    report["quality"]["random genes (mean of 5)"] = {
        "marker_recall": round(float(np.mean(recalls)), 3),
        "accuracy": round(float(np.mean(accuracies)), 3),
    }
    for name, row in report["quality"].items():
        print(
            f"{name:32s} markers {row['marker_recall']:.3f}  "
            f"accuracy {row['accuracy']:.3f}",
            flush=True,
        )
    report["load_end"] = round(load_average(), 2)
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument("--types", type=int, default=10)
    parser.add_argument("--markers-per-type", type=int, default=20)
    parser.add_argument("--fold", type=float, default=6.0)
    parser.add_argument("--k", type=int, default=200)
    parser.add_argument("--dense-rows", type=int, default=20_000)
    parser.add_argument("--selectors", nargs="+", default=list(SELECTORS))
    parser.add_argument("--cache", default="/tmp/sk_memsel_bench")
    # glibc's threshold for mapping memory (see the module docstring); 0
    # leaves glibc's default, whose threshold rises with the batches
    parser.add_argument("--mmap-threshold", type=int, default=2**20)
    # fewer epochs than the default, to measure memory alone (it does not
    # grow with the epochs once the allocator's threshold is fixed)
    parser.add_argument(
        "--max-epochs",
        type=int,
        default=None,
        help="max_epochs of the fits in fresh processes (default: the selectors')",
    )
    parser.add_argument("--json")
    # one fit, in the fresh process that ``atlas`` starts for it
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_fit(args)
        return
    print(f"load {load_average():.2f} at the start", flush=True)
    report = atlas(args)
    if args.json:
        from _report import save_json

        save_json(args.json, report)


if __name__ == "__main__":
    main()
