"""What every page a browser test opens must pass: it answered below 400, logged no
console error and threw no script error, its key elements are visible, no element is
wider than the window (what is wider scrolls inside its own container), axe-core finds
no serious or critical accessibility violation, and its charts drew. A screenshot of it
is kept for people to look at."""

from decimal import Decimal
from pathlib import Path

import axe_playwright_python
from playwright.sync_api import Page, Response

from tests.dashboards.browser.conftest import SCREENSHOTS

# axe-core as the axe-playwright-python wheel ships it (pinned in pyproject's dev extra),
# served to the page as a script tag: no network.
AXE_JS = Path(axe_playwright_python.__file__).parent / "axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")

# Elements whose right edge passes the window, not counting what scrolls inside an
# ancestor (a table in its .table-wrap) or is hidden off-screen on purpose.
WIDE_ELEMENTS = """() => {
    const width = document.documentElement.clientWidth;
    const scrolls = e => { for (let a = e.parentElement; a; a = a.parentElement) {
        const o = getComputedStyle(a).overflowX;
        if (o === 'auto' || o === 'scroll' || o === 'hidden') return true; } return false; };
    return [...document.body.querySelectorAll('*')].filter(e => {
        const r = e.getBoundingClientRect();
        return r.width > 0 && r.right > width + 1 && r.left < width && !scrolls(e);
    }).slice(0, 5).map(e => e.tagName + (e.id ? '#' + e.id : '')
                        + (e.className && e.className.baseVal === undefined
                           ? '.' + String(e.className).split(' ').join('.') : ''));
}"""


def axe_violations(page: Page) -> list[dict]:
    """axe-core's serious and critical violations on the page, with a few of the nodes."""
    page.add_script_tag(path=str(AXE_JS))
    found = page.evaluate("""async () => (await axe.run(document,
        {resultTypes: ['violations']})).violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))""")
    return [v for v in found if v["impact"] in BLOCKING_IMPACTS]


def wide_elements(page: Page) -> dict:
    return {"scroll": page.evaluate("document.documentElement.scrollWidth"),
            "width": page.evaluate("document.documentElement.clientWidth"),
            "wide": page.evaluate(WIDE_ELEMENTS)}


class Watch:
    """Console errors, uncaught exceptions and failed loads of a page, as they happen.

    A failed load shows in the console only as "Failed to load resource", without its
    address, so loads are watched on the network instead: any sub-resource answering 400
    or more is an error, except the favicon Chromium asks the admin's pages for."""

    IGNORED = ("/favicon.ico",)

    def __init__(self, page: Page):
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("response", self._response)

    def _console(self, message) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def _response(self, response) -> None:
        if response.status >= 400 and response.request.resource_type != "document" \
                and not response.url.endswith(self.IGNORED):
            self.errors.append(f"{response.status} {response.url}")

    def assert_clean(self, where: str) -> None:
        assert not self.errors, f"{where}: console errors {self.errors}"


def check(page: Page, response: Response | None, name: str, watch: Watch, *,
          key: tuple[str, ...] = ("h1",), charts: int = 0,
          frame: tuple[str, ...] = ("header.top", "main")) -> Path:
    assert response is not None, f"{name}: no response"
    assert response.status < 400, f"{name}: HTTP {response.status}"
    page.wait_for_load_state("load")
    for selector in (*frame, *key):
        assert page.locator(selector).first.is_visible(), f"{name}: {selector} not visible"
    overflow = page.evaluate("""() => {
        const width = window.innerWidth;
        const wide = [...document.querySelectorAll(
                'main .card, main .kpi, main h1, header.top, #content, #header')]
            .filter(e => e.getBoundingClientRect().right > width + 1)
            .map(e => e.className || e.tagName);
        return {scroll: document.documentElement.scrollWidth, width, wide};
    }""")
    assert overflow["scroll"] <= overflow["width"], f"{name}: page wider than window {overflow}"
    assert not overflow["wide"], f"{name}: elements past the window's edge {overflow}"
    every = wide_elements(page)
    assert every["scroll"] <= every["width"] and not every["wide"], (
        f"{name}: elements wider than the window {every}")
    if charts:
        drawn = page.evaluate("""() => [...document.querySelectorAll('canvas[data-chart]')]
            .filter(c => window.Chart && Chart.getChart(c) && c.width > 0 && c.height > 0)
            .length""")
        assert drawn == charts, f"{name}: {drawn} of {charts} charts drawn"
    violations = axe_violations(page)
    assert not violations, f"{name}: axe found {violations}"
    watch.assert_clean(name)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def money_value(text: str) -> Decimal:
    """"$1,234.50" -> Decimal("1234.50")."""
    cleaned = "".join(ch for ch in text if ch.isdigit() or ch in ".-")
    return Decimal(cleaned)
