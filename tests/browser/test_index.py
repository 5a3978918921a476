"""The index in headless Chromium at 1400 px, opened from ``file://``: no horizontal overflow (page, table,
any cell), flags visible without scrolling, band labels, column families that unfold and stay sortable, the
two-axis view (one point per ranked entry, each a link to an existing page, labels inside the plot, the selects
switch plots), no console errors. Run on the synthetic site and on the committed records. A screenshot of the
index is saved under ``$ROBEX_ARTIFACTS`` (else the test's tmp folder) and its path printed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from bench.results.places import default_results_root
from leaderboard.render import render_site
from tests.browser.conftest import WIDTH

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def committed_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("committed-site")
    render_site(default_results_root(), out)
    return out


@pytest.fixture(params=["site", "committed_site"])
def index(request: pytest.FixtureRequest) -> Path:
    return Path(request.getfixturevalue(request.param)) / "index.html"


def _errors(d: Any) -> list[dict[str, Any]]:
    return [e for e in d.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def _artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("ROBEX_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


OVERFLOW = """
const out = [];
for (const table of document.querySelectorAll("table.index")) {
  const wrap = table.parentElement;
  if (wrap.scrollWidth > wrap.clientWidth) out.push(table.id + " scrolls inside its wrapper");
  for (const cell of table.querySelectorAll("th, td")) {
    if (cell.hidden) continue;
    if (cell.scrollWidth > cell.clientWidth + 1) out.push(table.id + ": " + cell.textContent.trim().slice(0, 40));
    const r = cell.getBoundingClientRect();
    if (r.right > innerWidth) out.push(table.id + " cell beyond the window: " + cell.textContent.trim().slice(0, 40));
  }
}
return out;
"""

LABELS = """
const out = [];
const outside = (r, box) => r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 ||
  r.bottom > box.bottom + 0.5;
