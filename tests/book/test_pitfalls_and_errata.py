"""Structure the "Pitfalls in practice" and "FAQ and errata" chapters promise, checked on the committed
notebooks: every pitfall has a failing cell, a fix whose cell asserts it works, and a GitHub thread; every
seed FAQ question is answered; the errata cover all five seeds and every row links to its evidence. (nbval
re-runs the cells, so the asserts themselves are executed there, under both numerical configurations.)"""

import re
from pathlib import Path

import nbformat
import pytest

BOOK = Path(__file__).resolve().parents[2] / "book"
THREAD = re.compile(r"https://github\.com/[\w.-]+/[\w.-]+/(issues|pull)/\d+")
SEED_FAQ_COUNTS = {"000": 4, "002": 3, "003": 4, "004": 4}  # the seeds' FAQ questions, 15 in all


def sections(name: str) -> dict[str, list]:
    """The notebook's cells grouped under their level-2 headings."""
    notebook = nbformat.read(BOOK / f"{name}.ipynb", as_version=4)
    grouped: dict[str, list] = {}
    current = "(preamble)"
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("## "):
                    current = line[3:].strip()
                    grouped[current] = []
        grouped.setdefault(current, []).append(cell)
    return grouped


def pitfalls() -> dict[str, list]:
    return {title: cells for title, cells in sections("pitfalls").items() if re.match(r"\d+\. ", title)}


def test_there_are_at_least_15_numbered_pitfalls() -> None:
    numbers = [int(title.split(".")[0]) for title in pitfalls()]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 15, numbers


@pytest.mark.parametrize("title", sorted(pitfalls(), key=lambda t: int(t.split(".")[0])))
def test_each_pitfall_has_a_symptom_a_tested_fix_and_a_thread(title: str) -> None:
    cells = pitfalls()[title]
    code = [cell for cell in cells if cell.cell_type == "code"]
    text = "\n".join(cell.source for cell in cells if cell.cell_type == "markdown")
    assert "**Symptom.**" in text and "**Why.**" in text and "**Fix.**" in text, title
    assert THREAD.search(text), f"{title}: no GitHub issue or pull request linked"
    # The symptom: a cell that raises (tagged) or prints the discrepancy, before the fix.
    assert len(code) >= 2, f"{title}: needs a failing cell and a fix cell"
    # The fix is tested: an assert in a cell after the symptom.
    assert any(re.search(r"\bassert|assert_(all)?close", cell.source) for cell in code[1:]), (
        f"{title}: no cell after the symptom asserts that the fix works"
    )


def test_every_seed_faq_question_is_answered() -> None:
    notebook = nbformat.read(BOOK / "faq.ipynb", as_version=4)
    text = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    labels = set(re.findall(r"^\(([\w-]+)\)=", text, flags=re.M))
    index = re.findall(r"^\| (\d{3}), Q(\d) \| .+ \| (.+) \|$", text, flags=re.M)
    asked = {(seed, int(q)) for seed, q, _ in index}
    expected = {(seed, q) for seed, count in SEED_FAQ_COUNTS.items() for q in range(1, count + 1)}
    assert asked == expected, sorted(expected ^ asked)
    for seed, q, where in index:
        targets = re.findall(r"\{ref\}`([\w-]+)`", where)
        assert targets and set(targets) <= labels, f"seed {seed} Q{q}: answered in {where}, not a section here"


def test_errata_cover_all_five_seeds_and_link_evidence() -> None:
    notebook = nbformat.read(BOOK / "faq.ipynb", as_version=4)
    text = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    for seed in ["000", "001", "002", "003", "004"]:
        assert f"(errata-{seed})=" in text, seed
        block = text.split(f"(errata-{seed})=")[1].split("\n\n(")[0]
        rows = [line for line in block.splitlines() if re.match(r"\| (§\d|FAQ)", line)]
        assert len(rows) >= 5, f"seed {seed}: only {len(rows)} errata rows"
        for row in rows:
            cells = [c.strip() for c in row.strip("|").split(" | ")]
            assert cells[2] in {"wrong", "misleading", "unsupported"}, row
            assert "{ref}" in cells[4] or "{doc}" in cells[4] or cells[4] in {"(bibliographic)", "—"}, row


@pytest.mark.parametrize(
    "name",
    ["motivation", "formulas", "two_sample_example", "backward", "train_inference", "frameworks", "experiments",
     "optimization", "beyond_bn", "performance"],
)
def test_each_chapter_links_to_its_errata(name: str) -> None:
    source = (BOOK / f"{name}.ipynb").read_text()
    assert re.search(r"<errata-\d{3}>", source), f"{name} does not link to the errata"
