"""skorch callbacks shared by the sk_memsel estimators."""

import math
import numbers
import sys

import torch
from skorch.callbacks import Callback

__all__ = [
    "EpochRecorder",
    "FiniteLossGuard",
    "GradientScaledEps",
    "ProgressLine",
    "SettledStopping",
    "TemperatureAnnealing",
]


class TemperatureAnnealing(Callback):
    """Anneal a module's temperature from ``start`` to ``end`` over the epochs.

    At the beginning of every epoch the callback computes the scheduled
    temperature, writes it to ``net.module_.<attribute>`` and records it in the
    net's history under ``"temperature"``, so ``net.history[:, "temperature"]``
    lists the temperature used in each epoch.

    Epochs are numbered from 1, as in skorch's history. With ``E = max_epochs``
    and ``W = warmup_epochs``:

    - epochs ``1..W`` use ``start``;
    - epochs ``W+1..E`` follow the schedule with progress
      ``t = (e - W - 1) / (E - W - 1)``, from ``start`` at ``t=0`` to ``end``
      at ``t=1``: ``start * (end / start) ** t`` for ``mode="exp"`` and
      ``start + (end - start) * t`` for ``mode="linear"``;
    - with ``stop_epoch`` set, every epoch after ``stop_epoch`` keeps the
      temperature of epoch ``stop_epoch``;
    - after :meth:`finish` (called when training is about to end early, see
      :class:`SettledStopping`), every epoch uses ``end``, so the schedule
      reaches its end state however early training stops.

    Parameters
    ----------
    start : float
        Temperature of the first epoch (and of the warm-up epochs).
    end : float
        Temperature of the last epoch.
    max_epochs : int or None, default=None
        Length of the schedule. ``None`` uses the net's ``max_epochs``.
    mode : {"exp", "linear"}, default="exp"
        Shape of the schedule.
    warmup_epochs : int, default=0
        Number of epochs held at ``start`` before annealing begins.
    stop_epoch : int or None, default=None
        Epoch after which the temperature stays fixed. ``None`` anneals until
        the last epoch.
    attribute : str, default="temperature"
        Name of the module attribute that receives the temperature.

    Examples
    --------
    >>> from sk_memsel._backbone import TemperatureAnnealing
    >>> cb = TemperatureAnnealing(10.0, 0.1, max_epochs=3)
    >>> [round(cb.temperature_at(e), 3) for e in (1, 2, 3)]
    [10.0, 1.0, 0.1]
    """

    def __init__(
        self,
        start,
        end,
        *,
        max_epochs=None,
        mode="exp",
        warmup_epochs=0,
        stop_epoch=None,
        attribute="temperature",
    ):
        self.start = start
        self.end = end
        self.max_epochs = max_epochs
        self.mode = mode
        self.warmup_epochs = warmup_epochs
        self.stop_epoch = stop_epoch
        self.attribute = attribute

    def _check(self, max_epochs):
        if self.mode not in ("exp", "linear"):
            raise ValueError(
                f"annealing={self.mode!r} is not a known schedule; "
                "use 'exp' or 'linear'."
            )
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or not value > 0:
                raise ValueError(
                    f"The {name} temperature must be a positive number, got {value!r}."
                )
        if self.warmup_epochs < 0:
            raise ValueError(
                f"warmup_epochs must be 0 or more, got {self.warmup_epochs}."
            )
        if self.stop_epoch is not None and self.stop_epoch < 1:
            raise ValueError(
                f"The epoch after which annealing stops must be 1 or more, "
                f"got {self.stop_epoch}."
            )
        if max_epochs is None or max_epochs < 1:
            raise ValueError(f"max_epochs must be 1 or more, got {max_epochs}.")

    def temperature_at(self, epoch, max_epochs=None):
        """Return the scheduled temperature of ``epoch`` (numbered from 1).

        Parameters
        ----------
        epoch : int
            Epoch number, starting at 1.
        max_epochs : int or None, default=None
            Length of the schedule; defaults to the ``max_epochs`` given at
            construction.

        Returns
        -------
        temperature : float
        """
        total = self.max_epochs if max_epochs is None else max_epochs
        self._check(total)
        if self.stop_epoch is not None:
            epoch = min(epoch, self.stop_epoch)
        if epoch <= self.warmup_epochs:
            return float(self.start)
        span = total - self.warmup_epochs - 1
        progress = 0.0 if span <= 0 else (epoch - self.warmup_epochs - 1) / span
        progress = min(max(progress, 0.0), 1.0)
        if self.mode == "exp":
            value = self.start * (self.end / self.start) ** progress
        else:
            value = self.start + (self.end - self.start) * progress
        return float(value)

    def initialize(self):
        self.finished_ = False
        return self

    def finish(self):
        """Jump to the end of the schedule: later epochs use ``end``."""
        self.finished_ = True

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.max_epochs_ = (
            net.max_epochs if self.max_epochs is None else self.max_epochs
        )
        self._check(self.max_epochs_)
        if not hasattr(net.module_, self.attribute):
            raise ValueError(
                f"The module {type(net.module_).__name__} has no attribute "
                f"{self.attribute!r} to anneal."
            )

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        # skorch has already appended this epoch's row, so len(history) is the
        # 1-based number of the epoch that starts now.
        epoch = len(net.history)
        if self.finished_:
            value = float(self.end)
        else:
            value = self.temperature_at(epoch, self.max_epochs_)
        setattr(net.module_, self.attribute, value)
        net.history.record("temperature", value)


