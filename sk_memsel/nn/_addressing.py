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
from torch.autograd.function import once_differentiable

__all__ = [
    "CosineWeights",
    "Freeness",
    "TemporalLinkage",
    "TemporalLinkageState",
    "erase_and_write",
]

#: Small constant that keeps norms, cumulative products and logs away from 0.
_EPSILON = 1e-6


_CONSTANTS: dict = {}


def _constants(like: Tensor):
    """The numbers 1, eps and 1 - eps as 0-dim tensors like ``like``.

    On a CPU an operation between a tensor and a Python number costs two to
    three times one between two tensors (the number is wrapped in a new
    tensor and converted every time), and a DNC step has dozens of them, so
    the hot code uses these cached tensors instead. Under ``torch.compile``
    they are made afresh (constants in the compiled graph, which the
    compiler folds into its kernels), as the cache is invisible to it.
    """
    if torch.compiler.is_compiling():
        return tuple(
            torch.full((), value, dtype=like.dtype, device=like.device)
            for value in (1.0, _EPSILON, 1.0 - _EPSILON)
        )
    key = (like.dtype, like.device)
    constants = _CONSTANTS.get(key)
    if constants is None:
        with torch.inference_mode(False):  # usable outside inference mode too
            constants = tuple(
                torch.tensor(value, dtype=like.dtype, device=like.device)
                for value in (1.0, _EPSILON, 1.0 - _EPSILON)
            )
        _CONSTANTS[key] = constants
    return constants


def _check_positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is a positive int, else raise a ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return value


def _check_shape(name: str, tensor: Tensor, expected: tuple) -> None:
    """Raise a ValueError unless ``tensor`` has the ``expected`` shape.

    ``expected`` holds ints, or ``None`` for a dimension that may take any
    size; the message names both the expected and the received shape.
    """
    shape = tuple(tensor.shape)
    if len(shape) != len(expected) or any(
        e is not None and s != e for s, e in zip(shape, expected, strict=False)
    ):
        want = ", ".join("?" if e is None else str(e) for e in expected)
        raise ValueError(f"{name} must have shape ({want}), got {shape}.")


def _exclusive_cumprod(x: Tensor) -> Tensor:
    """Cumulative product along the last axis, shifted right by one.

    ``out[..., 0] = 1`` and ``out[..., k] = x[..., 0] * ... * x[..., k - 1]``.
    """
    return F.pad(torch.cumprod(x[..., :-1], dim=-1), (1, 0), value=1.0)


# The functions below do the maths without checking shapes; the modules check
# their inputs once and call them, and MemoryAccess calls them directly. The
# hot ones are autograd Functions with hand-written backward passes: a DNC
# step is a few hundred small tensor operations, and on a CPU the time goes
# into running each of them (and, through autograd, about three more in the
# backward pass) rather than into arithmetic. Each backward below is the
# derivative of the forward's formula, checked against finite differences by
# ``torch.autograd.gradcheck`` in tests/nn/test_addressing.py.


