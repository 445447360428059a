"""Implementations a student might write for the graded exercises, right and wrong, written independently of
the grader's own models (plain NumPy, the way the chapters' formulas read).

``CORRECT``: legitimately different right answers (two-pass and one-pass float64 variance, the graph-form
backward, ...). ``MISTAKEN``: ``(exercise, mistake, function)``, each making one catalogued mistake.
``UNCATALOGUED``: wrong in a way the catalogue does not know. ``BROKEN``: functions that fail as programs
(an exception, None, a wrong shape or dtype, NaN, an argument changed in place) and the failure kind expected.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import bncourse


def _axes(x: Any, axis: int) -> tuple[int, ...]:
    return tuple(i for i in range(x.ndim) if i != axis % x.ndim)


def _col(v: Any, x: Any, axis: int) -> Any:
    shape = [1] * x.ndim
    shape[axis] = -1
    return v.reshape(shape)


# ---------------------------------------------------------------------------------------------- forward, training
def train_two_pass(x, gamma, beta, eps, axis):  # type: ignore[no-untyped-def]
    axes = _axes(x, axis)
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    return _col(gamma, x, axis) * (x - mu) / np.sqrt(var + eps) + _col(beta, x, axis)


def train_one_pass_float64(x, gamma, beta, eps, axis):  # type: ignore[no-untyped-def]
    xx = x.astype(np.float64)
    axes = _axes(x, axis)
    mu = xx.mean(axis=axes, keepdims=True)
    var = (xx * xx).mean(axis=axes, keepdims=True) - mu * mu
    y = _col(gamma, x, axis) * (xx - mu) / np.sqrt(var + eps) + _col(beta, x, axis)
    return y.astype(x.dtype)


def train_channels_last_matrix(x, gamma, beta, eps, axis):  # type: ignore[no-untyped-def]
    moved = np.moveaxis(x, axis, -1)
    flat = moved.reshape(-1, moved.shape[-1])
    y = gamma * (flat - flat.mean(0)) / np.sqrt(flat.var(0) + eps) + beta
    return np.moveaxis(y.reshape(moved.shape), -1, axis)


def train_unbiased(x, gamma, beta, eps, axis):  # type: ignore[no-untyped-def]
    axes = _axes(x, axis)
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True, ddof=1)
    return _col(gamma, x, axis) * (x - mu) / np.sqrt(var + eps) + _col(beta, x, axis)


def train_eps_outside(x, gamma, beta, eps, axis):  # type: ignore[no-untyped-def]
    axes = _axes(x, axis)
    mu, sd = x.mean(axis=axes, keepdims=True), x.std(axis=axes, keepdims=True)
    return _col(gamma, x, axis) * (x - mu) / (sd + eps) + _col(beta, x, axis)


def train_no_eps(x, gamma, beta, eps, axis):  # type: ignore[no-untyped-def]
    axes = _axes(x, axis)
    mu, sd = x.mean(axis=axes, keepdims=True), x.std(axis=axes, keepdims=True)
    return _col(gamma, x, axis) * (x - mu) / sd + _col(beta, x, axis)


def train_no_sqrt(x, gamma, beta, eps, axis):  # type: ignore[no-untyped-def]
    axes = _axes(x, axis)
    mu, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return _col(gamma, x, axis) * (x - mu) / (var + eps) + _col(beta, x, axis)


def train_axis_0(x, gamma, beta, eps, axis):  # type: ignore[no-untyped-def]
    mu, var = x.mean(axis=0), x.var(axis=0)
    return _col(gamma, x, axis) * (x - mu) / np.sqrt(var + eps) + _col(beta, x, axis)


def train_axis_1_hard_coded(x, gamma, beta, eps, axis):  # type: ignore[no-untyped-def]
    axes = tuple(i for i in range(x.ndim) if i != 1)
    mu, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return _col(gamma, x, axis) * (x - mu) / np.sqrt(var + eps) + _col(beta, x, axis)


def train_over_channels(x, gamma, beta, eps, axis):  # type: ignore[no-untyped-def]
    mu, var = x.mean(axis=axis, keepdims=True), x.var(axis=axis, keepdims=True)
    return _col(gamma, x, axis) * (x - mu) / np.sqrt(var + eps) + _col(beta, x, axis)


def train_one_pass_float32(x, gamma, beta, eps, axis):  # type: ignore[no-untyped-def]
    axes = _axes(x, axis)
    mu = x.mean(axis=axes, keepdims=True)
    var = (x * x).mean(axis=axes, keepdims=True) - mu * mu
    return _col(gamma, x, axis) * (x - mu) / np.sqrt(np.maximum(var, 0) + eps) + _col(beta, x, axis)


def train_pytorch_eps(x, gamma, beta, eps, axis):  # type: ignore[no-untyped-def]
    return train_two_pass(x, gamma, beta, 1e-5, axis)


def train_over_spatial_axes(x, gamma, beta, eps, axis):  # type: ignore[no-untyped-def]
    """Instance norm's axes (for rank 2: none at all, so the output is beta)."""
    axes = tuple(range(2, x.ndim)) if axis % x.ndim == 1 else tuple(range(1, x.ndim - 1))
    mu, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return _col(gamma, x, axis) * (x - mu) / np.sqrt(var + eps) + _col(beta, x, axis)


