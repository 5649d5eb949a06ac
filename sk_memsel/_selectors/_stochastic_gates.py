"""Feature selection with stochastic gates (STG and hard-concrete L0 gates)."""

import copy
from numbers import Real
from operator import methodcaller

import numpy as np
import torch
from scipy.special import ndtri
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_selection import SelectorMixin
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from .._backbone import (
    EpochRecorder,
    NeuralEstimatorMixin,
    SettledStopping,
    SupervisedOutputMixin,
    all_or_nothing,
    start_training,
)
from .._backbone._compat import (
    Interval,
    StrOptions,
    fit_context,
    validate_parameter_constraints,
)
from .._backbone._data import check_trainable
from .._backbone._params import (
    LAYER_SIZES,
    IntInterval,
    effective_k,
    fill_shared_docs,
    layer_sizes,
)
from .._backbone._warnings import warn
from ..nn import GatedMLP, GaussianStochasticGates, HardConcreteGates
from ._redundancy import complementary_order, correlation_sample, unit_columns

__all__ = ["StochasticGatesSelector"]

#: optimizer steps that ``max_epochs="auto"`` allows (see the docstring)
AUTO_STEPS = 4000

#: ``redundancy="avoid"``: columns (groups) ranked at fit time, at least
RANKED_AT_FIT = 256

#: why values beyond ``LARGEST_TRAINABLE`` cannot be trained on
_SATURATES = (
    "the network's hidden units saturate on them, so it learns nothing from X "
    "and any selection would be arbitrary"
)


#: while the gates have not left their starting order, their learning rate
#: doubles every SPEED_UP_EVERY optimizer steps, up to SPEED_UP_MAX times
#: gate_lr (see SettledStopping)
SPEED_UP_EVERY = 100
SPEED_UP_MAX = 50.0
#: the kept gates stand apart once this far above the median gate, in units
#: of the gates' noise (the gates start within 0.01 of each other), and
#: MOVED_SHARE of the median gate's way since the start (see _stand_apart)
MOVED_Z = 0.05
MOVED_SHARE = 0.5


def _probit(probs):
    """``Phi^-1`` of gate probabilities (an array or a tensor), in float64."""
    if torch.is_tensor(probs):
        probs = probs.detach().cpu().double().numpy()
    return ndtri(np.clip(probs, 1e-12, 1 - 1e-12))


def _gate_parameters(module):
    """The parameters whose learning rate rises while the gates have not moved."""
    return module.gates.parameters()


