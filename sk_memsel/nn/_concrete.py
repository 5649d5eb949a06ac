"""Concrete selector layer: pick k of the input features with Gumbel-softmax.

The layer of the Concrete Autoencoder (Abid, Balin and Zou, 2019): ``k``
selector nodes, each a Gumbel-softmax (concrete) distribution over the
``in_features`` inputs. While training, every node outputs a random mixture
of the inputs that sharpens into one input as the temperature falls; in
evaluation mode every node outputs exactly one input column. The generalised
Jensen-Shannon divergence of the ``k`` distributions (Alfke et al., 2024)
measures how far apart the nodes are and can be maximised to keep them from
choosing the same feature.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_positive_int, check_positive_number
from ._random import stream_generator

__all__ = ["ConcreteSelect", "distinct_argmax"]


#: selection weights below this are set to zero in training (see ``forward``)
_NEGLIGIBLE = 1e-30


def distinct_argmax(scores: Tensor) -> Tensor:
    """Give each row its best column, never the same column to two rows.

    Greedy assignment over (row, column) pairs in decreasing order of score:
    the pair with the highest score is taken, its row and column are removed,
    and so on until every row has a column. When every row peaks at its own
    column, each keeps it. Otherwise the order of scores decides: of rows
    that peak at the same column the most confident keeps it, and a row
    that lost its peak takes its best remaining column, even where that is
    the peak of a less confident row, which then moves on in turn.

    Parameters
    ----------
    scores : Tensor of shape (k, d)
        Scores comparable across rows (probabilities, not logits), ``k <= d``.

    Returns
    -------
    indices : LongTensor of shape (k,)
        Distinct column indices, in row order.

    Examples
    --------
    >>> import torch
    >>> from sk_memsel.nn import distinct_argmax
    >>> p = torch.tensor([[0.9, 0.1, 0.0], [0.6, 0.3, 0.1]])
    >>> distinct_argmax(p).tolist()  # row 1 also peaks at 0 but is less sure
    [0, 1]
    >>> q = torch.tensor([[0.5, 0.45, 0.05], [0.6, 0.1, 0.3], [0.3, 0.4, 0.3]])
    >>> distinct_argmax(q).tolist()  # row 0 loses 0 to row 1, takes row 2's 1
    [1, 0, 2]
    """
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D (k, d), got shape {tuple(scores.shape)}.")
    k, d = scores.shape
    if k > d:
        raise ValueError(f"Cannot give {k} rows distinct columns out of only {d}.")
    work = scores.detach().to(torch.float64).clone()
    # when every row peaks at its own column (the usual case once the rows
    # have settled) the greedy assignment below keeps each row's argmax
    plain = torch.argmax(work, dim=1)
    if torch.unique(plain).numel() == k:
        return plain
    indices = torch.empty(k, dtype=torch.long, device=scores.device)
    for _ in range(k):
        flat = int(torch.argmax(work))
        row, col = divmod(flat, d)
        indices[row] = col
        work[row, :] = -math.inf
        work[:, col] = -math.inf
    return indices


def _take_selection(layer, state_dict, prefix, *args):
    """Fix or free ``layer``'s selection as ``state_dict`` says, before loading.

    ``selection`` is a buffer only while a selection is fixed, so a
    state_dict holds it only then: take it (or its absence) from the
    state_dict before torch matches the keys, so that any layer of the same
    shape loads any other's state. A state_dict without this layer's logits
    is a partial one and leaves the selection as it is. ``args`` are torch's
    (local_metadata, strict, missing_keys, unexpected_keys, error_msgs).
    """
    error_msgs = args[-1]
    key = prefix + "selection"
    if key in state_dict:
        indices = state_dict[key]
        valid = (
            isinstance(indices, Tensor)
            and not indices.is_floating_point()
            and not indices.is_complex()
            and layer._index_problem(indices) is None
        )
        if not valid:
            error_msgs.append(
                f"{key} must be {layer.k} integer indices in "
                f"[0, {layer.in_features}), got {indices!r:.80}."
            )
            return
        layer.selection = torch.empty(
            layer.k, dtype=torch.long, device=layer.logits.device
        )
    elif prefix + "logits" in state_dict:
        layer.selection = None


class ConcreteSelect(nn.Module):
    """Select ``k`` of ``in_features`` inputs with concrete (Gumbel-softmax) nodes.

    Parameters
    ----------
    in_features : int
        Number of input features ``d``.
    k : int
        Number of selector nodes (output features), ``k <= in_features``.
    temperature : float, default=1.0
        Temperature of the Gumbel-softmax samples drawn while training; lower
        is closer to a one-hot choice. It is a plain attribute, meant to be
        annealed between epochs, and is not in the ``state_dict`` (set it
        again after ``load_state_dict``).
    init_std : float, default=0.01
        Standard deviation of the normal initialisation of the logits. Small
        values start every node close to the uniform distribution, so early
        samples mix many inputs.

    Attributes
    ----------
    logits : torch.nn.Parameter of shape (k, in_features)
        The unnormalised log-probabilities of the nodes.
    selection : LongTensor of shape (k,) or None
        A fixed choice of input column per node used in evaluation mode
        (see :meth:`fix_selection`); ``None`` uses the argmax of each node.
        A buffer while it is fixed: ``state_dict()`` holds it then, and
        ``load_state_dict`` fixes it, or frees it when the state has none,
        in any layer of the same shape.

    Notes
    -----
    Node :math:`i` has logits :math:`\\alpha_i \\in \\mathbb R^d` and
    probabilities :math:`p_i = \\operatorname{softmax}(\\alpha_i)`. In training
    mode one Gumbel-softmax sample per node and forward call,

    .. math::

        m_{ij} = \\frac{\\exp((\\alpha_{ij} + g_{ij}) / \\tau)}
            {\\sum_{l} \\exp((\\alpha_{il} + g_{il}) / \\tau)}, \\qquad
        g_{ij} = -\\log(-\\log U_{ij}),\\; U_{ij} \\sim \\mathcal U(0, 1),

    is shared by the batch, and the output is :math:`z = x M^\\top`. As
    :math:`\\tau \\to 0` each row of :math:`M` becomes one-hot, with input
    :math:`j` chosen with probability :math:`p_{ij}`. In evaluation mode the
    output is the input columns of :attr:`selection`, or of the argmax of
    each node when no selection is fixed.

    :meth:`gjsd` is the generalised Jensen-Shannon divergence of the nodes'
    distributions with equal weights,

    .. math::

        \\mathrm{GJSD}(p_1, \\dots, p_k)
            = \\frac{1}{k} \\sum_{i=1}^{k} \\mathrm{KL}(p_i \\,\\|\\, \\bar p)
            = H(\\bar p) - \\frac{1}{k} \\sum_{i=1}^{k} H(p_i),
        \\qquad \\bar p = \\frac{1}{k} \\sum_{i=1}^{k} p_i,

    between 0 (all nodes equal) and :math:`\\log k` (one-hot on distinct
    inputs).

    References
    ----------
    .. [1] A. Abid, M. F. Balin, J. Zou, "Concrete Autoencoders: Differentiable
       Feature Selection and Reconstruction", ICML 2019,
       https://arxiv.org/abs/1901.09346
    .. [2] E. Jang, S. Gu, B. Poole, "Categorical Reparameterization with
       Gumbel-Softmax", ICLR 2017.
    .. [3] J. Alfke et al., generalised Jensen-Shannon divergence regulariser
       for concrete selection, https://arxiv.org/abs/2403.00563

    Examples
    --------
    >>> import math
    >>> import torch
    >>> from sk_memsel.nn import ConcreteSelect
    >>> layer = ConcreteSelect(in_features=10, k=3, temperature=5.0)
    >>> layer.probabilities().shape
    torch.Size([3, 10])
    >>> x = torch.randn(4, 10)
    >>> layer(x).shape  # training mode: a random mixture per node
    torch.Size([4, 3])
    >>> _ = layer.eval()
    >>> idx = layer.selected_indices(distinct=False)  # argmax of each node
    >>> torch.equal(layer(x), x[:, idx])  # evaluation: the chosen columns
    True
    >>> layer.fix_selection()  # or fix k distinct columns
    >>> len(set(layer.selection.tolist()))
    3
    >>> 0.0 <= layer.gjsd().item() <= math.log(3)
    True
    """

    def __init__(
        self,
        in_features: int,
        k: int,
        temperature: float = 1.0,
        *,
        init_std: float = 0.01,
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int("in_features", in_features)
        self.k = check_positive_int("k", k)
        if k > in_features:
            raise ValueError(
                f"k={k} is larger than in_features={in_features}; a layer cannot "
                "select more features than it receives."
            )
        self.temperature = check_positive_number("temperature", temperature)
        if isinstance(init_std, bool) or not isinstance(init_std, (int, float)):
            raise ValueError(f"init_std must be a number, got {init_std!r}.")
        if init_std < 0:
            raise ValueError(f"init_std must be 0 or more, got {init_std!r}.")
        self.init_std = float(init_std)
        self.logits = nn.Parameter(torch.empty(k, in_features))
        self.register_buffer("selection", None)
        self.register_load_state_dict_pre_hook(_take_selection)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw the logits again from ``N(0, init_std**2)`` and free the selection."""
        with torch.no_grad():
            self.logits.normal_(0.0, self.init_std)
        self.selection = None

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, k={self.k}, "
            f"temperature={self.temperature:g}"
        )

    def probabilities(self) -> Tensor:
        """Selection probabilities of the nodes, ``softmax(logits)`` per row.

        Returns
        -------
        probabilities : Tensor of shape (k, in_features)
            Row ``i`` is the probability that node ``i`` picks each input;
            each row sums to 1. It does not depend on the temperature.
        """
        return torch.softmax(self.logits, dim=1)

    def gjsd(self) -> Tensor:
        """Generalised Jensen-Shannon divergence of the nodes' distributions.

        Returns
        -------
        gjsd : Tensor (scalar)
            ``mean_i KL(p_i || mean_l p_l)``, differentiable in the logits; 0
            when all nodes have the same distribution, ``log k`` at most.
        """
        log_p = F.log_softmax(self.logits, dim=1)
        log_mean = torch.logsumexp(log_p, dim=0) - math.log(self.k)
        return (log_p.exp() * (log_p - log_mean)).sum(dim=1).mean()

    def sample_weights(self, generator: torch.Generator | None = None) -> Tensor:
        """Draw one Gumbel-softmax selection matrix at the current temperature.

        Parameters
        ----------
        generator : torch.Generator or None, default=None
            Source of the noise; ``None``: the thread's
            :func:`~sk_memsel.nn._random.random_stream` when one is open,
            else torch's default generator.

        Returns
        -------
        weights : Tensor of shape (k, in_features)
            Rows are points of the simplex; each sums to 1.
        """
        u = torch.rand(
            self.logits.shape,
            generator=stream_generator(self.logits.device, generator),
            device=self.logits.device,
            dtype=self.logits.dtype,
        )
        tiny = torch.finfo(u.dtype).tiny
        gumbel = -torch.log((-torch.log(u.clamp_min(tiny))).clamp_min(tiny))
        return torch.softmax((self.logits + gumbel) / self.temperature, dim=1)

    def selected_indices(self, distinct: bool = True) -> Tensor:
        """The input column each node selects, from its probabilities.

        Parameters
        ----------
        distinct : bool, default=True
            ``True`` resolves ties of several nodes on one column with
            :func:`distinct_argmax`, so the ``k`` indices are distinct.
            ``False`` is the plain argmax of each node.

        Returns
        -------
        indices : LongTensor of shape (k,)
        """
        with torch.no_grad():
            if distinct:
                return distinct_argmax(self.probabilities())
            return torch.argmax(self.logits, dim=1)

    def fix_selection(self, indices: Tensor | None = None) -> None:
        """Fix the columns used in evaluation mode.

        Parameters
        ----------
        indices : LongTensor of shape (k,) or None, default=None
            One input column per node. ``None`` fixes
            ``selected_indices(distinct=True)``. Set ``layer.selection = None``
            to go back to the plain argmax.
        """
        if indices is None:
            indices = self.selected_indices(distinct=True)
        indices = torch.as_tensor(indices, dtype=torch.long, device=self.logits.device)
        problem = self._index_problem(indices)
        if problem is not None:
            raise ValueError(f"indices {problem}.")
        self.selection = indices.clone()

    def _index_problem(self, indices: Tensor) -> str | None:
        """Why ``indices`` cannot be this layer's selection, or ``None``."""
        if indices.shape != (self.k,):
            return f"must have shape ({self.k},), got {tuple(indices.shape)}"
        if indices.numel() and (
            int(indices.min()) < 0 or int(indices.max()) >= self.in_features
        ):
            return f"must lie in [0, {self.in_features})"
        return None

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Select ``k`` features of ``x``.

        Parameters
        ----------
        x : Tensor of shape (batch, in_features)
        generator : torch.Generator or None, default=None
            Source of the Gumbel noise in training mode.

        Returns
        -------
        z : Tensor of shape (batch, k)
            Training mode: ``x @ M.T`` with one Gumbel-softmax sample ``M``.
            Evaluation mode: the selected columns of ``x``.
        """
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"x must have shape (batch, {self.in_features}), got {tuple(x.shape)}."
            )
        if self.training:
            weights = self.sample_weights(generator)
            # at low temperatures most weights underflow to subnormal numbers,
            # which make a CPU's matrix product several times slower; below
            # _NEGLIGIBLE they add nothing to x @ weights.T, so they are zeroed
            weights = weights.masked_fill(weights < _NEGLIGIBLE, 0.0)
            return x @ weights.T
        indices = self.selection
        if indices is None:
            indices = torch.argmax(self.logits, dim=1)
        return x[:, indices]