class EpochRecorder(Callback):
    """Record scalar summaries of the module in the history after each epoch.

    Parameters
    ----------
    recorders : dict of str to callable
        Maps a history key to a function of the module that returns a float,
        e.g. ``{"open_gates": lambda m: m.expected_open_gates()}``.
    """

    def __init__(self, recorders):
        self.recorders = recorders

    def on_epoch_end(self, net, **kwargs):
        # no_grad: the recorded values are read, never differentiated
        with torch.no_grad():
            for key, func in self.recorders.items():
                net.history.record(key, float(func(net.module_)))


class GradientScaledEps(Callback):
    """Set one parameter's optimizer ``eps`` from its first gradient.

    Adam, AdamW and RMSprop divide each step by the root mean square of the
    past gradients plus ``eps``. A gradient far below ``eps`` gets a step cut
    by the same factor, one far above it a full step: ``eps`` is a scale, and
    the default (``1e-8``) is fixed. A parameter whose gradients shrink with
    the size of the data (the concrete selector's logits: every node's
    softmax spreads over all the features, so over 20,000 genes they are
    about ``1e-11``) would then hardly move. Before the first optimizer step
    this callback sets the ``eps`` of the parameter's group to ``ratio``
    times the root mean square of that step's gradient, so that the damping
    is the same whatever the number of features and the scale of the data.
    Later steps and later ``partial_fit`` calls keep that ``eps``. Optimizers
    without ``eps`` (SGD) are left as they are.

    Parameters
    ----------
    name : str
        The parameter's name in the module (``"select.logits"``).
    ratio : float
        ``eps`` as a fraction of the first gradient's root mean square.
    """

    def __init__(self, name, ratio):
        self.name = name
        self.ratio = ratio

    def initialize(self):
        # the eps set, NaN where the first gradient was zero (left as it was)
        self.eps_ = None
        return self

    def on_grad_computed(self, net, named_parameters, training=False, **kwargs):
        if self.eps_ is not None or not training:
            return
        param = net.module_.get_parameter(self.name)
        if param.grad is None:
            return
        rms = float(param.grad.detach().pow(2).mean().sqrt())
        if not rms > 0 or not math.isfinite(rms):
            # no gradient to scale by (a softmax over one feature has none):
            # keep the optimizer's own eps, which 0 / (0 + eps) needs
            self.eps_ = math.nan
            return
        self.eps_ = max(self.ratio * rms, torch.finfo(param.dtype).tiny)
        for group in net.optimizer_.param_groups:
            if "eps" in group and any(p is param for p in group["params"]):
                group["eps"] = self.eps_


class FiniteLossGuard(Callback):
    """Stop training with a clear error as soon as the loss stops being finite.

    A loss of NaN or infinity means the weights are already corrupted; the
    guard raises :class:`FloatingPointError` naming the epoch, so no fitted
    model with NaN weights is ever returned.
    """

    def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
        # ``loss`` is a 0-d tensor; skorch already reads it per batch for the
        # history, so this check adds no device synchronisation.
        if loss is not None and not math.isfinite(value := float(loss.detach())):
            epoch = len(net.history)
            raise FloatingPointError(
                f"The training loss became {value} in epoch {epoch}. "
                "Try a smaller learning rate (lr), scale the input features "
                "(for example with StandardScaler or MinMaxScaler), or check "
                "the data for extreme values."
            )


