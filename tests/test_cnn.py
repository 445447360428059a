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
