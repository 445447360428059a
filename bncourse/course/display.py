"""A small table for notebooks: the same text in a notebook's plain output and a rendered Markdown table.

Notebook tests (nbval) compare the ``text/plain`` output, and the website renders ``text/markdown``;
a ``Table`` gives both from one set of rows, so what the site shows is what the tests check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bncourse import validation


def _cell(value: object, digits: int) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


@dataclass(frozen=True)
class Table:
    """Rows of values under ``headers``; floats are shown with ``digits`` decimals."""

    headers: Sequence[str]
    rows: Sequence[Sequence[object]]
    digits: int = 6

    def __post_init__(self) -> None:
        for index, row in enumerate(self.rows):
            if len(row) != len(self.headers):
                raise ValueError(f"rows[{index}] has {len(row)} values, expected {len(self.headers)} (one per header)")

    def _text_rows(self) -> list[list[str]]:
        return [list(self.headers)] + [[_cell(value, self.digits) for value in row] for row in self.rows]

    def __repr__(self) -> str:
        rows = self._text_rows()
        widths = [max(len(row[i]) for row in rows) for i in range(len(self.headers))]
        lines = ["  ".join(text.ljust(width) for text, width in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * width for width in widths))
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        # A "|" inside a cell would end it: escape it (e.g. a header "max |difference|").
        rows = [[text.replace("|", "\\|") for text in row] for row in self._text_rows()]
        header, body = rows[0], rows[1:]
        align = ["---:" if all(_is_number(r[i]) for r in body) and body else ":---" for i in range(len(header))]
        lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)


def median_range(values: Sequence[float], *, scale: float = 1.0, digits: int = 0) -> str:
    """``"median (min–max)"`` of ``values`` (one per seed) times ``scale``, with ``digits`` decimals:
    how the chapters report a number that comes out of training. Rounding to few digits is deliberate:
    the digits shown must not change when round-off does (a perturbed nbval run checks it)."""
    validation.require_nonempty("values", values)
    scaled = scale * np.asarray(values, dtype=np.float64)
    low, mid, high = scaled.min(), np.median(scaled), scaled.max()
    return f"{mid:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


def percent_band(values: Sequence[float], *, width: int = 10) -> str:
    """The band of ``width`` percentage points that holds the median of ``values`` (fractions, one per
    seed), e.g. ``"70–80 %"``: for a result of chaotic training, where even the median over seeds moves by
    a point or two when round-off changes, and a plot shows the numbers themselves."""
    validation.require_nonempty("values", values)
    width = validation.require_int("width", width, minimum=1, maximum=100)
    if 100 % width:
        raise ValueError(f"width must be an int that divides 100, got {width!r}")
    low = min(int(100 * float(np.median(values)) // width) * width, 100 - width)
    return f"{low}–{low + width} %"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
