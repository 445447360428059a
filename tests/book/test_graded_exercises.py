"""The graded implementation exercises in the book: every chapter that teaches a computation has one, every
exercise of the grader is used, each starter cell's stored output is the grader's failure report for the
unfinished function (so nbval re-checks that it does not fail the notebook), and each collapsed solution's
stored output is a pass."""

import re
from pathlib import Path

import nbformat
import pytest

from bncourse.course import grader

BOOK = Path(__file__).resolve().parents[2] / "book"
# The chapters that teach a computation, and the exercises each grades.
GRADED = {
    "formulas": {"batch_norm_train", "batch_norm_inference"},
    "two_sample_example": {"running_update_torch", "running_update_keras"},
    "backward": {"batch_norm_backward"},
    "train_inference": {"population_statistics"},
    "frameworks": {"batch_norm_layer"},
    "beyond_bn": {"layer_norm", "group_norm"},
    "performance": {"fold_batch_norm"},
}
CHECK = re.compile(r'grader\.check\("(\w+)", (\w+)\)')


def test_every_exercise_of_the_grader_is_in_the_book() -> None:
    assert set().union(*GRADED.values()) == set(grader.EXERCISES)


def _text(cell: nbformat.NotebookNode) -> str:
    return "".join(out.get("text", "") + str(out.get("data", {}).get("text/plain", "")) for out in cell.outputs)


@pytest.mark.parametrize("chapter", sorted(GRADED))
def test_starter_cells_fail_as_shown_and_solutions_pass(chapter: str) -> None:
    cells = nbformat.read(BOOK / f"{chapter}.ipynb", as_version=4).cells
    inside, starters, solutions = False, set(), set()
    for cell in cells:
        if cell.cell_type == "markdown":
            inside = (inside or "{solution-start}" in cell.source) and "{solution-end}" not in cell.source
            continue
        for name, function in CHECK.findall(cell.source):
            output = _text(cell)
            if inside:
                if f"✓ {name}: passed all" in output:
                    solutions.add(name)
            else:
                # The unfinished function returns None (its body is `...`), and the report says so.
                assert f"def {function}(" in cell.source and "...  # your code here" in cell.source, function
                assert not cell.metadata.get("tags"), "a starter cell runs like any other cell"
                assert f"✗ {name}: case 1 of" in output and "None" in output, output
                starters.add(name)
    assert starters == GRADED[chapter], (chapter, starters)
    assert solutions == GRADED[chapter], (chapter, solutions)
