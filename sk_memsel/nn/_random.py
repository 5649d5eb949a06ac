"""Where the training noise of the modules comes from: a stream per thread.

The modules draw random numbers while training (Gumbel noise, gate noise,
dropout). By default they draw from torch's global generator, as any
PyTorch layer does. Inside ``with random_stream(seed):`` they draw, in the
calling thread only, from generators of the stream's own, seeded from
``seed``: two trainings in two threads then draw what each would draw alone,
and torch's global generator is never touched. The modules take no
argument for it and keep no generator (a module pickles and copies as
before); a call can still pass its own ``generator`` where a method takes
one.

This is how the estimators make a fit reproducible in threads; it is a
plain PyTorch helper, usable in any training loop.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Dropout", "dropout", "random_stream", "stream_generator"]

_local = threading.local()


#: the uses a stream keeps apart: the modules' noise, and the order in which
#: a training loop reads the rows (so that the noise drawn does not depend on
#: the number of rows)
_PURPOSES = ("noise", "order")


class _Stream:
    """Generators seeded from one seed, one per device and purpose, made when
    first asked."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self.generators: dict[tuple, torch.Generator] = {}

    def generator(self, device, purpose="noise") -> torch.Generator:
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        generator = self.generators.get((device, purpose))
        if generator is None:
            generator = torch.Generator(device=device)
            # purpose 0 keeps the plain seed; the others derive their own
            index = _PURPOSES.index(purpose)
            generator.manual_seed(self.seed + index * 0x9E3779B97F4A7C15 % 2**62)
            self.generators[(device, purpose)] = generator
        return generator


@contextmanager
def random_stream(seed: int):
    """Draw the modules' training noise in this thread from ``seed``'s stream.

    Parameters
    ----------
    seed : int
        Seeds one :class:`torch.Generator` per device the noise is drawn on.

    Examples
    --------
    >>> import torch
    >>> from sk_memsel.nn import ConcreteSelect
    >>> from sk_memsel.nn._random import random_stream
    >>> layer, x = ConcreteSelect(6, 2), torch.ones(3, 6)
    >>> before = torch.get_rng_state()
    >>> with random_stream(0):
    ...     a = layer(x)
    >>> with random_stream(0):
    ...     b = layer(x)
    >>> torch.equal(a, b), torch.equal(before, torch.get_rng_state())
    (True, True)
    """
    previous = getattr(_local, "stream", None)
    _local.stream = _Stream(seed)
    try:
        yield
    finally:
        _local.stream = previous


def stream_generator(
    device="cpu", generator: torch.Generator | None = None, *, purpose="noise"
):
    """The generator to draw from on ``device``: ``generator`` when given,
    else the calling thread's :func:`random_stream`, else ``None`` (torch's
    global generator).

    ``purpose="order"`` is for the order of the rows of a training loop, kept
    apart from the modules' ``"noise"``.
    """
    if generator is not None:
        return generator
    stream = getattr(_local, "stream", None)
    return None if stream is None else stream.generator(device, purpose)


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """:func:`torch.nn.functional.dropout` drawing from :func:`stream_generator`.

    Outside a :func:`random_stream` it is torch's own dropout.
    """
    if not training or p == 0.0:
        return x
    generator = stream_generator(x.device)
    if generator is None or p == 1.0:
        return F.dropout(x, p, training)
    keep = torch.empty_like(x).bernoulli_(1.0 - p, generator=generator)
    return x * keep / (1.0 - p)


class Dropout(nn.Dropout):
    """:class:`torch.nn.Dropout` whose mask comes from :func:`stream_generator`.

    The same layer (same parameters, ``state_dict`` and ``repr``); inside a
    :func:`random_stream` the mask is drawn from the stream.

    Examples
    --------
    >>> import torch
    >>> from sk_memsel.nn._random import Dropout, random_stream
    >>> layer = Dropout(0.5)
    >>> with random_stream(1):
    ...     a = layer(torch.ones(2, 8))
    >>> with random_stream(1):
    ...     b = layer(torch.ones(2, 8))
    >>> torch.equal(a, b), sorted(set(a.flatten().tolist())) == [0.0, 2.0]
    (True, True)
    """

    def forward(self, input: Tensor) -> Tensor:
        # out of place even with inplace=True: the mask is drawn apart anyway
        return dropout(input, self.p, self.training)
