"""DNCTransformer: features from a Differentiable Neural Computer."""

import math
from numbers import Real

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._backbone._compat import Interval, StrOptions
from .._backbone._params import IntInterval, fill_shared_docs
from ..nn import DNC
from ._base import NeuralTransformerBase
from ._embedding import SequenceEmbedding, pooled

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


class _SequenceDNCEncoder(nn.Module):
    """Convolutional tokens read by a DNC; every stage pooled into features.

    The last tokens of the :class:`SequenceEmbedding` are max-pooled into at
    most ``n_steps`` steps, which the DNC reads in order. The features are
    the tokens of every stage of the embedding, then the DNC's outputs at
    its steps, each pooled over time (mean and maximum, see
    :func:`pooled`).
    """

    def __init__(self, embedding, dnc, n_steps, pooling):
        super().__init__()
        self.embedding = embedding
        self.dnc = dnc
        self.n_steps = int(n_steps)
        self.pooling = pooling

    def forward(self, x):
        stages = self.embedding(x)
        steps = stages[-1]
        window = math.ceil(steps.shape[1] / self.n_steps)
        if window > 1:  # the last window may be short (ceil_mode)
            steps = F.max_pool1d(
                steps.transpose(1, 2), window, window, ceil_mode=True
            ).transpose(1, 2)
        outputs, _ = self.dnc(steps)
        features = [pooled(h, self.pooling) for h in [*stages, outputs]]
        return torch.cat(features, dim=1)


