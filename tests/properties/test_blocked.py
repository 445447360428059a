"""bncourse.blocked (the fast path of batch_norm and BatchNorm) computes what the readable kernel computes:
the same statistics, outputs and gradients, whatever the block size, layout and dtype."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bncourse import blocked, kernel
from bncourse.course.tolerances import assert_close
from tests.strategies import Case, cases


def kernel_reference(case: Case, dy: np.ndarray) -> tuple[kernel.Normalized, kernel.Gradients]:
    """The kernel's forward and backward of ``case`` (statistics over every axis but the channel axis)."""
    axis = case.axis % case.x.ndim
    axes = tuple(a for a in range(case.x.ndim) if a != axis)
    column = [1 if a in axes else -1 for a in range(case.x.ndim)]
    forward = kernel.normalize(case.x, axes, case.gamma.reshape(column), case.beta.reshape(column), 1e-5)
    return forward, kernel.normalize_backward(dy, forward, case.gamma.reshape(column))


@settings(max_examples=60, deadline=None)
@given(cases(), st.sampled_from([1, 7, 1 << 16]))
def test_blocked_forward_and_backward_equal_the_kernel(case: Case, block_values: int) -> None:
    """Blocks of one value per channel, of 7 values (blocks that split an example's inner axis) and the
    default give the kernel's results."""
    dy = np.random.default_rng(0).standard_normal(case.x.shape).astype(case.x.dtype)
    axis = case.axis % case.x.ndim
    reference, gradients = kernel_reference(case, dy)
    previous, blocked.BLOCK_VALUES = blocked.BLOCK_VALUES, block_values
    try:
        forward = blocked.forward(blocked.channel_blocks(case.x, axis), case.gamma, case.beta, 1e-5)
        result = blocked.backward(blocked.channel_blocks(dy, axis), forward, case.gamma)
    finally:
        blocked.BLOCK_VALUES = previous
    assert forward.y.dtype == case.x.dtype and result.dx.dtype == case.x.dtype
    # Statistics to the input's precision, relative to σ: float32 sums of deviations from a block center.
    expected = kernel.moments(case.x, tuple(a for a in range(case.x.ndim) if a != axis))
    precision = 1e-6 if case.x.dtype == np.float32 else 1e-12
    sigma = np.sqrt(expected.var.ravel())
    assert np.all(np.abs(forward.stats.mean.ravel() - expected.mean.ravel()) <= precision * sigma + 1e-30)
    assert np.all(np.abs(forward.stats.var.ravel() - expected.var.ravel()) <= precision * sigma**2 + 1e-30)
    assert_close(forward.y.reshape(case.x.shape), reference.y)
    assert_close(result.dx.reshape(case.x.shape), gradients.dx)
    assert_close(result.dgamma, gradients.dgamma.ravel())
    assert_close(result.dbeta, gradients.dbeta.ravel())


def test_blocked_statistics_stay_accurate_far_from_zero() -> None:
    """Mean 1e4, std 1e-1 in float32, split over many blocks: Chan's combination and the split mean keep
    the statistics, the output and the gradient as accurate as the float64 kernel's."""
    rng = np.random.default_rng(1)
    x = (1e4 + 0.1 * rng.standard_normal((4096, 3))).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    x3, dy3 = blocked.channel_blocks(x, 1), blocked.channel_blocks(dy, 1)
    exact = x.astype(np.float64)
    stats = blocked.moments(x3)
    np.testing.assert_allclose(stats.var.ravel(), exact.var(0), rtol=1e-6)
    gamma, beta = np.ones(3, np.float32), np.zeros(3, np.float32)
    forward = blocked.forward(x3, gamma, beta, 1e-5)
    case = Case(exact, gamma.astype(np.float64), beta.astype(np.float64), 1)
    reference, gradients = kernel_reference(case, dy.astype(np.float64))
    np.testing.assert_allclose(forward.y.reshape(x.shape), reference.y, rtol=1e-6, atol=1e-6)
    result = blocked.backward(dy3, forward, gamma)
    np.testing.assert_allclose(result.dx.reshape(x.shape), gradients.dx, rtol=1e-5, atol=1e-5 * np.abs(gradients.dx).max())
    # Sums of 4096 terms that cancel: float32 round-off relative to the sum of their magnitudes.
    magnitude = np.abs(dy).astype(np.float64).sum(axis=0)
    np.testing.assert_allclose(result.dgamma, gradients.dgamma.ravel(), rtol=0, atol=1e-6 * magnitude.max() * 2)
    np.testing.assert_allclose(result.dbeta, gradients.dbeta.ravel(), rtol=0, atol=1e-6 * magnitude.max())


