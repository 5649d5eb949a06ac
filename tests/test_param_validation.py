"""Parameter validation and parameter docs of every public estimator.

The parameters are checked the scikit-learn way: a ``_parameter_constraints``
dict per estimator (the shared parameters' constraints written once on
``NeuralEstimatorMixin``), checked by scikit-learn's ``@_fit_context`` on ``fit`` and
``partial_fit``, which raise ``InvalidParameterError`` (a ValueError and a
TypeError) naming the parameter. Only rules that span parameters or need the
data are written by hand; they raise a plain ValueError.
"""

import inspect
import threading

import numpy as np
import pytest
import torch
from numpydoc.docscrape import NumpyDocString
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import check_param_validation
from skorch.callbacks import Callback, Checkpoint, EarlyStopping, EpochTimer

from sk_memsel import ConcreteAutoencoderSelector, StochasticGatesSelector
from sk_memsel._backbone import NeuralEstimatorMixin
from sk_memsel._backbone._compat import InvalidParameterError
from sk_memsel._backbone._params import SHARED_DOCS
from sk_memsel._backbone._training import RESERVED_CALLBACK_NAMES

from ._toy import ToyRegressor
from .test_common import FAST_PARAMS, public_estimators

ESTIMATORS = list(public_estimators())
IDS = [cls.__name__ for cls in ESTIMATORS]
SELECTORS = [ConcreteAutoencoderSelector, StochasticGatesSelector]
SHARED = NeuralEstimatorMixin._parameter_constraints


def make(cls, **params):
    return cls(**{"random_state": 0, **FAST_PARAMS.get(cls.__name__, {}), **params})


def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 6))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


# ------------------------------------------------------------------ coverage
@pytest.mark.parametrize("cls", [*ESTIMATORS, ToyRegressor], ids=lambda c: c.__name__)
def test_every_parameter_has_a_constraint(cls):
    assert set(cls._parameter_constraints) == set(inspect.signature(cls).parameters)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_shared_constraints_are_written_once(cls):
    settling = NeuralEstimatorMixin._settling_parameter_constraints
    for name, constraints in cls._parameter_constraints.items():
        if name in settling and cls in SELECTORS:
            assert constraints is settling[name], name
        elif name in settling and constraints is settling[name]:
            continue  # a transformer with a budget in steps (max_epochs="auto")
        elif name in SHARED:
            assert constraints is SHARED[name], name


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_scikit_learn_check_param_validation(cls):
    # every parameter set to an object of no valid type, then to the values
    # scikit-learn derives from each constraint, must fail fit (and
    # partial_fit) with an InvalidParameterError naming the parameter
    check_param_validation(cls.__name__, make(cls))


def test_invalid_parameter_error_is_a_value_and_a_type_error():
    assert issubclass(InvalidParameterError, ValueError)
    assert issubclass(InvalidParameterError, TypeError)


# ------------------------------------------------------------------ bad values
INF, NAN = np.inf, np.nan

#: (parameter, invalid value) for every estimator
COMMON_INVALID = [
    ("max_epochs", 0),
    ("max_epochs", 2.5),
    ("max_epochs", "many"),
    ("max_epochs", True),  # scikit-learn's Interval takes a bool for an int
    ("batch_size", 0),
    ("batch_size", -2),
    ("batch_size", True),
    ("lr", 0.0),
    ("lr", NAN),
    ("lr", INF),
    ("optimizer", "adamax"),
    ("optimizer", 3),
    ("optimizer", torch.nn.Linear),
    ("weight_decay", -0.1),
    ("weight_decay", INF),
    ("device", "gpu"),
    ("device", 0),
    ("random_state", "seed"),
    ("random_state", -1),
    ("verbose", -1),
    ("callbacks", "none"),
    ("callbacks", [1]),
    ("callbacks", [EpochTimer]),  # the class, not an instance
    ("callbacks", [("timer", 1)]),
    ("validation_fraction", 0.0),
    ("validation_fraction", 1.0),
    ("validation_fraction", NAN),
    ("n_iter_no_change", 0),
    ("n_iter_no_change", True),
    ("n_threads", 0),
    ("n_threads", True),
    ("n_threads", 1.5),
    ("n_threads", "many"),
]
SETTLING_INVALID = [
    ("settle_steps", 0),
    ("settle_steps", 2.5),
    ("settle_steps", True),
    ("max_epochs", INF),
]
TRANSFORMER_INVALID = [
    ("standardize", "yes"),
    ("task", "ranking"),
]

