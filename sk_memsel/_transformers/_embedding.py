"""The convolutional embedding of sequences that the memory modules read.

A time point of a one-channel series is a single number: a memory that is
addressed by it (attention to learned slots, the DNC's content lookup) can
tell little more than its size. The transformers that read sequences
therefore put a small convolutional network in front of their memory
module, which turns each stretch of the series into a vector that
describes its local shape, for one channel as for many:

1. a convolution of the channels over ``kernel_size`` consecutive time
   points, at the full resolution of the series (its cost per time point is
   ``n_channels * kernel_size * width``, small for the few channels of
   most series);
2. a maximum over non-overlapping windows, so that a long series becomes at
   most ``max_tokens`` tokens: a shape is detected wherever it falls in the
   window, and the memory module reads a sequence whose length no longer
   grows with the series';
3. ``depth`` residual convolutions over the tokens, dilated 1, 2, 4, ...,
   which widen the stretch of series each token describes.

Every convolution is followed by a batch normalisation and a ReLU
(:class:`ConvNormReLU`). The embedding returns the tokens after each of
these stages (:meth:`SequenceEmbedding.forward`): the transformers pool
every stage into features, not only the last, and their memory module
reads the last. The measurements behind these choices are in the user
guide (:ref:`transformers_user_guide`).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ConvNormReLU", "SequenceEmbedding", "pooled"]


def pooled(h, pooling="mean_max"):
    """Pool tokens ``h`` (batch, n_tokens, width) over the tokens.

    Their mean, their maximum (``pooling="mean"``, ``"max"``) or both, the
    mean first (``"mean_max"``); each pooled vector is layer-normalised
    without affine parameters (the next linear layer makes them redundant,
    and their gradients, sums over all tokens, change in the last bits with
    the number of CPU threads). Returns (batch, width) or (batch, 2 * width).
    """
    width = h.shape[-1:]
    parts = []
    if pooling in ("mean", "mean_max"):
        parts.append(F.layer_norm(h.mean(dim=1), width))
    if pooling in ("max", "mean_max"):
        parts.append(F.layer_norm(h.amax(dim=1), width))
    return torch.cat(parts, dim=1)


class ConvNormReLU(nn.Module):
    """A 1-D convolution, a batch normalisation and a ReLU, as one layer.

    The convolution keeps the length (``"same"`` padding, stride 1) and has
    no bias (the normalisation's shift replaces it). The normalisation is
    torch's :func:`~torch.nn.functional.batch_norm` over the batch and the
    time points, with running statistics for evaluation (momentum 0.1,
    ``eps=1e-5``, as :class:`torch.nn.BatchNorm1d`).

    A training batch of a single value per channel (one row of one time
    point) has no spread to normalise by: it is normalised with the running
    statistics, as in evaluation, and leaves them unchanged.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels in and out.
    kernel_size : int
        Time points each output reads.
    dilation : int, default=1
        Spacing of those time points.
    """

    def __init__(self, in_channels, out_channels, kernel_size, dilation=1):
        super().__init__()
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = int(kernel_size)
        self.dilation = int(dilation)
        self.weight = nn.Parameter(
            torch.empty(self.out_channels, self.in_channels, self.kernel_size)
        )
        # the initialisation of torch.nn.Conv1d: uniform within 1 / sqrt(fan_in)
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.scale = nn.Parameter(torch.ones(self.out_channels))
        self.shift = nn.Parameter(torch.zeros(self.out_channels))
        self.register_buffer("running_mean", torch.zeros(self.out_channels))
        self.register_buffer("running_var", torch.ones(self.out_channels))

    def forward(self, x):
        """(batch, in_channels, time) to (batch, out_channels, time)."""
        z = F.conv1d(x, self.weight, padding="same", dilation=self.dilation)
        batch_statistics = self.training and z.shape[0] * z.shape[2] > 1
        z = F.batch_norm(
            z,
            self.running_mean,
            self.running_var,
            self.scale,
            self.shift,
            training=batch_statistics,
            momentum=0.1,
            eps=1e-5,
        )
        return F.relu(z)

    def extra_repr(self):
        return (
            f"{self.in_channels}, {self.out_channels}, "
            f"kernel_size={self.kernel_size}, dilation={self.dilation}"
        )


class SequenceEmbedding(nn.Module):
    """Embed sequences ``(batch, n_channels, n_timepoints)`` as tokens.

    See the module docstring. Each stage gives tokens ``(batch, n_tokens,
    width)``, ``n_tokens = ceil(n_timepoints / pool)`` with ``pool =
    ceil(n_timepoints / max_tokens)`` time points per token.

    Parameters
    ----------
    n_channels : int
        Channels of the input.
    n_timepoints : int
        Time points of the input.
    width : int
        Width of every token.
    kernel_size : int
        Width of the convolutions.
    max_tokens : int
        Most tokens per sequence.
    depth : int, default=2
        Residual convolutions over the tokens.

    Examples
    --------
    >>> import torch
    >>> from sk_memsel._transformers._embedding import SequenceEmbedding
    >>> embed = SequenceEmbedding(1, 150, 16, kernel_size=9, max_tokens=64)
    >>> embed.pool, embed.n_tokens
    (3, 50)
    >>> stages = embed(torch.randn(4, 1, 150))  # the pooled input, 2 residuals
    >>> len(stages), stages[-1].shape
    (3, torch.Size([4, 50, 16]))
    """

    def __init__(
        self, n_channels, n_timepoints, width, *, kernel_size, max_tokens, depth=2
    ):
        super().__init__()
        self.pool = math.ceil(int(n_timepoints) / int(max_tokens))
        self.n_tokens = math.ceil(int(n_timepoints) / self.pool)
        self.input = ConvNormReLU(n_channels, width, kernel_size)
        self.residual = nn.ModuleList(
            ConvNormReLU(width, width, kernel_size, dilation=2**i)
            for i in range(int(depth))
        )

    def forward(self, x):
        """The tokens after each stage: a list of ``depth + 1`` tensors of
        shape ``(batch, n_tokens, width)``, the last the most processed."""
        h = self.input(x)
        if self.pool > 1:  # the last window may be short (ceil_mode)
            h = F.max_pool1d(h, self.pool, self.pool, ceil_mode=True)
        stages = [h]
        for layer in self.residual:
            h = h + layer(h)
            stages.append(h)
        return [stage.transpose(1, 2) for stage in stages]
