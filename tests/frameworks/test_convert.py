"""Moving BN state between PyTorch, Keras and bncourse: inference outputs agree, round trips lose nothing."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import bncourse as bn
from bncourse import convert
from bncourse.convention import complement_momentum
from bncourse.course.tolerances import assert_close

keras = pytest.importorskip("keras")


def trained_torch_module(spatial_dims: int, channels: int, momentum: float, seed: int) -> torch.nn.Module:
    """A BatchNorm{1,2,3}d with random γ, β and a few training steps on shifted data: a realistic state."""
    generator = torch.Generator().manual_seed(seed)
    module = getattr(torch.nn, f"BatchNorm{spatial_dims}d")(channels, momentum=momentum, eps=1e-5 * (1 + seed % 7))
    with torch.no_grad():
        module.weight.copy_(torch.rand(channels, generator=generator) + 0.5)
        module.bias.copy_(torch.randn(channels, generator=generator))
    module.train()
    shape = (6, channels) + (3,) * spatial_dims
    for step in range(3):
        module(torch.randn(shape, generator=generator) * (1 + step) + step)
    return module.eval()


def nchw_input(spatial_dims: int, channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((5, channels) + (4,) * spatial_dims) * 2 + 1).astype(np.float32)


settings_ = settings(max_examples=8)


@settings_
@given(st.sampled_from([1, 2, 3]), st.integers(1, 5), st.sampled_from([0.1, 0.01, 0.3]), st.integers(0, 1000))
def test_torch_to_bncourse_to_keras_agree_in_inference(spatial_dims: int, channels: int, momentum: float, seed: int) -> None:
    module = trained_torch_module(spatial_dims, channels, momentum, seed)
    x = nchw_input(spatial_dims, channels, seed)
    expected = module(torch.from_numpy(x)).detach().numpy()

    ours = convert.from_torch(module)
    assert (ours.eps, ours.momentum, ours.num_batches_tracked) == (module.eps, momentum, 3)
    assert_close(ours(x, training=False).astype(np.float32), expected)

    keras_layer = convert.to_keras(ours, ndim=x.ndim)  # channels-last
    assert keras_layer.momentum == complement_momentum(momentum) and keras_layer.epsilon == module.eps
    channels_last = np.moveaxis(x, 1, -1)
    assert_close(np.moveaxis(np.asarray(keras_layer(channels_last, training=False)), -1, 1), expected)


@settings_
@given(st.sampled_from([2, 4]), st.integers(1, 5), st.sampled_from([0.99, 0.9]), st.integers(0, 1000))
def test_keras_to_bncourse_to_torch_agree_in_inference(ndim: int, channels: int, momentum: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    keras_layer = keras.layers.BatchNormalization(momentum=momentum, epsilon=1e-3)
    shape = (6,) + (3,) * (ndim - 2) + (channels,)
    for step in range(3):
        keras_layer((rng.standard_normal(shape) * (1 + step) + step).astype(np.float32), training=True)
    keras_layer.gamma.assign(rng.uniform(0.5, 2, channels))
    x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
    expected = np.asarray(keras_layer(x, training=False))

    ours = convert.from_keras(keras_layer)
    assert ours.convention is bn.KERAS and ours.axis == -1 and ours.momentum == momentum
    assert_close(ours(x, training=False).astype(np.float32), expected)

    module = convert.to_torch(ours, spatial_dims=max(ndim - 2, 1)).eval()
    assert module.momentum == complement_momentum(momentum)
    out = module(torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))).detach().numpy()
    assert_close(np.moveaxis(out, 1, -1), expected)


@pytest.mark.parametrize("spatial_dims", [1, 2, 3])
def test_round_trip_torch_keras_torch_loses_nothing(spatial_dims: int) -> None:
    module = trained_torch_module(spatial_dims, 4, 0.1, seed=3)
    back = convert.to_torch(convert.from_keras(convert.to_keras(convert.from_torch(module))), spatial_dims=spatial_dims)
    for name in ["weight", "bias", "running_mean", "running_var"]:
        assert torch.equal(getattr(back, name), getattr(module, name)), name
    assert (back.eps, back.momentum) == (module.eps, module.momentum)
    assert type(back) is type(module)


def test_same_running_mean_after_one_more_training_step_in_each_framework() -> None:
    """The translated momentum means the same average; the variances follow each framework's convention."""
    module = trained_torch_module(1, 3, 0.2, seed=1).train()
    keras_layer = convert.to_keras(convert.from_torch(module))
    batch = nchw_input(1, 3, seed=9)[:, :, 0]  # (N, C)
    module(torch.from_numpy(batch))
    keras_layer(batch, training=True)
    assert_close(keras_layer.moving_mean.numpy(), module.running_mean.numpy())
    unbiased, biased = batch.var(0, ddof=1), batch.var(0)
    # var_keras - var_torch = momentum_torch * (biased - unbiased): only the newest batch term differs,
    # by a visible amount (1/(n-1) = 25 % of the batch variance for n = 5), not by round-off.
    difference = keras_layer.moving_variance.numpy() - module.running_var.numpy()
    assert_close(difference, 0.2 * (biased - unbiased), np.float32)
    assert np.all(np.abs(difference) > 100 * 1e-5 * np.abs(module.running_var.numpy()))


