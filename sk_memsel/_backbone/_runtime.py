"""Where and how a network trains: the device, seeding and PyTorch threads."""

import numbers
import os
import threading
from contextlib import contextmanager

import numpy as np
import torch
from sklearn.utils import check_random_state

from ..nn._random import random_stream


def resolve_device(device):
    """Turn the ``device`` parameter into a torch device string.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"} or str or torch.device
        ``"auto"`` picks ``"cuda"`` when PyTorch sees a GPU and ``"cpu"``
        otherwise. ``"cuda:N"`` names one GPU.

    Returns
    -------
    device : str

    Raises
    ------
    ValueError
        For an unknown device name, or a CUDA device when PyTorch sees no GPU.

    Examples
    --------
    >>> from sk_memsel._backbone import resolve_device
    >>> resolve_device("cpu")
    'cpu'
    >>> resolve_device("auto") in ("cpu", "cuda")
    True
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise ValueError(
            f"device={device!r} is not a device name; use 'cpu', 'cuda' or 'auto'."
        )
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested, but PyTorch sees no CUDA GPU "
                "on this machine. Use device='cpu', or device='auto' to use a "
                "GPU only when one is present."
            )
        index = device.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise ValueError(
                f"device={device!r} names a GPU that does not exist; this machine "
                f"has {torch.cuda.device_count()} CUDA device(s)."
            )
        return device
    raise ValueError(
        f"device={device!r} is not a known device; use 'cpu', 'cuda' or 'auto'."
    )


def _seed_from(random_state):
    """Draw a torch seed from ``random_state`` (int, RandomState or None)."""
    if isinstance(random_state, numbers.Integral) and not isinstance(
        random_state, bool
    ):
        return int(random_state)
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


#: held while a network is built from torch's global generator (see _seeded);
#: re-entrant, for a fit started from a callback of another
_GLOBAL_RNG_LOCK = threading.RLock()


#: whether this process is a fork of one that imported sk_memsel (see
#: _torch_threads)
_IN_FORKED_CHILD = False


def _after_fork_in_child():
    global _GLOBAL_RNG_LOCK, _IN_FORKED_CHILD
    # a fork taken while another thread held the lock would leave the child's
    # copy locked for ever
    _GLOBAL_RNG_LOCK = threading.RLock()
    _IN_FORKED_CHILD = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@contextmanager
def _seeded(seed, device):
    """Build a network in this block: torch's global generator seeded from ``seed``.

    torch draws a layer's initial weights from its global generator, which no
    argument replaces. The block holds a process-wide lock, seeds the global
    generator and puts the caller's state (CPU, and the GPU in use) back on
    exit, so that builds in parallel threads neither see each other's draws
    nor change the caller's state. Keep the block short: building only;
    training draws from :func:`_training_stream`.
    """
    devices = []
    if str(device).startswith("cuda"):
        devices = [torch.device(device).index or 0]
    with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield


#: torch's dropout layers, which draw from its global generator
_TORCH_DROPOUT = (
    torch.nn.Dropout,
    torch.nn.Dropout1d,
    torch.nn.Dropout2d,
    torch.nn.Dropout3d,
    torch.nn.AlphaDropout,
    torch.nn.FeatureAlphaDropout,
)


def _draws_from_global_generator(module):
    """Whether training ``module`` draws from torch's global generator.

    True for torch's own dropout layers (``nn.Dropout`` and its relatives,
    the dropout of ``nn.MultiheadAttention`` and of recurrent layers), which
    take no generator; sk_memsel's modules and ``nn._random.Dropout`` draw
    from the training stream. Such a network trains inside :func:`_seeded`
    (reproducible, the caller's state kept, but one such fit at a time).
    """
    from ..nn._attention import MemoryAugmentedAttention
    from ..nn._random import Dropout

    own = {
        id(m.attention)
        for m in module.modules()
        if isinstance(m, MemoryAugmentedAttention)
    }
    for m in module.modules():
        if isinstance(m, _TORCH_DROPOUT):
            if m.p > 0 and not isinstance(m, Dropout):
                return True
        elif isinstance(m, (torch.nn.MultiheadAttention, torch.nn.RNNBase)):
            if m.dropout > 0 and id(m) not in own:
                return True
    return False


def _training_stream(seed):
    """The random stream of one training run (see ``nn._random.random_stream``).

    Shuffling, Gumbel and gate noise and dropout draw from generators of the
    run's own, in the calling thread only: fits in parallel threads draw what
    they would draw alone, and torch's global generator is never used. Its
    seed is derived from ``seed`` apart from the initial weights' (drawn
    from ``seed`` itself).
    """
    stream_seed = np.random.SeedSequence([int(seed), 1]).generate_state(1)[0]
    return random_stream(int(stream_seed))


@contextmanager
def _trainable():
    """Run a block with autograd on, whatever the caller's grad mode.

    Under ``torch.inference_mode()`` the module's weights would be made as
    inference tensors, and under it or ``torch.no_grad()`` the loss would
    have no gradient. Both modes belong to the calling thread and are put
    back on exit.
    """
    with torch.inference_mode(False), torch.enable_grad():
        yield


#: multiply-adds per optimizer step (batch rows times the module's weights)
#: below which a network trains on one thread. On 2 cores, idle, a second
#: thread made a step 0.96-1.11x as fast for networks of 0.07-9 million
#: multiply-adds per step, 1.51x at 65 million (the MNIST concrete
#: autoencoder) and 1.63x at 187 million; with both cores busy with other
#: work, two threads made every size slower, 0.6-0.97x for 2-187 million and
#: 50-75 times slower below (benchmarks/bench_threads.py), and whole MNIST
#: fits up to 44 times slower (benchmarks/bench_time_to_quality.py --busy 2).
_SMALL_NETWORK_WORK = 2**27


@contextmanager
def _torch_threads(n_threads):
    """Run a block with ``n_threads`` intra-op PyTorch threads (``None``: as is).

    torch's setting is restored on exit. It belongs to the calling thread (a
    thread started later inherits it), so fits running in parallel threads,
    as in Dask workers, each keep their own.

    In a forked child (``multiprocessing``'s default start method on Linux)
    it is one thread, whatever is asked: torch's OpenMP threads are not
    fork-safe, and an operation on several threads in a child whose parent
    had started them waits for ever.
    """
    if _IN_FORKED_CHILD:
        n_threads = 1
    if n_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    if n_threads != previous:
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)
