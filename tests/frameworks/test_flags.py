"""``affine=`` and ``track_running_stats=`` against torch.nn.BatchNorm1d/2d/3d, for every combination: outputs
in training and inference, running statistics, gradients, state dicts (PyTorch's loaded as they are, with or
without ``num_batches_tracked``), and the errors PyTorch raises."""

import itertools

import numpy as np
import pytest
import torch

import bncourse as bn
from bncourse import convert

FLAGS = list(itertools.product([True, False], [True, False]))  # (affine, track_running_stats)
MODULES = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d, 5: torch.nn.BatchNorm3d}
SHAPES = [(6, 3), (4, 3, 5), (2, 3, 2, 3), (2, 3, 2, 2, 2)]
TORCH_NAMES = {"gamma": "weight", "beta": "bias"}


def pair(shape: tuple[int, ...], affine: bool, track: bool, momentum: float | None = 0.1):
    """A float64 torch module and a bncourse layer with the same flags and (if affine) the same γ, β ≠ 1, 0."""
    module = MODULES[len(shape)](shape[1], momentum=momentum, affine=affine, track_running_stats=track,
                                 dtype=torch.float64)
    layer = bn.BatchNorm(shape[1], momentum=momentum, affine=affine, track_running_stats=track)
    if affine:
        rng = np.random.default_rng(1)
        layer.gamma, layer.beta = rng.uniform(0.5, 2.0, shape[1]), rng.normal(size=shape[1])
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(layer.gamma))
            module.bias.copy_(torch.from_numpy(layer.beta))
    return module, layer


def torch_state(layer: bn.BatchNorm) -> dict:
    return {TORCH_NAMES.get(k, k): v for k, v in layer.state_dict().items()}


def assert_same_state(module: torch.nn.Module, layer: bn.BatchNorm) -> None:
    theirs = module.state_dict()
    ours = torch_state(layer)
    assert sorted(theirs) == sorted(ours)
    for key, value in theirs.items():
        np.testing.assert_allclose(np.asarray(ours[key]), value.numpy(), rtol=1e-12, atol=1e-14, err_msg=key)