class SettledStopping(Callback):
    """Stop training once the selection has stopped changing.

    After every epoch ``selection(module)`` gives the current selection (any
    value that compares with ``==``, e.g. a tuple of feature indices). When
    it has not changed for ``patience_steps`` optimizer steps and
    ``ready(module)`` is true, training is settled: ``on_settled()`` is
    called (the concrete selector uses it to end its temperature schedule),
    ``finish_epochs`` more epochs are trained, and ``"stop_reason"``
    ``"settled"`` is recorded in the history, which ends training once every
    callback has seen the epoch (see :class:`sk_memsel._backbone.MemselNet`).

    Training must learn before it may stop: with ``moved``, a selection that
    is still where training started (``moved(first, module)`` false, with
    ``first`` the selection before the first step) cannot settle, however
    long it stays unchanged. While it has not moved, ``speed_up`` (a function
    of the module giving the parameters it concerns) doubles the learning
    rate of those parameters every ``speed_up_every`` optimizer steps, up to
    ``speed_up_max`` times its starting value, so that the budget is spent
    moving, not waiting; once the selection has moved, the rate stays where
    it is. ``moved_`` says whether it has moved, ``history[:, "speed_up"]``
    records the factor of each epoch.

    Parameters
    ----------
    selection : callable
        Function of the module returning the current selection.
    patience_steps : int
        Optimizer steps without a change before training is settled.
    ready : callable or None, default=None
        Function of the module; training is settled only while it returns
        true (for example, every concrete node concentrated on one feature).
    on_settled : callable or None, default=None
        Called once, without argument, when training is settled.
    finish_epochs : int, default=0
        Epochs trained after settling, before stopping.
    moved : callable or None, default=None
        ``moved(first, module)``: whether the selection has left the one
        training started from, ``first``. ``None``: any selection may
        settle.
    speed_up : callable or None, default=None
        Function of the module returning the parameters whose learning rate
        rises while the selection has not moved (needs ``moved``).
    speed_up_every : int, default=100
        Optimizer steps between two doublings.
    speed_up_max : float, default=50.0
        The largest factor of the starting learning rate.
    """

    def __init__(
        self,
        selection,
        patience_steps,
        *,
        ready=None,
        on_settled=None,
        finish_epochs=0,
        moved=None,
        speed_up=None,
        speed_up_every=100,
        speed_up_max=50.0,
    ):
        self.selection = selection
        self.patience_steps = patience_steps
        self.ready = ready
        self.on_settled = on_settled
        self.finish_epochs = finish_epochs
        self.moved = moved
        self.speed_up = speed_up
        self.speed_up_every = speed_up_every
        self.speed_up_max = speed_up_max

    def initialize(self):
        # state that partial_fit carries from one call to the next
        self.steps_ = 0
        self.last_selection_ = None
        self.changed_at_step_ = 0
        self.settled_at_epoch_ = None
        self.first_selection_ = None
        self.moved_ = self.moved is None
        self.factor_ = 1.0
        self.next_speed_up_ = self.speed_up_every
        return self

    def on_train_begin(self, net, **kwargs):
        # each partial_fit call trains at least patience_steps steps on its
        # own data before it can settle
        self.settled_at_epoch_ = None
        self.changed_at_step_ = self.steps_
        if self.moved is not None and self.first_selection_ is None:
            with torch.no_grad():
                self.first_selection_ = self.selection(net.module_)

    def _speed_up(self, net):
        """Double the learning rate of ``speed_up``'s parameters, if allowed."""
        factor = min(self.factor_ * 2.0, float(self.speed_up_max))
        if factor <= self.factor_:
            return
        first = next(iter(self.speed_up(net.module_)))
        for group in net.optimizer_.param_groups:
            if any(p is first for p in group["params"]):
                group["lr"] *= factor / self.factor_
        self.factor_ = factor

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        # the optimizer steps of the epoch, as skorch recorded them
        self.steps_ += net.history[-1, "train_batch_count"]
        if self.settled_at_epoch_ is None:
            with torch.no_grad():
                current = self.selection(net.module_)
                if not self.moved_:
                    self.moved_ = bool(self.moved(self.first_selection_, net.module_))
            if self.speed_up is not None:
                while self.steps_ >= self.next_speed_up_:
                    self.next_speed_up_ += self.speed_up_every
                    if not self.moved_:
                        self._speed_up(net)
                net.history.record("speed_up", self.factor_)
            if current != self.last_selection_:
                self.last_selection_ = current
                self.changed_at_step_ = self.steps_
            if self.steps_ - self.changed_at_step_ < self.patience_steps:
                return
            if not self.moved_:
                return
            if self.ready is not None:
                with torch.no_grad():
                    if not self.ready(net.module_):
                        return
            self.settled_at_epoch_ = epoch
            if self.on_settled is not None:
                self.on_settled()
        if epoch - self.settled_at_epoch_ >= self.finish_epochs:
            net.history.record("stop_reason", "settled")


class ProgressLine(Callback):
    """One updating line of progress on standard error (``verbose=1``).

    Shows the epochs done out of ``max_epochs``, the last training loss, the
    time elapsed and an estimate of the time left (an upper bound when
    training stops early), with :mod:`tqdm`. When training stopped because
    the selection settled, the closed line says so.

    Parameters
    ----------
    description : str
        Text in front of the bar, usually the estimator's name.
    """

    def __init__(self, description):
        self.description = description

    def on_train_begin(self, net, **kwargs):
        from tqdm.std import tqdm

        self.bar_ = tqdm(
            total=net.max_epochs,
            desc=self.description,
            unit="epoch",
            file=sys.stderr,
            mininterval=0.5,
            dynamic_ncols=True,
            leave=True,
        )

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        postfix = {"loss": f"{row['train_loss']:.4g}"}
        if "valid_loss" in row:
            postfix["valid_loss"] = f"{row['valid_loss']:.4g}"
        self.bar_.set_postfix(postfix, refresh=False)
        self.bar_.update(1)

    def on_train_end(self, net, **kwargs):
        bar = getattr(self, "bar_", None)
        if bar is None:
            return
        reason = net.history[-1].get("stop_reason") if len(net.history) else None
        if reason == "settled":
            bar.set_description(f"{self.description} (settled)", refresh=False)
        bar.close()
        del self.bar_

    def __getstate__(self):
        # a pickled net never carries an open terminal line
        state = self.__dict__.copy()
        state.pop("bar_", None)
        return state
