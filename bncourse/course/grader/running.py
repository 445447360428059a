"""Exercises on running statistics: the update in PyTorch's and in Keras's convention, a whole layer step
(training and inference mode), and Algorithm 2's population statistics (what recalibration computes)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

import bncourse
from bncourse.course.grader import variants
from bncourse.course.grader.cases import EDGE_CASES, Case, batch_cases
from bncourse.course.grader.exercise import Exercise, MistakeModel


def _running(case: Case) -> tuple[Any, Any]:
    c = case.num_channels
    return case.normal((c,), 4, loc=case.loc, scale=case.scale), case.positive((c,), 5, 0.25 * case.scale**2, 4.0 * case.scale**2)


def _stepped(convention: str, running_mean: Any, running_var: Any, x: Any, momentum: float, axis: int) -> tuple[Any, Any]:
    """The reference: one training call of a bncourse layer (checked against PyTorch and Keras)."""
    layer = bncourse.BatchNorm(len(running_mean), momentum=momentum, convention=convention, axis=axis, dtype=np.asarray(x).dtype)
    layer.running_mean, layer.running_var = np.array(running_mean), np.array(running_var)
    layer(x, training=True)
    return layer.running_mean, layer.running_var


def _update(running_mean: Any, running_var: Any, x: Any, axis: int, weight_new: float, ddof: int) -> tuple[Any, Any]:
    """``r ← (1 − w)·r + w·b`` with the batch variance of ``ddof``."""
    wide = np.asarray(x, dtype=np.float64)
    axes = variants.all_but(wide.ndim, axis)
    mean, var = wide.mean(axis=axes), wide.var(axis=axes, ddof=ddof)
    dtype = np.asarray(running_mean).dtype
    return (((1 - weight_new) * np.asarray(running_mean, np.float64) + weight_new * mean).astype(dtype),
            ((1 - weight_new) * np.asarray(running_var, np.float64) + weight_new * var).astype(dtype))


def _update_arguments(case: Case) -> dict[str, Any]:
    running_mean, running_var = _running(case)
    return {"running_mean": running_mean, "running_var": running_var, "x": case.channel_values(),
            "momentum": case.option("momentum"), "axis": case.axis}


def _keras_update_arguments(case: Case) -> dict[str, Any]:
    """The same arguments under Keras's names."""
    arguments = _update_arguments(case)
    return {"moving_mean": arguments["running_mean"], "moving_variance": arguments["running_var"], "x": arguments["x"],
            "momentum": arguments["momentum"], "axis": arguments["axis"]}


def _torch_reference(running_mean: Any, running_var: Any, x: Any, momentum: float, axis: int) -> Any:
    return _stepped("torch", running_mean, running_var, x, momentum, axis)


def _keras_reference(running_mean: Any, running_var: Any, x: Any, momentum: float, axis: int) -> Any:
    return _stepped("keras", running_mean, running_var, x, momentum, axis)


def _update_model(weight_of: str, ddof: int) -> Any:
    """An update that gives the new batch the weight ``momentum`` (``weight_of="new"``) or ``1 − momentum``
    (``"old"``), averaging the batch variance of ``ddof``."""

    def model(running_mean: Any, running_var: Any, x: Any, momentum: float, axis: int) -> Any:
        return _update(running_mean, running_var, x, axis, momentum if weight_of == "new" else 1 - momentum, ddof)

    return model


TORCH_UPDATE = Exercise(
    name="running_update_torch",
    signature="running_update_torch(running_mean, running_var, x, momentum, axis) -> (running_mean, running_var)",
    outputs=("running_mean", "running_var"),
    cases=batch_cases(4, options=lambda rng: {"momentum": float(rng.choice([0.1, 0.2, 0.05, 0.3]))}),
    arguments=_update_arguments,
    reference=_torch_reference,
    models=(
        MistakeModel("momentum-reversed", _update_model("old", 1)),
        MistakeModel("momentum-reversed", _update_model("old", 0)),
        MistakeModel("biased-running-variance", _update_model("new", 0)),
    ),
    chapter="A worked two-sample example",
)

KERAS_UPDATE = Exercise(
    name="running_update_keras",
    signature="running_update_keras(moving_mean, moving_variance, x, momentum, axis) -> (moving_mean, moving_variance)",
    outputs=("moving_mean", "moving_variance"),
    # Momenta well below Keras's default 0.99: with 0.99 the batch's part, and any error in it, is 100 times smaller.
    cases=batch_cases(5, options=lambda rng: {"momentum": float(rng.choice([0.9, 0.8, 0.7]))}),
    arguments=_keras_update_arguments,
    reference=_keras_reference,
    models=(
        MistakeModel("momentum-reversed", _update_model("new", 0)),
        MistakeModel("momentum-reversed", _update_model("new", 1)),
        MistakeModel("unbiased-running-variance", _update_model("old", 1)),
    ),
    chapter="A worked two-sample example",
)


def _layer_arguments(case: Case) -> dict[str, Any]:
    c = case.num_channels
    running_mean, running_var = _running(case)
    return {"x": case.channel_values(), "gamma": case.positive((c,), 1), "beta": case.normal((c,), 3),
            "running_mean": running_mean, "running_var": running_var, "momentum": case.option("momentum"),
            "eps": case.eps, "training": case.option("training")}


def _layer_reference(x: Any, gamma: Any, beta: Any, running_mean: Any, running_var: Any, momentum: float,
                     eps: float, training: bool) -> Any:
    layer = bncourse.BatchNorm(len(gamma), eps=eps, momentum=momentum, dtype=np.asarray(x).dtype)
    layer.gamma, layer.beta = np.array(gamma), np.array(beta)
    layer.running_mean, layer.running_var = np.array(running_mean), np.array(running_var)
    y = layer(x, training=training)
    return y, layer.running_mean, layer.running_var