@fill_shared_docs
class DNCTransformer(NeuralTransformerBase):
    """Read each sample as a sequence with a Differentiable Neural Computer.

    A DNC (an LSTM controller with an external memory it writes to and
    reads from) reads the sample step by step.

    - **Sequences** ``(n_samples, n_channels, n_timepoints)``: a small
      convolutional network first describes the local shape of the series
      at every time point and max-pools it into at most ``max_tokens``
      tokens of ``conv_channels`` numbers (three stages: the first
      convolution, then two residual ones); the DNC reads the last tokens,
      max-pooled into at most ``max_steps`` steps. The features are each
      stage's tokens and the DNC's outputs, pooled over time:
      ``4 * conv_channels`` columns (64 with the defaults), ``8 *
      conv_channels`` with ``pooling="mean_max"``.
    - **Tables** ``(n_samples, n_features)``: the DNC reads each row as a
      sequence of one channel, in windows of columns. The features are the
      controller's final hidden state followed by the words read at the
      last step: ``hidden_size + num_reads * word_size`` columns (56).

    With ``y`` the network is trained through a linear head that predicts
    ``y`` (classification or regression, inferred from ``y``); without ``y``
    the head reconstructs the standardised input from the features.

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
        Most steps the DNC runs: ``L > max_steps`` tokens of a sequence are
        max-pooled in windows of ``ceil(L / max_steps)`` tokens, and the
        ``F > max_steps`` columns of a table read in windows of
        ``ceil(F / max_steps)`` columns (the last padded with zeros, the
        standardised mean), one window a step. ``None`` reads one token
        (column) per step: slow, the DNC being a loop over the steps.
    clip_value : float or None, default=20.0
        Clip the controller output to ``[-clip_value, clip_value]`` before it
        drives the memory, as in the original implementation.
    conv_channels : int, default=16
        Sequences only: width of the convolutional embedding's tokens and of
        the DNC's outputs.
    {kernel_size}
    {max_tokens}
    pooling : {"mean", "max", "mean_max"}, default="mean"
        Sequences only: how the tokens and the DNC's outputs are pooled over
        time into features: their mean, their maximum, or both (the mean
        first, twice the columns). Each pooled vector is layer-normalised.
    {standardize}
    {task}
        Without ``y`` the head reconstructs the input, whatever this is.
    {max_epochs}
    {batch_size}
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
        :class:`~sk_memsel.nn.DNC` and, after a fit on sequences,
        ``net_.module_.encoder.embedding`` the convolutional embedding.
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
    the layout of aeon and sktime. The embedding's convolutions read all
    channels together over ``kernel_size`` time points; each is followed by
    a batch normalisation (its statistics are those of the training
    batches, whatever their sample weights) and a ReLU. 2-D input
    ``(n_samples, n_features)`` is read as a sequence too, without the
    embedding: each row is ``n_features`` time steps of one channel, in
    column order, ``max_steps`` grouping consecutive columns into one step.

    Training budget. ``max_epochs="auto"`` trains about 300 optimizer steps
    whatever the number of rows, so that a set of 40 series is trained as
    long as one of 4,000 (15 epochs gave 15 steps to a set of 40 series).
    A step costs about a millisecond per DNC step and sequence batch on one
    CPU thread, so a fit takes seconds whatever the data's size; see
    :ref:`transformers_user_guide` for the measurements.

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
    >>> dnc.fit(X, y).transform(X).shape  # 4 * conv_channels
    (40, 64)
    >>> dnc.n_features_in_, dnc.n_timepoints_in_
    (3, 12)
    >>> table = X[:, 0]  # rows of 12 columns, read as one-channel sequences
    >>> dnc.fit(table, y).transform(table).shape  # hidden_size + 1 read word
    (40, 12)
    """

    _accepts_sequences = True

    #: optimizer steps that ``max_epochs="auto"`` allows
    _auto_steps = 300

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
        conv_channels=16,
        kernel_size=9,
        max_tokens=64,
        pooling="mean",
        standardize=True,
        task="auto",
        max_epochs="auto",
        batch_size=16,
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
        self.conv_channels = conv_channels
        self.kernel_size = kernel_size
        self.max_tokens = max_tokens
        self.pooling = pooling
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
        # a budget in optimizer steps, as the selectors' (see _auto_steps)
        "max_epochs": NeuralTransformerBase._settling_parameter_constraints[
            "max_epochs"
        ],
        **dict.fromkeys(
            (
                "hidden_size",
                "memory_size",
                "word_size",
                "num_reads",
                "num_writes",
                "conv_channels",
                "kernel_size",
                "max_tokens",
            ),
            [IntInterval(1, None, closed="left")],
        ),
        "max_steps": [IntInterval(1, None, closed="left"), None],
        "clip_value": [Interval(Real, 0, None, closed="neither"), None],
        "pooling": [StrOptions({"mean", "max", "mean_max"})],
    }

    def _layout(self, Z):
        """(n, T, 1) steps of 2-D (n, T) input, windowed; 3-D input as it is."""
        if Z.ndim == 3:
            return Z
        steps = Z[:, :, None]
        n, length, channels = steps.shape
        if self.max_steps is None or length <= self.max_steps:
            return steps
        window = math.ceil(length / int(self.max_steps))
        n_steps = math.ceil(length / window)
        padded = np.zeros((n, n_steps * window, channels), dtype=np.float32)
        padded[:, :length] = steps
        return padded.reshape(n, n_steps, window * channels)

    def _build_encoder(self, input_shape):
        sizes = {
            "hidden_size": int(self.hidden_size),
            "memory_size": int(self.memory_size),
            "word_size": int(self.word_size),
            "num_reads": int(self.num_reads),
            "num_writes": int(self.num_writes),
            "clip_value": None if self.clip_value is None else float(self.clip_value),
        }
        if self.n_timepoints_in_ is None:
            dnc = DNC(
                input_size=int(input_shape[-1]),
                output_size=1,  # the per-step outputs are not used
                **sizes,
            )
            n_features = int(self.hidden_size + self.num_reads * self.word_size)
            return _DNCEncoder(dnc), n_features
        n_channels, n_timepoints = (int(s) for s in input_shape)
        width = int(self.conv_channels)
        embedding = SequenceEmbedding(
            n_channels,
            n_timepoints,
            width,
            kernel_size=int(self.kernel_size),
            max_tokens=int(self.max_tokens),
        )
        n_steps = embedding.n_tokens if self.max_steps is None else self.max_steps
        dnc = DNC(input_size=width, output_size=width, **sizes)
        n_stages = len(embedding.residual) + 1
        # each stage's tokens and the DNC's outputs, pooled
        n_features = width * (n_stages + 1) * (2 if self.pooling == "mean_max" else 1)
        encoder = _SequenceDNCEncoder(embedding, dnc, n_steps, self.pooling)
        return encoder, n_features
