"""The chapters' CNN training in PyTorch and Keras: deterministic with a seed, and it learns."""

import numpy as np
import pytest

from bncourse import cnn, data


@pytest.mark.parametrize("train", [cnn.train_torch_cnn, cnn.train_keras_cnn], ids=["torch", "keras"])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_cnn_training_is_deterministic_and_learns(train, batch_norm: bool) -> None:
    split = data.digits()
    runs = [train(split, batch_norm=batch_norm, steps=60, eval_every=30, seed=1) for _ in range(2)]
    assert runs[0].loss == runs[1].loss and runs[0].test_accuracy == runs[1].test_accuracy
    assert np.mean(runs[0].loss[-10:]) < 0.8 * np.mean(runs[0].loss[:10])
    assert runs[0].eval_steps == [30, 60] and runs[0].test_accuracy[-1] > 0.5


def test_the_two_cnns_have_the_same_architecture() -> None:
    torch_model, keras_model = cnn.torch_cnn(batch_norm=True), cnn.keras_cnn(batch_norm=True)
    torch_params = sum(p.numel() for p in torch_model.parameters())
    keras_trainable = sum(int(np.prod(w.shape)) for w in keras_model.trainable_weights)
    assert torch_params == keras_trainable == 16 * 9 + 32 + 16 * 32 * 9 + 64 + 128 * 10 + 10


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