def train_without_beta(x, gamma, beta, eps, axis):  # type: ignore[no-untyped-def]
    return train_two_pass(x, gamma, np.zeros_like(beta), eps, axis)


# --------------------------------------------------------------------------------------------- forward, inference
def inference(x, gamma, beta, mean, var, eps, axis):  # type: ignore[no-untyped-def]
    return _col(gamma, x, axis) * (x - _col(mean, x, axis)) / np.sqrt(_col(var, x, axis) + eps) + _col(beta, x, axis)


def inference_batch_statistics(x, gamma, beta, mean, var, eps, axis):  # type: ignore[no-untyped-def]
    return train_two_pass(x, gamma, beta, eps, axis)


def inference_eps_outside(x, gamma, beta, mean, var, eps, axis):  # type: ignore[no-untyped-def]
    return _col(gamma, x, axis) * (x - _col(mean, x, axis)) / (np.sqrt(_col(var, x, axis)) + eps) + _col(beta, x, axis)


def inference_no_eps(x, gamma, beta, mean, var, eps, axis):  # type: ignore[no-untyped-def]
    return _col(gamma, x, axis) * (x - _col(mean, x, axis)) / np.sqrt(_col(var, x, axis)) + _col(beta, x, axis)


def inference_no_sqrt(x, gamma, beta, mean, var, eps, axis):  # type: ignore[no-untyped-def]
    return _col(gamma, x, axis) * (x - _col(mean, x, axis)) / (_col(var, x, axis) + eps) + _col(beta, x, axis)


def inference_keras_eps(x, gamma, beta, mean, var, eps, axis):  # type: ignore[no-untyped-def]
    return inference(x, gamma, beta, mean, var, 1e-3, axis)


def inference_mean_added(x, gamma, beta, mean, var, eps, axis):  # type: ignore[no-untyped-def]
    return _col(gamma, x, axis) * (x + _col(mean, x, axis)) / np.sqrt(_col(var, x, axis) + eps) + _col(beta, x, axis)


# ------------------------------------------------------------------------------------------------------- backward
def _backward(dy, x, gamma, eps, axis, *, ddof=0, sqrt_eps=True, terms=(True, True), use_gamma=True,  # type: ignore[no-untyped-def]
              dgamma_x=False, swap=False, sign=1.0):
    axes = _axes(x, axis)
    m = x.size // x.shape[axis]
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True, ddof=ddof)
    sd = np.sqrt(var + eps) if sqrt_eps else np.sqrt(var) + eps
    x_hat = (x - mu) / sd
    inner = m * dy
    if terms[0]:
        inner = inner - dy.sum(axis=axes, keepdims=True)
    if terms[1]:
        inner = inner - x_hat * (dy * x_hat).sum(axis=axes, keepdims=True)
    g = _col(gamma, x, axis) if use_gamma else 1.0
    dx = sign * g * inner / (m * sd)
    dgamma = (dy * (x if dgamma_x else x_hat)).sum(axis=axes)
    dbeta = dy.sum(axis=axes)
    return (dx, dbeta, dgamma) if swap else (dx, dgamma, dbeta)