#: (parameter, invalid value) particular to each estimator
INVALID = {
    "ConcreteAutoencoderSelector": SETTLING_INVALID
    + [
        ("k", 0),
        ("k", True),
        ("k", 2.5),
        ("k", "all"),
        ("k", None),
        ("objective", "ranking"),
        ("temperature", 0.0),
        ("temperature", INF),
        ("temperature", NAN),
        ("min_temperature", 0.0),
        ("min_temperature", INF),
        ("annealing", "cosine"),
        ("warmup_epochs", -1),
        ("warmup_epochs", 1.5),
        ("warmup_epochs", False),
        ("stop_annealing_epoch", 0),
        ("hidden_layer_sizes", (0,)),
        ("hidden_layer_sizes", (4, 2.5)),
        ("hidden_layer_sizes", (True,)),
        ("hidden_layer_sizes", "16"),
        ("hidden_layer_sizes", 0),
        ("dropout", 1.0),
        ("dropout", -0.1),
        ("dropout", NAN),
        ("gjs_weight", -1.0),
        ("gjs_weight", INF),
        ("convergence_threshold", 1.5),
        ("convergence_threshold", NAN),
        ("selector_lr", 0.0),
        ("selector_lr", INF),
    ],
    "StochasticGatesSelector": SETTLING_INVALID
    + [
        ("k", 0),
        ("k", True),
        ("k", -2),
        ("k", 2.5),
        ("k", "all"),
        ("threshold", 1.5),
        ("threshold", -0.1),
        ("threshold", NAN),
        ("gate", "bernoulli"),
        ("hidden_layer_sizes", (4, 0)),
        ("hidden_layer_sizes", "64"),
        ("activation", "sigmoid"),
        ("reg_weight", -1.0),
        ("reg_weight", INF),
        ("reg_weight", NAN),
        ("reg_reduction", "none"),
        ("sigma", 0.0),
        ("sigma", -1.0),
        ("sigma", INF),
        ("temperature", 0),
        ("temperature", INF),
        ("groups", 3),
        ("task", "ranking"),
        ("gate_lr", 0.0),
        ("gate_lr", INF),
        ("gate_lr", NAN),
    ],
    "MemorySelectorTransformer": TRANSFORMER_INVALID
    + [("max_epochs", "auto")]  # its budget is in epochs
    + [
        ("out_features", 0),
        ("out_features", True),
        ("memory_size", 2.5),
        ("embedding_size", -1),
        ("hidden_size", 0),
        ("temperature", 0.0),
        ("temperature", INF),
    ],
    "DNCTransformer": TRANSFORMER_INVALID
    + [
        ("conv_channels", 0),
        ("kernel_size", 0),
        ("max_tokens", True),
        ("pooling", "sum"),
        ("hidden_size", 0),
        ("memory_size", 0),
        ("word_size", 1.5),
        ("num_reads", 0),
        ("num_writes", -1),
        ("max_steps", 0),
        ("max_steps", True),
        ("clip_value", -2.0),
        ("clip_value", INF),
        ("clip_value", NAN),
    ],
    "MemoryAttentionTransformer": TRANSFORMER_INVALID
    + [
        ("kernel_size", 0),
        ("max_tokens", True),
        ("units", 0),
        ("num_heads", True),
        ("memory_size", 0),
        ("num_heads", 0),
        ("depth", 0),
        ("pooling", "sum"),
        ("dropout", 1.0),
        ("dropout", NAN),
    ],
}


def test_every_estimator_has_a_table_of_invalid_values():
    assert set(INVALID) == set(IDS)


@pytest.mark.parametrize(
    ("cls", "name", "value"),
    [(c, n, v) for c in ESTIMATORS for n, v in COMMON_INVALID + INVALID[c.__name__]],
    ids=lambda v: v.__name__ if isinstance(v, type) else repr(v),
)
def test_invalid_values_are_named(cls, name, value):
    X, y = data()
    est = make(cls, **{name: value})
    message = rf"The '{name}' parameter of {cls.__name__} must be .* Got .* instead"
    with pytest.raises(InvalidParameterError, match=message):
        est.fit(X, y)


