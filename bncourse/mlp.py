r"""A small multilayer perceptron in NumPy, with optional batch norm before each nonlinearity.

Each hidden layer computes

.. math:: z = x W + b, \qquad u = \mathrm{BN}(z) \text{ (or } u = z\text{)}, \qquad h = f(u),

with :math:`f` = tanh, sigmoid or ReLU; the last layer is affine and gives the logits. It is the
network the chapters use to look inside training: :class:`MLP` records, for every hidden layer, the
input of the nonlinearity :math:`u` (``pre_activations``), its output :math:`h` (``activations``)
and, after :meth:`MLP.backward`, the gradient of the loss with respect to :math:`u`
(``pre_activation_grads``) and to :math:`W` (``Dense.dweight``).

Shapes: ``x`` is ``(N, features)``; ``W`` of a layer is ``(fan_in, fan_out)``; logits are ``(N, classes)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bncourse import _checks
from bncourse._checks import FloatArray
from bncourse.layer import BatchNorm

ActivationName = Literal["tanh", "sigmoid", "relu"]


def _sigmoid(u: FloatArray) -> FloatArray:
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * u))  # no overflow for large |u|
    return out


def activation(name: ActivationName, u: FloatArray) -> FloatArray:
    """``f(u)`` for ``name`` in tanh, sigmoid, relu."""
    if name == "tanh":
        return np.tanh(u)
    if name == "sigmoid":
        return _sigmoid(u)
    return np.maximum(u, 0.0)


def activation_derivative(name: ActivationName, u: FloatArray, h: FloatArray) -> FloatArray:
    """``f'(u)``, given ``h = f(u)``: ``1 − h²`` (tanh), ``h (1 − h)`` (sigmoid), ``[u > 0]`` (ReLU)."""
    if name == "tanh":
        return 1.0 - h * h
    if name == "sigmoid":
        return h * (1.0 - h)
    return (u > 0).astype(u.dtype)


