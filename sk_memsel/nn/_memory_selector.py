"""Memory selector: pick, for each output, one of several learned embeddings.

For every output (concept) the module keeps a bank of ``memory_size`` learned
embeddings and scores them from the input with a small MLP; the output is a
soft mixture of the bank's slots, or a hard straight-through Gumbel-softmax
choice of one slot (Debot et al., 2024).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_positive_int, check_positive_number
from ._random import stream_generator

__all__ = ["MemorySelector"]


class MemorySelector(nn.Module):
    """Select, per sample and output, memory slots of a learned bank.

    Parameters
    ----------
    in_features : int
        Number of input features.
    memory_size : int
        Number of memory slots per output.
    embedding_size : int
        Width of each memory embedding.
    out_features : int
        Number of outputs, each with its own memory bank.
    temperature : float, default=1.0
        Softmax (and Gumbel-softmax) temperature; lower is sharper. The
        attribute may be set between calls (annealing); it must stay
        positive. It is not in the ``state_dict``: set it again after
        ``load_state_dict``.
    hidden_size : int or None, default=None
        Width of the scoring MLP's hidden layer; ``None`` uses
        ``embedding_size``.

    Attributes
    ----------
    memory : torch.nn.Parameter of shape (out_features, memory_size, embedding_size)
        The memory banks, initialised from a standard normal.
    scorer : torch.nn.Sequential
        ``Linear(in_features, hidden_size) -> LeakyReLU ->
        Linear(hidden_size, out_features * memory_size)``.

    Notes
    -----
    For input :math:`x`, the scorer gives logits :math:`s_{om}(x)` for
    output :math:`o` and slot :math:`m`. The selection is over the slots
    (the last axis of the ``(batch, out_features, memory_size)`` scores):

    .. math::

        p_{om}(x) = \\frac{\\exp(s_{om}(x) / \\tau)}
            {\\sum_{m'} \\exp(s_{om'}(x) / \\tau)}, \\qquad
        z_o(x) = \\sum_m p_{om}(x)\\, M_{om} .

    With ``sampling=True`` the weights are the one-hot argmax of the
    Gumbel-softmax sample :math:`y = \\operatorname{softmax}((s + g) / \\tau)`,
    :math:`g_{om} = -\\log(-\\log U_{om})`, :math:`U \\sim \\mathcal U(0, 1)`,
    used with the straight-through estimator: the forward pass uses the hard
    one-hot choice, the gradient is that of :math:`y`. As in the usual
    Gumbel-softmax, the hard choice of slot :math:`m` has probability
    :math:`\\operatorname{softmax}(s)_m`; the temperature sets how sharp
    the surrogate gradient is.

    The reference implementation normalised over the output axis; this one
    normalises over the memory slots, as the paper describes.

    References
    ----------
    .. [1] G. Debot, P. Barbiero, F. Giannini, G. Ciravegna, M. Diligenti,
       G. Marra, "Interpretable Concept-Based Memory Reasoning", NeurIPS 2024,
       https://arxiv.org/abs/2407.15527
    .. [2] E. Jang, S. Gu, B. Poole, "Categorical Reparameterization with
       Gumbel-Softmax", ICLR 2017.

    Examples
    --------
    >>> import torch
    >>> from sk_memsel.nn import MemorySelector
    >>> selector = MemorySelector(in_features=12, memory_size=5,
    ...                           embedding_size=8, out_features=3)
    >>> selector.memory_bank.shape
    torch.Size([3, 5, 8])
    >>> x = torch.randn(4, 12)
    >>> selector(x).shape  # (batch, out_features, embedding_size)
    torch.Size([4, 3, 8])
    >>> z, weights = selector(x, sampling=True, return_probabilities=True)
    >>> weights.shape  # one-hot choice of a slot for each sample and output
    torch.Size([4, 3, 5])
    >>> selector.selection_probabilities(x).argmax(-1).shape
    torch.Size([4, 3])
    """

    def __init__(
        self,
        in_features: int,
        memory_size: int,
        embedding_size: int,
        out_features: int,
        temperature: float = 1.0,
        *,
        hidden_size: int | None = None,
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int("in_features", in_features)
        self.memory_size = check_positive_int("memory_size", memory_size)
        self.embedding_size = check_positive_int("embedding_size", embedding_size)
        self.out_features = check_positive_int("out_features", out_features)
        self.temperature = temperature
        if hidden_size is None:
            hidden_size = embedding_size
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.memory = nn.Parameter(
            torch.randn(out_features, memory_size, embedding_size)
        )
        self.scorer = nn.Sequential(
            nn.Linear(in_features, hidden_size),
            nn.LeakyReLU(),
            nn.Linear(hidden_size, out_features * memory_size),
        )

    @property
    def temperature(self) -> float:
        """Softmax temperature; may be set between calls (annealing)."""
        return self._temperature

    @temperature.setter
    def temperature(self, value: float) -> None:
        self._temperature = check_positive_number("temperature", value)

    @property
    def memory_bank(self) -> Tensor:
        """The memory banks, of shape (out_features, memory_size, embedding_size)."""
        return self.memory

    def _check_input(self, x: Tensor) -> None:
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"x must have shape (batch, {self.in_features}), got {tuple(x.shape)}."
            )

    def scores(self, x: Tensor) -> Tensor:
        """Logits of the slots.

        Parameters
        ----------
        x : Tensor of shape (batch, in_features)

        Returns
        -------
        scores : Tensor of shape (batch, out_features, memory_size)
        """
        self._check_input(x)
        return self.scorer(x).unflatten(-1, (self.out_features, self.memory_size))

    def selection_probabilities(self, x: Tensor) -> Tensor:
        """Probability of each memory slot, per sample and output.

        Parameters
        ----------
        x : Tensor of shape (batch, in_features)

        Returns
        -------
        probabilities : Tensor of shape (batch, out_features, memory_size)
            ``softmax(scores / temperature)`` over the slots; each
            ``probabilities[b, o]`` sums to 1.
        """
        return torch.softmax(self.scores(x) / self.temperature, dim=-1)

    def forward(
        self,
        x: Tensor,
        sampling: bool = False,
        *,
        return_probabilities: bool = False,
        generator: torch.Generator | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Read the memory banks.

        Parameters
        ----------
        x : Tensor of shape (batch, in_features)
            Inputs.
        sampling : bool, default=False
            ``False``: soft mixture with the softmax probabilities.
            ``True``: hard straight-through Gumbel-softmax choice of one slot.
        return_probabilities : bool, default=False
            Also return the weights used over the slots.
        generator : torch.Generator or None, default=None
            Source of the Gumbel noise when ``sampling=True``; ``None``: the
            thread's :func:`~sk_memsel.nn._random.random_stream` when one is
            open, else torch's default generator (reproducible under
            :func:`torch.manual_seed`).

        Returns
        -------
        embeddings : Tensor of shape (batch, out_features, embedding_size)
            Selected (or mixed) embedding for each sample and output.
        weights : Tensor of shape (batch, out_features, memory_size)
            Only with ``return_probabilities=True``: the softmax
            probabilities, or with ``sampling=True`` the one-hot choices
            (whose gradient is the soft sample's).
        """
        scores = self.scores(x)
        if sampling:
            # -log(E) with E ~ Exp(1) is a standard Gumbel sample.
            exponential = torch.empty_like(scores).exponential_(
                generator=stream_generator(scores.device, generator)
            )
            soft = torch.softmax((scores - exponential.log()) / self.temperature, -1)
            hard = F.one_hot(soft.argmax(-1), self.memory_size).to(soft.dtype)
            weights = hard - soft.detach() + soft
        else:
            weights = torch.softmax(scores / self.temperature, dim=-1)
        # [B, O, M] x [O, M, E] -> [B, O, E], one (B x M) @ (M x E) per output.
        embeddings = torch.matmul(weights.transpose(0, 1), self.memory).transpose(0, 1)
        if return_probabilities:
            return embeddings, weights
        return embeddings

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, memory_size={self.memory_size}, "
            f"embedding_size={self.embedding_size}, "
            f"out_features={self.out_features}, temperature={self.temperature}"
        )
