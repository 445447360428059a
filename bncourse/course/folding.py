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