def saturated(name: ActivationName, h: FloatArray) -> NDArray[np.bool_]:
    """Boolean mask of saturated units, where ``f'`` is (nearly) zero: ``|h| > 0.99`` for tanh,
    ``h < 0.01`` or ``h > 0.99`` for sigmoid, ``h = 0`` (inactive) for ReLU."""
    mask: NDArray[np.bool_]
    if name == "tanh":
        mask = np.abs(h) > 0.99
    elif name == "sigmoid":
        mask = (h < 0.01) | (h > 0.99)
    else:
        mask = h == 0.0
    return mask


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
        init_scale: hidden layers' weights are drawn from
            :math:`\\mathcal N(0, \\text{init\\_scale}^2/\\text{fan\\_in})`; 1 is LeCun initialization.
            The output layer always starts with LeCun initialization (so a changed ``init_scale`` changes
            only the layers BN can sit behind, not the size of the first logits); biases start at 0.
        momentum: the BN layers' running-average momentum (PyTorch's meaning).
        seed: seeds the initial weights, so two models built alike are identical.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        activation: ActivationName = "tanh",
        batch_norm: bool = False,
        init_scale: float = 1.0,
        momentum: float | None = 0.1,
        seed: int = 0,
    ) -> None:
        if len(sizes) < 2 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in sizes):
            raise ValueError(f"sizes must be at least two positive ints, got {list(sizes)!r}")
        if activation not in ("tanh", "sigmoid", "relu"):
            raise ValueError(f"activation must be 'tanh', 'sigmoid' or 'relu', got {activation!r}")
        scale = _checks.positive_real("init_scale", init_scale)
        rng = np.random.default_rng(seed)
        self.activation: ActivationName = activation
        self.dense = [
            Dense(
                rng.normal(0.0, (scale if index < len(sizes) - 2 else 1.0) / np.sqrt(fan_in), (fan_in, fan_out)),
                None if batch_norm and index < len(sizes) - 2 else np.zeros(fan_out),
            )
            for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]))
        ]
        self.norms = [BatchNorm(size, momentum=momentum) for size in sizes[1:-1]] if batch_norm else []
        self.pre_activations: list[FloatArray] = []
        self.activations: list[FloatArray] = []
        self.pre_activation_grads: list[FloatArray] = []

    @property
    def num_hidden(self) -> int:
        return len(self.dense) - 1

    def forward(self, x: ArrayLike, *, training: bool) -> FloatArray:
        """Logits ``(N, classes)`` for inputs ``(N, features)``; records each hidden layer's ``u`` and ``h``."""
        h = _checks.input_array("x", x)
        if h.shape[1] != self.dense[0].weight.shape[0]:
            raise ValueError(f"x must have {self.dense[0].weight.shape[0]} features, got shape {h.shape}")
        self.pre_activations, self.activations = [], []
        for index in range(self.num_hidden):
            u = self.dense[index].forward(h)
            if not np.all(np.isfinite(u)):
                raise FloatingPointError(f"hidden layer {index + 1}: non-finite values (the weights have diverged)")
            if self.norms:
                u = self.norms[index](u, training=training)
            h = activation(self.activation, u)
            self.pre_activations.append(u)
            self.activations.append(h)
        return self.dense[-1].forward(h)

    def backward(self, dlogits: FloatArray) -> None:
        """Backpropagate ``∂L/∂logits`` (after a training-mode :meth:`forward`); fills every gradient."""
        grads: list[FloatArray] = []
        dh = self.dense[-1].backward(dlogits)
        for index in reversed(range(self.num_hidden)):
            du = dh * activation_derivative(self.activation, self.pre_activations[index], self.activations[index])
            grads.append(du)
            dz = self.norms[index].backward(du)[0] if self.norms else du
            dh = self.dense[index].backward(dz)
        self.pre_activation_grads = grads[::-1]

    def recalibrate(self, x: ArrayLike, *, batch_size: int) -> None:
        """Replace every BN layer's running statistics by Algorithm 2's population statistics.

        Runs the (unchanged) network in training mode over ``x`` in consecutive batches of
        ``batch_size`` (a last, smaller batch is dropped: Algorithm 2 averages equal-size batches),
        with each BN layer's running average reset and set to the cumulative average
        (``momentum=None``), which gives exactly ``E[μ_B]`` and ``m/(m−1)·E[σ²_B]``. Weights are not touched.
        """
        x_arr = _checks.input_array("x", x)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or not 2 <= batch_size <= len(x_arr):
            raise ValueError(f"batch_size must be an int in [2, {len(x_arr)}], got {batch_size!r}")
        saved = [norm.momentum for norm in self.norms]
        for norm in self.norms:
            norm.reset_running_stats()
            norm.momentum = None
        try:
            for start in range(0, len(x_arr) - batch_size + 1, batch_size):
                self.forward(x_arr[start : start + batch_size], training=True)
        finally:
            for norm, momentum in zip(self.norms, saved):
                norm.momentum = momentum

    def parameters(self) -> list[tuple[FloatArray, FloatArray]]:
        """``(parameter, gradient)`` pairs of the last :meth:`backward`: weights, biases (where a layer has one),
        and BN's γ, β."""
        pairs = [(layer.weight, layer.dweight) for layer in self.dense]
        pairs += [
            (layer.bias, layer.dbias) for layer in self.dense if layer.bias is not None and layer.dbias is not None
        ]
        pairs += [(norm.gamma, norm.dgamma) for norm in self.norms] + [(norm.beta, norm.dbeta) for norm in self.norms]
        return pairs

    def is_finite(self) -> bool:
        """Whether every parameter is finite (false once training has diverged)."""
        return all(bool(np.all(np.isfinite(parameter))) for parameter, _ in self.parameters())

    def sgd_step(self, learning_rate: float) -> None:
        """Plain gradient descent, in place: ``p ← p − learning_rate · ∂L/∂p``."""
        for parameter, gradient in self.parameters():
            parameter -= learning_rate * gradient


def softmax_cross_entropy(logits: FloatArray, labels: ArrayLike) -> tuple[float, FloatArray]:
    """Mean cross-entropy of softmax(``logits``) against integer ``labels`` ``(N,)``, and its gradient."""
    labels_arr = np.asarray(labels)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = logits.shape[0]
    loss = float(-log_probs[np.arange(n), labels_arr].mean())
    dlogits = np.exp(log_probs)
    dlogits[np.arange(n), labels_arr] -= 1.0
    return loss, dlogits / n


def accuracy(logits: FloatArray, labels: ArrayLike) -> float:
    """Share of rows whose largest logit is at the label."""
    return float(np.mean(np.argmax(logits, axis=1) == np.asarray(labels)))


