"""Every page of the site rendered from the committed records, in headless Chromium at 1400 and 800 px, with
every folded section opened: the page never scrolls sideways, no table is cut off (a table wider than the window
sits in a container that scrolls), no header or cell overflows its box (the About page's headers used to
collide), no table cell holds raw JSON (``[0, 1, 1, …]``, ``{"…``); and entry and compare pages stay within a
height budget as they are first shown (folded).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.results.places import default_results_root
from leaderboard.render import render_site
from tests.browser.conftest import WIDTH

pytestmark = pytest.mark.browser

WIDTHS = (1400, 800)
SCREEN = 900  # px: the height of one screen of a 1400 × 900 laptop window
# Page height budgets, as first shown (folded sections closed), in screens.
BUDGET = {1400: {"entry": 4.0, "compare": 4.0}, 800: {"entry": 6.0, "compare": 5.0}}
# Raw JSON in a cell: a bracketed list of three or more numbers, an object or a list of strings/objects/lists.
NUMBER = r"-?[\d.]+(?:[eE][-+]?\d+)?"
RAW_JSON = re.compile(rf"\[\s*{NUMBER}(?:\s*,\s*{NUMBER}){{2,}}|\{{\s*[\"']|\[\s*[\"'{{\[]")

OPEN_ALL = "document.querySelectorAll('details').forEach(function (x) { x.open = true; });"

LAYOUT = """
const out = [];
const width = document.documentElement.clientWidth;
if (document.documentElement.scrollWidth > width) out.push("the page scrolls sideways");
for (const table of document.querySelectorAll("table")) {
  const r = table.getBoundingClientRect();
  if (r.width === 0 || r.right <= width + 0.5) continue;
  let scrolls = false;
  for (let a = table.parentElement; a; a = a.parentElement) {
    const style = getComputedStyle(a).overflowX;
    if ((style === "auto" || style === "scroll") && a.getBoundingClientRect().right <= width + 0.5) {
      scrolls = true;
      break;
    }
  }
  if (!scrolls && !["auto", "scroll"].includes(getComputedStyle(table).overflowX)) {
    out.push("table cut off: " + (table.id || table.className));
  }
}
for (const cell of document.querySelectorAll("th, td")) {
  if (cell.offsetParent === null) continue;
  if (cell.scrollWidth > cell.clientWidth + 1) out.push("overflows its cell: " + cell.textContent.trim().slice(0, 40));
}
return out;
"""

CELLS = "return Array.from(document.querySelectorAll('td, th'), function (c) { return c.textContent; });"


@pytest.fixture(scope="module")
def committed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("committed-layout")
    render_site(default_results_root(), out)
    return out


@pytest.fixture(params=WIDTHS, ids=[f"{w}px" for w in WIDTHS])
def width(request: pytest.FixtureRequest, driver: Any) -> Iterator[int]:
    driver.set_window_size(request.param, SCREEN + 100)
    try:
        yield int(request.param)
    finally:
        driver.set_window_size(WIDTH, 1800)


def page_kind(site: Path, page: Path) -> str:
    """``entry`` (``<track>/<entry>.html``), ``compare`` (``<track>/_compare.html``) or ``other``."""
    if len(page.relative_to(site).parts) != 2:
        return "other"
    return "compare" if page.name == "_compare.html" else "other" if page.name.startswith("_") else "entry"


def pages(site: Path) -> list[Path]:
    """Every page of the site."""
    return sorted(site.rglob("*.html"))


def test_every_page_fits_the_window_and_holds_no_raw_json(driver: Any, committed: Path, width: int) -> None:
    d = driver
    found: dict[str, list[str]] = {}
    for page in pages(committed):
        d.get(page.as_uri())
        d.execute_script(OPEN_ALL)
        rel = str(page.relative_to(committed))
        problems = list(d.execute_script(LAYOUT))
        problems += [f"raw JSON: {c.strip()[:60]}" for c in d.execute_script(CELLS) if RAW_JSON.search(c)]
        if problems:
            found[rel] = problems[:5]
    assert d.execute_script("return innerWidth") <= width
    assert found == {}


def test_entry_and_compare_pages_stay_within_their_height_budget(driver: Any, committed: Path, width: int) -> None:
    d = driver
    heights: dict[str, dict[str, int]] = {"entry": {}, "compare": {}}
    for page in pages(committed):
        kind = page_kind(committed, page)
        if kind not in heights:
            continue
        d.get(page.as_uri())
        heights[kind][str(page.relative_to(committed))] = int(
            d.execute_script("return document.documentElement.scrollHeight")
        )
    assert heights["entry"] and len(heights["compare"]) >= 2
    for kind, measured in heights.items():
        limit = BUDGET[width][kind] * SCREEN
        over = {name: h for name, h in measured.items() if h > limit}
        assert over == {}, f"{kind} pages over {limit:.0f} px at {width} px"


def test_entry_details_are_tables_with_their_json_beside_the_page(driver: Any, committed: Path) -> None:
    from selenium.webdriver.common.by import By

    d = driver
    page = committed / "mnist5k" / "pgd_at.html"
    d.get(page.as_uri())
    sections = d.find_elements(By.CSS_SELECTOR, "details.stage-details")
    assert len(sections) >= 8 and not any(s.get_attribute("open") for s in sections)
    d.execute_script(OPEN_ALL)
    for section in sections:
        link = section.find_element(By.CSS_SELECTOR, "p.download a")
        target = (page.parent / link.get_dom_attribute("href")).resolve()
        assert target.is_file() and target.parent == page.parent / "pgd_at", target
    manipulate = next(s for s in sections if s.find_element(By.TAG_NAME, "summary").text.startswith("manipulate"))
    cells = [c.text for c in manipulate.find_elements(By.CSS_SELECTOR, "table.detail td")]
    assert any(re.fullmatch(r"after: \d+ values, mean [\d.]+; before: .*", c) for c in cells), cells[:40]
    assert manipulate.find_elements(By.CSS_SELECTOR, "table.detail.transposed")  # 27 columns, 8 rows: turned
