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


def two_layer_model(seed: int = 0):
    """x → BN → W → BN: a model recalibrate knows nothing about, and the same model in PyTorch."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((3, 4))
    first, second = bn.BatchNorm(3, momentum=0.3), bn.BatchNorm(4, momentum=0.3)

    def forward(x: np.ndarray) -> np.ndarray:
        return second(first(x, training=True) @ weight, training=True)

    linear = torch.nn.Linear(3, 4, bias=False, dtype=torch.float64)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(weight.T))
    torch_model = torch.nn.Sequential(
        torch.nn.BatchNorm1d(3, momentum=0.3, dtype=torch.float64),
        linear,
        torch.nn.BatchNorm1d(4, momentum=0.3, dtype=torch.float64),
    )
    return (first, second), forward, torch_model


def test_recalibrate_matches_torch_update_bn() -> None:
    """bncourse.recalibrate(layers, batches, forward) does what torch.optim.swa_utils.update_bn does."""
    torch = pytest.importorskip("torch")
    layers, forward, torch_model = two_layer_model()
    data = batches(count=5, shape=(8, 3))
    for b in data[:2]:  # stale statistics from earlier training, in both
        forward(b * 4 - 1)
        torch_model.train()(torch.from_numpy(b * 4 - 1))
    assert bn.recalibrate(layers, data, forward) == 5
    torch.optim.swa_utils.update_bn([torch.from_numpy(b) for b in data], torch_model)
    for layer, module in zip(layers, (torch_model[0], torch_model[2])):
        # The second layer's inputs are normalized: its running mean is 0 up to round-off, hence atol.
        np.testing.assert_allclose(layer.running_mean, module.running_mean.numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(layer.running_var, module.running_var.numpy(), rtol=1e-12)
        assert layer.num_batches_tracked == int(module.num_batches_tracked) == 5
        assert layer.momentum == module.momentum == 0.3
    mean, var = bn.population_statistics(data)
    np.testing.assert_allclose(layers[0].running_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(layers[0].running_var, var, rtol=1e-12)


def test_recalibrate_restores_momentum_when_forward_fails() -> None:
    layers, forward, _ = two_layer_model()
    keras_layer = bn.BatchNorm(3, convention="keras", momentum=0.95, axis=1)

    def failing(x: np.ndarray) -> None:
        forward(x)
        keras_layer(x, training=True)
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        bn.recalibrate([*layers, keras_layer], batches(count=3, shape=(8, 3)), failing)
    assert [layer.momentum for layer in layers] == [0.3, 0.3] and keras_layer.momentum == 0.95


def test_recalibrate_works_in_either_convention() -> None:
    data = batches(count=4)
    layer = bn.BatchNorm(3, convention="keras", axis=1)
    bn.recalibrate([layer], data, lambda x: layer(x, training=True))
    np.testing.assert_allclose(layer.running_mean, np.mean([b.mean(0) for b in data], axis=0), rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, np.mean([b.var(0) for b in data], axis=0), rtol=1e-12)
    assert layer.momentum == 0.99


def test_recalibrate_refuses_bad_arguments_and_changes_nothing() -> None:
    layers, forward, _ = two_layer_model()
    forward(batches(count=1, shape=(8, 3))[0])
    before = [layer.state_dict() for layer in layers]
    with pytest.raises(ValueError, match="batches must contain at least one batch"):
        bn.recalibrate(layers, [], forward)
    with pytest.raises(TypeError, match=r"layers\[1\] must be a bncourse.BatchNorm, got str"):
        bn.recalibrate([layers[0], "bn2"], batches(), forward)  # type: ignore[list-item]
    for layer, state in zip(layers, before):
        np.testing.assert_array_equal(layer.running_mean, state["running_mean"])
        assert layer.num_batches_tracked == state["num_batches_tracked"]
