"""Memory access and the Differentiable Neural Computer (DNC).

:class:`MemoryAccess` is the DNC's memory unit: several read and write heads
over an external memory, addressed by content, by dynamic allocation and by
the temporal links between writes (the operations of :mod:`._addressing`).
:class:`DNC` drives it with an LSTM controller over a batch of sequences.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from ._addressing import (
    CosineWeights,
    Freeness,
    TemporalLinkage,
    TemporalLinkageState,
    _allocation_backward,
    _allocation_forward,
    _check_positive_int,
    _constants,
    _cosine_backward,
    _cosine_forward,
    _link_backward,
    _link_forward,
    _link_update,
    _needs_grad,
    _prod_over_heads,
)

__all__ = ["AccessState", "DNC", "DNCState", "MemoryAccess"]

# The overloads themselves: calling them skips the overload resolution of
# torch.ops.aten.<name>(...), a noticeable cost on operations this small.
_SIGMOID_BACKWARD = torch.ops.aten.sigmoid_backward.default
_SOFTPLUS_BACKWARD = torch.ops.aten.softplus_backward.default
_SOFTMAX_BACKWARD = torch.ops.aten._softmax_backward_data.default
_TANH_BACKWARD = torch.ops.aten.tanh_backward.default
_HARDTANH_BACKWARD = torch.ops.aten.hardtanh_backward.default


def _detach(value):
    """Detach every tensor of a (nested) tuple of tensors."""
    if isinstance(value, Tensor):
        return value.detach()
    parts = [_detach(v) for v in value]
    return type(value)(*parts) if hasattr(value, "_fields") else tuple(parts)


# --- one memory step as a single autograd Function ---------------------------
#
# A training step of the memory is about a hundred small tensor operations.
# Recorded one by one, each also costs autograd a graph node, saved tensors
# and a call in the backward pass. _AccessStep runs the forward as plain
# tensor code and the backward as the hand-written derivative of the whole
# step (reusing the backward passes of the addressing Functions), so autograd
# sees one node per step. tests/nn/test_dnc.py checks it with gradcheck.


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


def _add(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    """a + b, where None stands for a zero gradient."""
    if a is None:
        return b
    if b is None:
        return a
    return a + b


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

    # Erase and write (as _erase_and_write).
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
    precedence = torch.addcmul(write_weights, remaining, prec0)  # as _precedence
    if wr == 1:  # as _link_forward, with fewer reshapes
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
        "controls": (
            gates,
            strengths_pre,
            modes,
            values,
            erase,
            free_gate,
            allocation_gate,
            write_gate,
            write_keys,
            read_keys,
        ),
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


def _access_backward(sizes, saved, outputs, grads, needs_link):
    """Gradients of the inputs of :func:`_access_forward` (see _AccessStep)."""
    wr, r, w, _ = sizes
    memory, read_weights, write_weights, link = outputs
    g_words, g_memory, g_read, g_write, g_link, g_prec, g_usage = grads
    memory0, read0, write0, link0, prec0, usage0 = saved["inputs"]
    (
        gates,
        strengths_pre,
        modes,
        values,
        erase,
        free_gate,
        allocation_gate,
        write_gate,
        write_keys,
        read_keys,
    ) = saved["controls"]
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
        [g_erase.reshape(batch, -1), g_free, g_allocation_gate, g_write_gate], -1
    )
    g_strengths = torch.cat([g_write_strengths, g_read_strengths], -1)
    g_interface = torch.cat(
        [
            g_values.reshape(batch, -1),
            g_write_keys.reshape(batch, -1),
            g_read_keys.reshape(batch, -1),
            _SIGMOID_BACKWARD(g_gates, gates),
            _SOFTPLUS_BACKWARD(g_strengths, strengths_pre, 1.0, 20.0),
            _SOFTMAX_BACKWARD(g_modes, modes, -1, modes.dtype).reshape(batch, -1),
        ],
        -1,
    )
    return g_interface, g_memory0, g_read0, g_write0, g_link0, g_prec0, g_usage0


# --- the whole sequence as a single autograd Function ------------------------
#
# The LSTM controller adds about fifteen small operations per step, and with
# autograd each weight gets its own gradient product at every step.
# _DNCSequence runs the controller and the memory over all steps as plain
# tensor code and differentiates them by hand, step by step backwards
# (backpropagation through time); the weight gradients are then one product
# over all steps at once.


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
                g_drive = _HARDTANH_BACKWARD(g_drive, h, -clip_value, clip_value)
            g_h = _add(_add(g_h, g_hidden[t]), g_drive)
            # h = o tanh(c), c = f c_prev + i g.
            g_c = _add(_TANH_BACKWARD(g_h * out_gate, tanh_c), g_c)
            in_gate, forget_gate = in_forget.chunk(2, dim=1)
            g_in_forget = torch.cat([g_c * candidate, g_c * c_prev], dim=1)
            step_gates = torch.cat(
                [
                    _SIGMOID_BACKWARD(g_in_forget, in_forget),
                    _TANH_BACKWARD(g_c * in_gate, candidate),
                    _SIGMOID_BACKWARD(g_h * tanh_c, out_gate),
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


class AccessState(NamedTuple):
    """State of :class:`MemoryAccess` between two steps.

    Attributes
    ----------
    memory : Tensor of shape (B, N, W)
        Memory contents.
    read_weights : Tensor of shape (B, R, N)
        Read weighting of each read head at the last step.
    write_weights : Tensor of shape (B, Wr, N)
        Write weighting of each write head at the last step.
    linkage : TemporalLinkageState
        ``link`` of shape (B, Wr, N, N) and ``precedence_weights`` of shape
        (B, Wr, N).
    usage : Tensor of shape (B, N)
        Usage of each slot, in [0, 1].
    """

    memory: Tensor
    read_weights: Tensor
    write_weights: Tensor
    linkage: TemporalLinkageState
    usage: Tensor

    def detach(self) -> AccessState:
        """Return the state with every tensor detached from the graph.

        Use it between chunks of a long sequence (truncated backpropagation
        through time).
        """
        return _detach(self)


class MemoryAccess(nn.Module):
    """Read and write heads of the Differentiable Neural Computer.

    At each step an input vector (in the DNC, the controller's output) is
    turned by one linear layer into the interface vector of the paper: keys
    and strengths for content lookup, erase and write vectors, free gates,
    allocation and write gates, and read modes. The module then updates the
    usage, writes to memory, updates the temporal links and reads.

    Parameters
    ----------
    memory_size : int, default=128
        Number ``N`` of memory slots.
    word_size : int, default=20
        Width ``W`` of each slot.
    num_reads : int, default=1
        Number ``R`` of read heads.
    num_writes : int, default=1
        Number ``Wr`` of write heads (1 in the paper).
    input_size : int or None, default=None
        Width of the inputs. ``None`` infers it at the first call
        (:class:`torch.nn.LazyLinear`); give it when you can, so that the
        parameters exist (for an optimiser, ``torch.compile`` or loading a
        state dict) before any data is seen.

    Attributes
    ----------
    interface : torch.nn.Linear
        Maps the input to the whole interface vector, of width
        ``Wr * (3 W + 3) + R * (W + 3 + 2 Wr)``.
    interface_size : int
        Width of the interface vector.

    Notes
    -----
    One step, from the previous state (Graves et al., 2016, Methods):

    1. usage :math:`u_t` from the previous write and read weightings and the
       free gates (:class:`Freeness`);
    2. write weighting of each write head :math:`i`,
       :math:`w^{w,i}_t = g^{w,i}_t \\left(g^{a,i}_t a^i_t +
       (1 - g^{a,i}_t) c^{w,i}_t\\right)`, from the allocation :math:`a^i_t`
       and the content weighting :math:`c^{w,i}_t` on the previous memory;
    3. erase and write (:func:`erase_and_write`);
    4. link matrices and precedence (:class:`TemporalLinkage`);
    5. read weighting of each read head :math:`j`,
       :math:`w^{r,j}_t = \\sum_i \\pi^j_t[i]\\, b^{i,j}_t + \\pi^j_t[c]\\,
       c^{r,j}_t + \\sum_i \\pi^j_t[W_r + i]\\, f^{i,j}_t`, with content
       weighting :math:`c^{r,j}_t` on the new memory and the backward and
       forward weightings along each write head's links;
    6. read words :math:`r^j_t = M_t^\\top w^{r,j}_t`.

    The read modes :math:`\\pi^j_t` are a softmax over ``2 Wr + 1`` modes
    laid out as ``[backward per write head, forward per write head,
    content]``. Gates and erase vectors go through a sigmoid; keys and
    write vectors are linear; strengths go through a softplus, as in
    :class:`CosineWeights`.

    Memory: the state holds ``B * Wr * N**2`` link entries, and training
    keeps the link matrices of every step for the backward pass, so the cost
    grows with the square of the memory size times the sequence length.

    Speed: a step after the interface layer (steps 1 to 6 and the
    activations) is one autograd Function with a hand-written backward pass,
    built from those of the content weighting, the allocation and the link
    update; autograd then records one node per step instead of about a
    hundred small operations. ``torch.autograd.gradcheck`` checks it in the
    test suite. It gives first-order gradients; without autograd
    (``torch.no_grad()``) the same forward code runs outside the Function.

    References
    ----------
    .. [1] A. Graves et al., "Hybrid computing using a neural network with
       dynamic external memory", Nature 538, 471-476 (2016).

    Examples
    --------
    >>> import torch
    >>> from sk_memsel.nn import MemoryAccess
    >>> access = MemoryAccess(
    ...     memory_size=16, word_size=8, num_reads=2, num_writes=1, input_size=10
    ... )
    >>> read_words, state = access(torch.randn(4, 10), None)
    >>> read_words.shape  # (batch, num_reads, word_size)
    torch.Size([4, 2, 8])
    >>> state.memory.shape, state.linkage.link.shape
    (torch.Size([4, 16, 8]), torch.Size([4, 1, 16, 16]))
    >>> read_words, state = access(torch.randn(4, 10), state)
    >>> state.usage.shape
    torch.Size([4, 16])
    """

    def __init__(
        self,
        memory_size: int = 128,
        word_size: int = 20,
        num_reads: int = 1,
        num_writes: int = 1,
        *,
        input_size: int | None = None,
    ) -> None:
        super().__init__()
        self.memory_size = _check_positive_int("memory_size", memory_size)
        self.word_size = _check_positive_int("word_size", word_size)
        self.num_reads = _check_positive_int("num_reads", num_reads)
        self.num_writes = _check_positive_int("num_writes", num_writes)
        if input_size is not None:
            _check_positive_int("input_size", input_size)
        self.input_size = input_size

        self.write_content_weights = CosineWeights(num_writes, word_size)
        self.read_content_weights = CosineWeights(num_reads, word_size)
        self.linkage = TemporalLinkage(memory_size, num_writes)
        self.freeness = Freeness(memory_size)

        wr, r, w = num_writes, num_reads, word_size
        # The interface vector, in blocks that share an activation: linear
        # (write vectors, write keys, read keys), sigmoid (erase vectors,
        # free gates, allocation gates, write gates), softplus (write and
        # read strengths) and softmax (read modes).
        self._blocks = [wr * w + wr * w + r * w, wr * w + r + wr + wr, wr + r]
        self._blocks.append(r * (2 * wr + 1))
        self.interface_size = sum(self._blocks)
        self._sizes = (wr, r, w, tuple(self._blocks))
        if input_size is None:
            self.interface = nn.LazyLinear(self.interface_size)
        else:
            self.interface = nn.Linear(input_size, self.interface_size)

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> AccessState:
        """Return the all-zero state for a batch of ``batch_size``.

        Parameters
        ----------
        batch_size : int
            Number of sequences.
        device, dtype : optional
            Where and in which floating type to create the tensors.

        Returns
        -------
        state : AccessState
        """
        n, kw = self.memory_size, {"device": device, "dtype": dtype}
        return AccessState(
            memory=torch.zeros(batch_size, n, self.word_size, **kw),
            read_weights=torch.zeros(batch_size, self.num_reads, n, **kw),
            write_weights=torch.zeros(batch_size, self.num_writes, n, **kw),
            linkage=self.linkage.initial_state(batch_size, **kw),
            usage=torch.zeros(batch_size, n, **kw),
        )

    def _split(self, inputs: Tensor) -> dict[str, Tensor]:
        """Turn inputs of shape (B, input_size) into the interface parts.

        The same layout as :func:`_access_forward` reads, by name; the step
        itself does not use it (the tests' reference step does).
        """
        batch = inputs.shape[0]
        wr, r, w = self.num_writes, self.num_reads, self.word_size
        linear, gates, strengths, modes = torch.split(
            self.interface(inputs), self._blocks, dim=-1
        )
        write_vectors, write_keys, read_keys = torch.split(
            linear, [wr * w, wr * w, r * w], dim=-1
        )
        erase, free_gate, allocation_gate, write_gate = torch.split(
            torch.sigmoid(gates), [wr * w, r, wr, wr], dim=-1
        )
        write_strengths, read_strengths = torch.split(
            F.softplus(strengths), [wr, r], dim=-1
        )
        return {
            "write_vectors": write_vectors.reshape(batch, wr, w),
            "erase_vectors": erase.reshape(batch, wr, w),
            "free_gate": free_gate,
            "allocation_gate": allocation_gate,
            "write_gate": write_gate,
            "read_mode": torch.softmax(modes.reshape(batch, r, 2 * wr + 1), -1),
            "write_keys": write_keys.reshape(batch, wr, w),
            "write_strengths": write_strengths,  # after softplus
            "read_keys": read_keys.reshape(batch, r, w),
            "read_strengths": read_strengths,  # after softplus
        }

    def forward(
        self, inputs: Tensor, prev_state: AccessState | None = None
    ) -> tuple[Tensor, AccessState]:
        """Run one step of the memory.

        Parameters
        ----------
        inputs : Tensor of shape (B, input_size)
            Controls for the heads (the controller's output).
        prev_state : AccessState or None, default=None
            State after the previous step; ``None`` starts from an empty
            memory (all zeros, see :meth:`initial_state`).

        Returns
        -------
        read_words : Tensor of shape (B, R, W)
            Word read by each read head.
        state : AccessState
            State after this step.
        """
        if inputs.ndim != 2 or (
            self.input_size is not None and inputs.shape[1] != self.input_size
        ):
            width = "input_size" if self.input_size is None else self.input_size
            raise ValueError(
                f"inputs must have shape (batch, {width}), got {tuple(inputs.shape)}."
            )
        if prev_state is None:
            prev_state = self.initial_state(
                inputs.shape[0], device=inputs.device, dtype=inputs.dtype
            )
        elif prev_state.memory.shape != (
            inputs.shape[0],
            self.memory_size,
            self.word_size,
        ):
            raise ValueError(
                "prev_state.memory must have shape "
                f"({inputs.shape[0]}, {self.memory_size}, {self.word_size}), "
                f"got {tuple(prev_state.memory.shape)}."
            )
        return self._step(inputs, prev_state)

    def _step(
        self, inputs: Tensor, prev_state: AccessState
    ) -> tuple[Tensor, AccessState]:
        """One step without the input checks of :meth:`forward`."""
        linkage = prev_state.linkage
        if linkage is None:  # as in the reference text's initial state
            linkage = self.linkage.initial_state(
                inputs.shape[0], device=inputs.device, dtype=inputs.dtype
            )
        args = (
            self.interface(inputs),
            prev_state.memory,
            prev_state.read_weights,
            prev_state.write_weights,
            linkage.link,
            linkage.precedence_weights,
            prev_state.usage,
        )
        if _needs_grad(*args):
            outputs = _AccessStep.apply(self._sizes, *args)
        else:
            outputs = _access_forward(self._sizes, *args)[0]
        read_words, memory, read_weights, write_weights, link, precedence, usage = (
            outputs
        )
        linkage = TemporalLinkageState(link, precedence)
        state = AccessState(memory, read_weights, write_weights, linkage, usage)
        return read_words, state

    def extra_repr(self) -> str:
        return (
            f"memory_size={self.memory_size}, word_size={self.word_size}, "
            f"num_reads={self.num_reads}, num_writes={self.num_writes}, "
            f"input_size={self.input_size}"
        )


class DNCState(NamedTuple):
    """State of :class:`DNC` between two calls.

    Attributes
    ----------
    controller : tuple of (Tensor, Tensor)
        LSTM hidden and cell states, each of shape (B, hidden_size).
    access : AccessState
        State of the memory.
    read_words : Tensor of shape (B, R, W)
        Words read at the last step, fed to the controller at the next one.
    """

    controller: tuple[Tensor, Tensor]
    access: AccessState
    read_words: Tensor

    def detach(self) -> DNCState:
        """Return the state with every tensor detached from the graph.

        Use it between chunks of a long sequence (truncated backpropagation
        through time).
        """
        return _detach(self)


class DNC(nn.Module):
    """Differentiable Neural Computer: an LSTM controller with a memory.

    At each time step the controller (an :class:`torch.nn.LSTMCell`) reads
    the input together with the words read at the previous step; its hidden
    state drives a :class:`MemoryAccess`; the output is a linear map of the
    hidden state and the words just read.

    Parameters
    ----------
    input_size : int
        Number of features per time step.
    hidden_size : int
        Width of the LSTM controller.
    output_size : int or None, default=None
        Number of outputs per time step; ``None`` uses ``hidden_size``.
    memory_size : int, default=32
        Number ``N`` of memory slots.
    word_size : int, default=16
        Width ``W`` of each slot.
    num_reads : int, default=1
        Number ``R`` of read heads.
    num_writes : int, default=1
        Number ``Wr`` of write heads.
    clip_value : float or None, default=None
        If given, the controller output is clipped to
        ``[-clip_value, clip_value]`` before it drives the memory (the
        original implementation clips at 20 for stability).

    Attributes
    ----------
    controller : torch.nn.LSTMCell
        Maps ``input_size + R * W`` inputs to ``hidden_size``.
    access : MemoryAccess
        The memory.
    output : torch.nn.Linear
        Maps ``hidden_size + R * W`` to ``output_size``.

    Notes
    -----
    With controller state :math:`(h_t, c_t)`, input :math:`x_t` and read words
    :math:`r_{t-1}`,

    .. math::

        (h_t, c_t) = \\operatorname{LSTM}([x_t; r_{t-1}], (h_{t-1}, c_{t-1})),
        \\qquad r_t = \\operatorname{access}(h_t),
        \\qquad y_t = W_y [h_t; r_t] + b_y .

    The controller's gate products are split as
    :math:`W_{ih} [x_t; r_{t-1}] = W_x x_t + W_r r_{t-1}`, and :math:`W_x x_t`
    is computed for all time steps in one product; the parameters are those
    of :attr:`controller` and the results those of calling it.

    Speed: with autograd on, the loop over the time steps (controller and
    memory) is one autograd Function with a hand-written backward pass
    through time, which reuses that of :class:`MemoryAccess` and computes
    each weight's gradient in one product over all steps. The test suite
    checks it against autograd through :class:`torch.nn.LSTMCell` and
    :class:`MemoryAccess` step by step, and by finite differences. It gives
    first-order gradients (no double backward).

    Inputs are batch first, ``(batch, time, features)``. Passing the
    returned state back in continues the sequences exactly where they
    stopped, so a long sequence can be run in chunks (use
    :meth:`DNCState.detach` between chunks to truncate backpropagation).

    Memory cost: the temporal link matrices take ``batch * num_writes *
    memory_size**2`` numbers per time step, and training keeps them for every
    step of the sequence for the backward pass; for ``memory_size`` in the
    hundreds this dominates everything else (``benchmarks/bench_dnc.py``
    measures it).

    References
    ----------
    .. [1] A. Graves et al., "Hybrid computing using a neural network with
       dynamic external memory", Nature 538, 471-476 (2016).

    Examples
    --------
    >>> import torch
    >>> from sk_memsel.nn import DNC
    >>> dnc = DNC(input_size=6, hidden_size=32, output_size=3, memory_size=16,
    ...           word_size=8, num_reads=2)
    >>> x = torch.randn(4, 10, 6)  # (batch, time, features)
    >>> outputs, state = dnc(x)
    >>> outputs.shape
    torch.Size([4, 10, 3])
    >>> outputs, state = dnc(torch.randn(4, 5, 6), state)  # carry on
    >>> outputs.shape, state.read_words.shape
    (torch.Size([4, 5, 3]), torch.Size([4, 2, 8]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int | None = None,
        *,
        memory_size: int = 32,
        word_size: int = 16,
        num_reads: int = 1,
        num_writes: int = 1,
        clip_value: float | None = None,
    ) -> None:
        super().__init__()
        self.input_size = _check_positive_int("input_size", input_size)
        self.hidden_size = _check_positive_int("hidden_size", hidden_size)
        if output_size is None:
            output_size = hidden_size
        self.output_size = _check_positive_int("output_size", output_size)
        if clip_value is not None and (
            isinstance(clip_value, bool)
            or not isinstance(clip_value, (int, float))
            or not clip_value > 0
        ):
            raise ValueError(
                f"clip_value must be positive or None, got {clip_value!r}."
            )
        self.clip_value = clip_value
        self.access = MemoryAccess(
            memory_size, word_size, num_reads, num_writes, input_size=hidden_size
        )
        read_size = num_reads * word_size
        self.controller = nn.LSTMCell(input_size + read_size, hidden_size)
        self.output = nn.Linear(hidden_size + read_size, self.output_size)

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> DNCState:
        """Return the all-zero state for a batch of ``batch_size``.

        Parameters
        ----------
        batch_size : int
            Number of sequences.
        device, dtype : optional
            Where and in which floating type to create the tensors.

        Returns
        -------
        state : DNCState
        """
        kw = {"device": device, "dtype": dtype}
        access = self.access
        return DNCState(
            controller=(
                torch.zeros(batch_size, self.hidden_size, **kw),
                torch.zeros(batch_size, self.hidden_size, **kw),
            ),
            access=access.initial_state(batch_size, **kw),
            read_words=torch.zeros(
                batch_size, access.num_reads, access.word_size, **kw
            ),
        )

    def forward(
        self, x: Tensor, state: DNCState | None = None
    ) -> tuple[Tensor, DNCState]:
        """Run the DNC over a batch of sequences.

        Parameters
        ----------
        x : Tensor of shape (batch, time, input_size)
            Input sequences, batch first.
        state : DNCState or None, default=None
            State returned by a previous call, to continue those sequences;
            ``None`` starts from :meth:`initial_state`.

        Returns
        -------
        outputs : Tensor of shape (batch, time, output_size)
            Output at every time step.
        state : DNCState
            State after the last step.
        """
        if x.ndim != 3 or x.shape[-1] != self.input_size:
            raise ValueError(
                "x must have shape (batch, time, "
                f"{self.input_size}), got {tuple(x.shape)}."
            )
        batch = x.shape[0]
        if x.shape[1] == 0:
            raise ValueError("x must hold at least one time step, got 0.")
        if state is None:
            state = self.initial_state(batch, device=x.device, dtype=x.dtype)
        elif state.read_words.shape[0] != batch:
            raise ValueError(
                f"state is for a batch of {state.read_words.shape[0]}, "
                f"but x has a batch of {batch}."
            )
        (h, c), access_state, read_words = state
        # The LSTM cell's equations, with the input half of the gate product
        # done for all steps at once: gates_t = W_x x_t + [r_{t-1}, h_{t-1}]
        # W_rh^T + b. Same parameters and results as calling the cell.
        cell, n_in = self.controller, self.input_size
        bias = None
        if cell.bias_ih is not None:
            bias = cell.bias_ih + cell.bias_hh
        input_gates = F.linear(x, cell.weight_ih[:, :n_in], bias)
        recurrent = torch.cat([cell.weight_ih[:, n_in:], cell.weight_hh], dim=1).t()
        linkage = access_state.linkage
        if linkage is None:  # as in the reference text's initial state
            linkage = self.access.linkage.initial_state(
                batch, device=x.device, dtype=x.dtype
            )
        tensors = (
            input_gates,
            recurrent,
            self.access.interface.weight,
            self.access.interface.bias,
            h,
            c,
            read_words.flatten(1),
            access_state.memory,
            access_state.read_weights,
            access_state.write_weights,
            linkage.link,
            linkage.precedence_weights,
            access_state.usage,
        )
        config = (self.hidden_size, self.clip_value, self.access._sizes)
        if _needs_grad(*tensors):
            results = _DNCSequence.apply(config, *tensors)
        else:
            results = _sequence_forward(config, False, *tensors)[0]
        hidden, reads, h, c, read_words, memory, *rest = results
        read_weights, write_weights, link, precedence, usage = rest
        # One output product over all steps instead of one per step.
        features = torch.cat([hidden, reads], dim=-1)
        outputs = F.linear(features, self.output.weight, self.output.bias)
        linkage = TemporalLinkageState(link, precedence)
        access_state = AccessState(memory, read_weights, write_weights, linkage, usage)
        return outputs, DNCState((h, c), access_state, read_words)

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"output_size={self.output_size}"
        )
