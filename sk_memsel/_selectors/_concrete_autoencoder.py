"""Concrete Autoencoder feature selection (Abid, Balin and Zou, 2019)."""

import functools
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_selection import SelectorMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .._backbone import (
    EpochRecorder,
    GradientScaledEps,
    NeuralEstimatorMixin,
    SettledStopping,
    SupervisedOutputMixin,
    TemperatureAnnealing,
    all_or_nothing,
    start_training,
)
from .._backbone._compat import Interval, StrOptions, fit_context
from .._backbone._data import check_trainable, row_chunks
from .._backbone._params import (
    LAYER_SIZES,
    IntInterval,
    effective_k,
    fill_shared_docs,
    layer_sizes,
)
from .._backbone._supervised import task_of
from .._backbone._warnings import warn
from ..nn._concrete import ConcreteSelect, distinct_argmax
from ..nn._random import Dropout

__all__ = ["ConcreteAutoencoderSelector"]


class _ConcreteNet(nn.Module):
    """A :class:`ConcreteSelect` layer followed by an MLP decoder.

    ``penalty()`` (added to the training loss by the backbone) is minus
    ``gjs_weight`` times the GJSD of the selector nodes, so training maximises
    their diversity. ``temperature`` reads and writes the layer's temperature,
    for the annealing callback.
    """

    def __init__(
        self, n_in, k, n_out, hidden_layer_sizes, dropout, gjs_weight, temperature
    ):
        super().__init__()
        self.select = ConcreteSelect(n_in, k, temperature)
        layers = []
        width = k
        for size in hidden_layer_sizes:
            layers += [nn.Linear(width, size), nn.LeakyReLU(0.2)]
            if dropout > 0:
                # drawn from the fit's own stream (nn.Dropout: the global one)
                layers.append(Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, n_out))
        self.decoder = nn.Sequential(*layers)
        self.gjs_weight = gjs_weight

    @property
    def temperature(self):
        return self.select.temperature

    @temperature.setter
    def temperature(self, value):
        self.select.temperature = float(value)

    def forward(self, x):
        return self.decoder(self.select(x))

    def penalty(self):
        if not self.gjs_weight:
            return 0.0
        return -self.gjs_weight * self.select.gjsd()


def _mean_max_probability(module):
    """Mean over the selector nodes of their largest selection probability."""
    with torch.no_grad():
        return module.select.probabilities().max(dim=1).values.mean().item()


def _distinct_selection(module):
    """The features the nodes would select now, as a sorted tuple."""
    return tuple(sorted(module.select.selected_indices().tolist()))


def _nodes_settled(module, level):
    """Whether the nodes' mean largest selection probability reached ``level``."""
    return _mean_max_probability(module) >= level


#: the logits' optimizer ``eps`` as a fraction of their first gradient's root
#: mean square (see GradientScaledEps). Adam's fixed 1e-8 left the logits
#: still over 5,000 genes; 0.3 lets them settle over 20,000, keeps the
#: damping the MNIST defaults were chosen with (their gradients are near
#: 1e-8), and keeps a block of correlated columns winning over thousands of
#: noise columns, which 0.1 no longer does.
_LOGITS_EPS_RATIO = 0.3

#: mean largest selection probability from which the nodes count as settled
#: (training also needs ``convergence_threshold`` when that is higher)
_SETTLED_CONVERGENCE = 0.95


def _feature_importances(probabilities, selected):
    """One score per feature, whose ``len(selected)`` largest are ``selected``.

    A selected feature scores the probability with which the node that took
    it chooses it; any other feature the largest probability a node gives
    it, capped just below the smallest selected score (nodes that clashed on
    one feature can leave it above a second choice).

    >>> p = np.array([[0.6, 0.3, 0.1], [0.5, 0.2, 0.3]])
    >>> _feature_importances(p, np.array([0, 2])).round(3).tolist()
    [0.6, 0.3, 0.3]
    >>> scores = _feature_importances(p, np.array([0, 2]))
    >>> bool(scores[1] < scores[2])
    True
    """
    taken = probabilities[np.arange(len(selected)), selected]
    scores = np.minimum(probabilities.max(axis=0), np.nextafter(taken.min(), -np.inf))
    scores[selected] = taken
    return scores


