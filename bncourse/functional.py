r"""Batch normalization as plain functions: forward (Algorithms 1 and 2 of Ioffe & Szegedy, 2015)
and the training-mode backward pass.

Shapes. ``x`` has shape ``(N, C, *spatial)`` with the channel axis at ``axis`` (default 1;
``axis=-1`` for channels-last such as ``(N, H, W, C)``). Statistics are computed per channel,
over every other axis, so each channel sees

.. math:: m = N \cdot \prod \text{spatial}

values. ``gamma``, ``beta``, ``mean`` and ``var`` have shape ``(C,)``.

Each function checks its arguments once (:mod:`bncourse.validation`) and then calls the kernel
(:mod:`bncourse.kernel`) with batch norm's reduction axes, every axis except the channel axis: for
float64 input the kernel itself (float64 throughout, the course's reference digits), for float32 its
fast form :mod:`bncourse.blocked` (the same formulas block by block in the cache, in float32, each block's
sums gathered in float64: float32 in, float32 out, with statistics accurate to float32 round-off relative
to σ, however far the data sit from zero).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bncourse import blocked, kernel, validation
from bncourse.convention import TORCH
from bncourse.kernel import Gradients
from bncourse.validation import FloatArray


class BatchStatistics(NamedTuple):
    """Per-channel statistics of one batch, shape ``(C,)``, in the computation dtype.

    ``var`` is the biased variance (divide by ``m``), the one used to normalize;
    ``values_per_channel`` is ``m``, the number of values per channel, needed for the unbiased
    correction ``var * m / (m - 1)``.
    """

    mean: NDArray[np.floating[Any]]
    var: NDArray[np.floating[Any]]
    values_per_channel: int


def reduction_axes(ndim: int, axis: int) -> tuple[int, ...]:
    """All axes except the channel axis (non-negative): the axes a batch norm averages over."""
    return tuple(a for a in range(ndim) if a != axis)


def channel_shape(ndim: int, axis: int, num_channels: int) -> tuple[int, ...]:
    """Shape that broadcasts a ``(C,)`` vector along ``axis`` of an ``ndim`` array."""
    shape = [1] * ndim
    shape[axis] = num_channels
    return tuple(shape)


def as_channel_column(vector: FloatArray, ndim: int, axis: int) -> FloatArray:
    """A ``(C,)`` vector reshaped to broadcast along ``axis`` of an ``ndim`` array (a view, no copy)."""
    return vector.reshape(channel_shape(ndim, axis, vector.shape[0]))


def batch_statistics(x: ArrayLike, axis: int = 1) -> BatchStatistics:
    r"""Mean :math:`\mu_B = \frac1m\sum_i x_i` and biased variance
    :math:`\sigma_B^2 = \frac1m\sum_i (x_i-\mu_B)^2` of each channel of ``x`` (more than one value each)."""
    x_arr = validation.require_batch("x", x)
    ax = validation.require_channel_axis(axis, x_arr.ndim)
    validation.require_more_than_one_value_per_channel(x_arr, ax)
    if blocked.serves(x_arr.dtype):
        stats = blocked.moments(blocked.channel_blocks(x_arr, ax))
    else:
        stats = kernel.moments(x_arr, reduction_axes(x_arr.ndim, ax))
    return BatchStatistics(stats.mean.reshape(-1), stats.var.reshape(-1), stats.m)


def batch_norm(
    x: ArrayLike,
    gamma: ArrayLike,
    beta: ArrayLike,
    *,
    eps: float = TORCH.eps,
    axis: int = 1,
    mean: ArrayLike | None = None,
    var: ArrayLike | None = None,
) -> FloatArray:
    r"""Batch-normalize ``x`` per channel:

    .. math::
        \hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}, \qquad y = \gamma \hat x + \beta.

    Training (Algorithm 1): ``mean`` and ``var`` are None and :math:`\mu, \sigma^2` are the
    batch's own mean and **biased** variance; each channel needs more than one value.
    Inference (Algorithm 2): ``mean`` and ``var`` are given (e.g. running statistics) and used
    as they are, so each example is transformed independently of the rest of the batch.

    Args:
        x: input of shape ``(N, C, *spatial)`` (channel axis at ``axis``), float dtype.
        gamma, beta: scale and shift, shape ``(C,)``.
        eps: added to the variance, > 0 (PyTorch's default 1e-5; Keras uses 1e-3).
        axis: the channel axis; negative counts from the end (``-1`` = channels-last).
        mean, var: fixed statistics of shape ``(C,)``, both or neither; ``var >= 0``.

    Returns:
        ``y``, same shape and dtype as ``x``.
    """
    x_arr, ax, gamma_arr, eps_f = _require_common(x, axis, gamma, eps)
    num_channels = x_arr.shape[ax]
    beta_arr = validation.require_per_channel("beta", beta, num_channels)
    if (mean is None) != (var is None):
        raise ValueError("mean and var must be given together (inference) or both be None (training)")
    fast = blocked.serves(x_arr.dtype)
    column = (lambda vector: vector[:, None]) if fast else (lambda vector: as_channel_column(vector, x_arr.ndim, ax))
    stats = None
    if mean is None or var is None:
        validation.require_more_than_one_value_per_channel(x_arr, ax)
    else:
        mu = validation.require_per_channel("mean", mean, num_channels)
        sigma2 = validation.require_nonnegative("var", validation.require_per_channel("var", var, num_channels))
        stats = kernel.Moments(column(mu), column(sigma2), 0)
    if fast:
        return blocked.forward(blocked.channel_blocks(x_arr, ax), gamma_arr, beta_arr, eps_f, stats).y.reshape(x_arr.shape)
    return kernel.normalize(x_arr, reduction_axes(x_arr.ndim, ax), column(gamma_arr), column(beta_arr), eps_f, stats).y


def batch_norm_backward(
    dy: ArrayLike,
    x: ArrayLike,
    gamma: ArrayLike,
    *,
    eps: float = TORCH.eps,
    axis: int = 1,
) -> Gradients:
    r"""Gradients of a training-mode batch norm, given the upstream gradient ``dy = ∂L/∂y``.

    With :math:`m` values per channel, :math:`\hat x` and :math:`\sigma_B^2` from the forward
    pass, and sums taken per channel over the :math:`m` values:

    .. math::
        \frac{\partial L}{\partial \beta} = \sum_i dy_i, \qquad
        \frac{\partial L}{\partial \gamma} = \sum_i dy_i\, \hat x_i, \\
        \frac{\partial L}{\partial x_i} = \frac{\gamma}{m\sqrt{\sigma_B^2+\epsilon}}
            \Big(m\, dy_i - \sum_j dy_j - \hat x_i \sum_j dy_j\, \hat x_j\Big).

    The batch statistics depend on ``x``, which is why ``dx`` is not simply
    ``γ·dy/sqrt(σ²+ε)``: the two subtracted sums make ``Σ dx = 0`` and ``Σ dx·x̂ = 0``
    per channel. A constant ``dy`` (e.g. all ones) therefore gives ``dx = 0`` up to round-off.

    Args:
        dy: upstream gradient, same shape as ``x``.
        x: the forward input, shape ``(N, C, *spatial)``.
        gamma: the scale used in the forward pass, shape ``(C,)``.
        eps, axis: as in :func:`batch_norm`.

    Returns:
        :class:`~bncourse.Gradients` ``(dx, dgamma, dbeta)``: ``dx`` in the shape and dtype of ``x``;
        ``dgamma`` and ``dbeta`` of shape ``(C,)`` in the dtype of ``gamma``.
    """
    dy_arr, x_arr, ax, gamma_arr, eps_f = require_backward_arguments(dy, x, gamma, eps, axis)
    if blocked.serves(x_arr.dtype):
        forward = blocked.forward(blocked.channel_blocks(x_arr, ax), gamma_arr, np.zeros_like(gamma_arr), eps_f)
        gradients = blocked.backward(blocked.channel_blocks(dy_arr, ax), forward, gamma_arr)
        return Gradients(gradients.dx.reshape(x_arr.shape), gradients.dgamma, gradients.dbeta)
    gamma_column = as_channel_column(gamma_arr, x_arr.ndim, ax)
    reference = kernel.normalize(x_arr, reduction_axes(x_arr.ndim, ax), gamma_column, np.zeros_like(gamma_column), eps_f)
    return flatten_parameter_gradients(kernel.normalize_backward(dy_arr, reference, gamma_column))


def flatten_parameter_gradients(gradients: Gradients) -> Gradients:
    """The kernel's broadcast-shaped ``dgamma``/``dbeta`` (e.g. ``(1, C, 1, 1)``) as ``(C,)`` vectors."""
    return Gradients(gradients.dx, gradients.dgamma.reshape(-1), gradients.dbeta.reshape(-1))


def require_backward_arguments(
    dy: ArrayLike, x: ArrayLike, gamma: ArrayLike, eps: float, axis: int
) -> tuple[FloatArray, FloatArray, int, FloatArray, float]:
    """The arguments of a training-mode backward pass, checked: ``(dy, x, axis, gamma, eps)`` with
    ``axis`` non-negative; ``dy`` must have ``x``'s shape and each channel more than one value."""
    x_arr, ax, gamma_arr, eps_f = _require_common(x, axis, gamma, eps)
    dy_arr = validation.require_shape("dy", validation.require_batch("dy", dy), x_arr.shape, "x")
    validation.require_more_than_one_value_per_channel(x_arr, ax)
    return dy_arr, x_arr, ax, gamma_arr, eps_f


def _require_common(x: ArrayLike, axis: int, gamma: ArrayLike, eps: float) -> tuple[FloatArray, int, FloatArray, float]:
    """What the forward and the backward pass share: ``x``, ``axis``, ``gamma`` and ``eps``."""
    x_arr = validation.require_batch("x", x)
    ax = validation.require_channel_axis(axis, x_arr.ndim)
    gamma_arr = validation.require_per_channel("gamma", gamma, x_arr.shape[ax])
    return x_arr, ax, gamma_arr, validation.require_positive("eps", eps)
