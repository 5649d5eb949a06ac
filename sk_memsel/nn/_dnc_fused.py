"""The DNC's fused fast path: one memory step, and the whole sequence, as
single autograd Functions with hand-written backward passes.

:class:`~sk_memsel.nn.MemoryAccess` and :class:`~sk_memsel.nn.DNC` run this
code by default (``fused=True``). Their readable path (``fused=False``)
composes :class:`~sk_memsel.nn.CosineWeights`, :class:`~sk_memsel.nn.Freeness`,
:class:`~sk_memsel.nn.TemporalLinkage` and :func:`~sk_memsel.nn.erase_and_write`
step by step under plain autograd; it is the reference, and
tests/nn/test_dnc_fused.py checks that both give the same outputs and
gradients. Both read the same parameters.

Why fused: a training step of the memory is a few hundred small tensor
operations, and on a CPU the time goes into running each of them (and,
through autograd, a graph node, saved tensors and about three more
operations backward) rather than into arithmetic. Here the forward pass is
plain tensor code with fewer operations (slot norms reused between lookups,
cached 0-dim constants, one batched product where the readable path makes
several), and the backward pass is the derivative of the whole step written
by hand, so autograd records one node per step (:class:`_AccessStep`) or per
sequence (:class:`_DNCSequence`, controller included; each weight's
gradient is then one product over all steps). benchmarks/bench_dnc.py
measures this against plain autograd through the same forward and against
the readable path (docs/benchmarks/dnc.md). Only first-order gradients.

Only public torch API is used; the derivatives of the activations are
written out below.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from ._addressing import _EPSILON, _exclusive_cumprod

__all__: list[str] = []

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


def _needs_grad(*tensors: Tensor) -> bool:
    """Whether autograd will record an operation on ``tensors``."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def _add(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    """a + b, where None stands for a zero gradient."""
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _prod_over_heads(x: Tensor) -> Tensor:
    """Product over dim 1 of (B, H, ...), head after head for a few heads."""
    if x.shape[1] > 8:
        return torch.prod(x, dim=1)
    heads = x.unbind(1)
    out = heads[0]
    for head in heads[1:]:
        out = out * head
    return out


def _prod_except(x: Tensor) -> Tensor:
    """For x of shape (B, H, ...), the product over dim 1 of all entries but h.

    Built from prefix and suffix products, so it stays exact when an entry
    is 0 (no division).
    """
    if x.shape[1] == 1:
        return torch.ones_like(x)
    ones = torch.ones_like(x[:, :1])
    prefix = torch.cat([ones, torch.cumprod(x[:, :-1], dim=1)], dim=1)
    suffix = torch.cumprod(x[:, 1:].flip(1), dim=1).flip(1)
    return prefix * torch.cat([suffix, ones], dim=1)


# --- derivatives of the activations, from their outputs (or inputs) -----------


def _sigmoid_backward(grad: Tensor, y: Tensor) -> Tensor:
    """Gradient through ``y = sigmoid(x)``."""
    return grad * (_constants(y)[0] - y) * y


def _tanh_backward(grad: Tensor, y: Tensor) -> Tensor:
    """Gradient through ``y = tanh(x)``."""
    return grad * torch.addcmul(_constants(y)[0], y, y, value=-1.0)


def _softplus_backward(grad: Tensor, x: Tensor) -> Tensor:
    """Gradient through ``F.softplus(x)`` (the identity above 20)."""
    return torch.where(x > 20.0, grad, grad * torch.sigmoid(x))


def _softmax_backward(grad: Tensor, y: Tensor) -> Tensor:
    """Gradient through ``y = softmax(x, dim=-1)``."""
    return y * (grad - (grad * y).sum(-1, keepdim=True))


def _hardtanh_backward(grad: Tensor, x: Tensor, clip: float) -> Tensor:
    """Gradient through ``F.hardtanh(x, -clip, clip)``."""
    return grad.masked_fill((x <= -clip) | (x >= clip), 0.0)


# --- pieces of a step: content lookup, allocation, link update ----------------
#
# Each *_forward returns its output and what the matching *_backward needs;
# each backward is the derivative of its forward's formula.


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


def _cosine_backward(
    grad, memory, keys, weights, memory_scale, key_scale, sharpening, dot
):
    """Gradients of (memory, keys, strengths) from that of the weights."""
    # Through the softmax, then logits = d_hn * beta_h t_h * s_n.
    grad_logits = _softmax_backward(grad, weights)
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


def _link_update(
    prev_link: Tensor, write_weights: Tensor, prev_precedence: Tensor
) -> Tensor:
    """L_ij = (1 - w_i - w_j) L0_ij + w_i p_j, with a zero diagonal."""
    w_i = write_weights.unsqueeze(-1)
    link = torch.sub(_constants(w_i)[0] - w_i, write_weights.unsqueeze(-2))
    link.mul_(prev_link).addcmul_(w_i, prev_precedence.unsqueeze(-2))
    link.diagonal(dim1=-2, dim2=-1).zero_()
    return link


def _per_write_head(read_weights: Tensor, num_writes: int) -> Tensor:
    """Repeat read weights (B, R, N) for each write head: (B * Wr, R, N)."""
    if num_writes == 1:
        return read_weights
    batch, num_reads, n = read_weights.shape
    expanded = read_weights.unsqueeze(1).expand(batch, num_writes, num_reads, n)
    return expanded.reshape(batch * num_writes, num_reads, n)


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


def _single_link_backward(g_link, g_back, g_fwd, link0, w, p, r, link, needs_link):
    """``_link_backward`` for one write head, with fewer reshapes.

    Links are (B, 1, N, N); ``w`` and ``p`` (B, 1, N); the previous reads
    ``r`` and the gradients of the backward and forward reads (B, R, N).
    """
    flat = link.squeeze(1)
    g_read0 = torch.bmm(g_back, flat.transpose(1, 2)).baddbmm_(g_fwd, flat)
    # Total gradient of the new link: its own plus the reads'.
    left = torch.cat([r, g_fwd], dim=1).transpose(1, 2)  # (B, N, 2R)
    right = torch.cat([g_back, r], dim=1)  # (B, 2R, N)
    if g_link is None:
        g = torch.bmm(left, right)
    else:
        g = torch.baddbmm(g_link.squeeze(1), left, right)
    g.diagonal(dim1=-2, dim2=-1).zero_()
    g_link0 = None
    if needs_link:  # g * (1 - w_i - w_j)
        one = _constants(w)[0]
        g_link0 = torch.sub(one - w.transpose(1, 2), w).mul_(g).unsqueeze(1)
    g_p = torch.bmm(w, g)  # sum_i g_ij w_i
    # dw_k = sum_j g_kj (p_j - L0_kj) - sum_i g_ik L0_ik
    g_w = torch.bmm(p, g.transpose(1, 2))
    g_times_link = g.mul_(link0.squeeze(1))  # g is done with
    g_w -= (g_times_link.sum(-1) + g_times_link.sum(-2)).unsqueeze(1)
    return g_link0, g_w, g_p, g_read0


# --- one memory step -----------------------------------------------------------


def _access_forward(
    sizes, interface, memory0, read0, write0, link0, prec0, usage0, memory_scale0=None
):
    """One memory step, from the interface vector before its activations.

    ``sizes`` is ``(num_writes, num_reads, word_size, blocks)``;
    ``memory_scale0``, if given, is the inverse norm of the slots of
    ``memory0`` from the previous step's read lookup. Returns the
    outputs ``(read_words, memory, read_weights, write_weights, link,
    precedence, usage)`` and a dict of the intermediate tensors that the
    backward pass needs.
    """
    wr, r, w, blocks = sizes
    batch = interface.shape[0]
    one, _, _ = _constants(interface)
    linear, gates_pre, strengths_pre, modes_pre = torch.split(interface, blocks, -1)
    gates = torch.sigmoid(gates_pre)
    modes = torch.softmax(modes_pre.reshape(batch, r, 2 * wr + 1), dim=-1)
    values, write_keys, read_keys = torch.split(linear, [wr * w, wr * w, r * w], -1)
    erase, free_gate, allocation_gate, write_gate = torch.split(
        gates, [wr * w, r, wr, wr], -1
    )
    write_strengths, read_strengths = torch.split(
        F.softplus(strengths_pre), [wr, r], -1
    )
    values = values.reshape(batch, wr, w)
    erase = erase.reshape(batch, wr, w)
    write_keys = write_keys.reshape(batch, wr, w)
    read_keys = read_keys.reshape(batch, r, w)

    # Usage: the previous writes, then the slots freed by the read heads.
    if wr == 1:
        written = write0.squeeze(1)
    else:
        written = one - torch.prod(one - write0, dim=1)
    usage_written = torch.lerp(usage0, one, written)  # u0 + w (1 - u0)
    free_terms = torch.addcmul(one, free_gate.unsqueeze(-1), read0, value=-1.0)
    kept = free_terms.squeeze(1) if r == 1 else torch.prod(free_terms, dim=1)
    usage = usage_written * kept

    # Write weights: allocation head after head, mixed with content lookup.
    write_content, *cosine_write = _cosine_forward(
        memory0, write_keys, write_strengths, memory_scale0
    )
    gated = allocation_gate * write_gate
    allocations, allocation_saved, allocation_usages = [], [], []
    u = usage
    for i in range(wr):
        allocation_i, *saved = _allocation_forward(u)
        allocations.append(allocation_i)
        allocation_saved.extend(saved)
        allocation_usages.append(u)
        if i + 1 < wr:  # the next head sees this head's write
            u = torch.addcmul(u, gated[:, i : i + 1] * allocation_i, one - u)
    if wr == 1:
        allocation = allocations[0].unsqueeze(1)
    else:
        allocation = torch.stack(allocations, dim=1)
    diff = allocation - write_content
    mixed = torch.addcmul(write_content, allocation_gate.unsqueeze(-1), diff)
    write_weights = write_gate.unsqueeze(-1) * mixed

    # Erase and write, keeping the erase factors for the backward pass.
    slots_first = write_weights.transpose(1, 2)  # (B, N, Wr)
    if wr == 1:
        erase_factors = slots_first * erase  # (B, N, W)
        memory = torch.addcmul(memory0, memory0, erase_factors, value=-1.0)
        memory = torch.addcmul(memory, slots_first, values)
    else:
        erase_factors = one - write_weights.unsqueeze(-1) * erase.unsqueeze(-2)
        memory = torch.baddbmm(
            memory0 * _prod_over_heads(erase_factors), slots_first, values
        )

    # Links, precedence, then the read weights over the new memory.
    remaining = one - write_weights.sum(-1, keepdim=True)
    precedence = torch.addcmul(write_weights, remaining, prec0)
    if wr == 1:  # _link_forward with fewer reshapes
        link = _link_update(link0, write_weights, prec0)
        flat = link.squeeze(1)
        backward_reads = torch.bmm(read0, flat)
        forward_reads = torch.bmm(read0, flat.transpose(1, 2))
    else:
        link, directional = _link_forward(link0, write_weights, prec0, read0)
    read_content, *cosine_read = _cosine_forward(memory, read_keys, read_strengths)
    if wr == 1:
        candidates = torch.stack([backward_reads, forward_reads, read_content], 2)
    else:
        candidates = torch.cat([directional, read_content.unsqueeze(2)], dim=2)
    num_modes, n = candidates.shape[2], candidates.shape[3]
    read_weights = torch.bmm(
        modes.reshape(batch * r, 1, num_modes),
        candidates.view(batch * r, num_modes, n),
    ).view(batch, r, n)
    read_words = torch.bmm(read_weights, memory)
    outputs = (read_words, memory, read_weights, write_weights, link, precedence, usage)
    saved = {
        "inputs": (memory0, read0, write0, link0, prec0, usage0),
        "activations": (gates, strengths_pre, modes),
        "heads": (values, erase, write_keys, read_keys),
        "gates": (free_gate, allocation_gate, write_gate),
        "usage": (written, usage_written, free_terms, kept),
        "write": (allocation, diff, mixed, gated, erase_factors, remaining),
        "read": (candidates,),
        "cosine_write": (write_content, *cosine_write),
        "cosine_read": (read_content, *cosine_read),
        "allocation": (*allocation_saved, *allocation_usages),
    }
    return outputs, saved


class _AccessStep(torch.autograd.Function):
    """One step of :class:`MemoryAccess` with a hand-written backward pass.

    Inputs: the sizes, the interface vector before its activations (B, I)
    and the previous memory, read weights, write weights, link, precedence
    and usage. Outputs: the read words and the new state, in that order.
    """

    @staticmethod
    def forward(ctx, sizes, *tensors):
        ctx.set_materialize_grads(False)
        outputs, saved = _access_forward(sizes, *tensors)
        ctx.sizes = sizes
        ctx.groups = [(key, len(value)) for key, value in saved.items()]
        flat = [t for value in saved.values() for t in value]
        ctx.save_for_backward(*flat, outputs[1], outputs[2], outputs[3], outputs[4])
        return outputs

    @staticmethod
    @once_differentiable
    def backward(ctx, *grads):
        tensors = list(ctx.saved_tensors)
        saved, start = {}, 0
        for key, size in ctx.groups:
            saved[key] = tensors[start : start + size]
            start += size
        memory, read_weights, write_weights, link = tensors[start:]
        gradients = _access_backward(
            ctx.sizes,
            saved,
            (memory, read_weights, write_weights, link),
            grads,
            ctx.needs_input_grad[5],
        )
        return (None, *gradients)


def access_step(sizes, *tensors):
    """One fused memory step: :class:`_AccessStep` if autograd records it.

    ``tensors`` are the interface vector before its activations and the
    previous memory, read weights, write weights, link, precedence and
    usage; returns the read words and the new state, in that order.
    """
    if _needs_grad(*tensors):
        return _AccessStep.apply(sizes, *tensors)
    return _access_forward(sizes, *tensors)[0]


def _access_backward(sizes, saved, outputs, grads, needs_link):
    """Gradients of the inputs of :func:`_access_forward` (see _AccessStep)."""
    wr, r, w, _ = sizes
    memory, read_weights, write_weights, link = outputs
    g_words, g_memory, g_read, g_write, g_link, g_prec, g_usage = grads
    memory0, read0, write0, link0, prec0, usage0 = saved["inputs"]
    gates, strengths_pre, modes = saved["activations"]
    values, erase, write_keys, read_keys = saved["heads"]
    free_gate, allocation_gate, write_gate = saved["gates"]
    written, usage_written, free_terms, kept = saved["usage"]
    allocation, diff, mixed, gated, erase_factors, remaining = saved["write"]
    (candidates,) = saved["read"]
    batch, n = read_weights.shape[0], read_weights.shape[2]
    num_modes = candidates.shape[2]
    one, _, _ = _constants(memory)

    # Read words r = w_r M, then the mix of the read modes.
    if g_words is not None:
        if g_read is None:
            g_read = torch.bmm(g_words, memory.transpose(1, 2))
        else:
            g_read = torch.baddbmm(g_read, g_words, memory.transpose(1, 2))
        if g_memory is None:
            g_memory = torch.bmm(read_weights.transpose(1, 2), g_words)
        else:
            g_memory = torch.baddbmm(g_memory, read_weights.transpose(1, 2), g_words)
    if g_read is None:
        g_read = torch.zeros_like(read_weights)
    g_modes = torch.bmm(
        candidates.view(batch * r, num_modes, n), g_read.reshape(batch * r, n, 1)
    ).view(batch, r, num_modes)
    g_candidates = modes.unsqueeze(-1) * g_read.unsqueeze(2)  # (B, R, K, N)
    g_memory_part, g_read_keys, g_read_strengths = _cosine_backward(
        g_candidates[:, :, -1], memory, read_keys, *saved["cosine_read"]
    )
    g_memory = g_memory_part if g_memory is None else g_memory_part.add_(g_memory)

    # Precedence p = (1 - sum w) p0 + w, and the link update with its reads.
    g_prec0 = None
    if g_prec is not None:
        g_prec0 = g_prec * remaining
        g_write = _add(g_write, g_prec - (g_prec * prec0).sum(-1, keepdim=True))
    if wr == 1:
        g_link0, g_w, g_p, g_read0 = _single_link_backward(
            g_link,
            g_candidates[:, :, 0],
            g_candidates[:, :, 1],
            link0,
            write_weights,
            prec0,
            read0,
            link,
            needs_link,
        )
    else:
        g_link0, g_w, g_p, g_read0 = _link_backward(
            g_link,
            g_candidates[:, :, :-1],
            link0,
            write_weights,
            prec0,
            read0,
            link,
            (needs_link, True, True, True),
        )
    g_prec0 = _add(g_prec0, g_p)
    g_write = _add(g_write, g_w)

    # Erase and write.
    if wr == 1:
        # M = M0 - M0 * (s e) + s v, with s the write weights as a column.
        g_memory0 = torch.addcmul(g_memory, g_memory, erase_factors, value=-1.0)
        g_scaled = g_memory * memory0
        g_slots = torch.baddbmm(
            torch.bmm(g_memory, values.transpose(1, 2)),
            g_scaled,
            erase.transpose(1, 2),
            alpha=-1.0,
        )  # (B, N, 1)
        g_write = g_write + g_slots.transpose(1, 2)
        g_erase = torch.bmm(write_weights, g_scaled).neg_()
    else:
        # M = M0 * prod_i f_i + sum_i w_i v_i^T, with f_i = 1 - w_i e_i^T.
        g_memory0 = g_memory * _prod_over_heads(erase_factors)
        g_factors = (g_memory * memory0).unsqueeze(1) * _prod_except(erase_factors)
        g_write = g_write + torch.bmm(values, g_memory.transpose(1, 2))
        g_write = g_write - (g_factors * erase.unsqueeze(-2)).sum(-1)
        g_erase = (g_factors * write_weights.unsqueeze(-1)).sum(-2).neg_()
    g_values = torch.bmm(write_weights, g_memory)

    # Write weights w = g_w (c + g_a (a - c)).
    g_write_gate = (g_write * mixed).sum(-1)
    g_mixed = g_write * write_gate.unsqueeze(-1)
    g_allocation_gate = (g_mixed * diff).sum(-1)
    g_allocation = g_mixed * allocation_gate.unsqueeze(-1)
    g_write_content = g_mixed - g_allocation

    # Allocation, last head first: u_{i+1} = u_i + (1 - u_i) g_i a_i.
    allocation_saved = saved["allocation"]
    g_u = None
    g_gated = []
    for i in reversed(range(wr)):
        g_a = g_allocation[:, i]
        if i + 1 < wr:
            u_i = allocation_saved[4 * wr + i]
            a_i = allocation[:, i]
            free = one - u_i
            g_a = torch.addcmul(g_a, g_u * gated[:, i : i + 1], free)
            g_gated.append((g_u * a_i * free).sum(-1))
            g_direct = g_u - g_u * gated[:, i : i + 1] * a_i
        g_usage_i = _allocation_backward(g_a, *allocation_saved[4 * i : 4 * i + 4])
        g_u = g_usage_i if i + 1 == wr else g_usage_i.add_(g_direct)
    if wr > 1:
        g_gated = torch.stack([*reversed(g_gated), torch.zeros_like(g_gated[0])], 1)
        g_allocation_gate = torch.addcmul(g_allocation_gate, g_gated, write_gate)
        g_write_gate = torch.addcmul(g_write_gate, g_gated, allocation_gate)
    g_memory_part, g_write_keys, g_write_strengths = _cosine_backward(
        g_write_content, memory0, write_keys, *saved["cosine_write"]
    )
    g_memory0 = g_memory_part.add_(g_memory0)

    # Usage u = (u0 + w (1 - u0)) * prod_j (1 - f_j r0_j).
    g_usage = _add(g_usage, g_u)
    g_usage_written = g_usage * kept
    g_kept = (g_usage * usage_written).unsqueeze(1)
    g_terms = g_kept if r == 1 else g_kept * _prod_except(free_terms)
    g_free = (g_terms * read0).sum(-1).neg_()
    g_read0 = torch.addcmul(g_read0, g_terms, free_gate.unsqueeze(-1), value=-1.0)
    g_usage0 = g_usage_written * (one - written)
    g_written = (g_usage_written * (one - usage0)).unsqueeze(1)
    g_write0 = g_written if wr == 1 else g_written * _prod_except(one - write0)

    # Through the activations, back to the interface vector.
    g_gates = torch.cat(
        [g_erase.flatten(1), g_free, g_allocation_gate, g_write_gate], -1
    )
    g_strengths = torch.cat([g_write_strengths, g_read_strengths], -1)
    g_interface = torch.cat(
        [
            g_values.flatten(1),
            g_write_keys.flatten(1),
            g_read_keys.flatten(1),
            _sigmoid_backward(g_gates, gates),
            _softplus_backward(g_strengths, strengths_pre),
            _softmax_backward(g_modes, modes).flatten(1),
        ],
        -1,
    )
    return g_interface, g_memory0, g_read0, g_write0, g_link0, g_prec0, g_usage0


# --- the whole sequence, controller included ----------------------------------


def _sequence_forward(config, keep, input_gates, recurrent, weight, bias, *state):
    """Run the controller and the memory over all steps.

    ``config`` is ``(hidden_size, clip_value, access sizes)``; ``input_gates``
    (B, T, 4 H) holds the input half of the LSTM gate products and the biases;
    ``recurrent`` (R W + H, 4 H) maps ``[r_{t-1}, h_{t-1}]`` to the rest;
    ``weight`` and ``bias`` are the interface layer's. ``state`` is ``(h, c,
    read_flat, memory, read_weights, write_weights, link, precedence,
    usage)``. Returns the outputs and, if ``keep``, per step what the
    backward pass needs.
    """
    hidden_size, clip_value, sizes = config
    h, c, read_flat, *access_state = state
    split = [2 * hidden_size, hidden_size, hidden_size]
    weight_t = weight.t()
    hidden, reads, steps = [], [], []
    memory_scale = None  # of the memory, from the last read lookup
    for step_gates in input_gates.unbind(1):
        controller_in = torch.cat([read_flat, h], dim=1)
        gates = torch.addmm(step_gates, controller_in, recurrent)
        in_forget, candidate, out_gate = gates.split(split, dim=1)
        in_forget = torch.sigmoid(in_forget)
        in_gate, forget_gate = in_forget.chunk(2, dim=1)
        candidate = torch.tanh(candidate)
        out_gate = torch.sigmoid(out_gate)
        c_prev = c
        c = torch.addcmul(forget_gate * c, in_gate, candidate)
        tanh_c = torch.tanh(c)
        h = out_gate * tanh_c
        drive = h
        if clip_value is not None:
            drive = F.hardtanh(h, -clip_value, clip_value)
        interface = torch.addmm(bias, drive, weight_t)
        outputs, saved = _access_forward(sizes, interface, *access_state, memory_scale)
        memory_scale = saved["cosine_read"][1]
        read_words, *access_state = outputs
        read_flat = read_words.flatten(1)
        hidden.append(h)
        reads.append(read_flat)
        controller = (controller_in, in_forget, candidate, c_prev, out_gate, tanh_c)
        if keep:
            steps.append((controller, drive, h, saved, outputs[1:5]))
    outputs = (
        torch.stack(hidden, dim=1),
        torch.stack(reads, dim=1),
        h,
        c,
        read_words,
        *access_state,
    )
    return outputs, steps


class _DNCSequence(torch.autograd.Function):
    """:func:`_sequence_forward` with a hand-written backward pass.

    Outputs: hidden states (B, T, H), read words (B, T, R W), then the final
    h, c, read words (B, R, W), memory, read weights, write weights, link,
    precedence and usage.
    """

    @staticmethod
    def forward(ctx, config, *tensors):
        ctx.set_materialize_grads(False)
        outputs, steps = _sequence_forward(config, True, *tensors)
        ctx.config = config
        flat, layout = [], []
        for controller, drive, h, saved, access_outputs in steps:
            flat.extend(controller)
            flat.extend((drive, h))
            flat.extend(access_outputs)
            for value in saved.values():
                flat.extend(value)
        for key, value in steps[0][3].items():
            layout.append((key, len(value)))
        ctx.layout = layout
        ctx.num_steps = len(steps)
        ctx.save_for_backward(tensors[1], tensors[2], *flat)
        return outputs

    @staticmethod
    @once_differentiable
    def backward(ctx, *grads):
        hidden_size, clip_value, sizes = ctx.config
        recurrent, weight, *flat = ctx.saved_tensors
        g_hidden, g_reads, g_h, g_c, g_words, *g_state = grads
        per_step = 12 + sum(size for _, size in ctx.layout)
        g_hidden = [None] * ctx.num_steps if g_hidden is None else g_hidden.unbind(1)
        g_reads = [None] * ctx.num_steps if g_reads is None else g_reads.unbind(1)
        g_read_flat = None if g_words is None else g_words.flatten(1)
        read_size = recurrent.shape[0] - hidden_size
        recurrent_t = recurrent.t()
        g_gates, g_interfaces, controller_ins, drives = [], [], [], []
        for t in reversed(range(ctx.num_steps)):
            step = flat[t * per_step : (t + 1) * per_step]
            controller_in, in_forget, candidate, c_prev, out_gate, tanh_c = step[:6]
            drive, h = step[6:8]
            access_outputs = step[8:12]
            saved, start = {}, 12
            for key, size in ctx.layout:
                saved[key] = step[start : start + size]
                start += size
            g_read_flat = _add(g_reads[t], g_read_flat)
            g_read_words = None
            if g_read_flat is not None:
                g_read_words = g_read_flat.view(h.shape[0], sizes[1], sizes[2])
            needs_link = t > 0 or ctx.needs_input_grad[11]
            g_interface, *g_state = _access_backward(
                sizes, saved, access_outputs, (g_read_words, *g_state), needs_link
            )
            g_drive = torch.mm(g_interface, weight)
            if clip_value is not None:
                g_drive = _hardtanh_backward(g_drive, h, clip_value)
            g_h = _add(_add(g_h, g_hidden[t]), g_drive)
            # h = o tanh(c), c = f c_prev + i g.
            g_c = _add(_tanh_backward(g_h * out_gate, tanh_c), g_c)
            in_gate, forget_gate = in_forget.chunk(2, dim=1)
            g_in_forget = torch.cat([g_c * candidate, g_c * c_prev], dim=1)
            step_gates = torch.cat(
                [
                    _sigmoid_backward(g_in_forget, in_forget),
                    _tanh_backward(g_c * in_gate, candidate),
                    _sigmoid_backward(g_h * tanh_c, out_gate),
                ],
                dim=1,
            )
            g_c = g_c * forget_gate
            g_controller_in = torch.mm(step_gates, recurrent_t)
            g_read_flat = g_controller_in[:, :read_size]
            g_h = g_controller_in[:, read_size:]
            g_gates.append(step_gates)
            g_interfaces.append(g_interface)
            controller_ins.append(controller_in)
            drives.append(drive)
        # Weight gradients: one product over all steps (in reverse order, as
        # collected; the sums do not depend on the order).
        g_input_gates = torch.stack(g_gates[::-1], dim=1)
        g_gates = torch.cat(g_gates)
        g_recurrent = torch.mm(torch.cat(controller_ins).t(), g_gates)
        g_interfaces = torch.cat(g_interfaces)
        g_weight = torch.mm(g_interfaces.t(), torch.cat(drives))
        g_bias = g_interfaces.sum(0)
        return (
            None,
            g_input_gates,
            g_recurrent,
            g_weight,
            g_bias,
            g_h,
            g_c,
            g_read_flat,
            *g_state,
        )


def sequence(config, *tensors):
    """The fused sequence: :class:`_DNCSequence` if autograd records it."""
    if _needs_grad(*tensors):
        return _DNCSequence.apply(config, *tensors)
    return _sequence_forward(config, False, *tensors)[0]
