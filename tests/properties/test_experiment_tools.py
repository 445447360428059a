"""The tools of the optimization chapter: noisy and ghost BN, dropout, weight decay, schedules, the residual
MLP, and Santurkar et al.'s landscape and covariate-shift measurements. Gradients against finite
differences; behaviour against a direct computation; every function leaves the model as it was."""

import copy

import numpy as np
import pytest

import bncourse as bn
from bncourse.course import batch_noise, data, landscape, mlp, resnet, training
from bncourse.course.tolerances import FINITE_DIFFERENCE_TOLERANCE, assert_close
from bncourse.gradcheck import numerical_gradient
from tests.properties.test_mlp import assert_mlp_gradients_match_finite_differences


def test_noisy_batch_norm_gradients_replaying_the_same_noise() -> None:
    layers: list[batch_noise.NoisyBatchNorm] = []

    def make(width: int) -> batch_noise.NoisyBatchNorm:
        layers.append(batch_noise.NoisyBatchNorm(width, shift=1.0, scale=3.0, seed=len(layers)))
        return layers[-1]

    model = mlp.MLP([4, 5, 5, 3], norm=make, seed=2)

    def reset() -> None:
        for index, layer in enumerate(layers):
            layer._rng = np.random.default_rng(index)

    assert_mlp_gradients_match_finite_differences(model, np.random.default_rng(3), reset=reset)


def test_noisy_batch_norm_distorts_training_output_anew_each_step_and_never_inference() -> None:
    x = np.random.default_rng(0).standard_normal((32, 6))
    noisy, plain = batch_noise.NoisyBatchNorm(6, shift=0.5, scale=2.0, seed=1), bn.BatchNorm(6)
    first, second = noisy(x, training=True), noisy(x, training=True)
    reference = plain(x, training=True)
    plain(x, training=True)
    # Per unit, the output is an affine map of BN's: scale in [1/2, 2], shift in [-0.5, 0.5].
    for y in (first, second):
        scale = y.std(axis=0) / reference.std(axis=0)
        shift = y.mean(axis=0)
        assert np.all((scale >= 0.5) & (scale <= 2.0)) and np.all(np.abs(shift) <= 0.5)
    assert not np.allclose(first, second)
    assert_close(noisy.running_mean, plain.running_mean)
    assert_close(noisy(x, training=False), plain(x, training=False))


@pytest.mark.parametrize("ghost", [2, 3, 6])
def test_ghost_batch_norm_normalizes_each_ghost_batch_and_has_the_right_gradients(ghost: int) -> None:
    rng = np.random.default_rng(ghost)
    x, dy = rng.normal(3.0, 2.0, (12, 4)), rng.standard_normal((12, 4))
    layer = batch_noise.GhostBatchNorm(4, ghost_batch_size=ghost)
    layer.gamma[:], layer.beta[:] = rng.uniform(0.5, 2, 4), rng.standard_normal(4)
    y = layer(x, training=True)
    for start in range(0, 12, ghost):
        expected = bn.batch_norm(x[start : start + ghost], layer.gamma, layer.beta, eps=layer.eps)
        assert_close(y[start : start + ghost], expected)
    # Running statistics: momentum 0.1 towards the mean of the ghosts' means and unbiased variances.
    ghosts = x.reshape(-1, ghost, 4)
    assert_close(layer.running_mean, 0.1 * ghosts.mean(axis=1).mean(axis=0))
    assert_close(layer.running_var, 0.9 + 0.1 * ghosts.var(axis=1, ddof=1).mean(axis=0))
    dx, dgamma, dbeta = layer.backward(dy)

    def loss() -> float:
        return float(np.sum(dy * layer(x, training=True)))

    tolerance = FINITE_DIFFERENCE_TOLERANCE
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), **tolerance)
    np.testing.assert_allclose(dgamma, numerical_gradient(loss, layer.gamma), **tolerance)
    np.testing.assert_allclose(dbeta, numerical_gradient(loss, layer.beta), **tolerance)


def test_a_ghost_batch_as_large_as_the_batch_is_batch_norm() -> None:
    x = np.random.default_rng(1).standard_normal((8, 3))
    ghost, plain = batch_noise.GhostBatchNorm(3, ghost_batch_size=8), bn.BatchNorm(3)
    assert_close(ghost(x, training=True), plain(x, training=True))
    assert_close(ghost.running_var, plain.running_var)
    dy = np.random.default_rng(2).standard_normal((8, 3))
    for a, b in zip(ghost.backward(dy), plain.backward(dy)):
        assert_close(a, b)


