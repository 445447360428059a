"""Layer, group and instance norm against torch.nn.functional and Keras, forward and backward, on
hypothesis-drawn shapes; and the identities that tie them together."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import bncourse as bn
from bncourse.course.tolerances import assert_close

keras = pytest.importorskip("keras")


@st.composite
def grouped_batches(draw: st.DrawFn) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """(N, C, *spatial) float64 with C = groups × channels per group, at least 2 spatial elements."""
    groups, per_group = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    spatial = draw(st.lists(st.integers(1, 4), min_size=1, max_size=2).filter(lambda s: int(np.prod(s)) > 1))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    c = groups * per_group
    x = draw(st.sampled_from([0.0, 4.0])) + rng.uniform(0.5, 3) * rng.standard_normal((draw(st.integers(1, 4)), c, *spatial))
    return x, groups, rng.uniform(0.5, 2, c) * rng.choice([-1, 1], c), rng.standard_normal(c)


def torch_forward_backward(function, x, gamma, beta, dy):
    x_t = torch.from_numpy(x).requires_grad_(True)
    g_t, b_t = (torch.from_numpy(np.ascontiguousarray(v)).requires_grad_(True) for v in (gamma, beta))
    y = function(x_t, g_t, b_t)
    y.backward(torch.from_numpy(dy))
    return y.detach().numpy(), bn.Gradients(x_t.grad.numpy(), g_t.grad.numpy(), b_t.grad.numpy())


def assert_same(ours_y, ours: bn.Gradients, y, theirs: bn.Gradients) -> None:
    assert_close(ours_y, y)
    for a, b in zip(ours, theirs):
        assert_close(a, b)


@settings(max_examples=25)
@given(grouped_batches(), st.integers(0, 2**31 - 1))
def test_group_norm_matches_torch(batch, seed: int) -> None:
    x, groups, gamma, beta = batch
    dy = np.random.default_rng(seed).standard_normal(x.shape)
    y, grads = torch_forward_backward(lambda a, g, b: torch.nn.functional.group_norm(a, groups, g, b), x, gamma, beta, dy)
    assert_same(bn.group_norm(x, groups, gamma, beta), bn.group_norm_backward(dy, x, groups, gamma, beta), y, grads)


@settings(max_examples=25)
@given(grouped_batches(), st.integers(0, 2**31 - 1))
def test_instance_norm_matches_torch(batch, seed: int) -> None:
    x, _, gamma, beta = batch
    dy = np.random.default_rng(seed).standard_normal(x.shape)
    y, grads = torch_forward_backward(
        lambda a, g, b: torch.nn.functional.instance_norm(a, weight=g, bias=b), x, gamma, beta, dy
    )
    assert_same(bn.instance_norm(x, gamma, beta), bn.instance_norm_backward(dy, x, gamma, beta), y, grads)


@settings(max_examples=25)
@given(grouped_batches(), st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_layer_norm_matches_torch(batch, trailing: int, seed: int) -> None:
    x = batch[0]
    k = min(trailing, x.ndim - 1)
    shape = x.shape[x.ndim - k :]
    rng = np.random.default_rng(seed)
    gamma, beta, dy = rng.uniform(0.5, 2, shape), rng.standard_normal(shape), rng.standard_normal(x.shape)
    y, grads = torch_forward_backward(lambda a, g, b: torch.nn.functional.layer_norm(a, shape, g, b), x, gamma, beta, dy)
    assert_same(bn.layer_norm(x, shape, gamma, beta), bn.layer_norm_backward(dy, x, shape, gamma, beta), y, grads)


def test_nn_modules_agree_and_parameters_default_to_ones_and_zeros() -> None:
    x = np.random.default_rng(0).standard_normal((2, 6, 5)) + 3
    with torch.no_grad():
        assert_close(bn.group_norm(x, 2), torch.nn.GroupNorm(2, 6, dtype=torch.float64)(torch.from_numpy(x)).numpy())
        assert_close(bn.instance_norm(x), torch.nn.InstanceNorm1d(6, dtype=torch.float64)(torch.from_numpy(x)).numpy())
        assert_close(bn.layer_norm(x, 5), torch.nn.LayerNorm(5, dtype=torch.float64)(torch.from_numpy(x)).numpy())


def test_channels_last_matches_keras_group_and_layer_normalization() -> None:
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((3, 4, 5, 6)) * 2 - 1).astype(np.float32)  # (N, H, W, C)
    gamma, beta = rng.uniform(0.5, 2, 6).astype(np.float32), rng.standard_normal(6).astype(np.float32)
    group = keras.layers.GroupNormalization(groups=3, epsilon=1e-3)
    group.build(x.shape)
    group.set_weights([gamma, beta])
    assert_close(bn.group_norm(x, 3, gamma, beta, eps=1e-3, axis=-1), np.asarray(group(x)))
    layer = keras.layers.LayerNormalization(axis=-1, epsilon=1e-3)
    layer.build(x.shape)
    layer.set_weights([gamma, beta])
    assert_close(bn.layer_norm(x, 6, gamma, beta, eps=1e-3), np.asarray(layer(x)))


@settings(max_examples=15)
@given(grouped_batches())
def test_group_norm_with_one_group_is_layer_norm_and_with_c_groups_instance_norm(batch) -> None:
    x, _, gamma, beta = batch
    c = x.shape[1]
    whole = bn.layer_norm(x, x.shape[1:])  # one mean and variance per sample over (C, spatial)
    per_channel = gamma.reshape(1, c, *[1] * (x.ndim - 2)), beta.reshape(1, c, *[1] * (x.ndim - 2))
    assert_close(bn.group_norm(x, 1, gamma, beta), whole * per_channel[0] + per_channel[1])
    assert_close(bn.group_norm(x, c, gamma, beta), bn.instance_norm(x, gamma, beta))


def test_per_sample_norms_do_not_depend_on_the_rest_of_the_batch() -> None:
    x = np.random.default_rng(2).standard_normal((5, 4, 3))
    for norm in (lambda a: bn.layer_norm(a, (4, 3)), lambda a: bn.group_norm(a, 2), bn.instance_norm):
        whole = norm(x)
        assert_close(np.concatenate([norm(x[i : i + 1]) for i in range(5)]), whole)
    assert not np.allclose(bn.batch_norm(x[:2], np.ones(4), np.zeros(4)), bn.batch_norm(x, np.ones(4), np.zeros(4))[:2])