@pytest.mark.parametrize("affine,track", FLAGS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_training_then_inference_matches_torch(shape, affine, track, dtype) -> None:
    module, layer = pair(shape, affine, track)
    rng = np.random.default_rng(0)
    tol = {"rtol": 1e-10, "atol": 1e-12} if dtype == np.float64 else {"rtol": 2e-5, "atol": 2e-5}
    for step in range(3):
        x = (3.0 + 2.0 * rng.standard_normal(shape)).astype(dtype)
        x_t = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
        y_t = module.train()(x_t)
        dy = rng.standard_normal(shape)
        y_t.backward(torch.from_numpy(dy))
        y = layer(x, training=True)
        np.testing.assert_allclose(y, y_t.detach().numpy(), **tol)
        dx, dgamma, dbeta = layer.backward(dy.astype(dtype))
        np.testing.assert_allclose(dx, x_t.grad.numpy(), **tol)
        if affine:
            np.testing.assert_allclose(dgamma, module.weight.grad.numpy(), **tol)
            np.testing.assert_allclose(layer.dgamma, module.weight.grad.numpy(), **tol)
            np.testing.assert_allclose(layer.dbeta, module.bias.grad.numpy(), **tol)
            module.weight.grad = module.bias.grad = None
        else:
            assert layer.dgamma is None and layer.dbeta is None and layer.parameters() == []
        if dtype == np.float64:
            assert_same_state(module, layer)
    # Inference: running statistics if tracked, else the batch's own (and gradients still flow through them).
    x = (3.0 + 2.0 * rng.standard_normal(shape)).astype(dtype)
    x_t = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
    y_t = module.eval()(x_t)
    np.testing.assert_allclose(layer(x, training=False), y_t.detach().numpy(), **tol)
    if not track:
        dy = rng.standard_normal(shape)
        y_t.backward(torch.from_numpy(dy))
        np.testing.assert_allclose(layer.backward(dy.astype(dtype)).dx, x_t.grad.numpy(), **tol)


@pytest.mark.parametrize("affine,track", FLAGS)
def test_state_dict_has_exactly_torchs_entries(affine, track) -> None:
    module, layer = pair((4, 3), affine, track)
    assert sorted(module.state_dict()) == sorted(torch_state(layer))
    assert (layer.running_mean is None) == (layer.running_var is None) == (layer.num_batches_tracked is None) != track
    assert (layer.gamma is None) == (layer.beta is None) != affine


@pytest.mark.parametrize("affine,track", FLAGS)
def test_loads_torch_state_dict_and_converts_both_ways(affine, track) -> None:
    module, _ = pair((4, 3, 2), affine, track)
    module.train()(torch.randn(4, 3, 2, dtype=torch.float64) * 2 + 1)
    layer = bn.BatchNorm(3, affine=affine, track_running_stats=track)
    layer.load_state_dict(module.state_dict())  # tensors, PyTorch's key names
    assert_same_state(module, layer)
    back = convert.to_torch(convert.from_torch(module), dtype=torch.float64)
    assert (back.affine, back.track_running_stats) == (affine, track)
    assert_same_state(back, layer)


def test_state_dict_without_num_batches_tracked_keeps_the_count_as_pytorch_does() -> None:
    """PyTorch 0.4.0 saved no num_batches_tracked (pytorch/pytorch#8430). A plain dict without it loads in
    PyTorch (no version metadata) and keeps the module's own count; bncourse does the same."""
    trained, _ = pair((8, 3), True, True, momentum=None)
    for _ in range(4):
        trained.train()(torch.randn(8, 3, dtype=torch.float64))
    old = {k: v for k, v in trained.state_dict().items() if k != "num_batches_tracked"}
    module, layer = pair((8, 3), True, True, momentum=None)
    module.load_state_dict(old)
    layer.load_state_dict(old)
    assert int(module.num_batches_tracked) == layer.num_batches_tracked == 0
    assert_same_state(module, layer)
    # With momentum=None the count is the weight of the next batch: 1/(0+1) wipes what was loaded, in both.
    x = np.random.default_rng(2).standard_normal((8, 3))
    module.train()(torch.from_numpy(x))
    layer(x, training=True)
    assert_same_state(module, layer)
    np.testing.assert_allclose(layer.running_mean, x.mean(axis=0), rtol=1e-12)


def test_inference_without_running_statistics_needs_a_batch_like_pytorch() -> None:
    """track_running_stats=False: eval() normalizes with the batch, so one example per channel fails in both."""
    module, layer = pair((1, 3), True, False)
    x = np.ones((1, 3))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        module.eval()(torch.from_numpy(x))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        layer(x, training=False)
    tracked = bn.BatchNorm(3)
    np.testing.assert_allclose(tracked(x, training=False), x / np.sqrt(1 + tracked.eps))


@pytest.mark.parametrize("affine,track", FLAGS)
def test_keras_conversion_of_the_flags(affine, track) -> None:
    layer = bn.BatchNorm(3, affine=affine, track_running_stats=track)
    if not track:
        with pytest.raises(ValueError, match="track_running_stats=False"):
            convert.to_keras(layer)
        return
    keras_layer = convert.to_keras(layer, dtype="float64")
    assert (keras_layer.center, keras_layer.scale) == (affine, affine)
    back = convert.from_keras(keras_layer)
    assert back.affine == affine
    x = np.random.default_rng(3).standard_normal((5, 3)) + 4.0
    np.testing.assert_allclose(np.asarray(keras_layer(x, training=False)), back(x, training=False), rtol=1e-12)


def test_bad_state_dicts_are_refused_and_change_nothing() -> None:
    layer = bn.BatchNorm(2, affine=False)
    before = layer.state_dict()
    with pytest.raises(ValueError, match=r"unexpected keys \['gamma'\]"):
        layer.load_state_dict({"gamma": np.ones(2), "running_mean": np.zeros(2), "running_var": np.ones(2)})
    with pytest.raises(ValueError, match=r"missing keys \['running_var'\]"):
        layer.load_state_dict({"running_mean": np.zeros(2)})
    with pytest.raises(ValueError, match="both 'gamma' and its PyTorch name"):
        bn.BatchNorm(2).load_state_dict({"gamma": np.ones(2), "weight": np.ones(2)})
    with pytest.raises(ValueError, match="running_var must be >= 0"):
        layer.load_state_dict({"running_mean": np.full(2, 5.0), "running_var": -np.ones(2)})
    with pytest.raises(TypeError, match="num_batches_tracked must be an int"):
        layer.load_state_dict({"running_mean": np.zeros(2), "running_var": np.ones(2), "num_batches_tracked": 1.5})
    for key, value in before.items():
        np.testing.assert_array_equal(layer.state_dict()[key], value)
    with pytest.raises(TypeError, match="affine must be True or False"):
        bn.BatchNorm(2, affine=1)
    with pytest.raises(ValueError, match="gamma is None, but the layer has affine=True"):
        broken = bn.BatchNorm(2)
        broken.gamma = None
        broken(np.ones((2, 2)), training=True)


def test_recalibrate_refuses_a_layer_without_running_statistics() -> None:
    with pytest.raises(ValueError, match=r"layers\[1\] keeps no running statistics"):
        bn.recalibrate([bn.BatchNorm(2), bn.BatchNorm(2, track_running_stats=False)], [np.ones((2, 2))], print)
