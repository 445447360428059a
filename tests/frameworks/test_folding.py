"""Folding BN into the layer before it: bncourse.fold_batch_norm against PyTorch's fusion utilities and
against eval-mode BN after the layer; fold_sequential on networks with several BN layers."""

import copy

import numpy as np
import pytest
import torch
from torch.nn.utils.fusion import fuse_conv_bn_weights, fuse_linear_bn_weights

import bncourse as bn
from bncourse.course.folding import fold_sequential
from bncourse.course.tolerances import assert_close

CONVS = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}
NORMS = {1: torch.nn.BatchNorm1d, 2: torch.nn.BatchNorm2d, 3: torch.nn.BatchNorm3d}


def trained_norm(norm: torch.nn.Module, rng: np.random.Generator) -> torch.nn.Module:
    """``norm`` with random γ (some negative), β and running statistics, in eval mode."""
    c = norm.num_features
    with torch.no_grad():
        norm.weight.copy_(torch.from_numpy(rng.uniform(-2, 2, c)))
        norm.bias.copy_(torch.from_numpy(rng.normal(size=c)))
        norm.running_mean.copy_(torch.from_numpy(rng.normal(3, 2, c)))
        norm.running_var.copy_(torch.from_numpy(rng.uniform(0.01, 4, c)))
    return norm.eval()


