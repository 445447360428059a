"""The built website (_build/html), checked as HTML: every page present, framework tabs built from executed
cells, glued numbers in the prose, rendered tables, citations, exercises, launch and download links, and no
MyST markup left unrendered. ``scripts/test.sh`` builds the site before it runs the tests."""

import re
from pathlib import Path

import nbformat
import pytest
import yaml
from bs4 import BeautifulSoup

from tests.book.test_notebooks import NOTEBOOKS, ROOT, toc_files

SITE = ROOT / "_build" / "html"
PAGES = toc_files(yaml.safe_load((ROOT / "_toc.yml").read_text()))
CHAPTERS = [p.relative_to(ROOT).with_suffix("").as_posix() for p in NOTEBOOKS]


def page(entry: str) -> BeautifulSoup:
    path = SITE / f"{entry}.html"
    if not path.exists():
        pytest.fail(f"{path} is missing: build the site first with `bash scripts/build-book.sh`")
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def article(entry: str) -> BeautifulSoup:
    main = page(entry).find("article")
    assert main is not None, entry
    return main


@pytest.mark.parametrize("entry", PAGES)
def test_page_has_no_unrendered_markup(entry: str) -> None:
    text = article(entry).get_text()
    for leftover in [":::{", "{glue:", "{ref}`", "{cite", "{solution", "{exercise"]:
        assert leftover not in text, f"{entry}: unrendered {leftover!r}"
    # A Markdown table that did not render shows its separator row as text.
    # (Sphinx's smart quotes turn its "---" into an em dash.)
    assert not re.search(r"\|\s*:?(?:-{3,}|—|–)-?:?\s*\|", text), f"{entry}: a Markdown table left as text"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_pages_offer_launch_and_download(path: Path) -> None:
    entry = path.relative_to(ROOT).with_suffix("").as_posix()
    links = [a.get("href", "") for a in page(entry).find_all("a")]
    assert any("colab.research.google.com" in href and href.endswith(f"{entry}.ipynb") for href in links)
    assert any("mybinder.org" in href and href.endswith(f"{entry}.ipynb") for href in links)
    assert any(href.endswith(f"_sources/{entry}.ipynb") for href in links)


def tagged_cells(path: Path) -> int:
    cells = nbformat.read(path, as_version=4).cells
    return sum(any(tag.startswith("tab:") for tag in c.metadata.get("tags", [])) for c in cells)


WITH_TABS = [p for p in NOTEBOOKS if tagged_cells(p)]
FRAMEWORKS = ["NumPy", "PyTorch", "Keras"]


@pytest.mark.parametrize("path", WITH_TABS, ids=lambda p: p.name)
def test_framework_tabs_hold_executed_cells(path: Path) -> None:
    entry = path.relative_to(ROOT).with_suffix("").as_posix()
    tab_sets = article(entry).select("div.sd-tab-set")
    assert sum(len(t.select("label.sd-tab-label")) for t in tab_sets) == tagged_cells(path)
    for tab_set in tab_sets:
        labels = [label.get_text(strip=True) for label in tab_set.select("label.sd-tab-label")]
        assert len(labels) >= 2 and labels == [f for f in FRAMEWORKS if f in labels], labels
        assert {label["data-sync-group"] for label in tab_set.select("label.sd-tab-label")} == {"framework"}
        for content in tab_set.select("div.sd-tab-content"):
            assert content.select_one("div.cell_input"), "tab without code"


def test_two_sample_chapter_shows_its_numbers() -> None:
    main = article("book/two_sample_example")
    prose = " ".join(p.get_text(" ") for p in main.find_all("p"))
    # Glued values: PyTorch's and Keras's x_hat_2 and running variances appear in the text.
    for number in ["0.999980", "0.998006", "0.95", "0.9925", "0.99997997"]:
        assert number in prose, number
    table = next(t for t in main.find_all("table") if "Keras BatchNormalization" in t.get_text())
    rows = [[cell.get_text(strip=True) for cell in row.find_all(["td", "th"])] for row in table.find_all("tr")]
    assert rows[0] == ["computed by", "dtype", "eps", "x_hat_2", "running mean", "running var"]
    assert ["PyTorch BatchNorm1d", "float32", "1e-5", "0.99997997", "0.15000001", "0.94999999"] in rows


@pytest.mark.parametrize("entry", CHAPTERS)
def test_chapters_have_goals_summary_and_exercises_with_hidden_solutions(entry: str) -> None:
    main = article(entry)
    assert "Learning goals" in main.get_text()
    assert main.find(id="summary") is not None
    assert 3 <= len(main.select(".exercise")) <= 6
    solutions = main.select(".solution")
    assert solutions and all("dropdown" in s.get("class", []) for s in solutions)


def test_algorithms_cite_the_paper_and_the_bibliography_lists_it() -> None:
    citations = article("book/formulas").find_all("a", href=re.compile(r"references\.html#id"))
    assert any("Ioffe and Christian Szegedy" in a.get("title", "") for a in citations)
    assert "Batch Normalization: Accelerating Deep Network Training" in article("book/references").get_text()


def test_internal_links_resolve() -> None:
    """Crawl every built page: each relative link must name a file of the site, and its #anchor an id
    on that page."""
    ids: dict[Path, set[str]] = {}

    def ids_of(path: Path) -> set[str]:
        if path not in ids:
            soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
            ids[path] = {tag["id"] for tag in soup.find_all(id=True)}
        return ids[path]

    checked, broken = 0, []
    pages = sorted(SITE.rglob("*.html"))
    assert pages, f"{SITE} is empty: build the site first"
    for source in pages:
        for anchor in BeautifulSoup(source.read_text(encoding="utf-8"), "html.parser").find_all("a", href=True):
            href = anchor["href"]
            if re.match(r"^[a-z]+:", href) or href.startswith("//"):
                continue  # external (launch buttons, arXiv): not fetched, no network here
            target, _, fragment = href.partition("#")
            path = (source.parent / target.split("?")[0]).resolve() if target else source
            checked += 1
            if not path.exists():
                broken.append(f"{source.relative_to(SITE)}: {href} (no file)")
            elif fragment and path.suffix == ".html" and fragment not in ids_of(path):
                broken.append(f"{source.relative_to(SITE)}: {href} (no anchor)")
    assert checked > 100 and broken == [], broken[:10]