def backward_compact(dy, x, gamma, eps, axis):  # type: ignore[no-untyped-def]
    return _backward(dy, x, gamma, eps, axis)


def backward_graph(dy, x, gamma, eps, axis):  # type: ignore[no-untyped-def]
    """Node by node, as the paper's chain rule."""
    axes = _axes(x, axis)
    m = x.size // x.shape[axis]
    mu = x.mean(axis=axes, keepdims=True)
    xc = x - mu
    var = (xc**2).mean(axis=axes, keepdims=True)
    inv = 1 / np.sqrt(var + eps)
    x_hat = xc * inv
    dx_hat = dy * _col(gamma, x, axis)
    dvar = (dx_hat * xc).sum(axis=axes, keepdims=True) * -0.5 * inv**3
    dmu = (-dx_hat * inv).sum(axis=axes, keepdims=True) + dvar * (-2 * xc).sum(axis=axes, keepdims=True) / m
    dx = dx_hat * inv + dvar * 2 * xc / m + dmu / m
    return dx, (dy * x_hat).sum(axis=axes), dy.sum(axis=axes)


def backward_bncourse_graph(dy, x, gamma, eps, axis):  # type: ignore[no-untyped-def]
    dx, dgamma, dbeta = bncourse.batch_norm_backward_graph(dy, x, gamma, eps=eps, axis=axis)
    return dx, dgamma, dbeta


def backward_detached(dy, x, gamma, eps, axis):  # type: ignore[no-untyped-def]
    return _backward(dy, x, gamma, eps, axis, terms=(False, False))


def backward_no_mean_term(dy, x, gamma, eps, axis):  # type: ignore[no-untyped-def]
    return _backward(dy, x, gamma, eps, axis, terms=(False, True))


def backward_no_projection_term(dy, x, gamma, eps, axis):  # type: ignore[no-untyped-def]
    return _backward(dy, x, gamma, eps, axis, terms=(True, False))


def backward_no_gamma(dy, x, gamma, eps, axis):  # type: ignore[no-untyped-def]
    return _backward(dy, x, gamma, eps, axis, use_gamma=False)


def backward_swapped(dy, x, gamma, eps, axis):  # type: ignore[no-untyped-def]
    return _backward(dy, x, gamma, eps, axis, swap=True)


def backward_dgamma_of_x(dy, x, gamma, eps, axis):  # type: ignore[no-untyped-def]
    return _backward(dy, x, gamma, eps, axis, dgamma_x=True)


def backward_unbiased(dy, x, gamma, eps, axis):  # type: ignore[no-untyped-def]
    return _backward(dy, x, gamma, eps, axis, ddof=1)


def backward_eps_outside(dy, x, gamma, eps, axis):  # type: ignore[no-untyped-def]
    return _backward(dy, x, gamma, eps, axis, sqrt_eps=False)


def backward_sign_flipped(dy, x, gamma, eps, axis):  # type: ignore[no-untyped-def]
    return _backward(dy, x, gamma, eps, axis, sign=-1.0)


# ---------------------------------------------------------------------------------------------- running statistics
def _batch_moments(x, axis, ddof):  # type: ignore[no-untyped-def]
    axes = _axes(x, axis)
    return x.mean(axis=axes), x.var(axis=axes, ddof=ddof)


def torch_update(running_mean, running_var, x, momentum, axis):  # type: ignore[no-untyped-def]
    mean, var = _batch_moments(x, axis, 1)
    return (1 - momentum) * running_mean + momentum * mean, (1 - momentum) * running_var + momentum * var


def torch_update_lerp(running_mean, running_var, x, momentum, axis):  # type: ignore[no-untyped-def]
    """PyTorch's own formulation: old + w·(new − old)."""
    mean, var = _batch_moments(x, axis, 1)
    return running_mean + momentum * (mean - running_mean), running_var + momentum * (var - running_var)


