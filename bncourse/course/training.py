"""Training the course's NumPy MLP: softmax cross-entropy, mini-batches, the SGD loop, and a look at every
layer after one step. The PyTorch and Keras loops of :mod:`bncourse.course.cnn` deal their batches with the
same :func:`minibatches`, so the three frameworks see the same data in the same order."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bncourse import validation
from bncourse.course.mlp import MLP
from bncourse.validation import FloatArray


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


def minibatches(num_examples: int, steps: int, batch_size: int, rng: np.random.Generator, *,
                reshuffle: bool = True) -> Iterator[NDArray[np.int64]]:
    """The example indices of each training step: shuffled epochs, each example once per epoch; a new
    shuffle starts when fewer than ``batch_size`` examples are left. Shared by every training loop here.
    ``reshuffle=False`` shuffles once and then repeats the same batches in every epoch (the same examples
    always share a batch: the "less thorough shuffling" of the BN paper's §4.2.1)."""
    num_examples = validation.require_int("num_examples", num_examples, minimum=1)
    steps = validation.require_int("steps", steps, minimum=0)
    batch_size = validation.require_int("batch_size", batch_size, minimum=1, maximum=num_examples)
    order, position = rng.permutation(num_examples), 0
    for _ in range(steps):
        if position + batch_size > num_examples:
            order, position = (rng.permutation(num_examples) if reshuffle else order), 0
        yield order[position : position + batch_size]
        position += batch_size


class Model(Protocol):
    """What :func:`train` needs of a model (:class:`~bncourse.course.mlp.MLP`,
    :class:`~bncourse.course.resnet.ResidualMLP`)."""

    def forward(self, x: ArrayLike, *, training: bool) -> FloatArray: ...

    def backward(self, dlogits: FloatArray) -> None: ...

    def sgd_step(self, learning_rate: float, *, weight_decay: float = 0.0) -> None: ...

    def is_finite(self) -> bool: ...


ModelT = TypeVar("ModelT", bound=Model)
Schedule = Callable[[int], float]


@dataclass
class History:
    """What :func:`train` measured: loss of each step, and test accuracy every ``eval_every`` steps."""

    loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)


def train(
    model: ModelT,
    x_train: FloatArray,
    y_train: ArrayLike,
    *,
    steps: int,
    batch_size: int,
    learning_rate: float | Schedule,
    weight_decay: float = 0.0,
    x_test: FloatArray | None = None,
    y_test: ArrayLike | None = None,
    eval_every: int = 100,
    seed: int = 0,
    reshuffle: bool = True,
    on_eval: Callable[[int, ModelT], None] | None = None,
) -> History:
    """Mini-batch SGD on softmax cross-entropy: each step a batch drawn without replacement from a
    shuffled epoch (``seed`` fixes the order). Test accuracy uses inference mode (running statistics).
    Divergence — a parameter or a hidden layer's input no longer finite — ends training early and is
    recorded as a final ``nan`` loss. Runs with one BLAS thread, so results do not depend on the machine's
    core count. ``on_eval(step, model)``, if given, is called every ``eval_every`` steps (to record
    anything else about the model during training). ``learning_rate`` is a number or a schedule, a function
    of the step (1, 2, ...) giving that step's rate; ``weight_decay`` goes to ``model.sgd_step``;
    ``reshuffle`` to :func:`minibatches`."""
    x_train = validation.require_batch("x_train", x_train)
    labels = np.asarray(y_train)
    if labels.shape != (len(x_train),):
        raise ValueError(f"y_train must have shape ({len(x_train)},), one label per row of x_train, got {labels.shape}")
    if callable(learning_rate):
        schedule = learning_rate
    else:
        rate = validation.require_positive("learning_rate", learning_rate)
        schedule = lambda step: rate  # noqa: E731
    weight_decay = validation.require_nonnegative_real("weight_decay", weight_decay)
    eval_every = validation.require_int("eval_every", eval_every, minimum=1)
    # One BLAS thread: a multi-threaded matrix product may sum in a different order on another machine,
    # and over hundreds of steps those last bits grow into visibly different results.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        batches = minibatches(len(labels), steps, batch_size, np.random.default_rng(seed),
                              reshuffle=validation.require_bool("reshuffle", reshuffle))
        return _sgd(model, x_train, labels, batches, schedule, weight_decay, x_test, y_test, eval_every, on_eval)


def _sgd(model: ModelT, x_train: FloatArray, labels: NDArray[np.int64], batches: Iterator[NDArray[np.int64]],
         schedule: Schedule, weight_decay: float, x_test: FloatArray | None, y_test: ArrayLike | None,
         eval_every: int, on_eval: Callable[[int, ModelT], None] | None) -> History:
    """The loop of :func:`train`, run under its thread limit."""
    history = History()
    for step, batch in enumerate(batches, start=1):
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
            model.sgd_step(schedule(step), weight_decay=weight_decay)
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
    units that are saturated (:attr:`~bncourse.course.activations.Activation.saturated`)."""

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
        saturated_share=[float(np.mean(model.activation.saturated(h))) for h in model.activations],
    )
