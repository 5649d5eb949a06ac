"""Addressing operations of the Differentiable Neural Computer (DNC).

The DNC (Graves et al., 2016) reads and writes an external memory ``M`` of
``N`` slots ("words") of width ``W`` through soft weightings over the slots.
This module holds the pieces of that addressing, written from the paper:

* :class:`CosineWeights`: content-based addressing (cosine similarity between
  a key and every slot, sharpened by a strength, normalised by a softmax);
* :class:`Freeness`: the usage vector, the free gates and the dynamic
  allocation of unused slots to the write heads;
* :class:`TemporalLinkage`: the temporal link matrix that records in which
  order slots were written, and the forward / backward reads along it;
* :func:`erase_and_write`: the erase-then-add memory update.

Shapes use ``B`` for the batch, ``N`` for the memory size, ``W`` for the word
size, ``R`` for the number of read heads and ``Wr`` for the number of write
heads. Every operation works on whole batches with tensor operations; there
is no Python loop over the batch or over memory slots.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_positive_int, check_shape

__all__ = [
    "CosineWeights",
    "Freeness",
    "TemporalLinkage",
    "TemporalLinkageState",
    "erase_and_write",
]

#: Small constant that keeps norms, cumulative products and logs away from 0.
_EPSILON = 1e-6


# The operations themselves, in plain differentiable torch code (autograd
# gives their gradients); the modules below check shapes and call them.
# sk_memsel/nn/_dnc_fused.py has the same maths as one fused step with a
# hand-written backward pass, and tests/nn/test_dnc_fused.py checks the two
# against each other.


def _cosine_weights(memory: Tensor, keys: Tensor, strengths: Tensor) -> Tensor:
    """Content weights (B, H, N) for positive ``strengths`` (B, H)."""
    dot = torch.matmul(keys, memory.transpose(-1, -2))  # (B, H, N)
    memory_norms = torch.sqrt((memory * memory).sum(-1) + _EPSILON)  # (B, N)
    key_norms = torch.sqrt((keys * keys).sum(-1) + _EPSILON)  # (B, H)
    similarity = dot / (key_norms.unsqueeze(-1) * memory_norms.unsqueeze(-2))
    return torch.softmax(strengths.unsqueeze(-1) * similarity, dim=-1)


def _usage(
    write_weights: Tensor, free_gate: Tensor, read_weights: Tensor, prev_usage: Tensor
) -> Tensor:
    """Usage after the previous step's writes, then its freed reads."""
    written = 1 - torch.prod(1 - write_weights, dim=1)
    usage = prev_usage + written - prev_usage * written
    retention = torch.prod(1 - free_gate.unsqueeze(-1) * read_weights, dim=1)
    return usage * retention


def _exclusive_cumprod(x: Tensor) -> Tensor:
    """Cumulative product along the last axis, shifted right by one.

    ``out[..., 0] = 1`` and ``out[..., k] = x[..., 0] * ... * x[..., k - 1]``.
    """
    return F.pad(torch.cumprod(x[..., :-1], dim=-1), (1, 0), value=1.0)


def _allocation(usage: Tensor) -> Tensor:
    """Allocation weighting (B, N) of one write head, for usage (B, N)."""
    usage = _EPSILON + (1 - _EPSILON) * usage
    sorted_usage, free_list = torch.sort(usage, dim=-1)
    sorted_allocation = (1 - sorted_usage) * _exclusive_cumprod(sorted_usage)
    # The weight of the k-th least used slot goes back to that slot.
    return torch.zeros_like(usage).scatter(-1, free_list, sorted_allocation)


def _write_allocation_weights(usage: Tensor, write_gates: Tensor) -> Tensor:
    """Allocation of each write head in turn, shape (B, Wr, N)."""
    allocations = []
    for i in range(write_gates.shape[1]):
        allocation = _allocation(usage)
        allocations.append(allocation)
        # The next head sees this head's write.
        usage = usage + (1 - usage) * write_gates[:, i : i + 1] * allocation
    return torch.stack(allocations, dim=1)


def _link_update(
    prev_link: Tensor, write_weights: Tensor, prev_precedence: Tensor
) -> Tensor:
    """L_ij = (1 - w_i - w_j) L0_ij + w_i p_j, with a zero diagonal."""
    w_i = write_weights.unsqueeze(-1)
    w_j = write_weights.unsqueeze(-2)
    link = (1 - w_i - w_j) * prev_link + w_i * prev_precedence.unsqueeze(-2)
    n = write_weights.shape[-1]
    diagonal = torch.eye(n, dtype=torch.bool, device=link.device)
    return link.masked_fill(diagonal, 0.0)


