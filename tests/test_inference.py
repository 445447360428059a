"""Algorithm 2's population statistics, and recalibrating running statistics to them."""

import numpy as np
import pytest

import bncourse as bn


def batches(count: int = 6, shape: tuple[int, ...] = (10, 3), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(2.0, 3.0, size=shape) for _ in range(count)]


def test_population_statistics_follow_algorithm_2() -> None:
    data = batches()
    mean, var = bn.population_statistics(data)
    np.testing.assert_allclose(mean, np.mean([b.mean(0) for b in data], axis=0), rtol=1e-12)
    np.testing.assert_allclose(var, 10 / 9 * np.mean([b.var(0) for b in data], axis=0), rtol=1e-12)


def test_population_statistics_of_images_and_channels_last() -> None:
    data = batches(shape=(4, 3, 5, 5))
    mean, var = bn.population_statistics(data)
    mean_last, var_last = bn.population_statistics([np.moveaxis(b, 1, -1) for b in data], axis=-1)
    np.testing.assert_allclose(mean, mean_last, rtol=1e-12)
    np.testing.assert_allclose(var, var_last, rtol=1e-12)
    m = 4 * 5 * 5
    expected = m / (m - 1) * np.mean([b.var(axis=(0, 2, 3)) for b in data], axis=0)
    np.testing.assert_allclose(var, expected, rtol=1e-12)


def test_cumulative_running_average_recalibrates_to_population_statistics() -> None:
    """PyTorch's momentum=None over the same batches gives exactly Algorithm 2's statistics:
    the plain mean of unbiased batch variances is m/(m-1) times the mean of biased ones."""
    data = batches()
    layer = bn.BatchNorm(3, momentum=0.1)
    for b in data:
        layer(b * 5 + 1, training=True)  # trained on something else first
    layer.momentum = None
    layer.reset_running_stats()
    assert layer.num_batches_tracked == 0
    for b in data:
        layer(b, training=True)
    mean, var = bn.population_statistics(data)
    np.testing.assert_allclose(layer.running_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, var, rtol=1e-12)


def test_population_statistics_refuse_bad_batches() -> None:
    with pytest.raises(ValueError, match="at least one batch"):
        bn.population_statistics([])
    with pytest.raises(ValueError, match=r"same \(channels, values per channel\)"):
        bn.population_statistics([np.ones((4, 3)), np.ones((5, 3))])
    with pytest.raises(TypeError, match=r"batches\[1\] must be a floating-point array"):
        bn.population_statistics([np.ones((4, 3)), np.ones((4, 3), dtype=int)])
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        bn.population_statistics([np.ones((1, 3))])
