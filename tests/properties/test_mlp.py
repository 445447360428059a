"""The NumPy MLP the chapters train: gradients, determinism, learning, divergence, bad input."""

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import bncourse as bn
from bncourse.course import data, mlp, training
from bncourse.course.activations import get_activation
from bncourse.gradcheck import numerical_gradient
from bncourse.course.tolerances import FINITE_DIFFERENCE_TOLERANCE


def assert_mlp_gradients_match_finite_differences(
    model: Any, rng: np.random.Generator, *, rows: int = 6, reset: Callable[[], None] = lambda: None
) -> None:
    """Give every normalization non-trivial γ, β (so their gradients are tested too), then compare every
    parameter's backpropagated gradient with centred finite differences of the cross-entropy. ``reset`` runs
    before every forward pass (to replay the same random draws: dropout masks, BN noise)."""
    x, labels = rng.standard_normal((rows, model.dense[0].weight.shape[0])), rng.integers(0, 3, rows)
    for norm in model.norms:
        norm.gamma[:] = rng.uniform(0.5, 2.0, norm.gamma.shape)
        norm.beta[:] = rng.standard_normal(norm.beta.shape)

    def loss() -> float:
        reset()
        return training.softmax_cross_entropy(model.forward(x, training=True), labels)[0]

    reset()
    _, dlogits = training.softmax_cross_entropy(model.forward(x, training=True), labels)
    model.backward(dlogits)
    analytic = [gradient.copy() for _, gradient in model.parameters()]
    for (parameter, _), gradient in zip(model.parameters(), analytic):
        np.testing.assert_allclose(gradient, numerical_gradient(loss, parameter), **FINITE_DIFFERENCE_TOLERANCE)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_mlp_gradients_match_finite_differences(activation: str, batch_norm: bool) -> None:
    model = mlp.MLP([4, 5, 5, 3], activation=activation, batch_norm=batch_norm, seed=1)
    assert_mlp_gradients_match_finite_differences(model, np.random.default_rng(0))
    assert len(model.pre_activation_grads) == len(model.pre_activations) == 2


def test_training_is_deterministic_and_learns() -> None:
    split = data.digits()
    runs = []
    for _ in range(2):
        model = mlp.MLP([64, 32, 10], batch_norm=True, seed=3)
        runs.append(training.train(model, split.x_train, split.y_train, steps=60, batch_size=30, learning_rate=0.1,
                              x_test=split.x_test, y_test=split.y_test, eval_every=30, seed=4))
    assert runs[0].loss == runs[1].loss and runs[0].test_accuracy == runs[1].test_accuracy
    assert np.mean(runs[0].loss[-10:]) < 0.5 * np.mean(runs[0].loss[:10])
    assert runs[0].eval_steps == [30, 60] and runs[0].test_accuracy[-1] > 0.8


@pytest.mark.parametrize("batch_norm", [False, True])
def test_divergence_stops_training_with_a_nan(batch_norm: bool) -> None:
    split = data.digits()
    model = mlp.MLP([64, 32, 10], activation="relu", batch_norm=batch_norm, init_scale=10.0, seed=0)
    history = training.train(model, split.x_train, split.y_train, steps=50, batch_size=30, learning_rate=1e300)
    assert np.isnan(history.loss[-1]) and len(history.loss) < 50


