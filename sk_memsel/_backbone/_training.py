"""The one training path of every estimator: start, resume, and their loop.

An estimator declares its network through hooks (see
:class:`~._estimator.NeuralEstimatorMixin`): ``_build_module``,
``_training_callbacks``, ``_param_groups``, ``_criterion`` and
``_callback_names``. This module never names an estimator:

- :func:`start_training`: the first training call (``fit``, or a first
  ``partial_fit``): the device, the seed, the checks of the validation split
  and of the user's callbacks, a new net from the hooks (:func:`new_net`);
- :func:`resume_training`: a later ``partial_fit`` call, on the same net;
- :func:`_run_epochs`: the loop both share (the weights with the rows, GPU
  preloading, the run's own random stream, threads, the stop reason);
- :func:`new_net` also builds the net a saved model is loaded into.
"""

import contextlib
import copy
import math

import numpy as np
import torch
from skorch.callbacks import EarlyStopping
from skorch.dataset import ValidSplit

from ._callbacks import FiniteLossGuard, ProgressLine
from ._data import ArrayBatchIterator, _preload, peak_one, with_weights
from ._net import MemselNet, _PrintLog, _record_stop_reason
from ._runtime import (
    _draws_from_global_generator,
    _seed_from,
    _seeded,
    _torch_threads,
    _training_stream,
    resolve_device,
)

#: names of the callbacks on every net: skorch's defaults and those
#: :func:`new_net` adds; each estimator adds the names of the callbacks its
#: ``_training_callbacks`` returns (``_callback_names``). A user's callback
#: named like one of them would clash with it (tests/test_backbone.py checks
#: both lists)
RESERVED_CALLBACK_NAMES = (
    # skorch's NeuralNet
    "epoch_timer",
    "print_log",
    "train_loss",
    "valid_loss",
    # new_net
    "early_stopping",
    "finite_loss",
    "progress",
)


def _n_held_out(fraction, n_samples):
    """Rows that skorch's ``ValidSplit`` holds out for validation.

    ``ceil(fraction * n_samples)``, as scikit-learn's ``ShuffleSplit`` and
    ``StratifiedShuffleSplit`` count a float ``test_size``.
    """
    return math.ceil(fraction * n_samples)


def check_validation_split(fraction, n_samples, strata=None):
    """Refuse a ``validation_fraction`` that the validation split cannot make.

    skorch's ``ValidSplit`` holds out :func:`_n_held_out` rows with
    scikit-learn's ``ShuffleSplit``, or ``StratifiedShuffleSplit`` when
    ``strata`` holds class codes; both sides need a row (a row of each class
    when stratified, which needs two rows of every class). scikit-learn's
    own errors ("test_size=0.99 ... train set will be empty") do not name
    ``validation_fraction``.
    """
    if fraction is None:
        return
    need, rows = 1, "1 row"
    if strata is not None:
        counts = np.unique(np.asarray(strata), return_counts=True)[1]
        need, rows = len(counts), f"{len(counts)} rows, one of each class of y"
        if counts.min() < 2:
            raise ValueError(
                f"validation_fraction={fraction} holds out rows of every class "
                "for validation, which needs at least 2 rows of each class, "
                f"but a class of y has only {counts.min()}. Set "
                "validation_fraction=None to train on all rows without early "
                "stopping, or give more rows of that class."
            )
    n_valid = _n_held_out(fraction, n_samples)
    n_train = n_samples - n_valid
    if n_valid >= need and n_train >= need:
        return
    if n_samples < 2 * need:
        advice = (
            f"{n_samples} rows are too few to split: set validation_fraction="
            "None to train on all rows without early stopping."
        )
    else:
        advice = (
            f"Use a validation_fraction between {need / n_samples:.3g} and "
            f"{(n_samples - need) / n_samples:.3g}, or None to train on all "
            "rows without early stopping."
        )
    raise ValueError(
        f"validation_fraction={fraction} holds out {n_valid} of the "
        f"{n_samples} rows for validation and leaves {n_train} for training; "
        f"each side needs at least {rows}. {advice}"
    )


def _normalised(sample_weight):
    """Weights divided by their mean, as float32 (``None`` stays ``None``).

    Unit weights stay exactly 1, so the weighted loss of ``MemselNet`` is the
    plain mean; any weights keep the loss on the scale of the unweighted one,
    so the learning rate means the same with and without weights.
    """
    if sample_weight is None:
        return None
    weights = peak_one(sample_weight)  # no overflow in the mean (1 stays 1)
    return (weights / weights.mean()).astype(np.float32)