def torch_update_reversed(running_mean, running_var, x, momentum, axis):  # type: ignore[no-untyped-def]
    mean, var = _batch_moments(x, axis, 1)
    return momentum * running_mean + (1 - momentum) * mean, momentum * running_var + (1 - momentum) * var


def torch_update_biased(running_mean, running_var, x, momentum, axis):  # type: ignore[no-untyped-def]
    mean, var = _batch_moments(x, axis, 0)
    return (1 - momentum) * running_mean + momentum * mean, (1 - momentum) * running_var + momentum * var


def torch_update_variance_frozen(running_mean, running_var, x, momentum, axis):  # type: ignore[no-untyped-def]
    mean, _ = _batch_moments(x, axis, 1)
    return (1 - momentum) * running_mean + momentum * mean, running_var.copy()


def torch_update_in_place(running_mean, running_var, x, momentum, axis):  # type: ignore[no-untyped-def]
    mean, var = _batch_moments(x, axis, 1)
    running_mean *= 1 - momentum
    running_mean += momentum * mean
    running_var *= 1 - momentum
    running_var += momentum * var
    return running_mean, running_var


def keras_update(moving_mean, moving_variance, x, momentum, axis):  # type: ignore[no-untyped-def]
    mean, var = _batch_moments(x, axis, 0)
    return momentum * moving_mean + (1 - momentum) * mean, momentum * moving_variance + (1 - momentum) * var


def keras_update_reversed(moving_mean, moving_variance, x, momentum, axis):  # type: ignore[no-untyped-def]
    mean, var = _batch_moments(x, axis, 0)
    return (1 - momentum) * moving_mean + momentum * mean, (1 - momentum) * moving_variance + momentum * var


def keras_update_unbiased(moving_mean, moving_variance, x, momentum, axis):  # type: ignore[no-untyped-def]
    mean, var = _batch_moments(x, axis, 1)
    return momentum * moving_mean + (1 - momentum) * mean, momentum * moving_variance + (1 - momentum) * var


def population(batches, axis):  # type: ignore[no-untyped-def]
    moments = [_batch_moments(b, axis, 0) for b in batches]
    m = batches[0].size // batches[0].shape[axis]
    return np.mean([mu for mu, _ in moments], axis=0), m / (m - 1) * np.mean([v for _, v in moments], axis=0)


def population_unbiased_batches(batches, axis):  # type: ignore[no-untyped-def]
    """The mean of the unbiased batch variances: the same thing, written differently."""
    return np.mean([_batch_moments(b, axis, 0)[0] for b in batches], axis=0), np.mean([_batch_moments(b, axis, 1)[1] for b in batches], axis=0)


def population_biased(batches, axis):  # type: ignore[no-untyped-def]
    moments = [_batch_moments(b, axis, 0) for b in batches]
    return np.mean([mu for mu, _ in moments], axis=0), np.mean([v for _, v in moments], axis=0)


def population_pooled(batches, axis):  # type: ignore[no-untyped-def]
    return _batch_moments(np.concatenate(batches, axis=0), axis, 1)


def population_last_batch(batches, axis):  # type: ignore[no-untyped-def]
    return _batch_moments(batches[-1], axis, 1)


def layer(x, gamma, beta, running_mean, running_var, momentum, eps, training):  # type: ignore[no-untyped-def]
    if training:
        y = train_two_pass(x, gamma, beta, eps, 1)
        return (y, *torch_update(running_mean, running_var, x, momentum, 1))
    return inference(x, gamma, beta, running_mean, running_var, eps, 1), running_mean.copy(), running_var.copy()


def layer_forgot_eval(x, gamma, beta, running_mean, running_var, momentum, eps, training):  # type: ignore[no-untyped-def]
    return layer(x, gamma, beta, running_mean, running_var, momentum, eps, True)


def layer_updates_in_eval(x, gamma, beta, running_mean, running_var, momentum, eps, training):  # type: ignore[no-untyped-def]
    y = train_two_pass(x, gamma, beta, eps, 1) if training else inference(x, gamma, beta, running_mean, running_var, eps, 1)
    return (y, *torch_update(running_mean, running_var, x, momentum, 1))


