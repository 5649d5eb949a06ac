"""Stochastic gates: a differentiable surrogate of the L0 norm over features.

A stochastic gate multiplies each input feature (or each group of features)
by a random value ``z`` in ``[0, 1]`` drawn from a distribution with learned
parameters. The probability that a gate is open, ``P(z > 0)``, is a smooth
function of those parameters, so the expected number of open gates (the L0
norm of the gated input) can be minimised by gradient descent together with
the task loss. Two distributions are provided:

* :class:`GaussianStochasticGates` (STG, Yamada et al., 2020):
  ``z = clamp(mu + sigma * eps, 0, 1)``, ``eps ~ N(0, 1)``;
* :class:`HardConcreteGates` (Louizos et al., 2018): a binary concrete
  sample stretched to ``(gamma, zeta)`` and clamped to ``[0, 1]``.

Both share the machinery of :class:`StochasticGatesBase`: a fresh sample per
example in every training forward pass, deterministic gates in eval mode,
optional grouping of several input elements under one gate through a
``mask``, and the weighted, reduced regulariser :meth:`~StochasticGatesBase.penalty`.

:class:`GatedMLP` puts a gate layer in front of a multi-layer perceptron.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_positive_int, check_positive_number
from ._random import stream_generator

__all__ = [
    "GatedMLP",
    "GaussianStochasticGates",
    "HardConcreteGates",
    "StochasticGatesBase",
]

_REDUCTIONS = ("sum", "mean", "none")

#: keeps the uniform noise of the hard-concrete gate away from 0 and 1
_EPSILON = 1e-6


class StochasticGatesBase(nn.Module, ABC):
    """Base class of the stochastic gate layers.

    Subclasses define the gate distribution through three methods:
    ``_sample_gate_values(batch_size)`` (the unclamped training sample, one
    row per example), ``_deterministic_gate_values()`` (the unclamped
    eval-mode gate values) and :meth:`get_active_probs` (``P(z > 0)`` per
    gate).

    Parameters
    ----------
    n_gates : int
        Number of gates.
    mask : Tensor of int or None, default=None
        Groups input elements under shared gates. It must broadcast to the
        shape of one example (the input without its batch dimension) and hold
        gate indices in ``0 .. n_gates - 1``; elements with the same index
        share one gate. ``None`` gates every element of an example separately,
        so an example must then have exactly ``n_gates`` elements.
    reg_weight : float, default=1.0
        Factor of the regulariser returned by :meth:`penalty`.
    reg_reduction : {"sum", "mean", "none"}, default="sum"
        How :meth:`penalty` reduces the per-gate open probabilities:
        ``"sum"`` adds them (the expected number of open gates), ``"mean"``
        divides that sum by ``n_gates``, ``"none"`` returns them per gate.

    Attributes
    ----------
    mask : Tensor or None
        The mask as a buffer (it moves with the module between devices).
    """

    def __init__(
        self,
        n_gates: int,
        *,
        mask: Tensor | None = None,
        reg_weight: float = 1.0,
        reg_reduction: str = "sum",
    ):
        super().__init__()
        self.n_gates = check_positive_int("n_gates", n_gates)
        if (
            isinstance(reg_weight, bool)
            or not isinstance(reg_weight, (int, float))
            or not reg_weight >= 0
        ):
            raise ValueError(
                f"reg_weight must be a non-negative number, got {reg_weight!r}."
            )
        self.reg_weight = float(reg_weight)
        if reg_reduction not in _REDUCTIONS:
            raise ValueError(
                f"reg_reduction={reg_reduction!r} is not known; use one of "
                f"{list(_REDUCTIONS)}."
            )
        self.reg_reduction = reg_reduction
        if mask is not None:
            mask = torch.as_tensor(mask)
            if mask.dtype.is_floating_point or mask.dtype == torch.bool:
                raise ValueError(
                    f"mask must hold integer gate indices, got dtype {mask.dtype}."
                )
            if mask.numel() == 0:
                raise ValueError("mask is empty.")
            low, high = int(mask.min()), int(mask.max())
            if low < 0 or high >= n_gates:
                raise ValueError(
                    f"mask holds gate indices from {low} to {high}; they must lie "
                    f"in 0 .. {n_gates - 1} (n_gates={n_gates})."
                )
            mask = mask.long()
        self.register_buffer("mask", mask)

    # ----------------------------------------------------- distribution hooks
    @abstractmethod
    def _sample_gate_values(self, batch_size: int) -> Tensor:
        """Unclamped training sample of the gates; shape (batch_size, n_gates)."""

    @abstractmethod
    def _deterministic_gate_values(self) -> Tensor:
        """Unclamped eval-mode gate values; shape (n_gates,)."""

    @abstractmethod
    def get_active_probs(self) -> Tensor:
        """Probability that each gate is open, ``P(z > 0)``; shape (n_gates,)."""

    # ------------------------------------------------------------- public API
    def get_gate_values(self) -> Tensor:
        """Deterministic gate values in ``[0, 1]`` (those used in eval mode).

        Returns
        -------
        Tensor of shape (n_gates,)
        """
        return self._deterministic_gate_values().clamp(0.0, 1.0)

    def expected_open_gates(self) -> Tensor:
        """Expected number of open gates, the sum of :meth:`get_active_probs`."""
        return self.get_active_probs().sum()

    def penalty(self) -> Tensor:
        """The L0 surrogate: ``reg_weight`` times the reduced open probabilities.

        Returns
        -------
        Tensor
            A scalar for ``reg_reduction`` ``"sum"`` or ``"mean"``, a tensor of
            shape (n_gates,) for ``"none"``.
        """
        probs = self.get_active_probs()
        if self.reg_reduction == "sum":
            probs = probs.sum()
        elif self.reg_reduction == "mean":
            probs = probs.mean()
        return self.reg_weight * probs

    def forward(self, x: Tensor) -> Tensor:
        """Multiply ``x`` by the gates.

        In training mode every example gets its own random gate values; in
        eval mode all examples get :meth:`get_gate_values`.

        Parameters
        ----------
        x : Tensor of shape (batch, ...)

        Returns
        -------
        Tensor of the shape of ``x``
        """
        batch_size = x.shape[0]
        if self.training:
            gates = self._sample_gate_values(batch_size)
        else:
            gates = self._deterministic_gate_values().expand(batch_size, self.n_gates)
        # hardtanh is clamp to [0, 1] with a backward pass of one fused kernel
        # (clamp's takes three passes over the batch, a third of a step of
        # a 500-feature network on one thread)
        gates = F.hardtanh(gates, 0.0, 1.0)
        example_shape = x.shape[1:]
        if self.mask is None:
            if math.prod(example_shape) != self.n_gates:
                raise ValueError(
                    f"Each example has {math.prod(example_shape)} elements but "
                    f"the layer has {self.n_gates} gates; without a mask they "
                    "must be equal."
                )
        else:
            try:
                mask = self.mask.expand(example_shape)
            except RuntimeError as exc:
                raise ValueError(
                    f"The mask of shape {tuple(self.mask.shape)} does not "
                    f"broadcast to the example shape {tuple(example_shape)}."
                ) from exc
            gates = gates[:, mask.reshape(-1)]
        return x * gates.reshape(x.shape).to(x.dtype)


class GaussianStochasticGates(StochasticGatesBase):
    """Stochastic gates with a Gaussian distribution (STG).

    Each gate is ``z = clamp(mu + sigma * eps, 0, 1)`` with a learned ``mu``,
    a fixed ``sigma`` and ``eps ~ N(0, 1)`` drawn afresh for every example
    while training. In eval mode the gate is ``clamp(mu, 0, 1)``.

    Parameters
    ----------
    n_gates : int
        Number of gates.
    mask : Tensor of int or None, default=None
        Groups input elements under shared gates (see
        :class:`StochasticGatesBase`).
    reg_weight : float, default=1.0
        Factor of the regulariser.
    sigma : float, default=0.5
        Standard deviation of the noise. A plain attribute: it may be changed
        between calls, and is not in the ``state_dict`` (set it again after
        ``load_state_dict``).
    reg_reduction : {"sum", "mean", "none"}, default="sum"
        Reduction of the regulariser.
    init_mean : float, default=0.5
        Mean of the initial ``mu`` (drawn from ``N(init_mean, 0.01^2)``); the
        default is the STG paper's.

    Attributes
    ----------
    mu : torch.nn.Parameter of shape (n_gates,)
        Means of the gate distributions.

    Notes
    -----
    The gate is open when ``mu + sigma * eps > 0``, so

    .. math::

        P(z > 0) = \\Phi(\\mu / \\sigma),

    with :math:`\\Phi` the standard normal CDF. The sum over the gates is the
    expected L0 norm of the gated input.

    References
    ----------
    Y. Yamada, O. Lindenbaum, S. Negahban, Y. Kluger. "Feature Selection using
    Stochastic Gates". ICML 2020. arXiv:1810.04247.

    Examples
    --------
    >>> import torch
    >>> from sk_memsel.nn import GaussianStochasticGates
    >>> gates = GaussianStochasticGates(5, sigma=0.5)
    >>> gates(torch.randn(3, 5)).shape
    torch.Size([3, 5])
    >>> gates.get_active_probs().shape
    torch.Size([5])
    """

    def __init__(
        self,
        n_gates: int,
        *,
        mask: Tensor | None = None,
        reg_weight: float = 1.0,
        sigma: float = 0.5,
        reg_reduction: str = "sum",
        init_mean: float = 0.5,
    ):
        super().__init__(
            n_gates, mask=mask, reg_weight=reg_weight, reg_reduction=reg_reduction
        )
        self.sigma = check_positive_number("sigma", sigma)
        self.mu = nn.Parameter(torch.empty(n_gates).normal_(float(init_mean), 0.01))

    def _sample_gate_values(self, batch_size: int) -> Tensor:
        noise = torch.randn(
            batch_size,
            self.n_gates,
            device=self.mu.device,
            dtype=self.mu.dtype,
            generator=stream_generator(self.mu.device),
        )
        return self.mu + self.sigma * noise

    def _deterministic_gate_values(self) -> Tensor:
        return self.mu

    def get_active_probs(self) -> Tensor:
        """``Phi(mu / sigma)`` per gate; shape (n_gates,)."""
        return 0.5 * (1.0 + torch.erf(self.mu / (self.sigma * math.sqrt(2.0))))


class HardConcreteGates(StochasticGatesBase):
    """Stochastic gates with a hard-concrete distribution (Louizos et al.).

    While training each gate is a binary concrete sample with location
    ``log_alpha`` and temperature ``beta``, stretched to ``(gamma, zeta)`` and
    clamped to ``[0, 1]``:

    .. math::

        u \\sim \\mathcal U(0, 1), \\quad
        s = \\sigma\\big((\\log u - \\log(1 - u) + \\log\\alpha) / \\beta\\big),
        \\quad z = \\min(1, \\max(0, s (\\zeta - \\gamma) + \\gamma)).

    In eval mode the gate is
    ``clamp(sigmoid(log_alpha) * (zeta - gamma) + gamma, 0, 1)``.

    Parameters
    ----------
    n_gates : int
        Number of gates.
    mask : Tensor of int or None, default=None
        Groups input elements under shared gates (see
        :class:`StochasticGatesBase`).
    reg_weight : float, default=1.0
        Factor of the regulariser.
    temperature : float, default=2/3
        The concrete temperature ``beta``. A plain attribute: it may be
        changed between calls (for example annealed), and is not in the
        ``state_dict`` (set it again after ``load_state_dict``).
    reg_reduction : {"sum", "mean", "none"}, default="sum"
        Reduction of the regulariser.
    gamma, zeta : float, default=-0.1, 1.1
        The stretch interval, ``gamma < 0`` and ``zeta > 1``.
    init_mean : float, default=0.5
        Initial eval-mode gate value; ``log_alpha`` starts near the value that
        gives it (plus ``N(0, 0.01^2)`` noise). ``0.5`` gives ``log_alpha=0``.

    Attributes
    ----------
    log_alpha : torch.nn.Parameter of shape (n_gates,)
        Locations of the gate distributions.

    Notes
    -----
    The gate is open when the stretched sample exceeds 0, so

    .. math::

        P(z > 0) = \\sigma\\big(\\log\\alpha - \\beta \\log(-\\gamma / \\zeta)\\big).

    References
    ----------
    C. Louizos, M. Welling, D. P. Kingma. "Learning Sparse Neural Networks
    through L0 Regularization". ICLR 2018. arXiv:1712.01312.

    Examples
    --------
    >>> import torch
    >>> from sk_memsel.nn import HardConcreteGates
    >>> gates = HardConcreteGates(2, mask=torch.tensor([0, 0, 1, 1]))
    >>> gates.n_gates
    2
    >>> gates.eval()(torch.ones(3, 4)).shape
    torch.Size([3, 4])
    """

    def __init__(
        self,
        n_gates: int,
        *,
        mask: Tensor | None = None,
        reg_weight: float = 1.0,
        temperature: float = 2.0 / 3.0,
        reg_reduction: str = "sum",
        gamma: float = -0.1,
        zeta: float = 1.1,
        init_mean: float = 0.5,
    ):
        super().__init__(
            n_gates, mask=mask, reg_weight=reg_weight, reg_reduction=reg_reduction
        )
        self.temperature = check_positive_number("temperature", temperature)
        if not (gamma < 0 and zeta > 1):
            raise ValueError(
                f"The stretch interval needs gamma < 0 < 1 < zeta; got "
                f"gamma={gamma!r}, zeta={zeta!r}."
            )
        self.gamma = float(gamma)
        self.zeta = float(zeta)
        if not 0 < init_mean < 1:
            raise ValueError(f"init_mean must lie in (0, 1), got {init_mean!r}.")
        p = (init_mean - self.gamma) / (self.zeta - self.gamma)
        self.log_alpha = nn.Parameter(
            torch.empty(n_gates).normal_(math.log(p / (1 - p)), 0.01)
        )

    def _stretch(self, s: Tensor) -> Tensor:
        return s * (self.zeta - self.gamma) + self.gamma

    def _sample_gate_values(self, batch_size: int) -> Tensor:
        u = torch.empty(
            batch_size,
            self.n_gates,
            device=self.log_alpha.device,
            dtype=self.log_alpha.dtype,
        ).uniform_(
            _EPSILON,
            1.0 - _EPSILON,
            generator=stream_generator(self.log_alpha.device),
        )
        logits = (torch.log(u) - torch.log1p(-u) + self.log_alpha) / self.temperature
        return self._stretch(torch.sigmoid(logits))

    def _deterministic_gate_values(self) -> Tensor:
        return self._stretch(torch.sigmoid(self.log_alpha))

    def get_active_probs(self) -> Tensor:
        """``sigmoid(log_alpha - beta * log(-gamma / zeta))``; shape (n_gates,)."""
        shift = self.temperature * math.log(-self.gamma / self.zeta)
        return torch.sigmoid(self.log_alpha - shift)


class GatedMLP(nn.Module):
    """A multi-layer perceptron behind a stochastic gate layer.

    Parameters
    ----------
    gates : StochasticGatesBase
        Gate layer applied to the input.
    in_features : int
        Width of the input.
    out_features : int
        Width of the output.
    hidden_layer_sizes : sequence of int, default=()
        Widths of the hidden layers; empty gives a linear model on the
        gated input.
    activation : {"tanh", "relu"}, default="tanh"
        Activation after every hidden layer.

    Examples
    --------
    >>> import torch
    >>> from sk_memsel.nn import GatedMLP, GaussianStochasticGates
    >>> net = GatedMLP(GaussianStochasticGates(6), 6, 2, hidden_layer_sizes=(8,))
    >>> net(torch.randn(4, 6)).shape
    torch.Size([4, 2])
    >>> net.penalty().shape
    torch.Size([])
    """

    _ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}

    def __init__(
        self,
        gates: StochasticGatesBase,
        in_features: int,
        out_features: int,
        *,
        hidden_layer_sizes: Sequence[int] = (),
        activation: str = "tanh",
    ):
        super().__init__()
        if activation not in self._ACTIVATIONS:
            raise ValueError(
                f"activation={activation!r} is not known; use one of "
                f"{sorted(self._ACTIVATIONS)}."
            )
        widths = [check_positive_int("in_features", in_features)]
        for size in hidden_layer_sizes:
            widths.append(check_positive_int("a hidden layer size", size))
        layers: list[nn.Module] = []
        for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(n_in, n_out), self._ACTIVATIONS[activation]()]
        layers.append(
            nn.Linear(widths[-1], check_positive_int("out_features", out_features))
        )
        self.gates = gates
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(self.gates(x))

    def penalty(self) -> Tensor:
        """The gate layer's regulariser as a scalar (added to the training loss).

        With ``reg_reduction="none"`` the per-gate terms are summed.
        """
        return self.gates.penalty().sum()

    def expected_open_gates(self) -> Tensor:
        """Expected number of open gates of the gate layer."""
        return self.gates.expected_open_gates()