def start_training(est, X, y, *, stratify=None, max_epochs=None, sample_weight=None):
    """Build a new network for ``est`` and train it on ``(X, y)``: the first call.

    The net is made by :func:`new_net` from the estimator's hooks, then
    trained by :func:`_run_epochs`, the loop every later ``partial_fit``
    call (:func:`resume_training`) shares.

    Parameters
    ----------
    X, y : ndarray
        Training input and target (``y`` may equal ``X`` for
        reconstruction).
    stratify : ndarray or None
        Class codes used to stratify the validation split.
    max_epochs : int or None
        Most epochs; ``None``: ``est._n_epochs`` of the rows of ``X``.
    sample_weight : ndarray or None
        Row weights checked by ``est._validated_sample_weight``. They travel
        with the rows (``X`` becomes ``{"X": X, "sample_weight": w}``,
        split with the rows for validation, sliced into every batch) and
        weight each row's loss (``MemselNet.get_loss``); ``None`` trains
        exactly as before.

    Returns
    -------
    net : MemselNet
        The fitted net (also stored as ``net_``). Sets ``n_epochs_`` and
        ``n_threads_``, and records ``"stop_reason"`` in the last row of
        the history.

    Raises
    ------
    ValueError, TypeError
        Before anything is built: a ``validation_fraction`` the split
        cannot make (:func:`check_validation_split`) or a callback
        :func:`user_callbacks` refuses.
    """
    device = resolve_device(est.device)
    if max_epochs is None:
        max_epochs = est._n_epochs(X.shape[0])
    check_validation_split(est.validation_fraction, X.shape[0], stratify)
    seed = _seed_from(est.random_state)  # once: a RandomState draws
    net = new_net(est, device, seed, stratified=stratify is not None)
    n_threads = est._resolve_n_threads(net.module, X, device)
    est.n_threads_ = torch.get_num_threads() if n_threads is None else n_threads
    est.net_ = net
    # what saving records: the seed and the parameters it was built from
    est._fit_seed = seed
    est._built_with = {
        name: value
        for name, value in est.get_params(deep=False).items()
        if name != "callbacks"
    }
    est._n_training_calls = 0  # what resume_training seeds its calls from
    _run_epochs(est, X, y, sample_weight, seed, max_epochs, n_threads)
    return net


def new_net(est, device, seed, *, stratified):
    """A new, initialised net: the estimator's module, callbacks and groups.

    The module is built inside a block seeded from ``seed`` (its initial
    weights), then set to float32. Loading a saved model builds the same
    net and loads its saved state (see :mod:`._persistence`).
    """
    own = user_callbacks(est)
    with _seeded(seed, device):
        module = est._build_module()
        # float32 whatever torch's default dtype: the batches are float32.
        # The default is process-wide, so it is not changed here (fits may
        # run in threads); the initial weights are drawn in it.
        module.to(torch.float32)
    callbacks = [("finite_loss", FiniteLossGuard()), *est._training_callbacks()]
    train_split = None
    if est.validation_fraction is not None:
        train_split = ValidSplit(
            est.validation_fraction, stratified=stratified, random_state=seed
        )
        callbacks.append(
            (
                "early_stopping",
                EarlyStopping(
                    monitor="valid_loss",
                    patience=est.n_iter_no_change,
                    load_best=True,
                ),
            )
        )
    callbacks += own
    if est.verbose == 1:
        callbacks.append(("progress", ProgressLine(type(est).__name__)))
    optimizer = est._optimizer_class()
    net_params = {}
    if optimizer in (torch.optim.Adam, torch.optim.AdamW):
        # one fused kernel per step instead of a dozen small operations
        # per weight tensor: 0.34 instead of 0.79 ms a step of the
        # MADELON gated network on one thread
        net_params["optimizer__fused"] = True
    param_groups = est._param_groups()
    if param_groups:
        net_params["optimizer__param_groups"] = param_groups
    net = MemselNet(
        module=module,
        criterion=est._criterion(),
        optimizer=optimizer,
        optimizer__weight_decay=est.weight_decay,
        lr=est.lr,
        max_epochs=1,  # each training call sets its own (_run_epochs)
        batch_size=int(est.batch_size),
        iterator_train=ArrayBatchIterator,
        iterator_train__shuffle=True,
        iterator_valid=ArrayBatchIterator,
        train_split=train_split,
        callbacks=callbacks,
        verbose=est.verbose,
        device=device,
        # verbose=1 shows one progress line; the per-epoch table of
        # skorch only from verbose=2 (with verbose=0 skorch's PrintLog
        # would still format its table every epoch, a few ms each)
        callbacks__print_log=_PrintLog() if est.verbose >= 2 else None,
        **net_params,
    )
    return net.initialize()


