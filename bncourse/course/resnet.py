r"""A residual MLP in NumPy: what BN does in residual networks, on the digits.

.. math::
    h_0 = x W_0 + b_0, \qquad
    h_{b+1} = h_b + F_b(h_b), \qquad
    F_b(h) = \mathrm{BN}_{b,2}\big(\mathrm{relu}(\mathrm{BN}_{b,1}(h W_{b,1}))\, W_{b,2}\big), \qquad
    \text{logits} = h_B W_{\text{out}} + b_{\text{out}},

(without BN, :math:`F_b(h) = \mathrm{relu}(h W_{b,1} + b_{b,1}) W_{b,2} + b_{b,2}`). The branch weights
start with He initialization, :math:`\mathcal N(0, 2/\text{fan\_in})`; the stem and output layer with
LeCun's, :math:`\mathcal N(0, 1/\text{fan\_in})`. ``zero_init_residual=True`` starts the γ of every
branch's last BN at 0 (Goyal et al. 2017), so every block starts as the identity. The model records the
residual stream :math:`h_0, \dots, h_B` (``stream``) and the branch outputs :math:`F_b(h_b)` (``branches``)
of its last forward pass. Shapes: ``x`` ``(N, inputs)``, every ``h_b`` ``(N, width)``, logits ``(N, classes)``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from bncourse import validation
from bncourse.course.mlp import Dense, sgd_step
from bncourse.layer import BatchNorm
from bncourse.validation import FloatArray


class _Block:
    """One residual branch ``F(h)`` and its backward pass."""

    def __init__(self, width: int, batch_norm: bool, zero_init: bool, rng: np.random.Generator) -> None:
        he = np.sqrt(2.0 / width)
        bias = None if batch_norm else np.zeros(width)
        self.dense = [Dense(rng.normal(0.0, he, (width, width)), bias),
                      Dense(rng.normal(0.0, he, (width, width)), None if bias is None else bias.copy())]
        self.norms = [BatchNorm(width), BatchNorm(width)] if batch_norm else []
        if zero_init:
            self.norms[1].gamma = np.zeros(width)
        self._u: FloatArray | None = None

    def forward(self, h: FloatArray, training: bool) -> FloatArray:
        u = self.dense[0].forward(h)
        if self.norms:
            u = self.norms[0](u, training=training)
        self._u = u
        out = self.dense[1].forward(np.maximum(u, 0.0))
        return self.norms[1](out, training=training) if self.norms else out

    def backward(self, dout: FloatArray) -> FloatArray:
        """``∂L/∂h`` through the branch alone (the skip connection adds ``dout`` outside)."""
        if self._u is None:
            raise RuntimeError("backward() needs a previous forward()")
        if self.norms:
            dout = self.norms[1].backward(dout).dx
        du = self.dense[1].backward(dout) * (self._u > 0)
        if self.norms:
            du = self.norms[0].backward(du).dx
        return self.dense[0].backward(du)


class ResidualMLP:
    """Stem, ``blocks`` residual blocks of ``width`` units, output layer (see the module's formulas).

    Args:
        inputs, width, classes: layer sizes.
        blocks: number of residual blocks ``B`` (0 is a linear model of the stem's features).
        batch_norm: BN after each of a branch's two Dense layers (those then have no bias).
        zero_init_residual: start the γ of each branch's second BN at 0 (needs ``batch_norm``).
        seed: seeds the initial weights.
    """

    def __init__(self, inputs: int, width: int, classes: int, *, blocks: int, batch_norm: bool = True,
                 zero_init_residual: bool = False, seed: int = 0) -> None:
        inputs, width, classes = (validation.require_int(name, value, minimum=1)
                                  for name, value in (("inputs", inputs), ("width", width), ("classes", classes)))
        blocks = validation.require_int("blocks", blocks, minimum=0)
        batch_norm = validation.require_bool("batch_norm", batch_norm)
        if validation.require_bool("zero_init_residual", zero_init_residual) and not batch_norm:
            raise ValueError("zero_init_residual=True needs batch_norm=True (it zeroes a BN layer's gamma)")
        rng = np.random.default_rng(validation.require_int("seed", seed, minimum=0))
        self.stem = Dense(rng.normal(0.0, 1.0 / np.sqrt(inputs), (inputs, width)), np.zeros(width))
        self.blocks = [_Block(width, batch_norm, zero_init_residual, rng) for _ in range(blocks)]
        self.head = Dense(rng.normal(0.0, 1.0 / np.sqrt(width), (width, classes)), np.zeros(classes))
        self.stream: list[FloatArray] = []
        self.branches: list[FloatArray] = []

    def forward(self, x: ArrayLike, *, training: bool) -> FloatArray:
        """Logits ``(N, classes)``; records the residual stream and the branch outputs."""
        h = validation.require_batch("x", x)
        if h.ndim != 2 or h.shape[1] != self.stem.weight.shape[0]:
            raise ValueError(f"x must have shape (N, {self.stem.weight.shape[0]}), got {h.shape}")
        h = self.stem.forward(h)
        self.stream, self.branches = [h], []
        for index, block in enumerate(self.blocks):
            branch = block.forward(h, training)
            h = h + branch
            if not np.all(np.isfinite(h)):
                raise FloatingPointError(f"block {index + 1}: non-finite values (the weights have diverged)")
            self.branches.append(branch)
            self.stream.append(h)
        return self.head.forward(h)

    def backward(self, dlogits: FloatArray) -> None:
        """Backpropagate ``∂L/∂logits`` (after a training-mode :meth:`forward`); fills every gradient."""
        dh = self.head.backward(dlogits)
        for block in reversed(self.blocks):
            dh = dh + block.backward(dh)
        self.stem.backward(dh)

    def _dense(self) -> list[Dense]:
        return [self.stem, *(dense for block in self.blocks for dense in block.dense), self.head]

    def parameters(self) -> list[tuple[FloatArray, FloatArray]]:
        """``(parameter, gradient)`` pairs: weights, biases, BN's γ and β."""
        pairs = []
        for dense in self._dense():
            pairs.append((dense.weight, dense.dweight))
            if dense.bias is not None and dense.dbias is not None:
                pairs.append((dense.bias, dense.dbias))
        for block in self.blocks:
            for norm in block.norms:
                pairs += norm.parameters()
        return pairs

    def is_finite(self) -> bool:
        """Whether every parameter is finite."""
        return all(bool(np.isfinite(parameter).all()) for parameter, _ in self.parameters())

    def sgd_step(self, learning_rate: float, *, weight_decay: float = 0.0) -> None:
        """SGD on every parameter, weight decay on the Dense weights (as :meth:`MLP.sgd_step`)."""
        sgd_step(self.parameters(), [dense.weight for dense in self._dense()], learning_rate, weight_decay)
