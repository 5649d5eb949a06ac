"""Argument checks shared by the modules of :mod:`sk_memsel.nn`.

Each check returns the value it accepts (converted where noted), so a
constructor can write ``self.k = check_positive_int("k", k)``. They raise a
plain ValueError that names the argument; the messages are part of the
tested behaviour.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from torch import Tensor


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is an int >= 1 (not a bool), else raise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return value


def check_positive_number(name: str, value: object) -> float:
    """Return ``float(value)`` for a finite real > 0 (not a bool), else raise.

    Used for temperatures and scales (``sigma``). NumPy scalars and 0-d
    tensors count as numbers (annealing schedules often make them).
    """
    if isinstance(value, Tensor) and value.ndim == 0 and value.is_floating_point():
        value = value.item()
    if (
        isinstance(value, bool | np.bool_)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or not value > 0
    ):
        raise ValueError(f"{name} must be a positive number, got {value!r}.")
    return float(value)


def check_shape(name: str, tensor: Tensor, expected: tuple) -> None:
    """Raise a ValueError unless ``tensor`` has the ``expected`` shape.

    ``expected`` holds ints, or ``None`` for a dimension that may take any
    size; the message names both the expected and the received shape.
    """
    shape = tuple(tensor.shape)
    if len(shape) != len(expected) or any(
        e is not None and s != e for s, e in zip(shape, expected, strict=False)
    ):
        want = ", ".join("?" if e is None else str(e) for e in expected)
        raise ValueError(f"{name} must have shape ({want}), got {shape}.")
