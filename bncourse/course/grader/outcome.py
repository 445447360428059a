r"""Comparing what the reader's function returned with the reference, and the report the reader reads.

Values are compared per output with a tolerance for the dtype, relative to the output's largest entry:

.. math:: |r - e| \le \text{rtol}\cdot|e| + \text{atol}\cdot\max|e|,

float64: 1e-7 (a correct float64 implementation is within about 1e-10 of it, one-pass variance included,
even for values 1000 σ from zero); float32: 5e-4 (correct float32 implementations, two-pass with NumPy's
pairwise sums or with plain sequential sums, are within about 5e-5 on the same data; a one-pass variance is
off by percents). Every mistake in the catalogue is larger than these on the cases it is tested on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from bncourse.course.grader.cases import Case
from bncourse.course.grader.mistakes import MISTAKES

TOLERANCE: dict[str, float] = {"float64": 1e-7, "float32": 5e-4}
SIDE_BY_SIDE = 4  # entries shown of a differing output


FailureKind = Literal["exception", "returned", "shape", "dtype", "nonfinite", "mutated", "values"]


@dataclass(frozen=True)
class Failure:
    """Why a case failed. ``kind``: ``"exception"``, ``"returned"`` (wrong type or number of outputs),
    ``"shape"``, ``"dtype"``, ``"nonfinite"``, ``"mutated"`` or ``"values"``; ``output``: the index of the
    output concerned (``"values"``, ``"shape"``, ``"dtype"``, ``"nonfinite"``); ``rows``: index, expected,
    received, for the side-by-side table."""

    kind: FailureKind
    message: str
    output: int | None = None
    rows: tuple[tuple[str, float, float], ...] = field(default=())


def as_outputs(value: Any, count: int) -> tuple[Any, ...] | None:
    """``value`` as a tuple of ``count`` outputs, or None if it is not shaped like one."""
    if count == 1:
        return None if isinstance(value, (tuple, list)) else (value,)
    if isinstance(value, (tuple, list)) and len(value) == count:
        return tuple(value)
    return None


def compare(expected: tuple[np.ndarray[Any, Any], ...], received: Any, names: tuple[str, ...]) -> Failure | None:
    """The first way ``received`` differs from ``expected`` (outputs called ``names``), or None."""
    outputs = as_outputs(received, len(names))
    if outputs is None:
        wanted = "one array" if len(names) == 1 else f"a tuple of {len(names)} arrays ({', '.join(names)})"
        got = f"a {type(received).__name__} of {len(received)}" if isinstance(received, (tuple, list)) else _kind(received)
        return Failure("returned", f"your function returned {got}; expected {wanted}")
    for index, (name, want, got) in enumerate(zip(names, expected, outputs)):
        failure = compare_output(name, want, got)
        if failure is not None:
            return Failure(failure.kind, failure.message, index, failure.rows)
    return None


def compare_output(name: str, want: np.ndarray[Any, Any], got: Any) -> Failure | None:
    """How one returned output ``got`` differs from ``want``: type, shape, dtype, NaN/inf, then values."""
    if not isinstance(got, np.ndarray):
        return Failure("returned", f"{name} is {_kind(got)}; expected a NumPy array of shape {want.shape} and dtype {want.dtype}")
    if got.shape != want.shape:
        return Failure("shape", f"{name} has shape {got.shape}; expected {want.shape}")
    if got.dtype != want.dtype:
        return Failure(
            "dtype",
            f"{name} has dtype {got.dtype}; expected {want.dtype}, the dtype of the inputs (compute in a wider "
            f"type if you like, then cast back with .astype; in NumPy 2 a NumPy float64 scalar, such as m/(m − 1) "
            f"of NumPy integers, turns a float32 array into float64)",
        )
    finite = np.isfinite(got)
    if not finite.all():
        where = _where(~finite)
        return Failure("nonfinite", f"{name} contains {np.count_nonzero(~finite)} NaN or infinite value(s)", None, _rows(name, want, got, where))
    close = close_enough(want, got)
    if close.all():
        return None
    where = _where(~close)
    largest = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
    message = (
        f"{name} differs from the reference at {np.count_nonzero(~close)} of {close.size} entries "
        f"(largest difference {largest:.3g}; tolerance {TOLERANCE[want.dtype.name]:g} relative to max|{name}|)"
    )
    return Failure("values", message, None, _rows(name, want, got, where))


def close_enough(want: np.ndarray[Any, Any], got: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Entry by entry: ``|got − want| ≤ tol·|want| + tol·max|want|`` (see the module)."""
    tol = TOLERANCE[want.dtype.name]
    wide_want, wide_got = want.astype(np.float64), got.astype(np.float64)
    largest = float(np.max(np.abs(wide_want), initial=0.0)) or 1.0
    result: np.ndarray[Any, np.dtype[np.bool_]] = np.abs(wide_got - wide_want) <= tol * (np.abs(wide_want) + largest)
    return result