def _needs_grad(*tensors: Tensor) -> bool:
    """Whether autograd will record an operation on ``tensors``."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def _cosine_forward(
    memory: Tensor, keys: Tensor, strengths: Tensor, memory_scale: Tensor | None = None
):
    """Content weights and what their backward pass needs.

    ``memory_scale`` (B, N), if given, is ``1 / |m_n|_eps`` for this memory,
    known from an earlier lookup on it.
    """
    _, eps, _ = _constants(memory)
    if memory_scale is None:
        memory_scale = torch.rsqrt((memory * memory).sum(-1) + eps)  # s_n
    key_scale = torch.rsqrt((keys * keys).sum(-1) + eps)  # t_h
    sharpening = key_scale * strengths  # beta_h t_h
    dot = torch.bmm(keys, memory.transpose(1, 2))  # d_hn
    logits = dot * sharpening.unsqueeze(-1)
    weights = torch.softmax(logits.mul_(memory_scale.unsqueeze(1)), dim=-1)
    return weights, memory_scale, key_scale, sharpening, dot


class _CosineWeights(torch.autograd.Function):
    """softmax_n(beta_h * <k_h, m_n> / (|k_h|_eps |m_n|_eps)).

    Inputs: memory (B, N, W), keys (B, H, W), positive strengths (B, H).
    Output: (B, H, N). ``|x|_eps = sqrt(|x|^2 + eps)``.
    """

    @staticmethod
    def forward(ctx, memory, keys, strengths):
        weights, *saved = _cosine_forward(memory, keys, strengths)
        ctx.save_for_backward(memory, keys, weights, *saved)
        return weights

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        return _cosine_backward(grad, *ctx.saved_tensors)


def _cosine_backward(
    grad, memory, keys, weights, memory_scale, key_scale, sharpening, dot
):
    """Gradients of (memory, keys, strengths) from that of the weights."""
    # Through the softmax, then logits = d_hn * beta_h t_h * s_n.
    grad_logits = torch.ops.aten._softmax_backward_data(
        grad, weights, -1, weights.dtype
    )
    partial = grad_logits.mul_(memory_scale.unsqueeze(1))  # g_l s_n
    grad_strengths = (partial * dot).sum(-1).mul_(key_scale)
    grad_dot = partial.mul_(sharpening.unsqueeze(-1))
    # d s_n / d m_n = -s_n^3 m_n and d t_h / d k_h = -t_h^3 k_h, so the
    # norms contribute -(sum of g_dot * d) * scale^2 times the vector; summed
    # over the slots, g_dot * d = beta_h t_h * (g_l s_n d), which is
    # sharpening * grad_strengths / t_h.
    scaled = grad_dot * dot
    key_coef = (grad_strengths * sharpening).mul_(key_scale).unsqueeze(-1)
    memory_coef = scaled.sum(1).mul_(memory_scale * memory_scale).unsqueeze(-1)
    grad_keys = torch.bmm(grad_dot, memory).addcmul_(keys, key_coef, value=-1)
    grad_memory = torch.bmm(grad_dot.transpose(1, 2), keys)
    grad_memory.addcmul_(memory, memory_coef, value=-1)
    return grad_memory, grad_keys, grad_strengths


def _cosine_weights(memory: Tensor, keys: Tensor, strengths: Tensor) -> Tensor:
    """Content weights for positive ``strengths`` (already softplus-ed)."""
    if _needs_grad(memory, keys, strengths):
        return _CosineWeights.apply(memory, keys, strengths)
    return _cosine_forward(memory, keys, strengths)[0]


def _usage(
    write_weights: Tensor, free_gate: Tensor, read_weights: Tensor, prev_usage: Tensor
) -> Tensor:
    """Usage after the previous step's writes, then its freed reads."""
    one, _, _ = _constants(prev_usage)
    written = one - _prod_over_heads(one - write_weights)
    usage = torch.addcmul(prev_usage, written, one - prev_usage)  # u + w - u w
    kept = one - free_gate.unsqueeze(-1) * read_weights
    return usage * _prod_over_heads(kept)


def _prod_over_heads(x: Tensor) -> Tensor:
    """Product over dim 1 of (B, H, N); a chain of products for few heads,
    whose backward is much shorter than that of ``torch.prod``."""
    if x.shape[1] > 8:
        return torch.prod(x, dim=1)
    heads = x.unbind(1)
    out = heads[0]
    for head in heads[1:]:
        out = out * head
    return out


def _allocation_forward(usage: Tensor):
    one, eps, keep = _constants(usage)
    usage = torch.addcmul(eps, usage, keep)
    sorted_usage, free_list = torch.sort(usage, dim=-1)
    before = _exclusive_cumprod(sorted_usage)
    sorted_allocation = (one - sorted_usage) * before
    # Undo the sort: the weight of the k-th least used slot goes back to that
    # slot's index.
    allocation = torch.empty_like(usage).scatter_(-1, free_list, sorted_allocation)
    return allocation, free_list, sorted_usage, before, sorted_allocation


class _Allocation(torch.autograd.Function):
    """Allocation weighting of one write head, for usage of shape (B, N).

    With s the usage (moved into [eps, 1]) sorted ascending,
    ``a_sorted[k] = (1 - s_k) * prod_{m < k} s_m``, then unsorted.
    """

    @staticmethod
    def forward(ctx, usage):
        allocation, *saved = _allocation_forward(usage)
        ctx.save_for_backward(*saved)
        return allocation

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        return _allocation_backward(grad, *ctx.saved_tensors)


