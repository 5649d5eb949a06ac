"""MemorySelectorTransformer: features from learned memory banks."""

from numbers import Real

import numpy as np
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .._backbone._compat import Interval
from .._backbone._params import IntInterval, fill_shared_docs
from ..nn import MemorySelector
from ._base import NeuralTransformerBase

__all__ = ["MemorySelectorTransformer"]


class _SelectorEncoder(nn.Module):
    """A :class:`~sk_memsel.nn.MemorySelector` with flattened output."""

    def __init__(self, selector):
        super().__init__()
        self.selector = selector

    def forward(self, x):
        return self.selector(x).flatten(1)

    def selection_probabilities(self, x):
        return self.selector.selection_probabilities(x)


@fill_shared_docs
class MemorySelectorTransformer(NeuralTransformerBase):
    """Describe each sample by the memory embeddings it selects.

    For each of ``out_features`` outputs the transformer keeps a bank of
    ``memory_size`` learned embeddings of width ``embedding_size``. A small
    MLP scores the slots of every bank from the sample; the sample's
    features are the selected embeddings (the probability-weighted mixture
    of each bank's slots), flattened to ``out_features * embedding_size``
    columns. :meth:`select_memory` tells which slot each output chose.

    With ``y`` the banks and the scorer are trained through a linear head
    that predicts ``y`` (classification or regression, inferred from ``y``);
    without ``y`` the head reconstructs the standardised input.

    Parameters
    ----------
    out_features : int, default=8
        Number of outputs (memory banks).
    memory_size : int, default=8
        Number of slots per bank.
    embedding_size : int, default=4
        Width of each slot. The transformer returns ``out_features *
        embedding_size`` features.
    hidden_size : int, default=64
        Width of the hidden layer of the MLP that scores the slots.
    temperature : float, default=1.0
        Softmax temperature of the selection; lower is sharper.
    {standardize}
    {task}
        Without ``y`` the head reconstructs the input, whatever this is.
    {max_epochs}
    {batch_size}
    {lr}
    {optimizer}
    {weight_decay}
    {device}
    {random_state}
    {verbose}
    {callbacks}
    {validation_fraction}
    {n_iter_no_change}
    {n_threads}

    Attributes
    ----------
    memory_bank_ : ndarray of shape (out_features, memory_size, \
embedding_size)
        The learned memory banks.
    task_ : {"classification", "regression", "reconstruction"}
        What the head learned.
    classes_ : ndarray of shape (n_classes,)
        Class labels, after a fit on class labels.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when X had string column names.
    n_timepoints_in_ : None
        Always ``None``: this transformer reads tabular input only.
    net_ : skorch.NeuralNet
        The trained net; ``net_.module_.encoder.selector`` is the
        :class:`~sk_memsel.nn.MemorySelector`.
    n_epochs_ : int
        Number of epochs trained; ``history_[-1, "stop_reason"]`` says why
        training stopped (``"max_epochs"``, ``"no_improvement"`` or
        ``"interrupted"``).
    n_threads_ : int
        PyTorch threads used on the CPU (see ``n_threads``).

    See Also
    --------
    sk_memsel.nn.MemorySelector : The PyTorch layer behind this transformer.
    DNCTransformer : Features from a Differentiable Neural Computer.
    MemoryAttentionTransformer : Features from memory-augmented attention.

    Notes
    -----
    The features of a sample are, for each output :math:`o`, the mixture
    :math:`z_o(x) = \\sum_m p_{om}(x) M_{om}` of the bank's slots, with
    :math:`p_{om}(x)` the softmax over the slots of the MLP's scores. The
    features are those of :meth:`sk_memsel.nn.MemorySelector.forward` with
    ``sampling=False``, so ``transform`` is deterministic.

    References
    ----------
    .. [1] G. Debot, P. Barbiero, F. Giannini, G. Ciravegna, M. Diligenti,
       G. Marra, "Interpretable Concept-Based Memory Reasoning", NeurIPS 2024.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sk_memsel import MemorySelectorTransformer
    >>> X, y = load_iris(return_X_y=True)
    >>> selector = MemorySelectorTransformer(
    ...     out_features=3, memory_size=4, embedding_size=2, max_epochs=5,
    ...     random_state=0,
    ... ).fit(X, y)
    >>> selector.transform(X).shape
    (150, 6)
    >>> selector.select_memory(X[:5]).shape
    (5, 3)
    >>> selector.memory_bank_.shape
    (3, 4, 2)
    >>> selector.get_feature_names_out()[:2].tolist()
    ['memoryselectortransformer0', 'memoryselectortransformer1']

    The head's task is read from ``y`` (``task="auto"``): whole numbers with
    few values, such as ratings saved as floats, are classes; ``task`` says
    otherwise:

    >>> ratings = (X[:, 2] * 2).round()  # 2.0 to 14.0, 13 values
    >>> MemorySelectorTransformer(max_epochs=1).fit(X, ratings).task_
    'classification'
    >>> MemorySelectorTransformer(max_epochs=1, task="regression").fit(X, ratings).task_
    'regression'
    """

    def __init__(
        self,
        out_features=8,
        *,
        memory_size=8,
        embedding_size=4,
        hidden_size=64,
        temperature=1.0,
        standardize=True,
        task="auto",
        max_epochs=30,
        batch_size=64,
        lr=0.005,
        optimizer="adam",
        weight_decay=0.0,
        device="cpu",
        random_state=None,
        verbose=0,
        callbacks=None,
        validation_fraction=None,
        n_iter_no_change=10,
        n_threads="auto",
    ):
        self.out_features = out_features
        self.memory_size = memory_size
        self.embedding_size = embedding_size
        self.hidden_size = hidden_size
        self.temperature = temperature
        self.standardize = standardize
        self.task = task
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
        self.n_threads = n_threads

    _parameter_constraints: dict = {
        **NeuralTransformerBase._parameter_constraints,
        **dict.fromkeys(
            ("out_features", "memory_size", "embedding_size", "hidden_size"),
            [IntInterval(1, None, closed="left")],
        ),
        "temperature": [Interval(Real, 0, None, closed="neither")],
    }

    def _build_encoder(self, input_shape):
        selector = MemorySelector(
            in_features=int(input_shape[0]),
            memory_size=int(self.memory_size),
            embedding_size=int(self.embedding_size),
            out_features=int(self.out_features),
            temperature=float(self.temperature),
            hidden_size=int(self.hidden_size),
        )
        n_features = int(self.out_features) * int(self.embedding_size)
        return _SelectorEncoder(selector), n_features

    def _after_fit(self):
        memory = self.net_.module_.encoder.selector.memory_bank
        self.memory_bank_ = memory.detach().cpu().numpy().copy()

    def select_memory(self, X, *, return_probabilities=False):
        """Tell which memory slot each output selects for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input.
        return_probabilities : bool, default=False
            Also return the selection probabilities.

        Returns
        -------
        slots : ndarray of shape (n_samples, out_features), dtype int64
            Index of the most probable slot of each output's bank.
        probabilities : ndarray of shape (n_samples, out_features, \
memory_size)
            Only with ``return_probabilities=True``: the probability of each
            slot (each ``probabilities[i, o]`` sums to 1).
        """
        check_is_fitted(self, "net_")
        probabilities = self._read(X, "selection_probabilities")
        slots = probabilities.argmax(axis=-1).astype(np.int64)
        if return_probabilities:
            return slots, probabilities
        return slots
