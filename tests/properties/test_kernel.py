"""The kernel is every normalization: with other axes (and a reshape for groups) it computes PyTorch's
layer norm and group norm, forward and backward, though it was written for batch norm."""

import numpy as np
import pytest

from bncourse import kernel
from bncourse.course.tolerances import assert_close

torch = pytest.importorskip("torch")


def torch_reference(function, x, gamma, beta, dy):
    x_t = torch.from_numpy(x).requires_grad_(True)
    gamma_t, beta_t = (torch.from_numpy(v).requires_grad_(True) for v in (gamma, beta))
    y = function(x_t, gamma_t, beta_t)
    y.backward(torch.from_numpy(dy))
    return y.detach().numpy(), x_t.grad.numpy(), gamma_t.grad.numpy(), beta_t.grad.numpy()


def test_trailing_axes_give_layer_norm() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 5)) * 3 + 2
    dy = rng.standard_normal(x.shape)
    gamma, beta = rng.uniform(0.5, 2, (3, 5)), rng.standard_normal((3, 5))
    forward = kernel.normalize(x, (1, 2), gamma[None], beta[None], 1e-5)
    gradients = kernel.normalize_backward(dy, forward, gamma[None])
    y, dx, dgamma, dbeta = torch_reference(
        lambda a, g, b: torch.nn.functional.layer_norm(a, (3, 5), g, b, eps=1e-5), x, gamma, beta, dy
    )
    assert_close(forward.y, y)
    assert_close(gradients.dx, dx)
    assert_close(gradients.dgamma[0], dgamma)
    assert_close(gradients.dbeta[0], dbeta)


def test_a_reshape_into_groups_gives_group_norm() -> None:
    rng = np.random.default_rng(1)
    n, c, groups, h, w = 3, 6, 2, 4, 4
    x = rng.standard_normal((n, c, h, w)) - 1
    dy = rng.standard_normal(x.shape)
    gamma, beta = rng.uniform(0.5, 2, c), rng.standard_normal(c)
    grouped = x.reshape(n, groups, c // groups, h, w)
    per_channel = (1, groups, c // groups, 1, 1)
    forward = kernel.normalize(grouped, (2, 3, 4), gamma.reshape(per_channel), beta.reshape(per_channel), 1e-5)
    gradients = kernel.normalize_backward(dy.reshape(grouped.shape), forward, gamma.reshape(per_channel))
    y, dx, dgamma, dbeta = torch_reference(
        lambda a, g, b: torch.nn.functional.group_norm(a, groups, g, b, eps=1e-5), x, gamma, beta, dy
    )
    assert_close(forward.y.reshape(x.shape), y)
    assert_close(gradients.dx.reshape(x.shape), dx)
    assert_close(gradients.dgamma.reshape(c), dgamma)
    assert_close(gradients.dbeta.reshape(c), dbeta)


def test_spatial_axes_give_instance_norm() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 5, 4)) * 2 + 3
    dy = rng.standard_normal(x.shape)
    gamma, beta = rng.uniform(0.5, 2, 3), rng.standard_normal(3)
    column = (1, 3, 1, 1)
    forward = kernel.normalize(x, (2, 3), gamma.reshape(column), beta.reshape(column), 1e-5)
    gradients = kernel.normalize_backward(dy, forward, gamma.reshape(column))
    y, dx, dgamma, dbeta = torch_reference(
        lambda a, g, b: torch.nn.functional.instance_norm(a, weight=g, bias=b, eps=1e-5), x, gamma, beta, dy
    )
    assert_close(forward.y, y)
    assert_close(gradients.dx, dx)
    assert_close(gradients.dgamma.reshape(3), dgamma)
    assert_close(gradients.dbeta.reshape(3), dbeta)


def test_moments_are_two_pass_and_keep_the_reduced_axes() -> None:
    """Far from zero, float32 data: the two-pass variance in float64 is exact to float64 round-off, where the
    one-pass E[x²] − E[x]² in float32 is off by far more than float32 round-off of the variance."""
    rng = np.random.default_rng(3)
    x = (1e4 + 0.1 * rng.standard_normal((64, 1))).astype(np.float32)
    stats = kernel.moments(x, (0,))
    assert stats.mean.shape == stats.var.shape == (1, 1) and stats.m == 64
    assert stats.mean.dtype == stats.var.dtype == np.float64
    exact = np.var(x.astype(np.float64), axis=0, keepdims=True)
    np.testing.assert_allclose(stats.var, exact, rtol=1e-12)
    one_pass = np.mean(x * x, axis=0, keepdims=True) - np.mean(x, axis=0, keepdims=True) ** 2
    assert abs(float(one_pass[0, 0]) - float(exact[0, 0])) > 0.1 * float(exact[0, 0])