@fill_shared_docs
class StochasticGatesSelector(
    SupervisedOutputMixin, NeuralEstimatorMixin, SelectorMixin, BaseEstimator
):
    """Select features with stochastic gates trained under an L0 penalty.

    Every feature (or every group of features) is multiplied by a random gate
    in ``[0, 1]`` before it enters a small neural network trained on ``y``.
    The gates' parameters are learned with the network, and the expected
    number of open gates, a differentiable surrogate of the L0 norm, is added
    to the loss with weight ``reg_weight``. Gates of features that do not
    help predict ``y`` close; the selector keeps the features whose gates are
    most likely open.

    Read more in the :ref:`User Guide <gates_user_guide>`.

    Parameters
    ----------
    k : int or None, default=None
        Number of features (with ``groups``: groups) to keep, read off the
        gates as ``redundancy`` says; a ``k`` above their number keeps them
        all, with a warning. ``None`` keeps as many as there are gates whose
        probability is at least ``threshold``. Training stops once the
        ``k`` most probable gates have settled; ``set_params(k=...)`` on a
        fitted selector changes the support without refitting.
    threshold : float, default=0.5
        Gate probability at or above which a gate counts as open when
        ``k=None``; in ``[0, 1]``.
    redundancy : {"avoid", "keep"}, default="avoid"
        How the features are read off the gates. ``"avoid"``: the features
        that together predict best, each next one the most probable after
        discounting its correlation with those already kept, so near-copies
        (neighbouring time points, pixels) give way to features that add
        something. ``"keep"``: the most probable gates, correlated copies
        included, to find every feature that carries signal. See
        :ref:`gates_redundancy`.
    gate : {"gaussian", "hard_concrete"}, default="gaussian"
        Gate distribution. ``"gaussian"`` is the STG gate
        ``clamp(mu + sigma * eps, 0, 1)`` of Yamada et al. (2020);
        ``"hard_concrete"`` the stretched, clamped binary concrete gate of
        Louizos et al. (2018).
    hidden_layer_sizes : int or tuple of int, default=(64, 32)
        Hidden layers of the network behind the gates; ``()`` gives a linear
        (or logistic) model on the gated features.
    activation : {"tanh", "relu"}, default="tanh"
        Activation of the hidden layers.
    reg_weight : float, default=0.02
        Weight of the L0 surrogate in the loss. With ``reg_reduction="sum"``
        it is the price of one open gate in units of the training loss (mean
        cross-entropy in nats, or mean squared error of the standardised
        target): a gate stays open when its feature lowers the loss by more
        than that. Larger values close more gates.
    reg_reduction : {"sum", "mean"}, default="sum"
        ``"sum"`` penalises the expected number of open gates, ``"mean"`` the
        expected fraction of open gates (``reg_weight`` is then the price of
        opening all of them).
    sigma : float, default=1.5
        Standard deviation of the Gaussian gates' noise (``gate="gaussian"``).
        Strong noise makes the network spread its weight over every useful
        feature, correlated copies included, instead of relying on a few.
    temperature : float, default=2/3
        Temperature ``beta`` of the hard-concrete gates
        (``gate="hard_concrete"``); the default Gaussian gates have none and
        do not read it, so do not grid-search it with them (``sigma`` is
        their noise).
    groups : array-like of shape (n_features,) or None, default=None
        Group label of every column; columns with the same label share one
        gate and are kept or dropped together (for example the one-hot
        columns of one categorical variable). ``None`` gives every column
        its own gate.
    {task}
    class_weight : dict, list of dict, "balanced" or None, default=None
        Weights of the classes, multiplied with ``sample_weight`` (see
        :ref:`sample_weights`): ``{label: weight}`` (a list of them, one per
        label, for multilabel ``y``), or ``"balanced"`` for
        ``n_samples / (n_classes * np.bincount(y))``. Classification only;
        ``partial_fit`` refuses ``"balanced"``.
    {max_epochs}
        Training usually stops earlier, once the selection has settled (see
        ``settle_steps``). The gates need optimizer steps, not epochs: see
        ``gate_lr``.
    {batch_size}
    {lr}
        The gates' parameters have their own, ``gate_lr``.
    gate_lr : float, default=1e-3
        Learning rate of the gates' parameters (``mu`` or ``log_alpha``),
        slower than ``lr`` so that the gates open or close on what a trained
        network makes of each feature. With Adam a gate moves by at most about
        ``gate_lr`` per step, so ``gate_lr`` times the number of steps bounds
        how far the gates travel: raise ``max_epochs`` or ``gate_lr`` with
        ``sigma``. See :ref:`gates_user_guide`.
    {optimizer}
    {weight_decay}
        It applies to the gates' parameters too.
    {device}
    {random_state}
    {verbose}
    {callbacks}
    {validation_fraction}
        The validation loss is the task loss, without the penalty.
    {n_iter_no_change}
    settle_steps : int or None, default=500
        Training stops once the selection has not changed for this many
        optimizer steps: the ``k`` features of largest gate probability, or
        with ``k=None`` the gates at or above ``threshold`` together with
        every gate probability to within 0.02 (so the gates must also stop
        moving). ``history_[-1, "stop_reason"]`` then says ``"settled"``.
        ``None`` always trains ``max_epochs`` epochs. See
        :ref:`training_stops`.
    {n_threads}

    Attributes
    ----------
    gate_probabilities_ : ndarray of shape (n_features_in_,)
        Probability that each feature's gate is open, ``P(z > 0)``; columns of
        one group share their group's value.
    group_probabilities_ : ndarray of shape (n_groups,)
        Probability that each group's gate is open, in the order of
        ``groups_``.
    groups_ : ndarray of shape (n_groups,)
        Sorted distinct group labels; ``arange(n_features_in_)`` without
        ``groups``.
    feature_importances_ : ndarray of shape (n_features_in_,)
        Score of every feature, whose ``k`` largest are the support, so that
        :class:`~sklearn.feature_selection.SelectFromModel` can use the
        selector: ``gate_probabilities_`` with ``redundancy="keep"``; with
        ``"avoid"``, each probability above the gates' noise floor times
        ``1 - r**2`` when the feature was ranked (see :ref:`gates_redundancy`).
    gate_values_ : ndarray of shape (n_features_in_,)
        Deterministic (eval-mode) gate value of each feature, in ``[0, 1]``;
        predictions use these.
    net_ : sk_memsel._backbone.MemselNet
        The fitted skorch net; ``net_.module_`` is a
        :class:`sk_memsel.nn.GatedMLP`.
    history_ : skorch.History
        Per-epoch history: ``train_loss`` (task loss plus penalty),
        ``expected_open_gates`` (sum of the gate probabilities at the end of
        the epoch) and ``penalty``; the last epoch also has ``stop_reason``
        (``"settled"``, ``"max_epochs"``, ``"no_improvement"`` for the
        validation early stopping, or ``"interrupted"``).
    n_epochs_ : int
        Number of epochs trained (over all calls, with ``partial_fit``).
    n_threads_ : int
        PyTorch threads used on the CPU (see ``n_threads``).
    task_ : str
        ``"classification"`` or ``"regression"``.
    classes_ : ndarray of shape (n_classes,)
        Class labels (classification only).
    n_outputs_ : int
        Number of regression targets (1 for classification).
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen in ``fit`` (only when ``X`` has string
        column names).

    See Also
    --------
    sklearn.feature_selection.SelectKBest : Univariate selection.
    sklearn.feature_selection.SelectFromModel : Selection from a fitted
        model's importances.
    sk_memsel.nn.GaussianStochasticGates : The Gaussian gate layer.
    sk_memsel.nn.HardConcreteGates : The hard-concrete gate layer.

    Notes
    -----
    With Gaussian gates, :math:`z_d = \\min(1, \\max(0, \\mu_d + \\sigma
    \\epsilon_d))` and :math:`P(z_d > 0) = \\Phi(\\mu_d / \\sigma)`. With
    hard-concrete gates, :math:`P(z_d > 0) = \\operatorname{sigmoid}(\\log
    \\alpha_d - \\beta \\log(-\\gamma / \\zeta))` with :math:`\\gamma = -0.1`,
    :math:`\\zeta = 1.1`. The training loss is

    .. math::

        \\mathcal L = \\ell(f(x \\odot z), y) + \\lambda \\,
        \\rho\\big(P(z_1 > 0), \\ldots, P(z_G > 0)\\big),

    with :math:`\\rho` the sum or the mean (``reg_reduction``) and
    :math:`\\lambda` = ``reg_weight``. Regression targets are standardised
    for training. The features should be on comparable scales (standardise
    them, for example with :class:`~sklearn.preprocessing.StandardScaler`):
    the gates multiply the raw values.

    References
    ----------
    Y. Yamada, O. Lindenbaum, S. Negahban, Y. Kluger. "Feature Selection using
    Stochastic Gates". ICML 2020. arXiv:1810.04247.

    C. Louizos, M. Welling, D. P. Kingma. "Learning Sparse Neural Networks
    through L0 Regularization". ICLR 2018. arXiv:1712.01312.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_memsel import StochasticGatesSelector
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 6))
    >>> y = (X[:, 0] + X[:, 1] > 0).astype(int)

    A small problem trains quickly with a logistic model behind the gates,
    small batches and faster gates:

    >>> selector = StochasticGatesSelector(
    ...     k=2,
    ...     hidden_layer_sizes=(),
    ...     batch_size=50,
    ...     max_epochs=50,
    ...     gate_lr=0.02,
    ...     random_state=0,
    ... ).fit(X, y)
    >>> selector.get_support(indices=True)
    array([0, 1])
    >>> selector.transform(X).shape
    (200, 2)
    >>> selector.gate_probabilities_.shape
    (6,)

    ``k`` and ``threshold`` act on the fitted gates, without refitting:

    >>> int(selector.set_params(k=3).get_support().sum())
    3
    >>> int(selector.set_params(k=None, threshold=0.5).get_support().sum())
    2

    With a near-copy of column 0 added as column 6, the 2 most probable gates
    are both copies: ``redundancy="keep"`` reads them (every column that
    carries signal), the default ``"avoid"`` keeps one and adds the column
    that complements it instead (see :ref:`gates_redundancy`):

    >>> X_copy = np.column_stack([X, X[:, 0] + 0.1 * rng.normal(size=200)])
    >>> params = dict(k=2, hidden_layer_sizes=(), batch_size=50, max_epochs=50,
    ...               gate_lr=0.02, random_state=0)
    >>> keep = StochasticGatesSelector(redundancy="keep", **params).fit(X_copy, y)
    >>> keep.get_support(indices=True)
    array([0, 6])
    >>> StochasticGatesSelector(**params).fit(X_copy, y).get_support(indices=True)
    array([0, 1])

    ``partial_fit`` trains the same network further, ``max_epochs`` epochs on
    each new chunk:

    >>> stream = StochasticGatesSelector(
    ...     k=2, hidden_layer_sizes=(), batch_size=50, max_epochs=25,
    ...     gate_lr=0.02, random_state=0,
    ... )
    >>> for rows in (slice(0, 100), slice(100, 200)):
    ...     _ = stream.partial_fit(X[rows], y[rows], classes=[0, 1])
    >>> len(stream.history_)
    50
    >>> stream.get_support(indices=True)
    array([0, 1])

    ``sample_weight`` weighs the rows of the loss (a zero weight drops a row)
    and ``class_weight="balanced"`` evens out the classes:

    >>> weights = np.where(X[:, 2] > 0, 1.0, 0.0)
    >>> weighted = StochasticGatesSelector(
    ...     k=2, hidden_layer_sizes=(), batch_size=50, max_epochs=50,
    ...     gate_lr=0.02, class_weight="balanced", random_state=0,
    ... ).fit(X, y, sample_weight=weights)
    >>> weighted.get_support(indices=True)
    array([0, 1])
    """

    _auto_steps = AUTO_STEPS

    _callback_names = ("gate_recorder", "settled")

    def __init__(
        self,
        k=None,
        *,
        threshold=0.5,
        redundancy="avoid",
        gate="gaussian",
        hidden_layer_sizes=(64, 32),
        activation="tanh",
        reg_weight=0.02,
        reg_reduction="sum",
        sigma=1.5,
        temperature=2.0 / 3.0,
        groups=None,
        task="auto",
        class_weight=None,
        max_epochs="auto",
        batch_size=256,
        lr=3e-3,
        gate_lr=1e-3,
        optimizer="adam",
        weight_decay=0.0,
        device="cpu",
        random_state=None,
        verbose=0,
        callbacks=None,
        validation_fraction=None,
        n_iter_no_change=10,
        settle_steps=500,
        n_threads="auto",
    ):
        self.k = k
        self.threshold = threshold
        self.redundancy = redundancy
        self.gate = gate
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.reg_weight = reg_weight
        self.reg_reduction = reg_reduction
        self.sigma = sigma
        self.temperature = temperature
        self.groups = groups
        self.task = task
        self.class_weight = class_weight
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.gate_lr = gate_lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.settle_steps = settle_steps
        self.n_threads = n_threads

    _parameter_constraints: dict = {
        **NeuralEstimatorMixin._parameter_constraints,
        **NeuralEstimatorMixin._settling_parameter_constraints,
        "k": [IntInterval(1, None, closed="left"), None],
        "threshold": [Interval(Real, 0, 1, closed="both")],
        "redundancy": [StrOptions({"keep", "avoid"})],
        "gate": [StrOptions({"gaussian", "hard_concrete"})],
        "hidden_layer_sizes": [LAYER_SIZES],
        "activation": [StrOptions({"tanh", "relu"})],
        "reg_weight": [Interval(Real, 0, None, closed="left")],
        "reg_reduction": [StrOptions({"sum", "mean"})],
        "sigma": [Interval(Real, 0, None, closed="neither")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "groups": ["array-like", None],
        "task": [StrOptions({"auto", "classification", "regression"})],
        "class_weight": [dict, list, StrOptions({"balanced"}), None],
        "gate_lr": [Interval(Real, 0, None, closed="neither")],
    }

    # ------------------------------------------------------------------ checks
    def _check_selection(self, n_groups, warn=False):
        """Check ``k`` and ``threshold``, which may change after fitting.

        A ``k`` above the number of gates keeps them all (with a warning at
        ``fit`` when ``warn``), as scikit-learn's ``SelectKBest`` does.
        """
        names = ("k", "threshold", "redundancy")
        validate_parameter_constraints(
            {name: self._parameter_constraints[name] for name in names},
            {name: getattr(self, name) for name in names},
            caller_name=type(self).__name__,
        )
        if self.k is not None:
            what = "features" if self.groups is None else "groups"
            effective_k(self.k, n_groups, what, warn=warn)

    def _group_codes(self, n_features):
        """Return ``(labels, codes)``: sorted group labels, group index per column."""
        if self.groups is None:
            return np.arange(n_features), np.arange(n_features)
        groups = np.asarray(self.groups)
        if groups.ndim != 1 or len(groups) != n_features:
            raise ValueError(
                f"groups must give one label per feature: X has {n_features} "
                f"features but groups has shape {groups.shape}."
            )
        missing = [i for i, g in enumerate(groups.tolist()) if g is None or g != g]
        if missing:
            raise ValueError(
                f"groups has no label for {len(missing)} feature(s) (NaN or None; "
                f"the first is feature {missing[0]}): give every feature a group "
                "label, its own index for a feature that stands alone."
            )
        try:
            return np.unique(groups, return_inverse=True)
        except TypeError as exc:
            raise ValueError(
                "groups labels must be sortable values of one type (all numbers "
                "or all strings)."
            ) from exc

    # ------------------------------------------------------------------ fit
    def _build_module(self):
        """The gated network of the fitted columns and groups (a backbone hook)."""
        mask = None if self.groups is None else torch.as_tensor(self._codes)
        n_gates = len(self.groups_)
        if self.gate == "gaussian":
            gates = GaussianStochasticGates(
                n_gates,
                mask=mask,
                reg_weight=float(self.reg_weight),
                sigma=float(self.sigma),
                reg_reduction=self.reg_reduction,
            )
        else:
            gates = HardConcreteGates(
                n_gates,
                mask=mask,
                reg_weight=float(self.reg_weight),
                temperature=float(self.temperature),
                reg_reduction=self.reg_reduction,
            )
        self._start_z = _probit(gates.get_active_probs())  # see _left_start
        return GatedMLP(
            gates,
            self.n_features_in_,
            self._n_target_units(),
            hidden_layer_sizes=layer_sizes(self.hidden_layer_sizes),
            activation=self.activation,
        )

    def _training_callbacks(self):
        recorder = EpochRecorder(
            {
                "expected_open_gates": methodcaller("expected_open_gates"),
                "penalty": methodcaller("penalty"),
            }
        )
        callbacks = [("gate_recorder", recorder)]
        if self.settle_steps is not None:
            settled = SettledStopping(
                self._selection_now,
                int(self.settle_steps),
                moved=self._left_start,
                speed_up=_gate_parameters,
                speed_up_every=SPEED_UP_EVERY,
                speed_up_max=SPEED_UP_MAX,
            )
            callbacks.append(("settled", settled))
        return callbacks

    def _param_groups(self):
        # the gates get a learning rate of their own (see gate_lr)
        return [("gates.*", {"lr": float(self.gate_lr)})]

    def _selection_now(self, module):
        """What ``SettledStopping`` watches: the selection of the gates now."""
        probs = module.gates.get_active_probs().detach().cpu().double().numpy()
        kept = tuple(np.flatnonzero(self._kept_groups(probs)))
        if self.k is not None:
            return kept
        # by threshold: also every probability to within 0.02
        return kept, tuple(np.floor(probs * 50).astype(int))

    def _left_start(self, first, module):
        """Whether the gates have left where they started.

        The gates start nearly equal, in a random order; at first the
        penalty pushes them all down alike (Adam moves every gate by about
        ``gate_lr`` per step whatever its gradient), so the order, and the
        selection, stay the random one until the task tells the gates apart.
        They have moved once fewer than half of the gates kept at the start
        are still kept, or once the kept gates stand apart from the others
        (:meth:`_stand_apart`).
        """
        probs = module.gates.get_active_probs().detach().cpu().double().numpy()
        kept = self._kept_groups(probs)
        if self.k is None:  # (kept, probabilities to within 0.02)
            first = first[0]
        if not first or np.count_nonzero(kept[list(first)]) < len(first) / 2:
            return True
        return self._stand_apart(probs, kept)

    def _stand_apart(self, probs, kept, share=None):
        """Whether the kept gates stand apart from the bulk of the gates.

        The mean ``Phi^-1(p)`` of the kept gates (``mu / sigma`` for Gaussian
        gates) is at least ``MOVED_Z`` above the median gate's, and at least
        ``share`` (``MOVED_SHARE`` by default) of the way the median gate has
        gone since the start. Gates that all close together (a target no
        column predicts) travel far and stand apart from nothing.
        """
        share = MOVED_SHARE if share is None else share
        if kept.all() or not kept.any():
            return bool(kept.all())  # all kept: nothing to stand apart from
        z = _probit(probs)
        middle = np.median(z)
        travel = abs(middle - np.median(self._start_z))
        return z[kept].mean() - middle >= max(MOVED_Z, share * travel)

    def _warn_if_unmoved(self):
        """A ConvergenceWarning when the default budget ends with gates that
        do not stand apart: their top ``k`` is no selection."""
        settled = dict(self.net_.callbacks_).get("settled")
        if settled is None or self.max_epochs != "auto":
            return
        with torch.no_grad(), self._fitted_threads():
            probs = self.net_.module_.gates.get_active_probs()
        probs = probs.detach().cpu().double().numpy()
        if self._stand_apart(probs, self._kept_groups(probs), share=0.0):
            return
        lr = float(self.gate_lr) * settled.factor_
        warn(
            f"The gates did not move apart in {settled.steps_} optimizer steps "
            f"(gate_lr raised to {lr:.3g}): the features kept stand no higher "
            "than the rest, so the selection is arbitrary and no feature may "
            "help predict y. Check that y is the target you meant, scale the "
            "features (for example with StandardScaler), or train longer "
            "(max_epochs).",
            ConvergenceWarning,
        )

    def _fit_new_net(self, X, target, sample_weight=None):
        """Build a new gated network and train it on ``(X, target)``."""
        check_trainable(X, _SATURATES)
        self.groups_, self._codes = self._group_codes(X.shape[1])
        self._check_selection(len(self.groups_), warn=True)
        start_training(
            self, X, target, stratify=self._strata(target), sample_weight=sample_weight
        )
        self._warn_if_unmoved()
        self._read_gates()
        self._rank_complementary(X)

    def _read_gates(self):
        """Set the fitted gate attributes from the trained network."""
        # read in float64, so that gates far open (or closed) do not round to
        # the same probability and tie
        gates = copy.deepcopy(self.net_.module_.gates).cpu().double()
        with torch.no_grad(), self._fitted_threads():
            probs = gates.get_active_probs().numpy()
            values = gates.get_gate_values().numpy()
        codes = self._codes
        self.group_probabilities_ = probs
        self.gate_probabilities_ = probs[codes]
        self.gate_values_ = values[codes]

    def _rank_complementary(self, X, *, add=False):
        """With ``redundancy="avoid"``, rank the gates for ``get_support``.

        The ranking needs the training columns' correlations. They are
        measured on :func:`correlation_sample`, kept with the fitted
        selector: ``fit`` draws it from its ``X``; a later ``partial_fit``
        call (``add=True``) adds its rows to it, in proportion to the rows
        each call stands for, so that a short last chunk does not decide the
        correlations alone. ``max(k, RANKED_AT_FIT)`` gates are ranked, enough
        for ``set_params(k=...)`` to pick another ``k`` up to that; reading
        the support or the importances only reads this ranking.
        """
        self._complementary_order = self._complementary_scores = None
        if self.redundancy != "avoid":
            self._correlation_sample, self._rows_seen = None, 0
            return
        previous = getattr(self, "_correlation_sample", None) if add else None
        self._correlation_sample, self._rows_seen = correlation_sample(
            X, previous, getattr(self, "_rows_seen", 0)
        )
        n_gates = len(self.group_probabilities_)
        length = min(n_gates, max(self._n_kept(), RANKED_AT_FIT))
        # on the fit's threads, as training: small products on every core
        # fight with other work (1 thread: 0.20 s against 2.1 s for 784
        # columns with both cores busy)
        with threadpool_limits(self.n_threads_, user_api="blas"):
            self._complementary_order, self._complementary_scores = complementary_order(
                None,
                self.group_probabilities_,
                self._codes,
                length,
                rows=unit_columns(self._correlation_sample),
            )

    def _ranked_order(self):
        """The order ``redundancy="avoid"`` reads, or a clear error."""
        order = getattr(self, "_complementary_order", None)
        if order is None:
            raise ValueError(
                "This selector was fitted with redundancy='keep'; "
                "redundancy='avoid' measures the correlations of the training "
                "columns while fitting. Fit it again with redundancy='avoid'."
            )
        return order

    @property
    def feature_importances_(self):
        """Score of every feature; the ``k`` largest are the support.

        With ``redundancy="keep"``, ``gate_probabilities_``; with
        ``"avoid"``, each gate probability above the gates' noise floor,
        discounted for redundancy, ``(p - m) * (1 - r**2)`` when the feature was
        ranked.
        """
        check_is_fitted(self, "gate_probabilities_")
        if self.redundancy == "keep":
            return self.gate_probabilities_.copy()
        self._check_selection(len(self.group_probabilities_))
        self._ranked_order()
        return self._complementary_scores[self._codes]

    @all_or_nothing
    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train a new gated network on ``(X, y)`` and read off the gates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training input; it is not modified. A sparse matrix is read one
            densified batch at a time (see :ref:`large_and_sparse`).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels, a 0/1 matrix of labels (multilabel: one
            independent yes/no output per column), or regression target(s).
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Weight of each row in the training loss (a weight of zero acts
            like a dropped row, an integer weight like repeated rows), times
            ``class_weight``; see :ref:`sample_weights`.

        Returns
        -------
        self : StochasticGatesSelector
        """
        self._reset()
        return self._partial_fit(X, y, None, sample_weight, streaming=False)

    @all_or_nothing(trains_in_place=True)
    @fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train on ``(X, y)``, continuing from the previous fit if there is one.

        The first call on an unfitted selector builds the network and trains
        it exactly as :meth:`fit` does. Every later call (after
        ``partial_fit`` or ``fit``) trains the same network, gates and
        optimizer state (Adam's moment estimates included) for at most
        ``max_epochs`` more epochs on the new ``(X, y)``, stopping earlier as
        ``settle_steps`` says, then updates ``gate_probabilities_``, the
        support and ``history_``. ``max_epochs=1`` gives scikit-learn's
        convention of one pass over the data per call. The network's
        parameters are those of the first call; ``max_epochs``, ``k`` and
        ``threshold`` are read at every call. :meth:`fit` always starts again
        from new weights. Set ``settle_steps=None`` when later chunks may
        change which features matter (see :ref:`gates_user_guide`).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training input, with the columns (and column names) of the first
            call; it is not modified.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels, a 0/1 matrix of labels (multilabel: one
            independent yes/no output per column), or regression target(s).
        classes : array-like of shape (n_classes,) or None, default=None
            Every class label that may appear in any call, as in
            scikit-learn's ``partial_fit``; give it on the first call when a
            chunk may lack some classes. ``None`` on the first call takes the
            classes of that call's ``y``, as :meth:`fit` does; a later label
            outside ``classes_`` is an error. Later calls may omit it or must
            repeat it. Not used for regression.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Weight of each row in the training loss of this call,
            times ``class_weight``; see :ref:`sample_weights`.

        Returns
        -------
        self : StochasticGatesSelector

        Examples
        --------
        >>> import numpy as np
        >>> from sk_memsel import StochasticGatesSelector
        >>> rng = np.random.RandomState(0)
        >>> X = rng.normal(size=(200, 6))
        >>> y = (X[:, 0] + X[:, 1] > 0).astype(int)
        >>> selector = StochasticGatesSelector(k=2, max_epochs=1, batch_size=50,
        ...                                    random_state=0)
        >>> for chunk in np.array_split(np.arange(200), 4):  # data in 4 chunks
        ...     _ = selector.partial_fit(X[chunk], y[chunk], classes=[0, 1])
        >>> len(selector.history_), selector.get_support(indices=True).shape
        (4, (2,))
        """
        return self._partial_fit(X, y, classes, sample_weight)

    def _partial_fit(self, X, y, classes, sample_weight, *, streaming=True):
        """A first call builds and trains a new network, a later one trains on.

        ``fit`` is a reset and a first call with ``streaming=False``, which
        allows ``class_weight="balanced"`` (one call sees all of ``y``).
        """
        if not hasattr(self, "net_"):
            X = self._validate_X(X, reset=True)
            sample_weight = self._validated_sample_weight(sample_weight, X)
            target = self._prepare_target(
                X, y, task=self.task, classes=classes, sample_weight=sample_weight
            )
            sample_weight = self._class_weighted(y, sample_weight, partial=streaming)
            self._fit_new_net(X, target, sample_weight)
            return self
        X = self._continue_training(X, y, classes, sample_weight)
        self._read_gates()
        self._rank_complementary(X, add=True)
        return self

    def _continued_target(self, X, y, classes):
        check_trainable(X, _SATURATES)
        return self._encode_target(X, y, classes)

    # ------------------------------------------------------------------ selection
    def _get_support_mask(self):
        check_is_fitted(self, "group_probabilities_")
        probs = self.group_probabilities_
        self._check_selection(len(probs))
        if self.redundancy == "keep":
            return self._kept_groups(probs)[self._codes]
        order = self._ranked_order()
        k = self._n_kept()
        if k > len(order):
            asked = (
                f"k={self.k}"
                if self.k is not None
                else (f"threshold={self.threshold} keeps {k} features, which")
            )
            raise ValueError(
                f"{asked} is more than the {len(order)} features ranked for "
                "redundancy='avoid' when the selector was fitted. Fit it again "
                "with this k."
            )
        keep = np.zeros(len(probs), dtype=bool)
        keep[order[:k]] = True
        return keep[self._codes]

    def _n_kept(self):
        """How many gates the support keeps: ``k``, or those at ``threshold``."""
        probs = self.group_probabilities_
        if self.k is None:
            return int(np.count_nonzero(probs >= self.threshold))
        return effective_k(self.k, len(probs), warn=False)

    def _kept_groups(self, probs):
        """Which gates ``k`` (or ``threshold``) keeps, given their probabilities."""
        if self.k is None:
            return probs >= self.threshold
        order = np.argsort(-probs, kind="stable")
        keep = np.zeros(len(probs), dtype=bool)
        keep[order[: self.k]] = True
        return keep

    def _requested_task(self):
        return self.task

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
