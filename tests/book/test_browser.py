"""The website as a reader uses it, in a real browser: Debian's headless chromium driven by Playwright,
serving _build/html on 127.0.0.1. For every page: no JavaScript errors, no request leaves the machine,
math rendered by the vendored MathJax, images loaded, no serious or critical axe-core violations, and
a screenshot in light and dark mode under _build/screenshots/. Then the interactive parts: framework tabs
switch (and stay in sync), solutions expand, search finds "momentum"."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.book.test_site import PAGES, SITE

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = SITE.parent / "screenshots"
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
# The flags a sandboxed, offline CI machine needs (see the workplace's notes on chromium).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    if not (SITE / "index.html").exists():
        pytest.fail(f"{SITE} is missing: build the site first with `bash scripts/build-book.sh`")
    handler = functools.partial(QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        # A person without root can still run every other test; CI must not silently lose these.
        reason = "chromium is not installed (scripts/setup-browser.sh installs it as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true requires the browser tests")
        pytest.skip(f"browser tests skipped: {reason}")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Visit:
    """A page opened in a fresh context, with its errors and outgoing requests recorded."""

    def __init__(self, browser: Any, url: str) -> None:
        self.errors: list[str] = []
        self.external: list[str] = []
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        self.page.on("request", self._request)
        self.page.goto(url, wait_until="load")
        self.page.wait_for_function("() => !window.MathJax || (MathJax.startup && MathJax.startup.promise)")
        self.page.evaluate("() => window.MathJax ? MathJax.startup.promise : null")

    def _request(self, request: Any) -> None:
        if not request.url.startswith(("http://127.0.0.1", "data:", "blob:", "about:")):
            self.external.append(request.url)

    def __enter__(self) -> "Visit":
        return self

    def __exit__(self, *exc: object) -> None:
        self.context.close()


@pytest.mark.parametrize("entry", PAGES)
def test_page_renders_offline_and_accessibly(browser: Any, base_url: str, entry: str) -> None:
    # One visit per page for both checks: loading a page with MathJax is most of a browser test's time.
    with Visit(browser, f"{base_url}/{entry}.html") as visit:
        page = visit.page
        assert visit.errors == [], visit.errors
        assert visit.external == [], f"requests leaving the machine: {visit.external}"
        source = (SITE / f"{entry}.html").read_text(encoding="utf-8")
        has_math = 'class="math' in source
        rendered = page.locator("mjx-container").count()
        assert (rendered > 0) == has_math, f"{entry}: {rendered} rendered equations, math in source: {has_math}"
        assert page.locator("mjx-merror").count() == 0, "MathJax reported an error in an equation"
        broken = page.evaluate(
            "() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
        )
        assert broken == [], broken
        # axe-core on the page as loaded (light theme), before the screenshots switch themes.
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} — e.g. {v['nodes'][0]['target']}"
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == [], "\n".join(serious)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = entry.replace("/", "_")
        for theme in ("light", "dark"):
            page.evaluate(f"() => document.documentElement.setAttribute('data-theme', '{theme}')")
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{theme}.png"), full_page=True)


def test_framework_tabs_switch_and_stay_in_sync(browser: Any, base_url: str) -> None:
    with Visit(browser, f"{base_url}/book/formulas.html") as visit:
        page = visit.page
        keras_inputs = page.locator("div.sd-tab-set > input + label[data-sync-id='Keras']")
        assert keras_inputs.count() >= 1
        first_set = page.locator("div.sd-tab-set").first
        first_set.locator("label[data-sync-id='Keras']").click()
        checked = page.evaluate(
            "() => [...document.querySelectorAll('div.sd-tab-set')].map(set => {"
            "  const input = set.querySelector('input:checked');"
            "  return input ? input.nextElementSibling.dataset.syncId : null; })"
        )
        assert checked and all(label == "Keras" for label in checked if label), checked
        visible = first_set.locator("div.sd-tab-content:visible")
        assert visible.count() == 1 and "keras" in visible.inner_text().lower()


def test_a_solution_expands(browser: Any, base_url: str) -> None:
    with Visit(browser, f"{base_url}/book/formulas.html") as visit:
        page = visit.page
        solution = page.locator(".solution").first
        body = solution.locator(".admonition-title ~ *").first
        assert not body.is_visible(), "solutions must start collapsed"
        solution.locator(".admonition-title, button.toggle-button").first.click()
        page.wait_for_timeout(300)
        assert body.is_visible()


def test_search_finds_momentum(browser: Any, base_url: str) -> None:
    with Visit(browser, f"{base_url}/search.html?q=momentum") as visit:
        page = visit.page
        page.wait_for_selector("#search-results li", timeout=15_000)
        results = page.locator("#search-results li a").all_inner_texts()
        assert any("formulas" in text.lower() or "momentum" in text.lower() for text in results), results
        assert visit.errors == []
