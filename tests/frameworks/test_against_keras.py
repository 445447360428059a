"""bncourse's Keras convention against keras.layers.BatchNormalization (Keras 3, TensorFlow backend)."""

import numpy as np
import pytest
from hypothesis import given, settings

import bncourse as bn
from tests.strategies import Case, cases
from bncourse.course.tolerances import assert_close

keras = pytest.importorskip("keras")


def keras_bn(case: Case, axis: int, momentum: float = 0.99) -> "keras.layers.BatchNormalization":
    """A built Keras layer with the case's gamma and beta (Keras layers are float32 by default)."""
    layer = keras.layers.BatchNormalization(axis=axis, momentum=momentum, dtype=str(case.x.dtype))
    layer.build(case.x.shape)
    layer.gamma.assign(case.gamma)
    layer.beta.assign(case.beta)
    return layer


def bncourse_keras(case: Case, momentum: float = 0.99) -> bn.BatchNorm:
    layer = bn.BatchNorm(case.gamma.shape[0], convention="keras", momentum=momentum, axis=case.axis, dtype=case.x.dtype)
    layer.gamma, layer.beta = case.gamma.copy(), case.beta.copy()
    return layer


def test_keras_defaults_are_the_keras_convention() -> None:
    reference = keras.layers.BatchNormalization()
    layer = bn.BatchNorm(3, convention="keras")
    assert (layer.eps, layer.momentum) == (reference.epsilon, reference.momentum) == (1e-3, 0.99)


@settings(max_examples=15)
@given(cases(max_rank=4))
def test_training_output_matches_keras(case: Case) -> None:
    expected = np.asarray(keras_bn(case, case.axis)(case.x, training=True))
    assert_close(bn.batch_norm(case.x, case.gamma, case.beta, eps=1e-3, axis=case.axis), expected)


@pytest.mark.parametrize("momentum", [0.99, 0.9, 0.5])
@settings(max_examples=6)
@given(case=cases(max_rank=4))
def test_moving_statistics_and_inference_match_keras(case: Case, momentum: float) -> None:
    reference = keras_bn(case, case.axis, momentum)
    layer = bncourse_keras(case, momentum)
    for step in range(4):
        x = case.batch_at(step)
        assert_close(layer(x, training=True), np.asarray(reference(x, training=True)))
    assert_close(layer.running_mean, reference.moving_mean.numpy())
    # Keras keeps the biased batch variance: the same numbers as bncourse's keras convention.
    assert_close(layer.running_var, reference.moving_variance.numpy())
    assert_close(layer(case.x, training=False), np.asarray(reference(case.x, training=False)))


@pytest.mark.parametrize("axis", [1, -1])
def test_channel_axis_of_an_image_batch(axis: int) -> None:
    """NCHW with axis=1 and NHWC with axis=-1 give the same numbers, per channel."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((4, 3, 5, 5)) * [[[[1.0]], [[5.0]], [[0.1]]]] + 2).astype(np.float32)
    if axis == -1:
        x = np.moveaxis(x, 1, -1)
    case = Case(x, np.array([1.0, 2.0, 0.5], np.float32), np.array([0.0, -1.0, 3.0], np.float32), axis)
    assert_close(bncourse_keras(case)(x, training=True), np.asarray(keras_bn(case, axis)(x, training=True)))


def test_frozen_keras_layer_runs_in_inference_mode() -> None:
    """``trainable=False`` makes Keras's BN use its moving statistics even when called with training=True."""
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((16, 4)) * 3 + 1).astype(np.float32)
    case = Case(x, np.ones(4, np.float32), np.zeros(4, np.float32), -1)
    reference = keras_bn(case, -1)
    reference.moving_mean.assign(np.full(4, 0.5, np.float32))
    reference.moving_variance.assign(np.full(4, 2.0, np.float32))
    reference.trainable = False
    layer = bncourse_keras(case)
    layer.load_state_dict({**layer.state_dict(), "running_mean": np.full(4, 0.5), "running_var": np.full(4, 2.0)})
    frozen = np.asarray(reference(x, training=True))
    assert_close(frozen, layer(x, training=False))
    # ... and it is not the training-mode output, and the moving statistics did not move.
    assert not np.allclose(frozen, layer(x, training=True), atol=1e-2)
    assert_close(reference.moving_mean.numpy(), np.full(4, 0.5, np.float32))


def test_keras_without_training_argument_is_inference() -> None:
    """Seed 002 calls ``bn(x)``: outside fit(), that is inference mode, with fresh statistics (0, 1)."""
    x = np.array([[1, 2], [3, 4]], np.float32)
    out = np.asarray(keras.layers.BatchNormalization()(x))
    assert_close(out, x / np.sqrt(1 + 1e-3))
    assert_close(out, bn.BatchNorm(2, convention="keras")(x, training=False))
