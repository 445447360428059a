r"""The same small CNN in PyTorch and in Keras, with or without batch norm, trained on the 8×8 digits.

Architecture (both frameworks), for inputs of one 8×8 grey channel::

    conv 3×3, 16 channels, padding 'same' → [BN] → ReLU → max-pool 2×2      (16 × 4 × 4)
    conv 3×3, 32 channels, padding 'same' → [BN] → ReLU → max-pool 2×2      (32 × 2 × 2)
    flatten → dense 10 (logits)

BN goes between each convolution and its ReLU, as in the paper; with BN the convolutions have no bias
(BN's β replaces it). Training is plain SGD on cross-entropy with a fixed seed, one thread, and test
accuracy every ``eval_every`` steps: the same protocol as :func:`bncourse.course.training.train`, whose
:class:`~bncourse.course.training.History` it returns. PyTorch and TensorFlow are imported only when called.

``train_keras_cnn(..., like_torch=True)`` makes the Keras run the *same experiment* as the PyTorch run
of that seed: the same initial weights (PyTorch's, copied over by :func:`copy_torch_weights_to_keras`),
PyTorch's BN momentum and ε, and the same batches; only the frameworks' float32 arithmetic differs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bncourse.convention import KERAS, TORCH, complement_momentum
from bncourse.course.data import Split
from bncourse.course.training import History, minibatches


def torch_cnn(batch_norm: bool) -> Any:
    """The CNN as a ``torch.nn.Sequential`` (NCHW input ``(N, 1, 8, 8)``)."""
    from torch import nn

    def block(c_in: int, c_out: int) -> list[nn.Module]:
        conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm)
        norm: list[nn.Module] = [nn.BatchNorm2d(c_out)] if batch_norm else []
        return [conv, *norm, nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(*block(1, 16), *block(16, 32), nn.Flatten(), nn.Linear(32 * 2 * 2, 10))


def keras_cnn(batch_norm: bool, *, momentum: float = KERAS.momentum, epsilon: float = KERAS.eps) -> Any:
    """The CNN as a ``keras.Sequential`` (NHWC input ``(N, 8, 8, 1)``); ``momentum`` and ``epsilon`` of its
    BN layers in Keras's meaning (defaults: Keras's; PyTorch's are ``momentum=0.9, epsilon=1e-5``)."""
    import keras

    layers: list[Any] = [keras.Input((8, 8, 1))]
    for channels in (16, 32):
        layers.append(keras.layers.Conv2D(channels, 3, padding="same", use_bias=not batch_norm))
        if batch_norm:
            layers.append(keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon))
        layers += [keras.layers.ReLU(), keras.layers.MaxPooling2D(2)]
    layers += [keras.layers.Flatten(), keras.layers.Dense(10)]
    return keras.Sequential(layers)


def copy_torch_weights_to_keras(torch_model: Any, keras_model: Any) -> None:
    """Give ``keras_model`` (:func:`keras_cnn`) the weights and BN state of ``torch_model`` (:func:`torch_cnn`).

    Convolution kernels go from ``(out, in, kh, kw)`` to ``(kh, kw, in, out)``. The dense layer's input
    is flattened as ``(C, H, W)`` by PyTorch and ``(H, W, C)`` by Keras, so its weight's columns are
    reordered; then ``keras(x.transpose(0, 2, 3, 1)) == torch(x)`` up to float32 round-off."""
    from torch import nn

    modules = [m for m in torch_model if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear))]
    layers = [layer for layer in keras_model.layers if layer.weights]
    if len(modules) != len(layers):
        raise ValueError(f"the models differ: {len(modules)} PyTorch and {len(layers)} Keras layers with weights")
    for module, layer in zip(modules, layers):
        state = {name: value.detach().numpy() for name, value in module.state_dict().items()}
        if isinstance(module, nn.Conv2d):
            weights = [state["weight"].transpose(2, 3, 1, 0)] + ([state["bias"]] if "bias" in state else [])
        elif isinstance(module, nn.BatchNorm2d):
            weights = [state[k] for k in ("weight", "bias", "running_mean", "running_var")]
        else:
            out_features = state["weight"].shape[0]
            channels = [m for m in modules if isinstance(m, nn.Conv2d)][-1].out_channels
            side = int(round((state["weight"].shape[1] // channels) ** 0.5))
            kernel = state["weight"].reshape(out_features, channels, side, side).transpose(2, 3, 1, 0)
            weights = [kernel.reshape(-1, out_features), state["bias"]]
        layer.set_weights(weights)


def train_torch_cnn(
    split: Split, *, batch_norm: bool, steps: int, batch_size: int = 60, learning_rate: float = 0.05,
    eval_every: int = 50, seed: int = 0,
) -> History:
    """Train :func:`torch_cnn` on ``split`` (images ``(N, 1, 8, 8)``); deterministic for a given ``seed``."""
    import torch

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        model = torch_cnn(batch_norm)
        optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)
        x_train = torch.tensor(split.x_train.reshape(-1, 1, 8, 8), dtype=torch.float32)
        y_train = torch.tensor(split.y_train)
        x_test = torch.tensor(split.x_test.reshape(-1, 1, 8, 8), dtype=torch.float32)
        history = History()
        for step, batch in enumerate(minibatches(len(y_train), steps, batch_size, np.random.default_rng(seed)), start=1):
            model.train()
            loss = torch.nn.functional.cross_entropy(model(x_train[batch]), y_train[batch])
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            history.loss.append(float(loss.detach()))
            if step % eval_every == 0:
                model.eval()
                with torch.no_grad():
                    predicted = model(x_test).argmax(1).numpy()
                history.eval_steps.append(step)
                history.test_accuracy.append(float(np.mean(predicted == split.y_test)))
        return history
    finally:
        torch.set_num_threads(previous_threads)


def train_keras_cnn(
    split: Split, *, batch_norm: bool, steps: int, batch_size: int = 60, learning_rate: float = 0.05,
    eval_every: int = 50, seed: int = 0, like_torch: bool = False,
) -> History:
    """Train :func:`keras_cnn` on ``split`` with the same protocol as :func:`train_torch_cnn`
    (the images are moved to channels-last). Deterministic for a given ``seed``. With ``like_torch``,
    the initial weights are those :func:`train_torch_cnn` starts from with this ``seed``, and BN uses
    PyTorch's momentum (0.1, i.e. Keras's 0.9) and ε (1e-5): the same experiment in another framework."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if like_torch:
        import torch

        torch.manual_seed(seed)
        model = keras_cnn(batch_norm, momentum=complement_momentum(TORCH.momentum), epsilon=TORCH.eps)
        copy_torch_weights_to_keras(torch_cnn(batch_norm), model)
    else:
        model = keras_cnn(batch_norm)
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    x_train = split.x_train.reshape(-1, 8, 8, 1).astype(np.float32)
    x_test = split.x_test.reshape(-1, 8, 8, 1).astype(np.float32)

    @tf.function  # type: ignore[untyped-decorator]
    def train_step(x: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    history = History()
    for step, batch in enumerate(minibatches(len(split.y_train), steps, batch_size, np.random.default_rng(seed)), start=1):
        history.loss.append(float(train_step(x_train[batch], split.y_train[batch])))
        if step % eval_every == 0:
            predicted = np.argmax(model(x_test, training=False).numpy(), axis=1)
            history.eval_steps.append(step)
            history.test_accuracy.append(float(np.mean(predicted == split.y_test)))
    return history