def resume_training(est, X, y, sample_weight=None):
    """Train the fitted ``net_`` on ``(X, y)`` for at most ``max_epochs``.

    What ``partial_fit`` does after its first call: the same network,
    optimizer state and callbacks, trained by :func:`_run_epochs` on the
    fit's threads, with a fresh random stream per call, derived from
    ``random_state`` and the number of calls so far (the same calls give
    the same result, also when the estimator was saved and loaded in
    between).
    """
    seed = np.random.SeedSequence(
        [_seed_from(est.random_state), est._n_training_calls]
    ).generate_state(1)[0]
    split = est.net_.train_split
    if split is not None:
        strata = y if split.stratified else None
        check_validation_split(split.cv, X.shape[0], strata)
    n_epochs = est._n_epochs(X.shape[0])
    _run_epochs(est, X, y, sample_weight, seed, n_epochs, est._fitted_n_threads())


def _run_epochs(est, X, y, sample_weight, seed, n_epochs, n_threads):
    """The training loop of every call: ``net_`` trains for ``n_epochs``.

    The weights travel with the rows, the data go to the GPU once when
    the net is there, the run draws from its own random stream
    (:func:`_training_stream`; torch's global generator too, seeded, when
    the module has torch's dropout) on ``n_threads`` threads. Sets
    ``n_epochs_`` (over all calls) and records this call's
    ``"stop_reason"``.
    """
    net = est.net_
    net.max_epochs = n_epochs  # what the net reports: the last call's epochs
    X = with_weights(X, _normalised(sample_weight))
    preloaded = _preload(X, y, net.device)
    if preloaded is not None:  # on a GPU: this call's data copied once
        X, y = preloaded
    first_epoch = len(net.history)
    with (
        _seeded(seed, net.device)
        if _draws_from_global_generator(net.module)
        else contextlib.nullcontext(),
        _training_stream(seed),
        _torch_threads(n_threads),
    ):
        net.partial_fit(X, y, epochs=n_epochs)
    _record_stop_reason(net, first_epoch, n_epochs)
    est.n_epochs_ = len(net.history)
    est._n_training_calls += 1


def user_callbacks(est):
    """Named copies of the ``callbacks`` passed, checked before training.

    Each fit trains with copies, so that it never changes the callbacks
    passed. Refused in words that name the callback: a name that
    sk_memsel or skorch gives its own callbacks, a callback that watches
    a validation score while no rows are held out for validation, and
    one that cannot be copied.
    """
    named = []
    for i, cb in enumerate(est.callbacks or ()):
        if isinstance(cb, tuple):
            name, cb = cb
            label = f"The callback {name!r} ({type(cb).__name__})"
        else:
            name = f"user_{i}_{type(cb).__name__}"
            label = f"callbacks[{i}] ({type(cb).__name__})"
        reserved = RESERVED_CALLBACK_NAMES + est._callback_names
        if name in reserved:
            raise ValueError(
                f"{label}: the name {name!r} is used by sk_memsel's own "
                "callbacks; give yours another name. The reserved names "
                f"are {', '.join(sorted(reserved))}."
            )
        monitor = getattr(cb, "monitor", None)
        if (
            est.validation_fraction is None
            and isinstance(monitor, str)
            and monitor.startswith("valid_")
        ):
            raise ValueError(
                f"{label} monitors {monitor!r}, which is recorded only "
                "when rows are held out for validation: set "
                "validation_fraction (for example 0.1; it also stops "
                "early, after n_iter_no_change epochs without improvement), "
                "or let the callback monitor 'train_loss'."
            )
        try:
            named.append((name, copy.deepcopy(cb)))
        except Exception as exc:
            raise TypeError(
                f"{label} cannot be copied ({type(exc).__name__}: {exc}). "
                "Each fit trains with a copy of every callback, so that it "
                "never changes the callbacks passed: keep locks, open "
                "files and other objects that cannot be copied out of the "
                "callback's attributes (create them in on_train_begin and "
                "release them in on_train_end)."
            ) from exc
    return named
