"""The chapters' CNN training in PyTorch and Keras: deterministic with a seed, and it learns."""

import numpy as np
import pytest

from bncourse.course import cnn, data


@pytest.mark.parametrize("train", [cnn.train_torch_cnn, cnn.train_keras_cnn], ids=["torch", "keras"])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_cnn_training_is_deterministic_and_learns(train, batch_norm: bool) -> None:
    split = data.digits()
    runs = [train(split, batch_norm=batch_norm, steps=60, eval_every=30, seed=1) for _ in range(2)]
    assert runs[0].loss == runs[1].loss and runs[0].test_accuracy == runs[1].test_accuracy
    assert np.mean(runs[0].loss[-10:]) < 0.8 * np.mean(runs[0].loss[:10])
    assert runs[0].eval_steps == [30, 60] and runs[0].test_accuracy[-1] > 0.5


def torch_layers(model) -> list[tuple]:
    """Each module as (kind, size, has bias): the architecture, in order."""
    from torch import nn

    def describe(module: nn.Module) -> tuple:
        if isinstance(module, nn.Conv2d):
            return ("conv", module.out_channels, module.kernel_size[0], module.bias is not None)
        if isinstance(module, nn.BatchNorm2d):
            return ("batch_norm", module.num_features, module.eps, round(1 - module.momentum, 12))
        if isinstance(module, nn.Linear):
            return ("dense", module.out_features, module.bias is not None)
        return ({nn.ReLU: "relu", nn.MaxPool2d: "max_pool", nn.Flatten: "flatten"}[type(module)],)

    return [describe(module) for module in model]


def keras_layers(model) -> list[tuple]:
    import keras

    def describe(layer) -> tuple:
        if isinstance(layer, keras.layers.Conv2D):
            return ("conv", layer.filters, layer.kernel_size[0], layer.use_bias)
        if isinstance(layer, keras.layers.BatchNormalization):
            return ("batch_norm", layer.gamma.shape[0], layer.epsilon, layer.momentum)
        if isinstance(layer, keras.layers.Dense):
            return ("dense", layer.units, layer.use_bias)
        names = {keras.layers.ReLU: "relu", keras.layers.MaxPooling2D: "max_pool", keras.layers.Flatten: "flatten"}
        return (names[type(layer)],)

    return [describe(layer) for layer in model.layers]


@pytest.mark.parametrize("batch_norm", [False, True])
def test_the_two_cnns_have_the_same_architecture(batch_norm: bool) -> None:
    """Layer by layer, in order: BN between each convolution and its ReLU, no convolution bias before BN."""
    torch_model = cnn.torch_cnn(batch_norm)
    keras_model = cnn.keras_cnn(batch_norm, momentum=0.9, epsilon=1e-5)
    block = [("conv", 16, 3, not batch_norm), ("batch_norm", 16, 1e-5, 0.9), ("relu",), ("max_pool",)]
    block2 = [("conv", 32, 3, not batch_norm), ("batch_norm", 32, 1e-5, 0.9), ("relu",), ("max_pool",)]
    expected = [layer for layer in block + block2 if batch_norm or layer[0] != "batch_norm"]
    expected += [("flatten",), ("dense", 10, True)]
    assert torch_layers(torch_model) == keras_layers(keras_model) == expected
    torch_params = sum(p.numel() for p in torch_model.parameters())
    keras_trainable = sum(int(np.prod(w.shape)) for w in keras_model.trainable_weights)
    assert torch_params == keras_trainable


@pytest.mark.parametrize("batch_norm", [False, True])
def test_copied_weights_make_keras_compute_what_torch_computes(batch_norm: bool) -> None:
    import torch

    torch.manual_seed(3)
    torch_model = cnn.torch_cnn(batch_norm)
    keras_model = cnn.keras_cnn(batch_norm, momentum=0.9, epsilon=1e-5)
    if batch_norm:  # non-trivial statistics, so that a swapped mean and variance would show
        with torch.no_grad():
            for module in torch_model:
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.running_mean.uniform_(-1, 1), module.running_var.uniform_(0.5, 2)
                    module.weight.uniform_(0.5, 2), module.bias.uniform_(-1, 1)
    cnn.copy_torch_weights_to_keras(torch_model, keras_model)
    x = data.digits(images=True).x_test[:32].astype(np.float32)
    with torch.no_grad():
        expected = torch_model.eval()(torch.from_numpy(x)).numpy()
    received = keras_model(x.transpose(0, 2, 3, 1), training=False).numpy()
    np.testing.assert_allclose(received, expected, rtol=1e-4, atol=1e-4)


def test_like_torch_starts_keras_where_torch_starts() -> None:
    # Same initial weights, batches and BN settings: the first losses agree to float32 round-off.
    split = data.digits()
    torch_run = cnn.train_torch_cnn(split, batch_norm=True, steps=3, eval_every=3, seed=2)
    keras_run = cnn.train_keras_cnn(split, batch_norm=True, steps=3, eval_every=3, seed=2, like_torch=True)
    np.testing.assert_allclose(keras_run.loss, torch_run.loss, rtol=1e-4)