def minibatches(num_examples: int, steps: int, batch_size: int, rng: np.random.Generator) -> Iterator[NDArray[np.int64]]:
    """The example indices of each training step: shuffled epochs, each example once per epoch; a new
    shuffle starts when fewer than ``batch_size`` examples are left. Shared by every training loop here."""
    order, position = rng.permutation(num_examples), 0
    for _ in range(steps):
        if position + batch_size > num_examples:
            order, position = rng.permutation(num_examples), 0
        yield order[position : position + batch_size]
        position += batch_size


@dataclass
class History:
    """What :func:`train` measured: loss of each step, and test accuracy every ``eval_every`` steps."""

    loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)


def train(
    model: MLP,
    x_train: FloatArray,
    y_train: ArrayLike,
    *,
    steps: int,
    batch_size: int,
    learning_rate: float,
    x_test: FloatArray | None = None,
    y_test: ArrayLike | None = None,
    eval_every: int = 100,
    seed: int = 0,
    on_eval: Callable[[int, MLP], None] | None = None,
) -> History:
    """Mini-batch SGD on softmax cross-entropy: each step a batch drawn without replacement from a
    shuffled epoch (``seed`` fixes the order). Test accuracy uses inference mode (running statistics).
    Divergence — a parameter or a hidden layer's input no longer finite — ends training early and is
    recorded as a final ``nan`` loss. Runs with one BLAS thread, so results do not depend on the machine's
    core count. ``on_eval(step, model)``, if given, is called every ``eval_every`` steps (to record
    anything else about the model during training)."""
    # One BLAS thread: a multi-threaded matrix product may sum in a different order on another machine,
    # and over hundreds of steps those last bits grow into visibly different results.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _sgd(model, x_train, np.asarray(y_train), steps, batch_size, learning_rate, x_test, y_test,
                    eval_every, np.random.default_rng(seed), on_eval)


def _sgd(model: MLP, x_train: FloatArray, labels: NDArray[np.int64], steps: int, batch_size: int,
         learning_rate: float, x_test: FloatArray | None, y_test: ArrayLike | None, eval_every: int,
         rng: np.random.Generator, on_eval: Callable[[int, MLP], None] | None) -> History:
    """The loop of :func:`train`, run under its thread limit."""
    history = History()
    for step, batch in enumerate(minibatches(len(labels), steps, batch_size, rng), start=1):
        # Divergence (a learning rate too large) is an outcome to record, not an error.
        with np.errstate(over="ignore", invalid="ignore"):
            try:
                logits = model.forward(x_train[batch], training=True)
            except FloatingPointError:
                history.loss.append(float("nan"))
                break
            loss, dlogits = softmax_cross_entropy(logits, labels[batch])
            if not np.isfinite(loss):
                history.loss.append(float("nan"))
                break
            model.backward(dlogits)
            model.sgd_step(learning_rate)
        history.loss.append(loss)
        if not model.is_finite():
            history.loss.append(float("nan"))
            break
        if step % eval_every == 0:
            if x_test is not None and y_test is not None:
                history.eval_steps.append(step)
                history.test_accuracy.append(accuracy(model.forward(x_test, training=False), y_test))
            if on_eval is not None:
                on_eval(step, model)
    return history


@dataclass
class LayerStatistics:
    """One training-mode forward and backward pass, seen layer by layer (hidden layers 1..k).

    ``activations[l]`` and ``pre_activation_grads[l]`` are ``(N, width)`` arrays; ``weight_grad_norms[l]``
    is the Frobenius norm of ``∂L/∂W`` of hidden layer ``l``; ``saturated_share[l]`` the share of its
    units that are saturated (:func:`saturated`)."""

    loss: float
    activations: list[FloatArray]
    pre_activation_grads: list[FloatArray]
    weight_grad_norms: list[float]
    saturated_share: list[float]


def layer_statistics(model: MLP, x: FloatArray, labels: ArrayLike) -> LayerStatistics:
    """Run ``x`` through ``model`` in training mode, backpropagate the cross-entropy, and collect
    per-layer statistics. The weights are not changed, but BN running statistics are updated as in any
    training-mode pass."""
    loss, dlogits = softmax_cross_entropy(model.forward(x, training=True), labels)
    model.backward(dlogits)
    return LayerStatistics(
        loss=loss,
        activations=list(model.activations),
        pre_activation_grads=list(model.pre_activation_grads),
        weight_grad_norms=[float(np.linalg.norm(layer.dweight)) for layer in model.dense[:-1]],
        saturated_share=[float(np.mean(saturated(model.activation, h))) for h in model.activations],
    )
