"""Properties that hold for every input: what normalization guarantees, and what backward conserves."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import bncourse as bn
from bncourse.functional import reduction_axes
from tests.strategies import Case, cases


def x_hat(case: Case, eps: float = 1e-5) -> np.ndarray:
    channels = case.gamma.shape[0]
    return bn.batch_norm(case.x, np.ones(channels), np.zeros(channels), eps=eps, axis=case.axis)


@given(cases())
def test_normalized_batch_has_mean_zero_and_variance_one_per_channel(case: Case) -> None:
    axes = reduction_axes(case.x.ndim, case.axis % case.x.ndim)
    normalized = x_hat(case).astype(np.float64)
    var = case.x.astype(np.float64).var(axis=axes)
    np.testing.assert_allclose(normalized.mean(axis=axes), 0, atol=1e-6)
    # Var(x̂) = σ² / (σ² + ε): 1 up to ε.
    np.testing.assert_allclose(normalized.var(axis=axes), var / (var + 1e-5), rtol=1e-5)


@given(cases())
def test_output_dtype_and_shape_follow_the_input(case: Case) -> None:
    y = bn.batch_norm(case.x, case.gamma, case.beta, axis=case.axis)
    dx, dgamma, dbeta = bn.batch_norm_backward(np.ones_like(case.x), case.x, case.gamma, axis=case.axis)
    assert (y.dtype, y.shape, dx.dtype, dx.shape) == (case.x.dtype, case.x.shape, case.x.dtype, case.x.shape)
    assert dgamma.shape == dbeta.shape == case.gamma.shape


@given(cases(dtypes=(np.float64,)), st.integers(0, 2**31 - 1))
def test_input_gradient_sums_to_zero_and_is_orthogonal_to_x_hat(case: Case, seed: int) -> None:
    """Σ dx = 0 exactly. Σ dx·x̂ = γ·ε/(σ²+ε)^{3/2}·Σ dy·x̂: zero up to ε (exactly zero only at ε = 0),
    because Σ x̂² = m·σ²/(σ²+ε), not m."""
    eps = 1e-5
    dy = np.random.default_rng(seed).standard_normal(case.x.shape)
    dx, _, _ = bn.batch_norm_backward(dy, case.x, case.gamma, axis=case.axis, eps=eps)
    axes = reduction_axes(case.x.ndim, case.axis % case.x.ndim)
    normalized = x_hat(case, eps)
    var = case.x.var(axis=axes)
    scale = np.abs(dx).sum(axis=axes) + 1
    np.testing.assert_allclose(dx.sum(axis=axes) / scale, 0, atol=1e-12)
    expected = case.gamma * eps / (var + eps) ** 1.5 * (dy * normalized).sum(axis=axes)
    np.testing.assert_allclose((dx * normalized).sum(axis=axes) / scale, expected / scale, atol=1e-9)
    exact, _, _ = bn.batch_norm_backward(dy, case.x, case.gamma, axis=case.axis, eps=1e-300)
    np.testing.assert_allclose((exact * x_hat(case, 1e-300)).sum(axis=axes) / scale, 0, atol=1e-9)


@given(cases(dtypes=(np.float64,)), st.floats(0.1, 100.0), st.floats(-100.0, 100.0))
def test_batch_norm_ignores_an_affine_change_of_its_input(case: Case, a: float, b: float) -> None:
    """BN(a·x + b) = BN(x) for a > 0 (up to ε): the reason a bias before BN is redundant."""
    moved = Case(a * case.x + b, case.gamma, case.beta, case.axis)
    scaled_eps = 1e-5 * a * a  # with ε scaled too, the identity is exact
    np.testing.assert_allclose(
        bn.batch_norm(moved.x, case.gamma, case.beta, axis=case.axis, eps=scaled_eps),
        bn.batch_norm(case.x, case.gamma, case.beta, axis=case.axis),
        rtol=1e-9,
        atol=1e-9,
    )


def test_float32_input_far_from_zero_keeps_float64_accuracy() -> None:
    """Mean 1e4, std 1e-1: float32 holds x to ~1e-3 absolute, so a one-pass E[x²] − E[x]² in float32
    would be pure noise. bncourse computes in float64, so its float32 output is correctly rounded."""
    rng = np.random.default_rng(0)
    x32 = (1e4 + 0.1 * rng.standard_normal((256, 3))).astype(np.float32)
    reference = bn.batch_norm(x32.astype(np.float64), np.ones(3), np.zeros(3))
    y = bn.batch_norm(x32, np.ones(3, np.float32), np.zeros(3, np.float32))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, reference, rtol=1e-6, atol=1e-6)
    one_pass_var = (x32 * x32).mean(0) - x32.mean(0) ** 2
    assert np.max(np.abs(one_pass_var - x32.astype(np.float64).var(0))) > 1.0  # noise, not ~0.01


def test_inference_mode_treats_each_example_independently() -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 2, 3))
    mean, var = np.array([0.5, -1.0]), np.array([2.0, 0.5])
    whole = bn.batch_norm(x, np.ones(2), np.zeros(2), mean=mean, var=var)
    one_by_one = np.concatenate([bn.batch_norm(x[i : i + 1], np.ones(2), np.zeros(2), mean=mean, var=var) for i in range(5)])
    np.testing.assert_array_equal(whole, one_by_one)


def test_torch_cumulative_average_is_the_plain_mean_of_batch_statistics() -> None:
    """momentum=None: after t batches the running mean is the average of the t batch means."""
    rng = np.random.default_rng(9)
    layer = bn.BatchNorm(3, momentum=None)
    batches = [rng.standard_normal((4, 3)) * (t + 1) + t for t in range(5)]
    for batch in batches:
        layer(batch, training=True)
    np.testing.assert_allclose(layer.running_mean, np.mean([b.mean(0) for b in batches], axis=0), rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, np.mean([b.var(0, ddof=1) for b in batches], axis=0), rtol=1e-12)


def test_layer_backward_uses_the_forward_pass_statistics() -> None:
    """The layer keeps x̂ and 1/σ of its training call: changing x afterwards does not change the gradient,
    which equals the functional backward of the x it saw; the result is the one Gradients type."""
    rng = np.random.default_rng(4)
    x, dy = rng.standard_normal((6, 3)) * 2 + 1, rng.standard_normal((6, 3))
    layer = bn.BatchNorm(3)
    layer.gamma = rng.uniform(0.5, 2, 3)
    expected = bn.batch_norm_backward(dy, x, layer.gamma)
    layer(x, training=True)
    x *= 10  # the caller reuses its buffer
    layer.gamma *= 3  # an optimizer steps γ in place before backward
    gradients = layer.backward(dy)
    assert isinstance(gradients, bn.Gradients)
    for received, wanted in zip(gradients, expected):
        np.testing.assert_allclose(received, wanted, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(layer.dgamma, gradients.dgamma)
    np.testing.assert_array_equal(layer.dbeta, gradients.dbeta)


def test_layer_classes_equal_the_functions_and_ignore_the_mode() -> None:
    rng = np.random.default_rng(8)
    x, dy = rng.standard_normal((4, 6, 3)) + 1, rng.standard_normal((4, 6, 3))
    for layer, forward, backward in [
        (bn.LayerNorm((6, 3)), lambda g, b: bn.layer_norm(x, (6, 3), g, b),
         lambda g, b: bn.layer_norm_backward(dy, x, (6, 3), g, b)),
        (bn.GroupNorm(2, 6), lambda g, b: bn.group_norm(x, 2, g, b),
         lambda g, b: bn.group_norm_backward(dy, x, 2, g, b)),
    ]:
        layer.gamma = rng.uniform(0.5, 2, layer.gamma.shape)
        layer.beta = rng.standard_normal(layer.beta.shape)
        np.testing.assert_array_equal(layer(x, training=False), layer(x, training=True))
        np.testing.assert_array_equal(layer(x), forward(layer.gamma, layer.beta))
        for received, expected in zip(layer.backward(dy), backward(layer.gamma, layer.beta)):
            np.testing.assert_array_equal(received, expected)
        np.testing.assert_array_equal(layer.dgamma, backward(layer.gamma, layer.beta).dgamma)
        # backward uses the call's x and γ: changing them afterwards changes nothing.
        expected = backward(layer.gamma, layer.beta)
        layer(x)
        x_before, layer.gamma = x.copy(), layer.gamma * 2
        x *= 3
        for received, wanted in zip(layer.backward(dy), expected):
            np.testing.assert_array_equal(received, wanted)
        x[...] = x_before


@pytest.mark.parametrize("norm", ["group", "instance"])
def test_channels_last_backward_is_the_channels_first_one_transposed(norm: str) -> None:
    rng = np.random.default_rng(9)
    x, dy = rng.standard_normal((3, 4, 5, 6)), rng.standard_normal((3, 4, 5, 6))  # (N, C, H, W)
    gamma, beta = rng.uniform(0.5, 2, 4), rng.standard_normal(4)
    backward = {
        "group": lambda a, g, axis: bn.group_norm_backward(g, a, 2, gamma, beta, axis=axis),
        "instance": lambda a, g, axis: bn.instance_norm_backward(g, a, gamma, beta, axis=axis),
    }[norm]
    first = backward(x, dy, 1)
    last = backward(np.moveaxis(x, 1, -1), np.moveaxis(dy, 1, -1), -1)
    np.testing.assert_allclose(np.moveaxis(last.dx, -1, 1), first.dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(last.dgamma, first.dgamma, rtol=1e-12)
    np.testing.assert_allclose(last.dbeta, first.dbeta, rtol=1e-12)


def test_batch_renorm_follows_its_schedule() -> None:
    import functools

    schedule = functools.partial(bn.renorm_limits, start=2, r_end=6, d_end=4, r_max=3.0, d_max=2.0)
    layer = bn.BatchRenorm(2, schedule=schedule)
    limits = []
    for step in range(7):
        layer(np.random.default_rng(step).standard_normal((5, 2)) * (step + 1), training=True)
        limits.append((layer.r_max, layer.d_max))
        assert np.all(np.abs(layer.d) <= layer.d_max) and np.all(layer.r <= layer.r_max)
    assert limits[:3] == [(1.0, 0.0)] * 3 and limits[4] == (2.0, 2.0) and limits[6] == (3.0, 2.0)
