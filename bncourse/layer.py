r"""A batch-norm layer with running statistics, in PyTorch's or Keras's convention.

The two frameworks compute the same training-mode output but keep their running
statistics differently:

==================  ===============================================  ===============================================
                    ``convention="torch"`` (``nn.BatchNorm*d``)      ``convention="keras"`` (``BatchNormalization``)
==================  ===============================================  ===============================================
default ``eps``     1e-5                                             1e-3
default momentum    0.1                                              0.99
update              :math:`r \leftarrow (1-m)\,r + m\,b`             :math:`r \leftarrow m\,r + (1-m)\,b`
running variance    unbiased batch variance :math:`\tfrac{n}{n-1}\sigma_B^2`   biased batch variance :math:`\sigma_B^2`
``momentum=None``   cumulative average :math:`m_t = 1/t`             not allowed
==================  ===============================================  ===============================================

where :math:`r` is a running statistic, :math:`b` the batch statistic, :math:`n` the number of
values per channel and :math:`t` the number of training batches seen so far.
Keras's momentum is the weight of the *old* value; PyTorch's is the weight of the *new* one:
Keras ``momentum=0.99`` is PyTorch ``momentum=0.01``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from bncourse import _checks
from bncourse._checks import FloatArray
from bncourse.functional import (
    BatchStatistics,
    _affine_normalize,
    _backward_from_normalized,
    batch_norm,
    batch_statistics,
)

Convention = Literal["torch", "keras"]


class _Default(enum.Enum):
    """Marker for "argument not given", distinct from an explicit ``momentum=None``."""

    TOKEN = 0


DEFAULT = _Default.TOKEN


@dataclass(frozen=True)
class ConventionDefaults:
    """The defaults a framework uses for a batch-norm layer."""

    eps: float
    momentum: float


DEFAULTS: dict[str, ConventionDefaults] = {
    "torch": ConventionDefaults(eps=1e-5, momentum=0.1),
    "keras": ConventionDefaults(eps=1e-3, momentum=0.99),
}

_STATE_KEYS = ("gamma", "beta", "running_mean", "running_var", "num_batches_tracked")


@dataclass(frozen=True)
class _TrainingPass:
    """What a training-mode forward pass leaves for the backward pass (shapes as x, or broadcastable)."""

    x_hat: FloatArray
    inv_std: FloatArray
    gamma: FloatArray
    axis: int
    x_dtype: np.dtype[Any]


class BatchNorm:
    """Batch normalization over the channel axis, with learnable ``gamma``/``beta`` and running statistics.

    Args:
        num_features: ``C``, the number of channels.
        eps: added to the variance; the convention's default if not given.
        momentum: the running-average factor, in the convention's meaning (see the module
            docstring); the convention's default if not given. With ``convention="torch"``,
            ``momentum=None`` gives the cumulative (equal-weight) average of all batches.
        convention: ``"torch"`` or ``"keras"``.
        axis: channel axis of the inputs (1 for ``(N, C, ...)``, -1 for channels-last).
        dtype: floating dtype of the parameters and running statistics.

    Attributes:
        gamma, beta: learnable scale (ones) and shift (zeros), shape ``(C,)``.
        running_mean, running_var: running statistics (zeros, ones), shape ``(C,)``;
            not learned by gradient descent, only averaged.
        num_batches_tracked: number of training calls so far.

    Calling ``layer(x, training=True)`` normalizes with the batch's statistics and updates the
    running ones; ``training=False`` normalizes with the running statistics and changes nothing.
    """

    def __init__(
        self,
        num_features: int,
        *,
        eps: float | None = None,
        momentum: float | None | _Default = DEFAULT,
        convention: Convention = "torch",
        axis: int = 1,
        dtype: DTypeLike = np.float64,
    ) -> None:
        if convention not in DEFAULTS:
            raise ValueError(f"convention must be 'torch' or 'keras', got {convention!r}")
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) or num_features < 1:
            raise ValueError(f"num_features must be a positive int, got {num_features!r}")
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"axis must be an int, got {type(axis).__name__}")
        if axis == 0:
            raise ValueError("axis must not be the batch axis 0; use axis=1 for (N, C, ...) or axis=-1 for channels-last")
        param_dtype = np.dtype(dtype)
        if not np.issubdtype(param_dtype, np.floating):
            raise TypeError(f"dtype must be a floating-point dtype, got {param_dtype}")
        defaults = DEFAULTS[convention]
        self.convention: Convention = convention
        self.num_features = int(num_features)
        self.axis = int(axis)
        self.eps = _checks.positive_real("eps", defaults.eps if eps is None else eps)
        self.momentum = self._checked_momentum(defaults.momentum if momentum is DEFAULT else momentum)
        self.gamma: FloatArray = np.ones(self.num_features, dtype=param_dtype)
        self.beta: FloatArray = np.zeros(self.num_features, dtype=param_dtype)
        self.running_mean: FloatArray = np.zeros(self.num_features, dtype=param_dtype)
        self.running_var: FloatArray = np.ones(self.num_features, dtype=param_dtype)
        self.num_batches_tracked = 0
        # Gradients of the last backward(), kept like a framework's .grad for an optimizer to use.
        self.dgamma: FloatArray = np.zeros_like(self.gamma)
        self.dbeta: FloatArray = np.zeros_like(self.beta)
        # What backward() needs from the last training-mode call: x̂, 1/sqrt(σ²+ε), γ, axis, dtype of x.
        self._last_training_pass: _TrainingPass | None = None

    def _checked_momentum(self, momentum: float | None | _Default) -> float | None:
        if momentum is None:
            if self.convention != "torch":
                raise ValueError("momentum=None (cumulative average) exists only with convention='torch'")
            return None
        return _checks.unit_interval("momentum", momentum)

    def __repr__(self) -> str:
        return (
            f"BatchNorm({self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"convention={self.convention!r}, axis={self.axis})"
        )

    def __call__(self, x: ArrayLike, *, training: bool) -> FloatArray:
        """Normalize ``x`` of shape ``(N, C, ...)`` (channels at ``self.axis``); same shape and dtype out."""
        if not isinstance(training, (bool, np.bool_)):
            raise TypeError(f"training must be True or False, got {training!r}")
        x_arr = self._checked_input(x)
        if not training:
            return batch_norm(
                x_arr, self.gamma, self.beta, eps=self.eps, axis=self.axis, mean=self.running_mean, var=self.running_var
            )
        axis = _checks.channel_axis(self.axis, x_arr.ndim)
        _checks.more_than_one_value_per_channel(x_arr, axis)
        # One pass for the statistics: they normalize the batch and feed the running averages.
        stats = batch_statistics(x_arr, axis)
        # The statistics come from x itself, so they need no checking as user-given statistics would.
        y, x_hat, inv_std = _affine_normalize(x_arr, self.gamma, self.beta, stats.mean, stats.var, self.eps, axis)
        # Only now, after every check has passed, is any state changed.
        self._update_running_statistics(stats)
        self._last_training_pass = _TrainingPass(x_hat, inv_std, self.gamma.copy(), axis, x_arr.dtype)
        return y

    def _checked_input(self, x: ArrayLike) -> FloatArray:
        x_arr = _checks.input_array("x", x)
        axis = _checks.channel_axis(self.axis, x_arr.ndim)
        if x_arr.shape[axis] != self.num_features:
            raise ValueError(
                f"x must have num_features={self.num_features} channels along axis {self.axis}, "
                f"got shape {x_arr.shape}"
            )
        return x_arr

    def _update_running_statistics(self, stats: BatchStatistics) -> None:
        self.num_batches_tracked += 1
        if self.convention == "torch":
            # PyTorch stores the unbiased variance, and weights the *new* batch by momentum.
            batch_var: FloatArray = stats.var * stats.values_per_channel / (stats.values_per_channel - 1)
            weight_new = 1.0 / self.num_batches_tracked if self.momentum is None else self.momentum
        else:
            # Keras stores the biased variance, and weights the *old* value by momentum.
            batch_var = stats.var
            assert self.momentum is not None
            weight_new = 1.0 - self.momentum
        dtype = self.running_mean.dtype
        self.running_mean = ((1 - weight_new) * self.running_mean + weight_new * stats.mean).astype(dtype)
        self.running_var = ((1 - weight_new) * self.running_var + weight_new * batch_var).astype(dtype)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batch seen: as a new layer (γ and β are kept)."""
        self.running_mean = np.zeros_like(self.running_mean)
        self.running_var = np.ones_like(self.running_var)
        self.num_batches_tracked = 0

    def backward(self, dy: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Gradients ``(dx, dgamma, dbeta)`` of the last ``training=True`` call, given ``dy = ∂L/∂y``.

        ``dgamma`` and ``dbeta`` are also kept as attributes, for an optimizer."""
        last = self._last_training_pass
        if last is None:
            raise RuntimeError("backward() needs a previous call with training=True")
        dy_arr = _checks.input_array("dy", dy)
        if dy_arr.shape != last.x_hat.shape:
            raise ValueError(f"dy must have the shape of the last training input, {last.x_hat.shape}, got {dy_arr.shape}")
        # The forward pass's x̂ and 1/σ: the batch statistics are not computed a second time.
        dx, self.dgamma, self.dbeta = _backward_from_normalized(
            dy_arr, last.x_hat, last.inv_std, last.gamma, last.axis, last.x_dtype
        )
        return dx, self.dgamma, self.dbeta

    def state_dict(self) -> dict[str, Any]:
        """Copies of ``gamma``, ``beta``, ``running_mean``, ``running_var`` and ``num_batches_tracked``."""
        return {
            "gamma": self.gamma.copy(),
            "beta": self.beta.copy(),
            "running_mean": self.running_mean.copy(),
            "running_var": self.running_var.copy(),
            "num_batches_tracked": self.num_batches_tracked,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Replace the layer's state with ``state`` (keys as in :meth:`state_dict`).

        Everything is checked before anything is assigned, so a bad ``state`` leaves the layer as it was.
        """
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict, got {type(state).__name__}")
        missing = [k for k in _STATE_KEYS if k not in state]
        unexpected = sorted(set(state) - set(_STATE_KEYS))
        if missing or unexpected:
            raise ValueError(f"state has missing keys {missing} and unexpected keys {unexpected}")
        dtype = self.gamma.dtype
        arrays = {
            key: _checks.per_channel(key, state[key], self.num_features).astype(dtype) for key in _STATE_KEYS[:4]
        }
        _checks.nonnegative("running_var", arrays["running_var"])
        count = state["num_batches_tracked"]
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
            raise ValueError(f"num_batches_tracked must be an int >= 0, got {count!r}")
        self.gamma = arrays["gamma"]
        self.beta = arrays["beta"]
        self.running_mean = arrays["running_mean"]
        self.running_var = arrays["running_var"]
        self.num_batches_tracked = int(count)
