"""The Convention objects: each rule of the table in bncourse.convention, and a layer that follows it."""

import numpy as np
import pytest

import bncourse as bn
from bncourse.convention import complement_momentum, require_convention


def test_the_two_conventions_state_the_frameworks_defaults() -> None:
    assert (bn.TORCH.eps, bn.TORCH.momentum, bn.TORCH.axis) == (1e-5, 0.1, 1)
    assert (bn.KERAS.eps, bn.KERAS.momentum, bn.KERAS.axis) == (1e-3, 0.99, -1)
    assert bn.CONVENTIONS == {"torch": bn.TORCH, "keras": bn.KERAS}
    assert str(bn.TORCH) == "torch" and require_convention("keras") is bn.KERAS and require_convention(bn.KERAS) is bn.KERAS
    layer = bn.BatchNorm(4, convention="keras")
    assert (layer.eps, layer.momentum, layer.axis) == (1e-3, 0.99, -1)


@pytest.mark.parametrize("t", [1, 2, 7])
def test_one_running_update_in_each_convention(t: int) -> None:
    """r ← (1 − w) r + w b, with w = momentum (torch), 1 − momentum (keras), 1/t (torch, None)."""
    rng = np.random.default_rng(t)
    x = rng.standard_normal((5, 3)) * 2 + 1
    m = x.shape[0]
    start_mean, start_var = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    for convention, momentum, weight, stored_var in [
        (bn.TORCH, 0.3, 0.3, x.var(0, ddof=1)),
        (bn.TORCH, None, 1 / t, x.var(0, ddof=1)),
        (bn.KERAS, 0.8, 1 - 0.8, x.var(0)),
    ]:
        layer = bn.BatchNorm(3, convention=convention, momentum=momentum, axis=1)
        state = {**layer.state_dict(), "running_mean": start_mean, "running_var": start_var}
        layer.load_state_dict({**state, "num_batches_tracked": t - 1})
        layer(x, training=True)
        np.testing.assert_allclose(layer.running_mean, (1 - weight) * start_mean + weight * x.mean(0), rtol=1e-12)
        np.testing.assert_allclose(layer.running_var, (1 - weight) * start_var + weight * stored_var, rtol=1e-12)
        np.testing.assert_allclose(convention.stored_variance(x.var(0), m), stored_var, rtol=1e-12)


def test_equal_weight_momentum_averages_every_batch_alike() -> None:
    batches = [np.random.default_rng(s).standard_normal((4, 2)) * (s + 1) + s for s in range(6)]
    for convention in (bn.TORCH, bn.KERAS):
        layer = bn.BatchNorm(2, convention=convention, axis=1)
        for t, batch in enumerate(batches, start=1):
            layer.momentum = convention.equal_weight_momentum(t)
            layer(batch, training=True)
        np.testing.assert_allclose(layer.running_mean, np.mean([b.mean(0) for b in batches], axis=0), rtol=1e-12)
        ddof = 1 if convention.stores_unbiased_variance else 0
        expected_var = np.mean([b.var(0, ddof=ddof) for b in batches], axis=0)
        np.testing.assert_allclose(layer.running_var, expected_var, rtol=1e-12)


def test_momentum_translates_both_ways_and_round_trips_exactly() -> None:
    for momentum in (0.1, 0.01, 0.3, 0.0, 1.0):
        keras_momentum = bn.TORCH.translate_momentum(momentum, bn.KERAS)
        assert keras_momentum == complement_momentum(momentum)
        assert bn.KERAS.translate_momentum(keras_momentum, bn.TORCH) == momentum
        assert bn.TORCH.translate_momentum(momentum, bn.TORCH) == momentum
    assert bn.TORCH.translate_momentum(None, bn.TORCH) is None
    with pytest.raises(ValueError, match="momentum=None .* has no keras equivalent"):
        bn.TORCH.translate_momentum(None, bn.KERAS)


@pytest.mark.parametrize(
    ("convention", "value", "error", "message"),
    [
        ("keras", None, ValueError, r"momentum=None \(cumulative average\) exists only with convention='torch'"),
        ("torch", 1.5, ValueError, r"momentum must be in \[0, 1\], got 1.5"),
        ("torch", "0.1", TypeError, r"momentum must be a real number in \[0, 1\], got str"),
        ("keras", True, TypeError, r"momentum must be a real number in \[0, 1\], got bool"),
    ],
)
def test_momentum_is_checked_on_assignment(convention: str, value: object, error: type, message: str) -> None:
    layer = bn.BatchNorm(2, convention=convention)
    before = layer.momentum
    with pytest.raises(error, match=message):
        layer.momentum = value  # type: ignore[assignment]
    assert layer.momentum == before
    layer(np.ones((3, 2)) * [[1.0], [2.0], [4.0]], training=True)  # the layer still trains


def test_an_unknown_convention_is_refused() -> None:
    with pytest.raises(ValueError, match=r"convention must be 'torch' or 'keras' \(or a Convention\), got 'jax'"):
        require_convention("jax")
    with pytest.raises(TypeError, match="convention must be a str or a Convention, got int"):
        bn.BatchNorm(2, convention=5)  # type: ignore[arg-type]


def test_a_layer_keeps_its_convention() -> None:
    layer = bn.BatchNorm(2, momentum=None)
    with pytest.raises(AttributeError):
        layer.convention = bn.KERAS  # type: ignore[misc]
    assert layer.convention is bn.TORCH and layer.momentum is None
