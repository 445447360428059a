r"""Move a batch-norm layer's state between PyTorch, Keras and :class:`bncourse.BatchNorm`, exactly.

What is moved: :math:`\gamma`, :math:`\beta`, the running mean and variance, :math:`\epsilon` and the
momentum, translated between the two meanings of momentum (Keras ``momentum`` = 1 − PyTorch ``momentum``).
After a conversion, inference-mode outputs agree to float32 round-off.

What is *not* changed on the way, on purpose: the running variance. PyTorch averages unbiased batch
variances and Keras biased ones, but at inference both divide by the *stored* number, so it is copied as
it is; rescaling it by :math:`m/(m-1)` would change every prediction. The convention only decides what
*future* training steps add to it.

The channel axis is not part of the state: a PyTorch layer always normalizes axis 1 (NCHW), a Keras layer
the axis it was built with (``-1``, NHWC, by default). The per-channel vectors are the same either way;
only the input layout differs.

PyTorch and Keras are imported only when a function that needs them is called.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bncourse import validation
from bncourse.convention import KERAS, TORCH, Convention, require_convention
from bncourse.layer import BatchNorm

_TORCH_MODULES = {1: "BatchNorm1d", 2: "BatchNorm2d", 3: "BatchNorm3d"}
_TORCH_NAME = {"gamma": "weight", "beta": "bias"}


def _momentum_in(layer: BatchNorm, convention: Convention) -> float | None:
    return layer.convention.translate_momentum(layer.momentum, convention)


def from_torch(module: Any) -> BatchNorm:
    """A torch-convention :class:`BatchNorm` (float64, ``axis=1``) with the state and the ``affine`` and
    ``track_running_stats`` flags of a ``torch.nn.BatchNorm1d/2d/3d``."""
    import torch

    if not isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
        raise TypeError(f"module must be a torch.nn.BatchNorm1d/2d/3d, got {type(module).__name__}")
    layer = BatchNorm(
        module.num_features,
        eps=module.eps,
        momentum=module.momentum,
        convention="torch",
        affine=module.affine,
        track_running_stats=module.track_running_stats,
    )
    layer.load_state_dict({name: value.detach().cpu() for name, value in module.state_dict().items()})
    return layer


def to_torch(layer: BatchNorm, *, spatial_dims: int = 1, dtype: Any = None) -> Any:
    """A ``torch.nn.BatchNorm{spatial_dims}d`` (``BatchNorm1d`` also takes ``(N, C)``) in training mode with
    ``layer``'s state and flags, its momentum translated to PyTorch's meaning; float32 unless ``dtype`` is
    given."""
    import torch

    spatial_dims = validation.require_int("spatial_dims", spatial_dims, minimum=1, maximum=3)
    module_type = getattr(torch.nn, _TORCH_MODULES[spatial_dims])
    float_dtype = dtype or torch.float32
    module = module_type(
        layer.num_features,
        eps=layer.eps,
        momentum=_momentum_in(layer, TORCH),
        affine=layer.affine,
        track_running_stats=layer.track_running_stats,
        dtype=float_dtype,
    )
    module.load_state_dict(
        {
            _TORCH_NAME.get(key, key): torch.as_tensor(value, dtype=torch.long if key == "num_batches_tracked" else float_dtype)
            for key, value in layer.state_dict().items()
        }
    )
    return module


def from_keras(keras_layer: Any) -> BatchNorm:
    """A keras-convention :class:`BatchNorm` (float64) with the state of a built
    ``keras.layers.BatchNormalization``; its ``axis`` is kept. A layer with neither γ nor β
    (``scale=False, center=False``) gives ``affine=False``; with only one of them, the missing one becomes
    1 (γ) or 0 (β). Keras does not count batches, so ``num_batches_tracked`` is 0."""
    import keras

    if not isinstance(keras_layer, keras.layers.BatchNormalization):
        raise TypeError(f"keras_layer must be a keras.layers.BatchNormalization, got {type(keras_layer).__name__}")
    if not keras_layer.built:
        raise ValueError("keras_layer is not built yet: call it on data or call build(input_shape) first")
    axis = keras_layer.axis
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            raise ValueError(f"only a single channel axis is supported, got axis={axis}")
        axis = axis[0]
    num_features = int(keras_layer.moving_mean.shape[0])
    affine = bool(keras_layer.scale or keras_layer.center)
    layer = BatchNorm(
        num_features,
        eps=keras_layer.epsilon,
        momentum=keras_layer.momentum,
        convention="keras",
        axis=int(axis),
        affine=affine,
    )

    def numpy(variable: Any) -> np.ndarray:
        return np.array(variable.numpy(), dtype=np.float64)

    state = {"running_mean": numpy(keras_layer.moving_mean), "running_var": numpy(keras_layer.moving_variance)}
    if affine:
        state["gamma"] = numpy(keras_layer.gamma) if keras_layer.scale else np.ones(num_features)
        state["beta"] = numpy(keras_layer.beta) if keras_layer.center else np.zeros(num_features)
    layer.load_state_dict({**state, "num_batches_tracked": 0})
    return layer


def to_keras(layer: BatchNorm, *, axis: int | None = None, ndim: int = 2, dtype: str = "float32") -> Any:
    """A built ``keras.layers.BatchNormalization`` with ``layer``'s state and its momentum translated to
    Keras's meaning. ``axis`` defaults to ``-1`` for a torch-convention layer (PyTorch's NCHW data
    becomes NHWC in Keras) and to ``layer.axis`` otherwise; ``ndim`` is the rank of the inputs it will see.
    ``affine=False`` becomes ``center=False, scale=False``. Keras always keeps running statistics, so a
    layer without them is refused."""
    import keras

    if not layer.track_running_stats or layer.running_mean is None or layer.running_var is None:
        raise ValueError(
            "layer has no running statistics (track_running_stats=False); a Keras BatchNormalization "
            "always keeps them and uses them at inference, so it cannot behave like this layer"
        )

    if axis is None:
        axis = layer.axis if layer.convention == KERAS else KERAS.axis
    ndim = validation.require_int("ndim", ndim, minimum=2)
    validation.require_channel_axis(axis, ndim)
    keras_layer = keras.layers.BatchNormalization(
        axis=axis,
        momentum=_momentum_in(layer, KERAS),
        epsilon=layer.eps,
        center=layer.affine,
        scale=layer.affine,
        dtype=dtype,
    )
    shape: list[int | None] = [None] * ndim
    shape[axis] = layer.num_features
    keras_layer.build(tuple(shape))
    if layer.gamma is not None and layer.beta is not None:
        keras_layer.gamma.assign(layer.gamma)
        keras_layer.beta.assign(layer.beta)
    keras_layer.moving_mean.assign(layer.running_mean)
    keras_layer.moving_variance.assign(layer.running_var)
    return keras_layer


def with_convention(layer: BatchNorm, convention: Convention | str, *, axis: int | None = None) -> BatchNorm:
    """A copy of ``layer`` in another convention (``"torch"``, ``"keras"`` or a :class:`~bncourse.Convention`):
    same γ, β, statistics, flags, ε and channel axis (unless ``axis`` is given); momentum translated (Keras ``m`` ↔
    PyTorch ``1 − m``). Future training steps follow the new convention."""
    target = require_convention(convention)
    copy = BatchNorm(
        layer.num_features,
        eps=layer.eps,
        momentum=_momentum_in(layer, target),
        convention=target,
        axis=layer.axis if axis is None else axis,
        dtype=layer.dtype,
        affine=layer.affine,
        track_running_stats=layer.track_running_stats,
    )
    copy.load_state_dict(layer.state_dict())
    return copy
