"""MemoryAccess: the read and write heads of the DNC, and their state.

Two paths over the same parameters: the readable one (``fused=False``)
composes the addressing modules of :mod:`._addressing` step by step under
plain autograd, as deepmind's ``dnc`` does in ``access.py``; it is the
reference. The fused one (the default) runs the same maths as one autograd
Function per step with a hand-written backward pass (:mod:`._dnc_fused`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from . import _dnc_fused
from ._addressing import (
    CosineWeights,
    Freeness,
    TemporalLinkage,
    TemporalLinkageState,
    erase_and_write,
)
from ._checks import check_positive_int, check_shape

__all__ = ["AccessState", "MemoryAccess"]


def _detach(value):
    """Return the state with every tensor detached from the graph.

    Use it between chunks of a long sequence (truncated backpropagation
    through time). Works on any nested tuple of tensors; a part that is
    ``None`` (a state kept without its link matrix) stays ``None``.
    """
    if value is None:
        return None
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

    detach = _detach


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
    fused : bool, default=True
        Run a step as one fused autograd Function with a hand-written
        backward pass (faster, first-order gradients only). ``False`` runs
        the readable composition of the submodules below under plain
        autograd (slower; higher-order gradients work). Both give the same
        results, up to rounding.

    Attributes
    ----------
    interface : torch.nn.Linear
        Maps the input to the whole interface vector, of width
        ``Wr * (3 W + 3) + R * (W + 3 + 2 Wr)``.
    interface_size : int
        Width of the interface vector.
    write_content_weights, read_content_weights : CosineWeights
        Content lookup of the write heads and of the read heads.
    freeness : Freeness
        Usage and allocation.
    linkage : TemporalLinkage
        Temporal links between writes.

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

    Speed: with ``fused=True`` autograd records one node per step instead of
    about a hundred small operations; the test suite checks its backward
    pass by finite differences and against the readable path.

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

    #: Modules pickled before the readable path existed run the fused one.
    fused = True

    def __init__(
        self,
        memory_size: int = 128,
        word_size: int = 20,
        num_reads: int = 1,
        num_writes: int = 1,
        *,
        input_size: int | None = None,
        fused: bool = True,
    ) -> None:
        super().__init__()
        self.memory_size = check_positive_int("memory_size", memory_size)
        self.word_size = check_positive_int("word_size", word_size)
        self.num_reads = check_positive_int("num_reads", num_reads)
        self.num_writes = check_positive_int("num_writes", num_writes)
        if input_size is not None:
            check_positive_int("input_size", input_size)
        self.input_size = input_size
        self.fused = bool(fused)

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
        """The all-zero AccessState for ``batch_size`` sequences, created on
        ``device`` in floating type ``dtype`` (torch's defaults if None)."""
        n, kw = self.memory_size, {"device": device, "dtype": dtype}
        return AccessState(
            memory=torch.zeros(batch_size, n, self.word_size, **kw),
            read_weights=torch.zeros(batch_size, self.num_reads, n, **kw),
            write_weights=torch.zeros(batch_size, self.num_writes, n, **kw),
            linkage=self.linkage.initial_state(batch_size, **kw),
            usage=torch.zeros(batch_size, n, **kw),
        )

    def _read_inputs(self, interface: Tensor) -> dict[str, Tensor]:
        """Cut the interface vector (B, interface_size) into named controls.

        The layout the fused step reads from ``self._sizes``; strengths stay
        raw (:class:`CosineWeights` applies the softplus).
        """
        batch = interface.shape[0]
        wr, r, w = self.num_writes, self.num_reads, self.word_size
        linear, gates, strengths, modes = torch.split(interface, self._blocks, -1)
        write_vectors, write_keys, read_keys = torch.split(
            linear, [wr * w, wr * w, r * w], dim=-1
        )
        erase, free_gate, allocation_gate, write_gate = torch.split(
            torch.sigmoid(gates), [wr * w, r, wr, wr], dim=-1
        )
        write_strengths, read_strengths = torch.split(strengths, [wr, r], dim=-1)
        return {
            "write_vectors": write_vectors.reshape(batch, wr, w),
            "erase_vectors": erase.reshape(batch, wr, w),
            "free_gate": free_gate,
            "allocation_gate": allocation_gate,
            "write_gate": write_gate,
            "read_mode": torch.softmax(modes.reshape(batch, r, 2 * wr + 1), -1),
            "write_keys": write_keys.reshape(batch, wr, w),
            "write_strengths": write_strengths,
            "read_keys": read_keys.reshape(batch, r, w),
            "read_strengths": read_strengths,
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
        # a lazy interface learns its width at the first call (it then
        # becomes a plain Linear), and later calls must keep it
        width = (
            "input_size"
            if isinstance(self.interface, nn.LazyLinear)
            else self.interface.in_features
        )
        if inputs.ndim != 2 or (isinstance(width, int) and inputs.shape[1] != width):
            raise ValueError(
                f"inputs must have shape (batch, {width}), got {tuple(inputs.shape)}."
            )
        if prev_state is None:
            prev_state = self.initial_state(
                inputs.shape[0], device=inputs.device, dtype=inputs.dtype
            )
        else:
            self._check_state(prev_state, inputs.shape[0], inputs.dtype)
        return self._step(inputs, prev_state)

    def _check_state(
        self, state: AccessState, batch: int, dtype: torch.dtype, name="prev_state"
    ) -> None:
        """Raise a clear ValueError unless ``state`` fits a batch of ``batch``.

        :meth:`forward` (and :class:`DNC`'s) calls it on a state passed in.

        Every tensor of the state must have the shape :class:`AccessState`
        gives it and the dtype of the inputs (a ``linkage`` of None is the
        initial one).
        """
        n, w, r, wr = self.memory_size, self.word_size, self.num_reads, self.num_writes
        parts = [
            ("memory", state.memory, (batch, n, w)),
            ("read_weights", state.read_weights, (batch, r, n)),
            ("write_weights", state.write_weights, (batch, wr, n)),
            ("usage", state.usage, (batch, n)),
        ]
        if state.linkage is not None:
            parts += [
                ("linkage.link", state.linkage.link, (batch, wr, n, n)),
                (
                    "linkage.precedence_weights",
                    state.linkage.precedence_weights,
                    (batch, wr, n),
                ),
            ]
        for part, tensor, shape in parts:
            check_shape(f"{name}.{part}", tensor, shape)
            if tensor.dtype != dtype:
                raise ValueError(
                    f"{name}.{part} is {tensor.dtype}, but the inputs are {dtype}; "
                    "pass a state made for inputs of this dtype."
                )

    def _step(
        self, inputs: Tensor, prev_state: AccessState
    ) -> tuple[Tensor, AccessState]:
        """One step without the input checks of :meth:`forward`."""
        if not self.fused:
            return self._readable_step(inputs, prev_state)
        linkage = prev_state.linkage
        if linkage is None:  # as in the reference text's initial state
            linkage = self.linkage.initial_state(
                inputs.shape[0], device=inputs.device, dtype=inputs.dtype
            )
        read_words, memory, read_weights, write_weights, link, precedence, usage = (
            _dnc_fused.access_step(
                self._sizes,
                self.interface(inputs),
                prev_state.memory,
                prev_state.read_weights,
                prev_state.write_weights,
                linkage.link,
                linkage.precedence_weights,
                prev_state.usage,
            )
        )
        linkage = TemporalLinkageState(link, precedence)
        state = AccessState(memory, read_weights, write_weights, linkage, usage)
        return read_words, state

    def _readable_step(
        self, inputs: Tensor, prev_state: AccessState
    ) -> tuple[Tensor, AccessState]:
        """Steps 1 to 6 of the Notes, one submodule each."""
        controls = self._read_inputs(self.interface(inputs))
        usage = self.freeness(
            prev_state.write_weights,
            controls["free_gate"],
            prev_state.read_weights,
            prev_state.usage,
        )
        write_weights = self._write_weights(controls, prev_state.memory, usage)
        memory = erase_and_write(
            prev_state.memory,
            write_weights,
            controls["erase_vectors"],
            controls["write_vectors"],
        )
        linkage = self.linkage(write_weights, prev_state.linkage)
        read_weights = self._read_weights(
            controls, memory, prev_state.read_weights, linkage.link
        )
        read_words = torch.matmul(read_weights, memory)
        state = AccessState(memory, read_weights, write_weights, linkage, usage)
        return read_words, state

    def _write_weights(self, controls, memory: Tensor, usage: Tensor) -> Tensor:
        """Allocation and content lookup on the previous memory, gated."""
        content = self.write_content_weights(
            memory, controls["write_keys"], controls["write_strengths"]
        )
        allocation_gate = controls["allocation_gate"]
        write_gate = controls["write_gate"]
        allocation = self.freeness.write_allocation_weights(
            usage, allocation_gate * write_gate, self.num_writes
        )
        allocation_gate = allocation_gate.unsqueeze(-1)
        mixed = allocation_gate * allocation + (1 - allocation_gate) * content
        return write_gate.unsqueeze(-1) * mixed

    def _read_weights(
        self, controls, memory: Tensor, prev_read_weights: Tensor, link: Tensor
    ) -> Tensor:
        """Mix of the backward, forward and content reads by the read modes."""
        content = self.read_content_weights(
            memory, controls["read_keys"], controls["read_strengths"]
        )
        backward = self.linkage.directional_read_weights(
            link, prev_read_weights, is_forward=False
        )  # (B, R, Wr, N)
        forward = self.linkage.directional_read_weights(
            link, prev_read_weights, is_forward=True
        )
        wr = self.num_writes
        modes = controls["read_mode"].unsqueeze(-1)  # (B, R, 2 Wr + 1, 1)
        backward_mode, forward_mode = modes[:, :, :wr], modes[:, :, wr : 2 * wr]
        return (
            (backward_mode * backward).sum(2)
            + (forward_mode * forward).sum(2)
            + modes[:, :, 2 * wr] * content
        )

    def extra_repr(self) -> str:
        return (
            f"memory_size={self.memory_size}, word_size={self.word_size}, "
            f"num_reads={self.num_reads}, num_writes={self.num_writes}, "
            f"input_size={self.input_size}, fused={self.fused}"
        )
