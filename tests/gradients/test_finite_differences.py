"""Every backward (functional, layer, graph form) against centred finite differences, with a random upstream gradient."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bncourse as bn
from bncourse.gradcheck import numerical_gradient
from tests.strategies import Case, cases
from bncourse.course.tolerances import FINITE_DIFFERENCE_TOLERANCE


def layer_backward(dy: np.ndarray, x: np.ndarray, gamma: np.ndarray, *, axis: int) -> bn.Gradients:
    layer = bn.BatchNorm(gamma.shape[0], axis=axis)
    layer.gamma = gamma.copy()
    layer(x, training=True)
    return layer.backward(dy)


BACKWARDS = {
    "functional": bn.batch_norm_backward,
    "layer": layer_backward,
    "graph": bn.batch_norm_backward_graph,
}


def loss_and_gradients(case: Case, dy: np.ndarray, backward=bn.batch_norm_backward):
    """L = Σ dy·y, so that ∂L/∂y = dy: the numerical gradients of L are what backward must return."""

    def loss() -> float:
        return float(np.sum(dy * bn.batch_norm(case.x, case.gamma, case.beta, axis=case.axis)))

    return loss, backward(dy, case.x, case.gamma, axis=case.axis)


@settings(max_examples=25)
@given(cases(dtypes=(np.float64,), max_rank=4), st.integers(0, 2**31 - 1))
@pytest.mark.parametrize("backward", BACKWARDS.values(), ids=BACKWARDS.keys())
def test_backward_matches_finite_differences(backward, case: Case, seed: int) -> None:
    dy = np.random.default_rng(seed).standard_normal(case.x.shape)
    loss, (dx, dgamma, dbeta) = loss_and_gradients(case, dy, backward)
    np.testing.assert_allclose(dx, numerical_gradient(loss, case.x), **FINITE_DIFFERENCE_TOLERANCE)
    np.testing.assert_allclose(dgamma, numerical_gradient(loss, case.gamma), **FINITE_DIFFERENCE_TOLERANCE)
    np.testing.assert_allclose(dbeta, numerical_gradient(loss, case.beta), **FINITE_DIFFERENCE_TOLERANCE)


def backward_without_variance_path(dy, x, gamma, eps=1e-5):
    """A plausible but wrong backward for (N, C) input: it forgets that σ² depends on x."""
    return gamma / np.sqrt(x.var(0) + eps) * (dy - dy.mean(0))


def test_all_ones_upstream_gradient_proves_nothing() -> None:
    """With dy = 1, L = Σ y = m·Σβ does not depend on x, so dx = 0 exactly, and a wrong backward
    that also returns 0 for this dy passes the check. A random dy exposes it."""
    rng = np.random.default_rng(0)
    x, gamma, beta = rng.standard_normal((6, 3)), rng.uniform(0.5, 2, 3), rng.standard_normal(3)
    ones = np.ones_like(x)
    dx, _, _ = bn.batch_norm_backward(ones, x, gamma)
    assert np.max(np.abs(dx)) < 1e-14
    case = Case(x, gamma, beta, 1)

    loss_ones, _ = loss_and_gradients(case, ones)
    np.testing.assert_allclose(backward_without_variance_path(ones, x, gamma), 0, atol=1e-12)
    np.testing.assert_allclose(numerical_gradient(loss_ones, x), 0, atol=1e-8)  # the wrong one "passes"

    dy = rng.standard_normal(x.shape)
    loss_random, (dx_right, _, _) = loss_and_gradients(case, dy)
    numeric = numerical_gradient(loss_random, x)
    np.testing.assert_allclose(dx_right, numeric, **FINITE_DIFFERENCE_TOLERANCE)
    assert np.max(np.abs(backward_without_variance_path(dy, x, gamma) - numeric)) > 1e-2


def test_layer_backward_before_training_call_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="training=True"):
        bn.BatchNorm(2).backward(np.ones((3, 2)))


def test_numerical_gradient_restores_the_array_and_needs_a_float_array() -> None:
    a = np.array([1.0, 2.0, 3.0])

    def cube_sum() -> float:
        return float(np.sum(a**3))

    np.testing.assert_allclose(numerical_gradient(cube_sum, a), 3 * a**2, rtol=1e-8)
    np.testing.assert_array_equal(a, [1.0, 2.0, 3.0])

    def failing() -> float:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        numerical_gradient(failing, a)
    np.testing.assert_array_equal(a, [1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="floating-point NumPy array"):
        numerical_gradient(cube_sum, [1.0, 2.0])  # type: ignore[arg-type]


NORMS = {
    "layer_norm": (lambda x, g, b: bn.layer_norm(x, x.shape[2:], g, b), lambda dy, x, g, b: bn.layer_norm_backward(dy, x, x.shape[2:], g, b)),
    "group_norm": (lambda x, g, b: bn.group_norm(x, 2, g, b), lambda dy, x, g, b: bn.group_norm_backward(dy, x, 2, g, b)),
    "instance_norm": (bn.instance_norm, bn.instance_norm_backward),
}


@pytest.mark.parametrize("name", NORMS)
def test_per_sample_norm_backward_matches_finite_differences(name: str) -> None:
    forward, backward = NORMS[name]
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 2, 3)) * 2 + 1
    shape = x.shape[2:] if name == "layer_norm" else (4,)
    gamma, beta, dy = rng.uniform(0.5, 2, shape), rng.standard_normal(shape), rng.standard_normal(x.shape)

    def loss() -> float:
        return float(np.sum(dy * forward(x, gamma, beta)))

    for gradient, wrt in zip(backward(dy, x, gamma, beta), (x, gamma, beta)):
        np.testing.assert_allclose(gradient, numerical_gradient(loss, wrt), **FINITE_DIFFERENCE_TOLERANCE)


def test_masked_layer_backward_matches_finite_differences() -> None:
    rng = np.random.default_rng(6)
    x, dy = rng.standard_normal((3, 2, 4)), rng.standard_normal((3, 2, 4))
    mask = rng.random((3, 4)) < 0.6
    layer = bn.BatchNorm(2)
    layer.gamma = rng.uniform(0.5, 2, 2)

    def loss() -> float:
        return float(np.sum(dy * bn.BatchNorm(2, momentum=0.0)(x, training=True, mask=mask) * layer.gamma[:, None]))

    layer(x, training=True, mask=mask)
    np.testing.assert_allclose(layer.backward(dy).dx, numerical_gradient(loss, x), **FINITE_DIFFERENCE_TOLERANCE)


def test_renorm_backward_holds_r_and_d_constant() -> None:
    """The gradient of γ(x̂ r + d) + β with r, d frozen: batch norm with scale γr and shift β + γd."""
    rng = np.random.default_rng(7)
    x, dy = rng.standard_normal((6, 3)) * 2 + 1, rng.standard_normal((6, 3))
    layer = bn.BatchRenorm(3, r_max=2.0, d_max=1.0)
    layer.running_mean, layer.running_std = rng.standard_normal(3), rng.uniform(0.5, 3, 3)
    layer.gamma = rng.uniform(0.5, 2, 3)
    layer(x, training=True)
    r, d, gamma, beta = layer.r, layer.d, layer.gamma, layer.beta
    assert not np.allclose(r, 1) and not np.allclose(d, 0)

    def loss() -> float:
        return float(np.sum(dy * bn.batch_norm(x, gamma * r, beta + gamma * d, eps=layer.eps)))

    dx, dgamma, dbeta = layer.backward(dy)
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), **FINITE_DIFFERENCE_TOLERANCE)
    np.testing.assert_allclose(dbeta, dy.sum(0), rtol=1e-12)
    x_hat = (x - x.mean(0)) / np.sqrt(x.var(0) + layer.eps)
    np.testing.assert_allclose(dgamma, (dy * (x_hat * r + d)).sum(0), rtol=1e-10)
