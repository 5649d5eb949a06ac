"""How should a sparse batch enter the first layer? Densify, or multiply it.

A training step's first layer (forward and backward) with a batch of
``--batch`` rows of a CSR matrix (``--genes`` columns, ``--density``
non-zero), each way on one thread, on the same rows:

- ``densify``: the rows made dense (SciPy), then the dense product; what
  the selectors do;
- ``sparse``: the rows as a torch sparse CSR tensor, multiplied directly (for
  the gates, their per-row gate values gathered at the non-zero entries:
  the gates draw one value per row and feature, so ``(X * g) @ W`` is not
  ``X @ (g[:, None] * W)``);
- ``shared gate`` (gates only): ``X @ (g[:, None] * W)``, the product one
  gate sample shared by the batch would allow; for reference, as our gates
  do not share their samples.

Run from the repository root::

    python benchmarks/bench_sparse_first_layer.py
    python benchmarks/bench_sparse_first_layer.py --batch 512 --json layer.json

``bench_sparse_atlas.py`` measures the selectors on a whole generated
single-cell atlas.
"""

import argparse
import os
import time

import numpy as np
import scipy.sparse as sp
import torch


def load_average():
    return os.getloadavg()[0]


def first_layer(args):
    torch.set_num_threads(1)
    X = sp.random(
        args.batch * 8,
        args.genes,
        density=args.density,
        format="csr",
        dtype=np.float32,
        random_state=0,
    )
    batches = [X[i * args.batch : (i + 1) * args.batch] for i in range(8)]

    def csr_tensor(block):
        return torch.sparse_csr_tensor(
            torch.from_numpy(block.indptr.astype(np.int64)),
            torch.from_numpy(block.indices.astype(np.int64)),
            torch.from_numpy(block.data),
            size=block.shape,
            check_invariants=False,
        )

    def time_it(step):
        best = np.inf
        for _ in range(3):
            start = time.perf_counter()
            for block in batches:
                step(block)
            best = min(best, (time.perf_counter() - start) / len(batches))
        return best * 1e3

    rows = []
    for width in (64, 200):
        W = torch.randn(args.genes, width, requires_grad=True)
        mu = torch.zeros(args.genes, requires_grad=True)

        def concrete_dense(block, W=W):
            (torch.from_numpy(block.toarray()) @ W).sum().backward()

        def concrete_sparse(block, W=W):
            (csr_tensor(block) @ W).sum().backward()

        def gates_dense(block, W=W, mu=mu):
            g = (mu + torch.randn(block.shape[0], args.genes)).clamp(0, 1)
            ((torch.from_numpy(block.toarray()) * g) @ W).sum().backward()

        def gates_sparse(block, W=W, mu=mu):
            g = (mu + torch.randn(block.shape[0], args.genes)).clamp(0, 1)
            row = torch.from_numpy(
                np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
            )
            col = torch.from_numpy(block.indices.astype(np.int64))
            values = torch.from_numpy(block.data) * g[row, col]
            x = torch.sparse_coo_tensor(torch.stack([row, col]), values, g.shape)
            torch.sparse.mm(x, W).sum().backward()

        def gates_shared(block, W=W, mu=mu):
            g = (mu + torch.randn(args.genes)).clamp(0, 1)
            (csr_tensor(block) @ (g[:, None] * W)).sum().backward()

        for layer, ways in (
            ("concrete", {"densify": concrete_dense, "sparse": concrete_sparse}),
            (
                "gates",
                {
                    "densify": gates_dense,
                    "sparse": gates_sparse,
                    "shared gate": gates_shared,
                },
            ),
        ):
            base = None
            for way, step in ways.items():
                ms = time_it(step)
                base = ms if base is None else base
                rows.append(
                    {
                        "layer": layer,
                        "width": width,
                        "way": way,
                        "ms_per_batch": round(ms, 2),
                        "vs_densify": round(ms / base, 2),
                        "load": round(load_average(), 2),
                    }
                )
                print(
                    f"{layer:9s} width {width:3d}  {way:12s} {ms:8.2f} ms/batch "
                    f"({ms / base:.2f} x densify)  load {load_average():.2f}",
                    flush=True,
                )
    return {"first_layer": rows, "batch": args.batch, "genes": args.genes}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument("--density", type=float, default=0.05)
    parser.add_argument("--json")
    args = parser.parse_args()
    print(f"load {load_average():.2f} at the start", flush=True)
    report = first_layer(args)
    if args.json:
        from _report import save_json

        save_json(args.json, report)


if __name__ == "__main__":
    main()
