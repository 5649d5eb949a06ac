"""One saved format for pickle and skops: the net as state dicts, rebuilt on load.

``pickle`` (and ``copy``, joblib, cloudpickle) and :func:`skops.io.dumps`
save a fitted estimator from the same state, its ``__getstate__``: the
parameters and fitted attributes, and, instead of the skorch net ``net_``,
a description made only of numbers, strings, lists, tuples, dicts and numpy
arrays (:func:`net_state`):

- ``module``: the module's ``state_dict()`` (its parameters and buffers) as
  numpy arrays, and the plain attributes of each submodule (such as the
  temperature an annealed layer ended at);
- ``optimizer``: the optimizer's ``state_dict()`` (Adam's moment estimates
  and step counts, each group's learning rate), tensors as numpy arrays;
- ``callbacks``: each callback's fitted state, its attributes whose names
  end in ``_`` (skorch's convention: the early stopping's best score and
  weights, the settling rule's step count);
- ``history``: the training history, row by row;
- ``net``: the device, the seed of the fit and the last call's epochs.

Loading (``__setstate__``) builds the same net with the estimator's own
builder (:func:`._training.new_net`, with the parameters the
network was built with) and loads the saved state into it with
``load_state_dict``. The loaded estimator predicts exactly as the saved one
and trains on with ``partial_fit``. A skops file names no type but the
estimator's class (and what the user passed as a parameter, such as an
optimizer class), and loading it builds no class that the file names.
"""

import numpy as np
import torch
from skorch.exceptions import DeviceWarning
from skorch.history import History
from torch import nn

from ._warnings import warn

#: version of the saved layout of the estimators (pickle and skops alike);
#: bump it when a change makes models saved by an earlier release load
#: wrongly, so loading them fails clearly
SAVED_FORMAT = 2

#: the key that marks a tensor saved as a numpy array inside a callback's state
_TENSOR = "sk_memsel.tensor"

#: what every torch module has in its ``__dict__``; the rest are its own
#: attributes (``in_features``, ``temperature``, ...)
_MODULE_INTERNALS = frozenset(vars(nn.Module()))


class SavedStateError(ValueError):
    """A saved network that does not fit the network the estimator builds."""


# ------------------------------------------------------------------ values
def _is_plain(value):
    """Whether ``value`` is None, a bool, number or string, or a list, tuple
    or string-keyed dict of such values."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def _array(tensor, where):
    """A numpy copy of ``tensor`` (on the CPU)."""
    try:
        return tensor.detach().cpu().numpy().copy()
    except TypeError as exc:  # a dtype numpy lacks, such as bfloat16
        raise TypeError(
            f"{where} has dtype {tensor.dtype}, which numpy cannot hold; "
            "convert the network to float32 first."
        ) from exc


def _tensor(array, where):
    """A tensor from a numpy array read from a file (numbers only)."""
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biufc":
        raise SavedStateError(f"{where} must be a numeric array, got {array!r:.80}.")
    return torch.from_numpy(np.array(array, copy=True))


def _saved(value, where):
    """``value`` with every tensor replaced by a marked numpy array, and
    numpy scalars by Python numbers (dicts, lists and tuples are walked):
    the form of the optimizer's and the callbacks' state and of the history
    in a saved model; :func:`_loaded` turns it back."""
    if isinstance(value, torch.Tensor):
        return {_TENSOR: _array(value, where)}
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    if isinstance(value, dict):
        return {k: _saved(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_saved(v, where) for v in value)
    return value


def _loaded(value, where):
    """The inverse of :func:`_saved`: marked arrays become tensors again."""
    if isinstance(value, dict):
        if set(value) == {_TENSOR}:
            return _tensor(value[_TENSOR], where)
        return {k: _loaded(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_loaded(v, where) for v in value)
    return value


# ------------------------------------------------------------------ saving
def _module_attributes(module):
    """``{submodule name: {attribute: plain value}}`` of ``module``'s tree."""
    return {
        name: {
            key: value
            for key, value in vars(sub).items()
            if key not in _MODULE_INTERNALS and _is_plain(value)
        }
        for name, sub in module.named_modules()
    }


