"""A batch-norm layer with learnable γ, β and running statistics, in PyTorch's or Keras's convention
(:mod:`bncourse.convention` says what the two differ in)."""

from __future__ import annotations

import enum
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from bncourse import blocked, kernel, validation
from bncourse.convention import Convention, require_convention
from bncourse.functional import as_channel_column, flatten_parameter_gradients, reduction_axes
from bncourse.kernel import Gradients
from bncourse.validation import FloatArray


class _Default(enum.Enum):
    """Marker for "argument not given", distinct from an explicit ``momentum=None``."""

    TOKEN = 0


DEFAULT = _Default.TOKEN

_STATE_KEYS = ("gamma", "beta", "running_mean", "running_var", "num_batches_tracked")


class _TrainingPass(NamedTuple):
    """What :meth:`BatchNorm.backward` needs of the last training call: its forward pass (blocked for float32,
    else the kernel's), the γ it used, and the input's shape and channel axis."""

    forward: blocked.Forward | kernel.Normalized
    gamma: FloatArray
    shape: tuple[int, ...]
    axis: int


class BatchNorm:
    """Batch normalization over the channel axis, with learnable ``gamma``/``beta`` and running statistics.

    Args:
        num_features: ``C``, the number of channels.
        eps: added to the variance; the convention's default if not given.
        momentum: the running-average factor, in the convention's meaning; the convention's default if
            not given. With the torch convention, ``momentum=None`` gives the cumulative (equal-weight)
            average of all batches.
        convention: ``"torch"``, ``"keras"`` or a :class:`~bncourse.Convention`.
        axis: channel axis of the inputs (1 for ``(N, C, ...)``, -1 for channels-last); the convention's
            default if not given (PyTorch 1, Keras -1).
        dtype: floating dtype of the parameters and running statistics.

    Attributes:
        gamma, beta: learnable scale (ones) and shift (zeros), shape ``(C,)``.
        running_mean, running_var: running statistics (zeros, ones), shape ``(C,)``;
            not learned by gradient descent, only averaged.
        num_batches_tracked: number of training calls so far.
        momentum: checked on assignment against the convention.

    Calling ``layer(x, training=True)`` normalizes with the batch's statistics and updates the
    running ones; ``training=False`` normalizes with the running statistics and changes nothing.
    """

    def __init__(
        self,
        num_features: int,
        *,
        eps: float | None = None,
        momentum: float | None | _Default = DEFAULT,
        convention: Convention | str = "torch",
        axis: int | None = None,
        dtype: DTypeLike = np.float64,
    ) -> None:
        self._convention = require_convention(convention)
        self.num_features = validation.require_int("num_features", num_features, minimum=1)
        self.axis = validation.require_layer_axis(self._convention.axis if axis is None else axis)
        param_dtype = validation.require_float_dtype("dtype", dtype)
        self.eps = validation.require_positive("eps", self.convention.eps if eps is None else eps)
        self.momentum = self.convention.momentum if momentum is DEFAULT else momentum
        self.gamma: FloatArray = np.ones(self.num_features, dtype=param_dtype)
        self.beta: FloatArray = np.zeros(self.num_features, dtype=param_dtype)
        self.running_mean: FloatArray = np.zeros(self.num_features, dtype=param_dtype)
        self.running_var: FloatArray = np.ones(self.num_features, dtype=param_dtype)
        self.num_batches_tracked = 0
        # Gradients of the last backward(), kept like a framework's .grad for an optimizer to use.
        self.dgamma: FloatArray = np.zeros_like(self.gamma)
        self.dbeta: FloatArray = np.zeros_like(self.beta)
        # The last training-mode forward pass (x̂, 1/sqrt(σ²+ε), axes) and the γ it used, for backward().
        self._last_training_pass: _TrainingPass | None = None

    @property
    def convention(self) -> Convention:
        """The layer's :class:`~bncourse.Convention`, fixed at construction (:func:`bncourse.with_convention`
        makes a copy in another one)."""
        return self._convention

    @property
    def momentum(self) -> float | None:
        """The running-average factor in the convention's meaning (None: cumulative average, torch only)."""
        return self._momentum

    @momentum.setter
    def momentum(self, value: float | None) -> None:
        self._momentum = self.convention.check_momentum(value)

    def __repr__(self) -> str:
        return (
            f"BatchNorm({self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"convention={self.convention.name!r}, axis={self.axis})"
        )

    def __call__(self, x: ArrayLike, *, training: bool, mask: ArrayLike | None = None) -> FloatArray:
        """Normalize ``x`` of shape ``(N, C, ...)`` (channels at ``self.axis``); same shape and dtype out.

        ``mask`` (boolean, x's shape without the channel axis, e.g. ``(N, L)`` for padded sequences): in
        training only the positions where it is True enter the batch statistics and the running averages,
        as with Keras's ``BatchNormalization``; every position is normalized. Inference ignores it."""
        training = validation.require_bool("training", training)
        x_arr, axis = self._require_input(x)
        weights = None if mask is None else self._require_mask(mask, x_arr, axis, training)
        gamma, beta, running_mean, running_var = self._require_state(training)

        forward: blocked.Forward | kernel.Normalized
        if weights is None and blocked.serves(x_arr.dtype):  # float32: the fast path
            if training:
                validation.require_more_than_one_value_per_channel(x_arr, axis)
            running = None if training else kernel.Moments(running_mean[:, None], running_var[:, None], 0)
            x3 = blocked.channel_blocks(x_arr, axis)
            forward = blocked.forward(x3, gamma, beta, self.eps, running)
            stats, y = forward.stats, forward.y.reshape(x_arr.shape)
        else:  # float64, or statistics over a mask: the kernel
            axes = reduction_axes(x_arr.ndim, axis)
            column = [1 if a in axes else -1 for a in range(x_arr.ndim)]
            if training:
                if weights is None:
                    validation.require_more_than_one_value_per_channel(x_arr, axis)
                stats = kernel.moments(x_arr, axes, weights)
            else:
                stats = kernel.Moments(running_mean.reshape(column), running_var.reshape(column), 0)
            forward = kernel.normalize(x_arr, axes, gamma.reshape(column), beta.reshape(column), self.eps, stats)
            y = forward.y
        if training:
            # Only now, after every check has passed, is any state changed.
            self._update_running_statistics(stats, running_mean, running_var)
            self._last_training_pass = _TrainingPass(forward, gamma.copy(), x_arr.shape, axis)
        return y

    @staticmethod
    def _require_mask(mask: ArrayLike, x: FloatArray, axis: int, training: bool) -> FloatArray:
        """The mask as 0/1 weights broadcastable to x (size 1 on the channel axis)."""
        shape = tuple(d for a, d in enumerate(x.shape) if a != axis)
        array = validation.require_mask("mask", mask, shape)
        count = int(array.sum())
        if training and count <= 1:
            raise ValueError(
                f"mask must be True at more than 1 position when training (each channel needs more than "
                f"1 value), got {count}"
            )
        return np.expand_dims(array, axis).astype(np.float64)

    def _require_input(self, x: ArrayLike) -> tuple[FloatArray, int]:
        x_arr = validation.require_batch("x", x)
        axis = validation.require_channel_axis(self.axis, x_arr.ndim)
        if x_arr.shape[axis] != self.num_features:
            raise ValueError(
                f"x must have num_features={self.num_features} channels along axis {self.axis}, "
                f"got shape {x_arr.shape}"
            )
        return x_arr, axis

    def _require_state(self, training: bool) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """γ, β and the running statistics, checked: they are public attributes a user may have replaced.

        In training the running statistics are only averaged into, not used, so only their shape is
        checked (a diverging run may make them infinite; that shows in inference, with a clear error)."""
        c = self.num_features
        gamma = validation.require_per_channel("gamma", self.gamma, c)
        beta = validation.require_per_channel("beta", self.beta, c)
        if training:
            mean, var = (
                validation.require_per_channel_shape(name, validation.require_float_array(name, value, finite=False), c)
                for name, value in (("running_mean", self.running_mean), ("running_var", self.running_var))
            )
            return gamma, beta, mean, var
        mean = validation.require_per_channel("running_mean", self.running_mean, c)
        var = validation.require_nonnegative("running_var", validation.require_per_channel("running_var", self.running_var, c))
        return gamma, beta, mean, var

    def _update_running_statistics(self, stats: kernel.Moments, running_mean: FloatArray, running_var: FloatArray) -> None:
        """:math:`r \\leftarrow (1-w)\\,r + w\\,b` for the mean and the variance, with the convention's weight."""
        weight_new = self.convention.weight_of_batch(self.momentum, self.num_batches_tracked + 1)
        batch_mean = stats.mean.reshape(-1)
        batch_var = self.convention.stored_variance(stats.var.reshape(-1), stats.m)
        dtype = running_mean.dtype
        self.running_mean = ((1 - weight_new) * running_mean + weight_new * batch_mean).astype(dtype)
        self.running_var = ((1 - weight_new) * running_var + weight_new * batch_var).astype(dtype)
        self.num_batches_tracked += 1

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batch seen: as a new layer (γ and β are kept)."""
        self.running_mean = np.zeros_like(self.running_mean)
        self.running_var = np.ones_like(self.running_var)
        self.num_batches_tracked = 0

    def backward(self, dy: ArrayLike) -> Gradients:
        """:class:`~bncourse.Gradients` ``(dx, dgamma, dbeta)`` of the last ``training=True`` call, given
        ``dy = ∂L/∂y``, from that call's statistics (they are not computed again) and what it kept of its
        input: ``x̂`` (float64) or, for float32, ``x − μ`` in float32. Both are the layer's own arrays, so a
        caller that reuses its buffer for the next batch does not change the gradient (PyTorch's autograd
        keeps a reference to ``x`` and refuses a backward after an in-place change).

        ``dgamma`` and ``dbeta`` are also kept as attributes, for an optimizer."""
        if self._last_training_pass is None:
            raise RuntimeError("backward() needs a previous call with training=True")
        forward, gamma, shape, axis = self._last_training_pass
        dy_arr = validation.require_shape("dy", validation.require_batch("dy", dy), shape, "the last training input")
        if isinstance(forward, blocked.Forward):
            blocked_gradients = blocked.backward(blocked.channel_blocks(dy_arr, axis), forward, gamma)
            gradients = Gradients(blocked_gradients.dx.reshape(shape), blocked_gradients.dgamma, blocked_gradients.dbeta)
        else:
            gamma_column = as_channel_column(gamma, dy_arr.ndim, axis)
            gradients = flatten_parameter_gradients(kernel.normalize_backward(dy_arr, forward, gamma_column))
        self.dgamma, self.dbeta = gradients.dgamma, gradients.dbeta
        return gradients

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
            key: validation.require_per_channel(key, state[key], self.num_features).astype(dtype)
            for key in _STATE_KEYS[:4]
        }
        validation.require_nonnegative("running_var", arrays["running_var"])
        count = validation.require_int("num_batches_tracked", state["num_batches_tracked"], minimum=0)
        self.gamma = arrays["gamma"]
        self.beta = arrays["beta"]
        self.running_mean = arrays["running_mean"]
        self.running_var = arrays["running_var"]
        self.num_batches_tracked = count

