"""The computation-graph backward pass equals the closed form; the detached variant does not."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import bncourse as bn
from tests.strategies import Case, cases
from bncourse.course.tolerances import assert_close


@given(cases(dtypes=(np.float64,)), st.integers(0, 2**31 - 1))
def test_graph_backward_equals_the_closed_form(case: Case, seed: int) -> None:
    dy = np.random.default_rng(seed).standard_normal(case.x.shape)
    graph = bn.batch_norm_backward_graph(dy, case.x, case.gamma, axis=case.axis)
    dx, dgamma, dbeta = bn.batch_norm_backward(dy, case.x, case.gamma, axis=case.axis)
    assert_close(graph.dx, dx)
    assert_close(graph.dgamma, dgamma)
    assert_close(graph.dbeta, dbeta)
    assert graph.dvar.shape == graph.dmean.shape == case.gamma.shape
    assert graph.dx_hat.shape == case.x.shape
    # One gradients type: the graph form is a Gradients and unpacks as one.
    assert isinstance(graph, bn.Gradients) and [g.shape for g in graph] == [dx.shape, dgamma.shape, dbeta.shape]


def test_graph_node_gradients_match_torch_autograd() -> None:
    """∂ℓ/∂μ and ∂ℓ/∂σ² of the graph are what autograd finds for the same intermediate nodes."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    x, dy, gamma = rng.standard_normal((7, 3)), rng.standard_normal((7, 3)), rng.uniform(0.5, 2, 3)
    x_t = torch.from_numpy(x).requires_grad_(True)
    mean = x_t.mean(0)
    mean.retain_grad()
    var = ((x_t - mean) ** 2).mean(0)
    var.retain_grad()
    y = torch.from_numpy(gamma) * (x_t - mean) / torch.sqrt(var + 1e-5)
    y.backward(torch.from_numpy(dy))
    graph = bn.batch_norm_backward_graph(dy, x, gamma)
    # autograd's mean.grad includes the path through var; the paper's ∂ℓ/∂μ_B does too.
    assert_close(graph.dvar, var.grad.numpy())
    assert_close(graph.dmean, mean.grad.numpy())
    assert_close(graph.dx, x_t.grad.numpy())


def test_detached_gradient_is_not_the_gradient() -> None:
    rng = np.random.default_rng(2)
    x, dy, gamma = rng.standard_normal((8, 2)), rng.standard_normal((8, 2)), np.array([0.5, -2.0])
    detached_gradients = bn.batch_norm_backward_detached(dy, x, gamma)
    true_gradients = bn.batch_norm_backward(dy, x, gamma)
    detached, true_dx = detached_gradients.dx, true_gradients.dx
    # γ and β do not move the batch statistics: their gradients are the true ones.
    assert_close(detached_gradients.dgamma, true_gradients.dgamma)
    assert_close(detached_gradients.dbeta, true_gradients.dbeta)
    assert np.max(np.abs(detached - true_dx)) > 0.1
    # It is γ·dy/σ exactly, and unlike the true gradient it does not sum to zero.
    assert_close(detached, gamma * dy / np.sqrt(x.var(0) + 1e-5))
    assert np.max(np.abs(detached.sum(0))) > 0.1
    assert np.max(np.abs(true_dx.sum(0))) < 1e-12


@pytest.mark.parametrize("function", [bn.batch_norm_backward_graph, bn.batch_norm_backward_detached])
def test_variants_check_their_arguments(function) -> None:
    with pytest.raises(ValueError, match=r"dy must have the shape of x"):
        function(np.ones((3, 2)), np.ones((4, 2)), np.ones(2))
    with pytest.raises(ValueError, match=r"Expected more than 1 value per channel"):
        function(np.ones((1, 2)), np.ones((1, 2)), np.ones(2))