def _may_reconstruct(est):
    objective = task_of(est)
    if objective not in ("reconstruction", "auto"):
        raise AttributeError(
            "reconstruct is available only with objective='reconstruction'; "
            f"this selector is for {objective}."
        )
    return True


@fill_shared_docs
class ConcreteAutoencoderSelector(
    SupervisedOutputMixin, NeuralEstimatorMixin, SelectorMixin, BaseEstimator
):
    """Select ``k`` features with a Concrete Autoencoder.

    A concrete selector layer of ``k`` nodes, each a Gumbel-softmax
    distribution over the input features, feeds an MLP decoder. The network is
    trained to reconstruct all the features of ``X`` from the ``k`` it selects
    (unsupervised, the default) or to predict ``y`` from them, while the
    temperature of the Gumbel-softmax samples is annealed so that every node
    settles on one feature. After training each node keeps its most probable
    feature; when two nodes want the same feature, the more confident one
    keeps it and the other takes its best free feature, so exactly ``k``
    distinct features are always selected.

    Read more in the :ref:`User Guide <concrete_user_guide>`.

    Parameters
    ----------
    k : int, default=10
        Number of features to select. A ``k`` larger than the number of
        features of ``X`` keeps them all, with a warning (as
        :class:`~sklearn.feature_selection.SelectKBest` does). Set after
        fitting (``set_params(k=3)``), it applies at once, as for
        :class:`StochasticGatesSelector`: ``get_support`` and ``transform``
        keep the ``k`` largest ``feature_importances_``; a ``k`` above the
        fitted one is refused (the network has one node per fitted
        feature: fit again).
    objective : {"reconstruction", "classification", "regression", "auto"}, \
            default="reconstruction"
        What the decoder learns from the ``k`` selected features.
        ``"reconstruction"``: all the features of ``X`` (``y`` is ignored, so
        the selector works unsupervised, also inside a Pipeline that passes
        ``y``). ``"classification"`` / ``"regression"``: the target ``y``.
        ``"auto"``: reconstruction when ``fit`` gets no ``y``; otherwise the
        task is read from ``y`` (labels are classes, floats a regression
        target; see :ref:`inferred_task` for whole numbers).
    temperature : float, default=10.0
        Temperature of the Gumbel-softmax samples at the start of training.
    min_temperature : float, default=0.01
        Temperature of the last epoch; at most ``temperature``. When training
        stops early because the selection has settled, the last epoch is
        trained at ``min_temperature`` too.
    annealing : {"exp", "linear"}, default="exp"
        Shape of the schedule from ``temperature`` to ``min_temperature``
        over the ``max_epochs`` epochs (``"exp"``: geometric).
    warmup_epochs : int, default=0
        Number of first epochs held at ``temperature`` before annealing.
    stop_annealing_epoch : int or None, default=None
        Epoch after which the temperature is held where it is. ``None``
        anneals until the last epoch.
    hidden_layer_sizes : int or tuple of int, default=(256,)
        Widths of the decoder's hidden layers (LeakyReLU activations); ``()``
        gives a linear decoder.
    dropout : float, default=0.0
        Dropout rate after each hidden layer of the decoder.
    gjs_weight : float, default=0.0
        Weight of the generalised Jensen-Shannon divergence of the nodes'
        distributions, which training maximises (it is subtracted from the
        loss) to push the nodes towards different features; its scale must
        match that of the loss. Off by default: duplicates are resolved after
        training anyway (see :ref:`concrete_user_guide`).
    convergence_threshold : float, default=0.9
        A :class:`~sklearn.exceptions.ConvergenceWarning` is issued when
        ``convergence_`` ends below it. ``0`` never warns.
    selector_lr : float, default=0.05
        Learning rate of the selector nodes' logits (``lr`` applies to the
        decoder). The logits must move by several units for each node to
        settle on one feature, more than the decoder's rate allows in a few
        thousand steps.
    class_weight : dict, list of dict, "balanced" or None, default=None
        Weights of the classes, multiplied with ``sample_weight`` (see
        :ref:`sample_weights`): ``{label: weight}`` (a list of them, one per
        label, for multilabel ``y``), or ``"balanced"`` for
        ``n_samples / (n_classes * np.bincount(y))``. Classification
        objective only.
    {max_epochs}
        The annealing schedule spans them; training usually stops earlier
        (see ``settle_steps``).
    {batch_size}
    {lr}
        The selector logits have their own, ``selector_lr``.
    {optimizer}
    {weight_decay}
        It applies to the selector logits too.
    {device}
    {random_state}
    {verbose}
    {callbacks}
    {validation_fraction}
        Stopping early also stops the annealing before ``min_temperature``.
    {n_iter_no_change}
    settle_steps : int or None, default=200
        Training stops once every node has settled on one feature (their mean
        largest selection probability is at least 0.95, and at least
        ``convergence_threshold``) and the selected features have not changed
        for this many optimizer steps. One last epoch is then trained at
        ``min_temperature``, and ``history_[-1, "stop_reason"]`` says
        ``"settled"``. ``None`` always trains ``max_epochs`` epochs. See
        :ref:`training_stops`.
    {n_threads}

    Attributes
    ----------
    selected_features_ : ndarray of shape (k,)
        Index of the feature of each selector node, in node order (the order
        the decoder reads them in). ``get_support(indices=True)`` gives the
        same indices sorted, and ``transform`` returns the columns in that
        sorted order. Fixed at fit: a ``k`` set later changes
        ``get_support``, not this.
    selection_probabilities_ : ndarray of shape (k, n_features_in_)
        Probability of each node choosing each feature (``softmax`` of the
        node's logits).
    feature_importances_ : ndarray of shape (n_features_in_,)
        Score of each feature, whose ``k`` largest are the selected features:
        for a selected feature, the probability with which the node that
        took it chooses it; for the others, the largest probability any node
        gives them, capped just below the smallest selected score. Read by
        :class:`~sklearn.feature_selection.SelectFromModel` and by
        :func:`sk_memsel.plot.plot_scores`.
    convergence_ : float
        Mean over the nodes of their largest selection probability; near 1
        when every node has settled on one feature. ``history_`` also records
        it per epoch under ``"convergence"``.
    objective_ : str
        The objective trained: ``"reconstruction"``, ``"classification"`` or
        ``"regression"``.
    classes_ : ndarray of shape (n_classes,)
        Class labels (classification only).
    net_ : skorch.NeuralNet
        The trained net; ``net_.module_.select`` is the
        :class:`~sk_memsel.nn.ConcreteSelect` layer, with the selection fixed
        to ``selected_features_``.
    history_ : skorch.History
        Per-epoch ``train_loss``, ``temperature`` and ``convergence`` (and
        ``valid_loss`` with ``validation_fraction``); the last epoch also has
        ``stop_reason`` (``"settled"``, ``"max_epochs"``, ``"no_improvement"``
        for the validation early stopping, or ``"interrupted"``).
    n_epochs_ : int
        Number of epochs trained.
    n_threads_ : int
        PyTorch threads used on the CPU (see ``n_threads``).
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen during ``fit``, when ``X`` has string
        column names.

    See Also
    --------
    sk_memsel.nn.ConcreteSelect : The selector layer alone, for PyTorch models.
    sklearn.feature_selection.SelectKBest : Univariate selection of k features.

    Notes
    -----
    While training, each node mixes the inputs with the weights of one
    Gumbel-softmax sample per mini-batch; as the temperature falls, the
    samples approach one-hot vectors and the nodes' logits concentrate. At
    inference nothing is random: ``transform`` takes the selected columns and
    ``reconstruct`` / ``predict`` run the decoder on them.

    The defaults were chosen on 4,000 MNIST digits (784 pixels, ``k=50``),
    where they give a random forest 0.91-0.93 test accuracy, and on
    scikit-learn's digits; see the benchmarks in the documentation.

    Scale the features to comparable ranges (e.g. with
    :class:`~sklearn.preprocessing.MinMaxScaler`) first: the reconstruction
    loss weighs every feature by its scale.

    References
    ----------
    .. [1] A. Abid, M. F. Balin, J. Zou, "Concrete Autoencoders: Differentiable
       Feature Selection and Reconstruction", ICML 2019,
       https://arxiv.org/abs/1901.09346
    .. [2] Generalised Jensen-Shannon divergence regulariser for concrete
       selection, https://arxiv.org/abs/2403.00563

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sk_memsel import ConcreteAutoencoderSelector
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16.0
    >>> selector = ConcreteAutoencoderSelector(k=8, random_state=0)
    >>> selector.fit_transform(X).shape
    (1797, 8)
    >>> len(set(selector.selected_features_))
    8
    >>> selector.get_support(indices=True).shape
    (8,)
    >>> selector.reconstruct(X).shape
    (1797, 64)

    Training stopped once the nodes had settled, before ``max_epochs``:

    >>> selector.history_[-1, "stop_reason"]
    'settled'
    >>> selector.n_epochs_ < 125  # max_epochs="auto": 125 epochs of 8 batches
    True

    ``feature_importances_`` scores every pixel; its top 8 are the selection:

    >>> import numpy as np
    >>> top = np.argsort(-selector.feature_importances_)[:8]
    >>> bool((np.sort(top) == selector.get_support(indices=True)).all())
    True

    A supervised objective learns ``y``; ``class_weight`` and ``sample_weight``
    weigh its rows:

    >>> weights = np.where(y < 5, 1.0, 2.0)
    >>> supervised = ConcreteAutoencoderSelector(
    ...     k=8, objective="classification", class_weight="balanced",
    ...     random_state=0,
    ... ).fit(X, y, sample_weight=weights)
    >>> supervised.predict(X[:3]).shape
    (3,)
    """

    def __init__(
        self,
        k=10,
        *,
        objective="reconstruction",
        temperature=10.0,
        min_temperature=0.01,
        annealing="exp",
        warmup_epochs=0,
        stop_annealing_epoch=None,
        hidden_layer_sizes=(256,),
        dropout=0.0,
        gjs_weight=0.0,
        convergence_threshold=0.9,
        selector_lr=0.05,
        class_weight=None,
        max_epochs="auto",
        batch_size=256,
        lr=0.003,
        optimizer="adam",
        weight_decay=0.0,
        device="cpu",
        random_state=None,
        verbose=0,
        callbacks=None,
        validation_fraction=None,
        n_iter_no_change=10,
        settle_steps=200,
        n_threads="auto",
    ):
        self.k = k
        self.objective = objective
        self.temperature = temperature
        self.min_temperature = min_temperature
        self.annealing = annealing
        self.warmup_epochs = warmup_epochs
        self.stop_annealing_epoch = stop_annealing_epoch
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.gjs_weight = gjs_weight
        self.convergence_threshold = convergence_threshold
        self.selector_lr = selector_lr
        self.class_weight = class_weight
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
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

    #: optimizer steps that ``max_epochs="auto"`` allows
    _auto_steps = 1000

    _callback_names = ("convergence", "eps", "settled", "temperature")

    _task_parameter = "objective"

    _parameter_constraints: dict = {
        **NeuralEstimatorMixin._parameter_constraints,
        **NeuralEstimatorMixin._settling_parameter_constraints,
        "k": [IntInterval(1, None, closed="left")],
        "objective": [
            StrOptions({"reconstruction", "classification", "regression", "auto"})
        ],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "min_temperature": [Interval(Real, 0, None, closed="neither")],
        "annealing": [StrOptions({"exp", "linear"})],
        "warmup_epochs": [IntInterval(0, None, closed="left")],
        "stop_annealing_epoch": [IntInterval(1, None, closed="left"), None],
        "hidden_layer_sizes": [LAYER_SIZES],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "gjs_weight": [Interval(Real, 0, None, closed="left")],
        "convergence_threshold": [Interval(Real, 0, 1, closed="both")],
        "selector_lr": [Interval(Real, 0, None, closed="neither")],
        "class_weight": [dict, list, StrOptions({"balanced"}), None],
    }

    def _hidden_sizes(self):
        """The decoder's hidden layer widths, as a tuple of int."""
        return layer_sizes(self.hidden_layer_sizes)

    # ------------------------------------------------------------------ fit
    @all_or_nothing
    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Train the Concrete Autoencoder and select ``k`` features.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; a sparse matrix is read one densified batch at a
            time, never densified whole.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), \
                default=None
            Target of a supervised objective: class labels, a 0/1 matrix of
            labels (multilabel), or regression target(s); ignored by
            ``objective="reconstruction"``.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Weight of each row in the training loss (for reconstruction, of
            the row's reconstruction error): a weight of zero acts like a
            dropped row, an integer weight like repeated rows. Multiplied by
            ``class_weight``; see :ref:`sample_weights`.

        Returns
        -------
        self : ConcreteAutoencoderSelector
            The fitted selector.
        """
        self._reset()
        return self._partial_fit(X, y, None, sample_weight, streaming=False)

    @all_or_nothing(trains_in_place=True)
    @fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, classes=None, sample_weight=None):
        """Train on ``X`` (and ``y``), continuing from the previous fit if any.

        The first call on an unfitted selector builds the network and trains
        it exactly as :meth:`fit` does, annealing the temperature over its
        epochs. Every later call (after ``partial_fit`` or ``fit``) trains
        the same network, selector logits and optimizer state for at most
        ``max_epochs`` more epochs on the new rows, at the temperature where
        the schedule ended (``min_temperature``), stopping earlier as
        ``settle_steps`` says, then reads the selection again. So the first
        call should be long enough for the nodes to settle (the default
        ``max_epochs="auto"`` gives it about 1000 optimizer steps); later
        calls refine the selection and the decoder on more rows. Used by
        ``dask_ml.wrappers.Incremental`` to fit one block of a Dask array at
        a time (see :ref:`large_and_sparse`).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Training data, with the columns (and column names) of the first
            call; it is not modified.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), \
                default=None
            Target of a supervised objective; ignored by
            ``objective="reconstruction"``.
        classes : array-like of shape (n_classes,) or None, default=None
            Every class label that may appear in any call (classification),
            as in scikit-learn's ``partial_fit``; give it on the first call
            when a chunk may lack some classes. Ignored by reconstruction.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Weight of each row in this call's loss, times ``class_weight``
            (which must be a dict here: one chunk cannot tell the class
            frequencies that ``"balanced"`` needs).

        Returns
        -------
        self : ConcreteAutoencoderSelector

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from sk_memsel import ConcreteAutoencoderSelector
        >>> X = load_digits().data / 16.0
        >>> selector = ConcreteAutoencoderSelector(k=8, random_state=0)
        >>> for rows in (slice(0, 900), slice(900, None)):  # two chunks
        ...     _ = selector.partial_fit(X[rows])
        >>> selector.get_support(indices=True).shape
        (8,)
        >>> selector.history_[-1, "temperature"] == selector.min_temperature
        True
        """
        return self._partial_fit(X, y, classes, sample_weight)

    def _partial_fit(self, X, y, classes, sample_weight, *, streaming=True):
        """A first call builds and trains a new network, a later one trains on.

        ``fit`` is a reset and a first call with ``streaming=False``, which
        allows ``class_weight="balanced"`` (one call sees all of ``y``).
        """
        if not hasattr(self, "net_"):
            X = self._validate_X(X, reset=True)
            self._fit_new_net(X, y, sample_weight, classes, streaming)
            return self
        # while training, validation reads the nodes' current choice (a
        # failed call gets the fixed selection back: all_or_nothing)
        self.net_.module_.select.selection = None
        self._continue_training(X, y, classes, sample_weight)
        self._read_selection()
        return self

    def _continued_target(self, X, y, classes):
        if self.objective_ != "reconstruction":
            return self._encode_target(X, y, classes)
        self._check_reconstructable(X)
        return X

    def _check_reconstructable(self, X):
        check_trainable(X, "the squared error of reconstructing them overflows float32")

    def _fit_new_net(self, X, y, sample_weight, classes, streaming):
        """Build a new network, train it on the validated ``X`` and select."""
        if self.min_temperature > self.temperature:
            raise ValueError(
                f"min_temperature={self.min_temperature} is higher than "
                f"temperature={self.temperature}; the temperature is annealed "
                "down from temperature to min_temperature."
            )
        effective_k(self.k, X.shape[1])  # a warning when k > n_features
        sample_weight = self._validated_sample_weight(sample_weight, X)
        target, _, stratify = self._training_target(
            X, y, self.objective, classes=classes, sample_weight=sample_weight
        )
        self.objective_ = self.task_
        if self.task_ == "reconstruction":
            self._check_reconstructable(X)
        sample_weight = self._class_weighted(y, sample_weight, partial=streaming)
        start_training(self, X, target, stratify=stratify, sample_weight=sample_weight)
        self._read_selection()

    def _build_module(self):
        """The selector layer and decoder of the fitted columns (a backbone hook)."""
        n_features = self.n_features_in_
        reconstructs = self.task_ == "reconstruction"
        return _ConcreteNet(
            n_features,
            effective_k(self.k, n_features, warn=False),
            n_features if reconstructs else self._n_target_units(),
            self._hidden_sizes(),
            float(self.dropout),
            float(self.gjs_weight),
            float(self.temperature),
        )

    def _training_callbacks(self):
        annealing = TemperatureAnnealing(
            float(self.temperature),
            float(self.min_temperature),
            mode=self.annealing,
            warmup_epochs=self.warmup_epochs,
            stop_epoch=self.stop_annealing_epoch,
        )
        callbacks = [
            ("eps", GradientScaledEps("select.logits", _LOGITS_EPS_RATIO)),
            ("temperature", annealing),
            ("convergence", EpochRecorder({"convergence": _mean_max_probability})),
        ]
        if self.settle_steps is not None:
            settled_at = max(_SETTLED_CONVERGENCE, self.convergence_threshold)
            settled = SettledStopping(
                _distinct_selection,
                int(self.settle_steps),
                ready=functools.partial(_nodes_settled, level=settled_at),
                on_settled=annealing.finish,
                finish_epochs=1,
            )
            callbacks.append(("settled", settled))
        return callbacks

    def _param_groups(self):
        # the logits get a learning rate of their own (see selector_lr)
        return [("select.logits", {"lr": float(self.selector_lr)})]

    def _read_selection(self):
        """Fix the trained nodes' distinct choices and set the fitted attributes."""
        net = self.net_
        layer = net.module_.select
        # on the fit's threads: a softmax on torch's default threads starts
        # its OpenMP pool, which a forked child of this process cannot use
        with torch.no_grad(), self._fitted_threads():
            probabilities = layer.probabilities()
            selected = distinct_argmax(probabilities)
        layer.fix_selection(selected)
        net.module_.eval()
        self.selection_probabilities_ = probabilities.cpu().numpy().astype(np.float64)
        self.selected_features_ = selected.cpu().numpy().astype(np.intp)
        self.feature_importances_ = _feature_importances(
            self.selection_probabilities_, self.selected_features_
        )
        self.convergence_ = float(self.selection_probabilities_.max(axis=1).mean())
        if self.convergence_ < self.convergence_threshold:
            warn(
                f"The selector nodes did not settle on single features: their "
                f"mean largest selection probability is {self.convergence_:.3f}, "
                f"below convergence_threshold={self.convergence_threshold}. "
                "The selected features may be unstable. If the features are on "
                "very different scales, scale them first (for example with "
                "sklearn.preprocessing.MinMaxScaler in a Pipeline); otherwise "
                "allow more training (raise max_epochs), raise selector_lr, or "
                "lower min_temperature.",
                ConvergenceWarning,
            )

    # ------------------------------------------------------------------ selection
    def _get_support_mask(self):
        # k set after fitting applies, as for the gates selector: the k most
        # important features (the nodes' own choices when k is the fitted k);
        # more than the fitted nodes cannot be chosen without training
        check_is_fitted(self, "selected_features_")
        n_nodes = len(self.selected_features_)
        if isinstance(self.k, bool) or not isinstance(self.k, Integral) or self.k < 1:
            raise ValueError(f"k must be a whole number of 1 or more, got {self.k!r}.")
        k = effective_k(self.k, self.n_features_in_, warn=False)
        if k > n_nodes:
            raise ValueError(
                f"k={self.k} asks for {k} features, but this selector was "
                f"fitted with k={n_nodes}: its network has one selector node "
                f"per selected feature. Fit it again to select {k}, or set a k "
                f"of at most {n_nodes} to keep the most important of them."
            )
        mask = np.zeros(self.n_features_in_, dtype=bool)
        if k == n_nodes:
            mask[self.selected_features_] = True
        else:
            order = np.argsort(-self.feature_importances_, kind="stable")
            mask[order[:k]] = True
        return mask

    # ------------------------------------------------------------------ decoder
    @available_if(_may_reconstruct)
    def reconstruct(self, X):
        """Reconstruct all the features of ``X`` from the ``k`` selected ones.

        Unlike ``inverse_transform``, which puts zeros in the columns that
        were not selected, this runs the trained decoder.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)
            Data with all the features (only the selected ones are read).

        Returns
        -------
        X_reconstructed : ndarray of shape (n_samples, n_features_in_)
        """
        return self._network_output(X)

    def _requested_task(self):
        return self.objective

    def score(self, X, y=None, sample_weight=None):
        """How well the ``k`` selected features serve the objective.

        Higher is better, so model selection (e.g.
        :class:`~sklearn.model_selection.GridSearchCV` over ``k`` and
        ``temperature``) can use the selector alone.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)
        y : array-like of shape (n_samples,) or None, default=None
            Target for the supervised objectives; ignored for reconstruction.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Weights of the rows in the mean squared error, the accuracy or
            :math:`R^2`.

        Returns
        -------
        score : float
            Reconstruction: minus the mean squared error of
            :meth:`reconstruct` over all entries of ``X``. Classification:
            accuracy. Regression: :math:`R^2`.
        """
        check_is_fitted(self, "selected_features_")
        if self.objective_ == "reconstruction":
            X = self._validate_X(X, reset=False)
            weights = self._validated_sample_weight(sample_weight, X)
            # in chunks of rows, so a memory-mapped X is never loaded whole
            total = 0.0
            for rows in row_chunks(X):
                block = np.asarray(X[rows], dtype=np.float64)
                error = self._forward(X[rows]) - block
                if weights is None:
                    total += float(np.sum(error**2))
                else:
                    total += float(np.sum(error**2, axis=1) @ weights[rows])
            n_rows = X.shape[0] if weights is None else weights.sum()
            return -total / (n_rows * X.shape[1])
        return super().score(X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = self.objective in ("classification", "regression")
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
