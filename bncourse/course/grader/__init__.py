"""Graded exercises: write batch norm (and its relatives) yourself, and have it checked case by case.

``check(name, fn)`` runs your function ``fn`` on the exercise's cases (edge cases first: ranks 2 to 5,
channels-first and channels-last, ``m = 2``, one channel, float32 far from zero, a variance below ε; then
random ones), compares each result with the reference (:mod:`bncourse`, itself tested against PyTorch and
Keras) and returns a :class:`Report`:

- ``✓ name: passed all N cases`` or
- the first failing case, shrunk to the smallest shape that still fails, the expected and received values
  side by side, and a **diagnosis** when the error is one of the classic mistakes in the catalogue
  (:data:`MISTAKES`): the unbiased variance, ε outside the square root, a missing term of the backward,
  momentum read the wrong way round, statistics over the wrong axes, the running update in the wrong mode, ...

Your function's own errors (an exception, the wrong shape or dtype, NaN, changing an argument in place) are
reported as such. A report's ``arguments`` are the failing case's inputs, to call your function on.

Exercises (:data:`EXERCISES`): ``batch_norm_train``, ``batch_norm_inference``, ``running_update_torch``,
``running_update_keras`` (the formulas chapter); ``batch_norm_backward`` (backward); ``population_statistics``
(training vs inference); ``batch_norm_layer`` (frameworks); ``layer_norm``, ``group_norm`` (beyond BN);
``fold_batch_norm`` (performance). ``signature(name)`` says what to write.

Modules: ``cases`` (what a case is, the case lists, shrinking), ``mistakes`` (the catalogue), ``variants``
(normalization with each mistake as a switch), ``exercise`` (what an exercise is), one module per group of
exercises (``batch_norm``, ``running``, ``per_sample``, ``folding``), ``outcome`` (comparing, the report),
``run`` (attempt, shrink, diagnose).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bncourse.course.grader import batch_norm, folding, per_sample, running
from bncourse.course.grader.exercise import Exercise
from bncourse.course.grader.mistakes import MISTAKES, Mistake
from bncourse.course.grader.outcome import Report
from bncourse.course.grader.run import run

EXERCISES: dict[str, Exercise] = {
    exercise.name: exercise
    for exercise in (
        batch_norm.TRAIN,
        batch_norm.INFERENCE,
        running.TORCH_UPDATE,
        running.KERAS_UPDATE,
        batch_norm.BACKWARD,
        running.POPULATION,
        running.LAYER,
        per_sample.LAYER_NORM,
        per_sample.GROUP_NORM,
        folding.FOLDING,
    )
}


def _exercise(name: object) -> Exercise:
    if not isinstance(name, str):
        raise TypeError(f"name must be an exercise's name (a str), got {type(name).__name__}")
    if name not in EXERCISES:
        raise ValueError(f"name must be one of the exercises {sorted(EXERCISES)}, got {name!r}")
    return EXERCISES[name]


def signature(name: str) -> str:
    """What the reader writes for exercise ``name``, e.g. ``batch_norm_train(x, gamma, beta, eps, axis) -> y``."""
    return _exercise(name).signature


def check(name: str, fn: Callable[..., Any]) -> Report:
    """Grade ``fn`` on exercise ``name``: every case in order, the first failure shrunk and diagnosed.

    ``fn`` is called positionally with the arguments of :func:`signature`; it gets copies, returns NumPy
    arrays of the inputs' dtype, and must not change its arguments. Returns a :class:`Report` (Jupyter shows
    its text); ``report.passed`` says whether every case passed.
    """
    exercise = _exercise(name)
    if not callable(fn):
        raise TypeError(f"fn must be your function (a callable), got {type(fn).__name__}")
    return run(exercise, fn)


__all__ = ["EXERCISES", "MISTAKES", "Exercise", "Mistake", "Report", "check", "signature"]
