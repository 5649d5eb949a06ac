"""Training targets: what an estimator learns from ``y``, or from ``X`` itself.

One encoder for every estimator and for every call: :meth:`TargetMixin.
_prepare_target` fixes the task, the classes and the target scaling on the
first call to ``fit`` or ``partial_fit``; :meth:`TargetMixin._encode_target`
encodes the ``y`` of every later ``partial_fit`` call the same way; and
:meth:`TargetMixin._training_target` chooses between a reconstruction of the
input and a supervised target.
"""

import numbers
import warnings

import numpy as np
import torch
from sklearn.preprocessing import LabelEncoder, StandardScaler
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d

from ._data import _numeric_target, peak_one
from ._warnings import warn

_TASKS = ("auto", "classification", "regression")

#: with ``task="auto"``, floats that are whole numbers are classes (labels
#: saved as floats, such as 0.0 / 1.0 / 2.0) up to this many different
#: values, and a regression target beyond; integers are classes, with a
#: warning beyond it
AUTO_CLASSES = 20

#: fitted attributes that describe the target; a new fit removes them first
_TARGET_STATE = (
    "task_",
    "classes_",
    "n_outputs_",
    "_y_mean",
    "_y_scale",
    "_multilabel",
)


def _unsorted_labels_are_an_error(function, y):
    """``function(y)``, with labels of mixed types a clear error.

    scikit-learn's warning that more than half the labels are distinct is
    left out: :func:`_inferred_task` has its own rule for numbers that may
    be a quantity, and a task that was asked for is not second-guessed.
    """
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="The number of unique classes is greater than 50%"
            )
            return function(y)
    except TypeError as exc:  # e.g. strings and None: they cannot be sorted
        raise ValueError(
            "The labels in y cannot be sorted: they mix types (for example "
            "strings and None for missing labels). Give every label as one "
            "type, and drop or fill the missing ones."
        ) from exc
    except ValueError as exc:
        kinds = sorted({type(label).__name__ for label in np.ravel(y)})
        if "Unknown label type" not in str(exc) or len(kinds) < 2:
            raise
        raise ValueError(
            f"Unknown label type: the labels in y mix types ({', '.join(kinds)}), "
            "so they cannot be read as classes. Give every label as one type "
            "(all strings or all numbers)."
        ) from exc


def _inferred_task(y, parameter="task"):
    """The task ``task="auto"`` reads from ``y``.

    ``parameter`` names the estimator's task parameter in the warning.

    Strings, booleans, categories and integers are class labels; floats are
    a regression target, unless they are all whole numbers with at most
    :data:`AUTO_CLASSES` different values (class labels saved as floats).
    Integers with more different values than that are still classes, with
    a warning: they may be counts or amounts meant as a regression target.
    """
    target_type = _unsorted_labels_are_an_error(type_of_target, y)
    if target_type in ("continuous", "continuous-multioutput"):
        return "regression"
    if target_type == "multilabel-indicator" or y.dtype.kind not in "iuf":
        return "classification"
    n_values = len(np.unique(y))
    if n_values <= AUTO_CLASSES:
        return "classification"
    if y.dtype.kind == "f":
        return "regression"
    warn(
        f"y holds {n_values} different whole numbers, read as {n_values} "
        "classes. If y is an amount or a count to predict, pass "
        f"{parameter}='regression'; pass {parameter}='classification' to keep "
        "the classes without this warning."
    )
    return "classification"


