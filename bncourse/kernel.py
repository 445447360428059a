r"""The normalization kernel: every normalization in the course is these few lines.

Batch, layer, group and instance norm compute the same thing and differ only in *which axes* the
statistics are taken over (group norm after a reshape that splits channels into groups):

.. math::
    \mu = \operatorname{mean}_{\text{axes}} x, \qquad
    \sigma^2 = \operatorname{mean}_{\text{axes}} (x-\mu)^2, \qquad
    \hat x = \frac{x-\mu}{\sqrt{\sigma^2+\epsilon}}, \qquad
    y = \gamma \hat x + \beta,

and the backward pass, with :math:`g = \gamma\, \partial\ell/\partial y` and means over the same axes,

.. math::
    \frac{\partial\ell}{\partial x} = \frac{1}{\sqrt{\sigma^2+\epsilon}}
        \Big(g - \operatorname{mean}(g) - \hat x \operatorname{mean}(g\,\hat x)\Big).

Nothing here validates anything: the public functions (:mod:`bncourse.functional`, the layers) check
their arguments once and then call these. Arrays are *broadcast-shaped*: statistics keep the reduced
axes with size 1, and ``gamma``/``beta`` have size 1 on every axis they are shared along (for batch norm
``(1, C, 1, 1)``). Work is done in float64 (or wider) and results are cast back where the caller says.
The variance takes two passes (mean first, then the mean of squared deviations), which stays accurate
when the data sit far from zero, where the one-pass ``E[x²] − E[x]²`` cancels catastrophically.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from bncourse.validation import FloatArray

Axes = tuple[int, ...]


class Moments(NamedTuple):
    """Mean and **biased** variance over some axes (kept with size 1), and ``m``, the number of values
    each statistic averages (the unbiased variance is ``var * m / (m - 1)``); ``mask``, if the statistics
    count only some positions (1 where a value counts, 0 where not)."""

    mean: FloatArray
    var: FloatArray
    m: int
    mask: FloatArray | None = None


class Normalized(NamedTuple):
    """A forward pass: the output ``y`` (in the input's dtype), and what its backward pass needs:
    ``x_hat`` and ``inv_std`` = :math:`1/\\sqrt{\\sigma^2+\\epsilon}` (computation dtype) and the reduced ``axes``."""

    y: FloatArray
    x_hat: FloatArray
    inv_std: FloatArray
    axes: Axes
    mask: FloatArray | None = None


@dataclass(frozen=True)
class Gradients:
    """``dx`` (shape and dtype of ``x``), ``dgamma`` and ``dbeta`` (shape and dtype of ``gamma``): what every
    backward function of :mod:`bncourse` returns. It unpacks as ``dx, dgamma, dbeta = gradients``."""

    dx: FloatArray
    dgamma: FloatArray
    dbeta: FloatArray

    def __iter__(self) -> Iterator[FloatArray]:
        return iter((self.dx, self.dgamma, self.dbeta))


def computation_dtype(*dtypes: Any) -> np.dtype[Any]:
    """The dtype the kernel computes in: float64, or wider if an input is wider."""
    return np.result_type(np.float64, *dtypes)


def moments(x: FloatArray, axes: Axes, mask: FloatArray | None = None) -> Moments:
    r""":math:`\mu` and the biased :math:`\sigma^2` of ``x`` over ``axes`` (two passes, computation dtype).

    With a ``mask`` (0/1, broadcastable to ``x``, the same for every statistic) only the positions where it
    is 1 count: :math:`\mu = \sum_i w_i x_i / m`, :math:`\sigma^2 = \sum_i w_i (x_i-\mu)^2 / m`, :math:`m = \sum_i w_i`."""
    wide = x.astype(computation_dtype(x.dtype), copy=False)
    if mask is None:
        mean = wide.mean(axis=axes, keepdims=True)
        var = np.square(wide - mean).mean(axis=axes, keepdims=True)
        return Moments(mean, var, int(np.prod([x.shape[a] for a in axes])))
    m = int(np.broadcast_to(mask, x.shape).sum(axis=axes).flat[0])
    mean = (mask * wide).sum(axis=axes, keepdims=True) / m
    var = (mask * np.square(wide - mean)).sum(axis=axes, keepdims=True) / m
    return Moments(mean, var, m, mask)


def normalize(
    x: FloatArray, axes: Axes, gamma: FloatArray, beta: FloatArray, eps: float, stats: Moments | None = None
) -> Normalized:
    r""":math:`y = \gamma (x-\mu)/\sqrt{\sigma^2+\epsilon} + \beta`, with the statistics of ``x`` over ``axes``,
    or given ones (``stats``, e.g. running statistics at inference). ``y`` has ``x``'s dtype."""
    if stats is None:
        stats = moments(x, axes)
    dtype = computation_dtype(x.dtype)
    inv_std = 1.0 / np.sqrt(stats.var.astype(dtype, copy=False) + eps)
    x_hat = (x.astype(dtype, copy=False) - stats.mean.astype(dtype, copy=False)) * inv_std
    y = gamma.astype(dtype, copy=False) * x_hat + beta.astype(dtype, copy=False)
    return Normalized(y.astype(x.dtype, copy=False), x_hat, inv_std, axes, stats.mask)


def normalize_backward(dy: FloatArray, forward: Normalized, gamma: FloatArray) -> Gradients:
    r"""Gradients of a training-mode :func:`normalize` (statistics from the batch), given
    ``dy`` = :math:`\partial\ell/\partial y`. ``dgamma``/``dbeta`` sum over the axes ``gamma`` is shared along.

    With a mask, every output still depends on the statistics, so the sums run over all positions, but
    only the positions that counted in the statistics (:math:`w_i = 1`) receive the two correction terms:
    :math:`dx_i = (g_i - w_i \sum_j g_j/m - w_i \hat x_i \sum_j g_j \hat x_j/m)/\sqrt{\sigma^2+\epsilon}`."""
    dtype = computation_dtype(forward.x_hat.dtype, dy.dtype)
    x_hat, axes = forward.x_hat, forward.axes
    g = dy.astype(dtype, copy=False)
    shared = tuple(a for a, size in enumerate(gamma.shape) if size == 1)
    dbeta = g.sum(axis=shared, keepdims=True)
    dgamma = (g * x_hat).sum(axis=shared, keepdims=True)
    if forward.mask is None and shared == tuple(axes):
        # γ is constant over each statistic's values and shared along exactly its axes (batch norm): the two
        # means of the general form are γ·dβ/m and γ·dγ/m, sums already computed.
        m = x_hat.size // dbeta.size
        dx = gamma.astype(dtype, copy=False) * forward.inv_std / m * (m * g - dbeta - x_hat * dgamma)
    elif forward.mask is None:
        g_hat = gamma.astype(dtype, copy=False) * g  # ∂ℓ/∂x̂
        mean_g = g_hat.mean(axis=axes, keepdims=True)
        mean_g_x_hat = (g_hat * x_hat).mean(axis=axes, keepdims=True)
        dx = forward.inv_std * (g_hat - mean_g - x_hat * mean_g_x_hat)
    else:
        g_hat = gamma.astype(dtype, copy=False) * g
        w, m = forward.mask, forward.mask.sum(axis=axes, keepdims=True)
        dx = forward.inv_std * (g_hat - w * (g_hat.sum(axis=axes, keepdims=True) / m)
                                - w * x_hat * ((g_hat * x_hat).sum(axis=axes, keepdims=True) / m))
    return Gradients(
        dx.astype(forward.y.dtype, copy=False),
        dgamma.astype(gamma.dtype, copy=False),
        dbeta.astype(gamma.dtype, copy=False),
    )