def test_dropout_gradients_replaying_the_same_masks_and_inference_without_dropout() -> None:
    model = mlp.MLP([4, 5, 5, 3], activation="relu", batch_norm=True, dropout=[0.5, 0.3], seed=1)

    def reset() -> None:
        model._dropout_rng = np.random.default_rng(7)

    assert_mlp_gradients_match_finite_differences(model, np.random.default_rng(4), rows=8, reset=reset)
    x = np.random.default_rng(5).standard_normal((8, 4))
    twin = mlp.MLP([4, 5, 5, 3], activation="relu", batch_norm=True, seed=1)
    for source, target in zip(model.parameters(), twin.parameters()):
        target[0][...] = source[0]
    for source_norm, target_norm in zip(model.norms, twin.norms):
        target_norm.running_mean, target_norm.running_var = source_norm.running_mean, source_norm.running_var
    assert_close(model.forward(x, training=False), twin.forward(x, training=False))
    # Inverted dropout: kept units are scaled by 1/(1 - p), so the mean activation is unchanged on average.
    model.forward(np.random.default_rng(6).standard_normal((4000, 4)), training=True)
    kept = model._dropout_masks[0]
    assert kept is not None and set(np.unique(kept)) == {0.0, 2.0} and abs(kept.mean() - 1.0) < 0.05


def test_recalibration_switches_dropout_off() -> None:
    x = data.digits().x_train[:120]
    with_dropout = mlp.MLP([64, 8, 8, 10], batch_norm=True, dropout=0.5, seed=0)
    without = mlp.MLP([64, 8, 8, 10], batch_norm=True, seed=0)
    for model in (with_dropout, without):
        model.recalibrate(x, batch_size=60)
    for a, b in zip(with_dropout.norms, without.norms):
        assert_close(a.running_var, b.running_var)


def test_weight_decay_shrinks_only_dense_weights_and_schedules_set_each_step() -> None:
    model = mlp.MLP([3, 4, 2], batch_norm=True, seed=0)
    before = [p.copy() for p, _ in model.parameters()]
    for _, gradient in model.parameters():
        gradient[...] = 1.0
    model.sgd_step(0.1, weight_decay=0.5)
    weights = {id(layer.weight) for layer in model.dense}
    for (parameter, _), old in zip(model.parameters(), before):
        expected = old - 0.1 * (1.0 + 0.5 * old) if id(parameter) in weights else old - 0.1
        assert_close(parameter, expected)
    split = data.digits()
    seen: list[int] = []

    def schedule(step: int) -> float:
        seen.append(step)
        return 0.1

    training.train(mlp.MLP([64, 10], seed=0), split.x_train, split.y_train, steps=5, batch_size=10,
                   learning_rate=schedule)
    assert seen == [1, 2, 3, 4, 5]


def test_without_reshuffling_every_epoch_repeats_the_same_batches() -> None:
    fixed = [b.tolist() for b in training.minibatches(10, 6, 5, np.random.default_rng(0), reshuffle=False)]
    assert fixed[0::2] == [fixed[0]] * 3 and fixed[1::2] == [fixed[1]] * 3
    shuffled = [b.tolist() for b in training.minibatches(10, 6, 5, np.random.default_rng(0))]
    assert shuffled[:2] == fixed[:2] and shuffled[2:] != fixed[2:]


@pytest.mark.parametrize("options", [{"batch_norm": False}, {}, {"zero_init_residual": True}])
def test_residual_mlp_gradients_match_finite_differences(options: dict[str, bool]) -> None:
    rng = np.random.default_rng(0)
    model = resnet.ResidualMLP(4, 5, 3, blocks=2, seed=1, **options)
    for block in model.blocks:
        for norm in block.norms:  # non-trivial γ, β (the zero-init γ too: its gradient is what starts it)
            norm.beta[:] = rng.standard_normal(5)
    x, labels = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)

    def loss() -> float:
        return training.softmax_cross_entropy(model.forward(x, training=True), labels)[0]

    _, dlogits = training.softmax_cross_entropy(model.forward(x, training=True), labels)
    model.backward(dlogits)
    for parameter, gradient in model.parameters():
        np.testing.assert_allclose(gradient.copy(), numerical_gradient(loss, parameter), **FINITE_DIFFERENCE_TOLERANCE)


def test_zero_init_residual_blocks_start_as_the_identity_and_the_model_trains() -> None:
    split = data.digits()
    model = resnet.ResidualMLP(64, 32, 10, blocks=3, zero_init_residual=True, seed=0)
    model.forward(split.x_train[:60], training=True)
    for h in model.stream[1:]:
        np.testing.assert_array_equal(h, model.stream[0])
    history = training.train(model, split.x_train, split.y_train, steps=150, batch_size=60, learning_rate=0.05,
                             x_test=split.x_test, y_test=split.y_test, eval_every=150)
    assert history.test_accuracy[-1] > 0.85


