"""How fast a training step is with 1 PyTorch thread and with more, idle and busy.

This is the measurement behind ``n_threads="auto"`` (``_SMALL_NETWORK_WORK``
in ``sk_memsel/_backbone/_runtime.py``): for the networks the estimators build, from the
smallest (the gates on 30 rows of 3 columns, as in scikit-learn's estimator
checks) to the MNIST concrete autoencoder and beyond, it times a training
step (forward, backward and Adam) with 1 thread and with ``--threads``
threads, in the same run, first on an idle machine, then with ``--busy``
processes spinning on the cores (as inside ``GridSearchCV(n_jobs=2)`` or on a
laptop doing other things). The work of a step is reported as the rows of a
batch times the weights of the module, the quantity the policy reads.

Run from the repository root::

    python benchmarks/bench_threads.py --threads 2 --busy 2
"""

import argparse
import platform
import time

import torch
from _report import busy_processes

from sk_memsel._selectors._concrete_autoencoder import _ConcreteNet
from sk_memsel.nn import GatedMLP, GaussianStochasticGates


def gated(n_features, hidden=(64, 32)):
    gates = GaussianStochasticGates(n_features, reg_weight=0.02, sigma=1.5)
    return GatedMLP(gates, n_features, 2, hidden_layer_sizes=hidden)


def concrete(n_features, k, hidden=(256,)):
    return _ConcreteNet(n_features, k, n_features, hidden, 0.0, 0.0, 1.0)


#: name -> (module factory, batch rows, input width, output width, task)
CASES = {
    "gates, 30 x 3 (check_estimator data)": (lambda: gated(3), 30, 3, 2, "clf"),
    "gates, 569 x 30 (breast cancer)": (lambda: gated(30), 256, 30, 2, "clf"),
    "gates, 1,000 x 100": (lambda: gated(100), 256, 100, 2, "clf"),
    "gates, MADELON-like 500 columns": (lambda: gated(500), 256, 500, 2, "clf"),
    "concrete, digits 64 pixels, k=20": (lambda: concrete(64, 20), 256, 64, 64, "rec"),
    "concrete, MNIST 784 pixels, k=50": (
        lambda: concrete(784, 50),
        256,
        784,
        784,
        "rec",
    ),
    "concrete, MNIST, decoder (512, 512)": (
        lambda: concrete(784, 50, (512, 512)),
        256,
        784,
        784,
        "rec",
    ),
}


def step_ms(module, batch, n_in, n_out, task, threads, seconds):
    """Median-free mean time of a training step over ``seconds`` of steps."""
    torch.set_num_threads(threads)
    module.train()
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    x = torch.rand(batch, n_in)
    if task == "clf":
        target = torch.randint(0, n_out, (batch,))
        criterion = torch.nn.CrossEntropyLoss()
    else:
        target = x
        criterion = torch.nn.MSELoss()

    def step():
        optimizer.zero_grad()
        loss = criterion(module(x), target)
        if hasattr(module, "penalty"):
            loss = loss + module.penalty()
        loss.backward()
        optimizer.step()

    for _ in range(5):
        step()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        n += 1
    return (time.perf_counter() - start) / n * 1000


def measure(threads, seconds):
    rows = []
    for name, (factory, batch, n_in, n_out, task) in CASES.items():
        torch.manual_seed(0)
        module = factory()
        work = batch * sum(p.numel() for p in module.parameters())
        one = step_ms(module, batch, n_in, n_out, task, 1, seconds)
        many = step_ms(module, batch, n_in, n_out, task, threads, seconds)
        rows.append((name, work, one, many))
        print(
            f"  {name:40s} work {work / 1e6:7.2f} M   1 thread {one:7.3f} ms   "
            f"{threads} threads {many:7.3f} ms   speed-up {one / many:5.2f}",
            flush=True,
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--busy", type=int, default=2, help="spinning processes")
    parser.add_argument("--seconds", type=float, default=1.0, help="per timing")
    args = parser.parse_args(argv)
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"timing 1 against {args.threads} threads"
    )
    print("idle:")
    measure(args.threads, args.seconds)
    if args.busy:
        print(f"with {args.busy} other processes keeping the cores busy:")
        with busy_processes(args.busy):
            measure(args.threads, args.seconds)


if __name__ == "__main__":
    main()
