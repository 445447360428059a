r"""Batch normalization as plain functions: forward (Algorithms 1 and 2 of Ioffe & Szegedy, 2015)
and the training-mode backward pass.

Shapes. ``x`` has shape ``(N, C, *spatial)`` with the channel axis at ``axis`` (default 1;
``axis=-1`` for channels-last such as ``(N, H, W, C)``). Statistics are computed per channel,
over every other axis, so each channel sees

.. math:: m = N \cdot \prod \text{spatial}

values. ``gamma``, ``beta``, ``mean`` and ``var`` have shape ``(C,)``.

Precision. The work is done in float64 (or wider) and the result is cast back to the input's
dtype: float32 in, float32 out, with float64-accurate statistics. The variance uses two
passes (mean first, then the mean of squared deviations), which stays accurate when the data
sit far from zero, where the one-pass ``E[x²] − E[x]²`` cancels catastrophically.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bncourse import _checks
from bncourse._checks import FloatArray


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
    """All axes except the channel axis: the axes a batch norm averages over."""
    return tuple(a for a in range(ndim) if a != axis)


def channel_shape(ndim: int, axis: int, num_channels: int) -> tuple[int, ...]:
    """Shape that broadcasts a ``(C,)`` vector along ``axis`` of an ``ndim`` array."""
    shape = [1] * ndim
    shape[axis] = num_channels
    return tuple(shape)


def _computation_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    return np.promote_types(dtype, np.float64)


def batch_statistics(x: FloatArray, axis: int) -> BatchStatistics:
    r"""Mean :math:`\mu_B = \frac1m\sum_i x_i` and biased variance
    :math:`\sigma_B^2 = \frac1m\sum_i (x_i-\mu_B)^2` of each channel.

    ``x`` must already be validated and ``axis`` normalized (non-negative).
    """
    axes = reduction_axes(x.ndim, axis)
    wide = x.astype(_computation_dtype(x.dtype), copy=False)
    mean = wide.mean(axis=axes, keepdims=True)
    var = np.square(wide - mean).mean(axis=axes)
    return BatchStatistics(mean=mean.reshape(-1), var=var, values_per_channel=x.size // x.shape[axis])


def _validated(
    x: ArrayLike, gamma: ArrayLike, eps: float, axis: int
) -> tuple[FloatArray, FloatArray, float, int]:
    """Check what the forward and the backward pass share: ``x``, ``axis``, ``gamma`` and ``eps``."""
    x_arr = _checks.input_array("x", x)
    ax = _checks.channel_axis(axis, x_arr.ndim)
    gamma_arr = _checks.per_channel("gamma", gamma, x_arr.shape[ax])
    return x_arr, gamma_arr, _checks.positive_real("eps", eps), ax


def _validated_backward(
    dy: ArrayLike, x: ArrayLike, gamma: ArrayLike, eps: float, axis: int
) -> tuple[FloatArray, FloatArray, FloatArray, float, int]:
    """Check the arguments of a training-mode backward pass: those of :func:`_validated` and ``dy``."""
    x_arr, gamma_arr, eps_f, ax = _validated(x, gamma, eps, axis)
    dy_arr = _checks.input_array("dy", dy)
    if dy_arr.shape != x_arr.shape:
        raise ValueError(f"dy must have the shape of x, {x_arr.shape}, got {dy_arr.shape}")
    _checks.more_than_one_value_per_channel(x_arr, ax)
    return dy_arr, x_arr, gamma_arr, eps_f, ax


def batch_norm(
    x: ArrayLike,
    gamma: ArrayLike,
    beta: ArrayLike,
    *,
    eps: float = 1e-5,
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
    x_arr, gamma_arr, eps_f, ax = _validated(x, gamma, eps, axis)
    num_channels = x_arr.shape[ax]
    beta_arr = _checks.per_channel("beta", beta, num_channels)
    if (mean is None) != (var is None):
        raise ValueError("mean and var must be given together (inference) or both be None (training)")
    if mean is None or var is None:
        _checks.more_than_one_value_per_channel(x_arr, ax)
        stats = batch_statistics(x_arr, ax)
        mu, sigma2 = stats.mean, stats.var
    else:
        mu = _checks.per_channel("mean", mean, num_channels)
        sigma2 = _checks.nonnegative("var", _checks.per_channel("var", var, num_channels))
    return _affine_normalize(x_arr, gamma_arr, beta_arr, mu, sigma2, eps_f, ax)[0]


def _as_column(v: FloatArray, x: FloatArray, axis: int) -> FloatArray:
    """A ``(C,)`` vector in the computation dtype, shaped to broadcast along ``axis`` of ``x``."""
    shape = channel_shape(x.ndim, axis, x.shape[axis])
    return v.astype(_computation_dtype(x.dtype), copy=False).reshape(shape)


def _standardize(
    x: FloatArray, mean: FloatArray, var: FloatArray, eps: float, axis: int
) -> tuple[FloatArray, FloatArray]:
    """``x̂ = (x − μ) / sqrt(σ² + ε)`` and ``1 / sqrt(σ² + ε)``, in the computation dtype."""
    inv_std = 1.0 / np.sqrt(_as_column(var, x, axis) + eps)
    x_hat = (x.astype(_computation_dtype(x.dtype), copy=False) - _as_column(mean, x, axis)) * inv_std
    return x_hat, inv_std


def _affine_normalize(
    x: FloatArray,
    gamma: FloatArray,
    beta: FloatArray,
    mean: FloatArray,
    var: FloatArray,
    eps: float,
    axis: int,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``y = γ x̂ + β`` (in ``x.dtype``), with the ``x̂`` and ``1 / sqrt(σ² + ε)`` it was computed from
    (in the computation dtype), which a training-mode layer keeps for its backward pass."""
    x_hat, inv_std = _standardize(x, mean, var, eps, axis)
    y: FloatArray = (_as_column(gamma, x, axis) * x_hat + _as_column(beta, x, axis)).astype(x.dtype, copy=False)
    return y, x_hat, inv_std


