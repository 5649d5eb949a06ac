"""MemoryAttentionTransformer: features from memory-augmented attention."""

from numbers import Real

import torch
from torch import nn

from .._backbone._compat import Interval, StrOptions
from .._backbone._params import IntInterval, fill_shared_docs
from ..nn import MemoryAugmentedAttention
from ._base import NeuralTransformerBase
from ._embedding import SequenceEmbedding, pooled

__all__ = ["MemoryAttentionTransformer"]


class _TokenEmbedding(nn.Module):
    """Embed (batch, n_tokens, n_channels) values as (batch, n_tokens, units).

    Every token position has its own linear map of its values (the
    per-feature embedding of tabular input), plus a learned position
    embedding.
    """

    def __init__(self, n_tokens, n_channels, units):
        super().__init__()
        bound = 1.0 / n_channels**0.5  # that of nn.Linear(n_channels, units)
        self.weight = nn.Parameter(
            torch.empty(n_tokens, n_channels, units).uniform_(-bound, bound)
        )
        self.position = nn.Parameter(torch.randn(n_tokens, units) * 0.02)

    def forward(self, x):
        return torch.einsum("btc,tcu->btu", x, self.weight) + self.position


class _MemoryBlock(nn.Module):
    """Memory-augmented attention, then a residual pre-norm feed-forward layer.

    No normalisation touches the residual stream itself: a tabular token
    starts as (nearly) a multiple of one vector, and a LayerNorm of it would
    keep the sign of the value and lose its size.
    """

    def __init__(self, units, memory_size, num_heads, dropout):
        super().__init__()
        self.attention = MemoryAugmentedAttention(
            units, memory_size, num_heads, dropout=dropout
        )
        self.feed_forward = nn.Sequential(
            nn.LayerNorm(units, elementwise_affine=False),
            nn.Linear(units, 2 * units),
            nn.GELU(),
            nn.Linear(2 * units, units),
            nn.Dropout(dropout),
        )

    def forward(self, h):
        h = self.attention(h)  # the attention adds its own residual
        return h + self.feed_forward(h)


class _AttentionEncoder(nn.Module):
    def __init__(self, embedding, blocks, pooling, units):
        super().__init__()
        self.embedding = embedding
        self.blocks = nn.Sequential(*blocks)
        self.pooling = pooling
        # no affine parameters here nor in the blocks: the next linear layer
        # makes them redundant, and their gradients (sums over all tokens)
        # change in the last bits with the number of CPU threads
        self.norm = nn.LayerNorm(units, elementwise_affine=False)

    def forward(self, x):
        h = self.blocks(self.embedding(x))
        pooled = []
        if self.pooling in ("mean", "mean_max"):
            pooled.append(h.mean(dim=1))
        if self.pooling in ("max", "mean_max"):
            pooled.append(h.amax(dim=1))
        return torch.cat([self.norm(p) for p in pooled], dim=1)


class _SequenceAttentionEncoder(nn.Module):
    """Convolutional tokens attending to memory; every stage pooled.

    The last tokens of the :class:`SequenceEmbedding` pass through the
    memory blocks. The features are the tokens of every stage of the
    embedding, then the tokens out of the blocks, each pooled over time
    (see :func:`pooled`).
    """

    def __init__(self, embedding, blocks, pooling):
        super().__init__()
        self.embedding = embedding
        self.blocks = nn.Sequential(*blocks)
        self.pooling = pooling

    def forward(self, x):
        stages = self.embedding(x)
        h = self.blocks(stages[-1])
        return torch.cat([pooled(t, self.pooling) for t in [*stages, h]], dim=1)


