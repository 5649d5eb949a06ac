"""What a skops file of a fitted estimator holds, and how the net is rebuilt.

:func:`skops.io.dumps` saves an object from its ``__getstate__`` and loads it
by creating the instance and calling ``__setstate__``; a type it does not
trust by default is refused unless the user names it. A skorch net cannot go
through that: skorch pickles its module, criterion and optimizer into bytes,
and reading those back runs pickle, which is what skops exists to avoid.

So the skops state of an estimator (:meth:`NeuralEstimatorMixin.__getstate__`;
``pickle`` goes through ``__reduce_ex__`` and keeps the whole net) holds,
instead of ``net_``, a description made only of plain values (numbers,
strings, lists, tuples, dicts) and numpy arrays (:func:`net_state`):

- ``module``: the tree of the trained :class:`torch.nn.Module`: for every
  module its class *by name*, its plain attributes (``in_features``, ``k``,
  ...), its parameters and buffers as numpy arrays and its children;
- ``history``: the training history, row by row;
- ``params``: the net's device, epochs, batch size and learning rate.

A skops file therefore names no type but the estimator's own class (and
whatever the user passed as a parameter, such as an optimizer class).
:func:`restore_net` rebuilds the modules only from classes it can vouch for
(:func:`layer_class`): modules defined in sk_memsel and the torch layers of
``TORCH_LAYERS``, given their plain attributes exactly as ``pickle`` would;
no constructor with arbitrary arguments and no unpickling runs.

The rebuilt net predicts exactly as the saved one; it has no optimizer state
and no callbacks, so it cannot be trained further (``partial_fit`` raises
:class:`~skorch.exceptions.SkorchTrainingImpossibleError`; ``fit`` trains a
new net as always).
"""

import importlib
import re
import sys

import numpy as np
import torch
from skorch.exceptions import DeviceWarning
from skorch.history import History
from torch import nn

from ._net import MemselNet
from ._warnings import warn

#: version of the skops layout of the estimators; bump it when a change makes
#: files saved by an earlier release load wrongly, so loading them fails clearly
SKOPS_FORMAT = 1

#: the types a skops file of a fitted sk_memsel estimator names (those that
#: ``skops.io.get_untrusted_types`` lists): the estimators themselves; a
#: class or object passed as a parameter (``optimizer=torch.optim.AdamW``,
#: ``callbacks``) is named too
SKOPS_TRUSTED_TYPES = (
    "sk_memsel._selectors._concrete_autoencoder.ConcreteAutoencoderSelector",
    "sk_memsel._selectors._stochastic_gates.StochasticGatesSelector",
    "sk_memsel._transformers._memory_selector_transformer.MemorySelectorTransformer",
    "sk_memsel._transformers._dnc_transformer.DNCTransformer",
    "sk_memsel._transformers._attention_transformer.MemoryAttentionTransformer",
)

#: the torch layers a saved network may be rebuilt from, besides sk_memsel's
#: own modules: those the estimators build, and a few close relatives
TORCH_LAYERS = {
    f"{cls.__module__}.{cls.__qualname__}": cls
    for cls in (
        nn.Sequential,
        nn.ModuleList,
        nn.ModuleDict,
        nn.Identity,
        nn.Linear,
        nn.modules.linear.NonDynamicallyQuantizableLinear,
        nn.LayerNorm,
        nn.Dropout,
        nn.ReLU,
        nn.LeakyReLU,
        nn.Tanh,
        nn.GELU,
        nn.Sigmoid,
        nn.SiLU,
        nn.ELU,
        nn.Softplus,
        nn.MultiheadAttention,
        nn.LSTMCell,
        nn.GRUCell,
    )
}

#: the sk_memsel subpackages whose modules a saved network may name
_OWN_PACKAGES = re.compile(
    r"sk_memsel\.(nn|_selectors|_transformers|_backbone)(\.\w+)*"
)

#: what every torch module has in its ``__dict__``; the rest are its own
#: attributes (``in_features``, ``k``, ...)
_MODULE_INTERNALS = frozenset(vars(nn.Module()))


class SkopsStateError(ValueError):
    """A skops file whose network description sk_memsel does not accept."""