class TargetMixin:
    """Encoding of ``y`` into the training target, and back for predictions.

    Sets ``task_`` (``"classification"``, ``"regression"``, or
    ``"reconstruction"`` when the input itself is the target), ``classes_``
    for classification and ``n_outputs_`` for supervised tasks.
    """

    #: the estimator's parameter that names its task, for the messages
    _task_parameter = "task"

    def _training_target(
        self,
        X,
        y,
        objective="auto",
        reconstruct=None,
        sample_weight=None,
        classes=None,
    ):
        """The target, output width and stratification labels of a fit.

        Parameters
        ----------
        X : ndarray
            The validated input.
        y : array-like or None
        objective : {"auto", "reconstruction", "classification", "regression"}
            ``"auto"`` reconstructs the input when ``y`` is None and learns
            ``y`` otherwise, with the task inferred from it.
        reconstruct : ndarray or None
            What a reconstruction reproduces; ``X`` when None.
        sample_weight : ndarray or None
            Row weights: a regression target is standardised with the
            weighted mean and spread.
        classes : array-like or None
            Every class label later calls may hold (``partial_fit``'s
            ``classes``), passed to :meth:`_prepare_target`.

        Returns
        -------
        target, n_outputs, stratify
            The loss is :meth:`_criterion`, of the ``task_`` set here.
            ``stratify`` holds the class codes for classification (the
            validation split keeps the class proportions), else None.
        """
        if objective == "reconstruction" or (objective == "auto" and y is None):
            for name in _TARGET_STATE:  # _prepare_target clears them otherwise
                if hasattr(self, name):
                    delattr(self, name)
            self.task_ = "reconstruction"
            target = X if reconstruct is None else reconstruct
            return target, target.shape[1], None
        target = self._prepare_target(
            X, y, task=objective, classes=classes, sample_weight=sample_weight
        )
        return target, self._n_target_units(), self._strata(target)

    def _prepare_target(self, X, y, task="auto", classes=None, sample_weight=None):
        """Check ``y`` against ``X`` and turn it into a training target.

        Parameters
        ----------
        X : ndarray
            The validated input (only its length is used).
        y : array-like
        task : {"auto", "classification", "regression"}
            ``"auto"`` infers the task from ``y`` (see :func:`_inferred_task`).
        classes : array-like or None
            Every class label that any later call may hold (``partial_fit``'s
            ``classes``); ``None`` takes the classes of ``y``.
        sample_weight : ndarray or None
            Row weights; a regression target is standardised with the
            weighted mean and spread (a row of weight zero counts as absent).

        Returns
        -------
        target : ndarray
            int64 class codes, or standardised float32 values.
        """
        if task not in _TASKS:
            raise ValueError(
                f"task {task!r} is not known; use 'auto', 'classification' "
                "or 'regression'."
            )
        y = self._checked_y(X, y)
        for name in _TARGET_STATE:  # what an earlier fit learned of its y
            if hasattr(self, name):
                delattr(self, name)
        if classes is not None:
            if task == "regression":
                raise ValueError(
                    "classes= was given, but task='regression'; classes are only "
                    "for classification."
                )
            classes = np.unique(self._checked_classes(classes))
            if len(classes) < 2:
                raise ValueError(
                    f"classes={classes.tolist()!r} has fewer than two labels; "
                    "classification needs at least two."
                )
            self._set_classes(classes)
            return self._class_codes(y)
        if task == "auto":
            task = _inferred_task(y, self._task_parameter)
        if task == "classification" and y.ndim == 2:
            target_type = _unsorted_labels_are_an_error(type_of_target, y)
            if target_type == "multilabel-indicator":
                # several yes/no labels per row: one independent sigmoid each
                self.classes_ = np.arange(y.shape[1])
                self.task_ = "classification"
                self.n_outputs_ = y.shape[1]
                self._multilabel = True
                return y.astype(np.float32)
        if task == "classification":
            self._check_labels(y)
            encoder = LabelEncoder().fit(y)
            self._set_classes(encoder.classes_)
            return encoder.transform(y).astype(np.int64)
        y2 = _numeric_target(y)
        self.task_ = "regression"
        self.n_outputs_ = y2.shape[1]
        # mean and spread of y divided by its largest magnitude, so that
        # squaring values as large as 1e155 (the variance) cannot overflow
        # (weighted: rows of weight zero count as absent; None: plain mean)
        weights = peak_one(sample_weight)
        counted = y2 if weights is None else y2[weights > 0]
        size = np.abs(counted).max(axis=0)
        size = np.where(size > 0, size, 1.0)
        # weighted, a constant output's variance can round to a tiny negative
        # number, whose square root StandardScaler would warn about: such an
        # output gets a scale of 1 below, not a warning
        with np.errstate(invalid="ignore"):
            scaler = StandardScaler().fit(y2 / size, sample_weight=weights)
        if not np.any(scaler.var_ > 0):
            value = counted.ravel()[0] if counted.size else y2.ravel()[0]
            raise ValueError(
                f"y is constant (every value is {value:g}): a regression on it "
                "has nothing to learn, so no feature is more useful than "
                "another. Check that y is the right column; a target with a "
                "single class is not a classification either."
            )
        self._y_mean = scaler.mean_ * size
        self._y_scale = np.where(scaler.var_ > 0, scaler.scale_ * size, 1.0)
        return self._scaled(y2)

    def _encode_target(self, X, y, classes=None):
        """The target of a later ``partial_fit`` call, encoded as the first."""
        y = self._checked_y(X, y)
        if self._is_multilabel():
            if y.ndim != 2 or y.shape[1] != self.n_outputs_:
                raise ValueError(
                    f"y must be a 0/1 matrix of {self.n_outputs_} labels per row, "
                    f"as in the first call; got y with shape {y.shape}."
                )
            if _unsorted_labels_are_an_error(type_of_target, y) not in (
                "multilabel-indicator",
                "binary",
            ):
                raise ValueError("y must hold only 0 and 1 for multilabel targets.")
            return y.astype(np.float32)
        if self.task_ == "regression":
            if classes is not None:
                raise ValueError(
                    "classes= was given, but this estimator was fitted for "
                    "regression; classes are only for classification."
                )
            y2 = _numeric_target(y)
            if y2.shape[1] != self.n_outputs_:
                raise ValueError(
                    f"y has {y2.shape[1]} target(s), but the estimator was fitted "
                    f"on {self.n_outputs_}."
                )
            return self._scaled(y2)
        if classes is not None and not np.array_equal(
            np.unique(self._checked_classes(classes)), self.classes_
        ):
            raise ValueError(
                f"classes={np.asarray(classes).tolist()!r} is not the set of "
                f"classes of the first call, {self.classes_.tolist()!r}."
            )
        return self._class_codes(y)

    def _class_weighted(self, y, sample_weight, *, partial=False):
        """``sample_weight`` times the weight of each row's class.

        ``class_weight`` (``None``, ``"balanced"`` or ``{label: weight}``)
        becomes one weight per row with scikit-learn's
        :func:`~sklearn.utils.class_weight.compute_sample_weight`; it is an
        error unless ``task_`` is classification. ``partial`` (a
        ``partial_fit`` call) refuses ``"balanced"``, which one chunk cannot
        tell, as scikit-learn's ``SGDClassifier`` does.
        """
        class_weight = getattr(self, "class_weight", None)
        if class_weight is None:
            return sample_weight
        if self.task_ != "classification":
            raise ValueError(
                f"class_weight={class_weight!r} was given, but the target is "
                f"{self.task_}; class_weight is only for classification. Use "
                "sample_weight to weight the rows."
            )
        if partial and isinstance(class_weight, str):
            raise ValueError(
                "class_weight='balanced' is not supported by partial_fit: one "
                "chunk cannot tell the class frequencies of the whole data. "
                "Compute them with sklearn.utils.class_weight."
                "compute_class_weight and pass class_weight as a dict."
            )
        if isinstance(class_weight, list) and not self._is_multilabel():
            raise ValueError(
                "class_weight is a list of dicts, which is for a multilabel y "
                "(one dict per label); give one dict {label: weight} for "
                "class labels."
            )
        for weights in (
            class_weight if isinstance(class_weight, list) else [class_weight]
        ):
            for label, weight in getattr(weights, "items", dict)():
                if (
                    not isinstance(weight, numbers.Real)
                    or isinstance(weight, bool)
                    or not np.isfinite(weight)
                    or weight < 0
                ):
                    raise ValueError(
                        f"class_weight gives class {label!r} the weight {weight!r}; "
                        "class weights must be finite numbers of 0 or more."
                    )
        weights = compute_sample_weight(class_weight, np.asarray(y))
        if sample_weight is not None:
            weights = weights * sample_weight
        if not np.any(weights > 0):
            raise ValueError(
                "sample_weight times class_weight is zero for every row: "
                "sample weights must contain at least one non-zero number."
            )
        return weights

    def _is_multilabel(self):
        """Whether ``y`` is a 0/1 matrix of independent labels."""
        return getattr(self, "_multilabel", False)

    def _strata(self, target):
        """Labels that a validation split keeps in proportion, or None."""
        if self.task_ == "classification" and not self._is_multilabel():
            return target
        return None

    def _criterion(self):
        """The loss matching ``task_``."""
        if self._is_multilabel():
            return torch.nn.BCEWithLogitsLoss
        if self.task_ == "classification":
            return torch.nn.CrossEntropyLoss
        return torch.nn.MSELoss

    def _n_target_units(self):
        """Width of the output layer for ``task_``."""
        if self.task_ == "classification":
            return len(self.classes_)
        return self.n_outputs_

    def _decode_regression(self, out):
        """Undo the target standardisation of :meth:`_prepare_target`."""
        values = out * self._y_scale + self._y_mean
        return values.ravel() if self.n_outputs_ == 1 else values

    # ------------------------------------------------------------- helpers
    def _checked_y(self, X, y):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target "
                "y is None."
            )
        if isinstance(y, np.ma.MaskedArray):
            n_masked = int(np.ma.getmaskarray(y).sum())
            if n_masked:
                raise ValueError(
                    f"y is a masked array with {n_masked} masked value(s); a "
                    "row without a target cannot be learned from: drop those "
                    "rows or fill them in."
                )
            y = y.data
        if isinstance(y, torch.Tensor):
            y = y.detach().cpu()
            y = y.float() if y.dtype == torch.bfloat16 else y
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if y.ndim not in (1, 2):
            raise ValueError(
                f"y must be 1-D (one label or value per row) or 2-D (several "
                f"regression targets); got y with shape {y.shape}."
            )
        if len(y) != X.shape[0]:
            raise ValueError(
                f"X has {X.shape[0]} samples but y has {len(y)}; they must match."
            )
        if y.dtype.kind == "c":
            raise ValueError("y holds complex numbers; give real numbers or labels.")
        if y.dtype.kind in "mM":
            raise ValueError(
                f"y holds dates or durations (dtype {y.dtype}); give real "
                "numbers or labels (a duration in seconds: y / np.timedelta64(1, "
                "'s'))."
            )
        if y.dtype.kind in "fO":
            import pandas as pd

            missing = np.flatnonzero(pd.isna(y).reshape(len(y), -1).any(axis=1))
            if len(missing):
                raise ValueError(
                    f"y is missing in {len(missing)} row(s) (NaN or None), the "
                    f"first at row {missing[0]}; drop those rows or fill them in."
                )
        return y

    @staticmethod
    def _checked_classes(classes):
        listed = repr(list(classes))[:200] if np.ndim(classes) == 1 else ""
        mixed = np.ndim(classes) == 1 and not isinstance(classes, np.ndarray)
        if mixed and len({isinstance(c, (str, bytes)) for c in classes}) > 1:
            # NumPy would silently read [0, 1, "a"] as the strings "0", "1", "a"
            raise ValueError(
                f"classes={listed} mixes text and numbers; give every label "
                "as one type, as y holds them."
            )
        classes = np.asarray(classes)
        if classes.ndim != 1:
            raise ValueError(
                f"classes must be a 1-D list of labels, got shape {classes.shape}."
            )
        if classes.dtype.kind in "fO":
            import pandas as pd

            if pd.isna(classes).any():
                raise ValueError(
                    f"classes={listed} holds a missing label (NaN or None). "
                    "Give the labels that rows may have; a row whose label is "
                    "missing cannot be learned from: drop it, or give it a "
                    "label of its own (for example 'unknown')."
                )
        try:
            np.unique(classes)
        except TypeError as exc:
            raise ValueError(
                f"classes={listed} mixes labels of different types, which "
                "cannot be sorted; give every label as one type, as y holds "
                "them."
            ) from exc
        return classes

    @staticmethod
    def _check_labels(y):
        _unsorted_labels_are_an_error(check_classification_targets, y)
        if y.ndim != 1:
            raise ValueError(
                f"Classification needs a 1-D y of class labels; got y with shape "
                f"{y.shape}."
            )

    def _set_classes(self, classes):
        if len(classes) < 2:
            raise ValueError(
                f"y has a single class ({classes[0]!r}); classification needs at "
                "least two."
            )
        self.classes_ = classes
        self.task_ = "classification"
        self.n_outputs_ = 1

    def _class_codes(self, y):
        """Codes of ``y`` in ``classes_``; an error for unknown labels."""
        self._check_labels(y)
        known = np.isin(y, self.classes_)
        if not known.all():
            unknown = np.unique(y[~known])
            raise ValueError(
                f"y contains labels that are not in classes: "
                f"{unknown.tolist()[:10]!r}; the classes fixed by the first call "
                f"are {self.classes_.tolist()!r}. Give every label that any "
                "chunk may hold with classes= on the first call to partial_fit, "
                "or fit again."
            )
        return np.searchsorted(self.classes_, y).astype(np.int64)

    def _scaled(self, y2):
        return ((y2 - self._y_mean) / self._y_scale).astype(np.float32)
