"""Exercises on batch norm itself: the training-mode forward, the inference forward, the backward pass."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

import bncourse
from bncourse.course.grader import variants
from bncourse.course.grader.cases import Case, batch_cases
from bncourse.course.grader.exercise import Exercise, MistakeModel


def _with_eps(function: Callable[..., Any], eps: float, position: int) -> Callable[..., Any]:
    """``function`` called with ``eps`` in place of its argument number ``position``: a default hard-coded."""

    def fixed(*arguments: Any) -> Any:
        return function(*arguments[:position], eps, *arguments[position + 1 :])

    return fixed


def _parameters(case: Case) -> dict[str, Any]:
    c = case.num_channels
    # γ away from 1 (and of either sign) so that a missing γ shows; β away from 0.
    return {"gamma": case.positive((c,), 1, 0.5, 2.0) * np.where(case.rng(2).random(c) < 0.2, -1, 1).astype(case.dtype),
            "beta": case.normal((c,), 3)}


def _train_arguments(case: Case) -> dict[str, Any]:
    return {"x": case.channel_values(), **_parameters(case), "eps": case.eps, "axis": case.axis}


def _train_reference(x: Any, gamma: Any, beta: Any, eps: float, axis: int) -> Any:
    return bncourse.batch_norm(x, gamma, beta, eps=eps, axis=axis)


def _over_channel_axis_1(x: Any, gamma: Any, beta: Any, eps: float, axis: int) -> Any:
    return variants.batch_norm(x, gamma, beta, eps, axis, axes=variants.all_but(np.ndim(x), 1))


def _over_axis_0(x: Any, gamma: Any, beta: Any, eps: float, axis: int) -> Any:
    return variants.batch_norm(x, gamma, beta, eps, axis, axes=(0,))


def _over_channels(x: Any, gamma: Any, beta: Any, eps: float, axis: int) -> Any:
    return variants.batch_norm(x, gamma, beta, eps, axis, axes=(axis % np.ndim(x),))


TRAIN = Exercise(
    name="batch_norm_train",
    signature="batch_norm_train(x, gamma, beta, eps, axis) -> y",
    outputs=("y",),
    cases=batch_cases(1),
    arguments=_train_arguments,
    reference=_train_reference,
    models=(
        MistakeModel("unbiased-variance", partial(variants.batch_norm, ddof=1)),
        MistakeModel("eps-outside-sqrt", partial(variants.batch_norm, place="outside")),
        MistakeModel("eps-missing", partial(variants.batch_norm, place="missing")),
        MistakeModel("missing-sqrt", partial(variants.batch_norm, place="no-sqrt")),
        MistakeModel("statistics-over-batch-axis-only", _over_axis_0),
        MistakeModel("channel-axis-ignored", _over_channel_axis_1),
        MistakeModel("statistics-over-channels", _over_channels),
        MistakeModel("eps-argument-ignored", _with_eps(variants.batch_norm, 1e-5, 3)),
        MistakeModel("eps-argument-ignored", _with_eps(variants.batch_norm, 1e-3, 3)),
    ),
    chapter="The formulas",
)


def _inference_arguments(case: Case) -> dict[str, Any]:
    c = case.num_channels
    # Running statistics near, not equal to, the batch's: a batch-statistics output differs from the right one.
    mean = case.normal((c,), 4, loc=case.loc, scale=case.scale)
    var = case.positive((c,), 5, 0.25 * case.scale**2, 4.0 * case.scale**2)
    return {"x": case.channel_values(), **_parameters(case), "mean": mean, "var": var, "eps": case.eps, "axis": case.axis}


def _inference_reference(x: Any, gamma: Any, beta: Any, mean: Any, var: Any, eps: float, axis: int) -> Any:
    return bncourse.batch_norm(x, gamma, beta, eps=eps, axis=axis, mean=mean, var=var)


def _inference_with(place: str) -> Any:
    def model(x: Any, gamma: Any, beta: Any, mean: Any, var: Any, eps: float, axis: int) -> Any:
        ndim = np.ndim(x)
        x_hat = (np.asarray(x, np.float64) - variants.column(mean, ndim, axis)) / variants.scale_of(variants.column(var, ndim, axis), eps, place)
        return variants.affine(x_hat, gamma, beta, axis, np.asarray(x).dtype)

    return model


def _inference_batch_statistics(x: Any, gamma: Any, beta: Any, mean: Any, var: Any, eps: float, axis: int) -> Any:
    return variants.batch_norm(x, gamma, beta, eps, axis)


INFERENCE = Exercise(
    name="batch_norm_inference",
    signature="batch_norm_inference(x, gamma, beta, mean, var, eps, axis) -> y",
    outputs=("y",),
    # Inference transforms each example alone: a batch of one is a case too.
    cases=(Case((1, 4), seed=2999), *batch_cases(2)),
    arguments=_inference_arguments,
    reference=_inference_reference,
    models=(
        MistakeModel("batch-statistics-at-inference", _inference_batch_statistics),
        MistakeModel("eps-outside-sqrt", _inference_with("outside")),
        MistakeModel("eps-missing", _inference_with("missing")),
        MistakeModel("missing-sqrt", _inference_with("no-sqrt")),
        MistakeModel("eps-argument-ignored", _with_eps(_inference_with("inside"), 1e-5, 5)),
        MistakeModel("eps-argument-ignored", _with_eps(_inference_with("inside"), 1e-3, 5)),
    ),
    chapter="The formulas",
    valid=lambda case: True,
)


def _backward_arguments(case: Case) -> dict[str, Any]:
    # A random upstream gradient: with dy = 1 the two subtracted terms would cancel and hide mistakes.
    return {"dy": case.normal(case.shape, 6), "x": case.channel_values(), "gamma": _parameters(case)["gamma"],
            "eps": case.eps, "axis": case.axis}


def _backward_reference(dy: Any, x: Any, gamma: Any, eps: float, axis: int) -> Any:
    return tuple(bncourse.batch_norm_backward(dy, x, gamma, eps=eps, axis=axis))


BACKWARD = Exercise(
    name="batch_norm_backward",
    signature="batch_norm_backward(dy, x, gamma, eps, axis) -> (dx, dgamma, dbeta)",
    outputs=("dx", "dgamma", "dbeta"),
    cases=batch_cases(3),
    arguments=_backward_arguments,
    reference=_backward_reference,
    models=(
        MistakeModel("detached-statistics", partial(variants.batch_norm_backward, mean_term=False, projection_term=False)),
        MistakeModel("missing-mean-term", partial(variants.batch_norm_backward, mean_term=False)),
        MistakeModel("missing-projection-term", partial(variants.batch_norm_backward, projection_term=False)),
        MistakeModel("missing-gamma", partial(variants.batch_norm_backward, use_gamma=False)),
        MistakeModel("dgamma-dbeta-swapped", partial(variants.batch_norm_backward, swap=True)),
        MistakeModel("dgamma-uses-x", partial(variants.batch_norm_backward, dgamma_of_x=True)),
        MistakeModel("unbiased-variance", partial(variants.batch_norm_backward, ddof=1)),
        MistakeModel("eps-outside-sqrt", partial(variants.batch_norm_backward, place="outside")),
        MistakeModel("eps-missing", partial(variants.batch_norm_backward, place="missing")),
    ),
    chapter="The backward pass",
)
