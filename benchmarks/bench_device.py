"""Fit time of both selectors on one device: MNIST and a large synthetic set.

Run it once per device and compare the two reports (the GPU run on a machine
with a GPU, the CPU run on the 2-core machine of the other benchmarks)::

    python benchmarks/bench_device.py --device cpu  --json cpu.json
    python benchmarks/bench_device.py --device cuda --json cuda.json

What it measures, for ``ConcreteAutoencoderSelector(k=50)`` and
``StochasticGatesSelector(k=50)``, both with their defaults apart from
``max_epochs``, ``device`` and ``random_state=0``:

- ``mnist``: the 4,000 training digits of the MNIST benchmark
  (``bench_concrete_mnist.py``), ``--mnist-epochs`` epochs (default: each
  selector's own default), whole fit in seconds;
- ``synthetic``: ``--rows`` x ``--columns`` (default 200,000 x 2,000) float32
  standard normal values, the target a sign of the sum of 10 of the columns,
  ``--synthetic-epochs`` epochs (default 2): whole fit and seconds per epoch
  (the fit divided by the epochs, as the selectors validate nothing here).

- ``sparse``: a CSR matrix shaped like single-cell counts (the generator of
  ``bench_sparse_atlas.py``, ``_data.generate_atlas``: ``--sparse-rows`` x
  ``--sparse-genes``, default 50,000 x 20,000, about 5 % non-zero,
  ``log1p`` of negative-binomial counts of 10 cell types), the target the
  cell type, ``k=200``, ``--sparse-epochs`` epochs (default 1) with
  ``settle_steps=None``: whole fit and seconds per epoch. On a GPU each
  batch travels as a sparse tensor and is densified there; ``--sparse-rows
  0`` leaves it out.

Seconds per epoch are what to compare between devices; a full fit on the
synthetic set is that times the number of epochs a user trains for.
"""

import argparse
import time

import numpy as np
import torch
from _data import generate_atlas, mnist_train
from _report import cores_text, save_json

from sk_memsel import ConcreteAutoencoderSelector, StochasticGatesSelector


def synthetic(rows, columns, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, columns), dtype=np.float32)
    y = (X[:, :10].sum(axis=1) > 0).astype(np.int64)
    return X, y


def selectors(device, max_epochs, k=50, **params):
    extra = {} if max_epochs is None else {"max_epochs": max_epochs}
    common = {"device": device, "random_state": 0, **extra, **params}
    return {
        "ConcreteAutoencoderSelector": ConcreteAutoencoderSelector(
            k=k, convergence_threshold=0.0, **common
        ),
        "StochasticGatesSelector": StochasticGatesSelector(k=k, **common),
    }


def timed_fit(selector, X, y):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    selector.fit(X, y)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--mnist-epochs", type=int, default=None)
    parser.add_argument("--synthetic-epochs", type=int, default=2)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--columns", type=int, default=2_000)
    parser.add_argument("--sparse-rows", type=int, default=50_000)
    parser.add_argument("--sparse-genes", type=int, default=20_000)
    parser.add_argument("--sparse-epochs", type=int, default=1)
    parser.add_argument("--json", help="also write the report to this file")
    args = parser.parse_args()

    gpu = torch.cuda.get_device_name() if args.device.startswith("cuda") else None
    report = {
        "device": args.device,
        "machine": gpu or cores_text(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "runs": [],
    }
    X, y = mnist_train()
    data = {"mnist": ((X.astype(np.float32), y), args.mnist_epochs, {})}
    data["synthetic"] = (
        synthetic(args.rows, args.columns),
        args.synthetic_epochs,
        {},
    )
    if args.sparse_rows:
        X, types, _ = generate_atlas(args.sparse_rows, args.sparse_genes, 10, 20, 6.0)
        data["sparse"] = (
            (X, types),
            args.sparse_epochs,
            {"k": 200, "settle_steps": None},
        )
    for name, ((X, y), epochs, params) in data.items():
        for label, selector in selectors(args.device, epochs, **params).items():
            seconds = timed_fit(selector, X, y)
            n_epochs = len(selector.history_)
            row = {
                "data": name,
                "shape": list(X.shape),
                "selector": label,
                "epochs": n_epochs,
                "fit_seconds": round(seconds, 2),
                "seconds_per_epoch": round(seconds / n_epochs, 3),
            }
            report["runs"].append(row)
            print(
                f"{name:9s} {label:28s} {n_epochs:4d} epochs "
                f"{seconds:9.2f} s  {seconds / n_epochs:8.3f} s/epoch",
                flush=True,
            )
    if args.json:
        save_json(args.json, report)


if __name__ == "__main__":
    main()
