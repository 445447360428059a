r"""A small multilayer perceptron in NumPy, with optional batch norm before each nonlinearity.

Each hidden layer computes

.. math:: z = x W + b, \qquad u = \mathrm{BN}(z) \text{ (or } u = z\text{)}, \qquad h = f(u),

with :math:`f` = tanh, sigmoid or ReLU; the last layer is affine and gives the logits. It is the
network the chapters use to look inside training: :class:`MLP` records, for every hidden layer, the
input of the nonlinearity :math:`u` (``pre_activations``), its output :math:`h` (``activations``)
and, after :meth:`MLP.backward`, the gradient of the loss with respect to :math:`u`
(``pre_activation_grads``) and to :math:`W` (``Dense.dweight``). With ``dropout``, inverted dropout
follows each hidden nonlinearity in training mode: :math:`\tilde h = h \odot r / (1-p)`, :math:`r_i \sim`
Bernoulli(1 − p); at inference :math:`\tilde h = h`, as in PyTorch's ``nn.Dropout``.

Shapes: ``x`` is ``(N, features)``; ``W`` of a layer is ``(fan_in, fan_out)``; logits are ``(N, classes)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike

from bncourse import validation
from bncourse.course.activations import ActivationName, get_activation
from bncourse.inference import recalibrate
from bncourse.kernel import Gradients
from bncourse.layer import BatchNorm
from bncourse.validation import FloatArray


class Normalization(Protocol):
    """What the MLP needs from a normalization layer (BatchNorm, BatchRenorm, LayerNorm, GroupNorm)."""

    def __call__(self, x: FloatArray, *, training: bool) -> FloatArray: ...

    def parameters(self) -> list[tuple[FloatArray, FloatArray]]: ...

    def backward(self, dy: FloatArray) -> Gradients: ...


@dataclass
class Dense:
    """``z = x W + b``, or ``z = x W`` when ``bias`` is None; :meth:`backward` stores ``dweight``,
    ``dbias`` (None without a bias) and returns ``dx``."""

    weight: FloatArray
    bias: FloatArray | None
    dweight: FloatArray = field(init=False)
    dbias: FloatArray | None = field(init=False)
    _x: FloatArray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.dweight = np.zeros_like(self.weight)
        self.dbias = None if self.bias is None else np.zeros_like(self.bias)

    def forward(self, x: FloatArray) -> FloatArray:
        self._x = x
        out: FloatArray = x @ self.weight
        return out if self.bias is None else out + self.bias

    def backward(self, dz: FloatArray) -> FloatArray:
        if self._x is None:
            raise RuntimeError("backward() needs a previous forward()")
        self.dweight = self._x.T @ dz
        if self.bias is not None:
            self.dbias = dz.sum(axis=0)
        dx: FloatArray = dz @ self.weight.T
        return dx


class MLP:
    """Dense → [BatchNorm] → activation, repeated, then a final Dense layer giving logits.

    Args:
        sizes: ``[inputs, hidden_1, ..., hidden_k, outputs]``.
        activation: ``"tanh"``, ``"sigmoid"`` or ``"relu"``.
        batch_norm: insert :class:`~bncourse.BatchNorm` (PyTorch convention) after every hidden Dense layer.
            Those Dense layers then have no bias: BN subtracts the batch mean, so a bias before it has no
            effect on the output and a gradient of exactly zero (Σ dx = 0 per channel); BN's β replaces it.
        norm: another normalization in that place instead (``batch_norm=True`` is ``norm=lambda width:
            BatchNorm(width, momentum=momentum)``): a function
            ``width -> layer`` returning a layer with ``gamma``, ``beta``, ``dgamma``, ``dbeta``,
            ``__call__(u, training=...)`` and ``backward(du)`` (:class:`~bncourse.LayerNorm`,
            :class:`~bncourse.GroupNorm`, :class:`~bncourse.BatchRenorm`, ...).
        init_scale: hidden layers' weights are drawn from
            :math:`\\mathcal N(0, \\text{init\\_scale}^2/\\text{fan\\_in})`; 1 is LeCun initialization.
            The output layer always starts with LeCun initialization (so a changed ``init_scale`` changes
            only the layers BN can sit behind, not the size of the first logits); biases start at 0.
        momentum: the BN layers' running-average momentum (PyTorch's meaning).
        dropout: the dropout rate ``p`` after each hidden nonlinearity: one number for every hidden layer,
            or one per hidden layer (``[0, 0, 0.5]``: dropout only after the last one, i.e. after the last
            BN). Dropout after hidden layer ``l`` < last feeds the next Dense → BN: dropout *before* BN.
        seed: seeds the initial weights (and the dropout masks), so two models built alike are identical.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        activation: ActivationName = "tanh",
        batch_norm: bool = False,
        norm: Callable[[int], Normalization] | None = None,
        init_scale: float = 1.0,
        momentum: float | None = 0.1,
        dropout: float | Sequence[float] = 0.0,
        seed: int = 0,
    ) -> None:
        if len(sizes) < 2:
            raise ValueError(f"sizes must hold at least two layer sizes (inputs, outputs), got {list(sizes)!r}")
        sizes = [validation.require_int(f"sizes[{i}]", size, minimum=1) for i, size in enumerate(sizes)]
        scale = validation.require_positive("init_scale", init_scale)
        batch_norm = validation.require_bool("batch_norm", batch_norm)
        if norm is not None:
            if batch_norm:
                raise ValueError("give batch_norm=True or norm, not both")
            validation.require_callable("norm", norm)
        normalized = batch_norm or norm is not None
        seed = validation.require_int("seed", seed, minimum=0)
        rates = [dropout] * (len(sizes) - 2) if isinstance(dropout, (int, float)) else list(dropout)
        if len(rates) != len(sizes) - 2:
            raise ValueError(f"dropout must be one rate or one per hidden layer ({len(sizes) - 2}), got {dropout!r}")
        self.dropout = [validation.require_dropout_rate(f"dropout[{i}]", rate) for i, rate in enumerate(rates)]
        self._dropout_rng = np.random.default_rng([seed, 1])
        self._dropout_masks: list[FloatArray | None] = []
        rng = np.random.default_rng(seed)
        self.activation = get_activation(activation)
        self.dense = [
            Dense(
                rng.normal(0.0, (scale if index < len(sizes) - 2 else 1.0) / np.sqrt(fan_in), (fan_in, fan_out)),
                None if normalized and index < len(sizes) - 2 else np.zeros(fan_out),
            )
            for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]))
        ]
        if norm is None:
            norm = lambda size: BatchNorm(size, momentum=momentum)  # noqa: E731
        self.norms: list[Normalization] = [norm(size) for size in sizes[1:-1]] if normalized else []
        self.pre_activations: list[FloatArray] = []
        self.activations: list[FloatArray] = []
        self.pre_activation_grads: list[FloatArray] = []

    @property
    def num_hidden(self) -> int:
        return len(self.dense) - 1

    def forward(self, x: ArrayLike, *, training: bool, dropout: bool | None = None) -> FloatArray:
        """Logits ``(N, classes)`` for inputs ``(N, features)``; records each hidden layer's ``u`` and ``h``
        (``h`` before dropout). Dropout is on in training mode, unless ``dropout=False``."""
        h = validation.require_batch("x", x)
        if h.shape[1] != self.dense[0].weight.shape[0]:
            raise ValueError(f"x must have {self.dense[0].weight.shape[0]} features, got shape {h.shape}")
        drop = training if dropout is None else validation.require_bool("dropout", dropout)
        self.pre_activations, self.activations, self._dropout_masks = [], [], []
        for index in range(self.num_hidden):
            u = self.dense[index].forward(h)
            if not np.all(np.isfinite(u)):
                raise FloatingPointError(f"hidden layer {index + 1}: non-finite values (the weights have diverged)")
            if self.norms:
                u = self.norms[index](u, training=training)
            h = self.activation.f(u)
            self.pre_activations.append(u)
            self.activations.append(h)
            mask = self._dropout_mask(index, h.shape) if drop else None
            self._dropout_masks.append(mask)
            if mask is not None:
                h = h * mask
        return self.dense[-1].forward(h)

    def _dropout_mask(self, index: int, shape: tuple[int, ...]) -> FloatArray | None:
        """``r / (1 - p)`` with ``r`` ~ Bernoulli(1 − p) per unit and example; None where ``p`` is 0."""
        rate = self.dropout[index]
        if rate == 0.0:
            return None
        keep: FloatArray = (self._dropout_rng.random(shape) >= rate) / (1.0 - rate)
        return keep

    def backward(self, dlogits: FloatArray) -> None:
        """Backpropagate ``∂L/∂logits`` (after a training-mode :meth:`forward`); fills every gradient."""
        grads: list[FloatArray] = []
        dh = self.dense[-1].backward(dlogits)
        for index in reversed(range(self.num_hidden)):
            mask = self._dropout_masks[index] if self._dropout_masks else None
            if mask is not None:
                dh = dh * mask
            du = dh * self.activation.derivative(self.pre_activations[index], self.activations[index])
            grads.append(du)
            dz = self.norms[index].backward(du).dx if self.norms else du
            dh = self.dense[index].backward(dz)
        self.pre_activation_grads = grads[::-1]

    def recalibrate(self, x: ArrayLike, *, batch_size: int) -> None:
        """Replace every BN layer's running statistics by Algorithm 2's population statistics
        (:func:`bncourse.recalibrate`): the (unchanged) network runs in training mode over ``x`` in
        consecutive batches of ``batch_size``; a last, smaller batch is dropped, because Algorithm 2
        averages equal-size batches. Weights are not touched. Dropout is off while recalibrating: at
        inference it is off, so those are the statistics BN will see (Li et al. 2019, "variance shift")."""
        x_arr = validation.require_batch("x", x)
        batch_size = validation.require_int("batch_size", batch_size, minimum=2, maximum=len(x_arr))
        starts = range(0, len(x_arr) - batch_size + 1, batch_size)
        batch_norms = [layer for layer in self.norms if isinstance(layer, BatchNorm)]
        if len(batch_norms) != len(self.norms):
            raise TypeError("recalibrate() needs BatchNorm layers: the others keep no running mean and variance")
        recalibrate(
            batch_norms,
            (x_arr[start : start + batch_size] for start in starts),
            lambda batch: self.forward(batch, training=True, dropout=False),
        )

    def parameters(self) -> list[tuple[FloatArray, FloatArray]]:
        """``(parameter, gradient)`` pairs of the last :meth:`backward`: weights, biases (where a layer has one),
        and BN's γ, β."""
        pairs = [(layer.weight, layer.dweight) for layer in self.dense]
        pairs += [
            (layer.bias, layer.dbias) for layer in self.dense if layer.bias is not None and layer.dbias is not None
        ]
        pairs += [pair for norm in self.norms for pair in norm.parameters()]
        return pairs

    def is_finite(self) -> bool:
        """Whether every parameter is finite (false once training has diverged)."""
        return all(bool(np.isfinite(parameter).all()) for parameter, _ in self.parameters())

    def sgd_step(self, learning_rate: float, *, weight_decay: float = 0.0) -> None:
        """Plain gradient descent, in place: ``p ← p − learning_rate · ∂L/∂p``; with ``weight_decay`` λ,
        the Dense weights also shrink: ``W ← W − learning_rate · (∂L/∂W + λ W)`` (the gradient of an L2
        penalty λ‖W‖²/2; biases, γ and β are not decayed)."""
        sgd_step(self.parameters(), [layer.weight for layer in self.dense], learning_rate, weight_decay)


def sgd_step(
    parameters: Sequence[tuple[FloatArray, FloatArray]],
    decayed: Sequence[FloatArray],
    learning_rate: float,
    weight_decay: float,
) -> None:
    """``p ← p − learning_rate · g`` for every ``(p, g)`` in ``parameters``, and ``p ← p − learning_rate · λ p``
    for the arrays in ``decayed`` (weight decay λ); in place, arguments checked before anything changes."""
    learning_rate = validation.require_positive("learning_rate", learning_rate)
    weight_decay = validation.require_nonnegative_real("weight_decay", weight_decay)
    shrink = [(weight, learning_rate * weight_decay * weight) for weight in decayed] if weight_decay else []
    for parameter, gradient in parameters:
        parameter -= learning_rate * gradient
    for weight, decay in shrink:
        weight -= decay


