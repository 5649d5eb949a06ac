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

from ._addressing import (
    CosineWeights,
    Freeness,
    TemporalLinkage,
    TemporalLinkageState,
    _check_positive_int,
    _cosine_weights,
    _erase_and_write,
    _usage,
    _write_allocation_weights,
)

__all__ = ["AccessState", "DNC", "DNCState", "MemoryAccess"]


def _detach(value):
    """Detach every tensor of a (nested) tuple of tensors."""
    if isinstance(value, Tensor):
        return value.detach()
    parts = [_detach(v) for v in value]
    return type(value)(*parts) if hasattr(value, "_fields") else tuple(parts)


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

    Speed: the content weighting, the allocation and the link update (with
    the directional reads) run as autograd Functions with hand-written
    backward passes, which need fewer and larger tensor operations than
    autograd through the formulas; ``torch.autograd.gradcheck`` checks them
    in the test suite. They give first-order gradients; without autograd
    (``torch.no_grad()``) the plain forward code runs.

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
        """Turn inputs of shape (B, input_size) into the interface parts."""
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

    def _write_weights(
        self, controls: dict[str, Tensor], memory: Tensor, usage: Tensor
    ) -> Tensor:
        """Write weighting of each head, shape (B, Wr, N)."""
        content = _cosine_weights(
            memory, controls["write_keys"], controls["write_strengths"]
        )
        allocation_gate = controls["allocation_gate"]
        write_gate = controls["write_gate"]
        allocation = _write_allocation_weights(usage, allocation_gate * write_gate)
        # g_w (g_a a + (1 - g_a) c) = g_w (c + g_a (a - c))
        mixed = torch.addcmul(
            content, allocation_gate.unsqueeze(-1), allocation - content
        )
        return write_gate.unsqueeze(-1) * mixed

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
        controls = self._split(inputs)
        usage = _usage(
            prev_state.write_weights,
            controls["free_gate"],
            prev_state.read_weights,
            prev_state.usage,
        )
        write_weights = self._write_weights(controls, prev_state.memory, usage)
        memory = _erase_and_write(
            prev_state.memory,
            write_weights,
            controls["erase_vectors"],
            controls["write_vectors"],
        )
        linkage = prev_state.linkage
        if linkage is None:  # as in the reference text's initial state
            linkage = self.linkage.initial_state(
                inputs.shape[0], device=inputs.device, dtype=inputs.dtype
            )
        linkage, directional = self.linkage._update_and_read(
            write_weights, linkage, prev_state.read_weights
        )
        # Mix the 2 Wr + 1 read modes of each read head in one product:
        # [B R, 1, 2 Wr + 1] @ [B R, 2 Wr + 1, N].
        content = _cosine_weights(
            memory, controls["read_keys"], controls["read_strengths"]
        )
        candidates = torch.cat([directional, content.unsqueeze(2)], dim=2)
        batch, num_reads, num_modes, n = candidates.shape
        read_weights = torch.bmm(
            controls["read_mode"].reshape(batch * num_reads, 1, num_modes),
            candidates.view(batch * num_reads, num_modes, n),
        ).view(batch, num_reads, n)
        read_words = torch.bmm(read_weights, memory)
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
        hidden_size = self.hidden_size
        split = [2 * hidden_size, hidden_size, hidden_size]
        read_flat = read_words.flatten(1)
        hidden, reads = [], []
        # unbind, not x[:, t]: the backward of one unbind is one stack, that
        # of every x[:, t] a zero tensor the size of the whole sequence.
        for step_gates in input_gates.unbind(1):
            gates = torch.addmm(step_gates, torch.cat([read_flat, h], dim=1), recurrent)
            in_forget, candidate, out_gate = gates.split(split, dim=1)
            in_gate, forget_gate = torch.sigmoid(in_forget).chunk(2, dim=1)
            c = torch.addcmul(forget_gate * c, in_gate, torch.tanh(candidate))
            h = torch.sigmoid(out_gate) * torch.tanh(c)
            drive = h
            if self.clip_value is not None:  # hardtanh is clamp, with a leaner grad
                drive = F.hardtanh(h, -self.clip_value, self.clip_value)
            read_words, access_state = self.access._step(drive, access_state)
            read_flat = read_words.flatten(1)
            hidden.append(h)
            reads.append(read_flat)
        # One output product over all steps instead of one per step.
        features = torch.cat(
            [torch.stack(hidden, dim=1), torch.stack(reads, dim=1)], dim=-1
        )
        outputs = F.linear(features, self.output.weight, self.output.bias)
        return outputs, DNCState((h, c), access_state, read_words)

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"output_size={self.output_size}"
        )
