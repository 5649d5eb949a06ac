"""NeuralEstimatorMixin: what every sk_memsel estimator shares.

An estimator here is a scikit-learn ``BaseEstimator`` that, inside ``fit``,
builds a plain :class:`torch.nn.Module` from its parameters and trains it with
a skorch net (:class:`~sk_memsel._backbone.MemselNet`) stored as ``net_``.
This module holds:

- the constraints of the common parameters (``max_epochs``, ``batch_size``,
  ``lr``, ``optimizer``, ``weight_decay``, ``device``, ``random_state``,
  ``verbose``, ``callbacks``, ``validation_fraction``, ``n_iter_no_change``,
  ``n_threads``), which every estimator merges into its own
  ``_parameter_constraints`` (their docs are in :mod:`._params`);
- input and ``sample_weight`` validation;
- the default training hooks and ``_continue_training`` (a later
  ``partial_fit`` call), which train through :mod:`._training`;
- ``_forward`` (prediction batch by batch on the fitted threads);
- ``all_or_nothing`` (a failed fit changes nothing, also under
  ``torch.inference_mode()``) and saving (pickle and skops alike).

The training path is in :mod:`._training`, targets in :mod:`._targets`, the
net and its loss in :mod:`._net`, the batch iterator in :mod:`._data`,
seeding and threads in :mod:`._runtime`, the saved state in
:mod:`._persistence`.
"""

import copy
import functools
import inspect
import math
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.dataset import Dataset

from ._compat import Interval, Options, StrOptions, check_sample_weight, validate_params
from ._data import (
    ArrayBatchIterator,
    SparseRows,
    _is_out_of_core,
    row_chunks,
)
from ._net import _OPTIMIZERS, auto_epochs
from ._params import CALLBACKS, DEVICE, OPTIMIZER_CLASS, IntInterval
from ._persistence import (
    SAVED_FORMAT,
    SavedStateError,
    load_device,
    load_net_state,
    net_state,
)
from ._runtime import (
    _SMALL_NETWORK_WORK,
    _torch_threads,
    _trainable,
)
from ._targets import TargetMixin
from ._training import _n_held_out, new_net, resume_training

#: where the documentation is (``Documentation`` in pyproject.toml)
DOCS_URL = "https://sk-memsel.readthedocs.io"

_POSITIVE_INT = IntInterval(1, None, closed="left")

#: dtype names of pandas columns of periods and intervals (kind "O")
_NOT_NUMBERS = ("period", "interval")


def _checked_input(X, name):
    """``X`` ready for scikit-learn's checks, or an error that names the problem.

    Refused with the columns named: DataFrame columns of dates, durations,
    periods, intervals or complex numbers, and sparse columns whose unstored
    entries are NaN (pandas' default fill value); arrays of dates or
    durations; masked arrays with masked values. Sparse columns filled with
    a number next to dense ones are made dense here (scikit-learn would,
    with a warning); a frame of sparse columns only is kept sparse. A
    torch tensor is detached and read as float32 on the CPU (NumPy cannot
    read one that requires grad, nor bfloat16).
    """
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu()
        return X.float() if X.dtype == torch.bfloat16 else X
    dtype = getattr(X, "dtype", None)
    if isinstance(dtype, np.dtype) and dtype.kind in "mM":
        raise ValueError(
            f"X holds {'dates' if dtype.kind == 'M' else 'durations'} "
            f"(dtype {dtype}); {name} needs real numbers: convert them (for "
            "example a date to its year, month and day, a duration to "
            "seconds with X / np.timedelta64(1, 's')) or drop them."
        )
    if isinstance(X, np.ma.MaskedArray):
        n_masked = int(np.ma.getmaskarray(X).sum())
        if n_masked:
            raise ValueError(
                f"X is a masked array with {n_masked} masked value(s); {name} "
                "cannot leave values out. Fill them (X.filled(value), or an "
                "imputer such as sklearn.impute.SimpleImputer on "
                "X.filled(np.nan)) or drop their rows."
            )
        return X.data
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items"):
        return X
    bad, sparse_nan, sparse = [], [], {}
    for column, dtype in dtypes.items():
        dtype_name = str(getattr(dtype, "name", dtype)).lower()
        if getattr(dtype, "kind", "O") in "mMc" or dtype_name.startswith(_NOT_NUMBERS):
            bad.append((column, dtype))
        elif dtype_name.startswith("sparse"):
            if np.isnan(float(dtype.fill_value)):
                sparse_nan.append(column)
            sparse[column] = dtype.subtype
    if bad:
        listed = ", ".join(f"{column!r} ({dtype})" for column, dtype in bad[:5])
        raise ValueError(
            f"X has columns of dates, durations, periods, intervals or complex "
            f"numbers: {listed}. {name} needs real numbers: convert them (for "
            "example a date to its year, month and day, an interval to its "
            "two ends) or drop them."
        )
    if sparse_nan:
        listed = ", ".join(repr(column) for column in sparse_nan[:5])
        raise ValueError(
            f"X has sparse columns whose unstored entries are NaN (pandas' "
            f"default fill value): {listed}. {name} reads them as missing "
            "values. If they mean zero, build the columns with fill_value=0 "
            "(pd.arrays.SparseArray(values, fill_value=0)) or fill them (for "
            "example X[column].sparse.to_dense().fillna(0)); otherwise impute "
            "them."
        )
    if sparse and len(sparse) < len(dtypes):
        # some columns sparse: the frame is dense, in a layout that copies
        X = X.astype(sparse)
    # all columns sparse: kept as they are, read as a sparse matrix
    return X


