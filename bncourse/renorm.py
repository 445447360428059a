r"""Batch renormalization (Ioffe, 2017): batch norm whose training output is corrected towards what the
running statistics would give, so that training and inference compute (nearly) the same function.

In training, with the batch's mean :math:`\mu_B` and :math:`s_B = \sqrt{\sigma_B^2 + \epsilon}` (its biased variance
:math:`\sigma_B^2`), and the running :math:`\mu`, :math:`\sigma`,

.. math::
    r = \operatorname{clip}_{[1/r_{\max},\, r_{\max}]}\Big(\frac{s_B}{\sigma}\Big), \qquad
    d = \operatorname{clip}_{[-d_{\max},\, d_{\max}]}\Big(\frac{\mu_B - \mu}{\sigma}\Big), \qquad
    y = \gamma\Big(\frac{x - \mu_B}{s_B}\, r + d\Big) + \beta,

with :math:`r` and :math:`d` treated as constants in the backward pass; then
:math:`\mu \leftarrow \mu + \alpha(\mu_B - \mu)`, :math:`\sigma \leftarrow \sigma + \alpha(s_B - \sigma)`.
At inference :math:`y = \gamma (x - \mu)/\sigma + \beta`. With :math:`r = 1, d = 0` (``r_max = 1``,
``d_max = 0``) it is batch norm; unclipped, its training output *is* the inference output. The paper starts
with plain batch norm and relaxes the limits gradually (:func:`renorm_limits`). Keras's
``BatchNormalization(renorm=True)`` implements the same (with ``momentum == renorm_momentum``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from bncourse import kernel, validation
from bncourse.functional import as_channel_column, flatten_parameter_gradients, reduction_axes
from bncourse.kernel import Gradients
from bncourse.validation import FloatArray


def renorm_limits(
    step: int, *, r_max: float = 3.0, d_max: float = 5.0, start: int = 5000, r_end: int = 40000, d_end: int = 25000
) -> tuple[float, float]:
    """``(r_max, d_max)`` at training ``step`` under the paper's schedule: plain batch norm (1, 0) for the
    first ``start`` steps, then linear growth to ``r_max`` at step ``r_end`` and ``d_max`` at ``d_end``
    (the paper's numbers are the defaults; shorter runs scale them down)."""
    step = validation.require_int("step", step, minimum=0)
    r_max = _require_r_max(r_max)
    d_max = validation.require_nonnegative_real("d_max", d_max)
    start = validation.require_int("start", start, minimum=0)
    r_end = validation.require_int("r_end", r_end, minimum=start + 1)
    d_end = validation.require_int("d_end", d_end, minimum=start + 1)

    def ramp(end: int) -> float:
        return min(max((step - start) / (end - start), 0.0), 1.0)

    return 1.0 + (r_max - 1.0) * ramp(r_end), d_max * ramp(d_end)


def _require_r_max(value: object) -> float:
    number = validation.require_positive("r_max", value)
    if number < 1:
        raise ValueError(f"r_max must be >= 1, got {value!r}")
    return number


class BatchRenorm:
    """Batch renormalization over the channel axis.

    Args:
        num_features: ``C``.
        eps: added to the batch variance (Keras's default 1e-3).
        momentum: :math:`\\alpha`, the weight of the new batch in the running mean and standard deviation
            (PyTorch's meaning; Keras's ``renorm_momentum=0.99`` is 0.01 here).
        r_max, d_max: the clipping limits (>= 1 and >= 0); assign new values as training goes on, or
        schedule: ``step -> (r_max, d_max)`` applied before each training call (step = batches seen so far),
            e.g. ``functools.partial(renorm_limits, start=100, r_end=800, d_end=500)``.
        axis: the channel axis (1, or -1 for channels-last).
        dtype: of the parameters and running statistics.

    Attributes: ``gamma``, ``beta``, ``running_mean`` (0), ``running_std`` (1, includes ε), ``num_batches_tracked``,
    and ``r``, ``d`` of the last training call.
    """

    def __init__(
        self,
        num_features: int,
        *,
        eps: float = 1e-3,
        momentum: float = 0.01,
        r_max: float = 3.0,
        d_max: float = 5.0,
        schedule: Callable[[int], tuple[float, float]] | None = None,
        axis: int = 1,
        dtype: DTypeLike = np.float64,
    ) -> None:
        self.num_features = validation.require_int("num_features", num_features, minimum=1)
        self.eps = validation.require_positive("eps", eps)
        self.momentum = validation.require_unit_interval("momentum", momentum)
        self.axis = validation.require_layer_axis(axis)
        param_dtype = validation.require_float_dtype("dtype", dtype)
        self.r_max, self.d_max = r_max, d_max
        if schedule is not None:
            validation.require_callable("schedule", schedule)
        self.schedule = schedule
        self.gamma: FloatArray = np.ones(self.num_features, dtype=param_dtype)
        self.beta: FloatArray = np.zeros(self.num_features, dtype=param_dtype)
        self.running_mean: FloatArray = np.zeros(self.num_features, dtype=param_dtype)
        self.running_std: FloatArray = np.ones(self.num_features, dtype=param_dtype)
        self.num_batches_tracked = 0
        self.dgamma: FloatArray = np.zeros_like(self.gamma)
        self.dbeta: FloatArray = np.zeros_like(self.beta)
        self.r: FloatArray = np.ones(self.num_features)
        self.d: FloatArray = np.zeros(self.num_features)
        self._last_training_pass: tuple[kernel.Normalized, FloatArray] | None = None

    def parameters(self) -> list[tuple[FloatArray, FloatArray]]:
        """``(parameter, gradient)`` pairs for an optimizer: ``(gamma, dgamma)``, ``(beta, dbeta)``."""
        return [(self.gamma, self.dgamma), (self.beta, self.dbeta)]

    @property
    def r_max(self) -> float:
        """Upper limit of r (its lower limit is 1/r_max); 1 means r = 1."""
        return self._r_max

    @r_max.setter
    def r_max(self, value: float) -> None:
        self._r_max = _require_r_max(value)

    @property
    def d_max(self) -> float:
        """Limit of |d|; 0 means d = 0."""
        return self._d_max

    @d_max.setter
    def d_max(self, value: float) -> None:
        self._d_max = validation.require_nonnegative_real("d_max", value)

    def __call__(self, x: ArrayLike, *, training: bool) -> FloatArray:
        """Renormalize ``x`` of shape ``(N, C, ...)``; same shape and dtype out."""
        training = validation.require_bool("training", training)
        x_arr = validation.require_batch("x", x)
        axis = validation.require_channel_axis(self.axis, x_arr.ndim)
        c = self.num_features
        if x_arr.shape[axis] != c:
            raise ValueError(f"x must have num_features={c} channels along axis {self.axis}, got shape {x_arr.shape}")
        gamma = validation.require_per_channel("gamma", self.gamma, c)
        beta = validation.require_per_channel("beta", self.beta, c)
        mean = validation.require_per_channel("running_mean", self.running_mean, c)
        std = validation.require_per_channel("running_std", self.running_std, c)
        if np.any(std <= 0):
            raise ValueError(f"running_std must be > 0 (it includes sqrt(eps)), got minimum {float(np.min(std))}")
        axes = reduction_axes(x_arr.ndim, axis)

        def column(vector: FloatArray) -> FloatArray:
            return as_channel_column(vector, x_arr.ndim, axis)

        if not training:
            stats = kernel.Moments(column(mean), column(std.astype(np.float64) ** 2 - self.eps), 0)
            return kernel.normalize(x_arr, axes, column(gamma), column(beta), self.eps, stats).y
        validation.require_more_than_one_value_per_channel(x_arr, axis)
        r_max, d_max = self._limits()
        stats = kernel.moments(x_arr, axes)
        batch_mean, batch_std = stats.mean.reshape(-1), np.sqrt(stats.var.reshape(-1) + self.eps)
        r = np.clip(batch_std / std, 1.0 / r_max, r_max)
        d = np.clip((batch_mean - mean) / std, -d_max, d_max)
        # y = γ (x̂ r + d) + β = (γ r) x̂ + (β + γ d): the kernel with an effective scale and shift.
        forward = kernel.normalize(x_arr, axes, column(gamma * r), column(beta + gamma * d), self.eps, stats)
        dtype = self.running_mean.dtype
        self.running_mean = (mean + self.momentum * (batch_mean - mean)).astype(dtype)
        self.running_std = (std + self.momentum * (batch_std - std)).astype(dtype)
        self.num_batches_tracked += 1
        self._r_max, self._d_max = r_max, d_max
        self.r, self.d = r, d
        self._last_training_pass = (forward, gamma.copy())
        return forward.y

    def _limits(self) -> tuple[float, float]:
        """``(r_max, d_max)`` for the next training call: the schedule's, checked, or the current ones."""
        if self.schedule is None:
            return self.r_max, self.d_max
        limits = self.schedule(self.num_batches_tracked)
        if not (isinstance(limits, tuple) and len(limits) == 2):
            raise TypeError(f"schedule must return a pair (r_max, d_max), got {limits!r}")
        return _require_r_max(limits[0]), validation.require_nonnegative_real("d_max", limits[1])

    def backward(self, dy: ArrayLike) -> Gradients:
        """:class:`~bncourse.Gradients` of the last training call, r and d held constant:
        ``dx`` is batch norm's with γ·r, ``dgamma = Σ dy (x̂ r + d)``, ``dbeta = Σ dy``."""
        if self._last_training_pass is None:
            raise RuntimeError("backward() needs a previous call with training=True")
        forward, gamma = self._last_training_pass
        dy_arr = validation.require_shape("dy", validation.require_batch("dy", dy), forward.y.shape, "the last training input")
        shape = [1 if a in forward.axes else -1 for a in range(dy_arr.ndim)]
        gradients = flatten_parameter_gradients(kernel.normalize_backward(dy_arr, forward, (gamma * self.r).reshape(shape)))
        self.dgamma = (self.r * gradients.dgamma + self.d * gradients.dbeta).astype(gamma.dtype)
        self.dbeta = gradients.dbeta
        return Gradients(gradients.dx, self.dgamma, self.dbeta)