def test_partial_fit_checks_the_parameters_at_every_call():
    X, y = data()
    selector = make(StochasticGatesSelector, k=2).partial_fit(X, y)
    with pytest.raises(InvalidParameterError, match="'max_epochs' parameter"):
        selector.set_params(max_epochs=0).partial_fit(X, y)


# ------------------------------------------------------------------ cross rules
#: the rules checked by hand: they span parameters or need the data
CROSS_RULES = [
    (
        ConcreteAutoencoderSelector,
        {"temperature": 1.0, "min_temperature": 2.0},
        "min_temperature=2.0 is higher than temperature=1.0",
    ),
    (
        StochasticGatesSelector,
        {"groups": [0, 1, 2]},
        "groups must give one label per feature",
    ),
]


@pytest.mark.parametrize(("cls", "params", "message"), CROSS_RULES)
def test_rules_that_span_parameters_are_plain_value_errors(cls, params, message):
    X, y = data()
    with pytest.raises(ValueError, match=message) as info:
        make(cls, **params).fit(X, y)
    assert not isinstance(info.value, InvalidParameterError)


def test_units_must_split_into_heads():
    from sk_memsel import MemoryAttentionTransformer

    X, y = data()
    est = make(MemoryAttentionTransformer, units=9, num_heads=2)
    with pytest.raises(ValueError, match="units=9 must be divisible by num_heads=2"):
        est.fit(X, y)


# ------------------------------------------------------------------ numpy ints
def _as_numpy_ints(params):
    def convert(value):
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return np.int64(value)
        if isinstance(value, tuple):
            return tuple(convert(v) for v in value)
        return value

    return {name: convert(value) for name, value in params.items()}


def _outputs(est, X, y):
    est.fit(X, y)
    out = [est.transform(X)]
    if hasattr(est, "feature_importances_"):
        out.append(est.feature_importances_)
    return out


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_numpy_integers_are_accepted_and_give_the_same_result(cls):
    X, y = data()
    params = make(cls, max_epochs=2).get_params()
    if cls in SELECTORS:
        params["k"] = 2
    expected = _outputs(cls(**params), X, y)
    got = _outputs(cls(**_as_numpy_ints(params)), X, y)
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_array_equal(a, b)


def test_grid_search_over_a_numpy_range_of_k():
    X, _ = data()
    search = GridSearchCV(
        make(ConcreteAutoencoderSelector, max_epochs=2), {"k": np.arange(2, 4)}, cv=2
    )
    search.fit(X)
    assert isinstance(search.best_params_["k"], np.integer)
    assert search.best_estimator_.get_support().sum() == search.best_params_["k"]


def test_a_tuple_of_callbacks_and_named_pairs_is_accepted():
    X, y = data()
    callbacks = (EpochTimer(), ("timer", EpochTimer()))
    est = make(StochasticGatesSelector, k=2, callbacks=callbacks).fit(X, y)
    names = [name for name, _ in est.net_.callbacks_]
    assert "user_0_EpochTimer" in names and "timer" in names


# ------------------------------------------------------- validation_fraction
@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
@pytest.mark.parametrize(
    ("fraction", "message"),
    [
        # scikit-learn said "The test_size = 1 should be greater or equal to
        # the number of classes = 2" and "... the resulting train set will be
        # empty", naming neither validation_fraction nor what to change
        (0.01, r"validation_fraction=0.01 holds out 1 of the 40 rows .* 2 rows"),
        (0.99, r"validation_fraction=0.99 .* leaves 0 for training"),
    ],
)
def test_a_validation_fraction_too_small_or_too_large_is_named(cls, fraction, message):
    X, y = data()
    # the concrete selector learns y (and stratifies by it) with objective="auto"
    learns_y = {"objective": "auto"} if cls is ConcreteAutoencoderSelector else {}
    est = make(cls, validation_fraction=fraction, **learns_y)
    with pytest.raises(ValueError, match=message) as info:
        est.fit(X, y)
    assert "Use a validation_fraction between" in str(info.value)


def test_a_validation_split_needs_two_rows_of_every_class():
    X, y = data()
    y[0] = 2  # a class of one row cannot be on both sides
    est = make(StochasticGatesSelector, validation_fraction=0.25)
    with pytest.raises(ValueError, match="validation_fraction=0.25 .* has only 1"):
        est.fit(X, y)