def _is_sparse(X):
    """Whether ``X`` is a SciPy sparse matrix or array, or a DataFrame whose
    columns are all sparse (read as a sparse matrix, as scikit-learn does)."""
    return sp.issparse(X) or (hasattr(X, "iloc") and hasattr(X, "sparse"))


def all_or_nothing(method=None, *, trains_in_place=False):
    """Make ``fit`` / ``partial_fit`` change the estimator only when it succeeds.

    A call that raises (bad data found late, a loss that became NaN, an
    out-of-memory error, Ctrl-C outside training) leaves every attribute as
    it was before the call, the fitted ones included: never a new
    ``n_features_in_`` next to the old network. ``fit`` builds a new network,
    so putting the attributes back is enough; a method that
    ``trains_in_place`` (``partial_fit``) also copies the network first.

    The method runs with autograd on (see ``_trainable``), so that a fit
    called under ``torch.inference_mode()`` or ``torch.no_grad()`` trains,
    and leaves no inference tensor in the fitted network.
    """
    if method is None:
        return functools.partial(all_or_nothing, trains_in_place=trains_in_place)

    @functools.wraps(method)
    @_trainable()
    @_torch_threads(None)  # one thread in a forked child (see _torch_threads)
    def wrapper(self, *args, **kwargs):
        before = dict(self.__dict__)
        history, n_rows = None, 0
        if trains_in_place and "net_" in before:
            # the net's callbacks hold bound methods of this estimator: the
            # copy must keep pointing at it, not at a copy of it; the history,
            # which only grows, is shared and cut back on failure (copying it
            # at every call would make a long stream quadratic)
            history = before["net_"].history
            n_rows = len(history)
            memo = {id(self): self, id(history): history}
            before["net_"] = copy.deepcopy(before["net_"], memo)
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            if history is not None:
                del history[n_rows:]
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    return wrapper


def _package_version():
    from .. import __version__

    return __version__


