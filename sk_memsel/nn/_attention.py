"""Memory-augmented attention: attend from each time step to a learned memory."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_positive_int
from ._random import dropout as stream_dropout

__all__ = ["MemoryAugmentedAttention"]


class MemoryAugmentedAttention(nn.Module):
    """Residual multi-head attention from a sequence to a learned memory.

    Every time step of the input queries a trainable memory ``M`` of
    ``memory_size`` slots; the attended context is added back to the input.

    Parameters
    ----------
    units : int
        Width of the inputs, of the memory slots and of the attention
        (``embed_dim`` of :class:`torch.nn.MultiheadAttention`).
    memory_size : int
        Number of memory slots.
    num_heads : int
        Number of attention heads. The heads split ``units``: each head works
        on ``units // num_heads`` dimensions (torch's convention), so
        ``units`` must be divisible by ``num_heads``. This differs from
        Keras' ``MultiHeadAttention``, whose ``key_dim`` is the size of each
        head.
    dropout : float, default=0.0
        Dropout on the attention weights, active in training mode only. Its
        mask comes from the thread's
        :func:`~sk_memsel.nn._random.random_stream` when one is open (torch's
        attention would draw it from the global generator).

    Attributes
    ----------
    memory : torch.nn.Parameter of shape (memory_size, units)
        The learned memory (Xavier-uniform initialised).
    attention : torch.nn.MultiheadAttention
        The attention, with ``batch_first=True``.

    Notes
    -----
    For an input :math:`X` of shape ``(batch, time, units)``,

    .. math::

        Z = X + \\operatorname{MHA}(Q = X, K = M, V = M),

    where :math:`M` is broadcast (not copied) over the batch. Each time step
    attends to the memory only, never to the other time steps, so output
    step :math:`t` depends on input step :math:`t` alone.

    References
    ----------
    .. [1] A. Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
    .. [2] fusionlab-learn, ``fusionlab.nn.components.MemoryAugmentedAttention``
       (the Keras layer this module follows).

    Examples
    --------
    >>> import torch
    >>> from sk_memsel.nn import MemoryAugmentedAttention
    >>> layer = MemoryAugmentedAttention(units=16, memory_size=6, num_heads=4)
    >>> x = torch.randn(2, 10, 16)  # (batch, time, units)
    >>> layer(x).shape
    torch.Size([2, 10, 16])
    >>> z, weights = layer(x, return_attention=True)
    >>> weights.shape  # (batch, num_heads, time, memory_size)
    torch.Size([2, 4, 10, 6])
    >>> z, weights = layer(x, return_attention=True, average_attn_weights=True)
    >>> weights.shape  # (batch, time, memory_size)
    torch.Size([2, 10, 6])
    """

    def __init__(
        self, units: int, memory_size: int, num_heads: int, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.units = check_positive_int("units", units)
        self.memory_size = check_positive_int("memory_size", memory_size)
        self.num_heads = check_positive_int("num_heads", num_heads)
        if units % num_heads:
            raise ValueError(
                f"units={units} must be divisible by num_heads={num_heads}: "
                "torch's heads split units (each head gets units // num_heads "
                "dimensions), unlike Keras' key_dim, the size of each head."
            )
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, (int, float))
            or not 0.0 <= dropout < 1.0
        ):
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
        self.dropout = float(dropout)
        self.memory = nn.Parameter(torch.empty(memory_size, units))
        nn.init.xavier_uniform_(self.memory)
        self.attention = nn.MultiheadAttention(
            units, num_heads, dropout=self.dropout, batch_first=True
        )

    def forward(
        self,
        x: Tensor,
        return_attention: bool = False,
        *,
        average_attn_weights: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Add the memory context to every time step.

        Parameters
        ----------
        x : Tensor of shape (batch, time, units)
            Input sequences.
        return_attention : bool, default=False
            Also return the attention weights over the memory slots.
        average_attn_weights : bool, default=False
            Average the returned weights over the heads.

        Returns
        -------
        z : Tensor of shape (batch, time, units)
            ``x`` plus the attended memory.
        weights : Tensor
            Only with ``return_attention=True``: of shape
            (batch, num_heads, time, memory_size), or (batch, time,
            memory_size) with ``average_attn_weights=True``.
        """
        if x.ndim != 3 or x.shape[-1] != self.units:
            raise ValueError(
                f"x must have shape (batch, time, {self.units}), got {tuple(x.shape)}."
            )
        memory = self.memory.unsqueeze(0).expand(x.shape[0], -1, -1)
        if self.training and self.dropout > 0.0:
            context, weights = self._attend(x, memory, average_attn_weights)
        else:
            context, weights = self.attention(
                x,
                memory,
                memory,
                need_weights=return_attention,
                average_attn_weights=average_attn_weights,
            )
        z = x + context
        if return_attention:
            return z, weights
        return z

    def _attend(self, x: Tensor, memory: Tensor, average: bool, drop=None):
        """``self.attention(x, memory, memory)`` written out, with the dropout
        of the attention weights drawn by ``drop`` (by default
        :func:`~sk_memsel.nn._random.dropout`, from the thread's stream).

        The maths of :func:`torch.nn.functional.multi_head_attention_forward`
        with packed input projections; the weights returned are those after
        dropout, as torch's are in training mode.
        """
        if drop is None:

            def drop(weights):
                return stream_dropout(weights, self.dropout, True)

        mha = self.attention
        heads, size = self.num_heads, self.units // self.num_heads
        w_q, w_k, w_v = mha.in_proj_weight.chunk(3)
        b_q, b_k, b_v = mha.in_proj_bias.chunk(3)
        batch, steps, slots = x.shape[0], x.shape[1], memory.shape[1]

        def split(t, n):  # (batch, n, units) -> (batch, heads, n, size)
            return t.reshape(batch, n, heads, size).transpose(1, 2)

        q = split(F.linear(x, w_q, b_q), steps)
        k = split(F.linear(memory, w_k, b_k), slots)
        v = split(F.linear(memory, w_v, b_v), slots)
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(size), dim=-1)
        weights = drop(weights)
        context = (weights @ v).transpose(1, 2).reshape(batch, steps, self.units)
        context = mha.out_proj(context)
        return context, weights.mean(dim=1) if average else weights

    def extra_repr(self) -> str:
        return (
            f"units={self.units}, memory_size={self.memory_size}, "
            f"num_heads={self.num_heads}, dropout={self.dropout}"
        )
