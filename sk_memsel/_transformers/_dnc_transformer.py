"""DNCTransformer: features from a Differentiable Neural Computer."""

import math
from numbers import Real

import numpy as np
import torch
from torch import nn

from .._backbone._compat import Interval
from .._backbone._params import IntInterval, fill_shared_docs
from ..nn import DNC
from ._base import NeuralTransformerBase

__all__ = ["DNCTransformer"]


class _DNCEncoder(nn.Module):
    """Final controller state and read words of a :class:`~sk_memsel.nn.DNC`."""

    def __init__(self, dnc):
        super().__init__()
        self.dnc = dnc

    def forward(self, x):
        _, state = self.dnc(x)
        hidden = state.controller[0]
        return torch.cat([hidden, state.read_words.flatten(1)], dim=1)


@fill_shared_docs
class DNCTransformer(NeuralTransformerBase):
    """Read each sample as a sequence with a Differentiable Neural Computer.

    A DNC (an LSTM controller with an external memory it writes to and
    reads from) reads the sample step by step. The features are the
    controller's final hidden state followed by the words read at the last
    step: ``hidden_size + num_reads * word_size`` columns.

    With ``y`` the DNC is trained through a linear head that predicts ``y``
    (classification or regression, inferred from ``y``); without ``y`` the
    head reconstructs the standardised input from the features.

    Parameters
    ----------
    hidden_size : int, default=48
        Width of the LSTM controller, which summarises the sequence; a
        narrower one gives features that vary more with ``random_state``
        (see :ref:`transformers_user_guide`).
    memory_size : int, default=16
        Number of memory slots. Cost grows with its square (the temporal
        link matrix).
    word_size : int, default=8
        Width of each memory slot.
    num_reads : int, default=1
        Number of read heads.
    num_writes : int, default=1
        Number of write heads.
    max_steps : int or None, default=8
        Most steps the DNC runs: a sequence of ``T > max_steps`` time points
        is read in windows of ``ceil(T / max_steps)`` consecutive time points,
        one window a step (the last padded with zeros, the standardised
        mean). ``None`` reads one time point per step (slow: the DNC is a
        Python loop over the steps). See :ref:`transformers_user_guide`.
    clip_value : float or None, default=20.0
        Clip the controller output to ``[-clip_value, clip_value]`` before it
        drives the memory, as in the original implementation.
    {standardize}
    {task}
        Without ``y`` the head reconstructs the input, whatever this is.
    {max_epochs}
    {batch_size}
        The DNC's cost is per step of the sequence whatever the batch size,
        so large batches train much faster.
    {lr}
    {optimizer}
    {weight_decay}
        A little regularises the controller, which otherwise overfits small
        data sets.
    {device}
    {random_state}
    {verbose}
    {callbacks}
    {validation_fraction}
    {n_iter_no_change}
    {n_threads}

    Attributes
    ----------
    n_features_in_ : int
        Number of features of 2-D input, or number of channels of 3-D input.
    n_timepoints_in_ : int or None
        Number of time points of 3-D input; ``None`` after a fit on 2-D
        input.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when X was a DataFrame with string column
        names.
    task_ : {"classification", "regression", "reconstruction"}
        What the head learned.
    classes_ : ndarray of shape (n_classes,)
        Class labels, after a fit on class labels.
    net_ : skorch.NeuralNet
        The trained net; ``net_.module_.encoder.dnc`` is the
        :class:`~sk_memsel.nn.DNC`.
    n_epochs_ : int
        Number of epochs trained; ``history_[-1, "stop_reason"]`` says why
        training stopped (``"max_epochs"``, ``"no_improvement"`` or
        ``"interrupted"``).
    n_threads_ : int
        PyTorch threads used on the CPU (see ``n_threads``).

    See Also
    --------
    sk_memsel.nn.DNC : The PyTorch module behind this transformer.
    MemoryAttentionTransformer : Faster features from memory-augmented
        attention.

    Notes
    -----
    Input layout. 3-D input is ``(n_samples, n_channels, n_timepoints)``,
    the layout of aeon and sktime: the DNC reads the time points in order,
    each a vector of ``n_channels`` values. 2-D input ``(n_samples,
    n_features)`` is read as a sequence too: each row is ``n_features`` time
    steps of one channel, in column order. ``max_steps`` then groups
    consecutive time points into one step.

    References
    ----------
    .. [1] A. Graves et al., "Hybrid computing using a neural network with
       dynamic external memory", Nature 538, 471-476 (2016).

    Examples
    --------
    >>> import numpy as np
    >>> from sk_memsel import DNCTransformer
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(40, 3, 12))  # (n_samples, n_channels, n_timepoints)
    >>> y = (X[:, 0].mean(axis=1) > 0).astype(int)
    >>> dnc = DNCTransformer(hidden_size=8, memory_size=4, word_size=4,
    ...                      max_steps=4, max_epochs=2, random_state=0)
    >>> dnc.fit(X, y).transform(X).shape  # hidden_size + num_reads * word_size
    (40, 12)
    >>> dnc.n_features_in_, dnc.n_timepoints_in_
    (3, 12)
    """

    _accepts_sequences = True

    def __init__(
        self,
        hidden_size=48,
        *,
        memory_size=16,
        word_size=8,
        num_reads=1,
        num_writes=1,
        max_steps=8,
        clip_value=20.0,
        standardize=True,
        task="auto",
        max_epochs=15,
        batch_size=128,
        lr=0.02,
        optimizer="adam",
        weight_decay=0.001,
        device="cpu",
        random_state=None,
        verbose=0,
        callbacks=None,
        validation_fraction=None,
        n_iter_no_change=10,
        n_threads="auto",
    ):
        self.hidden_size = hidden_size
        self.memory_size = memory_size
        self.word_size = word_size
        self.num_reads = num_reads
        self.num_writes = num_writes
        self.max_steps = max_steps
        self.clip_value = clip_value
        self.standardize = standardize
        self.task = task
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.n_threads = n_threads

    _parameter_constraints: dict = {
        **NeuralTransformerBase._parameter_constraints,
        **dict.fromkeys(
            ("hidden_size", "memory_size", "word_size", "num_reads", "num_writes"),
            [IntInterval(1, None, closed="left")],
        ),
        "max_steps": [IntInterval(1, None, closed="left"), None],
        "clip_value": [Interval(Real, 0, None, closed="neither"), None],
    }

    def _layout(self, Z):
        """(n, T, C) steps from 2-D (n, T) or 3-D (n, C, T), windowed."""
        steps = Z[:, :, None] if Z.ndim == 2 else Z.transpose(0, 2, 1)
        n, length, channels = steps.shape
        if self.max_steps is None or length <= self.max_steps:
            return steps
        window = math.ceil(length / int(self.max_steps))
        n_steps = math.ceil(length / window)
        padded = np.zeros((n, n_steps * window, channels), dtype=np.float32)
        padded[:, :length] = steps
        return padded.reshape(n, n_steps, window * channels)

    def _build_encoder(self, input_shape):
        dnc = DNC(
            input_size=int(input_shape[-1]),
            hidden_size=int(self.hidden_size),
            output_size=1,  # the per-step outputs are not used
            memory_size=int(self.memory_size),
            word_size=int(self.word_size),
            num_reads=int(self.num_reads),
            num_writes=int(self.num_writes),
            clip_value=None if self.clip_value is None else float(self.clip_value),
        )
        n_features = int(self.hidden_size + self.num_reads * self.word_size)
        return _DNCEncoder(dnc), n_features
