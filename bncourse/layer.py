"""A batch-norm layer with learnable γ, β and running statistics, in PyTorch's or Keras's convention
(:mod:`bncourse.convention` says what the two differ in)."""

from __future__ import annotations

import enum
import numbers
from collections.abc import Mapping
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

_AFFINE_KEYS = ("gamma", "beta")
_RUNNING_KEYS = ("running_mean", "running_var")
_COUNT_KEY = "num_batches_tracked"
# PyTorch's names for γ and β: load_state_dict takes a torch.nn.BatchNorm*d's state_dict() as it is.
_TORCH_NAMES = {"weight": "gamma", "bias": "beta"}


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
        affine: whether the layer has ``gamma`` and ``beta`` (PyTorch's ``affine``); without them it
            outputs ``x̂`` itself, as if γ = 1 and β = 0 were fixed.
        track_running_stats: whether the layer keeps running statistics (PyTorch's
            ``track_running_stats``). Without them **every** call, inference included, normalizes with
            the batch's own statistics, so inference also needs more than one value per channel.

    Attributes:
        gamma, beta: learnable scale (ones) and shift (zeros), shape ``(C,)``; None if not ``affine``.
        running_mean, running_var: running statistics (zeros, ones), shape ``(C,)``;
            not learned by gradient descent, only averaged. None if not ``track_running_stats``.
        num_batches_tracked: number of training calls so far; None if not ``track_running_stats``.
        momentum: checked on assignment against the convention.

    Calling ``layer(x, training=True)`` normalizes with the batch's statistics and updates the
    running ones; ``training=False`` normalizes with the running statistics and changes nothing
    (with the batch's statistics if the layer keeps none, as PyTorch does).
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
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        self._convention = require_convention(convention)
        self.num_features = validation.require_int("num_features", num_features, minimum=1)
        self.axis = validation.require_layer_axis(self._convention.axis if axis is None else axis)
        param_dtype = validation.require_float_dtype("dtype", dtype)
        self.eps = validation.require_positive("eps", self.convention.eps if eps is None else eps)
        self.momentum = self.convention.momentum if momentum is DEFAULT else momentum
        self.affine = validation.require_bool("affine", affine)
        self.track_running_stats = validation.require_bool("track_running_stats", track_running_stats)
        self.dtype = param_dtype
        c = self.num_features
        self.gamma: FloatArray | None = np.ones(c, dtype=param_dtype) if self.affine else None
        self.beta: FloatArray | None = np.zeros(c, dtype=param_dtype) if self.affine else None
        # Gradients of the last backward(), kept like a framework's .grad for an optimizer to use.
        self.dgamma: FloatArray | None = np.zeros(c, dtype=param_dtype) if self.affine else None
        self.dbeta: FloatArray | None = np.zeros(c, dtype=param_dtype) if self.affine else None
        self.running_mean: FloatArray | None = None
        self.running_var: FloatArray | None = None
        self.num_batches_tracked: int | None = None
        if self.track_running_stats:
            self.reset_running_stats()
        # The last forward pass with batch statistics (x̂, 1/sqrt(σ²+ε), axes) and the γ it used, for backward().
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
        flags = "".join(
            f", {name}=False" for name in ("affine", "track_running_stats") if not getattr(self, name)
        )
        return (
            f"BatchNorm({self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"convention={self.convention.name!r}, axis={self.axis}{flags})"
        )

    def parameters(self) -> list[tuple[FloatArray, FloatArray]]:
        """``(parameter, gradient)`` pairs for an optimizer: ``(gamma, dgamma)`` and ``(beta, dbeta)``, or
        none if the layer is not ``affine``."""
        pairs = [(self.gamma, self.dgamma), (self.beta, self.dbeta)]
        return [(p, g) for p, g in pairs if p is not None and g is not None]

    def __call__(self, x: ArrayLike, *, training: bool, mask: ArrayLike | None = None) -> FloatArray:
        """Normalize ``x`` of shape ``(N, C, ...)`` (channels at ``self.axis``); same shape and dtype out.

        ``mask`` (boolean, x's shape without the channel axis, e.g. ``(N, L)`` for padded sequences): in
        training only the positions where it is True enter the batch statistics and the running averages,
        as with Keras's ``BatchNormalization``; every position is normalized. Inference with running
        statistics ignores it."""
        training = validation.require_bool("training", training)
        x_arr, axis = self._require_input(x)
        # PyTorch's rule: batch statistics in training, and always when there are no running statistics.
        batch_stats = training or not self.track_running_stats
        weights = None if mask is None else self._require_mask(mask, x_arr, axis, batch_stats)
        gamma, beta, running_mean, running_var = self._require_state(training)

        if batch_stats and weights is None:
            validation.require_more_than_one_value_per_channel(x_arr, axis)
        forward: blocked.Forward | kernel.Normalized
        if weights is None and blocked.serves(x_arr.dtype):  # float32: the fast path
            running = None if batch_stats else kernel.Moments(running_mean[:, None], running_var[:, None], 0)
            x3 = blocked.channel_blocks(x_arr, axis)
            forward = blocked.forward(x3, gamma, beta, self.eps, running)
            stats, y = forward.stats, forward.y.reshape(x_arr.shape)
        else:  # float64, or statistics over a mask: the kernel
            axes = reduction_axes(x_arr.ndim, axis)
            column = [1 if a in axes else -1 for a in range(x_arr.ndim)]
            if batch_stats:
                stats = kernel.moments(x_arr, axes, weights)
            else:
                stats = kernel.Moments(running_mean.reshape(column), running_var.reshape(column), 0)
            forward = kernel.normalize(x_arr, axes, gamma.reshape(column), beta.reshape(column), self.eps, stats)
            y = forward.y
        # Only now, after every check has passed, is any state changed.
        if training and self.track_running_stats:
            self._update_running_statistics(stats, running_mean, running_var)
        if batch_stats:
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

        Without ``affine``, γ = 1 and β = 0. Without running statistics, placeholders (0, 1) that are
        never used: such a layer always normalizes with the batch's statistics and updates none.
        In training the running statistics are only averaged into, not used, so only their shape is
        checked (a diverging run may make them infinite; that shows in inference, with a clear error)."""
        c = self.num_features
        if self.affine:
            gamma = validation.require_per_channel("gamma", _present("gamma", self.gamma, "affine"), c)
            beta = validation.require_per_channel("beta", _present("beta", self.beta, "affine"), c)
        else:
            gamma, beta = np.ones(c, dtype=self.dtype), np.zeros(c, dtype=self.dtype)
        if not self.track_running_stats:
            return gamma, beta, np.zeros(c, dtype=self.dtype), np.ones(c, dtype=self.dtype)
        running = {
            name: _present(name, value, "track_running_stats")
            for name, value in (("running_mean", self.running_mean), ("running_var", self.running_var))
        }
        if training:
            mean, var = (
                validation.require_per_channel_shape(name, validation.require_float_array(name, value, finite=False), c)
                for name, value in running.items()
            )
            return gamma, beta, mean, var
        mean = validation.require_per_channel("running_mean", running["running_mean"], c)
        var = validation.require_nonnegative("running_var", validation.require_per_channel("running_var", running["running_var"], c))
        return gamma, beta, mean, var

    def _update_running_statistics(self, stats: kernel.Moments, running_mean: FloatArray, running_var: FloatArray) -> None:
        """:math:`r \\leftarrow (1-w)\\,r + w\\,b` for the mean and the variance, with the convention's weight."""
        count = self.num_batches_tracked or 0
        weight_new = self.convention.weight_of_batch(self.momentum, count + 1)
        batch_mean = stats.mean.reshape(-1)
        batch_var = self.convention.stored_variance(stats.var.reshape(-1), stats.m)
        dtype = running_mean.dtype
        self.running_mean = ((1 - weight_new) * running_mean + weight_new * batch_mean).astype(dtype)
        self.running_var = ((1 - weight_new) * running_var + weight_new * batch_var).astype(dtype)
        self.num_batches_tracked = count + 1

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batch seen: as a new layer (γ and β are kept).
        A layer without running statistics has none to reset (as PyTorch's, this does nothing)."""
        if not self.track_running_stats:
            return
        self.running_mean = np.zeros(self.num_features, dtype=self.dtype)
        self.running_var = np.ones(self.num_features, dtype=self.dtype)
        self.num_batches_tracked = 0

    def backward(self, dy: ArrayLike) -> Gradients:
        """:class:`~bncourse.Gradients` ``(dx, dgamma, dbeta)`` of the last call that normalized with the
        batch's statistics (``training=True``, or any call of a layer without running statistics), given
        ``dy = ∂L/∂y``, from that call's statistics (they are not computed again) and what it kept of its
        input: ``x̂`` (float64) or, for float32, ``x − μ`` in float32. Both are the layer's own arrays, so a
        caller that reuses its buffer for the next batch does not change the gradient (PyTorch's autograd
        keeps a reference to ``x`` and refuses a backward after an in-place change).

        ``dgamma`` and ``dbeta`` are also kept as attributes, for an optimizer. A layer without ``affine``
        keeps none (they stay None, as PyTorch's ``weight.grad`` does not exist), but still returns them:
        ``Σ dy·x̂`` and ``Σ dy``, the gradients a γ = 1, β = 0 would get."""
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
        if self.affine:
            self.dgamma, self.dbeta = gradients.dgamma, gradients.dbeta
        return gradients

    def _state_keys(self) -> tuple[str, ...]:
        return (_AFFINE_KEYS if self.affine else ()) + ((*_RUNNING_KEYS, _COUNT_KEY) if self.track_running_stats else ())

    def state_dict(self) -> dict[str, Any]:
        """Copies of ``gamma`` and ``beta`` (if ``affine``), ``running_mean``, ``running_var`` and
        ``num_batches_tracked`` (if ``track_running_stats``): like PyTorch's, no entry for what the layer
        does not have."""
        return {key: _copy(getattr(self, key)) for key in self._state_keys()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Replace the layer's state with ``state``: keys as in :meth:`state_dict`, or PyTorch's
        (``weight``/``bias`` for γ/β), so a ``torch.nn.BatchNorm*d``'s ``state_dict()`` loads as it is;
        values may be NumPy arrays, torch tensors or anything ``np.asarray`` takes.

        ``num_batches_tracked`` may be missing (PyTorch before 0.4.1 did not save it): the layer then
        keeps its own count, as PyTorch does for such a state dict. Every other key the layer has is
        required and no other is accepted. Everything is checked before anything is assigned, so a bad
        ``state`` leaves the layer as it was."""
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a dict, got {type(state).__name__}")
        renamed: dict[str, Any] = {}
        for key, value in state.items():
            name = _TORCH_NAMES.get(key, key)
            if name in renamed:
                raise ValueError(f"state has both {name!r} and its PyTorch name for it")
            renamed[name] = value
        expected = self._state_keys()
        missing = [k for k in expected if k not in renamed and k != _COUNT_KEY]
        unexpected = sorted(set(renamed) - set(expected))
        if missing or unexpected:
            raise ValueError(
                f"state has missing keys {missing} and unexpected keys {unexpected} for {self!r} "
                f"(expected {list(expected)}; num_batches_tracked may be left out)"
            )
        arrays = {
            key: validation.require_per_channel(key, np.asarray(renamed[key]), self.num_features).astype(self.dtype)
            for key in expected
            if key != _COUNT_KEY
        }
        if "running_var" in arrays:
            validation.require_nonnegative("running_var", arrays["running_var"])
        count = self.num_batches_tracked
        if _COUNT_KEY in renamed:
            count = validation.require_int(_COUNT_KEY, _as_integer(renamed[_COUNT_KEY]), minimum=0)
        for key, array in arrays.items():
            setattr(self, key, array)
        self.num_batches_tracked = count


def _present(name: str, value: FloatArray | None, flag: str) -> FloatArray:
    """``value``, which the layer has because ``flag`` is True; a clear error if someone set it to None."""
    if value is None:
        raise ValueError(f"{name} is None, but the layer has {flag}=True; set {name} to an array of shape (C,)")
    return value


def _copy(value: Any) -> Any:
    return value.copy() if isinstance(value, np.ndarray) else value


def _as_integer(value: Any) -> Any:
    """A 0-d integer array or tensor (PyTorch saves ``num_batches_tracked`` as one) as a Python int."""
    if isinstance(value, numbers.Integral):
        return value
    array = np.asarray(value)
    return int(array) if array.shape == () and array.dtype.kind in "iu" else value