def test_a_partial_fit_chunk_too_small_for_the_validation_split_is_named():
    X, y = data()
    est = make(StochasticGatesSelector, validation_fraction=0.25).partial_fit(X, y)
    n_epochs = est.n_epochs_
    chunk = [0, 1, 3, 8]  # two rows of each class: one row held out is too few
    np.testing.assert_array_equal(y[chunk], [1, 1, 0, 0])
    with pytest.raises(
        ValueError, match="validation_fraction=0.25 holds out 1 of the 4"
    ):
        est.partial_fit(X[chunk], y[chunk])
    assert est.n_epochs_ == n_epochs


# ------------------------------------------------------------------ callbacks
@pytest.mark.parametrize(
    "cls, name",
    [(StochasticGatesSelector, name) for name in RESERVED_CALLBACK_NAMES]
    + [(cls, name) for cls in ESTIMATORS for name in cls._callback_names],
)
def test_a_callback_named_like_one_of_ours_is_refused_with_the_names(cls, name):
    # skorch said "Found duplicate user-set callback name 'settled'", though
    # the user had set it once
    X, y = data()
    est = make(cls, callbacks=[(name, Callback())])
    with pytest.raises(ValueError, match=f"'{name}' is used by sk_memsel's own") as e:
        est.fit(X, y)
    reserved = RESERVED_CALLBACK_NAMES + cls._callback_names
    assert ", ".join(sorted(reserved)) in str(e.value)


class FailsWhenTrainingStarts(Callback):
    def on_train_begin(self, net, **kwargs):
        raise RuntimeError("training started")


@pytest.mark.parametrize(
    "callback", [EarlyStopping(), Checkpoint(dirname="never-written")]
)
def test_a_callback_on_the_validation_loss_needs_validation_fraction(callback):
    # EarlyStopping raised KeyError: "Key 'valid_loss' was not found in
    # history." once the first epoch had been trained
    X, y = data()
    callbacks = [FailsWhenTrainingStarts(), callback]
    est = make(StochasticGatesSelector, callbacks=callbacks)
    name = type(callback).__name__
    with pytest.raises(
        ValueError, match=rf"callbacks\[1\] \({name}\) monitors 'valid_"
    ):
        est.fit(X, y)  # refused before training starts


def test_a_callback_on_the_validation_loss_runs_with_validation_fraction():
    X, y = data()
    stopping = ("patient", EarlyStopping(patience=1, threshold=1e9))
    est = make(StochasticGatesSelector, callbacks=[stopping], validation_fraction=0.25)
    assert len(est.fit(X, y).history_) == 2  # stopped by the user's callback


class HoldsALock(Callback):
    def __init__(self):
        self.lock = threading.Lock()


def test_a_callback_that_cannot_be_copied_is_named_with_the_reason():
    # the deepcopy in _train said only "cannot pickle '_thread.lock' object"
    X, y = data()
    est = make(StochasticGatesSelector, callbacks=[("guarded", HoldsALock())])
    message = r"'guarded' \(HoldsALock\) cannot be copied .*_thread.lock.*Each fit"
    with pytest.raises(TypeError, match=message):
        est.fit(X, y)


# ------------------------------------------------------------------ docs
def _parameters(cls):
    return NumpyDocString(inspect.getdoc(cls))["Parameters"]


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_every_parameter_is_documented_in_signature_order(cls):
    documented = [p.name for p in _parameters(cls)]
    assert documented == list(inspect.signature(cls).parameters)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_shared_parameters_read_the_same_everywhere(cls):
    defaults = inspect.signature(cls).parameters
    for param in _parameters(cls):
        if param.name not in SHARED_DOCS:
            continue
        doc = SHARED_DOCS[param.name]
        kind, text = doc(cls) if callable(doc) else doc
        assert param.type.startswith(f"{kind}, default="), param.name
        assert repr(defaults[param.name].default).strip("'") in param.type
        assert " ".join(param.desc).startswith(" ".join(text.split())), param.name


@pytest.mark.parametrize("cls", ESTIMATORS, ids=IDS)
def test_parameter_docs_are_short(cls):
    # the reasoning and the experiments behind a default belong in the user
    # guide, with a link from the parameter
    for param in _parameters(cls):
        words = len(" ".join(param.desc).split())
        assert words <= 70, f"{param.name}: {words} words"
