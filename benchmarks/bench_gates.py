"""Benchmark StochasticGatesSelector: MADELON-like data, two moons, speed.

What it measures, all in the same run:

- MADELON-like data (``_data.madelon``), one draw per ``--seeds`` value::

      make_classification(n_samples=2600, n_features=500, n_informative=5,
                          n_redundant=15, n_repeated=0,
                          n_clusters_per_class=16, flip_y=0.01,
                          shuffle=False, random_state=seed)

  The 20 relevant columns are the first 20; the columns are then permuted
  (``RandomState(seed).permutation``), split 2000/600 with
  ``train_test_split(..., random_state=seed)`` and standardised on the
  training part. ``StochasticGatesSelector(k=20, random_state=0)`` with its
  defaults is fitted; the report gives how many of the 20 relevant columns it
  keeps, the largest gate probability of a noise column, and the test
  accuracy of ``ExtraTreesClassifier(200,
  random_state=0)`` on its 20 columns against all 500 columns and the top 20
  of ``f_classif`` and of ``mutual_info_classif``.
- Two moons (``make_moons(n_samples=1000, noise=0.1, random_state=seed)``)
  with 18 N(0, 1) noise columns, standardised: whether ``k=2`` finds the two
  moon columns, their gate probabilities, and the largest gate probability
  of a noise column. Once with the defaults and ``k=2`` (training stops once
  the top 2 has settled, with the probabilities still moving), once with
  ``--moons-params`` (by default ``k=None``: the gates at or above 0.5 are
  kept and training runs until every gate has stopped moving).
- Speed: the selector's median epoch time (skorch history ``dur``) against a
  bare PyTorch loop that trains the same gated network (same module, Adam
  with the same two learning rates, batch size, shuffling, penalty) on the
  same data. The bare epochs are interleaved with the fit (one after every
  ``n_epochs // --bare-epochs`` epochs, from a callback that runs after
  skorch's epoch timer), so both see the same machine load throughout; the
  reported fit time leaves them out. Two ratios are reported: the median
  epoch (skorch's ``dur``, which times only the epoch's batches) and the
  whole fit per epoch (input checks, building the network, every callback),
  both against the bare loop's mean epoch. A tiny fit runs first, so the
  one-time cost of a process's first fit (torch's optimizers import
  ``torch._dynamo`` on first use, about 1.4 s here) is reported on its own
  and counted in neither.

Run from the repository root::

    python benchmarks/bench_gates.py --seeds 0 1 2 3 --threads 1
"""

import argparse
import json
import time

import numpy as np
import torch
from _data import forest_accuracy, madelon
from _report import save_json, torch_line
from sklearn.datasets import make_moons
from sklearn.feature_selection import f_classif, mutual_info_classif
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback

from sk_memsel import StochasticGatesSelector
from sk_memsel.nn import GatedMLP, GaussianStochasticGates, HardConcreteGates


def moons(seed):
    X, y = make_moons(n_samples=1000, noise=0.1, random_state=seed)
    noise = np.random.RandomState(seed).normal(size=(1000, 18))
    return StandardScaler().fit_transform(np.hstack([X, noise])), y


class BareLoop:
    """A plain PyTorch loop over the selector's network, one epoch at a time.

    The network is built the way ``selector.fit`` builds it (``selector``
    need not be fitted), from new weights, and trained with Adam (the gates
    at ``gate_lr``, the rest at ``lr``), the same batch size, shuffling and
    penalty, with no skorch in between.
    """

    def __init__(self, selector, X, y):
        n_features = X.shape[1]
        if selector.gate == "gaussian":
            gates = GaussianStochasticGates(
                n_features,
                reg_weight=selector.reg_weight,
                sigma=selector.sigma,
                reg_reduction=selector.reg_reduction,
            )
        else:
            gates = HardConcreteGates(
                n_features,
                reg_weight=selector.reg_weight,
                temperature=selector.temperature,
                reg_reduction=selector.reg_reduction,
            )
        self.net = GatedMLP(
            gates,
            n_features,
            len(np.unique(y)),
            hidden_layer_sizes=selector.hidden_layer_sizes,
            activation=selector.activation,
        )
        rest = [
            p for name, p in self.net.named_parameters() if not name.startswith("gates")
        ]
        groups = [
            {"params": list(gates.parameters()), "lr": selector.gate_lr},
            {"params": rest},
        ]
        self.optimizer = torch.optim.Adam(groups, lr=selector.lr)
        self.X = torch.from_numpy(X.astype(np.float32))
        self.y = torch.from_numpy(y.astype(np.int64))
        self.batch_size = selector.batch_size
        self.criterion = torch.nn.CrossEntropyLoss()
        self.times = []

    def epoch(self):
        """Train one epoch; record and return its duration in seconds."""
        # its own random stream, so the selector's fit draws what it would
        # draw without the bare loop running beside it
        with torch.random.fork_rng():
            torch.manual_seed(len(self.times))
            start = time.perf_counter()
            self.net.train()
            n, bs = len(self.X), self.batch_size
            order = torch.randperm(n)
            for first in range(0, n, bs):
                rows = order[first : first + bs]
                self.optimizer.zero_grad()
                loss = self.criterion(self.net(self.X[rows]), self.y[rows])
                loss = loss + self.net.penalty()
                loss.backward()
                self.optimizer.step()
            self.times.append(time.perf_counter() - start)
        return self.times[-1]