def numpy(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().numpy()


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("has_bias", [True, False])
def test_conv_folding_equals_torch_and_eval_mode_bn(dims: int, has_bias: bool) -> None:
    rng = np.random.default_rng(dims)
    conv = CONVS[dims](3, 6, 3, bias=has_bias).double()
    norm = trained_norm(NORMS[dims](6).double(), rng)
    weight, bias = bn.fold_batch_norm(numpy(conv.weight), numpy(conv.bias), numpy(norm.weight), numpy(norm.bias),
                                      numpy(norm.running_mean), numpy(norm.running_var), eps=norm.eps)
    torch_weight, torch_bias = fuse_conv_bn_weights(conv.weight, conv.bias, norm.running_mean, norm.running_var,
                                                    norm.eps, norm.weight, norm.bias)
    np.testing.assert_allclose(weight, numpy(torch_weight), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(bias, numpy(torch_bias), rtol=1e-14, atol=1e-14)
    x = torch.from_numpy(rng.normal(2, 3, (4, 3) + (7,) * dims))
    folded = CONVS[dims](3, 6, 3).double()
    with torch.no_grad():
        folded.weight.copy_(torch.from_numpy(weight))
        folded.bias.copy_(torch.from_numpy(bias))
        assert_close(folded(x).numpy(), norm(conv(x)).numpy())


@pytest.mark.parametrize("has_bias", [True, False])
def test_linear_folding_equals_torch_and_eval_mode_bn(has_bias: bool) -> None:
    rng = np.random.default_rng(7)
    linear = torch.nn.Linear(5, 4, bias=has_bias).double()
    norm = trained_norm(torch.nn.BatchNorm1d(4).double(), rng)
    weight, bias = bn.fold_batch_norm(numpy(linear.weight), numpy(linear.bias), numpy(norm.weight),
                                      numpy(norm.bias), numpy(norm.running_mean), numpy(norm.running_var), eps=norm.eps)
    torch_weight, torch_bias = fuse_linear_bn_weights(linear.weight, linear.bias, norm.running_mean,
                                                      norm.running_var, norm.eps, norm.weight, norm.bias)
    np.testing.assert_allclose(weight, numpy(torch_weight), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(bias, numpy(torch_bias), rtol=1e-14, atol=1e-14)
    x = torch.from_numpy(rng.normal(size=(8, 5)))
    with torch.no_grad():
        assert_close(numpy(torch.nn.functional.linear(x, torch.from_numpy(weight), torch.from_numpy(bias))),
                     numpy(norm(linear(x))))


def test_folding_keeps_dtypes_and_computes_wide() -> None:
    """float16 weights: bncourse folds in float64 and rounds once, so each folded number is the float16
    nearest the exact value; PyTorch's fusion, given float16 tensors, computes in float16 and misses some."""
    rng = np.random.default_rng(3)
    weight = rng.normal(size=(64, 32)).astype(np.float16)
    gamma, beta = rng.uniform(0.5, 2, 64).astype(np.float16), rng.normal(size=64).astype(np.float16)
    mean, var = rng.normal(size=64).astype(np.float16), rng.uniform(1e-3, 1e-2, 64).astype(np.float16)
    folded, bias = bn.fold_batch_norm(weight, None, gamma, beta, mean, var, eps=1e-5)
    assert folded.dtype == np.float16 and bias.dtype == np.float16
    exact, exact_bias = bn.fold_batch_norm(*(a.astype(np.float64) for a in (weight,)), None,
                                           *(a.astype(np.float64) for a in (gamma, beta, mean, var)), eps=1e-5)
    np.testing.assert_array_equal(folded, exact.astype(np.float16))
    t = {k: torch.from_numpy(v) for k, v in dict(w=weight, g=gamma, b=beta, m=mean, v=var).items()}
    torch_weight, _ = fuse_linear_bn_weights(t["w"], None, t["m"], t["v"], 1e-5, t["g"], t["b"])
    assert np.sum(numpy(torch_weight) != exact.astype(np.float16)) > 0  # float16 arithmetic misses some


def test_affine_false_norm_folds_with_gamma_one_and_beta_zero() -> None:
    rng = np.random.default_rng(5)
    weight, bias = rng.normal(size=(3, 2)), rng.normal(size=3)
    mean, var = rng.normal(size=3), rng.uniform(0.5, 2, 3)
    assert_close(bn.fold_batch_norm(weight, bias, None, None, mean, var, eps=1e-3)[0],
                 bn.fold_batch_norm(weight, bias, np.ones(3), np.zeros(3), mean, var, eps=1e-3)[0])


@pytest.mark.parametrize(
    "change, error, message",
    [
        ({"weight": np.ones(3)}, ValueError, "weight must have output channels first"),
        ({"bias": np.ones(4)}, ValueError, r"bias must have the shape of weight's output channels, \(3,\)"),
        ({"gamma": np.ones(2)}, ValueError, "gamma must have the shape"),
        ({"var": -np.ones(3)}, ValueError, "var must be >= 0"),
        ({"mean": np.array([1, 2, 3])}, TypeError, "mean must be a floating-point array"),
        ({"eps": 0.0}, ValueError, "eps must be"),
        ({"weight": np.full((3, 2), np.nan)}, ValueError, "weight must contain only finite values"),
    ],
)
def test_fold_batch_norm_refuses_bad_input(change: dict, error: type, message: str) -> None:
    arguments = dict(weight=np.ones((3, 2)), bias=np.zeros(3), gamma=np.ones(3), beta=np.zeros(3),
                     mean=np.zeros(3), var=np.ones(3), eps=1e-5)
    arguments.update(change)
    with pytest.raises(error, match=message):
        bn.fold_batch_norm(**arguments)


def network() -> torch.nn.Sequential:
    """Conv → BN → ReLU twice (the second conv with a bias, inside a nested Sequential), a BN that follows
    no layer, then Linear → BN: four batch norms, three of them foldable."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1, bias=False), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, stride=2), torch.nn.BatchNorm2d(8), torch.nn.ReLU()),
        torch.nn.BatchNorm2d(8),
        torch.nn.Flatten(), torch.nn.Linear(8 * 3 * 3, 10), torch.nn.BatchNorm1d(10),
    ).double()


def trained(model: torch.nn.Sequential) -> torch.nn.Sequential:
    """A few training-mode batches, so that every running statistic has moved; then eval mode."""
    generator = torch.Generator().manual_seed(1)
    for _ in range(5):
        model(torch.randn(16, 3, 7, 7, generator=generator, dtype=torch.float64) * 2 + 1)
    return model.eval()


def test_fold_sequential_folds_every_pair_and_keeps_outputs() -> None:
    model = trained(network())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    folded = fold_sequential(model)
    norms = [m for m in folded.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert len(norms) == 1  # the one after a ReLU stays
    x = torch.randn(6, 3, 7, 7, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        assert_close(folded(x).numpy(), model(x).numpy())
    for key, value in model.state_dict().items():  # the model passed in is unchanged
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    single = copy.deepcopy(model).float()
    with torch.no_grad():
        assert_close(fold_sequential(single)(x.float()).numpy(), single(x.float()).numpy())


def test_fold_sequential_refuses_training_mode_and_missing_running_statistics() -> None:
    model = trained(network())
    model[3].train()  # a per-layer .train() (or a forgotten model.eval())
    with pytest.raises(ValueError, match=r"model must be in eval mode .* In training mode: 3, 3\.0"):
        fold_sequential(model)
    no_statistics = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2, track_running_stats=False)).eval()
    with pytest.raises(ValueError, match="batch norm 1 has no running statistics"):
        fold_sequential(no_statistics)
    with pytest.raises(TypeError, match="model must be a torch.nn.Sequential"):
        fold_sequential(torch.nn.Linear(2, 2))


def keras_network(keras, center: bool = True, scale: bool = True):  # type: ignore[no-untyped-def]
    """Conv2D → BN → ReLU, Conv2D (bias) → BN, Flatten, Dense → BN, a BN after Flatten that follows no
    layer; trained for three batches so the moving statistics have moved."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(6, 3, use_bias=False), keras.layers.BatchNormalization(), keras.layers.ReLU(),
        keras.layers.Conv2D(4, 3), keras.layers.BatchNormalization(center=center, scale=scale),
        keras.layers.Flatten(), keras.layers.BatchNormalization(),
        keras.layers.Dense(5), keras.layers.BatchNormalization(momentum=0.5),
    ])
    x = np.random.default_rng(0).normal(1, 2, (16, 8, 8, 3)).astype(np.float32)
    for _ in range(3):
        model(x, training=True)
    return model, x


@pytest.mark.parametrize("center, scale", [(True, True), (False, False)])
def test_fold_keras_sequential_folds_every_pair_and_keeps_predictions(center: bool, scale: bool) -> None:
    keras = pytest.importorskip("keras")
    from bncourse.course.folding import fold_keras_sequential

    model, x = keras_network(keras, center, scale)
    before = [w.copy() for w in model.get_weights()]
    folded = fold_keras_sequential(model)
    names = [type(layer).__name__ for layer in folded.layers]
    assert names == ["Conv2D", "ReLU", "Conv2D", "Flatten", "BatchNormalization", "Dense"]
    assert_close(folded.predict(x, verbose=0), model.predict(x, verbose=0))
    for weight, original in zip(model.get_weights(), before):  # the model passed in is unchanged
        np.testing.assert_array_equal(weight, original)


def test_fold_keras_sequential_refuses_what_it_cannot_fold() -> None:
    keras = pytest.importorskip("keras")
    from bncourse.course.folding import fold_keras_sequential

    channels_first = keras.Sequential([keras.Input((4, 5)), keras.layers.Conv1D(4, 1, data_format="channels_first"),
                                       keras.layers.BatchNormalization(axis=1)])
    with pytest.raises(ValueError, match=r"normalizes axis 1, not the last axis \(2\)"):
        fold_keras_sequential(channels_first)
    with pytest.raises(ValueError, match="model must be built"):
        fold_keras_sequential(keras.Sequential([keras.layers.Dense(2), keras.layers.BatchNormalization()]))
    with pytest.raises(TypeError, match="model must be a keras.Sequential"):
        fold_keras_sequential(keras.layers.Dense(2))
