"""What a graded exercise is: its cases, how a case becomes arguments, the reference, and the mistakes it
can recognize (each a function that makes one mistake on purpose)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bncourse.course.grader.cases import Case
from bncourse.course.grader.mistakes import MISTAKES


@dataclass(frozen=True)
class MistakeModel:
    """A function with the exercise's signature that makes the mistake named ``mistake``."""

    mistake: str
    compute: Callable[..., Any]

    def __post_init__(self) -> None:
        if self.mistake not in MISTAKES:
            raise ValueError(f"mistake must be a name in the catalogue, got {self.mistake!r}")


def at_least_two_values_per_channel(case: Case) -> bool:
    """Training-mode batch norm's condition: more than one value per channel."""
    return case.values_per_channel >= 2


@dataclass(frozen=True)
class Exercise:
    """A graded exercise.

    Attributes:
        name: what the reader passes to :func:`~bncourse.course.grader.check`.
        signature: the function the reader writes, e.g. ``batch_norm_train(x, gamma, beta, eps, axis) -> y``.
        outputs: the names of the returned arrays, in order (one name: the function returns one array).
        cases: the cases run, in order (edge cases first).
        arguments: a case's arguments, by parameter name, in the order they are passed (positionally).
        reference: the correct function (the same signature), built on :mod:`bncourse`.
        models: the recognizable mistakes, tried in order.
        valid: whether a (shrunk) case is one the exercise accepts.
        chapter: the chapter that teaches it, for the report.
        per_channel: whether the cases' statistics are per channel (the report then says which ``m`` they span).
    """

    name: str
    signature: str
    outputs: tuple[str, ...]
    cases: tuple[Case, ...]
    arguments: Callable[[Case], dict[str, Any]]
    reference: Callable[..., Any]
    models: tuple[MistakeModel, ...]
    chapter: str
    valid: Callable[[Case], bool] = at_least_two_values_per_channel
    per_channel: bool = True