class InterleavedBareLoop(Callback):
    """Run one bare-loop epoch after every ``every``-th epoch of the fit.

    skorch's epoch timer stops before this callback runs, so the bare epochs
    are not counted in the selector's epoch times; the two alternate on the
    same machine state through the whole fit.
    """

    def __init__(self, loop, every=1):
        self.loop = loop
        self.every = every

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) % self.every == 0:
            self.loop.epoch()


def timed_fit(selector, X, y, n_bare_epochs):
    """Fit ``selector`` with bare-loop epochs interleaved; return timings."""
    # the number of epochs the fit will run (max_epochs="auto" depends on X)
    every = max(1, selector._n_epochs(len(X)) // max(1, n_bare_epochs))
    loop = BareLoop(selector, X, y)
    selector.set_params(callbacks=[("bare_loop", InterleavedBareLoop(loop, every))])
    start = time.perf_counter()
    selector.fit(X, y)
    fit_seconds = time.perf_counter() - start
    # the selector fitted a copy of the callback: read its loop's times
    bare = dict(selector.net_.callbacks_)["bare_loop"].loop.times
    epoch_times = np.asarray(selector.history_[:, "dur"])
    fit_seconds -= float(np.sum(bare))
    return {
        "fit_seconds": round(fit_seconds, 1),
        "epochs": len(epoch_times),
        "epoch_seconds": round(float(np.median(epoch_times)), 4),
        "bare_epochs": len(bare),
        "bare_epoch_seconds": round(float(np.median(bare)), 4),
        "ratio_to_bare_loop": round(float(np.median(epoch_times) / np.median(bare)), 3),
        "fit_ratio_to_bare_loop": round(
            fit_seconds / len(epoch_times) / float(np.mean(bare)), 3
        ),
        "stop_reason": selector.history_[-1, "stop_reason"],
    }


def run_madelon(seeds, params, n_bare_epochs):
    rows = []
    for seed in seeds:
        X_train, X_test, y_train, y_test, relevant = madelon(seed)
        split = (X_train, X_test, y_train, y_test)
        f_top = np.argsort(-f_classif(X_train, y_train)[0], kind="stable")[:20]
        mi = mutual_info_classif(X_train, y_train, random_state=0)
        mi_top = np.argsort(-mi, kind="stable")[:20]
        selector = StochasticGatesSelector(k=20, random_state=0, **params)
        timing = timed_fit(selector, X_train, y_train, n_bare_epochs)
        chosen = selector.get_support(indices=True)
        ranks = np.argsort(np.argsort(-selector.gate_probabilities_, kind="stable"))
        rows.append(
            {
                "seed": seed,
                "gates_found": len(set(chosen) & set(relevant)),
                "f_classif_found": len(set(f_top) & set(relevant)),
                "mutual_info_found": len(set(mi_top) & set(relevant)),
                "worst_relevant_rank": int(ranks[relevant].max()) + 1,
                "max_noise_probability": round(
                    float(np.delete(selector.gate_probabilities_, relevant).max()), 3
                ),
                "acc_gates": forest_accuracy(chosen, *split),
                "acc_all": forest_accuracy(np.arange(X_train.shape[1]), *split),
                "acc_f_classif": forest_accuracy(f_top, *split),
                "acc_mutual_info": forest_accuracy(mi_top, *split),
                "acc_network": selector.score(X_test, y_test),
                **timing,
            }
        )
        print_madelon_row(rows[-1])
    return rows


def print_madelon_row(r):
    print(
        f"  seed {r['seed']}: gates found {r['gates_found']}/20 "
        f"(worst relevant rank {r['worst_relevant_rank']}, largest noise gate "
        f"{r['max_noise_probability']:.3f}), "
        f"f_classif {r['f_classif_found']}, mutual info {r['mutual_info_found']}; "
        f"ExtraTrees accuracy gates {r['acc_gates']:.3f}, all 500 "
        f"{r['acc_all']:.3f}, f_classif {r['acc_f_classif']:.3f}, mutual info "
        f"{r['acc_mutual_info']:.3f}; gated network {r['acc_network']:.3f}; "
        f"fit {r['fit_seconds']:.1f} s, {r['epoch_seconds'] * 1000:.0f} ms/epoch, "
        f"bare loop {r['bare_epoch_seconds'] * 1000:.0f} ms/epoch, ratio "
        f"{r['ratio_to_bare_loop']:.2f}, whole fit per epoch "
        f"{r['fit_ratio_to_bare_loop']:.2f}; {r['epochs']} epochs, "
        f"{r['stop_reason']}",
        flush=True,
    )


def first_fit_seconds():
    """Time a process's first (tiny) fit: the one-time cost of the first fit."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(64, 3))
    y = (X[:, 0] > 0).astype(int)
    start = time.perf_counter()
    StochasticGatesSelector(max_epochs=1, random_state=0).fit(X, y)
    return round(time.perf_counter() - start, 2)


def run_moons(seeds, params, label, n_bare_epochs):
    rows = []
    for seed in seeds:
        X, y = moons(seed)
        selector = StochasticGatesSelector(**{"k": 2, "random_state": 0, **params})
        timing = timed_fit(selector, X, y, n_bare_epochs)
        p = selector.gate_probabilities_
        rows.append(
            {
                "seed": seed,
                "params": label,
                "selected": selector.get_support(indices=True).tolist(),
                "moon_probabilities": [round(float(v), 3) for v in p[:2]],
                "max_noise_probability": round(float(p[2:].max()), 3),
                "threshold_0.5_selects": np.flatnonzero(p >= 0.5).tolist(),
                **timing,
            }
        )
        r = rows[-1]
        print(
            f"  {label}, seed {seed}: selected {r['selected']}, moon gates "
            f"{r['moon_probabilities']}, largest noise gate "
            f"{r['max_noise_probability']}, P >= 0.5: "
            f"{r['threshold_0.5_selects']}, fit {r['fit_seconds']} s, "
            f"{r['epoch_seconds'] * 1000:.0f} ms/epoch, bare loop "
            f"{r['bare_epoch_seconds'] * 1000:.0f} ms/epoch, ratio "
            f"{r['ratio_to_bare_loop']:.2f}, whole fit per epoch "
            f"{r['fit_ratio_to_bare_loop']:.2f}; {r['epochs']} epochs, "
            f"{r['stop_reason']}",
            flush=True,
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--bare-epochs",
        type=int,
        default=30,
        help="bare-loop epochs, spread evenly through each fit",
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--params", type=json.loads, default={}, help="JSON of selector params"
    )
    parser.add_argument(
        "--moons-params",
        type=json.loads,
        default={"k": None},
        help="JSON of selector params for the second two-moons run (default: "
        "k=None, which keeps the gates at or above threshold and trains until "
        "they stop moving)",
    )
    parser.add_argument("--no-madelon", action="store_true")
    parser.add_argument("--no-moons", action="store_true")
    parser.add_argument("--json", help="also write the report to this file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(torch_line())
    report = {"params": args.params, "first_fit_seconds": first_fit_seconds()}
    print(f"a first, one-epoch fit on 64 x 3 took {report['first_fit_seconds']} s")
    if not args.no_madelon:
        print("MADELON-like (k=20, defaults):")
        report["madelon"] = run_madelon(args.seeds, args.params, args.bare_epochs)
    if not args.no_moons:
        print("two moons + 18 noise columns (k=2):")
        report["moons"] = run_moons(
            args.seeds, args.params, "defaults", args.bare_epochs
        )
        other = {**args.params, **args.moons_params}
        report["moons"] += run_moons(
            args.seeds, other, json.dumps(args.moons_params), args.bare_epochs
        )
    if args.json:
        save_json(args.json, report)


if __name__ == "__main__":
    main()