for (const svg of document.querySelectorAll("svg.scatter")) {
  if (svg.closest("figure").hidden) continue;
  const box = svg.getBoundingClientRect();
  const frame = svg.querySelector("rect.frame").getBoundingClientRect();
  for (const t of svg.querySelectorAll("text")) {
    const r = t.getBoundingClientRect();
    if (outside(r, box)) out.push("clipped: " + t.textContent);
    if (t.classList.contains("label") && outside(r, frame)) out.push("label outside the plot: " + t.textContent);
  }
}
return out;
"""


def test_the_index_fits_1400px_and_shows_bands_flags_and_the_two_axis_view(
    driver: Any, index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    d = driver
    d.get(index.as_uri())
    assert d.execute_script("return innerWidth") <= WIDTH
    assert d.execute_script("return document.documentElement.scrollWidth <= innerWidth"), "the page scrolls sideways"
    assert d.execute_script(OVERFLOW) == []
    flags = d.find_elements(By.CSS_SELECTOR, "table.index .badge[class*='flag-']")
    assert all(f.rect["x"] >= 0 and f.rect["x"] + f.rect["width"] <= WIDTH for f in flags), "a flag off-screen"

    tables = d.find_elements(By.CSS_SELECTOR, "table.index")
    assert tables
    for table in tables:
        bands = [c.text for c in table.find_elements(By.CSS_SELECTOR, "tbody.ranked td.band")]
        assert bands and all(b.isdigit() for b in bands) and bands[0] == "1"
        assert [int(b) for b in bands] == sorted(int(b) for b in bands)  # bands follow the ranking
        note = table.find_element(By.XPATH, "./ancestor::section[1]//p[@class='bands-note']").text
        assert note.startswith("Ranks are bands.") and "McNemar" in note and "Holm" in note

    for view in d.find_elements(By.CSS_SELECTOR, "section.two-axis"):
        section = view.find_element(By.XPATH, "./ancestor::section[1]")
        ranked = len(section.find_elements(By.CSS_SELECTOR, "table.index tbody.ranked tr"))
        for figure in view.find_elements(By.CSS_SELECTOR, "figure.scatter"):
            points = figure.find_elements(By.CSS_SELECTOR, "a.point")
            missing = figure.find_element(By.TAG_NAME, "figcaption").get_attribute("textContent")
            if "not plotted" not in missing:
                assert len(points) == ranked, (figure.get_attribute("data-x"), figure.get_attribute("data-y"))
            for p in points:
                target = index.parent / p.get_dom_attribute("href")
                assert target.is_file(), target
        assert d.execute_script(LABELS) == []
        x = Select(view.find_element(By.CSS_SELECTOR, "select[data-axis='x']"))
        y = Select(view.find_element(By.CSS_SELECTOR, "select[data-axis='y']"))
        for x_name in [o.get_attribute("value") or "" for o in x.options]:
            x.select_by_value(x_name)
            for y_name in [o.get_attribute("value") or "" for o in y.options]:
                y.select_by_value(y_name)
                shown = [f for f in view.find_elements(By.CSS_SELECTOR, "figure.scatter") if f.is_displayed()]
                assert [(f.get_attribute("data-x"), f.get_attribute("data-y")) for f in shown] == [(x_name, y_name)]
                assert d.execute_script(LABELS) == []
        d.execute_script("arguments[0].scrollIntoView()", view)

    d.execute_script("window.scrollTo(0, 0)")
    shot = _artifacts(tmp_path) / f"index-{index.parent.name}.png"
    d.save_screenshot(str(shot))
    with capsys.disabled():
        print(f"\nscreenshot of the index at {WIDTH} px: {shot}")
    assert shot.stat().st_size > 10_000
    assert _errors(d) == []


def test_column_families_unfold_and_stay_sortable(driver: Any, site: Path) -> None:
    from selenium.webdriver.common.by import By

    d = driver
    d.get((site / "index.html").as_uri())
    header = d.find_element(By.CSS_SELECTOR, '#table-toy th[data-score="pgd_accuracy"]')
    assert not header.is_displayed()  # folded: PGD is not the robustness family's headline
    d.find_element(By.CSS_SELECTOR, 'p.folds button[data-family="robustness"]').click()
    assert header.is_displayed()
    header.click()
    index = int(header.get_attribute("cellIndex"))
    rows = d.find_elements(By.CSS_SELECTOR, "#table-toy tbody.ranked tr")
    values = [float(r.find_elements(By.TAG_NAME, "td")[index].get_attribute("data-value")) for r in rows]
    assert values == sorted(values, reverse=True) and header.get_attribute("aria-sort") == "descending"
    assert "by-band" not in d.find_element(By.ID, "table-toy").get_attribute("class")  # separators off

    band = d.find_element(By.CSS_SELECTOR, "#table-toy th.band")
    band.click()  # back to the ranking order
    assert "by-band" in d.find_element(By.ID, "table-toy").get_attribute("class")
    bands = [int(c.text) for c in d.find_elements(By.CSS_SELECTOR, "#table-toy tbody.ranked td.band")]
    assert bands == sorted(bands)

    everything = d.find_element(By.CSS_SELECTOR, 'p.folds button[data-family="*"]')
    assert everything.get_attribute("aria-pressed") == "true"  # its only family is unfolded: all columns are
    d.find_element(By.CSS_SELECTOR, 'p.folds button[data-family="robustness"]').click()
    assert not header.is_displayed() and everything.get_attribute("aria-pressed") == "false"
    everything.click()
    hidden = d.execute_script("return document.querySelectorAll('#table-toy [data-family][hidden]').length")
    assert hidden == 0
    assert d.execute_script(
        "return document.documentElement.scrollWidth <= innerWidth"
    )  # the table scrolls, not the page
    d.find_element(By.CSS_SELECTOR, 'p.folds button[data-family="*"]').click()
    assert not header.is_displayed()
    assert _errors(d) == []