def _allocation_backward(grad, free_list, sorted_usage, before, sorted_allocation):
    """Gradient of the usage from that of the allocation."""
    grad_sorted = grad.gather(-1, free_list)
    # d a_k / d s_m = -prod_{l<m} s_l        for k = m,
    #               = a_k / s_m              for k > m  (s_m >= eps > 0).
    weighted = grad_sorted * sorted_allocation
    later = weighted.sum(-1, keepdim=True) - weighted.cumsum(-1)
    grad_usage_sorted = later.div_(sorted_usage).sub_(grad_sorted * before)
    grad_usage = torch.empty_like(grad_usage_sorted).scatter_(
        -1, free_list, grad_usage_sorted
    )
    return grad_usage.mul_(_constants(grad_usage)[2])


def _allocation(usage: Tensor) -> Tensor:
    """Allocation weighting of one head, for usage of shape (B, N)."""
    if _needs_grad(usage):
        return _Allocation.apply(usage)
    return _allocation_forward(usage)[0]


def _write_allocation_weights(usage: Tensor, write_gates: Tensor) -> Tensor:
    """Allocation of each write head in turn, shape (B, Wr, N)."""
    num_writes = write_gates.shape[1]
    allocations = []
    for i in range(num_writes):
        allocation = _allocation(usage)
        allocations.append(allocation)
        if i + 1 < num_writes:  # the next head sees this head's write
            gated = write_gates[:, i : i + 1] * allocation
            usage = torch.addcmul(usage, gated, _constants(usage)[0] - usage)
    if num_writes == 1:
        return allocations[0].unsqueeze(1)
    return torch.stack(allocations, dim=1)


def _link_update(
    prev_link: Tensor, write_weights: Tensor, prev_precedence: Tensor
) -> Tensor:
    """L_ij = (1 - w_i - w_j) L0_ij + w_i p_j, with a zero diagonal."""
    w_i = write_weights.unsqueeze(-1)
    link = torch.sub(_constants(w_i)[0] - w_i, write_weights.unsqueeze(-2))
    link.mul_(prev_link).addcmul_(w_i, prev_precedence.unsqueeze(-2))
    link.diagonal(dim1=-2, dim2=-1).zero_()
    return link


def _link_forward(
    prev_link: Tensor, write_weights: Tensor, prev_precedence: Tensor, reads: Tensor
) -> tuple[Tensor, Tensor]:
    batch, num_writes, n = write_weights.shape
    num_reads = reads.shape[1]
    link = _link_update(prev_link, write_weights, prev_precedence)
    flat = link.view(batch * num_writes, n, n)
    reads = _per_write_head(reads, num_writes)  # [B Wr, R, N]
    backward = torch.bmm(reads, flat).view(batch, num_writes, num_reads, n)
    forward = torch.bmm(reads, flat.transpose(1, 2))
    forward = forward.view(batch, num_writes, num_reads, n)
    directional = torch.cat([backward, forward], dim=1).transpose(1, 2)
    return link, directional


def _link_update_and_read(
    prev_link: Tensor, write_weights: Tensor, prev_precedence: Tensor, reads: Tensor
) -> tuple[Tensor, Tensor]:
    """New link (B, Wr, N, N) and directional reads (B, R, 2 Wr, N)."""
    if _needs_grad(prev_link, write_weights, prev_precedence, reads):
        return _LinkUpdateAndRead.apply(
            prev_link, write_weights, prev_precedence, reads
        )
    return _link_forward(prev_link, write_weights, prev_precedence, reads)


