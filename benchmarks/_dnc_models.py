"""The DNC implementations ``bench_dnc.py`` and ``bench_dnc_compiled.py`` time.

- sk_memsel's DNC, three ways (:data:`VARIANTS`): the default fused path,
  the same fused forward under plain autograd, and the readable path
  (``fused=False``);
- the peer: the PyPI package ``dnc`` (``pip install --no-deps dnc``, so that
  it keeps your torch) or, without it, :class:`UnvectorisedDNC`, the same
  DNC run one sample at a time;
- :func:`build` makes any of them from one ``config`` of sizes;
  :func:`inputs`, :func:`iteration` and :func:`alternate` time them, each
  round running every model once, so that a busy spell slows them alike;
- :func:`add_size_options` and :func:`config_of`: the sizes, from the
  command line, both scripts share.

The scripts are run as ``python benchmarks/<script>.py``, which puts this
folder on ``sys.path``: they import this module as ``_dnc_models``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from unittest import mock

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sk_memsel.nn import DNC, _dnc_fused  # noqa: E402


def peer_available() -> bool:
    try:
        import dnc  # noqa: F401
    except Exception:
        return False
    return True


class UnvectorisedDNC(nn.Module):
    """Fallback peer: the same DNC run one sample at a time.

    Used only when the ``dnc`` package cannot be imported: a Python loop
    over the batch, each sample through sk_memsel's DNC with a batch of one,
    as an implementation without batching would do.
    """

    def __init__(self, config):
        super().__init__()
        self.inner = sk_dnc(config)

    def forward(self, x):
        outputs = []
        for b in range(x.shape[0]):
            out, _ = self.inner(x[b : b + 1])
            outputs.append(out)
        return torch.cat(outputs)


#: sk_memsel's ways to run its DNC, compared in the second table.
VARIANTS = ("sk_memsel", "sk_memsel-autograd", "sk_memsel-readable")


def sk_dnc(config: dict, fused: bool = True) -> DNC:
    """sk_memsel's DNC at the sizes of ``config``, as both peers are built."""
    return DNC(
        config["input_size"],
        config["hidden_size"],
        config["input_size"],
        memory_size=config["memory_size"],
        word_size=config["word_size"],
        num_reads=config["num_reads"],
        num_writes=1,
        clip_value=20.0,
        fused=fused,
    )


def build(impl: str, config: dict) -> nn.Module:
    """Return a callable module mapping (batch, time, input) to outputs."""
    if impl in VARIANTS:
        model = sk_dnc(config, fused=impl != "sk_memsel-readable")
        if impl == "sk_memsel-autograd":
            return _PlainAutograd(model)
        return _FirstOutput(model)
    if impl == "dnc":
        from dnc import DNC as PeerDNC

        model = PeerDNC(
            input_size=config["input_size"],
            hidden_size=config["hidden_size"],
            rnn_type="lstm",
            num_layers=1,
            num_hidden_layers=1,
            nr_cells=config["memory_size"],
            cell_size=config["word_size"],
            read_heads=config["num_reads"],
            batch_first=True,
            gpu_id=-1,
            independent_linears=False,
            clip=20,
        )
        return _PeerOutput(model)
    if impl == "unvectorised":
        return UnvectorisedDNC(config)
    raise ValueError(f"unknown implementation {impl!r}")


class _FirstOutput(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)[0]


class _PlainAutograd(_FirstOutput):
    """The fused forward, differentiated by autograd op by op.

    The fused path applies its autograd Functions only when
    ``_dnc_fused._needs_grad`` says autograd records; saying no runs the same
    forward code as plain tensor operations, which autograd then records.
    """

    def forward(self, x):
        with mock.patch.object(_dnc_fused, "_needs_grad", lambda *tensors: False):
            return self.model(x)[0]


class _PeerOutput(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x, (None, None, None), reset_experience=True)[0]


def iteration(model: nn.Module, x: torch.Tensor, train: bool) -> None:
    if train:
        model.zero_grad(set_to_none=True)
        model(x).square().mean().backward()
    else:
        with torch.no_grad():
            model(x)


def inputs(config: dict) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    shape = (config["batch_size"], config["steps"], config["input_size"])
    return torch.randn(*shape, generator=g)


def alternate(models, x, train, repeats, warmup):
    """``{name: seconds of each round}``: after ``warmup`` untimed rounds,
    ``repeats`` rounds that run the models one after the other, so that a
    busy spell slows them alike."""
    for _ in range(warmup):
        for model in models.values():
            iteration(model, x, train)
    times = {name: [] for name in models}
    for _ in range(repeats):
        for name, model in models.items():
            start = time.perf_counter()
            iteration(model, x, train)
            times[name].append(time.perf_counter() - start)
    return times


def add_size_options(parser):
    """The options of the model's and the data's sizes, and ``--repeats``."""
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=32, help="sequence length")
    parser.add_argument("--input-size", type=int, default=8)
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--word-size", type=int, default=16)
    parser.add_argument("--num-reads", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=7)


def config_of(args, memory_size):
    """The model and data sizes of one benchmark cell."""
    return {
        "memory_size": memory_size,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "input_size": args.input_size,
        "hidden_size": args.hidden_size,
        "word_size": args.word_size,
        "num_reads": args.num_reads,
    }