def _layer_model(mode: bool, *, normalize_with: str, update: bool, weight_of: str = "new", ddof_stored: int = 1,
                 ddof_normalized: int = 0) -> Any:
    """A layer step with a mistake in one mode: when ``training == mode`` it normalizes with the ``"batch"`` or
    the ``"running"`` statistics (before the update) and updates them or not as told; in the other mode it
    is right."""

    def model(x: Any, gamma: Any, beta: Any, running_mean: Any, running_var: Any, momentum: float,
              eps: float, training: bool) -> Any:
        if training != mode:
            return _layer_reference(x, gamma, beta, running_mean, running_var, momentum, eps, training)
        x = np.asarray(x)
        if normalize_with == "batch":
            y = variants.batch_norm(x, gamma, beta, eps, 1, ddof=ddof_normalized)
        else:
            x_hat = (x.astype(np.float64) - variants.column(running_mean, x.ndim, 1)) / np.sqrt(variants.column(running_var, x.ndim, 1) + eps)
            y = variants.affine(x_hat, gamma, beta, 1, x.dtype)
        if not update:
            return y, np.array(running_mean), np.array(running_var)
        weight = momentum if weight_of == "new" else 1 - momentum
        return (y, *_update(running_mean, running_var, x, 1, weight, ddof_stored))

    return model


def _channels_first(case: Case) -> Case:
    """A channels-last case with its channel axis moved to position 1."""
    if case.axis == 1:
        return case
    return replace(case, shape=(case.shape[0], case.shape[-1], *case.shape[1:-1]), axis=1)


def _layer_cases() -> tuple[Case, ...]:
    """PyTorch's convention, channels first (axis 1): the edge cases in training mode (where the statistics are
    computed), two in inference mode (one of them a single example), then the random cases in alternate modes."""
    drawn = batch_cases(6, options=lambda rng: {"momentum": float(rng.choice([0.1, 0.3]))})
    edge, random = drawn[:EDGE_CASES], drawn[EDGE_CASES:]
    inference = (Case((1, 3), seed=6900, options=(("momentum", 0.1),)), Case((4, 3, 5), seed=6901, options=(("momentum", 0.3),)))
    modes = [True] * len(edge) + [False] * len(inference) + [index % 2 == 0 for index in range(len(random))]
    return tuple(replace(_channels_first(case), options=(("training", mode), *case.options))
                 for case, mode in zip((*edge, *inference, *random), modes))


LAYER = Exercise(
    name="batch_norm_layer",
    signature="batch_norm_layer(x, gamma, beta, running_mean, running_var, momentum, eps, training) -> (y, running_mean, running_var)",
    outputs=("y", "running_mean", "running_var"),
    cases=_layer_cases(),
    arguments=_layer_arguments,
    reference=_layer_reference,
    models=(
        MistakeModel("batch-statistics-at-inference", _layer_model(False, normalize_with="batch", update=False)),
        MistakeModel("running-update-in-inference", _layer_model(False, normalize_with="running", update=True)),
        MistakeModel("running-statistics-in-training", _layer_model(True, normalize_with="running", update=True)),
        MistakeModel("unbiased-variance", _layer_model(True, normalize_with="batch", update=True, ddof_normalized=1)),
        MistakeModel("momentum-reversed", _layer_model(True, normalize_with="batch", update=True, weight_of="old")),
        MistakeModel("biased-running-variance", _layer_model(True, normalize_with="batch", update=True, ddof_stored=0)),
    ),
    chapter="BN in PyTorch and Keras",
    valid=lambda case: not case.option("training") or case.values_per_channel >= 2,
)


def _population_arguments(case: Case) -> dict[str, Any]:
    return {"batches": [case.channel_values(draw) for draw in range(case.option("batches"))], "axis": case.axis}


def _population_reference(batches: list[Any], axis: int) -> Any:
    mean, var = bncourse.population_statistics(batches, axis=axis)
    dtype = np.asarray(batches[0]).dtype
    return mean.astype(dtype), var.astype(dtype)


def _population_model(*, pooled: bool, ddof: int) -> Any:
    def model(batches: list[Any], axis: int) -> Any:
        stacked = np.stack([np.asarray(b, np.float64) for b in batches])  # (k, *shape)
        axes = variants.all_but(stacked.ndim - 1, axis)
        dtype = np.asarray(batches[0]).dtype
        mean = stacked.mean(axis=tuple(a + 1 for a in axes)).mean(axis=0)
        if pooled:
            var = stacked.var(axis=(0, *(a + 1 for a in axes)), ddof=ddof)
        else:
            var = stacked.var(axis=tuple(a + 1 for a in axes), ddof=ddof).mean(axis=0)
        return mean.astype(dtype), var.astype(dtype)

    return model


POPULATION = Exercise(
    name="population_statistics",
    signature="population_statistics(batches, axis) -> (mean, var)",
    outputs=("mean", "var"),
    cases=batch_cases(7, options=lambda rng: {"batches": int(rng.integers(2, 5))}),
    arguments=_population_arguments,
    reference=_population_reference,
    models=(
        MistakeModel("missing-bessel-correction", _population_model(pooled=False, ddof=0)),
        MistakeModel("pooled-variance", _population_model(pooled=True, ddof=1)),
        MistakeModel("pooled-variance", _population_model(pooled=True, ddof=0)),
    ),
    chapter="Training vs inference",
)
