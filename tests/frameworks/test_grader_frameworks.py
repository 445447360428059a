"""PyTorch and Keras, written as a reader's answers, pass the grader's exercises: the grader's references are
the frameworks' behaviour on every case (ranks 2–5, channels-last, m = 2, float32 far from zero, ...), within
the grader's tolerances."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_weights, fuse_linear_bn_weights

from bncourse.course import grader

keras = pytest.importorskip("keras")


def t(a: Any, grad: bool = False) -> torch.Tensor:
    return torch.from_numpy(np.array(a)).requires_grad_(grad)


def channels_first(x: Any, axis: int) -> torch.Tensor:
    return t(np.moveaxis(x, axis, 1))


def back(y: torch.Tensor, axis: int) -> Any:
    return np.moveaxis(y.detach().numpy(), 1, axis)


def torch_train(x: Any, gamma: Any, beta: Any, eps: float, axis: int) -> Any:
    return back(F.batch_norm(channels_first(x, axis), None, None, t(gamma), t(beta), training=True, eps=eps), axis)


def torch_inference(x: Any, gamma: Any, beta: Any, mean: Any, var: Any, eps: float, axis: int) -> Any:
    return back(F.batch_norm(channels_first(x, axis), t(mean), t(var), t(gamma), t(beta), training=False, eps=eps), axis)


def torch_backward(dy: Any, x: Any, gamma: Any, eps: float, axis: int) -> Any:
    xt, gt = channels_first(x, axis).requires_grad_(), t(gamma, grad=True)
    bt = torch.zeros_like(gt, requires_grad=True)
    F.batch_norm(xt, None, None, gt, bt, training=True, eps=eps).backward(channels_first(dy, axis))
    assert xt.grad is not None and gt.grad is not None and bt.grad is not None
    return back(xt.grad, axis), gt.grad.numpy(), bt.grad.numpy()


def torch_update(running_mean: Any, running_var: Any, x: Any, momentum: float, axis: int) -> Any:
    mean, var = t(running_mean), t(running_var)
    F.batch_norm(channels_first(x, axis), mean, var, training=True, momentum=momentum)  # updates mean, var
    return mean.numpy(), var.numpy()


def keras_update(moving_mean: Any, moving_variance: Any, x: Any, momentum: float, axis: int) -> Any:
    layer = keras.layers.BatchNormalization(axis=axis, momentum=momentum, dtype=str(x.dtype))
    layer.build(x.shape)
    layer.moving_mean.assign(moving_mean)
    layer.moving_variance.assign(moving_variance)
    layer(x, training=True)
    return np.asarray(layer.moving_mean), np.asarray(layer.moving_variance)


def keras_train(x: Any, gamma: Any, beta: Any, eps: float, axis: int) -> Any:
    layer = keras.layers.BatchNormalization(axis=axis, epsilon=eps, dtype=str(x.dtype))
    layer.build(x.shape)
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    return np.asarray(layer(x, training=True))


def torch_layer(x: Any, gamma: Any, beta: Any, running_mean: Any, running_var: Any, momentum: float, eps: float, training: bool) -> Any:
    mean, var = t(running_mean), t(running_var)
    y = F.batch_norm(t(x), mean, var, t(gamma), t(beta), training=training, momentum=momentum, eps=eps)
    return y.numpy(), mean.numpy(), var.numpy()


def torch_population(batches: list[Any], axis: int) -> Any:
    """``torch.optim.swa_utils.update_bn``: PyTorch's recalibration (a cumulative average of the batches)."""
    norm = torch.nn.BatchNorm1d(batches[0].shape[axis], dtype=torch.float64 if batches[0].dtype == np.float64 else torch.float32)
    model = torch.nn.Sequential(torch.nn.Flatten(2), norm) if batches[0].ndim > 2 else norm
    torch.optim.swa_utils.update_bn([channels_first(b, axis) for b in batches], model)
    assert norm.running_mean is not None and norm.running_var is not None
    return norm.running_mean.numpy(), norm.running_var.numpy()


def torch_layer_norm(x: Any, gamma: Any, beta: Any, eps: float) -> Any:
    return F.layer_norm(t(x), gamma.shape, t(gamma), t(beta), eps=eps).numpy()


def torch_group_norm(x: Any, num_groups: int, gamma: Any, beta: Any, eps: float) -> Any:
    return F.group_norm(t(x), num_groups, t(gamma), t(beta), eps=eps).numpy()


def torch_fold(weight: Any, bias: Any, gamma: Any, beta: Any, mean: Any, var: Any, eps: float) -> Any:
    fuse = fuse_linear_bn_weights if weight.ndim == 2 else fuse_conv_bn_weights
    w, b = fuse(t(weight), None if bias is None else t(bias), t(mean), t(var), eps, t(gamma), t(beta))
    return w.detach().numpy(), b.detach().numpy()


@pytest.mark.parametrize(
    ("exercise", "framework"),
    [
        ("batch_norm_train", torch_train),
        ("batch_norm_train", keras_train),
        ("batch_norm_inference", torch_inference),
        ("batch_norm_backward", torch_backward),
        ("running_update_torch", torch_update),
        ("running_update_keras", keras_update),
        ("batch_norm_layer", torch_layer),
        ("population_statistics", torch_population),
        ("layer_norm", torch_layer_norm),
        ("group_norm", torch_group_norm),
        ("fold_batch_norm", torch_fold),
    ],
    ids=lambda v: v if isinstance(v, str) else v.__name__,
)
def test_the_frameworks_pass_the_grader(exercise: str, framework: Any) -> None:
    report = grader.check(exercise, framework)
    assert report.passed, str(report)


def test_the_frameworks_fail_where_the_conventions_differ() -> None:
    """The grader tells the conventions apart: PyTorch's update is not Keras's, and the other way round."""
    assert grader.check("running_update_keras", torch_update).diagnosis == "momentum-reversed"
    assert grader.check("running_update_torch", keras_update).diagnosis == "momentum-reversed"
