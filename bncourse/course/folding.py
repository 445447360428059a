"""Folding every Conv/Linear → BatchNorm pair of a PyTorch ``nn.Sequential`` with
:func:`bncourse.fold_batch_norm`, for inference.

``fold_sequential(model)`` returns a new ``nn.Sequential`` in which each ``Linear`` or ``Conv1d/2d/3d``
directly followed by a ``BatchNorm1d/2d/3d`` is replaced by one layer with the folded weight and bias (the
batch norm disappears); nested ``Sequential`` containers are folded too, everything else is copied. The
model passed in is not changed. A ``Linear`` → ``BatchNorm1d`` pair is folded as for an input ``(N, features)``:
on a sequence ``(N, C, L)`` the linear layer acts on ``L`` while the batch norm normalizes ``C``, and folding
is wrong (a shape check cannot tell when ``C`` equals the output features). It refuses a model in training mode (its batch norms normalize with
each batch's statistics, which no fixed weight can reproduce) and a batch norm without running statistics
(``track_running_stats=False``: nothing fixed to fold).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from bncourse.folding import fold_batch_norm

FOLDABLE = ("Linear", "Conv1d", "Conv2d", "Conv3d")
BATCH_NORMS = ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d")


def fold_sequential(model: Any) -> Any:
    """A copy of the ``torch.nn.Sequential`` ``model`` with every Linear/Conv → BatchNorm pair folded into one
    layer; ``model`` must be in eval mode (``model.eval()``)."""
    import torch

    if not isinstance(model, torch.nn.Sequential):
        raise TypeError(f"model must be a torch.nn.Sequential, got {type(model).__name__}")
    training = [name or "model" for name, module in model.named_modules() if module.training]
    if training:
        raise ValueError(
            f"model must be in eval mode to fold its batch norms (call model.eval() first); in training mode "
            f"they normalize with each batch's statistics, which no fixed weight reproduces. "
            f"In training mode: {', '.join(training[:3])}{' …' if len(training) > 3 else ''}"
        )
    return _fold(model, "")


def _fold(model: Any, prefix: str) -> Any:
    import torch

    layers: list[Any] = []
    children = list(model.named_children())
    i = 0
    while i < len(children):
        name, module = children[i]
        following = children[i + 1][1] if i + 1 < len(children) else None
        if isinstance(module, torch.nn.Sequential):
            layers.append(_fold(module, f"{prefix}{name}."))
        elif type(module).__name__ in FOLDABLE and type(following).__name__ in BATCH_NORMS:
            layers.append(_folded_layer(module, following, f"{prefix}{children[i + 1][0]}"))
            i += 1  # the batch norm is now part of the layer
        else:
            layers.append(copy.deepcopy(module))
        i += 1
    return torch.nn.Sequential(*layers)


def _folded_layer(layer: Any, norm: Any, name: str) -> Any:
    import torch

    if norm.running_mean is None or norm.running_var is None:
        raise ValueError(
            f"batch norm {name} has no running statistics (track_running_stats=False): it normalizes with each "
            f"batch's statistics even in eval mode, so there is nothing fixed to fold"
        )
    if norm.num_features != layer.weight.shape[0]:
        raise ValueError(f"batch norm {name} has {norm.num_features} features, the layer before it "
                         f"{layer.weight.shape[0]} output channels")

    def numpy(tensor: Any) -> Any:
        return None if tensor is None else tensor.detach().cpu().numpy()

    weight, bias = fold_batch_norm(
        numpy(layer.weight), numpy(layer.bias), numpy(norm.weight), numpy(norm.bias),
        numpy(norm.running_mean), numpy(norm.running_var), eps=norm.eps,
    )
    folded = copy.deepcopy(layer)
    with torch.no_grad():
        folded.weight.copy_(torch.from_numpy(weight))
        folded.bias = torch.nn.Parameter(torch.from_numpy(np.ascontiguousarray(bias)).to(layer.weight.device))
    return folded


KERAS_FOLDABLE = ("Dense", "Conv1D", "Conv2D", "Conv3D")


def fold_keras_sequential(model: Any) -> Any:
    """A copy of the ``keras.Sequential`` ``model`` with every Dense/ConvND → BatchNormalization pair folded
    into one layer. Keras has no training mode to refuse: a Keras batch norm uses its moving statistics
    whenever it is called with ``training=False`` (``predict``, ``evaluate``), and those are what is folded.
    The batch norm must normalize the last axis (channels-last, the Keras default), which is the layer's
    output axis: Keras kernels are ``(in, out)`` and ``(*kernel, in, out)``."""
    import keras

    if not isinstance(model, keras.Sequential):
        raise TypeError(f"model must be a keras.Sequential, got {type(model).__name__}")
    if not model.built:
        raise ValueError("model must be built (called on data, or given an Input) before folding")
    layers: list[Any] = []
    source = list(model.layers)
    i = 0
    while i < len(source):
        layer = source[i]
        following = source[i + 1] if i + 1 < len(source) else None
        if type(layer).__name__ in KERAS_FOLDABLE and type(following).__name__ == "BatchNormalization":
            layers.append(_folded_keras_layer(layer, following))
            i += 1
        else:
            layers.append(layer.__class__.from_config(layer.get_config()))
            layers[-1].build(layer.input.shape)
            layers[-1].set_weights(layer.get_weights())
        i += 1
    folded = keras.Sequential([keras.Input(model.inputs[0].shape[1:], dtype=model.inputs[0].dtype), *layers])
    return folded


def _folded_keras_layer(layer: Any, norm: Any) -> Any:
    axis = norm.axis if isinstance(norm.axis, int) else norm.axis[0]
    rank = len(norm.input.shape)
    if axis not in (-1, rank - 1):
        raise ValueError(
            f"batch norm {norm.name} normalizes axis {axis}, not the last axis ({rank - 1}): only a channels-last "
            f"batch norm folds into the layer before it"
        )

    def numpy(variable: Any) -> Any:
        return None if variable is None else np.asarray(variable)

    kernel = numpy(layer.kernel)
    out_first = np.moveaxis(kernel, -1, 0)
    weight, bias = fold_batch_norm(
        out_first, numpy(layer.bias) if layer.use_bias else None,
        numpy(norm.gamma) if norm.scale else None, numpy(norm.beta) if norm.center else None,
        numpy(norm.moving_mean), numpy(norm.moving_variance), eps=norm.epsilon,
    )
    folded = layer.__class__.from_config({**layer.get_config(), "use_bias": True, "name": layer.name})
    folded.build(layer.input.shape)
    folded.set_weights([np.moveaxis(weight, 0, -1), bias])
    return folded
