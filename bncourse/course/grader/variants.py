r"""Normalization written so that each classic mistake is one switch: what the mistake models are built from.

Everything is computed in float64 and cast back to the input's dtype, so a model differs from the reference
only by its mistake, never by round-off.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bncourse.functional import channel_shape, reduction_axes
from bncourse.validation import FloatArray

EPS_PLACES = ("inside", "outside", "missing", "no-sqrt")


def column(vector: Any, ndim: int, axis: int) -> FloatArray:
    """A ``(C,)`` vector, in float64, shaped to broadcast along ``axis`` of an ``ndim`` array."""
    wide = np.asarray(vector, dtype=np.float64)
    result: FloatArray = wide.reshape(channel_shape(ndim, axis % ndim, wide.shape[0]))
    return result


def all_but(ndim: int, axis: int) -> tuple[int, ...]:
    """Every axis of an ``ndim`` array except ``axis`` (which may be negative): batch norm's reduction axes."""
    return reduction_axes(ndim, axis % ndim)


def scale_of(var: Any, eps: float, place: str = "inside") -> FloatArray:
    r"""The divisor: :math:`\sqrt{\sigma^2+\epsilon}` (``"inside"``, right), :math:`\sqrt{\sigma^2}+\epsilon`
    (``"outside"``), :math:`\sqrt{\sigma^2}` (``"missing"``) or :math:`\sigma^2+\epsilon` (``"no-sqrt"``)."""
    var = np.asarray(var, dtype=np.float64)
    divisor: FloatArray = {
        "inside": lambda: np.sqrt(var + eps),
        "outside": lambda: np.sqrt(var) + eps,
        "missing": lambda: np.sqrt(var),
        "no-sqrt": lambda: var + eps,
    }[place]()
    return divisor


def standardize(x: Any, axes: tuple[int, ...], eps: float, *, ddof: int = 0, place: str = "inside") -> FloatArray:
    """:math:`(x-\\mu)/\\text{divisor}` with statistics over ``axes`` (``ddof=1``: the unbiased variance)."""
    wide = np.asarray(x, dtype=np.float64)
    mean = wide.mean(axis=axes, keepdims=True)
    var = wide.var(axis=axes, keepdims=True, ddof=ddof)
    with np.errstate(divide="ignore", invalid="ignore"):  # eps missing: a constant group divides by zero
        result: FloatArray = (wide - mean) / scale_of(var, eps, place)
    return result


def affine(x_hat: FloatArray, gamma: Any, beta: Any, axis: int, dtype: Any) -> FloatArray:
    """:math:`\\gamma\\hat x + \\beta` with ``(C,)`` parameters along ``axis``, cast to ``dtype``."""
    y: FloatArray = (column(gamma, x_hat.ndim, axis) * x_hat + column(beta, x_hat.ndim, axis)).astype(dtype)
    return y


def batch_norm(x: Any, gamma: Any, beta: Any, eps: float, axis: int, *, axes: tuple[int, ...] | None = None,
               ddof: int = 0, place: str = "inside") -> FloatArray:
    """Training-mode batch norm with statistics over ``axes`` (default: every axis but ``axis``)."""
    x = np.asarray(x)
    reduce = all_but(x.ndim, axis) if axes is None else axes
    return affine(standardize(x, reduce, eps, ddof=ddof, place=place), gamma, beta, axis, x.dtype)


def batch_norm_backward(dy: Any, x: Any, gamma: Any, eps: float, axis: int, *, ddof: int = 0,
                        place: str = "inside", mean_term: bool = True, projection_term: bool = True,
                        use_gamma: bool = True, dgamma_of_x: bool = False, swap: bool = False) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""The compact backward :math:`dx = \frac{\gamma}{\text{divisor}}\big(dy - \overline{dy}
    - \hat x\,\overline{dy\,\hat x}\big)` with each classic mistake as a switch."""
    x, dy = np.asarray(x), np.asarray(dy, dtype=np.float64)
    axes = all_but(x.ndim, axis)
    wide = x.astype(np.float64)
    var = wide.var(axis=axes, keepdims=True, ddof=ddof)
    divisor = scale_of(var, eps, place)
    x_hat = (wide - wide.mean(axis=axes, keepdims=True)) / divisor
    inner = dy.copy()
    if mean_term:
        inner -= dy.mean(axis=axes, keepdims=True)
    if projection_term:
        inner -= x_hat * (dy * x_hat).mean(axis=axes, keepdims=True)
    g = column(gamma, x.ndim, axis) if use_gamma else 1.0
    dx = (g * inner / divisor).astype(x.dtype)
    dgamma = (dy * (wide if dgamma_of_x else x_hat)).sum(axis=axes).astype(x.dtype)
    dbeta = dy.sum(axis=axes).astype(x.dtype)
    return (dx, dbeta, dgamma) if swap else (dx, dgamma, dbeta)