def _optimizer_state(optimizer):
    """The optimizer's ``state_dict()``, its parameters' numbers as strings."""
    state = optimizer.state_dict()
    entries = {str(index): entry for index, entry in state["state"].items()}
    return _saved(
        {"state": entries, "param_groups": state["param_groups"]}, "optimizer"
    )


def _callback_state(callback, where):
    """A callback's fitted state: its attributes named with a trailing ``_``."""
    return {
        key: _saved(value, f"{where}.{key}")
        for key, value in vars(callback).items()
        if key.endswith("_") and not key.startswith("_")
    }


def net_state(net, seed):
    """The description of a fitted skorch ``net`` that a saved model holds.

    ``seed`` is the one the net was built and first trained from.
    """
    module = net.module_
    return {
        "module": {
            "state_dict": {
                name: _array(tensor, f"net_.module_.{name}")
                for name, tensor in module.state_dict().items()
            },
            "attributes": _module_attributes(module),
            "training": bool(module.training),
        },
        "optimizer": _optimizer_state(net.optimizer_),
        "callbacks": {
            name: _callback_state(cb, f"the callback {name!r}")
            for name, cb in net.callbacks_
        },
        "history": _saved(list(net.history), "net_.history"),
        "net": {
            "device": str(net.device),
            "seed": int(seed),
            "stratified": bool(getattr(net.train_split, "stratified", False)),
            "max_epochs": int(net.max_epochs),
        },
    }


# ------------------------------------------------------------------ loading
def load_device(device):
    """The device to load on: ``device``, or the CPU when it has no GPU."""
    if not isinstance(device, str):
        raise SavedStateError(f"The device must be a string, got {device!r:.80}.")
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        warn(
            f"The network was saved on {device!r}, but no CUDA device is "
            "available: it is loaded on the CPU.",
            DeviceWarning,
        )
        return "cpu"
    return device


def _section(state, key, kind=dict):
    value = state.get(key) if isinstance(state, dict) else None
    if not isinstance(value, kind):
        raise SavedStateError(f"The saved network has no valid {key!r} section.")
    return value


def _load_module(module, state):
    """Load the saved parameters, buffers and attributes into ``module``."""
    arrays = _section(state, "state_dict")
    tensors = {name: _tensor(a, f"net_.module_.{name}") for name, a in arrays.items()}
    try:
        module.load_state_dict(tensors)
    except RuntimeError as exc:
        raise SavedStateError(
            "The saved network does not fit the network this estimator "
            f"builds from its parameters: {exc}"
        ) from None
    attributes = _section(state, "attributes")
    for name, values in attributes.items():
        try:
            sub = module.get_submodule(name)
        except AttributeError:
            raise SavedStateError(
                f"The saved network has no module {name!r}."
            ) from None
        for key, value in dict(values).items():
            if (
                key.startswith("__")
                or key in _MODULE_INTERNALS
                or not hasattr(sub, key)
                or not _is_plain(value)
            ):
                raise SavedStateError(
                    f"The saved network may not set {name or 'the module'}'s "
                    f"attribute {key!r}."
                )
            setattr(sub, key, value)
    module.train(bool(state.get("training", False)))


def _load_optimizer(optimizer, state):
    entries = _loaded(_section(state, "state"), "optimizer state")
    param_groups = _loaded(_section(state, "param_groups", list), "param_groups")
    try:
        states = {int(index): entry for index, entry in entries.items()}
        optimizer.load_state_dict({"state": states, "param_groups": param_groups})
    except (ValueError, KeyError, TypeError) as exc:
        raise SavedStateError(
            f"The saved optimizer state does not fit the network: {exc}"
        ) from None


def load_net_state(net, state):
    """Load :func:`net_state`'s description into ``net``, newly built alike."""
    _load_module(net.module_, _section(state, "module"))
    _load_optimizer(net.optimizer_, _section(state, "optimizer"))
    callbacks = _section(state, "callbacks")
    for name, cb in net.callbacks_:
        for key, value in dict(callbacks.get(name, {})).items():
            if not (key.endswith("_") and key.isidentifier()):
                raise SavedStateError(
                    f"The saved state of the callback {name!r} may not set {key!r}."
                )
            setattr(cb, key, _loaded(value, f"the callback {name!r}.{key}"))
    net.history = History(_loaded(_section(state, "history", list), "history"))
    net.max_epochs = int(_section(state, "net").get("max_epochs", 1))
    return net
