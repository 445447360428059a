"""A small table for notebooks: the same text in a notebook's plain output and a rendered Markdown table.

Notebook tests (nbval) compare the ``text/plain`` output, and the website renders ``text/markdown``;
a ``Table`` gives both from one set of rows, so what the site shows is what the tests check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


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
        rows = self._text_rows()
        header, body = rows[0], rows[1:]
        align = ["---:" if all(_is_number(r[i]) for r in body) and body else ":---" for i in range(len(header))]
        lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