def _precedence(write_weights: Tensor, prev_precedence: Tensor) -> Tensor:
    """p = (1 - sum w) p + w, for each write head."""
    remaining = 1 - write_weights.sum(-1, keepdim=True)
    return remaining * prev_precedence + write_weights


def _erase_and_write(
    memory: Tensor, address: Tensor, erase: Tensor, values: Tensor
) -> Tensor:
    weighted_erase = address.unsqueeze(-1) * erase.unsqueeze(-2)  # (B, Wr, N, W)
    kept = memory * torch.prod(1 - weighted_erase, dim=1)
    return kept + torch.matmul(address.transpose(1, 2), values)


def erase_and_write(
    memory: Tensor, address: Tensor, erase: Tensor, values: Tensor
) -> Tensor:
    """Erase, then add, words in the memory through soft write weightings.

    Parameters
    ----------
    memory : Tensor of shape (B, N, W)
        Memory before the write.
    address : Tensor of shape (B, Wr, N)
        Write weighting of each write head over the slots.
    erase : Tensor of shape (B, Wr, W)
        Erase vector of each write head, with entries in [0, 1].
    values : Tensor of shape (B, Wr, W)
        Word written by each write head.

    Returns
    -------
    memory : Tensor of shape (B, N, W)
        Memory after the write.

    Notes
    -----
    With write weighting :math:`w^i`, erase vector :math:`e^i` and write
    vector :math:`v^i` for write head :math:`i`,

    .. math::

        M'_t(n) = M_{t-1}(n) \\odot \\prod_i \\left(1 - w^i_t(n)\\, e^i_t\\right),
        \\qquad
        M_t(n) = M'_t(n) + \\sum_i w^i_t(n)\\, v^i_t .

    With a single write head this is the paper's
    :math:`M_t = M_{t-1} \\circ (E - w_t e_t^\\top) + w_t v_t^\\top`.

    References
    ----------
    .. [1] A. Graves et al., "Hybrid computing using a neural network with
       dynamic external memory", Nature 538, 471-476 (2016).

    Examples
    --------
    >>> import torch
    >>> from sk_memsel.nn import erase_and_write
    >>> memory = torch.zeros(2, 5, 3)
    >>> address = torch.softmax(torch.randn(2, 1, 5), dim=-1)
    >>> erase, values = torch.rand(2, 1, 3), torch.randn(2, 1, 3)
    >>> erase_and_write(memory, address, erase, values).shape
    torch.Size([2, 5, 3])
    """
    if memory.ndim != 3:
        raise ValueError(
            f"memory must have shape (B, N, W), got {tuple(memory.shape)}."
        )
    batch, n, width = memory.shape
    check_shape("address", address, (batch, None, n))
    check_shape("erase", erase, (batch, address.shape[1], width))
    check_shape("values", values, (batch, address.shape[1], width))
    return _erase_and_write(memory, address, erase, values)


