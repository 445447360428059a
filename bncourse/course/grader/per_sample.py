"""Exercises on the per-example normalizations of the "Beyond BatchNorm" chapter: LayerNorm and GroupNorm."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

import bncourse
from bncourse.course.grader import variants
from bncourse.course.grader.cases import Case, batch_cases
from bncourse.course.grader.exercise import Exercise, MistakeModel


def _trailing(case: Case) -> tuple[int, ...]:
    return case.shape[len(case.shape) - case.option("normalized_dims"):]


def _layer_norm_arguments(case: Case) -> dict[str, Any]:
    shape = _trailing(case)
    return {"x": case.channel_values(), "gamma": case.positive(shape, 1), "beta": case.normal(shape, 3), "eps": case.eps}


def _layer_norm_reference(x: Any, gamma: Any, beta: Any, eps: float) -> Any:
    return bncourse.layer_norm(x, np.shape(gamma), gamma, beta, eps=eps)


def _layer_norm_model(axes_of: str, *, ddof: int = 0, place: str = "inside") -> Any:
    def model(x: Any, gamma: Any, beta: Any, eps: float) -> Any:
        x = np.asarray(x)
        k = np.ndim(gamma)
        axes = {"trailing": tuple(range(x.ndim - k, x.ndim)), "batch": (0,), "sample": tuple(range(1, x.ndim))}[axes_of]
        y: Any = (variants.standardize(x, axes, eps, ddof=ddof, place=place) * np.asarray(gamma, np.float64) + beta).astype(x.dtype)
        return y

    return model


def _with_normalized_dims(rng: np.random.Generator) -> dict[str, Any]:
    return {"normalized_dims": int(rng.integers(1, 3))}


def _layer_norm_cases() -> tuple[Case, ...]:
    # Every case's trailing `normalized_dims` axes are normalized (at most rank − 1 of them).
    cases = batch_cases(8, options=_with_normalized_dims)
    return tuple(replace(case, axis=-1, options=(("normalized_dims", min(case.option("normalized_dims"), len(case.shape) - 1)),))
                 for case in cases)


LAYER_NORM = Exercise(
    name="layer_norm",
    signature="layer_norm(x, gamma, beta, eps) -> y  (normalize over the trailing gamma.ndim axes)",
    outputs=("y",),
    cases=_layer_norm_cases(),
    arguments=_layer_norm_arguments,
    reference=_layer_norm_reference,
    models=(
        MistakeModel("statistics-over-batch", _layer_norm_model("batch")),
        MistakeModel("statistics-over-all-sample-axes", _layer_norm_model("sample")),
        MistakeModel("unbiased-variance", _layer_norm_model("trailing", ddof=1)),
        MistakeModel("eps-outside-sqrt", _layer_norm_model("trailing", place="outside")),
        MistakeModel("eps-missing", _layer_norm_model("trailing", place="missing")),
    ),
    chapter="Beyond BatchNorm",
    valid=lambda case: case.option("normalized_dims") < len(case.shape),
    per_channel=False,
)


def _group_norm_arguments(case: Case) -> dict[str, Any]:
    c = case.num_channels
    return {"x": case.channel_values(), "num_groups": case.option("num_groups"), "gamma": case.positive((c,), 1),
            "beta": case.normal((c,), 3), "eps": case.eps}


def _group_norm_reference(x: Any, num_groups: int, gamma: Any, beta: Any, eps: float) -> Any:
    return bncourse.group_norm(x, num_groups, gamma, beta, eps=eps)


def _group_norm_model(grouping: str, *, ddof: int = 0, place: str = "inside") -> Any:
    def model(x: Any, num_groups: int, gamma: Any, beta: Any, eps: float) -> Any:
        x = np.asarray(x)
        n, c, spatial = x.shape[0], x.shape[1], x.shape[2:]
        g = {"consecutive": num_groups, "interleaved": num_groups, "one-channel": c}[grouping]
        if grouping == "interleaved":  # channel k in group k % G
            grouped = x.reshape(n, c // g, g, *spatial).swapaxes(1, 2)
        else:
            grouped = x.reshape(n, g, c // g, *spatial)
        x_hat = variants.standardize(grouped, tuple(range(2, grouped.ndim)), eps, ddof=ddof, place=place)
        if grouping == "interleaved":
            x_hat = x_hat.swapaxes(1, 2)
        return variants.affine(x_hat.reshape(x.shape), gamma, beta, 1, x.dtype)

    return model


def _group_norm_cases() -> tuple[Case, ...]:
    shapes = [(2, 4), (2, 6, 3), (3, 4, 2, 2), (2, 6, 2, 1, 2), (1, 8, 3), (2, 2, 5)]
    edge = [Case(shape, seed=9000 + i, options=(("num_groups", 2),)) for i, shape in enumerate(shapes)]
    edge.append(Case((2, 6, 4), dtype="float32", loc=1e3, seed=9010, options=(("num_groups", 3),)))
    edge.append(Case((2, 4, 3), scale=0.01, eps=1e-3, seed=9011, options=(("num_groups", 2),)))
    rng = np.random.default_rng(9)
    drawn = []
    for index in range(10):
        groups = int(rng.choice([2, 3]))
        rank = int(rng.integers(2, 6))
        shape = (int(rng.integers(1, 4)), groups * int(rng.integers(2, 4)), *(int(v) for v in rng.integers(1, 4, rank - 2)))
        drawn.append(Case(shape, dtype=str(rng.choice(["float64", "float32"])), loc=float(rng.choice([0.0, 3.0])),
                          scale=float(rng.choice([1.0, 0.1])), eps=float(rng.choice([1e-5, 1e-3])), seed=9100 + index,
                          options=(("num_groups", groups),)))
    return tuple(edge + drawn)


GROUP_NORM = Exercise(
    name="group_norm",
    signature="group_norm(x, num_groups, gamma, beta, eps) -> y  (channels on axis 1)",
    outputs=("y",),
    cases=_group_norm_cases(),
    arguments=_group_norm_arguments,
    reference=_group_norm_reference,
    models=(
        MistakeModel("interleaved-groups", _group_norm_model("interleaved")),
        MistakeModel("groups-of-one-channel", _group_norm_model("one-channel")),
        MistakeModel("unbiased-variance", _group_norm_model("consecutive", ddof=1)),
        MistakeModel("eps-outside-sqrt", _group_norm_model("consecutive", place="outside")),
        MistakeModel("eps-missing", _group_norm_model("consecutive", place="missing")),
    ),
    chapter="Beyond BatchNorm",
    # Each example's group needs two values; the channels must split into the groups.
    valid=lambda case: case.num_channels % case.option("num_groups") == 0
    and case.values_per_channel // case.shape[0] * case.num_channels // case.option("num_groups") >= 2,
    per_channel=False,
)
