r"""Normalizations that do not need the batch: layer norm, group norm and instance norm.

They run the same kernel as batch norm (:mod:`bncourse.kernel`) and differ only in which values share a
mean and a variance. For ``x`` of shape ``(N, C, *spatial)`` (channels at ``axis``):

==============  ===========================================  =============================================
method          statistics over                               PyTorch / Keras
==============  ===========================================  =============================================
batch norm      N and spatial, per channel                    ``BatchNorm*d`` / ``BatchNormalization``
layer norm      the trailing ``normalized_shape``, per sample  ``F.layer_norm`` / ``LayerNormalization``
group norm      C/G channels and spatial, per sample, group    ``F.group_norm`` / ``GroupNormalization``
instance norm   spatial, per sample and channel                ``F.instance_norm`` / (group norm with G = C)
==============  ===========================================  =============================================

Each statistic comes from one sample, so the result does not depend on the rest of the batch, and
training and inference compute the same thing: there are no running statistics. Group norm with one group
is layer norm over ``(C, *spatial)``; with ``C`` groups it is instance norm.

Every function checks its arguments (:mod:`bncourse.validation`), views ``x`` so that the statistics are
over whole axes (group norm splits the channel axis into ``(G, C/G)``), and calls the kernel. ``gamma`` and
``beta`` default to ones and zeros; every backward returns :class:`~bncourse.Gradients`, with ``dgamma``
and ``dbeta`` of ``gamma``'s shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from bncourse import kernel, validation
from bncourse.convention import TORCH
from bncourse.kernel import Axes, Gradients
from bncourse.validation import FloatArray

View = Callable[[FloatArray], FloatArray]


@dataclass(frozen=True)
class _Plan:
    """How one normalization sees ``x``: ``view`` reshapes an array of x's shape so that every statistic
    is over ``axes``; ``restore`` undoes it; ``gamma``/``beta`` are broadcast-shaped for the view."""

    x: FloatArray
    axes: Axes
    gamma: FloatArray
    beta: FloatArray
    param_shape: tuple[int, ...]
    eps: float
    view: View
    restore: View


def _forward(plan: _Plan) -> FloatArray:
    return plan.restore(kernel.normalize(plan.view(plan.x), plan.axes, plan.gamma, plan.beta, plan.eps).y)


def _backward(plan: _Plan, dy: ArrayLike) -> Gradients:
    forward = kernel.normalize(plan.view(plan.x), plan.axes, plan.gamma, plan.beta, plan.eps)
    return _gradients(plan, forward, plan.gamma, dy)


def _gradients(plan: _Plan, forward: kernel.Normalized, gamma: FloatArray, dy: ArrayLike) -> Gradients:
    """The backward pass of a forward pass already computed (``gamma`` broadcast-shaped, as it was then)."""
    dy_arr = validation.require_shape("dy", validation.require_float_array("dy", dy), plan.x.shape, "x")
    gradients = kernel.normalize_backward(plan.view(dy_arr), forward, gamma)
    return Gradients(
        plan.restore(gradients.dx),
        gradients.dgamma.reshape(plan.param_shape),
        gradients.dbeta.reshape(plan.param_shape),
    )


def _parameters(
    gamma: ArrayLike | None, beta: ArrayLike | None, shape: tuple[int, ...], dtype: np.dtype[Any]
) -> tuple[FloatArray, FloatArray]:
    """γ and β of ``shape``, ones and zeros (in ``dtype``) where not given."""
    arrays = []
    for name, value, default in (("gamma", gamma, np.ones), ("beta", beta, np.zeros)):
        if value is None:
            arrays.append(default(shape, dtype=dtype))
        else:
            array = validation.require_float_array(name, value)
            if array.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
            arrays.append(array)
    return arrays[0], arrays[1]


def _identity(a: FloatArray) -> FloatArray:
    return a


def _layer_norm_plan(
    x: ArrayLike, normalized_shape: int | Sequence[int], gamma: ArrayLike | None, beta: ArrayLike | None, eps: float
) -> _Plan:
    x_arr = validation.require_float_array("x", x)
    shape = validation.require_shape_tuple("normalized_shape", normalized_shape)
    k = len(shape)
    if x_arr.ndim < k or x_arr.shape[x_arr.ndim - k :] != shape:
        raise ValueError(
            f"normalized_shape must match the trailing dimensions of x, got normalized_shape={shape} "
            f"for x of shape {x_arr.shape}"
        )
    gamma_arr, beta_arr = _parameters(gamma, beta, shape, x_arr.dtype)
    lead = (1,) * (x_arr.ndim - k)
    axes = tuple(range(x_arr.ndim - k, x_arr.ndim))
    eps_f = validation.require_positive("eps", eps)
    return _Plan(x_arr, axes, gamma_arr.reshape(lead + shape), beta_arr.reshape(lead + shape), shape, eps_f, _identity, _identity)


def layer_norm(
    x: ArrayLike,
    normalized_shape: int | Sequence[int],
    gamma: ArrayLike | None = None,
    beta: ArrayLike | None = None,
    *,
    eps: float = TORCH.eps,
) -> FloatArray:
    r"""Layer normalization (Ba et al., 2016), as PyTorch's ``F.layer_norm``: each sample is normalized
    over its trailing ``normalized_shape`` dimensions,

    .. math:: y = \gamma \frac{x - \mu}{\sqrt{\sigma^2+\epsilon}} + \beta, \quad
        \mu, \sigma^2 \text{ over the last } k = \text{len(normalized\_shape)} \text{ axes},

    with ``gamma``/``beta`` of shape ``normalized_shape`` (an int means ``(int,)``). ``y`` has x's shape and dtype.
    """
    return _forward(_layer_norm_plan(x, normalized_shape, gamma, beta, eps))


def layer_norm_backward(
    dy: ArrayLike,
    x: ArrayLike,
    normalized_shape: int | Sequence[int],
    gamma: ArrayLike | None = None,
    beta: ArrayLike | None = None,
    *,
    eps: float = TORCH.eps,
) -> Gradients:
    """Gradients of :func:`layer_norm` given ``dy = ∂ℓ/∂y``; ``dgamma``, ``dbeta`` of shape ``normalized_shape``."""
    return _backward(_layer_norm_plan(x, normalized_shape, gamma, beta, eps), dy)


def _channel_plan(
    x: ArrayLike, groups: int | None, gamma: ArrayLike | None, beta: ArrayLike | None, eps: float, axis: int
) -> _Plan:
    """Group norm with ``groups`` groups; instance norm is ``groups=None`` (one group per channel)."""
    x_arr = validation.require_batch("x", x)
    ax = validation.require_channel_axis(axis, x_arr.ndim)
    channels = x_arr.shape[ax]
    if groups is None:
        groups = channels
        if x_arr.ndim < 3 or x_arr.size // (x_arr.shape[0] * channels) <= 1:
            raise ValueError(
                f"Expected more than 1 spatial element per channel for instance norm, got input of shape "
                f"{x_arr.shape} (channel axis {ax}); with no spatial axes every value would become beta"
            )
    elif channels % validation.require_int("num_groups", groups, minimum=1):
        raise ValueError(f"num_groups must divide the number of channels {channels}, got num_groups={groups}")
    gamma_arr, beta_arr = _parameters(gamma, beta, (channels,), x_arr.dtype)
    spatial = tuple(d for a, d in enumerate(x_arr.shape) if a not in (0, ax))
    grouped = (x_arr.shape[0], groups, channels // groups, *spatial)

    def view(a: FloatArray) -> FloatArray:
        return np.moveaxis(a, ax, 1).reshape(grouped)

    def restore(a: FloatArray) -> FloatArray:
        return np.moveaxis(a.reshape((x_arr.shape[0], channels, *spatial)), 1, ax)

    per_channel = (1, groups, channels // groups) + (1,) * len(spatial)
    eps_f = validation.require_positive("eps", eps)
    axes = tuple(range(2, 3 + len(spatial)))
    return _Plan(
        x_arr, axes, gamma_arr.reshape(per_channel), beta_arr.reshape(per_channel), (channels,), eps_f, view, restore
    )


def group_norm(
    x: ArrayLike,
    num_groups: int,
    gamma: ArrayLike | None = None,
    beta: ArrayLike | None = None,
    *,
    eps: float = TORCH.eps,
    axis: int = 1,
) -> FloatArray:
    r"""Group normalization (Wu & He, 2018): the ``C`` channels of each sample are split into ``num_groups``
    consecutive groups and each group is normalized over its channels and the spatial positions; then
    ``gamma``, ``beta`` (shape ``(C,)``) scale and shift per channel. PyTorch's ``F.group_norm`` for
    ``axis=1``; ``axis=-1`` for channels-last, as Keras's ``GroupNormalization``. ``num_groups`` must divide C.
    """
    return _forward(_channel_plan(x, num_groups, gamma, beta, eps, axis))


def group_norm_backward(
    dy: ArrayLike,
    x: ArrayLike,
    num_groups: int,
    gamma: ArrayLike | None = None,
    beta: ArrayLike | None = None,
    *,
    eps: float = TORCH.eps,
    axis: int = 1,
) -> Gradients:
    """Gradients of :func:`group_norm` given ``dy = ∂ℓ/∂y``; ``dgamma``, ``dbeta`` of shape ``(C,)``."""
    return _backward(_channel_plan(x, num_groups, gamma, beta, eps, axis), dy)


def instance_norm(
    x: ArrayLike, gamma: ArrayLike | None = None, beta: ArrayLike | None = None, *, eps: float = TORCH.eps, axis: int = 1
) -> FloatArray:
    r"""Instance normalization (Ulyanov et al., 2016): each channel of each sample is normalized over its
    spatial positions (at least two), then scaled and shifted by ``gamma``, ``beta`` of shape ``(C,)``.
    PyTorch's ``F.instance_norm`` (which uses the input's statistics in training and, by default, at inference)."""
    return _forward(_channel_plan(x, None, gamma, beta, eps, axis))


def instance_norm_backward(
    dy: ArrayLike,
    x: ArrayLike,
    gamma: ArrayLike | None = None,
    beta: ArrayLike | None = None,
    *,
    eps: float = TORCH.eps,
    axis: int = 1,
) -> Gradients:
    """Gradients of :func:`instance_norm` given ``dy = ∂ℓ/∂y``; ``dgamma``, ``dbeta`` of shape ``(C,)``."""
    return _backward(_channel_plan(x, None, gamma, beta, eps, axis), dy)


class _PerSampleLayer:
    """A per-sample normalization as a layer: learnable ``gamma``/``beta`` (with ``dgamma``/``dbeta`` after
    :meth:`backward`), no running statistics, the same computation in training and inference."""

    def __init__(self, param_shape: tuple[int, ...], eps: float, dtype: DTypeLike) -> None:
        param_dtype = validation.require_float_dtype("dtype", dtype)
        self.eps = validation.require_positive("eps", eps)
        self.gamma: FloatArray = np.ones(param_shape, dtype=param_dtype)
        self.beta: FloatArray = np.zeros(param_shape, dtype=param_dtype)
        self.dgamma: FloatArray = np.zeros_like(self.gamma)
        self.dbeta: FloatArray = np.zeros_like(self.beta)
        # The last call's plan, forward pass (x̂, 1/σ) and γ (a copy), for backward().
        self._last_call: tuple[_Plan, kernel.Normalized, FloatArray] | None = None

    def parameters(self) -> list[tuple[FloatArray, FloatArray]]:
        """``(parameter, gradient)`` pairs for an optimizer: ``(gamma, dgamma)``, ``(beta, dbeta)``."""
        return [(self.gamma, self.dgamma), (self.beta, self.dbeta)]

    def _plan(self, x: ArrayLike) -> _Plan:
        raise NotImplementedError

    def __call__(self, x: ArrayLike, *, training: bool = True) -> FloatArray:
        """Normalize ``x``; ``training`` is accepted for symmetry with BN and changes nothing."""
        validation.require_bool("training", training)
        plan = self._plan(x)
        forward = kernel.normalize(plan.view(plan.x), plan.axes, plan.gamma, plan.beta, plan.eps)
        self._last_call = (plan, forward, plan.gamma.copy())
        return plan.restore(forward.y)

    def backward(self, dy: ArrayLike) -> Gradients:
        """Gradients of the last call, from its x̂, 1/σ and γ (later changes to x or γ do not matter);
        ``dgamma``/``dbeta`` are also kept as attributes."""
        if self._last_call is None:
            raise RuntimeError("backward() needs a previous call")
        gradients = _gradients(*self._last_call, dy)
        self.dgamma, self.dbeta = gradients.dgamma, gradients.dbeta
        return gradients


class LayerNorm(_PerSampleLayer):
    """:func:`layer_norm` as a layer, like ``torch.nn.LayerNorm(normalized_shape)``."""

    def __init__(self, normalized_shape: int | Sequence[int], *, eps: float = TORCH.eps, dtype: DTypeLike = np.float64) -> None:
        self.normalized_shape = validation.require_shape_tuple("normalized_shape", normalized_shape)
        super().__init__(self.normalized_shape, eps, dtype)

    def _plan(self, x: ArrayLike) -> _Plan:
        return _layer_norm_plan(x, self.normalized_shape, self.gamma, self.beta, self.eps)


class GroupNorm(_PerSampleLayer):
    """:func:`group_norm` as a layer, like ``torch.nn.GroupNorm(num_groups, num_channels)``."""

    def __init__(
        self, num_groups: int, num_channels: int, *, eps: float = TORCH.eps, axis: int = 1, dtype: DTypeLike = np.float64
    ) -> None:
        self.num_groups = validation.require_int("num_groups", num_groups, minimum=1)
        self.num_channels = validation.require_int("num_channels", num_channels, minimum=1)
        if self.num_channels % self.num_groups:
            raise ValueError(
                f"num_groups must divide num_channels={self.num_channels}, got num_groups={self.num_groups}"
            )
        self.axis = validation.require_layer_axis(axis)
        super().__init__((self.num_channels,), eps, dtype)

    def _plan(self, x: ArrayLike) -> _Plan:
        x_arr = validation.require_batch("x", x)
        axis = validation.require_channel_axis(self.axis, x_arr.ndim)
        if x_arr.shape[axis] != self.num_channels:
            raise ValueError(
                f"x must have num_channels={self.num_channels} channels along axis {self.axis}, got shape {x_arr.shape}"
            )
        return _channel_plan(x_arr, self.num_groups, self.gamma, self.beta, self.eps, self.axis)