class CosineWeights(nn.Module):
    """Content-based addressing by cosine similarity.

    Each of ``num_heads`` heads compares its key with every memory slot by
    cosine similarity, multiplies the similarities by a positive strength and
    normalises them over the slots with a softmax.

    Parameters
    ----------
    num_heads : int
        Number of heads (keys) looked up at once.
    word_size : int
        Width ``W`` of a memory word and of a key.

    Notes
    -----
    For memory :math:`M \\in \\mathbb{R}^{N \\times W}`, a key :math:`k` and a
    raw strength :math:`\\hat\\beta`,

    .. math::

        D(k, M_n) = \\frac{k \\cdot M_n}{\\sqrt{\\lVert k \\rVert^2 + \\epsilon}
            \\sqrt{\\lVert M_n \\rVert^2 + \\epsilon}}, \\qquad
        c_n = \\frac{\\exp(\\beta D(k, M_n))}{\\sum_m \\exp(\\beta D(k, M_m))},
        \\qquad \\beta = \\operatorname{softplus}(\\hat\\beta),

    with :math:`\\epsilon = 10^{-6}`, which keeps the weights and their
    gradients finite when a slot or a key is zero (as the memory is at the
    start). The strength passed in is the raw (pre-activation) value; the
    softplus is applied here, so :math:`\\beta > 0`.

    References
    ----------
    .. [1] A. Graves et al., "Hybrid computing using a neural network with
       dynamic external memory", Nature 538, 471-476 (2016).

    Examples
    --------
    >>> import torch
    >>> from sk_memsel.nn import CosineWeights
    >>> cosine = CosineWeights(num_heads=2, word_size=3)
    >>> memory = torch.randn(4, 5, 3)  # (batch, memory_size, word_size)
    >>> keys, strengths = torch.randn(4, 2, 3), torch.randn(4, 2)
    >>> weights = cosine(memory, keys, strengths)
    >>> weights.shape
    torch.Size([4, 2, 5])
    >>> bool(torch.allclose(weights.sum(-1), torch.ones(4, 2)))
    True
    """

    def __init__(self, num_heads: int, word_size: int) -> None:
        super().__init__()
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.word_size = check_positive_int("word_size", word_size)

    def forward(self, memory: Tensor, keys: Tensor, strengths: Tensor) -> Tensor:
        """Compute the content weights.

        Parameters
        ----------
        memory : Tensor of shape (B, N, W)
            Memory to look up.
        keys : Tensor of shape (B, num_heads, W)
            One key per head.
        strengths : Tensor of shape (B, num_heads)
            Raw strengths; softplus turns them into positive sharpenings.

        Returns
        -------
        weights : Tensor of shape (B, num_heads, N)
            A probability distribution over the slots for each head.
        """
        batch = memory.shape[0]
        check_shape("memory", memory, (batch, None, self.word_size))
        check_shape("keys", keys, (batch, self.num_heads, self.word_size))
        check_shape("strengths", strengths, (batch, self.num_heads))
        return _cosine_weights(memory, keys, F.softplus(strengths))

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}, word_size={self.word_size}"