def test_mlp_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="sizes must hold at least two layer sizes"):
        mlp.MLP([4])
    with pytest.raises(ValueError, match=r"sizes\[1\] must be an int >= 1, got 0"):
        mlp.MLP([4, 0, 2])
    with pytest.raises(TypeError, match=r"sizes\[1\] must be an int, got float"):
        mlp.MLP([4, 2.0, 2])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="activation must be 'tanh' or 'sigmoid' or 'relu', got 'gelu'"):
        mlp.MLP([4, 2], activation="gelu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="init_scale must be a finite number > 0"):
        mlp.MLP([4, 2], init_scale=0)
    with pytest.raises(ValueError, match=r"x must have 4 features, got shape \(3, 5\)"):
        mlp.MLP([4, 2]).forward(np.ones((3, 5)), training=False)
    with pytest.raises(RuntimeError, match="backward"):
        mlp.Dense(np.ones((2, 2)), np.zeros(2)).backward(np.ones((1, 2)))


def test_digits_split_is_standardized_stratified_and_reproducible() -> None:
    split = data.digits(seed=1)
    assert split.x_train.shape == (1257, 64) and split.x_test.shape == (540, 64)
    np.testing.assert_allclose(split.x_train.mean(0), 0, atol=1e-12)
    assert set(np.bincount(split.y_test)) <= {52, 53, 54, 55}  # stratified: 30 % of ~180 per digit
    assert np.array_equal(data.digits(seed=1).x_test, split.x_test)
    assert data.digits(images=True).x_train.shape == (1257, 1, 8, 8)
    with pytest.raises(ValueError, match="test_fraction"):
        data.digits(test_fraction=1.0)


def test_recalibration_gives_algorithm_2_statistics_of_each_layer_input() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 4))
    model = mlp.MLP([4, 6, 5, 3], batch_norm=True, momentum=0.1, seed=2)
    model.forward(x[:10], training=True)  # stale running statistics
    model.recalibrate(x, batch_size=8)
    first = model.dense[0]
    assert first.bias is None  # BN's β replaces the bias of the layer before it
    batches = [x[i : i + 8] @ first.weight for i in range(0, 40, 8)]
    mean, var = bn.population_statistics(batches)
    np.testing.assert_allclose(model.norms[0].running_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(model.norms[0].running_var, var, rtol=1e-12)
    assert [norm.momentum for norm in model.norms] == [0.1, 0.1]
    assert model.norms[1].num_batches_tracked == 5
    with pytest.raises(ValueError, match=r"batch_size must be an int in \[2, 40\], got 1"):
        model.recalibrate(x, batch_size=1)


def test_saturation_masks() -> None:
    h = np.array([-1.0, -0.995, 0.0, 0.005, 0.5, 0.995])
    assert get_activation("tanh").saturated(h).tolist() == [True, True, False, False, False, True]
    assert get_activation("sigmoid").saturated(h).tolist() == [True, True, True, True, False, True]
    assert get_activation("relu").saturated(h).tolist() == [False, False, True, False, False, False]


def test_layer_statistics_of_a_deep_sigmoid_network_show_vanishing_gradients() -> None:
    """The chapters' claim, as a test: without BN the first layer's gradient is orders of magnitude
    smaller than the last one's; with BN they are within a factor of a few."""
    split = data.digits()
    x, labels = split.x_train[:100], split.y_train[:100]
    ratios = {}
    for batch_norm in (False, True):
        model = mlp.MLP([64] + [50] * 8 + [10], activation="sigmoid", batch_norm=batch_norm, seed=0)
        stats = training.layer_statistics(model, x, labels)
        assert len(stats.activations) == len(stats.weight_grad_norms) == len(stats.saturated_share) == 8
        assert stats.pre_activation_grads[0].shape == (100, 50) and stats.loss > 2.0
        ratios[batch_norm] = stats.weight_grad_norms[0] / stats.weight_grad_norms[-1]
    assert ratios[False] < 1e-3 and 0.2 < ratios[True] < 5


def test_layers_before_batch_norm_have_no_bias() -> None:
    # A bias before BN is subtracted again with the batch mean: it would only add a parameter whose
    # gradient is zero up to round-off. BN's β plays its part.
    plain, normed = (mlp.MLP([4, 6, 5, 3], batch_norm=use_bn, seed=0) for use_bn in (False, True))
    assert all(layer.bias is not None for layer in plain.dense)
    assert [layer.bias is None for layer in normed.dense] == [True, True, False]
    assert len(plain.parameters()) == 6 and len(normed.parameters()) == 3 + 1 + 2 * 2


NORMS = {
    "layer": lambda width: bn.LayerNorm(width),
    "group": lambda width: bn.GroupNorm(5, width),
    "renorm as BN": lambda width: bn.BatchRenorm(width, r_max=1.0, d_max=0.0),
}


@pytest.mark.parametrize("name", NORMS)
def test_mlp_with_other_normalizations_has_the_right_gradients(name: str) -> None:
    model = mlp.MLP([4, 5, 5, 3], activation="tanh", norm=NORMS[name], seed=2)
    assert_mlp_gradients_match_finite_differences(model, np.random.default_rng(1))
    assert all(layer.bias is None for layer in model.dense[:-1])


def test_mlp_norm_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="give batch_norm=True or norm, not both"):
        mlp.MLP([4, 5, 3], batch_norm=True, norm=NORMS["layer"])
    with pytest.raises(TypeError, match="norm must be callable"):
        mlp.MLP([4, 5, 3], norm="layer")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="recalibrate\\(\\) needs BatchNorm layers"):
        mlp.MLP([4, 5, 3], norm=NORMS["layer"]).recalibrate(np.ones((8, 4)), batch_size=4)
