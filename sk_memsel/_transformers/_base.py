"""What the neural transformers of sk_memsel have in common.

Each transformer builds a :class:`torch.nn.Module` from :mod:`sk_memsel.nn`
(the *encoder*, which turns a sample into a vector of learned features), puts
a linear *head* on top of it and trains the pair through the shared backbone
(:class:`~sk_memsel._backbone.NeuralEstimatorMixin`):

- ``fit(X, y)`` learns supervised: the head predicts ``y`` (classification
  or regression, inferred from ``y``);
- ``fit(X)`` learns self-supervised: the head reconstructs the (standardised)
  input from the features, so the transformer also works in an unsupervised
  Pipeline.

``transform`` drops the head and returns the encoder's features.

Inputs are tabular ``(n_samples, n_features)`` arrays, and for the
transformers that read sequences also ``(n_samples, n_channels,
n_timepoints)`` arrays, the layout of aeon and sktime.
"""

from abc import ABCMeta, abstractmethod

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .._backbone import NeuralEstimatorMixin, all_or_nothing, start_training
from .._backbone._compat import StrOptions, fit_context
from .._backbone._data import peak_one, row_chunks

__all__ = ["FeatureNet", "NeuralTransformerBase"]

#: the largest magnitude float32 holds
_FLOAT32_MAX = float(np.finfo(np.float32).max)


class FeatureNet(nn.Module):
    """An encoder of learned features with a linear head for training.

    ``forward`` (used in training) returns the head's output; the
    transformers read the features from ``encoder`` directly.

    Parameters
    ----------
    encoder : torch.nn.Module
        Maps a batch of inputs to features of shape (batch, n_features).
    n_features : int
        Width of the encoder's output.
    n_targets : int
        Width of the head's output (classes, regression outputs, or the
        flattened input for reconstruction).
    """

    def __init__(self, encoder, n_features, n_targets):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(n_features, n_targets)

    def forward(self, x):
        return self.head(self.encoder(x))


def _shape_of(X):
    """Shape of an array-like (``()`` when it has none that numpy can tell)."""
    if hasattr(X, "shape"):
        return tuple(X.shape)
    try:
        return np.asarray(X).shape
    except (TypeError, ValueError):
        return ()  # ragged or odd input: validate_data gives the error


def _float32(rows):
    """Rows of ``X`` as float32, the values the network reads.

    An out-of-core ``X`` is read in its own dtype; its values are rounded to
    float32 as those of an ``X`` in memory are when validated, so that both
    give the same statistics and features. The arithmetic on them is done in
    float64 (numpy promotes them when they meet the float64 statistics).
    """
    return np.asarray(rows, dtype=np.float32)


def _mean_and_scale(X, weights=None):
    """Weighted mean and standard deviation of each feature of ``X`` (float64).

    Per column of a 2-D ``X``; per channel of a 3-D ``X``, over the samples
    and time points (every time point carries the weight of its row). The
    statistics are those of scikit-learn's :class:`StandardScaler`, fed a
    chunk of rows at a time so that an out-of-core ``X`` is never loaded
    whole, in the shape that broadcasts against ``X``. A spread below 1e-8
    becomes 1: such a feature (a constant one) is only centred.
    """
    sequences = len(X.shape) == 3
    scaler = StandardScaler()
    for rows in row_chunks(X):
        w = None if weights is None else weights[rows]
        if w is not None and not w.any():
            continue  # nothing to add; StandardScaler would divide by zero
        # the float32 values the network reads, in float64: StandardScaler
        # computes in the dtype of its input, the sums of the weights too
        block = _float32(X[rows]).astype(np.float64)
        if sequences:  # each time point a row of channels
            block = block.transpose(0, 2, 1).reshape(-1, X.shape[1])
            w = None if w is None else np.repeat(w, X.shape[2])
        # the variance of a constant feature can round to a tiny negative
        # number (StandardScaler subtracts a correction term); partial_fit
        # then takes its square root and warns, though it sets that scale_
        # to 1 itself: not a warning for the user
        with np.errstate(invalid="ignore"):
            scaler.partial_fit(block, sample_weight=w)
    shape = (1, X.shape[1], 1) if sequences else (1, X.shape[1])
    mean = scaler.mean_.reshape(shape)
    scale = np.sqrt(np.maximum(scaler.var_, 0.0)).reshape(shape)
    # not StandardScaler's scale_: its test for a constant feature depends on
    # the number of rows and the mean; this rule is the one the transformers
    # have always used
    scale[scale < 1e-8] = 1.0
    return mean, scale


