"""The skorch net of every estimator: the extra-loss hook, the stop reason, the
epoch table, the optimizers and the epoch budget."""

import math
import os
import re
import sys

import torch
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping, PrintLog
from skorch.utils import to_tensor

from ._data import WEIGHT_KEY
from ._warnings import warn

_OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}


def auto_epochs(n_train, batch_size, steps):
    """Epochs that make about ``steps`` optimizer steps on ``n_train`` rows.

    >>> auto_epochs(2000, 256, 4000), auto_epochs(1000, 256, 4000)
    (500, 1000)
    >>> auto_epochs(60000, 256, 4000), auto_epochs(100, -1, 4000)
    (18, 4000)
    """
    per_epoch = 1 if batch_size == -1 else math.ceil(n_train / batch_size)
    return max(1, math.ceil(steps / max(per_epoch, 1)))


_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


class _PrintLog(PrintLog):
    """skorch's epoch table, coloured only on a terminal.

    skorch colours the best value of each column with terminal escape codes,
    which show up as garbage in log files, CI logs and notebooks' saved
    output. They are kept only when standard output is a terminal and the
    ``NO_COLOR`` environment variable (https://no-color.org) is not set.
    """

    def format_row(self, row, key, color):
        text = super().format_row(row, key, color)
        if isinstance(text, str) and not _use_colour():
            text = _ANSI_ESCAPE.sub("", text)
        return text


def _use_colour():
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())


def _record_stop_reason(net, first_epoch, max_epochs):
    """Record in the last history row why the epochs from ``first_epoch`` ended.

    A callback that stops training records its own reason (``"settled"``),
    or :meth:`MemselNet.notify` records it (``"no_improvement"`` for skorch's
    early stopping on the validation loss); otherwise it is ``"max_epochs"``
    (all the epochs were trained) or ``"interrupted"``.

    The interrupt contract (``KeyboardInterrupt``, e.g. Ctrl-C, or one
    raised by a user's callback): the epochs this call finished are kept,
    with the weights as the interrupt found them; the row of an unfinished
    epoch is dropped from the history (``n_epochs_`` counts finished epochs
    only), the last kept row says ``"interrupted"`` and a warning says so.
    When the call had not finished one epoch, there is nothing to keep: the
    ``KeyboardInterrupt`` is raised again, and ``all_or_nothing`` puts the
    estimator back as it was before the call (the previous fit, or unfitted).
    """
    run = net.__dict__.pop("_run", None) or {}
    history = net.history
    if run.get("interrupted"):
        if not run.get("epoch_finished") and len(history) > first_epoch:
            del history[-1]
        if len(history) == first_epoch:
            raise KeyboardInterrupt
        history.record("stop_reason", "interrupted")
        n_done = len(history) - first_epoch
        warn(
            f"Training was interrupted after {n_done} finished epoch(s) "
            f"of {max_epochs}: the model keeps what was trained (see "
            'history_[-1, "stop_reason"]). Call fit again to train it in '
            "full.",
            UserWarning,
        )
        return
    if len(history) == 0 or "stop_reason" in history[-1]:
        return
    if len(history) - first_epoch >= max_epochs:
        reason = "max_epochs"
    else:
        reason = "interrupted"
    history.record("stop_reason", reason)


class MemselNet(NeuralNet):
    """skorch net with the sk_memsel extra-loss hook.

    When the module defines ``penalty()``, its value is added to the
    criterion's loss during training (the selectors' regularisers: the L0
    surrogate of the stochastic gates, the diversity term of the concrete
    selector). Validation losses are the criterion alone, so early stopping
    watches the fit to the data.

    A callback ends training by recording a ``"stop_reason"`` in the
    history during ``on_epoch_end``: once every callback has seen that epoch,
    the net raises :class:`KeyboardInterrupt`, which skorch's ``fit`` takes
    as the end of training (as for its own ``EarlyStopping``).
    """

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        # what _record_stop_reason needs to tell an interrupt (Ctrl-C, or a
        # user's callback) from a callback's stop, and whether the epoch it
        # came in had finished its batches
        first_row = len(self.history)
        self._run = {"epoch_finished": True, "interrupted": False}
        try:
            return super().fit_loop(X, y, epochs, **fit_params)
        except KeyboardInterrupt:
            stopped = (
                len(self.history) > first_row and "stop_reason" in self.history[-1]
            )
            self._run["interrupted"] = not stopped
            raise

    def notify(self, method_name, **cb_kwargs):
        run = getattr(self, "_run", None)
        if run is not None and method_name in ("on_epoch_begin", "on_epoch_end"):
            run["epoch_finished"] = method_name == "on_epoch_end"
        if method_name != "on_epoch_end":
            super().notify(method_name, **cb_kwargs)
            return
        # skorch's notify, which lets a callback end training by raising
        # KeyboardInterrupt, with the stop reason of the callback that did
        self.on_epoch_end(self, **cb_kwargs)
        for _, cb in self.callbacks_:
            try:
                cb.on_epoch_end(self, **cb_kwargs)
            except KeyboardInterrupt:
                if isinstance(cb, EarlyStopping):
                    self.history.record("stop_reason", "no_improvement")
                raise
        if "stop_reason" in self.history[-1]:
            raise KeyboardInterrupt

    def infer(self, x, **fit_params):
        # a weighted batch (see _data.with_weights): the module sees the rows
        if isinstance(x, dict) and WEIGHT_KEY in x:
            x = x["X"]
        return super().infer(x, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if isinstance(X, dict) and WEIGHT_KEY in X:
            loss = self._weighted_loss(y_pred, y_true, X[WEIGHT_KEY])
        else:
            loss = super().get_loss(y_pred, y_true, X=X, training=training)
        penalty = getattr(self.module_, "penalty", None)
        if training and callable(penalty):
            loss = loss + penalty()
        return loss

    def initialize_criterion(self):
        super().initialize_criterion()
        # the per-row loss of weighted batches, made once: the criterion with
        # its arguments, without its reduction (the unweighted loss keeps
        # the criterion's own mean, which sums in another order)
        params = {**self.get_params_for("criterion"), "reduction": "none"}
        self.row_criterion_ = self.criterion(**params)
        return self

    def _weighted_loss(self, y_pred, y_true, weights):
        """The mean over the batch of each row's loss times its weight.

        The weights are those of :meth:`NeuralEstimatorMixin._train`, divided
        by their mean over the whole training set: unit weights give the
        criterion's own mean, integer weights the mean over repeated rows,
        and every batch loss is an unbiased estimate of the weighted mean
        loss of the training set. A row's loss is ``row_criterion_`` (the
        criterion with ``reduction="none"``), averaged over the row's outputs
        (a reconstruction's features, a multilabel target's labels) as the
        criterion's mean does.
        """
        y_true = to_tensor(y_true, device=self.device)
        per_row = self.row_criterion_(y_pred, y_true)
        per_row = per_row.reshape(len(per_row), -1).mean(dim=1)
        weights = weights.to(device=per_row.device, dtype=per_row.dtype)
        return (weights * per_row).mean()