@pytest.mark.parametrize("shape", [(2, 4, 1 << 18), (1 << 18, 4)])
def test_float32_statistics_of_long_runs_and_few_channels(shape: tuple[int, ...]) -> None:
    """A quarter of a million values per example (H·W large), or per channel in few channels: each float32
    sum stays short (BLOCK_ROWS, BLOCK_RUN), so the statistics keep float32 accuracy."""
    rng = np.random.default_rng(6)
    x = (3 + 2 * rng.standard_normal(shape)).astype(np.float32)
    stats = blocked.moments(blocked.channel_blocks(x, 1))
    exact = x.astype(np.float64)
    axes = (0, 2) if x.ndim == 3 else (0,)
    np.testing.assert_allclose(stats.mean.ravel(), exact.mean(axis=axes), rtol=0, atol=1e-6 * 2)
    np.testing.assert_allclose(stats.var.ravel(), exact.var(axis=axes), rtol=1e-6)


def test_float16_sums_do_not_overflow() -> None:
    """float16 holds numbers up to 65 504: the blocks' sums run in float32, forward and backward."""
    x = np.full((256, 3), 300, np.float16) + np.arange(256, dtype=np.float16)[:, None] / 64
    dy = np.ones_like(x)
    forward = blocked.forward(blocked.channel_blocks(x, 1), np.ones(3, np.float16), np.zeros(3, np.float16), 1e-5)
    gradients = blocked.backward(blocked.channel_blocks(dy, 1), forward, np.ones(3, np.float16))
    exact = x.astype(np.float64)
    np.testing.assert_allclose(forward.stats.mean.ravel(), exact.mean(0), rtol=1e-6)
    np.testing.assert_allclose(forward.y.reshape(x.shape).astype(np.float64),
                               (exact - exact.mean(0)) / exact.std(0), rtol=0, atol=3e-3)
    assert np.all(np.isfinite(gradients.dx)) and np.all(gradients.dbeta == 256)
    np.testing.assert_allclose(gradients.dx.astype(np.float64), 0, atol=1e-3)  # constant dy: dx = 0


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble])
def test_blocked_keeps_other_float_dtypes(dtype: type) -> None:
    """float16 is computed in float32 (elementwise) and float64 (sums), long double in long double."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 3, 5)).astype(dtype)
    forward = blocked.forward(blocked.channel_blocks(x, 1), np.ones(3, dtype), np.zeros(3, dtype), 1e-5)
    assert forward.y.dtype == dtype
    exact = (x - x.mean((0, 2), keepdims=True, dtype=np.float64)) / np.sqrt(x.astype(np.float64).var((0, 2), keepdims=True) + 1e-5)
    tolerance = 1e-3 if dtype == np.float16 else 1e-12
    np.testing.assert_allclose(forward.y.astype(np.float64), exact, rtol=tolerance, atol=tolerance)


def test_channel_blocks_is_a_view_of_contiguous_input_and_copies_otherwise() -> None:
    x = np.zeros((4, 3, 5, 2))
    assert np.shares_memory(blocked.channel_blocks(x, 1), x) and blocked.channel_blocks(x, 1).shape == (4, 3, 10)
    assert blocked.channel_blocks(x, 3).shape == (60, 2, 1)
    transposed = x.transpose(0, 2, 3, 1)
    assert not np.shares_memory(blocked.channel_blocks(transposed, 3), x)