class NeuralTransformerBase(
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    NeuralEstimatorMixin,
    BaseEstimator,
    metaclass=ABCMeta,
):
    """Base of the neural transformers (see the module docstring).

    Subclasses implement:

    - ``_parameter_constraints``: this class's, merged with their own;
    - optionally ``_check_params()``: check the rules that span parameters
      (raise ValueError);
    - ``_build_encoder(input_shape)``: return ``(encoder, n_features_out)``
      for module inputs of shape ``(batch, *input_shape)``;
    - optionally ``_layout(Z)``: turn the standardised input (2-D, or 3-D
      ``(n, n_channels, n_timepoints)``) into the module's input array;
    - ``_accepts_sequences``: whether 3-D input is allowed.
    """

    _parameter_constraints: dict = {
        **NeuralEstimatorMixin._parameter_constraints,
        "standardize": ["boolean"],
        "task": [StrOptions({"auto", "classification", "regression"})],
    }

    #: whether 3-D input (n_samples, n_channels, n_timepoints) is accepted
    _accepts_sequences = False

    #: sparse X is refused with this reason: standardising centres every
    #: feature, which fills in every zero, and the standardised copy that
    #: training reads would be the dense matrix
    _accepts_sparse = False
    _dense_only_because = (
        "it standardises (centres) every feature and trains on the "
        "standardised copy, which is dense"
    )

    # ------------------------------------------------------------- hooks
    def _check_params(self):
        """Check the rules that span several parameters."""

    @abstractmethod
    def _build_encoder(self, input_shape):
        """Return ``(encoder, n_features_out)`` for inputs ``(batch, *input_shape)``."""

    def _layout(self, Z):
        """Module input from the standardised input (identity by default)."""
        return Z

    # ------------------------------------------------------------- input
    def _check_sequence_shape(self, X):
        """Clear errors for inputs whose layout differs from the fitted one."""
        shape = _shape_of(X)
        if not shape:
            return
        if len(shape) == 3 and not self._accepts_sequences:
            raise ValueError(
                f"{type(self).__name__} takes tabular input of shape "
                f"(n_samples, n_features); got a 3-D array of shape {shape}."
            )
        if len(shape) > 3:
            raise ValueError(
                "X must be 2-D (n_samples, n_features) or 3-D (n_samples, "
                f"n_channels, n_timepoints); got an array of shape {shape}."
            )
        if len(shape) == 3 and 0 in shape[1:]:
            raise ValueError(
                f"X has shape {shape}: sequences need at least one channel and "
                "one time point (n_samples, n_channels, n_timepoints)."
            )
        if not hasattr(self, "n_timepoints_in_"):
            return
        fitted_3d = self.n_timepoints_in_ is not None
        if fitted_3d and len(shape) != 3:
            raise ValueError(
                f"{type(self).__name__} was fitted on sequences of shape "
                f"(n_samples, {self.n_features_in_}, {self.n_timepoints_in_}) "
                f"(n_samples, n_channels, n_timepoints); got X of shape {shape}."
            )
        if not fitted_3d and len(shape) == 3:
            raise ValueError(
                f"{type(self).__name__} was fitted on tabular input of shape "
                f"(n_samples, {self.n_features_in_}); got a 3-D X of shape "
                f"{shape}."
            )
        if fitted_3d and shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {shape[1]} channels, but {type(self).__name__} was "
                f"fitted on {self.n_features_in_} channels (X must have shape "
                f"(n_samples, {self.n_features_in_}, {self.n_timepoints_in_}))."
            )
        if fitted_3d and shape[2] != self.n_timepoints_in_:
            raise ValueError(
                f"X has {shape[2]} time points, but {type(self).__name__} was "
                f"fitted on {self.n_timepoints_in_} time points (X must have "
                f"shape (n_samples, {self.n_features_in_}, "
                f"{self.n_timepoints_in_}))."
            )

    def _prepare_fit_input(self, X, sample_weight):
        """``(Z, sample_weight)``: the standardised ``X`` and checked weights."""
        if hasattr(self, "n_timepoints_in_"):
            del self.n_timepoints_in_  # a new fit: nothing to compare with
        self._check_sequence_shape(X)
        X = self._validate_X(X, reset=True, allow_nd=self._accepts_sequences)
        sample_weight = self._validated_sample_weight(sample_weight, X)
        self.n_timepoints_in_ = X.shape[2] if len(X.shape) == 3 else None
        if self.standardize:
            # 2-D input per feature, 3-D input per channel (over the samples
            # and time points); weighted as the loss is, so that a row of
            # weight zero counts as absent
            mean, scale = _mean_and_scale(X, peak_one(sample_weight))
        else:
            mean = np.zeros([1] * len(X.shape))
            scale = np.ones([1] * len(X.shape))
        self._input_mean, self._input_scale = mean, scale
        Z = np.empty(X.shape, dtype=np.float32)
        for rows in row_chunks(X):
            Z[rows] = self._standardised(X[rows], rows.start)
        return Z, sample_weight

    def _standardised(self, X, first_row):
        """Rows of ``X`` from ``first_row`` on, standardised as in fit (float32).

        Values beyond the range of float32 once standardised (the input far
        outside the range seen in fit) are refused, rather than given to the
        network as infinities.
        """
        # in float64 (the statistics' dtype), so that extreme but finite
        # values cannot overflow
        Z = (_float32(X) - self._input_mean) / self._input_scale
        peak = float(max(Z.max(), -Z.min()))  # no copy of Z, as abs() would make
        if peak > _FLOAT32_MAX:
            row = int(np.argmax(np.abs(Z).reshape(len(Z), -1).max(axis=1)))
            raise ValueError(
                f"Row {first_row + row} of X has values far outside the range "
                "seen in fit: standardised with the mean and standard deviation "
                f"of the training data, they reach {peak:.3g}, more than float32 "
                f"(the precision of the network) holds ({_FLOAT32_MAX:.3g}). "
                "Check X for wrongly scaled or corrupted values (a changed "
                "unit, a missing-value code such as 1e30), or scale it as the "
                "training data were."
            )
        return Z.astype(np.float32)

    # ------------------------------------------------------------- fitting
    @all_or_nothing
    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Learn the features from ``X`` (and ``y`` when given).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or \