def batch_norm_backward(
    dy: ArrayLike,
    x: ArrayLike,
    gamma: ArrayLike,
    *,
    eps: float = 1e-5,
    axis: int = 1,
) -> tuple[FloatArray, FloatArray, FloatArray]:
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
    per channel. A constant ``dy`` (e.g. all ones) therefore gives ``dx = 0`` exactly.

    Args:
        dy: upstream gradient, same shape as ``x``.
        x: the forward input, shape ``(N, C, *spatial)``.
        gamma: the scale used in the forward pass, shape ``(C,)``.
        eps, axis: as in :func:`batch_norm`.

    Returns:
        ``(dx, dgamma, dbeta)``: ``dx`` in the shape and dtype of ``x``; ``dgamma`` and
        ``dbeta`` of shape ``(C,)`` in the dtype of ``gamma``.
    """
    dy_arr, x_arr, gamma_arr, eps_f, ax = _validated_backward(dy, x, gamma, eps, axis)
    stats = batch_statistics(x_arr, ax)
    x_hat, inv_std = _standardize(x_arr, stats.mean, stats.var, eps_f, ax)
    return _backward_from_normalized(dy_arr, x_hat, inv_std, gamma_arr, ax, x_arr.dtype)


def _backward_from_normalized(
    dy: FloatArray, x_hat: FloatArray, inv_std: FloatArray, gamma: FloatArray, axis: int, x_dtype: np.dtype[Any]
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The closed form of :func:`batch_norm_backward`, given the forward pass's ``x̂`` and ``1/sqrt(σ²+ε)``
    (as :func:`_standardize` returns them). Arguments must already be validated; a layer that kept
    ``x̂`` from its forward pass calls this directly instead of recomputing the batch statistics."""
    dtype = _computation_dtype(np.result_type(x_dtype, dy.dtype))
    axes = reduction_axes(x_hat.ndim, axis)
    shape = channel_shape(x_hat.ndim, axis, x_hat.shape[axis])
    m = x_hat.size // x_hat.shape[axis]
    g = dy.astype(dtype, copy=False)

    dbeta = g.sum(axis=axes)
    dgamma = (g * x_hat).sum(axis=axes)
    scale = gamma.astype(dtype, copy=False).reshape(shape) * inv_std / m
    dx = scale * (m * g - dbeta.reshape(shape) - x_hat * dgamma.reshape(shape))
    return (
        dx.astype(x_dtype, copy=False),
        dgamma.astype(gamma.dtype, copy=False),
        dbeta.astype(gamma.dtype, copy=False),
    )
