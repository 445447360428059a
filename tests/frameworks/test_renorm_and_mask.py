"""Batch renormalization and masked batch norm against Keras's BatchNormalization (renorm=True; mask=...),
forward, backward (tf.GradientTape) and the moving statistics, over several training steps."""

import numpy as np
import pytest

import bncourse as bn
from bncourse.course.tolerances import assert_close

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")


def keras_step(layer, x, dy, **call):
    x_t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_t)
        y = layer(x_t, training=True, **call)
        loss = tf.reduce_sum(y * dy)
    dx, dgamma, dbeta = tape.gradient(loss, [x_t, layer.gamma, layer.beta])
    return y.numpy(), bn.Gradients(dx.numpy(), dgamma.numpy(), dbeta.numpy())


@pytest.mark.parametrize(("r_max", "d_max"), [(1.5, 0.5), (3.0, 5.0), (1.0, 0.0)])
def test_batch_renorm_matches_keras(r_max: float, d_max: float) -> None:
    rng = np.random.default_rng(0)
    ours = bn.BatchRenorm(3, eps=1e-3, momentum=0.1, r_max=r_max, d_max=d_max, axis=-1)
    theirs = keras.layers.BatchNormalization(
        renorm=True, renorm_clipping={"rmax": r_max, "rmin": 1 / r_max, "dmax": d_max},
        momentum=0.9, renorm_momentum=0.9, epsilon=1e-3, dtype="float64",
    )
    clipped = False
    for step in range(5):  # batches that drift, so r and d leave 1 and 0 and hit the limits
        x = rng.standard_normal((8, 3)) * (1 + step) + 2 * step
        dy = rng.standard_normal(x.shape)
        y_keras, grads_keras = keras_step(theirs, x, dy)
        y = ours(x, training=True)
        assert_close(y, y_keras)
        for a, b in zip(ours.backward(dy), grads_keras):
            assert_close(a, b)
        clipped |= bool(np.any(ours.r == r_max) or np.any(np.abs(ours.d) == d_max))
    assert clipped or r_max == 1.0
    assert_close(ours.running_std, theirs.moving_stddev.numpy())
    x = rng.standard_normal((4, 3))
    assert_close(ours(x, training=False), theirs(x, training=False).numpy())


def test_batch_renorm_with_r_1_and_d_0_is_batch_norm_and_unclipped_its_training_output_is_inference() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 2)) * 3 + 1
    plain = bn.BatchRenorm(2, r_max=1.0, d_max=0.0)
    assert_close(plain(x, training=True), bn.batch_norm(x, np.ones(2), np.zeros(2), eps=1e-3))
    free = bn.BatchRenorm(2, r_max=1e6, d_max=1e6)
    free.running_mean, free.running_std = np.array([0.5, -1.0]), np.array([2.0, 0.7])
    expected = (x - free.running_mean) / free.running_std
    assert_close(free(x, training=True), expected)


def test_renorm_limits_follow_the_paper_schedule() -> None:
    assert bn.renorm_limits(0) == (1.0, 0.0) and bn.renorm_limits(5000) == (1.0, 0.0)
    assert bn.renorm_limits(40000) == (3.0, 5.0) and bn.renorm_limits(10**6) == (3.0, 5.0)
    r, d = bn.renorm_limits(25000)
    assert d == 5.0 and r == pytest.approx(1 + 2 * 20000 / 35000)
    assert bn.renorm_limits(15, start=10, r_end=20, d_end=20, r_max=2.0, d_max=1.0) == (1.5, 0.5)


@pytest.mark.parametrize("convention", ["keras", "torch"])
def test_masked_batch_norm_matches_keras(convention: str) -> None:
    """Keras divides by (count + 1e-7) in its masked moments, hence float32 tolerances."""
    rng = np.random.default_rng(2)
    ours = bn.BatchNorm(3, convention=convention, momentum=0.9 if convention == "keras" else 0.1, eps=1e-3, axis=-1)
    theirs = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-3, dtype="float64")
    for step in range(3):
        x = rng.standard_normal((4, 6, 3)) * 2 + step  # (N, L, C): padded sequences
        mask = np.arange(6)[None, :] < rng.integers(2, 7, size=(4, 1))  # lengths 2..6
        x[~mask] = 100.0  # padding values that would wreck unmasked statistics
        dy = rng.standard_normal(x.shape)
        y_keras, grads_keras = keras_step(theirs, x, dy, mask=tf.constant(mask))
        assert_close(ours(x, training=True, mask=mask), y_keras, np.float32)
        for a, b in zip(ours.backward(dy), grads_keras):
            assert_close(a, b, np.float32)
    assert_close(ours.running_mean, theirs.moving_mean.numpy(), np.float32)
    if convention == "keras":
        assert_close(ours.running_var, theirs.moving_variance.numpy(), np.float32)


def test_masked_statistics_are_those_of_the_true_positions() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 2, 5))  # (N, C, L)
    mask = np.array([[True] * 5, [True] * 3 + [False] * 2, [True] * 2 + [False] * 3])
    layer = bn.BatchNorm(2, momentum=1.0)
    y = layer(x, training=True, mask=mask)
    kept = np.moveaxis(x, 1, -1)[mask]  # (10, C): the values that count
    np.testing.assert_allclose(layer.running_mean, kept.mean(0), rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, kept.var(0, ddof=1), rtol=1e-12)
    expected = (x - kept.mean(0)[None, :, None]) / np.sqrt(kept.var(0)[None, :, None] + 1e-5)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    all_true = bn.BatchNorm(2)(x, training=True, mask=np.ones((3, 5), dtype=bool))
    np.testing.assert_allclose(all_true, bn.BatchNorm(2)(x, training=True), rtol=1e-12, atol=1e-12)
