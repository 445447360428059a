"""The exercise of the performance chapter: fold an inference-mode batch norm into the layer before it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

import bncourse
from bncourse.course.grader import variants
from bncourse.course.grader.cases import Case
from bncourse.course.grader.exercise import Exercise, MistakeModel


def _arguments(case: Case) -> dict[str, Any]:
    out = case.shape[0]
    # Every array around loc ± scale (what the case's description says), the variance around scale².
    return {"weight": case.normal(case.shape, 7, loc=case.loc, scale=case.scale), "bias": case.normal((out,), 8) if case.option("bias") else None,
            "gamma": case.positive((out,), 1), "beta": case.normal((out,), 3),
            "mean": case.normal((out,), 4, loc=case.loc, scale=case.scale),
            "var": case.positive((out,), 5, 0.25 * case.scale**2, 4.0 * case.scale**2), "eps": case.eps}


def _reference(weight: Any, bias: Any, gamma: Any, beta: Any, mean: Any, var: Any, eps: float) -> Any:
    return bncourse.fold_batch_norm(weight, bias, gamma, beta, mean, var, eps=eps)


def _model(*, place: str = "inside", scaled_axis: int = 0, use_bias: bool = True, eps: float | None = None) -> Any:
    """Folding with a mistake: ε's ``place``, the ``scaled_axis`` of the weight, the layer's bias used or not, a
    fixed ``eps`` instead of the argument."""
    fixed_eps = eps

    def model(weight: Any, bias: Any, gamma: Any, beta: Any, mean: Any, var: Any, eps: float) -> Any:
        eps = eps if fixed_eps is None else fixed_eps
        w = np.asarray(weight)
        s = np.asarray(gamma, np.float64) / variants.scale_of(var, eps, place)
        folded = w.astype(np.float64) * variants.column(s, w.ndim, scaled_axis)
        b = np.zeros(w.shape[0]) if bias is None or not use_bias else np.asarray(bias, np.float64)
        return folded.astype(w.dtype), (s * (b - np.asarray(mean, np.float64)) + beta).astype(w.dtype)

    return model


def _cases() -> tuple[Case, ...]:
    edge = [
        Case((3, 3), options=(("bias", True),)),  # square: scaling the wrong axis does not raise, it shows
        Case((4, 3), options=(("bias", True),)),  # a linear layer (out, in)
        Case((3, 2, 3, 3), options=(("bias", True),)),  # a 2-d convolution (out, in, kh, kw)
        Case((3, 2, 3, 3), options=(("bias", False),)),  # a convolution without bias (as before BN, usually)
        Case((4, 1, 3, 3), options=(("bias", True),)),  # depthwise
        Case((3, 2, 3), dtype="float32", scale=0.01, eps=1e-3, options=(("bias", True),)),  # σ² < ε
        Case((2, 2, 3, 3, 3), options=(("bias", True),)),  # a 3-d convolution
    ]
    rng = np.random.default_rng(10)
    drawn = []
    for _ in range(8):
        rank = int(rng.integers(2, 5))
        shape = (int(rng.integers(1, 5)), int(rng.integers(1, 5)), *(int(v) for v in rng.integers(1, 4, rank - 2)))
        drawn.append(Case(shape, dtype=str(rng.choice(["float64", "float32"])), loc=float(rng.choice([0.0, 3.0])),
                          scale=float(rng.choice([1.0, 0.1])), eps=float(rng.choice([1e-5, 1e-3])),
                          options=(("bias", bool(rng.random() < 0.7)),)))
    return tuple(replace(case, axis=0, seed=10_000 + index) for index, case in enumerate(edge + drawn))


FOLDING = Exercise(
    name="fold_batch_norm",
    signature="fold_batch_norm(weight, bias, gamma, beta, mean, var, eps) -> (weight, bias)",
    outputs=("weight", "bias"),
    cases=_cases(),
    arguments=_arguments,
    reference=_reference,
    models=(
        MistakeModel("scaled-input-channels", _model(scaled_axis=1)),
        MistakeModel("layer-bias-ignored", _model(use_bias=False)),
        MistakeModel("eps-outside-sqrt", _model(place="outside")),
        MistakeModel("eps-missing", _model(place="missing")),
        MistakeModel("missing-sqrt", _model(place="no-sqrt")),
        MistakeModel("eps-argument-ignored", _model(eps=1e-5)),
        MistakeModel("eps-argument-ignored", _model(eps=1e-3)),
    ),
    chapter="Performance",
    valid=lambda case: True,
    per_channel=False,
)