class NeuralEstimatorMixin(TargetMixin):
    """Common parameters and helpers of the sk_memsel neural estimators.

    Subclasses declare ``_parameter_constraints`` (the shared ones merged
    with their own) and decorate ``fit`` with scikit-learn's
    ``@fit_context(prefer_skip_nested_validation=True)``, which checks the
    parameters against them; they check by hand only the rules that span
    parameters or need the data.

    The network is the estimator's, built through its hooks from its
    parameters and the fitted facts that ``fit`` sets before training
    (``n_features_in_``, ``task_``, ``classes_``, ...):

    - ``_build_module()`` (required): the :class:`torch.nn.Module`, its
      initial weights drawn in a block seeded from ``random_state``; its
      loss is :meth:`_criterion`, of ``task_``;
    - :meth:`_training_callbacks`: its own skorch callbacks, whose names it
      lists in ``_callback_names``;
    - :meth:`_param_groups`: a learning rate of its own for some parameters.

    Training has one path. ``fit`` forgets the fitted network
    (:meth:`_reset`) and does what a first ``partial_fit`` call does, where
    the estimator has ``partial_fit``: :meth:`_validate_X` with
    ``reset=True`` (and :meth:`_prepare_target` when it learns from ``y``),
    then :func:`~._training.start_training`, which builds the net
    (:func:`~._training.new_net`) and trains it. A later ``partial_fit``
    call trains the same net further (:meth:`_continue_training`, then
    :func:`~._training.resume_training`); both run the same loop. Loading a
    saved model builds the same net and loads the saved state into it
    (:mod:`._persistence`).

    Prediction-time code calls :meth:`_validate_X` with ``reset=False`` and
    :meth:`_forward` to get the module's output as numpy arrays.
    """

    #: the constraints of the parameters every neural estimator shares;
    #: subclasses merge them into their own:
    #: ``{**NeuralEstimatorMixin._parameter_constraints, "k": [...]}``
    _parameter_constraints: dict = {
        "max_epochs": [_POSITIVE_INT],
        "batch_size": [_POSITIVE_INT, Options(Integral, {-1})],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions(set(_OPTIMIZERS)), OPTIMIZER_CLASS],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "device": [DEVICE],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [CALLBACKS, None],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "n_iter_no_change": [_POSITIVE_INT],
        "n_threads": [_POSITIVE_INT, StrOptions({"auto"}), None],
    }

    #: the selectors' stopping rule: ``max_epochs="auto"`` and ``settle_steps``
    _settling_parameter_constraints: dict = {
        "max_epochs": [_POSITIVE_INT, StrOptions({"auto"})],
        "settle_steps": [_POSITIVE_INT, None],
    }

    # the HTML repr (in notebooks) links to the estimator's entry in the API
    # reference, as scikit-learn's estimators do; classes defined outside
    # sk_memsel (a user's subclass) get no link
    _doc_link_module = "sk_memsel"
    _doc_link_template = DOCS_URL + "/en/{version}/api.html#sk_memsel.{name}"

    def _doc_link_url_param_generator(self):
        """The documentation of this release (``stable``), or ``latest`` for
        development versions."""
        version = _package_version()
        released = version.replace(".", "").isdigit() and version != "000"
        return {
            "version": "stable" if released else "latest",
            "name": type(self).__name__,
        }

    #: whether ``fit`` and the reading methods take sparse ``X`` (read one
    #: densified batch at a time); where not, ``_dense_only_because`` says why
    _accepts_sparse = True
    _dense_only_because = ""

    #: optimizer steps that ``max_epochs="auto"`` allows, or ``None`` where
    #: "auto" is not allowed; such a class resolves it with :meth:`_n_epochs`
    #: at fit time
    _auto_steps = None

    #: names of the callbacks :meth:`_training_callbacks` gives the net, which
    #: a user's callbacks may not take (besides ``RESERVED_CALLBACK_NAMES``)
    _callback_names = ()

    def _reset(self):
        """Forget the fitted network: the next training call builds a new one."""
        self.__dict__.pop("net_", None)

    def _optimizer_class(self):
        opt = self.optimizer
        return _OPTIMIZERS[opt] if isinstance(opt, str) else opt

    # ------------------------------------------------------------------ data
    def _validate_X(self, X, *, reset, allow_nd=False, **kwargs):
        """Validate ``X`` and return a float32 array (the caller's is untouched).

        Sets ``n_features_in_`` and ``feature_names_in_`` when ``reset``.

        A :class:`numpy.memmap` (or another array-like that is not held in
        memory, such as an HDF5 or zarr dataset) is checked in chunks and
        returned as it is: training and prediction then read it one batch at
        a time, converting each batch to float32, so the whole array never
        has to fit in memory.

        A sparse ``X`` (SciPy CSR, CSC, COO, ..., matrix or array, or a
        DataFrame of sparse columns) is converted once to a float32 CSR
        matrix (no copy when it is one already) and returned as
        :class:`~._data.SparseRows`, read one densified batch at a time.
        Estimators with ``_accepts_sparse = False`` refuse it, saying why
        (``_dense_only_because``) and what to do.
        """
        if _is_out_of_core(X):
            return self._validate_out_of_core(X, reset=reset, allow_nd=allow_nd)
        X = _checked_input(X, type(self).__name__)
        sparse = _is_sparse(X)
        if sparse and not self._accepts_sparse:
            raise TypeError(
                f"X is sparse, but {type(self).__name__} needs dense input: "
                f"{self._dense_only_because}. Pass X.toarray() (for a "
                "DataFrame, X.sparse.to_dense()) when it fits in memory, or "
                "select features first with StochasticGatesSelector or "
                "ConcreteAutoencoderSelector, which read sparse X, in a "
                "Pipeline."
            )
        try:
            X = validate_data(
                self,
                X,
                reset=reset,
                dtype=np.float32,
                # one layout whatever the caller's (a DataFrame is
                # column-major): the same values give the same results;
                # sparse input in rows (CSR), which batches slice
                order="C",
                accept_sparse="csr" if self._accepts_sparse else False,
                allow_nd=allow_nd,
                ensure_min_samples=1 if not reset else 2,
                **kwargs,
            )
        except ValueError as exc:
            if "could not convert" in str(exc):
                raise ValueError(
                    f"X contains values that are not numbers ({exc}). "
                    f"{type(self).__name__} needs numeric features: encode text "
                    "and categorical columns first, for example with "
                    "sklearn.preprocessing.OneHotEncoder or OrdinalEncoder."
                ) from exc
            raise
        return SparseRows(X) if sparse else X

    def _check_same_feature_names(self, X):
        """partial_fit needs the same columns as the first call, names included."""
        # validate_data compares the names when both have them; it only warns
        # when one has names and the other not, which in a stream of chunks
        # would let columns be mixed up silently
        fitted_names = hasattr(self, "feature_names_in_")
        columns = getattr(X, "columns", None)
        given_names = (
            columns is not None
            and len(columns) > 0
            and all(isinstance(c, str) for c in columns)
        )
        if fitted_names and not given_names:
            raise ValueError(
                "X has no column names, but the selector was first fitted on a "
                "DataFrame with column names; pass the same DataFrame columns "
                "to every partial_fit call."
            )
        if given_names and not fitted_names:
            raise ValueError(
                "X has column names, but the selector was first fitted without "
                "them; pass the same kind of input to every partial_fit call."
            )

    def _validate_out_of_core(self, X, *, reset, allow_nd=False):
        """Chunked checks of an array that is read batch by batch.

        The same rules as for the same array in memory: 2-D (3-D where
        ``allow_nd``), real numbers of any dtype (booleans included), finite,
        at least one feature and enough rows.
        """
        name = type(self).__name__
        if len(X.shape) != 2 and not (allow_nd and len(X.shape) == 3):
            raise ValueError(
                f"Expected a 2-D array, got an array with shape {X.shape}."
            )
        real = X.dtype == np.bool_ or (
            np.issubdtype(X.dtype, np.number)
            and not np.issubdtype(X.dtype, np.complexfloating)
        )
        if not real:
            raise ValueError(
                f"X has dtype {X.dtype}; {name} needs real numbers "
                "(floats, integers or booleans)."
            )
        n_samples, n_features = X.shape[:2]
        if n_samples < (2 if reset else 1):
            raise ValueError(
                f"Found array with {n_samples} sample(s) (shape={X.shape}) while "
                f"a minimum of {2 if reset else 1} is required by {name}."
            )
        row_size = math.prod(X.shape[1:])
        if row_size == 0:
            raise ValueError(
                f"Found array with 0 feature(s) (shape={X.shape}) while a "
                f"minimum of 1 is required by {name}."
            )
        for rows in row_chunks(X):
            block = np.asarray(X[rows], dtype=np.float32)
            if not np.all(np.isfinite(block)):
                raise ValueError(
                    f"Input X contains NaN or infinity (or a value too large for "
                    f"float32) in rows {rows.start} to {rows.start + len(block) - 1}."
                )
        if reset:
            self.n_features_in_ = n_features
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        elif n_features != self.n_features_in_:
            raise ValueError(
                f"X has {n_features} features, but {name} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return X

    # ------------------------------------------------------------------ training
    def _n_epochs(self, n_samples):
        """Most epochs on ``n_samples`` rows: ``max_epochs``, or the auto rule.

        ``max_epochs="auto"`` allows about ``_auto_steps`` optimizer steps,
        whatever the number of rows (see :func:`auto_epochs`).
        """
        if not (isinstance(self.max_epochs, str) and self.max_epochs == "auto"):
            return int(self.max_epochs)
        n_train = n_samples
        if self.validation_fraction is not None:
            n_train -= _n_held_out(self.validation_fraction, n_samples)
        return auto_epochs(n_train, self.batch_size, self._auto_steps)

    def _training_callbacks(self):
        """The estimator's own callbacks, as ``(name, callback)`` pairs
        (their names in ``_callback_names``); none by default."""
        return []

    def _param_groups(self):
        """skorch's ``optimizer__param_groups`` of the estimator (a learning
        rate of its own for some parameters); none by default."""
        return []

    def _continue_training(self, X, y, classes=None, sample_weight=None):
        """A ``partial_fit`` call after the first: check, then train on.

        The parameters are checked again (``fit_context`` checks them at the
        first call only, but ``max_epochs`` or ``k`` may have changed), ``X``
        must have the first call's columns, and ``y`` is encoded as then
        (:meth:`_continued_target`, which an estimator may extend). Returns
        the validated ``X``, from which the caller reads its fitted
        attributes off the trained net.
        """
        validate_params(self)
        self._check_same_feature_names(X)
        X = self._validate_X(X, reset=False)
        sample_weight = self._validated_sample_weight(sample_weight, X)
        target = self._continued_target(X, y, classes)
        sample_weight = self._class_weighted(y, sample_weight, partial=True)
        resume_training(self, X, target, sample_weight)
        return X

    def _continued_target(self, X, y, classes):
        """The training target of a later ``partial_fit`` call."""
        return self._encode_target(X, y, classes)

    def _validated_sample_weight(self, sample_weight, X):
        """``None``, or the weights as float64 after scikit-learn's checks.

        One finite, non-negative weight per row of ``X``, not all zero; a
        scalar weighs every row alike.
        """
        if sample_weight is None:
            return None
        try:
            weights = check_sample_weight(sample_weight, X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            if "sample_weight" in str(exc):
                raise
            # e.g. "Sample weights must be 1D array or scalar, got 2D array."
            raise ValueError(f"Invalid sample_weight: {exc}") from exc
        if not np.any(weights > 0):
            raise ValueError(
                "sample_weight is zero for every row: sample weights must "
                "contain at least one non-zero number."
            )
        return weights

    def _resolve_n_threads(self, module, X, device):
        """PyTorch threads for training ``module`` on ``X`` (``None``: as set).

        ``"auto"``: one thread when a step's work, the rows of a batch times
        the module's weights, is below ``_SMALL_NETWORK_WORK``, and torch's
        current setting otherwise. Only the CPU is concerned.
        """
        if self.n_threads is None or torch.device(device).type != "cpu":
            return None
        if not (isinstance(self.n_threads, str) and self.n_threads == "auto"):
            return int(self.n_threads)
        n_rows = X.shape[0]
        batch = n_rows if self.batch_size == -1 else min(self.batch_size, n_rows)
        weights = sum(p.numel() for p in module.parameters())
        return 1 if batch * weights < _SMALL_NETWORK_WORK else None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # the same random_state gives the same model on the CPU; a GPU may
        # sum in another order (see the reliability guide)
        tags.non_deterministic = self.device != "cpu"
        tags.input_tags.sparse = self._accepts_sparse
        return tags

    def _forward(self, X, function=None):
        """Run the fitted module (or ``function``) on ``X`` in eval mode.

        Batch by batch, without gradients, on the threads used for fitting;
        returns a numpy array. ``function`` is a method of the module or of
        one of its parts (the transformers read their encoder).
        """
        check_is_fitted(self, "net_")
        self.net_.module_.eval()
        if function is None:
            function = self.net_.module_
        outputs = []
        with torch.no_grad(), self._fitted_threads():
            for Xb, _ in ArrayBatchIterator(
                Dataset(X, None), batch_size=self._predict_batch_size()
            ):
                outputs.append(function(Xb.to(self.net_.device)).cpu())
        return torch.cat(outputs).numpy()  # X has at least one row (validated)

    def _fitted_n_threads(self):
        """The threads of the fit (see ``n_threads``), or ``None``: as set."""
        if self.n_threads is None or str(self.net_.device).startswith("cuda"):
            return None
        return getattr(self, "n_threads_", None)

    def _fitted_threads(self):
        """The thread setting of the fit, for prediction (see ``n_threads``)."""
        return _torch_threads(self._fitted_n_threads())

    def _predict_batch_size(self):
        return 4096 if self.batch_size == -1 else max(self.batch_size, 1024)

    @property
    def history_(self):
        """Per-epoch training history (skorch ``History``) of the fitted net."""
        check_is_fitted(self, "net_")
        return self.net_.history

    # ------------------------------------------------------------------ saving
    # pickle (and copy, joblib, cloudpickle) and skops.io save the same state,
    # from __getstate__, and load it with __setstate__ (see _persistence.py)
    def __getstate__(self):
        """The saved state: parameters, fitted attributes and the net's state.

        The fitted net is described by its module's and optimizer's
        ``state_dict`` as numpy arrays, its callbacks' fitted state and its
        history, so a skops file names no type but the estimator's class.
        See ``docs/user_guide/persistence.rst``.
        """
        # a copy: BaseEstimator gives the instance's own __dict__ (outside
        # sklearn), which the keys below must not be added to
        state = dict(super().__getstate__())
        state["_sk_memsel_format"] = SAVED_FORMAT
        state["_sk_memsel_version"] = _package_version()
        net = state.pop("net_", None)
        if net is not None:
            state["_sk_memsel_net"] = net_state(net, self._fit_seed)
        return state

    def __setstate__(self, state):
        state = dict(state)
        saved = state.pop("_sk_memsel_version", "unknown")
        fmt = state.pop("_sk_memsel_format", None)
        net = state.pop("_sk_memsel_net", None)
        state.pop("net_", None)  # a saved model never holds a pickled net
        if fmt != SAVED_FORMAT:
            raise ValueError(
                f"This {type(self).__name__} was saved by sk_memsel {saved}, whose "
                f"saved models this sk_memsel {_package_version()} cannot read. "
                f"Install sk_memsel {saved} to load it, or fit the model again."
            )
        super().__setstate__(state)
        # a parameter added since the model was saved takes its default, the
        # value the saved model was in effect fitted with
        defaults = inspect.signature(type(self).__init__).parameters.values()
        for parameter in defaults:
            if parameter.name != "self" and not hasattr(self, parameter.name):
                setattr(self, parameter.name, parameter.default)
        if net is not None:
            self.net_ = self._load_net(net)

    def _load_net(self, saved):
        """The saved net: built as at fit, with the saved state loaded in.

        Built with the parameters the network was built with (a parameter
        changed by ``set_params`` since then does not change its shape).
        """
        if not isinstance(saved, dict) or not isinstance(saved.get("net"), dict):
            raise SavedStateError("The saved network must be described by a dict.")
        facts = saved["net"]
        device = load_device(facts.get("device", "cpu"))
        current = {name: getattr(self, name) for name in self._built_with}
        vars(self).update(self._built_with)
        try:
            net = new_net(
                self,
                device,
                facts.get("seed", 0),
                stratified=bool(facts.get("stratified")),
            )
        finally:
            vars(self).update(current)
        return load_net_state(net, saved)
