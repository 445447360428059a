"""bncourse against torch.nn.BatchNorm1d/2d/3d: outputs, running statistics, gradients."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import bncourse as bn
from tests.strategies import Case, cases
from bncourse.course.tolerances import assert_close

TORCH_DTYPE = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def torch_bn(case: Case, momentum: float | None = 0.1) -> torch.nn.Module:
    """The torch module for the batch's rank, with the case's gamma and beta."""
    module_type = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d, 5: torch.nn.BatchNorm3d}
    channels = case.gamma.shape[0]
    module = module_type[case.x.ndim](channels, momentum=momentum, dtype=TORCH_DTYPE[case.x.dtype])
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(case.gamma))
        module.bias.copy_(torch.from_numpy(case.beta))
    return module


def as_torch_layout(x: np.ndarray, axis: int) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, axis, 1)))


def from_torch_layout(t: torch.Tensor, axis: int) -> np.ndarray:
    return np.moveaxis(t.detach().numpy(), 1, axis)


@given(cases())
def test_training_output_matches_torch(case: Case) -> None:
    expected = from_torch_layout(torch_bn(case).train()(as_torch_layout(case.x, case.axis)), case.axis)
    actual = bn.batch_norm(case.x, case.gamma, case.beta, eps=1e-5, axis=case.axis)
    assert actual.dtype == case.x.dtype
    assert_close(actual, expected)


@given(cases(), st.integers(0, 2**31 - 1))
def test_inference_output_matches_torch(case: Case, seed: int) -> None:
    rng = np.random.default_rng(seed)
    channels = case.gamma.shape[0]
    mean = rng.standard_normal(channels).astype(case.x.dtype)
    var = rng.uniform(0.1, 3.0, channels).astype(case.x.dtype)
    module = torch_bn(case)
    module.running_mean.copy_(torch.from_numpy(mean))
    module.running_var.copy_(torch.from_numpy(var))
    expected = from_torch_layout(module.eval()(as_torch_layout(case.x, case.axis)), case.axis)
    actual = bn.batch_norm(case.x, case.gamma, case.beta, axis=case.axis, mean=mean, var=var)
    assert_close(actual, expected)


@pytest.mark.parametrize("momentum", [0.1, 0.35, 1.0, 0.0, None])
@given(case=cases(max_rank=4))
def test_running_statistics_match_torch_over_several_steps(case: Case, momentum: float | None) -> None:
    module = torch_bn(case, momentum=momentum).train()
    layer = bn.BatchNorm(case.gamma.shape[0], momentum=momentum, axis=case.axis, dtype=case.x.dtype)
    layer.gamma, layer.beta = case.gamma.copy(), case.beta.copy()
    for step in range(4):
        x = case.batch_at(step)
        assert_close(layer(x, training=True), from_torch_layout(module(as_torch_layout(x, case.axis)), case.axis))
    assert_close(layer.running_mean, module.running_mean.numpy())
    assert_close(layer.running_var, module.running_var.numpy())
    assert layer.num_batches_tracked == int(module.num_batches_tracked) == 4
    module.eval()
    assert_close(layer(case.x, training=False), from_torch_layout(module(as_torch_layout(case.x, case.axis)), case.axis))


@given(cases(dtypes=(np.float64,)), st.integers(0, 2**31 - 1))
def test_gradients_match_torch_autograd(case: Case, seed: int) -> None:
    dy = np.random.default_rng(seed).standard_normal(case.x.shape)
    x_t = as_torch_layout(case.x, case.axis).requires_grad_(True)
    module = torch_bn(case).train()
    module(x_t).backward(as_torch_layout(dy, case.axis))
    dx, dgamma, dbeta = bn.batch_norm_backward(dy, case.x, case.gamma, axis=case.axis)
    assert_close(dx, from_torch_layout(x_t.grad, case.axis))
    assert_close(dgamma, module.weight.grad.numpy())
    assert_close(dbeta, module.bias.grad.numpy())


def test_gradients_match_torch_in_float32() -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((8, 3, 5, 5)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    gamma = rng.uniform(0.5, 2, 3).astype(np.float32)
    case = Case(x, gamma, np.zeros(3, np.float32), 1)
    x_t = torch.from_numpy(x).requires_grad_(True)
    module = torch_bn(case).train()
    module(x_t).backward(torch.from_numpy(dy))
    dx, dgamma, dbeta = bn.batch_norm_backward(dy, x, gamma)
    assert dx.dtype == np.float32 and dgamma.dtype == np.float32
    assert_close(dx, x_t.grad.numpy())
    assert_close(dgamma, module.weight.grad.numpy(), np.float32)
    assert_close(dbeta, module.bias.grad.numpy(), np.float32)


def test_layer_backward_matches_torch_after_a_training_call() -> None:
    rng = np.random.default_rng(3)
    x, dy = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    layer = bn.BatchNorm(4)
    layer.gamma = rng.uniform(0.5, 2, 4)
    module = torch_bn(Case(x, layer.gamma, layer.beta, 1)).train()
    x_t = torch.from_numpy(x).requires_grad_(True)
    module(x_t).backward(torch.from_numpy(dy))
    layer(x, training=True)
    layer(x + 100, training=False)  # an inference call in between must not change what backward uses
    dx, dgamma, dbeta = layer.backward(dy)
    assert_close(dx, x_t.grad.numpy())
    assert_close(dgamma, module.weight.grad.numpy())
    assert_close(dbeta, module.bias.grad.numpy())


def test_one_value_per_channel_is_refused_like_torch() -> None:
    x = np.ones((1, 3))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        torch.nn.BatchNorm1d(3).train()(torch.from_numpy(x))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        bn.BatchNorm(3)(x, training=True)
    # Both accept it in inference mode, where no statistic is computed from the batch.
    assert_close(bn.BatchNorm(3)(x, training=False), torch.nn.BatchNorm1d(3, dtype=torch.float64).eval()(torch.from_numpy(x)).detach().numpy())


def test_a_spatial_batch_of_one_example_is_fine_in_training() -> None:
    """(1, C, H, W) has H·W values per channel: torch trains on it, and so does bncourse."""
    x = np.random.default_rng(1).standard_normal((1, 2, 3, 3))
    expected = torch.nn.BatchNorm2d(2, dtype=torch.float64).train()(torch.from_numpy(x)).detach().numpy()
    assert_close(bn.BatchNorm(2)(x, training=True), expected)