class Freeness(nn.Module):
    """Memory usage, free gates and dynamic allocation.

    Keeps a usage value in [0, 1] per memory slot: writing to a slot raises
    its usage, and a read head may free the slots it read at the previous
    step through its free gate. The least used slots are then handed to the
    write heads by :meth:`write_allocation_weights`.

    Parameters
    ----------
    memory_size : int
        Number ``N`` of memory slots.

    Notes
    -----
    With the previous usage :math:`u_{t-1}`, the previous write weightings
    :math:`w^{w,i}_{t-1}` of the write heads, the previous read weightings
    :math:`w^{r,j}_{t-1}` and the free gates :math:`f^j_t`,

    .. math::

        w_{t-1} = 1 - \\prod_i (1 - w^{w,i}_{t-1}), \\qquad
        \\psi_t = \\prod_j \\left(1 - f^j_t\\, w^{r,j}_{t-1}\\right),

        u_t = \\left(u_{t-1} + w_{t-1} - u_{t-1} \\odot w_{t-1}\\right)
            \\odot \\psi_t .

    :math:`w_{t-1}` is the combined effect of all write heads (a slot is
    "written" unless no head wrote it); with a single head it is the head's
    own weighting, as in the paper. Gradients flow through the usage update;
    the allocation's sort only permutes values, so it is differentiable
    almost everywhere.

    References
    ----------
    .. [1] A. Graves et al., "Hybrid computing using a neural network with
       dynamic external memory", Nature 538, 471-476 (2016).

    Examples
    --------
    >>> import torch
    >>> from sk_memsel.nn import Freeness
    >>> freeness = Freeness(memory_size=5)
    >>> usage = freeness(
    ...     write_weights=torch.softmax(torch.randn(3, 2, 5), -1),
    ...     free_gate=torch.rand(3, 4),
    ...     read_weights=torch.softmax(torch.randn(3, 4, 5), -1),
    ...     prev_usage=torch.rand(3, 5),
    ... )
    >>> usage.shape
    torch.Size([3, 5])
    >>> allocation = freeness.write_allocation_weights(
    ...     usage=usage, write_gates=torch.rand(3, 2), num_writes=2
    ... )
    >>> allocation.shape
    torch.Size([3, 2, 5])
    """

    def __init__(self, memory_size: int) -> None:
        super().__init__()
        self.memory_size = check_positive_int("memory_size", memory_size)

    def forward(
        self,
        write_weights: Tensor,
        free_gate: Tensor,
        read_weights: Tensor,
        prev_usage: Tensor,
    ) -> Tensor:
        """Update the usage after the previous step's writes and reads.

        Parameters
        ----------
        write_weights : Tensor of shape (B, Wr, N)
            Write weightings of the previous step.
        free_gate : Tensor of shape (B, R)
            Free gate of each read head, in [0, 1].
        read_weights : Tensor of shape (B, R, N)
            Read weightings of the previous step.
        prev_usage : Tensor of shape (B, N)
            Usage of the previous step, in [0, 1].

        Returns
        -------
        usage : Tensor of shape (B, N)
            The new usage, in [0, 1].
        """
        batch, n = prev_usage.shape[0], self.memory_size
        check_shape("prev_usage", prev_usage, (batch, n))
        check_shape("write_weights", write_weights, (batch, None, n))
        check_shape("read_weights", read_weights, (batch, None, n))
        check_shape("free_gate", free_gate, (batch, read_weights.shape[1]))
        return _usage(write_weights, free_gate, read_weights, prev_usage)

    def write_allocation_weights(
        self, usage: Tensor, write_gates: Tensor, num_writes: int
    ) -> Tensor:
        """Allocation weightings of the write heads, one head after another.

        Parameters
        ----------
        usage : Tensor of shape (B, N)
            Current usage, in [0, 1].
        write_gates : Tensor of shape (B, num_writes)
            How much each head will write to its allocation (in the DNC the
            product of the allocation gate and the write gate).
        num_writes : int
            Number of write heads.

        Returns
        -------
        allocation : Tensor of shape (B, num_writes, N)
            Allocation weighting of each write head; each sums to at most 1.

        Notes
        -----
        Slots are sorted by usage, least used first (free list
        :math:`\\phi`), and

        .. math::

            a_t[\\phi_j] = \\left(1 - u_t[\\phi_j]\\right)
                \\prod_{i=1}^{j-1} u_t[\\phi_i],

        computed on :math:`\\epsilon + (1 - \\epsilon) u_t` so that the
        product never is exactly 0. Several write heads allocate in turn:
        after head :math:`i` the usage is updated as if it had written its
        allocation scaled by its gate,
        :math:`u \\leftarrow u + (1 - u) \\odot g^i a^i`, so the next head
        goes to other free slots.
        """
        batch, n = usage.shape[0], self.memory_size
        check_shape("usage", usage, (batch, n))
        num_writes = check_positive_int("num_writes", num_writes)
        check_shape("write_gates", write_gates, (batch, num_writes))
        return _write_allocation_weights(usage, write_gates)

    def extra_repr(self) -> str:
        return f"memory_size={self.memory_size}"


class TemporalLinkageState(NamedTuple):
    """State of :class:`TemporalLinkage`.

    Attributes
    ----------
    link : Tensor of shape (B, Wr, N, N)
        Link matrix of each write head; ``link[b, i, n, m]`` is the degree to
        which slot ``n`` was written right after slot ``m`` by head ``i``.
    precedence_weights : Tensor of shape (B, Wr, N)
        Degree to which each slot was the last one written by each head.
    """

    link: Tensor
    precedence_weights: Tensor