def _kind(value: Any) -> str:
    if value is None:
        return "None"
    return f"a {type(value).__module__.split('.')[0]}.{type(value).__name__}".replace("a builtins.", "a ")


def _where(mask: np.ndarray[Any, Any]) -> list[tuple[int, ...]]:
    return [tuple(int(i) for i in index) for index in np.argwhere(mask)[:SIDE_BY_SIDE]]


def _rows(name: str, want: np.ndarray[Any, Any], got: np.ndarray[Any, Any], where: list[tuple[int, ...]]) -> tuple[tuple[str, float, float], ...]:
    return tuple((f"{name}[{', '.join(map(str, index))}]", float(want[index]), float(got[index])) for index in where)


@dataclass(frozen=True)
class Report:
    """What :func:`~bncourse.course.grader.check` found. ``passed``; ``cases_run`` of ``total``; for a
    failure the shrunk ``case``, its ``arguments`` (to call your function on), ``expected``, ``received``,
    the ``failure`` and the ``diagnosis`` (a mistake's name in the catalogue, or None)."""

    exercise: str
    signature: str
    chapter: str
    passed: bool
    cases_run: int
    total: int
    coverage: str
    case: Case | None = None
    failure: Failure | None = None
    diagnosis: str | None = None
    arguments: dict[str, Any] | None = None
    expected: tuple[Any, ...] | None = None
    received: Any = None

    @property
    def advice(self) -> str | None:
        """What to fix, for a diagnosed failure."""
        return None if self.diagnosis is None else MISTAKES[self.diagnosis].advice

    def __str__(self) -> str:
        if self.passed or self.case is None or self.failure is None:
            return f"✓ {self.exercise}: passed all {self.total} cases ({self.coverage})."
        lines = [
            f"✗ {self.exercise}: case {self.cases_run} of {self.total} fails; the smallest case that still fails:",
            f"    {self.case.describe(self.arguments or ())}",
            self.failure.message + ("." if not self.failure.message.endswith(".") else ""),
        ]
        if self.failure.rows:
            width = max(len(row[0]) for row in self.failure.rows)
            lines.append(f"    {'':<{width}}  {'expected':>12}  {'received':>12}")
            lines += [f"    {index:<{width}}  {want:>12.6g}  {got:>12.6g}" for index, want, got in self.failure.rows]
        if self.diagnosis is not None:
            lines.append(f"Diagnosis ({self.diagnosis}): {self.advice}")
        elif self.failure.kind == "values":
            lines.append(f"No mistake in the catalogue matches; compare with the formulas of the chapter \"{self.chapter}\".")
        lines.append("The report's .arguments hold this case's arguments, its .expected the reference's result.")
        return "\n".join(lines)

    def __repr__(self) -> str:
        state = "passed" if self.passed else f"failed ({self.diagnosis or self.failure.kind if self.failure else ''})"
        return f"<Report {self.exercise}: {state}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Jupyter shows the full text (``str``) as a cell's result."""
        printer.text(str(self))