def layer_running_in_training(x, gamma, beta, running_mean, running_var, momentum, eps, training):  # type: ignore[no-untyped-def]
    y = inference(x, gamma, beta, running_mean, running_var, eps, 1)
    if training:
        return (y, *torch_update(running_mean, running_var, x, momentum, 1))
    return y, running_mean.copy(), running_var.copy()


def _layer_with(update, normalize):  # type: ignore[no-untyped-def]
    def step(x, gamma, beta, running_mean, running_var, momentum, eps, training):  # type: ignore[no-untyped-def]
        if training:
            return (normalize(x, gamma, beta, eps, 1), *update(running_mean, running_var, x, momentum, 1))
        return inference(x, gamma, beta, running_mean, running_var, eps, 1), running_mean.copy(), running_var.copy()

    return step


layer_unbiased = _layer_with(torch_update, train_unbiased)
layer_reversed = _layer_with(torch_update_reversed, train_two_pass)
layer_biased_running = _layer_with(torch_update_biased, train_two_pass)


# ----------------------------------------------------------------------------------------- LayerNorm and GroupNorm
def _layer_norm(x, gamma, beta, eps, axes, ddof=0, sqrt_eps=True):  # type: ignore[no-untyped-def]
    mu, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True, ddof=ddof)
    sd = np.sqrt(var + eps) if sqrt_eps else np.sqrt(var) + eps
    return gamma * (x - mu) / sd + beta


def layer_norm(x, gamma, beta, eps):  # type: ignore[no-untyped-def]
    return _layer_norm(x, gamma, beta, eps, tuple(range(x.ndim - gamma.ndim, x.ndim)))


def layer_norm_over_batch(x, gamma, beta, eps):  # type: ignore[no-untyped-def]
    return _layer_norm(x, gamma, beta, eps, 0)


def layer_norm_all_sample_axes(x, gamma, beta, eps):  # type: ignore[no-untyped-def]
    return _layer_norm(x, gamma, beta, eps, tuple(range(1, x.ndim)))


def layer_norm_unbiased(x, gamma, beta, eps):  # type: ignore[no-untyped-def]
    return _layer_norm(x, gamma, beta, eps, tuple(range(x.ndim - gamma.ndim, x.ndim)), ddof=1)


def layer_norm_last_axis_only(x, gamma, beta, eps):  # type: ignore[no-untyped-def]
    return _layer_norm(x, gamma, beta, eps, -1)


def layer_norm_everything(x, gamma, beta, eps):  # type: ignore[no-untyped-def]
    return _layer_norm(x, gamma, beta, eps, None)


def layer_norm_eps_outside(x, gamma, beta, eps):  # type: ignore[no-untyped-def]
    return _layer_norm(x, gamma, beta, eps, tuple(range(x.ndim - gamma.ndim, x.ndim)), sqrt_eps=False)


