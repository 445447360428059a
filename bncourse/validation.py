"""Argument validation for every public function and class of :mod:`bncourse`, in one place.

Each ``require_…`` helper returns a cleaned-up value or raises an error whose message names the
argument and says what was expected: ``TypeError`` for a value of the wrong type, ``ValueError`` for a
value of the right type that is out of range or of the wrong shape. They never modify their inputs, so
a caller that validates everything first and only then computes cannot be left half-changed by a bad call.
"""

from __future__ import annotations

import numbers
from collections.abc import Collection, Sized
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

FloatArray = NDArray[np.floating[Any]]
Option = TypeVar("Option")


def require_float_array(name: str, value: ArrayLike, *, finite: bool = True) -> FloatArray:
    """``value`` as a floating-point NumPy array (no copy if possible), finite unless ``finite=False``.

    Integer, boolean, complex and object arrays are refused: silently casting them would hide a bug
    (``[1, 2]`` is an int array) and hide the precision the caller gets back.
    """
    array = np.asarray(value)
    if array.dtype.kind != "f":  # not float16/32/64/longdouble (int, bool, complex, object, ...)
        raise TypeError(
            f"{name} must be a floating-point array (float32 or float64), "
            f"got dtype {array.dtype}; convert it with np.asarray({name}, dtype=np.float64)"
        )
    if finite and not np.isfinite(array).all():  # the method: far less overhead than np.all on small arrays
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"{name} must contain only finite values, found {bad} NaN or infinite value(s)")
    return array


def require_batch(name: str, value: ArrayLike) -> FloatArray:
    """A batch ``x`` or ``dy``: a finite float array with a batch axis and at least one more axis."""
    array = require_float_array(name, value)
    if array.ndim < 2:
        raise ValueError(
            f"{name} must have at least 2 dimensions (N, C, ...), got shape {array.shape} "
            f"with ndim={array.ndim}; a batch of scalars x of shape (N,) is x[:, None]"
        )
    return array


def require_shape(name: str, array: FloatArray, shape: tuple[int, ...], what: str) -> FloatArray:
    """Refuse an ``array`` whose shape is not ``shape`` (``what`` says whose shape it must have)."""
    if array.shape != shape:
        raise ValueError(f"{name} must have the shape of {what}, {shape}, got {array.shape}")
    return array


def require_int(name: str, value: object, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """An ``int`` (NumPy integers too, ``bool`` not) in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    number = int(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        if maximum is None:
            expected = f">= {minimum}"
        elif minimum is None:
            expected = f"<= {maximum}"
        else:
            expected = f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be an int {expected}, got {number}")
    return number


def require_bool(name: str, value: object) -> bool:
    """``True`` or ``False`` (NumPy's too); ``0``, ``1`` and strings are refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def require_one_of(name: str, value: Any, options: Collection[Option]) -> Option:
    """One of ``options`` (compared with ``==``); the message lists them."""
    for option in options:
        if value == option:
            return option
    listed = " or ".join(repr(option) for option in options)
    raise ValueError(f"{name} must be {listed}, got {value!r}")


def require_callable(name: str, value: object) -> None:
    """Something that can be called, such as a function."""
    if not callable(value):
        raise TypeError(f"{name} must be callable (a function), got {type(value).__name__}")


def require_shape_tuple(name: str, value: object) -> tuple[int, ...]:
    """A shape: an int ``n`` (meaning ``(n,)``) or a non-empty sequence of ints >= 1."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return (require_int(name, value, minimum=1),)
    if not isinstance(value, (tuple, list)) or len(value) == 0:
        raise TypeError(f"{name} must be an int or a non-empty tuple of ints, got {value!r}")
    return tuple(require_int(f"{name}[{i}]", v, minimum=1) for i, v in enumerate(value))


def require_mask(name: str, value: object, shape: tuple[int, ...]) -> NDArray[np.bool_]:
    """A boolean array of ``shape``."""
    array = np.asarray(value)
    if array.dtype != np.bool_:
        raise TypeError(f"{name} must be a boolean array, got dtype {array.dtype}")
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (x's shape without the channel axis), got {array.shape}")
    return array


def require_float_dtype(name: str, value: DTypeLike) -> np.dtype[Any]:
    """A floating-point NumPy dtype."""
    dtype = np.dtype(value)
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"{name} must be a floating-point dtype, got {dtype}")
    return dtype


def require_channel_axis(axis: object, ndim: int) -> int:
    """``axis`` (negative allowed) as an index in ``[1, ndim)``.

    Axis 0 is the batch axis: normalizing over it alone is not batch norm.
    """
    index = require_int("axis", axis)
    if not -ndim <= index < ndim:
        raise ValueError(f"axis must be in [{-ndim}, {ndim - 1}] for an input with ndim={ndim}, got {index}")
    index %= ndim
    if index == 0:
        raise ValueError(
            f"axis must not be the batch axis 0 (got axis={axis}); "
            "use axis=1 for (N, C, ...) or axis=-1 for channels-last"
        )
    return index


def require_layer_axis(axis: object) -> int:
    """A layer's channel axis before it has seen an input: an int other than 0, the batch axis."""
    index = require_int("axis", axis)
    if index == 0:
        raise ValueError("axis must not be the batch axis 0; use axis=1 for (N, C, ...) or axis=-1 for channels-last")
    return index


def require_per_channel(name: str, value: ArrayLike, num_channels: int) -> FloatArray:
    """A per-channel vector (γ, β, μ, σ²): finite floats of shape ``(C,)``."""
    return require_per_channel_shape(name, require_float_array(name, value), num_channels)


def require_per_channel_shape(name: str, array: FloatArray, num_channels: int) -> FloatArray:
    """Refuse an array whose shape is not ``(C,)``."""
    if np.shape(array) != (num_channels,):
        raise ValueError(f"{name} must have shape ({num_channels},), one value per channel, got shape {np.shape(array)}")
    return array


def require_nonnegative(name: str, array: FloatArray) -> FloatArray:
    """Refuse a variance with a negative entry."""
    if np.any(array < 0):
        raise ValueError(f"{name} must be >= 0 (it is a variance), got minimum {float(np.min(array))}")
    return array


def _real(name: str, value: object, expected: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")
    return float(value)


def require_positive(name: str, value: object) -> float:
    """A finite real number > 0 (``eps``, a learning rate, a scale)."""
    number = _real(name, value, "a real number")
    if not (np.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def require_nonnegative_real(name: str, value: object) -> float:
    """A finite real number >= 0."""
    number = _real(name, value, "a real number")
    if not (np.isfinite(number) and number >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def require_unit_interval(name: str, value: object) -> float:
    """A real number in [0, 1] (``momentum``)."""
    number = _real(name, value, "a real number in [0, 1]")
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return number


def require_fraction(name: str, value: object) -> float:
    """A real number strictly between 0 and 1 (a share of the data)."""
    number = _real(name, value, "a real number in (0, 1)")
    if not 0.0 < number < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return number


def require_dropout_rate(name: str, value: object) -> float:
    """A dropout rate: a real number in [0, 1) (1 would drop every unit)."""
    number = _real(name, value, "a real number in [0, 1)")
    if not 0.0 <= number < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return number


def require_nonempty(name: str, values: Sized) -> None:
    """Refuse an empty sequence."""
    if len(values) == 0:
        raise ValueError(f"{name} must hold at least one value")


def require_more_than_one_value_per_channel(x: FloatArray, axis: int) -> None:
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