class TemporalLinkage(nn.Module):
    """Temporal link matrix: the order in which memory slots were written.

    One link matrix per write head records which slot was written after
    which, so read heads can step forward or backward through the writes.

    Parameters
    ----------
    memory_size : int
        Number ``N`` of memory slots.
    num_writes : int
        Number ``Wr`` of write heads (one link matrix each).

    Notes
    -----
    For a write head with write weighting :math:`w_t`, precedence
    :math:`p` and link :math:`L`,

    .. math::

        L_t[i, j] = (1 - w_t[i] - w_t[j])\\, L_{t-1}[i, j] + w_t[i]\\,
            p_{t-1}[j], \\qquad L_t[i, i] = 0,

        p_t = \\Big(1 - \\sum_i w_t[i]\\Big)\\, p_{t-1} + w_t,

    starting from :math:`L_0 = 0` and :math:`p_0 = 0`. Forward and backward
    read weightings follow the links from the previous read weighting
    :math:`w^r_{t-1}`: :math:`f_t = L_t w^r_{t-1}` and
    :math:`b_t = L_t^\\top w^r_{t-1}`.

    The state costs ``B * Wr * N**2`` numbers, which dominates the memory of
    a DNC for large ``N``.

    References
    ----------
    .. [1] A. Graves et al., "Hybrid computing using a neural network with
       dynamic external memory", Nature 538, 471-476 (2016).

    Examples
    --------
    >>> import torch
    >>> from sk_memsel.nn import TemporalLinkage
    >>> linkage = TemporalLinkage(memory_size=5, num_writes=2)
    >>> write_weights = torch.softmax(torch.randn(3, 2, 5), dim=-1)
    >>> state = linkage(write_weights, None)
    >>> state.link.shape, state.precedence_weights.shape
    (torch.Size([3, 2, 5, 5]), torch.Size([3, 2, 5]))
    >>> state = linkage(write_weights, state)
    >>> reads = linkage.directional_read_weights(
    ...     state.link, torch.softmax(torch.randn(3, 4, 5), -1), is_forward=True
    ... )
    >>> reads.shape  # (batch, num_reads, num_writes, memory_size)
    torch.Size([3, 4, 2, 5])
    """

    def __init__(self, memory_size: int, num_writes: int) -> None:
        super().__init__()
        self.memory_size = check_positive_int("memory_size", memory_size)
        self.num_writes = check_positive_int("num_writes", num_writes)

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> TemporalLinkageState:
        """The all-zero TemporalLinkageState for ``batch_size`` sequences, created on
        ``device`` in floating type ``dtype`` (torch's defaults if None)."""
        shape = (batch_size, self.num_writes, self.memory_size)
        return TemporalLinkageState(
            link=torch.zeros(*shape, self.memory_size, device=device, dtype=dtype),
            precedence_weights=torch.zeros(shape, device=device, dtype=dtype),
        )

    def forward(
        self, write_weights: Tensor, prev_state: TemporalLinkageState | None
    ) -> TemporalLinkageState:
        """Update the link matrices and the precedence weights.

        Parameters
        ----------
        write_weights : Tensor of shape (B, Wr, N)
            Write weightings of this step.
        prev_state : TemporalLinkageState or None
            Previous state; ``None`` starts from zero links and precedence.

        Returns
        -------
        state : TemporalLinkageState
            The new link matrices and precedence weights.
        """
        batch = write_weights.shape[0]
        expected = (batch, self.num_writes, self.memory_size)
        check_shape("write_weights", write_weights, expected)
        if prev_state is None:
            # With L = 0 and p = 0 the update leaves L = 0 and p = w.
            link = write_weights.new_zeros(*expected, self.memory_size)
            return TemporalLinkageState(link, write_weights)
        prev_link, prev_precedence = prev_state
        check_shape("prev_state.link", prev_link, (*expected, self.memory_size))
        check_shape("prev_state.precedence_weights", prev_precedence, expected)
        link = _link_update(prev_link, write_weights, prev_precedence)
        return TemporalLinkageState(link, _precedence(write_weights, prev_precedence))

    def directional_read_weights(
        self, link: Tensor, prev_read_weights: Tensor, is_forward: bool
    ) -> Tensor:
        """Follow the links forward or backward from the previous reads.

        Parameters
        ----------
        link : Tensor of shape (B, Wr, N, N)
            Link matrices.
        prev_read_weights : Tensor of shape (B, R, N)
            Read weightings of the previous step.
        is_forward : bool
            ``True`` for :math:`L w^r` (the slot written after the one read),
            ``False`` for :math:`L^\\top w^r` (the slot written before).

        Returns
        -------
        weights : Tensor of shape (B, R, Wr, N)
            Directional read weighting of each read head along the links of
            each write head.
        """
        batch = link.shape[0]
        n = self.memory_size
        check_shape("link", link, (batch, self.num_writes, n, n))
        check_shape("prev_read_weights", prev_read_weights, (batch, None, n))
        # [B, 1, R, N] @ [B, Wr, N, N] -> [B, Wr, R, N]; row vector times L^T
        # is (L r)^T, row vector times L is (L^T r)^T.
        reads = prev_read_weights.unsqueeze(1)
        matrix = link.transpose(-1, -2) if is_forward else link
        return torch.matmul(reads, matrix).transpose(1, 2)

    def extra_repr(self) -> str:
        return f"memory_size={self.memory_size}, num_writes={self.num_writes}"