class _LinkUpdateAndRead(torch.autograd.Function):
    """Link update and directional reads with a hand-written backward.

    Inputs: previous link (B, Wr, N, N), write weights (B, Wr, N), previous
    precedence (B, Wr, N) and previous read weights (B, R, N). Outputs: the
    new link (B, Wr, N, N) and the directional read weights (B, R, 2 Wr, N):
    backward reads ``L^T r`` for each write head, then forward reads ``L r``.

    Autograd through the plain formula keeps an extra ``N x N`` scale tensor
    per step and runs about twice as many ``N x N`` kernels backward; here
    only the new link is kept (the scale is recomputed in the backward pass),
    and the reads' gradient joins the link's in one batched product.
    """

    @staticmethod
    def forward(ctx, prev_link, write_weights, prev_precedence, prev_read_weights):
        link, directional = _link_forward(
            prev_link, write_weights, prev_precedence, prev_read_weights
        )
        ctx.save_for_backward(
            prev_link, write_weights, prev_precedence, prev_read_weights, link
        )
        return link, directional

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_link, grad_directional):
        return _link_backward(
            grad_link, grad_directional, *ctx.saved_tensors, ctx.needs_input_grad
        )


def _link_backward(grad_link, grad_directional, prev_link, w, p, r, link, needs):
    """Gradients of (prev_link, write_weights, prev_precedence, reads).

    ``grad_link`` may be None (no gradient reaches the new link); ``needs``
    says which of the four gradients to compute (None for the others).
    """
    batch, num_writes, n = w.shape
    num_reads = r.shape[1]
    bw = batch * num_writes  # one (N, N) problem per sample and head
    flat = link.view(bw, n, n)
    reads = _per_write_head(r, num_writes)  # [B Wr, R, N]
    grads = grad_directional.transpose(1, 2)  # [B, 2 Wr, R, N]
    g_back = grads[:, :num_writes].reshape(bw, num_reads, n)
    g_fwd = grads[:, num_writes:].reshape(bw, num_reads, n)

    grad_reads = None
    if needs[3]:
        grad_reads = torch.bmm(g_back, flat.transpose(1, 2))
        grad_reads.baddbmm_(g_fwd, flat)
        grad_reads = grad_reads.view(batch, num_writes, num_reads, n).sum(1)

    # Total gradient of the new link: its own plus the reads' (r^T g_back
    # + g_fwd^T r), in one batched product; the diagonal was zeroed, so
    # it passes no gradient.
    left = torch.cat([reads, g_fwd], dim=1).transpose(1, 2)  # [B Wr, N, 2R]
    right = torch.cat([g_back, reads], dim=1)  # [B Wr, 2R, N]
    if grad_link is None:
        g = torch.bmm(left, right)
    else:
        g = torch.baddbmm(grad_link.reshape(bw, n, n), left, right)
    g.diagonal(dim1=-2, dim2=-1).zero_()

    grad_prev_link = grad_w = grad_p = None
    if needs[0]:  # g * (1 - w_i - w_j)
        one = _constants(w)[0]
        grad_prev_link = torch.sub(one - w.view(bw, n, 1), w.view(bw, 1, n))
        grad_prev_link = grad_prev_link.mul_(g).view(batch, num_writes, n, n)
    if needs[2]:  # dp_j = sum_i g_ij w_i
        grad_p = torch.bmm(w.view(bw, 1, n), g).view(batch, num_writes, n)
    if needs[1]:
        # dw_k = sum_j g_kj (p_j - L_kj) - sum_i g_ik L_ik
        grad_w = torch.bmm(g, p.reshape(bw, n, 1)).view(batch, num_writes, n)
        g_times_link = g.mul_(prev_link.reshape(bw, n, n))  # g is done with
        g_times_link = g_times_link.view(batch, num_writes, n, n)
        grad_w -= g_times_link.sum(-1) + g_times_link.sum(-2)
    return grad_prev_link, grad_w, grad_p, grad_reads


def _per_write_head(read_weights: Tensor, num_writes: int) -> Tensor:
    """Repeat read weights (B, R, N) for each write head: (B * Wr, R, N)."""
    if num_writes == 1:
        return read_weights
    batch, num_reads, n = read_weights.shape
    expanded = read_weights.unsqueeze(1).expand(batch, num_writes, num_reads, n)
    return expanded.reshape(batch * num_writes, num_reads, n)


def _precedence(write_weights: Tensor, prev_precedence: Tensor) -> Tensor:
    """p = (1 - sum w) p + w, for each write head."""
    remaining = _constants(write_weights)[0] - write_weights.sum(-1, keepdim=True)
    return torch.addcmul(write_weights, remaining, prev_precedence)


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
    _check_shape("address", address, (batch, None, n))
    _check_shape("erase", erase, (batch, address.shape[1], width))
    _check_shape("values", values, (batch, address.shape[1], width))
    return _erase_and_write(memory, address, erase, values)