def test_with_convention_translates_momentum_and_keeps_state() -> None:
    layer = bn.BatchNorm(3, momentum=0.1)
    layer(np.random.default_rng(0).standard_normal((8, 3)), training=True)
    as_keras = convert.with_convention(layer, "keras")
    assert as_keras.convention is bn.KERAS and as_keras.momentum == 0.9 and as_keras.eps == layer.eps
    back = convert.with_convention(as_keras, bn.TORCH)
    assert back.convention is bn.TORCH and back.momentum == 0.1
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[key], value)


def test_affine_free_torch_module_gives_affine_free_layer() -> None:
    ours = convert.from_torch(torch.nn.BatchNorm1d(2, affine=False))
    assert not ours.affine and ours.gamma is None and ours.beta is None


def test_conversion_errors_are_clear() -> None:
    with pytest.raises(TypeError, match="module must be a torch.nn.BatchNorm1d/2d/3d, got Linear"):
        convert.from_torch(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="track_running_stats=False"):
        convert.to_keras(bn.BatchNorm(2, track_running_stats=False))
    with pytest.raises(ValueError, match="momentum=None .* has no keras equivalent"):
        convert.to_keras(bn.BatchNorm(2, momentum=None))
    with pytest.raises(TypeError, match="keras_layer must be a keras.layers.BatchNormalization"):
        convert.from_keras(keras.layers.Dense(2))
    with pytest.raises(ValueError, match="not built"):
        convert.from_keras(keras.layers.BatchNormalization())
    with pytest.raises(ValueError, match=r"spatial_dims must be an int in \[1, 3\], got 4"):
        convert.to_torch(bn.BatchNorm(2), spatial_dims=4)
    with pytest.raises(ValueError, match="convention must be"):
        convert.with_convention(bn.BatchNorm(2), "tf")
    with pytest.raises(ValueError, match="ndim must be an int >= 2"):
        convert.to_keras(bn.BatchNorm(2), ndim=1)


def test_keras_convention_layer_to_keras_and_axis_lists() -> None:
    layer = bn.BatchNorm(3, convention="keras", momentum=0.95, axis=1)
    layer.load_state_dict({**layer.state_dict(), "running_mean": np.array([1.0, 2.0, 3.0])})
    keras_layer = convert.to_keras(layer, ndim=4)  # keeps axis=1 (channels-first)
    assert keras_layer.momentum == 0.95 and keras_layer.axis == 1
    back = convert.from_keras(keras_layer)
    assert back.axis == 1 and back.momentum == 0.95
    np.testing.assert_array_equal(back.running_mean, [1.0, 2.0, 3.0])
    assert convert.to_torch(layer).momentum == 0.05


def test_keras_layer_without_scale_and_center() -> None:
    keras_layer = keras.layers.BatchNormalization(scale=False, center=False)
    keras_layer.build((None, 2))
    ours = convert.from_keras(keras_layer)
    assert not ours.affine and ours.gamma is None and ours.beta is None
    only_scale = keras.layers.BatchNormalization(center=False)
    only_scale.build((None, 2))
    np.testing.assert_array_equal(convert.from_keras(only_scale).beta, [0.0, 0.0])