@fill_shared_docs
class MemoryAttentionTransformer(NeuralTransformerBase):
    """Pool tokens that attend to a learned memory into features.

    The sample is cut into tokens, each embedded in ``units`` dimensions and
    passed through ``depth`` blocks of
    :class:`~sk_memsel.nn.MemoryAugmentedAttention` (every token attends to
    a learned memory of ``memory_size`` slots) and a feed-forward layer.

    - **Sequences** ``(n_samples, n_channels, n_timepoints)``: a small
      convolutional network describes the local shape of the series at
      every time point and max-pools it into at most ``max_tokens`` tokens
      (three stages: the first convolution, then two residual ones); the
      last stage's tokens attend to the memory. The features are each
      stage's tokens and the tokens out of the memory blocks, pooled over
      time: ``4 * units`` columns (64 with the defaults), ``8 * units``
      with ``pooling="mean_max"``.
    - **Tables** ``(n_samples, n_features)``: each feature is a token, and
      the features are the tokens out of the memory blocks, pooled over the
      features: ``units`` columns (16), ``2 * units`` with
      ``pooling="mean_max"``.

    Each pooled vector is layer-normalised.

    With ``y`` the network is trained through a linear head that predicts
    ``y`` (classification or regression, inferred from ``y``); without ``y``
    the head reconstructs the standardised input from the features.

    Parameters
    ----------
    units : int, default=16
        Width of the tokens, of the memory slots and of the attention.
    memory_size : int, default=16
        Number of memory slots of each attention layer.
    num_heads : int, default=4
        Attention heads; they split ``units``, which must be divisible by
        ``num_heads``.
    depth : int, default=1
        Number of stacked attention + feed-forward blocks.
    pooling : {"mean", "max", "mean_max"}, default="mean"
        How the tokens are pooled into features: their mean, their maximum,
        or both (the mean first, twice the columns).
    dropout : float, default=0.0
        Dropout on the attention weights and the feed-forward output, in
        training only.
    {kernel_size}
    {max_tokens}
    {standardize}
    {task}
        Without ``y`` the head reconstructs the input, whatever this is.
    {max_epochs}
    {batch_size}
    {lr}
    {optimizer}
    {weight_decay}
        It keeps the per-token functions from overfitting small data sets.
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
        The trained net; ``net_.module_.encoder.blocks[i].attention`` are
        the :class:`~sk_memsel.nn.MemoryAugmentedAttention` layers and
        ``net_.module_.encoder.embedding`` the tokens' embedding.
    n_epochs_ : int
        Number of epochs trained; ``history_[-1, "stop_reason"]`` says why
        training stopped (``"max_epochs"``, ``"no_improvement"`` or
        ``"interrupted"``).
    n_threads_ : int
        PyTorch threads used on the CPU (see ``n_threads``).

    See Also
    --------
    sk_memsel.nn.MemoryAugmentedAttention : The attention layer.
    DNCTransformer : Features from a Differentiable Neural Computer.

    Notes
    -----
    Tokens. For 2-D input ``(n_samples, n_features)`` each feature is a
    token: feature :math:`f` with value :math:`x_f` becomes
    :math:`x_f w_f + p_f`, with its own learned embedding :math:`w_f` of the
    value and a learned feature-position embedding :math:`p_f`. For 3-D
    input ``(n_samples, n_channels, n_timepoints)`` (the layout of aeon and
    sktime) the tokens are those of the convolutional embedding: its
    convolutions read all channels together over ``kernel_size`` time
    points, each followed by a batch normalisation (its statistics are those
    of the training batches, whatever their sample weights) and a ReLU.

    A block is :math:`h \\leftarrow h + \\operatorname{MHA}(h, M, M)` (the
    layer's own residual), then :math:`h \\leftarrow h +
    \\operatorname{FFN}(\\operatorname{LayerNorm}(h))`. Nothing normalises
    the residual stream itself: a tabular token starts as a multiple of one
    vector, and a LayerNorm would keep the sign of the value and lose its
    size.

    The attention layer attends from each token to the memory only, never to
    the other tokens: tokens share information through the learned memory
    and the pooling. For tabular input the features therefore are an
    additive model of per-feature functions; for sequences, what the
    convolutions see of the neighbourhood of each token.

    Training budget. ``max_epochs="auto"`` trains about 300 optimizer steps
    whatever the number of rows, so that a set of 40 series is trained as
    long as one of 4,000; see :ref:`transformers_user_guide`.

    References
    ----------
    .. [1] A. Vaswani et al., "Attention Is All You Need", NeurIPS 2017.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sk_memsel import MemoryAttentionTransformer
    >>> X, y = load_iris(return_X_y=True)
    >>> attention = MemoryAttentionTransformer(
    ...     units=8, memory_size=4, num_heads=2, depth=1, pooling="mean_max",
    ...     max_epochs=3, random_state=0,
    ... ).fit(X, y)
    >>> attention.transform(X).shape  # 2 * units with "mean_max"
    (150, 16)
    >>> import numpy as np
    >>> sequences = np.random.RandomState(0).normal(size=(20, 3, 10))
    >>> attention.fit(sequences).transform(sequences).shape  # no y: 8 * units
    (20, 64)
    """

    _accepts_sequences = True

    #: optimizer steps that ``max_epochs="auto"`` allows
    _auto_steps = 300

    def __init__(
        self,
        units=16,
        *,
        memory_size=16,
        num_heads=4,
        depth=1,
        pooling="mean",
        dropout=0.0,
        kernel_size=9,
        max_tokens=64,
        standardize=True,
        task="auto",
        max_epochs="auto",
        batch_size=16,
        lr=0.005,
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
        self.units = units
        self.memory_size = memory_size
        self.num_heads = num_heads
        self.depth = depth
        self.pooling = pooling
        self.dropout = dropout
        self.kernel_size = kernel_size
        self.max_tokens = max_tokens
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
            ("units", "memory_size", "num_heads", "depth", "kernel_size", "max_tokens"),
            [IntInterval(1, None, closed="left")],
        ),
        "pooling": [StrOptions({"mean", "max", "mean_max"})],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    def _check_params(self):
        if self.units % self.num_heads:
            raise ValueError(
                f"units={self.units} must be divisible by "
                f"num_heads={self.num_heads}: the heads split units."
            )

    def _layout(self, Z):
        """(n, F, 1) values of the features of 2-D input; 3-D input as it is."""
        return Z[:, :, None] if Z.ndim == 2 else Z

    def _build_encoder(self, input_shape):
        units = int(self.units)
        blocks = [
            _MemoryBlock(
                units, int(self.memory_size), int(self.num_heads), float(self.dropout)
            )
            for _ in range(int(self.depth))
        ]
        width = units * (2 if self.pooling == "mean_max" else 1)  # per pooling
        if self.n_timepoints_in_ is None:
            n_tokens, n_channels = (int(s) for s in input_shape)
            embedding = _TokenEmbedding(n_tokens, n_channels, units)
            return _AttentionEncoder(embedding, blocks, self.pooling, units), width
        n_channels, n_timepoints = (int(s) for s in input_shape)
        embedding = SequenceEmbedding(
            n_channels,
            n_timepoints,
            units,
            kernel_size=int(self.kernel_size),
            max_tokens=int(self.max_tokens),
        )
        n_stages = len(embedding.residual) + 1
        encoder = _SequenceAttentionEncoder(embedding, blocks, self.pooling)
        return encoder, width * (n_stages + 1)
