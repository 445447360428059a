r"""The batch-norm backward pass two more ways, for chapter 4: node by node along the computation
graph, as Ioffe & Szegedy (2015, section 3) write the chain rule, and with the statistics treated
as constants ("detached"), the variant the paper warns against.

The compact closed form is :func:`bncourse.batch_norm_backward`; the tests show all three agree
where they should, and where the detached one does not.
"""

from __future__ import annotations

from typing import NamedTuple

from numpy.typing import ArrayLike

from bncourse._checks import FloatArray
from bncourse.functional import (
    _as_column,
    _standardize,
    _validated_backward,
    batch_statistics,
    reduction_axes,
)


class GraphGradients(NamedTuple):
    """Gradients of the loss at every node of the batch-norm graph, for one batch.

    ``dx_hat`` and ``dx`` have the shape of ``x``; ``dvar``, ``dmean``, ``dgamma`` and ``dbeta`` have shape ``(C,)``.
    """

    dx_hat: FloatArray
    dvar: FloatArray
    dmean: FloatArray
    dx: FloatArray
    dgamma: FloatArray
    dbeta: FloatArray


def batch_norm_backward_graph(
    dy: ArrayLike, x: ArrayLike, gamma: ArrayLike, *, eps: float = 1e-5, axis: int = 1
) -> GraphGradients:
    r"""Backpropagate ``dy`` through the graph :math:`x \to \mu, \sigma^2 \to \hat x \to y`, one node at a time:

    .. math::
        \frac{\partial\ell}{\partial \hat x_i} &= \frac{\partial\ell}{\partial y_i}\,\gamma \\
        \frac{\partial\ell}{\partial \sigma^2_B} &= \sum_i \frac{\partial\ell}{\partial \hat x_i}\,(x_i-\mu_B)
            \cdot\left(-\tfrac12\right)(\sigma^2_B+\epsilon)^{-3/2} \\
        \frac{\partial\ell}{\partial \mu_B} &= \sum_i \frac{\partial\ell}{\partial \hat x_i}\,\frac{-1}{\sqrt{\sigma^2_B+\epsilon}}
            + \frac{\partial\ell}{\partial \sigma^2_B}\,\frac{\sum_i -2(x_i-\mu_B)}{m} \\
        \frac{\partial\ell}{\partial x_i} &= \frac{\partial\ell}{\partial \hat x_i}\,\frac{1}{\sqrt{\sigma^2_B+\epsilon}}
            + \frac{\partial\ell}{\partial \sigma^2_B}\,\frac{2(x_i-\mu_B)}{m} + \frac{\partial\ell}{\partial \mu_B}\,\frac1m

    and :math:`\partial\ell/\partial\gamma = \sum_i \partial\ell/\partial y_i\,\hat x_i`,
    :math:`\partial\ell/\partial\beta = \sum_i \partial\ell/\partial y_i`. Sums run over the ``m`` values of
    each channel. Arguments as in :func:`bncourse.batch_norm_backward`.
    """
    dy_arr, x_arr, gamma_arr, eps_f, ax = _validated_backward(dy, x, gamma, eps, axis)
    axes = reduction_axes(x_arr.ndim, ax)
    stats = batch_statistics(x_arr, ax)
    m = stats.values_per_channel
    x_hat, inv_std = _standardize(x_arr, stats.mean, stats.var, eps_f, ax)
    centered = x_arr - _as_column(stats.mean, x_arr, ax)
    g = dy_arr.astype(x_hat.dtype, copy=False)

    dx_hat = g * _as_column(gamma_arr, x_arr, ax)
    dvar = (dx_hat * centered).sum(axis=axes) * -0.5 * inv_std.reshape(-1) ** 3
    dmean = (dx_hat * -inv_std).sum(axis=axes) + dvar * (-2.0 * centered).sum(axis=axes) / m
    dx = dx_hat * inv_std + _as_column(dvar, x_arr, ax) * 2.0 * centered / m + _as_column(dmean, x_arr, ax) / m
    return GraphGradients(
        dx_hat=dx_hat.astype(x_arr.dtype),
        dvar=dvar,
        dmean=dmean,
        dx=dx.astype(x_arr.dtype),
        dgamma=(g * x_hat).sum(axis=axes).astype(gamma_arr.dtype),
        dbeta=g.sum(axis=axes).astype(gamma_arr.dtype),
    )


def batch_norm_backward_detached(
    dy: ArrayLike, x: ArrayLike, gamma: ArrayLike, *, eps: float = 1e-5, axis: int = 1
) -> FloatArray:
    r"""The gradient with respect to ``x`` if :math:`\mu_B` and :math:`\sigma^2_B` were constants:
    :math:`\partial\ell/\partial x_i = \gamma\,\partial\ell/\partial y_i / \sqrt{\sigma^2_B+\epsilon}`.

    This is **not** the gradient of batch norm. It ignores that moving one input moves the batch
    statistics; Ioffe & Szegedy (2015, section 2) show that a model trained this way can push a bias
    up without bound while the loss does not change. Chapter 4 compares it with the true gradient.
    """
    dy_arr, x_arr, gamma_arr, eps_f, ax = _validated_backward(dy, x, gamma, eps, axis)
    stats = batch_statistics(x_arr, ax)
    _, inv_std = _standardize(x_arr, stats.mean, stats.var, eps_f, ax)
    dx: FloatArray = (dy_arr * _as_column(gamma_arr, x_arr, ax) * inv_std).astype(x_arr.dtype)
    return dx