# ------------------------------------------------------------------ plain values
def _plain(value, where, *, convert=False):
    """``value`` if it is made of plain values only, else a TypeError.

    Plain: None, bool, int, float, str, and lists, tuples and dicts with
    string keys of plain values. ``convert`` turns numpy scalars and
    one-element tensors into Python numbers (for the history).
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if convert and isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    if convert and isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, tuple):
        return tuple(_plain(v, where, convert=convert) for v in value)
    if isinstance(value, list):
        return [_plain(v, where, convert=convert) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _plain(v, where, convert=convert) for k, v in value.items()}
    raise TypeError(
        f"{where} holds a {type(value).__name__}, which a skops file of "
        "sk_memsel cannot hold (only numbers, strings and lists, tuples and "
        "dicts of them). Save the model with pickle or joblib instead, and "
        "load it only where you trust its source."
    )


def _array(tensor, where):
    """A numpy copy of ``tensor`` (on the CPU)."""
    try:
        return tensor.detach().cpu().numpy().copy()
    except TypeError as exc:  # a dtype numpy lacks, such as bfloat16
        raise TypeError(
            f"{where} has dtype {tensor.dtype}, which numpy (and so skops) "
            "cannot hold; convert the network to float32 first."
        ) from exc


def _tensor(array, where):
    """A tensor from a numpy array read from a file (numbers only)."""
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biufc":
        raise SkopsStateError(f"{where} must be a numeric array, got {array!r:.80}.")
    return torch.from_numpy(np.array(array, copy=True))


# ------------------------------------------------------------------ saving
def _module_state(module, where, seen):
    """The plain description of ``module`` and its children (see the docstring)."""
    for name in _MODULE_INTERNALS:
        hooks = module.__dict__.get(name)
        if "hooks" in name and isinstance(hooks, dict) and hooks:
            raise TypeError(
                f"{where} ({type(module).__name__}) has hooks registered, which "
                "a skops file cannot hold; remove them before saving."
            )
    attributes = {
        name: _plain(value, f"{where}.{name}")
        for name, value in vars(module).items()
        if name not in _MODULE_INTERNALS
    }

    def arrays(tensors, kind):
        out = {}
        for name, tensor in tensors.items():
            if tensor is not None:
                if id(tensor) in seen:
                    raise TypeError(
                        f"{where}.{name} is shared with {seen[id(tensor)]}; a "
                        "skops file of sk_memsel cannot keep weights shared."
                    )
                seen[id(tensor)] = f"{where}.{name}"
            out[name] = None if tensor is None else _array(tensor, f"{where}.{name}")
        return out

    name = f"{type(module).__module__}.{type(module).__qualname__}"
    try:
        layer_class(name)
    except SkopsStateError as exc:
        raise TypeError(f"{where} cannot be saved with skops: {exc}") from None
    return {
        "class": name,
        "training": bool(module.training),
        "attributes": attributes,
        "parameters": arrays(module._parameters, "parameter"),
        "frozen": sorted(
            name
            for name, p in module._parameters.items()
            if p is not None and not p.requires_grad
        ),
        "buffers": arrays(module._buffers, "buffer"),
        "non_persistent": sorted(module._non_persistent_buffers_set),
        "children": {
            name: None
            if child is None
            else _module_state(child, f"{where}.{name}", seen)
            for name, child in module._modules.items()
        },
    }


def net_state(net):
    """The description of a fitted skorch ``net`` that a skops file holds."""
    return {
        "module": _module_state(net.module_, "net_.module_", {}),
        "history": _plain(list(net.history), "net_.history", convert=True),
        "params": {
            "device": str(net.device),
            "max_epochs": _plain(net.max_epochs, "net_.max_epochs"),
            "batch_size": _plain(net.batch_size, "net_.batch_size"),
            "lr": _plain(net.lr, "net_.lr"),
        },
    }


# ------------------------------------------------------------------ loading
def layer_class(name):
    """The module class a saved network names, if sk_memsel vouches for it.

    Accepted: the torch layers of :data:`TORCH_LAYERS`, and the
    :class:`torch.nn.Module` subclasses defined in sk_memsel's ``nn``,
    ``_selectors``, ``_transformers`` and ``_backbone`` packages.
    """
    if not isinstance(name, str):
        raise SkopsStateError(f"A module class must be named, got {name!r:.80}.")
    if name in TORCH_LAYERS:
        return TORCH_LAYERS[name]
    module_name, _, qualname = name.rpartition(".")
    cls = None
    if _OWN_PACKAGES.fullmatch(module_name) and qualname.isidentifier():
        module = sys.modules.get(module_name)
        if module is None:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                module = None
        cls = getattr(module, qualname, None)
    if not (
        isinstance(cls, type)
        and issubclass(cls, nn.Module)
        and cls.__module__ == module_name
        and cls.__qualname__ == qualname
    ):
        raise SkopsStateError(
            f"The network names the module class {name!r}, which sk_memsel does "
            "not rebuild from a skops file: only sk_memsel's own modules and "
            "the torch layers listed in sk_memsel._backbone._persistence."
            "TORCH_LAYERS are."
        )
    return cls


def _names(mapping, where):
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and (k.isidentifier() or k.isdigit()) for k in mapping
    ):
        raise SkopsStateError(f"{where} must map names to values.")
    return mapping


def _build_module(state, where):
    """The module described by ``state`` (see :func:`_module_state`)."""
    if not isinstance(state, dict):
        raise SkopsStateError(f"{where} must describe a module.")
    cls = layer_class(state.get("class"))
    attributes = _names(state.get("attributes", {}), f"{where} attributes")
    for name, value in attributes.items():
        if name.startswith("__") or name in _MODULE_INTERNALS:
            raise SkopsStateError(f"{where} may not set the attribute {name!r}.")
        _plain(value, f"{where}.{name}")
    frozen = set(state.get("frozen", ()))
    parameters = {
        name: None
        if array is None
        else nn.Parameter(
            _tensor(array, f"{where}.{name}"), requires_grad=name not in frozen
        )
        for name, array in _names(state.get("parameters", {}), where).items()
    }
    buffers = {
        name: None if array is None else _tensor(array, f"{where}.{name}")
        for name, array in _names(state.get("buffers", {}), where).items()
    }
    children = {
        name: None if child is None else _build_module(child, f"{where}.{name}")
        for name, child in _names(state.get("children", {}), where).items()
    }
    non_persistent = state.get("non_persistent", [])
    if not all(isinstance(name, str) for name in non_persistent):
        raise SkopsStateError(f"{where} names its non-persistent buffers wrongly.")
    module = cls.__new__(cls)
    nn.Module.__init__(module)  # the hooks and the other internals, empty
    # then as pickle restores a module: its __setstate__ with its __dict__
    module.__setstate__(
        {
            **vars(module),
            **attributes,
            "training": bool(state.get("training", False)),
            "_parameters": parameters,
            "_buffers": buffers,
            "_non_persistent_buffers_set": set(non_persistent),
            "_modules": children,
        }
    )
    return module


def _load_device(device):
    """The device to load on: ``device``, or the CPU when it has no GPU."""
    if not isinstance(device, str):
        raise SkopsStateError(f"The device must be a string, got {device!r:.80}.")
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        warn(
            f"The network was saved on {device!r}, but no CUDA device is "
            "available: it is loaded on the CPU.",
            DeviceWarning,
        )
        return "cpu"
    return device


def restore_net(state):
    """A fitted net for prediction, rebuilt from :func:`net_state`'s description."""
    if not isinstance(state, dict):
        raise SkopsStateError("The saved network must be described by a dict.")
    module = _build_module(state.get("module"), "net_.module_")
    params = _plain(state.get("params", {}), "net_ parameters")
    history = _plain(state.get("history", []), "net_.history")
    net = MemselNet(
        module=module,
        criterion=nn.MSELoss,  # trimmed below, as the optimizer
        device=_load_device(params.get("device", "cpu")),
        max_epochs=params.get("max_epochs", 1),
        batch_size=params.get("batch_size", 128),
        lr=params.get("lr", 0.01),
        callbacks__print_log=None,
    )
    net.initialize()
    # skorch's own way of saying "for prediction only" (no optimizer,
    # criterion or callbacks); check_training_readiness names skops
    net.trim_for_prediction()
    net._loaded_from_skops = True
    net.history = History(history)
    # the modules' train / eval modes as saved (trimming set eval)
    _set_modes(net.module_, state.get("module"))
    return net


def _set_modes(module, state):
    module.training = bool(state.get("training", False))
    for name, child in module._modules.items():
        if child is not None:
            _set_modes(child, state["children"][name])
