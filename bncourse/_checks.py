"""Argument checks shared by every public function of :mod:`bncourse`.

Each check either returns a cleaned-up value or raises a ``TypeError`` /
``ValueError`` whose message names the argument and says what was expected.
They never modify their inputs, so a caller that validates everything first
and only then computes cannot be left half-changed by a bad call.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.floating[Any]]


def float_array(name: str, value: ArrayLike) -> FloatArray:
    """Return ``value`` as a finite floating-point NumPy array (no copy if possible).

    Integer, boolean, complex and object arrays are refused: silently casting them
    would hide a bug (``[1, 2]`` is an int array) and hide the precision the
    caller gets back.
    """
    array = np.asarray(value)
    if array.dtype == object or not np.issubdtype(array.dtype, np.floating):
        raise TypeError(
            f"{name} must be a floating-point array (float32 or float64), "
            f"got dtype {array.dtype}; convert it with np.asarray({name}, dtype=np.float64)"
        )
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"{name} must contain only finite values, found {bad} NaN or infinite value(s)")
    return array


def input_array(name: str, value: ArrayLike) -> FloatArray:
    """A batch ``x`` or ``dy``: a finite float array with a batch axis and a channel axis."""
    array = float_array(name, value)
    if array.ndim < 2:
        raise ValueError(
            f"{name} must have at least 2 dimensions (N, C, ...), got shape {array.shape} "
            f"with ndim={array.ndim}; a batch of scalars x of shape (N,) is x[:, None]"
        )
    return array


def channel_axis(axis: object, ndim: int) -> int:
    """Normalize ``axis`` (negative allowed) to an index in ``[1, ndim)``.

    Axis 0 is the batch axis: normalizing over it alone is not batch norm.
    """
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis must be an int, got {type(axis).__name__}")
    index = int(axis)
    if not -ndim <= index < ndim:
        raise ValueError(f"axis must be in [{-ndim}, {ndim - 1}] for an input with ndim={ndim}, got {index}")
    index %= ndim
    if index == 0:
        raise ValueError(
            f"axis must not be the batch axis 0 (got axis={axis}); "
            "use axis=1 for (N, C, ...) or axis=-1 for channels-last"
        )
    return index


def per_channel(name: str, value: ArrayLike, num_channels: int) -> FloatArray:
    """A per-channel vector (γ, β, μ, σ²): finite floats of shape ``(C,)``."""
    array = float_array(name, value)
    if array.shape != (num_channels,):
        raise ValueError(f"{name} must have shape ({num_channels},), one value per channel, got shape {array.shape}")
    return array


def nonnegative(name: str, array: FloatArray) -> FloatArray:
    """Refuse a variance with a negative entry."""
    if np.any(array < 0):
        raise ValueError(f"{name} must be >= 0 (it is a variance), got minimum {float(np.min(array))}")
    return array


def _real(name: str, value: object, expected: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")
    return float(value)


def positive_real(name: str, value: object) -> float:
    """``eps``: a finite real number > 0."""
    number = _real(name, value, "a real number")
    if not (np.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def unit_interval(name: str, value: object) -> float:
    """``momentum``: a real number in [0, 1]."""
    number = _real(name, value, "a real number in [0, 1]")
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return number


def more_than_one_value_per_channel(x: FloatArray, axis: int) -> None:
    """Training-mode statistics need at least two values per channel (as in PyTorch).

    With one value the batch variance is 0, x̂ is 0 whatever x is, the output is β
    and the gradient with respect to x is 0: a silent bug, so it is an error.
    """
    values_per_channel = x.size // x.shape[axis] if x.shape[axis] else 0
    if values_per_channel <= 1:
        raise ValueError(
            f"Expected more than 1 value per channel when training, got input of shape {x.shape} "
            f"(channel axis {axis}): {values_per_channel} value(s) per channel"
        )
