"""Time ``torch.compile(DNC)`` against sk_memsel's eager DNC and the peer.

Forward passes only, under ``torch.no_grad()``: sk_memsel's DNC as a user
would compile it (``torch.compile`` with the default inductor backend), the
same DNC eager, and the peer of ``bench_dnc.py`` (the PyPI package ``dnc``,
or without it ``UnvectorisedDNC`` of ``_dnc_models.py``), all at the sizes
of ``bench_dnc.py``. The first call, which compiles, is timed on its own
(it takes minutes from a cold inductor cache); then the three alternate
iteration by iteration in one process, so that a busy machine slows them
alike, and the figures are the best of ``--repeats`` rounds, with the median
over the rounds of the peer's time over each model's in the same round.

A training step is not compiled here: the sequence loop is unrolled over
the steps, forward and backward, which takes longer still to compile.

Run from the repository root (prints a Markdown table; writes nothing)::

    python benchmarks/bench_dnc_compiled.py --sizes 16 --threads 1 --repeats 9
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from _dnc_models import (
    add_size_options,
    alternate,
    build,
    config_of,
    inputs,
    iteration,
    peer_available,
)


def measure_compiled(config, repeats, warmup=2):
    """Forward-only steps/s of ``torch.compile(DNC)`` against eager and peer.

    The compiled model is sk_memsel's DNC as a user would compile it
    (``torch.compile`` with the default inductor backend); the first call,
    which compiles, is timed on its own. Then the three alternate as in
    ``bench_dnc.py``. Returns the compile time in seconds, the best steps/s
    of each and the median paired ratios against the peer.
    """
    torch.manual_seed(0)
    x = inputs(config)
    peer = "dnc" if peer_available() else "unvectorised"
    eager = build("sk_memsel", config)
    models = {
        "compiled": torch.compile(eager),
        "eager": eager,
        peer: build(peer, config),
    }
    start = time.perf_counter()
    iteration(models["compiled"], x, train=False)
    compile_s = time.perf_counter() - start
    times = alternate(models, x, False, repeats, warmup)
    result = {"compile_s": compile_s, "peer": peer}
    for name in models:
        result[name] = config["steps"] / min(times[name])
        result[f"{name}_paired"] = statistics.median(
            b / a for a, b in zip(times[name], times[peer], strict=True)
        )
    return result


def run(args):
    load_before = os.getloadavg()[0]
    torch.set_num_threads(args.threads)
    print(
        "| N | compile s | compiled steps/s | eager steps/s | peer steps/s "
        "| compiled / peer (paired) | eager / peer (paired) |\n"
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    for n in args.sizes:
        config = config_of(args, n)
        r = measure_compiled(config, args.repeats)
        peer = r["peer"]
        print(
            f"| {n} | {r['compile_s']:.0f} | {r['compiled']:.1f} | {r['eager']:.1f} "
            f"| {r[peer]:.1f} | {r['compiled_paired']:.2f} "
            f"| {r['eager_paired']:.2f} |",
            flush=True,
        )
    load = f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    print(f"torch.set_num_threads({args.threads}); 1-minute load average: {load}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_size_options(parser)
    parser.add_argument(
        "--threads", type=int, default=2, help="torch.set_num_threads value"
    )
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