def _group_norm(x, num_groups, gamma, beta, eps, *, interleaved=False, ddof=0, sqrt_eps=True):  # type: ignore[no-untyped-def]
    n, c = x.shape[:2]
    if interleaved:
        g = x.reshape(n, c // num_groups, num_groups, -1).transpose(0, 2, 1, 3)
    else:
        g = x.reshape(n, num_groups, -1)
    axes = tuple(range(2, g.ndim))
    mu, var = g.mean(axis=axes, keepdims=True), g.var(axis=axes, keepdims=True, ddof=ddof)
    sd = np.sqrt(var + eps) if sqrt_eps else np.sqrt(var) + eps
    x_hat = (g - mu) / sd
    if interleaved:
        x_hat = x_hat.transpose(0, 2, 1, 3)
    return _col(gamma, x, 1) * x_hat.reshape(x.shape) + _col(beta, x, 1)


def group_norm(x, num_groups, gamma, beta, eps):  # type: ignore[no-untyped-def]
    return _group_norm(x, num_groups, gamma, beta, eps)


def group_norm_interleaved(x, num_groups, gamma, beta, eps):  # type: ignore[no-untyped-def]
    return _group_norm(x, num_groups, gamma, beta, eps, interleaved=True)


def group_norm_per_channel(x, num_groups, gamma, beta, eps):  # type: ignore[no-untyped-def]
    return _group_norm(x, x.shape[1], gamma, beta, eps)


def group_norm_unbiased(x, num_groups, gamma, beta, eps):  # type: ignore[no-untyped-def]
    return _group_norm(x, num_groups, gamma, beta, eps, ddof=1)


def group_norm_eps_outside(x, num_groups, gamma, beta, eps):  # type: ignore[no-untyped-def]
    return _group_norm(x, num_groups, gamma, beta, eps, sqrt_eps=False)


def group_norm_one_group(x, num_groups, gamma, beta, eps):  # type: ignore[no-untyped-def]
    return _group_norm(x, 1, gamma, beta, eps)


# -------------------------------------------------------------------------------------------------------- folding
def fold(weight, bias, gamma, beta, mean, var, eps, *, axis=0, sqrt_eps=True, sqrt=True, with_bias=True):  # type: ignore[no-untyped-def]
    sd = (np.sqrt(var + eps) if sqrt_eps else np.sqrt(var) + eps) if sqrt else var + eps
    s = gamma / sd
    shape = [1] * weight.ndim
    shape[axis] = -1
    b = bias if bias is not None and with_bias else np.zeros_like(mean)
    return weight * s.reshape(shape), s * (b - mean) + beta


def fold_right(weight, bias, gamma, beta, mean, var, eps):  # type: ignore[no-untyped-def]
    return fold(weight, bias, gamma, beta, mean, var, eps)


def fold_input_channels(weight, bias, gamma, beta, mean, var, eps):  # type: ignore[no-untyped-def]
    return fold(weight, bias, gamma, beta, mean, var, eps, axis=1)


def fold_bias_ignored(weight, bias, gamma, beta, mean, var, eps):  # type: ignore[no-untyped-def]
    return fold(weight, bias, gamma, beta, mean, var, eps, with_bias=False)


def fold_eps_outside(weight, bias, gamma, beta, mean, var, eps):  # type: ignore[no-untyped-def]
    return fold(weight, bias, gamma, beta, mean, var, eps, sqrt_eps=False)


def fold_no_sqrt(weight, bias, gamma, beta, mean, var, eps):  # type: ignore[no-untyped-def]
    return fold(weight, bias, gamma, beta, mean, var, eps, sqrt=False)


def fold_pytorch_eps(weight, bias, gamma, beta, mean, var, eps):  # type: ignore[no-untyped-def]
    return fold(weight, bias, gamma, beta, mean, var, 1e-5)


def fold_beta_forgotten(weight, bias, gamma, beta, mean, var, eps):  # type: ignore[no-untyped-def]
    return fold(weight, bias, gamma, np.zeros_like(beta), mean, var, eps)


def _eps_missing(fn, eps_position):  # type: ignore[no-untyped-def]
    """``fn`` with ε = 0: a student who left ε out."""

    def student(*args):  # type: ignore[no-untyped-def]
        args = list(args)
        args[eps_position] = 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            return fn(*args)

    return student


CORRECT: dict[str, list[Any]] = {
    "batch_norm_train": [train_two_pass, train_one_pass_float64, train_channels_last_matrix],
    "batch_norm_inference": [inference],
    "batch_norm_backward": [backward_compact, backward_graph, backward_bncourse_graph],
    "running_update_torch": [torch_update, torch_update_lerp],
    "running_update_keras": [keras_update],
    "population_statistics": [population, population_unbiased_batches],
    "batch_norm_layer": [layer],
    "layer_norm": [layer_norm],
    "group_norm": [group_norm],
    "fold_batch_norm": [fold_right],
}

MISTAKEN: list[tuple[str, str, Any]] = [
    ("batch_norm_train", "unbiased-variance", train_unbiased),
    ("batch_norm_train", "eps-outside-sqrt", train_eps_outside),
    ("batch_norm_train", "eps-missing", train_no_eps),
    ("batch_norm_train", "missing-sqrt", train_no_sqrt),
    ("batch_norm_train", "statistics-over-batch-axis-only", train_axis_0),
    ("batch_norm_train", "channel-axis-ignored", train_axis_1_hard_coded),
    ("batch_norm_train", "statistics-over-channels", train_over_channels),
    ("batch_norm_train", "float32-cancellation", train_one_pass_float32),
    ("batch_norm_train", "eps-argument-ignored", train_pytorch_eps),
    ("batch_norm_inference", "batch-statistics-at-inference", inference_batch_statistics),
    ("batch_norm_inference", "eps-outside-sqrt", inference_eps_outside),
    ("batch_norm_inference", "eps-missing", inference_no_eps),
    ("batch_norm_inference", "missing-sqrt", inference_no_sqrt),
    ("batch_norm_inference", "eps-argument-ignored", inference_keras_eps),
    ("batch_norm_backward", "detached-statistics", backward_detached),
    ("batch_norm_backward", "missing-mean-term", backward_no_mean_term),
    ("batch_norm_backward", "missing-projection-term", backward_no_projection_term),
    ("batch_norm_backward", "missing-gamma", backward_no_gamma),
    ("batch_norm_backward", "dgamma-dbeta-swapped", backward_swapped),
    ("batch_norm_backward", "dgamma-uses-x", backward_dgamma_of_x),
    ("batch_norm_backward", "unbiased-variance", backward_unbiased),
    ("batch_norm_backward", "eps-outside-sqrt", backward_eps_outside),
    ("batch_norm_backward", "eps-missing", _eps_missing(backward_compact, 3)),
    ("running_update_torch", "momentum-reversed", torch_update_reversed),
    ("running_update_torch", "biased-running-variance", torch_update_biased),
    ("running_update_keras", "momentum-reversed", keras_update_reversed),
    ("running_update_keras", "unbiased-running-variance", keras_update_unbiased),
    ("population_statistics", "missing-bessel-correction", population_biased),
    ("population_statistics", "pooled-variance", population_pooled),
    ("batch_norm_layer", "batch-statistics-at-inference", layer_forgot_eval),
    ("batch_norm_layer", "running-update-in-inference", layer_updates_in_eval),
    ("batch_norm_layer", "running-statistics-in-training", layer_running_in_training),
    ("batch_norm_layer", "unbiased-variance", layer_unbiased),
    ("batch_norm_layer", "momentum-reversed", layer_reversed),
    ("batch_norm_layer", "biased-running-variance", layer_biased_running),
    ("layer_norm", "statistics-over-batch", layer_norm_over_batch),
    ("layer_norm", "statistics-over-all-sample-axes", layer_norm_all_sample_axes),
    ("layer_norm", "unbiased-variance", layer_norm_unbiased),
    ("layer_norm", "eps-outside-sqrt", layer_norm_eps_outside),
    ("layer_norm", "eps-missing", _eps_missing(layer_norm, 3)),
    ("group_norm", "interleaved-groups", group_norm_interleaved),
    ("group_norm", "groups-of-one-channel", group_norm_per_channel),
    ("group_norm", "unbiased-variance", group_norm_unbiased),
    ("group_norm", "eps-outside-sqrt", group_norm_eps_outside),
    ("group_norm", "eps-missing", _eps_missing(group_norm, 4)),
    ("fold_batch_norm", "scaled-input-channels", fold_input_channels),
    ("fold_batch_norm", "layer-bias-ignored", fold_bias_ignored),
    ("fold_batch_norm", "eps-outside-sqrt", fold_eps_outside),
    ("fold_batch_norm", "eps-missing", _eps_missing(fold_right, 6)),
    ("fold_batch_norm", "missing-sqrt", fold_no_sqrt),
    ("fold_batch_norm", "eps-argument-ignored", fold_pytorch_eps),
]

UNCATALOGUED: list[tuple[str, Any]] = [
    ("batch_norm_train", train_without_beta),
    ("batch_norm_train", train_over_spatial_axes),
    ("layer_norm", layer_norm_last_axis_only),
    ("layer_norm", layer_norm_everything),
    ("batch_norm_inference", inference_mean_added),
    ("batch_norm_backward", backward_sign_flipped),
    ("running_update_torch", torch_update_variance_frozen),
    ("population_statistics", population_last_batch),
    ("group_norm", group_norm_one_group),
    ("fold_batch_norm", fold_beta_forgotten),
]
