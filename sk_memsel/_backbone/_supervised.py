"""``predict``, ``predict_proba`` and ``score`` of the supervised estimators."""

import numpy as np
from scipy.special import expit, softmax
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils import ClassifierTags, RegressorTags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted


def task_of(estimator):
    """The fitted task, or before fitting the task the parameters ask for."""
    return getattr(estimator, "task_", None) or estimator._requested_task()


def _may_predict(estimator):
    if task_of(estimator) == "reconstruction":
        raise AttributeError(
            f"predict is available only when {type(estimator).__name__} learns "
            "y; it was set to reconstruct its input."
        )
    return True


def _may_predict_proba(estimator):
    task = task_of(estimator)
    if task not in ("classification", "auto"):
        raise AttributeError(
            f"predict_proba is available only for classification; this "
            f"{type(estimator).__name__} is for {task}."
        )
    return True


class SupervisedOutputMixin:
    """Predictions from a network trained on ``y`` (after ``TargetMixin``).

    The estimator says which task its parameters ask for with
    ``_requested_task()`` (``"auto"`` when ``y`` decides); once fitted,
    ``task_`` decides. ``predict`` exists for classification and regression,
    ``predict_proba`` for classification only.
    """

    def _requested_task(self):
        return "auto"

    def transform(self, X):
        """Reduce ``X`` to the selected features.

        scikit-learn's ``SelectorMixin.transform``, after the checks that
        ``fit`` makes of unusual inputs (``_estimator._checked_input``): a
        torch tensor that requires grad or is bfloat16 is read as float32,
        and dates, masked values or sparse columns of NaN are refused by
        name, never passed through.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)

        Returns
        -------
        X_selected : ndarray or DataFrame of shape (n_samples, n_selected)
        """
        from ._estimator import _checked_input

        return super().transform(_checked_input(X, type(self).__name__))

    def __sklearn_tags__(self):
        # scikit-learn reads the tags of the unfitted estimator (a clone) to
        # choose a stratified split and the scorers' methods: the task the
        # parameters ask for decides; "auto" leaves the estimator neither
        tags = super().__sklearn_tags__()
        task = self._requested_task()
        if task == "classification":
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags()
        elif task == "regression":
            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
        return tags

    def _network_output(self, X):
        """The fitted network's raw output for ``X`` (logits, scaled values)."""
        check_is_fitted(self, "net_")
        X = self._validate_X(X, reset=False)
        return self._forward(X)

    @available_if(_may_predict)
    def predict(self, X):
        """Predict class labels or regression values for ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        out = self._network_output(X)
        if self._is_multilabel():
            return (out > 0).astype(np.int64)
        if self.task_ == "classification":
            return self.classes_[np.argmax(out, axis=1)]
        return self._decode_regression(out.astype(np.float64))

    @available_if(_may_predict_proba)
    def predict_proba(self, X):
        """Class probabilities for ``X`` (classification only).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``; rows sum to 1. For a
            multilabel ``y`` (a 0/1 matrix), the probability of each label,
            independently.
        """
        out = self._network_output(X).astype(np.float64)
        if self._is_multilabel():
            return expit(out)  # one probability per label
        return softmax(out, axis=1)

    def score(self, X, y, sample_weight=None):
        """Accuracy (classification) or :math:`R^2` (regression) of ``predict``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,) or None

        Returns
        -------
        score : float
        """
        check_is_fitted(self, "net_")
        if y is None:
            raise ValueError(
                f"This {type(self).__name__} was trained for {self.task_}; "
                "score needs y."
            )
        y_pred = self.predict(X)
        metric = accuracy_score if self.task_ == "classification" else r2_score
        return float(metric(y, y_pred, sample_weight=sample_weight))
