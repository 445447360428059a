"""Notebook hygiene. nbval re-executes every notebook and compares outputs, but it passes a notebook with
no stored outputs vacuously; these tests make sure what is committed is a complete, clean, in-order run."""

import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)

# Text that changes from run to run or machine to machine, and must never be committed in an output.
VOLATILE = {
    "a timestamp": r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d",
    "a memory address": r"\b0x[0-9a-fA-F]{6,}\b",
    "a temporary or home path": r"(/tmp/|/var/folders/|/home/|/root/|/work/)",
    "a timing": r"(\bWall time\b|\bCPU times\b|\d+(\.\d+)?\s?(ms|s|us)/step\b|\bit/s\b|\d+\.\d+\s?seconds\b)",
    "a TensorFlow/absl log line": r"(^|\n)[IWEF]\d{4} \d\d:\d\d|absl::InitializeLog|tensorflow/core/|oneDNN custom operations",
    "a Keras progress bar": r"━━━",
}


def test_the_book_has_notebooks() -> None:
    assert len(NOTEBOOKS) >= 2, NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_was_executed_top_to_bottom(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    counts = [cell.get("execution_count") for cell in notebook.cells if cell.cell_type == "code"]
    assert counts, f"{path.name} has no code cells"
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts} are not 1..{len(counts)}: re-run the notebook from a fresh kernel"
    )
    # The kernel with the pinned numerics (scripts/numerics.env), so Jupyter and nbval run it the same way.
    assert notebook.metadata.get("kernelspec", {}).get("name") == "bncourse"
    ids = [cell.get("id") for cell in notebook.cells]
    assert len(set(ids)) == len(ids), f"{path.name}: cell ids are not unique"
    timed = [i for i, cell in enumerate(notebook.cells) if "execution" in cell.metadata]
    assert not timed, f"{path.name}: cells {timed} carry execution timestamps in their metadata"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_are_clean(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        where = f"{path.name}, code cell at index {index}"
        expects_error = "raises-exception" in cell.metadata.get("tags", [])
        errors = [out for out in cell.outputs if out.output_type == "error"]
        assert bool(errors) == expects_error, (
            f"{where}: {'an error output without' if errors else 'no error output despite'} the raises-exception tag"
        )
        for output in cell.outputs:
            assert not (output.output_type == "stream" and output.name == "stderr"), f"{where}: stderr {output.text!r}"
            text = output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
            for what, pattern in VOLATILE.items():
                match = re.search(pattern, text)
                assert match is None, f"{where}: output contains {what}: {match.group(0)!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_tensorflow_logging_is_silenced_before_import(path: Path) -> None:
    source = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code")
    first_import = re.search(r"^\s*(import|from)\s+(keras|tensorflow)\b", source, re.MULTILINE)
    if first_import:
        before = source[: first_import.start()]
        assert "TF_CPP_MIN_LOG_LEVEL" in before and "TF_ENABLE_ONEDNN_OPTS" in before, path.name


def toc_files(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node[key] for key in ("root", "file") if key in node]
        return found + [f for value in node.values() for f in toc_files(value)]
    if isinstance(node, list):
        return [f for item in node for f in toc_files(item)]
    return []


def test_every_notebook_is_in_the_table_of_contents_and_every_entry_exists() -> None:
    entries = toc_files(yaml.safe_load((ROOT / "_toc.yml").read_text()))
    for entry in entries:
        assert any((ROOT / f"{entry}{suffix}").exists() for suffix in (".ipynb", ".md")), entry
    listed = {str((ROOT / entry).with_suffix(".ipynb")) for entry in entries}
    assert {str(p) for p in NOTEBOOKS} <= listed


MAX_CODE_LINE = 76  # what the site shows without a horizontal scroll bar (measured in Chromium)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_cells_fit_the_page(path: Path) -> None:
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type == "code":
            for line in cell.source.splitlines():
                assert len(line) <= MAX_CODE_LINE, f"{path.name}, cell {index}: {len(line)} characters: {line!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_cell_relies_on_a_semicolon_to_hide_its_result(path: Path) -> None:
    """IPython hides a result after a trailing ';', but nbval's kernel calls do not, so the
    re-executed cell would show a repr (often with a memory address) the committed one lacks."""
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        lines = [line.split("#")[0].rstrip() for line in cell.source.splitlines()] if cell.cell_type == "code" else []
        lines = [line for line in lines if line]
        assert not (lines and lines[-1].endswith(";")), f"{path.name}, cell {index}: assign the result to _ instead"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_some_exercise_is_solved_by_executed_code(path: Path) -> None:
    """At least one solution is a gated solution (solution-start ... solution-end) with a code cell
    inside, which nbval re-executes like any other cell."""
    cells = nbformat.read(path, as_version=4).cells
    inside, solved_by_code = False, 0
    for cell in cells:
        if cell.cell_type == "markdown" and "{solution-start}" in cell.source:
            inside = True
        elif cell.cell_type == "markdown" and "{solution-end}" in cell.source:
            inside = False
        elif inside and cell.cell_type == "code" and cell.outputs:
            solved_by_code += 1
    assert solved_by_code >= 1, f"{path.name}: no exercise has an executed code solution"
