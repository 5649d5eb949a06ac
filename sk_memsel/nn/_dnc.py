"""The Differentiable Neural Computer (DNC): an LSTM controller driving a
:class:`~._access.MemoryAccess` over a batch of sequences.

As for the memory, two paths over the same parameters: the readable one
(``fused=False``) runs :class:`torch.nn.LSTMCell` and the memory step by
step under plain autograd, as deepmind's ``dnc`` does in ``dnc.py``; the
fused one (the default) runs the whole sequence as one autograd Function
with a hand-written backward pass through time (:mod:`._dnc_fused`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import _dnc_fused
from ._access import AccessState, MemoryAccess, _detach
from ._addressing import TemporalLinkageState
from ._checks import check_positive_int

# MemoryAccess and AccessState lived in this module before; the imports above
# keep the names that older pickles look up here.
__all__ = ["DNC", "DNCState"]


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

    detach = _detach


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
    fused : bool, default=True
        Run the sequence as one fused autograd Function (faster); ``False``
        runs the readable step-by-step path. See :class:`MemoryAccess`.

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

    Speed: with ``fused=True`` and autograd on, the loop over the time
    steps (controller and memory) is one autograd Function with a
    hand-written backward pass through time, which computes each weight's
    gradient in one product over all steps. The test suite checks it by
    finite differences and against the readable path (``fused=False``:
    :class:`torch.nn.LSTMCell` and :class:`MemoryAccess` step by step under
    plain autograd). The fused path gives first-order gradients only.

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

    ``fused=False`` runs the readable composition of the addressing modules,
    step by step with plain autograd; it computes the same outputs:

    >>> readable = DNC(input_size=6, hidden_size=32, output_size=3,
    ...                memory_size=16, word_size=8, num_reads=2, fused=False)
    >>> _ = readable.load_state_dict(dnc.state_dict())
    >>> torch.allclose(readable(x)[0], dnc(x)[0], atol=1e-5)
    True
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
        fused: bool = True,
    ) -> None:
        super().__init__()
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        if output_size is None:
            output_size = hidden_size
        self.output_size = check_positive_int("output_size", output_size)
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
            memory_size,
            word_size,
            num_reads,
            num_writes,
            input_size=hidden_size,
            fused=fused,
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
        """The all-zero DNCState for ``batch_size`` sequences, created on
        ``device`` in floating type ``dtype`` (torch's defaults if None)."""
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
        else:
            self.access._check_state(state.access, batch, x.dtype, "state.access")
        if not self.access.fused:
            return self._readable_forward(x, state)
        return self._fused_forward(x, state)

    def _readable_forward(self, x: Tensor, state: DNCState):
        """The equations of the Notes, one time step after another."""
        (h, c), access_state, read_words = state
        outputs = []
        for x_t in x.unbind(1):
            controller_in = torch.cat([x_t, read_words.flatten(1)], dim=-1)
            h, c = self.controller(controller_in, (h, c))
            drive = h
            if self.clip_value is not None:
                drive = F.hardtanh(h, -self.clip_value, self.clip_value)
            read_words, access_state = self.access(drive, access_state)
            outputs.append(self.output(torch.cat([h, read_words.flatten(1)], -1)))
        outputs = torch.stack(outputs, dim=1)
        return outputs, DNCState((h, c), access_state, read_words)

    def _fused_forward(self, x: Tensor, state: DNCState):
        """All time steps in :func:`._dnc_fused.sequence`."""
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
                x.shape[0], device=x.device, dtype=x.dtype
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
        results = _dnc_fused.sequence(config, *tensors)
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