def _erase_and_write(
    memory: Tensor, address: Tensor, erase: Tensor, values: Tensor
) -> Tensor:
    slots_first = address.transpose(1, 2)  # [B, N, Wr]
    if address.shape[1] == 1:
        # Outer products by broadcasting: a (B, N, 1) @ (B, 1, W) batched
        # product is several times slower on a CPU than the elementwise one.
        kept = torch.addcmul(memory, memory, slots_first * erase, value=-1.0)
        return torch.addcmul(kept, slots_first, values)
    weighted_erase = address.unsqueeze(-1) * erase.unsqueeze(-2)
    kept = memory * _prod_over_heads(_constants(memory)[0] - weighted_erase)
    return torch.baddbmm(kept, slots_first, values)


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
        self.num_heads = _check_positive_int("num_heads", num_heads)
        self.word_size = _check_positive_int("word_size", word_size)

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
        _check_shape("memory", memory, (batch, None, self.word_size))
        _check_shape("keys", keys, (batch, self.num_heads, self.word_size))
        _check_shape("strengths", strengths, (batch, self.num_heads))
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
        self.memory_size = _check_positive_int("memory_size", memory_size)

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
        _check_shape("prev_usage", prev_usage, (batch, n))
        _check_shape("write_weights", write_weights, (batch, None, n))
        _check_shape("read_weights", read_weights, (batch, None, n))
        _check_shape("free_gate", free_gate, (batch, read_weights.shape[1]))
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
        _check_shape("usage", usage, (batch, n))
        num_writes = _check_positive_int("num_writes", num_writes)
        _check_shape("write_gates", write_gates, (batch, num_writes))
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
        self.memory_size = _check_positive_int("memory_size", memory_size)
        self.num_writes = _check_positive_int("num_writes", num_writes)

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> TemporalLinkageState:
        """Return the all-zero state for a batch of ``batch_size``.

        Parameters
        ----------
        batch_size : int
            Number of sequences.
        device, dtype : optional
            Where and in which floating type to create the tensors.

        Returns
        -------
        state : TemporalLinkageState
        """
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
        _check_shape("write_weights", write_weights, expected)
        if prev_state is None:
            # With L = 0 and p = 0 the update leaves L = 0 and p = w.
            link = write_weights.new_zeros(*expected, self.memory_size)
            return TemporalLinkageState(link, write_weights)
        prev_link, prev_precedence = prev_state
        _check_shape("prev_state.link", prev_link, (*expected, self.memory_size))
        _check_shape("prev_state.precedence_weights", prev_precedence, expected)
        link, _ = _link_update_and_read(
            prev_link,
            write_weights,
            prev_precedence,
            write_weights.new_empty(batch, 0, self.memory_size),
        )
        return TemporalLinkageState(link, _precedence(write_weights, prev_precedence))

    def _update_and_read(
        self,
        write_weights: Tensor,
        prev_state: TemporalLinkageState,
        prev_read_weights: Tensor,
    ) -> tuple[TemporalLinkageState, Tensor]:
        """Unchecked update plus the reads along the new links.

        Returns the new state and the directional read weights of shape
        (B, R, 2 Wr, N): backward reads for each write head, then forward.
        """
        prev_link, prev_precedence = prev_state
        link, directional = _link_update_and_read(
            prev_link, write_weights, prev_precedence, prev_read_weights
        )
        state = TemporalLinkageState(link, _precedence(write_weights, prev_precedence))
        return state, directional

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
        _check_shape("link", link, (batch, self.num_writes, n, n))
        _check_shape("prev_read_weights", prev_read_weights, (batch, None, n))
        # [B, 1, R, N] @ [B, Wr, N, N] -> [B, Wr, R, N]; row vector times L^T
        # is (L r)^T, row vector times L is (L^T r)^T.
        reads = prev_read_weights.unsqueeze(1)
        matrix = link.transpose(-1, -2) if is_forward else link
        return torch.matmul(reads, matrix).transpose(1, 2)

    def extra_repr(self) -> str:
        return f"memory_size={self.memory_size}, num_writes={self.num_writes}"