def test_probe_along_the_gradient_is_first_order_correct_and_leaves_the_model_alone() -> None:
    split = data.digits()
    model = mlp.MLP([64, 16, 16, 10], batch_norm=True, seed=0)
    x, y = split.x_train[:60], split.y_train[:60]
    saved = copy.deepcopy(model)
    probe = landscape.probe_gradient_direction(model, x, y, [1e-4, 2e-4])
    # L(w - ηg) ≈ L(w) - η‖g‖², and the gradient changes linearly in η.
    predicted = probe.loss - probe.step_sizes * probe.gradient_norm**2
    np.testing.assert_allclose(probe.losses, predicted, rtol=0, atol=1e-6)
    np.testing.assert_allclose(probe.gradient_changes[1] / probe.gradient_changes[0], 2.0, rtol=1e-3)
    assert probe.loss_variation == pytest.approx(probe.loss - probe.losses.min())
    for (a, _), (b, _) in zip(model.parameters(), saved.parameters()):
        np.testing.assert_array_equal(a, b)
    for a_norm, b_norm in zip(model.norms, saved.norms):
        np.testing.assert_array_equal(a_norm.running_mean, b_norm.running_mean)


def test_internal_covariate_shift_is_the_gradient_change_after_the_layers_below_step() -> None:
    split = data.digits()
    model = mlp.MLP([64, 8, 8, 10], batch_norm=True, seed=0)
    x, y = split.x_train[:30], split.y_train[:30]
    shift = landscape.internal_covariate_shift(model, x, y, 0.5)
    assert len(shift.l2) == len(shift.cosine) == 2
    # Direct computation for the output layer: every hidden layer's parameters take their SGD step.
    direct = copy.deepcopy(model)
    training.layer_statistics(direct, x, y)
    before = direct.dense[2].dweight.copy()
    hidden = [direct.dense[0].weight, direct.dense[1].weight] + [p for n in direct.norms for p in (n.gamma, n.beta)]
    grads = [direct.dense[0].dweight, direct.dense[1].dweight] + [g for n in direct.norms for g in (n.dgamma, n.dbeta)]
    steps = [0.5 * g.copy() for g in grads]
    for parameter, step in zip(hidden, steps):
        parameter -= step
    training.layer_statistics(direct, x, y)
    after = direct.dense[2].dweight
    assert shift.l2[1] == pytest.approx(float(np.linalg.norm(after - before)), rel=1e-12)
    assert shift.relative[1] == pytest.approx(shift.l2[1] / float(np.linalg.norm(before)), rel=1e-12)
    # A learning rate near 0 moves nothing: no shift, gradients parallel.
    tiny = landscape.internal_covariate_shift(model, x, y, 1e-9)
    assert max(tiny.relative) < 1e-6 and min(tiny.cosine) > 1 - 1e-9


def test_experiment_tools_check_their_arguments() -> None:
    with pytest.raises(ValueError, match="scale must be >= 1"):
        batch_noise.NoisyBatchNorm(3, scale=0.5)
    with pytest.raises(ValueError, match="shift must be a finite number >= 0"):
        batch_noise.NoisyBatchNorm(3, shift=-1.0)
    layer = batch_noise.GhostBatchNorm(3, ghost_batch_size=4)
    with pytest.raises(ValueError, match="a multiple of ghost_batch_size=4"):
        layer(np.zeros((6, 3)), training=True)
    assert layer.num_batches_tracked == 0
    with pytest.raises(ValueError, match="ghost_batch_size must be"):
        batch_noise.GhostBatchNorm(3, ghost_batch_size=1)
    with pytest.raises(ValueError, match=r"dropout\[1\] must be in \[0, 1\)"):
        mlp.MLP([3, 4, 4, 2], dropout=[0.5, 1.0])
    with pytest.raises(ValueError, match="one rate or one per hidden layer"):
        mlp.MLP([3, 4, 4, 2], dropout=[0.5])
    with pytest.raises(ValueError, match="weight_decay must be a finite number >= 0"):
        mlp.MLP([3, 2]).sgd_step(0.1, weight_decay=-1.0)
    with pytest.raises(ValueError, match="zero_init_residual=True needs batch_norm=True"):
        resnet.ResidualMLP(3, 4, 2, blocks=1, batch_norm=False, zero_init_residual=True)
    model = mlp.MLP([3, 4, 2], seed=0)
    with pytest.raises(ValueError, match="step_sizes must hold at least one value"):
        landscape.probe_gradient_direction(model, np.zeros((4, 3)), [0, 1, 0, 1], [])
    with pytest.raises(ValueError, match=r"step_sizes\[1\] must be a finite number > 0"):
        landscape.probe_gradient_direction(model, np.zeros((4, 3)), [0, 1, 0, 1], [0.1, -0.1])
