"""MemoryAttentionTransformer: features from memory-augmented attention."""

from numbers import Real

import torch
from torch import nn

from .._backbone._compat import Interval, StrOptions
from .._backbone._params import IntInterval, fill_shared_docs
from ..nn import MemoryAugmentedAttention
from ._base import NeuralTransformerBase

__all__ = ["MemoryAttentionTransformer"]


class _TokenEmbedding(nn.Module):
    """Embed (batch, n_tokens, n_channels) values as (batch, n_tokens, units).

    With ``per_token=True`` every token position has its own linear map of
    its values (the per-feature embedding of tabular input); otherwise one
    linear map is shared by all positions (the time steps of a sequence).
    Both add a learned position embedding.
    """

    def __init__(self, n_tokens, n_channels, units, *, per_token):
        super().__init__()
        self.per_token = per_token
        if per_token:
            bound = 1.0 / n_channels**0.5  # that of nn.Linear(n_channels, units)
            self.weight = nn.Parameter(
                torch.empty(n_tokens, n_channels, units).uniform_(-bound, bound)
            )
        else:
            self.linear = nn.Linear(n_channels, units)
        self.position = nn.Parameter(torch.randn(n_tokens, units) * 0.02)

    def forward(self, x):
        if self.per_token:
            tokens = torch.einsum("btc,tcu->btu", x, self.weight)
        else:
            tokens = self.linear(x)
        return tokens + self.position


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


@fill_shared_docs
class MemoryAttentionTransformer(NeuralTransformerBase):
    """Pool tokens that attend to a learned memory into features.

    The sample is cut into tokens, each embedded in ``units`` dimensions and
    passed through ``depth`` blocks of
    :class:`~sk_memsel.nn.MemoryAugmentedAttention` (every token attends to
    a learned memory of ``memory_size`` slots) and a feed-forward layer. The
    features are the tokens pooled over the sample (their mean, their
    maximum, or both), each pooled vector layer-normalised.

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
        How the tokens are pooled into features: ``units`` columns for
        ``"mean"`` and ``"max"``, ``2 * units`` for ``"mean_max"`` (the mean
        followed by the maximum).
    dropout : float, default=0.1
        Dropout on the attention weights and the feed-forward output, in
        training only.
    {standardize}
    {task}
        Without ``y`` the head reconstructs the input, whatever this is.
    {max_epochs}
    {batch_size}
    {lr}
    {optimizer}
    {weight_decay}
        With ``dropout``, it keeps the per-token functions from overfitting
        small data sets.
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
        the :class:`~sk_memsel.nn.MemoryAugmentedAttention` layers.
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
    sktime) each time point is a token: its ``n_channels`` values are
    projected to ``units`` by one shared linear map, plus a learned
    time-position embedding.

    A block is :math:`h \\leftarrow h + \\operatorname{MHA}(h, M, M)` (the
    layer's own residual), then :math:`h \\leftarrow h +
    \\operatorname{FFN}(\\operatorname{LayerNorm}(h))`. Nothing normalises
    the residual stream itself: a tabular token starts as a multiple of one
    vector, and a LayerNorm would keep the sign of the value and lose its
    size.

    The attention layer attends from each token to the memory only, never to
    the other tokens: tokens share information through the learned memory
    and the pooling. The features therefore summarise the distribution of
    the (position-aware) token embeddings over the sample; for tabular
    input they are an additive model of per-feature functions.

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
    >>> attention.fit(sequences).transform(sequences).shape  # no y: reconstruction
    (20, 16)
    """

    _accepts_sequences = True

    def __init__(
        self,
        units=16,
        *,
        memory_size=16,
        num_heads=4,
        depth=1,
        pooling="mean",
        dropout=0.1,
        standardize=True,
        task="auto",
        max_epochs=20,
        batch_size=32,
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
            ("units", "memory_size", "num_heads", "depth"),
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
        """Tokens (n, n_tokens, n_channels) from 2-D (n, F) or 3-D (n, C, T)."""
        return Z[:, :, None] if Z.ndim == 2 else Z.transpose(0, 2, 1)

    def _build_encoder(self, input_shape):
        n_tokens, n_channels = (int(s) for s in input_shape)
        units = int(self.units)
        embedding = _TokenEmbedding(
            n_tokens,
            n_channels,
            units,
            per_token=self.n_timepoints_in_ is None,
        )
        blocks = [
            _MemoryBlock(
                units, int(self.memory_size), int(self.num_heads), float(self.dropout)
            )
            for _ in range(int(self.depth))
        ]
        n_features = units * (2 if self.pooling == "mean_max" else 1)
        return _AttentionEncoder(embedding, blocks, self.pooling, units), n_features
