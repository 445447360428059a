r"""What training sees around the current weights: Santurkar et al. (2018)'s measurements, for the MLP.

**Along the gradient** (their §3.1, Figure 4). At weights :math:`w` with gradient :math:`g = \nabla L(w)` on
a batch, take steps :math:`w - \eta g` for a range of step sizes :math:`\eta` and record

- the loss :math:`L(w - \eta g)` ("variation of the loss": how far it moves over the range),
- the gradient change :math:`\lVert\nabla L(w - \eta g) - g\rVert` ("gradient predictiveness": a small change
  means the gradient at :math:`w` still describes the landscape a step away),
- the "effective β-smoothness" :math:`\max_\eta \lVert\nabla L(w - \eta g) - g\rVert / \lVert\eta g\rVert`,
  the largest change of the gradient per unit of distance moved.

**Internal covariate shift, their way** (their Definition 2.1). For hidden or output layer :math:`i`, with
:math:`G_i` the gradient of its weights, and :math:`G_i'` the same gradient after every layer *below* it
has taken its SGD step :math:`-\eta G_j` (on the same batch), ICS is :math:`\lVert G_i - G_i'\rVert`; the
cosine between :math:`G_i` and :math:`G_i'` says whether the direction survives. A layer's parameters are
its Dense weights and bias and the γ, β of the normalization after it.

Every function works on a copy: the model, its BN running statistics and its dropout generator are
left as they were. The batch is forwarded in training mode (batch statistics), dropout off.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from bncourse import validation
from bncourse.course.mlp import MLP
from bncourse.course.training import softmax_cross_entropy
from bncourse.validation import FloatArray


@dataclass(frozen=True)
class GradientProbe:
    """Loss and gradient at ``w - η g`` for each step size ``η`` (arrays of shape ``(k,)``); ``loss`` and
    ``gradient_norm`` at ``w``."""

    step_sizes: FloatArray
    losses: FloatArray
    gradient_changes: FloatArray
    loss: float
    gradient_norm: float

    @property
    def loss_variation(self) -> float:
        """The range (max − min) of the loss over ``w`` and the steps."""
        values = np.append(self.losses, self.loss)
        return float(values.max() - values.min())

    @property
    def gradient_predictiveness(self) -> float:
        """The largest gradient change over the steps (smaller: more predictive)."""
        return float(self.gradient_changes.max())

    @property
    def beta_smoothness(self) -> float:
        """``max ‖∇L(w − η g) − g‖ / ‖η g‖``: the largest change of the gradient per distance moved."""
        return float(np.max(self.gradient_changes / (self.step_sizes * self.gradient_norm)))


@dataclass(frozen=True)
class CovariateShift:
    """Per layer above the first (hidden layers 2.. and the output layer): ``l2`` is ``‖G − G'‖``,
    ``relative`` is ``‖G − G'‖ / ‖G‖`` and ``cosine`` the cosine between ``G`` and ``G'``."""

    l2: list[float]
    relative: list[float]
    cosine: list[float]


def _flat_gradient(model: MLP, x: FloatArray, labels: ArrayLike) -> tuple[float, FloatArray]:
    loss, dlogits = softmax_cross_entropy(model.forward(x, training=True, dropout=False), labels)
    model.backward(dlogits)
    return loss, np.concatenate([gradient.ravel() for _, gradient in model.parameters()])


def _set_parameters(model: MLP, flat: FloatArray) -> None:
    start = 0
    for parameter, _ in model.parameters():
        parameter[...] = flat[start : start + parameter.size].reshape(parameter.shape)
        start += parameter.size


def probe_gradient_direction(model: MLP, x: ArrayLike, labels: ArrayLike, step_sizes: Sequence[float]) -> GradientProbe:
    """Loss and gradient along ``-∇L`` at the model's weights, for each step size (> 0)."""
    x_arr = validation.require_batch("x", x)
    validation.require_nonempty("step_sizes", step_sizes)
    etas = np.array([validation.require_positive(f"step_sizes[{i}]", eta) for i, eta in enumerate(step_sizes)])
    probe = copy.deepcopy(model)
    w = np.concatenate([parameter.ravel() for parameter, _ in probe.parameters()])
    loss, g = _flat_gradient(probe, x_arr, labels)
    losses, changes = [], []
    for eta in etas:
        _set_parameters(probe, w - eta * g)
        loss_eta, g_eta = _flat_gradient(probe, x_arr, labels)
        losses.append(loss_eta)
        changes.append(float(np.linalg.norm(g_eta - g)))
    return GradientProbe(etas, np.array(losses), np.array(changes), loss, float(np.linalg.norm(g)))


def _layer_parameters(model: MLP, layer: int) -> list[tuple[FloatArray, FloatArray]]:
    """Layer ``layer``'s (parameter, gradient) pairs: Dense weight and bias, and the normalization's γ, β."""
    dense = model.dense[layer]
    pairs = [(dense.weight, dense.dweight)]
    if dense.bias is not None and dense.dbias is not None:
        pairs.append((dense.bias, dense.dbias))
    if model.norms and layer < model.num_hidden:
        pairs += model.norms[layer].parameters()
    return pairs


def internal_covariate_shift(model: MLP, x: ArrayLike, labels: ArrayLike, learning_rate: float) -> CovariateShift:
    """Santurkar et al.'s ICS of every layer above the first, for one SGD step of ``learning_rate`` on ``(x, labels)``."""
    x_arr = validation.require_batch("x", x)
    learning_rate = validation.require_positive("learning_rate", learning_rate)
    base = copy.deepcopy(model)
    _flat_gradient(base, x_arr, labels)
    steps = [[learning_rate * gradient for _, gradient in _layer_parameters(base, j)] for j in range(len(base.dense))]
    l2, relative, cosine = [], [], []
    for layer in range(1, len(base.dense)):
        moved = copy.deepcopy(base)
        for below in range(layer):
            for (parameter, _), step in zip(_layer_parameters(moved, below), steps[below]):
                parameter -= step
        _flat_gradient(moved, x_arr, labels)
        before, after = base.dense[layer].dweight, moved.dense[layer].dweight
        difference = float(np.linalg.norm(after - before))
        l2.append(difference)
        relative.append(difference / float(np.linalg.norm(before)))
        cosine.append(float(np.sum(before * after) / (np.linalg.norm(before) * np.linalg.norm(after))))
    return CovariateShift(l2, relative, cosine)
