r"""The batch-norm backward pass two more ways, for the backward chapter: node by node along the
computation graph, as Ioffe & Szegedy (2015, section 3) write the chain rule, and with the statistics
treated as constants ("detached"), the variant the paper warns against.

The compact closed form is :func:`bncourse.batch_norm_backward`; the tests show all three agree
where they should, and where the detached one does not.
"""

from __future__ import annotations

from dataclasses import dataclass

from numpy.typing import ArrayLike

from bncourse import kernel
from bncourse.convention import TORCH
from bncourse.functional import as_channel_column, reduction_axes, require_backward_arguments
from bncourse.kernel import Gradients
from bncourse.validation import FloatArray


@dataclass(frozen=True)
class GraphGradients(Gradients):
    """:class:`~bncourse.Gradients` plus the gradient at every inner node of the batch-norm graph.

    ``dx_hat`` has the shape of ``x``; ``dvar`` and ``dmean`` have shape ``(C,)``. Unpacking still gives
    ``dx, dgamma, dbeta``.
    """

    dx_hat: FloatArray
    dvar: FloatArray
    dmean: FloatArray


def batch_norm_backward_graph(
    dy: ArrayLike, x: ArrayLike, gamma: ArrayLike, *, eps: float = TORCH.eps, axis: int = 1
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
    dy_arr, x_arr, ax, gamma_arr, eps_f = require_backward_arguments(dy, x, gamma, eps, axis)
    axes = reduction_axes(x_arr.ndim, ax)
    stats = kernel.moments(x_arr, axes)
    m = stats.m
    gamma_column = as_channel_column(gamma_arr, x_arr.ndim, ax)
    forward = kernel.normalize(x_arr, axes, gamma_column, gamma_column * 0, eps_f, stats)
    x_hat, inv_std = forward.x_hat, forward.inv_std
    centered = x_arr - stats.mean
    g = dy_arr.astype(x_hat.dtype, copy=False)

    dx_hat = g * gamma_column.astype(x_hat.dtype)
    dvar = (dx_hat * centered).sum(axis=axes, keepdims=True) * -0.5 * inv_std**3
    dmean = (dx_hat * -inv_std).sum(axis=axes, keepdims=True) + dvar * (-2.0 * centered).sum(axis=axes, keepdims=True) / m
    dx = dx_hat * inv_std + dvar * 2.0 * centered / m + dmean / m
    return GraphGradients(
        dx=dx.astype(x_arr.dtype),
        dgamma=(g * x_hat).sum(axis=axes).astype(gamma_arr.dtype),
        dbeta=g.sum(axis=axes).astype(gamma_arr.dtype),
        dx_hat=dx_hat.astype(x_arr.dtype),
        dvar=dvar.reshape(-1),
        dmean=dmean.reshape(-1),
    )


def batch_norm_backward_detached(
    dy: ArrayLike, x: ArrayLike, gamma: ArrayLike, *, eps: float = TORCH.eps, axis: int = 1
) -> Gradients:
    r"""The gradients if :math:`\mu_B` and :math:`\sigma^2_B` were constants:
    :math:`\partial\ell/\partial x_i = \gamma\,\partial\ell/\partial y_i / \sqrt{\sigma^2_B+\epsilon}`
    (``dgamma`` and ``dbeta`` are the true ones: the statistics do not depend on γ or β).

    This ``dx`` is **not** the gradient of batch norm. It ignores that moving one input moves the batch
    statistics; Ioffe & Szegedy (2015, section 2) show that a model trained this way can push a bias
    up without bound while the loss does not change. The backward chapter compares it with the true gradient.
    """
    dy_arr, x_arr, ax, gamma_arr, eps_f = require_backward_arguments(dy, x, gamma, eps, axis)
    axes = reduction_axes(x_arr.ndim, ax)
    gamma_column = as_channel_column(gamma_arr, x_arr.ndim, ax)
    forward = kernel.normalize(x_arr, axes, gamma_column, gamma_column * 0, eps_f)
    g = dy_arr.astype(forward.x_hat.dtype, copy=False)
    dx: FloatArray = (dy_arr * gamma_column.astype(g.dtype) * forward.inv_std).astype(x_arr.dtype)
    return Gradients(
        dx=dx,
        dgamma=(g * forward.x_hat).sum(axis=axes).astype(gamma_arr.dtype),
        dbeta=g.sum(axis=axes).astype(gamma_arr.dtype),
    )
