"""Running a reader's function on an exercise's cases: one attempt, shrinking a failure, and the diagnosis."""

from __future__ import annotations

import contextlib
import copy
import io
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

import bncourse
from bncourse.course.grader.cases import Case, smaller_shapes
from bncourse.course.grader.exercise import Exercise
from bncourse.course.grader.outcome import Failure, Report, as_outputs, compare, compare_output

# Frames in these directories are not the reader's code: bncourse (the grader included) and NumPy; nor is
# anything installed in site-packages.
_NOT_THE_READERS = (str(Path(bncourse.__file__).parent) + "/", str(Path(np.__file__).parent) + "/")
MAX_SHRINK_ATTEMPTS = 300
FAR_FROM_ZERO = 100.0  # |loc| / scale from which float32 cancellation is a suspect


@dataclass(frozen=True)
class Attempt:
    """One case run: its ``arguments``, the reference's ``expected`` outputs, what the reader's function
    returned (``received``) and the ``failure``, if any."""

    case: Case
    arguments: dict[str, Any]
    expected: tuple[Any, ...]
    received: Any
    failure: Failure | None


@contextlib.contextmanager
def silenced() -> Iterator[None]:
    """The reader's function's own prints discarded."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No NumPy warnings (division by zero, ddof on one value, ...): a NaN they announce is reported anyway."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def attempt(exercise: Exercise, fn: Callable[..., Any], case: Case) -> Attempt:
    """Run ``fn`` on ``case``: on copies of the arguments, so that changing them in place shows."""
    arguments = exercise.arguments(case)
    expected = as_outputs(exercise.reference(*arguments.values()), len(exercise.outputs))
    if expected is None:  # a bug in the exercise's definition, not in the reader's function
        raise RuntimeError(f"{exercise.name}'s reference returned the wrong number of outputs")
    given = copy.deepcopy(arguments)
    try:
        with quiet():
            received = fn(*given.values())
    except Exception as error:  # the reader's error, whatever it is, is reported, not raised
        return Attempt(case, arguments, expected, None, Failure("exception", _describe_exception(error)))
    for name, value in arguments.items():
        if not _equal(value, given[name]):
            message = f"your function changed its argument {name} in place; return new arrays instead"
            return Attempt(case, arguments, expected, received, Failure("mutated", message))
    return Attempt(case, arguments, expected, received, compare(expected, received, exercise.outputs))


def shrink(exercise: Exercise, fn: Callable[..., Any], failed: Attempt) -> Attempt:
    """The smallest case (greedily, one axis at a time) that fails the same way as ``failed``."""
    if failed.failure is None:
        return failed
    kind = failed.failure.kind
    tries = 0
    improved = True
    while improved and tries < MAX_SHRINK_ATTEMPTS:
        improved = False
        for shape in smaller_shapes(failed.case):
            candidate = replace(failed.case, shape=shape)
            if not exercise.valid(candidate):
                continue
            tries += 1
            if tries > MAX_SHRINK_ATTEMPTS:
                break
            result = attempt(exercise, fn, candidate)
            if result.failure is not None and result.failure.kind == kind:
                failed, improved = result, True
                break
    return failed


def explanations(exercise: Exercise, fn: Callable[..., Any], failed: Attempt) -> list[str]:
    """The names of the catalogued mistakes that explain ``failed``, in the exercise's order.

    A mistake's model explains a failure if its output equals what the reader returned in the first output
    that differs from the reference. Last, the precision probe: a float32 case far from zero that passes in
    float64.
    """
    failure = failed.failure
    if failure is None or failure.kind != "values" or failure.output is None:
        return []
    index = failure.output
    received = as_outputs(failed.received, len(exercise.outputs))
    if received is None:  # a values failure implies well-formed outputs; nothing to match otherwise
        return []
    names = []
    for model in exercise.models:
        try:
            with quiet():
                made = as_outputs(model.compute(*copy.deepcopy(failed.arguments).values()), len(exercise.outputs))
        except Exception:  # a mistake that cannot happen on this case (e.g. shapes that do not broadcast)
            continue
        if made is not None and compare_output(exercise.outputs[index], made[index], received[index]) is None:
            names.append(model.mistake)
    case = failed.case
    if case.dtype == "float32" and abs(case.loc) >= FAR_FROM_ZERO * case.scale:
        if attempt(exercise, fn, replace(case, dtype="float64")).failure is None:
            names.append("float32-cancellation")
    return names


def diagnose(exercise: Exercise, fn: Callable[..., Any], first: Attempt, smallest: Attempt) -> str | None:
    """The first catalogued mistake that explains both the first failing case and the shrunk one, or None.

    Both, because on a small case several mistakes can coincide (where every reduced axis has size 1, any
    normalization over those axes outputs β), on a larger one they rarely do; and the report shows the small one.
    """
    with silenced():
        on_smallest = set(explanations(exercise, fn, smallest))
        return next((name for name in explanations(exercise, fn, first) if name in on_smallest), None)


def run(exercise: Exercise, fn: Callable[..., Any]) -> Report:
    """Every case of ``exercise`` in order; the first failure is shrunk and diagnosed."""
    passed = Report(
        exercise=exercise.name, signature=exercise.signature, chapter=exercise.chapter, passed=True,
        cases_run=len(exercise.cases), total=len(exercise.cases), coverage=coverage(exercise),
    )
    for number, case in enumerate(exercise.cases, start=1):
        first = attempt(exercise, fn, case)
        if first.failure is None:
            continue
        with silenced():  # the reader's prints, once per shrinking step, would flood the output
            smallest = shrink(exercise, fn, first)
        diagnosis = diagnose(exercise, fn, first, smallest)
        return replace(
            passed, passed=False, cases_run=number, case=smallest.case, failure=smallest.failure, diagnosis=diagnosis,
            arguments=smallest.arguments, expected=smallest.expected, received=smallest.received,
        )
    return passed


def coverage(exercise: Exercise) -> str:
    """What the cases span, e.g. ``ranks 2–5, axis 1 and -1, float32 and float64, 1–4 channels``."""
    cases = exercise.cases
    ranks = sorted({len(case.shape) for case in cases})
    parts = [f"ranks {ranks[0]}–{ranks[-1]}" if len(ranks) > 1 else f"rank {ranks[0]}"]
    if "axis" in exercise.arguments(cases[0]):
        parts.append("axis " + " and ".join(str(a) for a in sorted({case.axis for case in cases}, reverse=True)))
    parts.append(" and ".join(sorted({case.dtype for case in cases}, reverse=True)))
    if exercise.per_channel:
        m = [case.values_per_channel for case in cases]
        parts.append(f"m = {min(m)} to {max(m)} values per channel")
    return ", ".join(parts)


def _describe_exception(error: Exception) -> str:
    """``raised ValueError: ... (in f, line 3: y = ...)``: the deepest frame of the reader's own code."""
    frames = [
        frame for frame in traceback.extract_tb(error.__traceback__)
        if not frame.filename.startswith(_NOT_THE_READERS) and "site-packages" not in frame.filename
    ]
    where = f" (in {frames[-1].name}, line {frames[-1].lineno}: {frames[-1].line})" if frames else ""
    return f"your function raised {type(error).__name__}: {error}{where}"


def _equal(a: Any, b: Any) -> bool:
    """Whether an argument is unchanged (arrays entry by entry, NaN equal to NaN)."""
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return bool(a == b) if a is not None else b is None