(n_samples, n_channels, n_timepoints)
            Training input. 3-D input is accepted by the transformers that
            read sequences. Sparse matrices are refused with a TypeError:
            standardising centres every feature, which would make the
            training copy dense (see :ref:`large_and_sparse`).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), \
default=None
            Target. Class labels train a classification head, real values a
            regression head. ``None`` trains the features to reconstruct the
            standardised input.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Weight of each row in the training loss and in the
            standardisation statistics: a weight of zero acts like a dropped
            row, an integer weight like repeated rows. See
            :ref:`sample_weights`.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        self._check_params()
        Z, sample_weight = self._prepare_fit_input(X, sample_weight)
        inputs = np.ascontiguousarray(self._layout(Z), dtype=np.float32)
        # a reconstruction of tabular input is the module's input itself:
        # handing over the same array lets batching and the GPU copy skip a
        # second gather and copy of it (sequences are reconstructed flat)
        if inputs is Z and Z.ndim == 2:
            rows = inputs
        else:
            rows = np.ascontiguousarray(Z.reshape(len(Z), -1))
        target, n_targets, stratify = self._training_target(
            Z,
            y,
            # without y the head reconstructs the input, whatever task says
            objective="auto" if y is None else self.task,
            reconstruct=rows,
            sample_weight=sample_weight,
        )
        self._module_shape = (tuple(inputs.shape[1:]), n_targets)
        start_training(
            self, inputs, target, stratify=stratify, sample_weight=sample_weight
        )
        self._after_fit()
        return self

    def _build_module(self):
        """The encoder and its training head (a backbone hook)."""
        input_shape, n_targets = self._module_shape
        encoder, n_features_out = self._build_encoder(input_shape)
        self._n_features_out = n_features_out
        return FeatureNet(encoder, n_features_out, n_targets)

    def _after_fit(self):
        """Read fitted state out of the trained module (subclass hook)."""

    # ------------------------------------------------------------- reading
    def _read(self, X, method="forward"):
        """Run ``X`` through the fitted encoder (or one of its methods).

        The encoder is called directly, in eval mode and batch by batch, so
        the fitted module is never modified and concurrent calls are safe.
        ``X`` is validated, then standardised and read a chunk of rows at a
        time, so an out-of-core ``X`` is never loaded whole. An output that
        is not finite is refused (see :meth:`_check_finite`).
        """
        check_is_fitted(self, "net_")
        self._check_sequence_shape(X)
        X = self._validate_X(X, reset=False, allow_nd=self._accepts_sequences)
        function = getattr(self.net_.module_.encoder, method)
        outputs = []
        # whole prediction batches per chunk: the same batches as in one read
        for rows in row_chunks(X, multiple=self._predict_batch_size()):
            Z = self._standardised(X[rows], rows.start)
            inputs = np.ascontiguousarray(self._layout(Z), dtype=np.float32)
            output = self._forward(inputs, function)
            outputs.append(self._check_finite(output, Z, rows.start))
        return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)

    def _check_finite(self, output, Z, first_row):
        """``output`` of the standardised rows ``Z`` of ``X``, or a ValueError.

        ``first_row`` is the row of ``X`` that ``Z`` starts at. A network
        given finite values far outside those it was trained on can compute
        NaN or infinity (a variance in a layer normalisation overflows
        float32, for example); that is never returned silently.
        """
        finite = np.isfinite(output.reshape(len(output), -1)).all(axis=1)
        if finite.all():
            return output
        row = int(np.argmin(finite))
        peak = float(np.abs(Z[row]).max())
        read = ""
        if self.standardize:
            read = "standardised with the mean and standard deviation of the "
            read += "training data, "
        raise ValueError(
            f"{type(self).__name__} computed features that are NaN or infinite "
            f"for row {first_row + row} of X, whose values are far outside the "
            f"range seen in fit: {read}they reach {peak:.3g}. Check X for "
            "wrongly scaled or corrupted values, or scale it as the training "
            "data were."
        )

    def transform(self, X):
        """Return the learned features of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or \
(n_samples, n_channels, n_timepoints)
            Input in the layout seen in ``fit``.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features_out), dtype float32
            The features; ``get_feature_names_out()`` names the columns.

        Raises
        ------
        ValueError
            When a row of ``X`` is so far outside the range seen in ``fit``
            that its standardised values exceed float32, or that the network
            computes NaN or infinity for it; the message names the row.
        """
        return self._read(X)

    # ------------------------------------------------------------- tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.input_tags.three_d_array = self._accepts_sequences
        # the features are computed in float32, whatever the input dtype
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
