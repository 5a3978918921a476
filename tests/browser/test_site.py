"""The rendered site in headless Chromium, opened from ``file://`` with no network: sorting by clicking a
header, following an entry link, inline SVG curves, no console errors, hostile strings inert; a screenshot
of each page is saved under the test's tmp folder.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); the ``driver`` fixture
(conftest) skips with a reason when either binary is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from leaderboard.synthetic import HOSTILE_TITLE

pytestmark = pytest.mark.browser


def _column(d: Any, table_id: str, score: str) -> list[float]:
    from selenium.webdriver.common.by import By

    index = int(d.find_element(By.CSS_SELECTOR, f'#{table_id} th[data-score="{score}"]').get_attribute("cellIndex"))
    rows = d.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody.ranked tr")
    return [float(r.find_elements(By.TAG_NAME, "td")[index].get_attribute("data-value")) for r in rows]


def _order(d: Any, body: str = "ranked") -> list[str]:
    from selenium.webdriver.common.by import By

    return [r.get_attribute("data-entry") for r in d.find_elements(By.CSS_SELECTOR, f"#table-toy tbody.{body} tr")]


def _console_errors(d: Any) -> list[dict[str, Any]]:
    return [e for e in d.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def unfold(d: Any) -> None:
    """Open every folded section (``<details>``) of the page, as a reader who unfolds everything sees it."""
    d.execute_script("document.querySelectorAll('details').forEach(function (x) { x.open = true; });")


def test_sort_follow_link_curves_no_console_errors(driver: Any, site: Path, tmp_path: Path) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    d = driver
    errors: list[dict[str, Any]] = []
    d.get((site / "index.html").as_uri())
    errors += _console_errors(d)
    assert d.title == "robex leaderboard"
    aa = _column(d, "table-toy", "autoattack_accuracy")
    assert aa == sorted(aa, reverse=True)  # the default sort, rendered server-side
    before = _order(d)
    assert _order(d, "unranked") == ["entry_009"]  # the fail-flagged record, never ranked

    header = d.find_element(By.CSS_SELECTOR, '#table-toy th[data-score="clean_accuracy"]')
    header.click()
    clean = _column(d, "table-toy", "clean_accuracy")
    assert clean == sorted(clean, reverse=True) and _order(d) != before
    assert header.get_attribute("aria-sort") == "descending"
    header.click()
    assert _column(d, "table-toy", "clean_accuracy") == sorted(clean)
    assert header.get_attribute("aria-sort") == "ascending"
    assert _order(d, "unranked") == ["entry_009"]  # sorting never mixes flagged rows into the ranking
    d.save_screenshot(str(tmp_path / "index.png"))

    link = d.find_element(By.CSS_SELECTOR, "#table-toy tbody.ranked tr td:nth-child(2) a")
    title = link.text
    link.click()
    errors += _console_errors(d)
    assert d.current_url.endswith(".html") and d.find_element(By.TAG_NAME, "h1").text == title
    assert not d.find_element(By.CSS_SELECTOR, "details.fold").get_attribute("open")  # curves come folded
    unfold(d)
    plots = d.find_elements(By.CSS_SELECTOR, "svg.plot")
    assert len(plots) == 2 and all(p.find_elements(By.TAG_NAME, "polyline") for p in plots)
    assert all(p.size["width"] > 100 and p.size["height"] > 100 for p in plots)  # laid out, not collapsed
    assert d.find_elements(By.CSS_SELECTOR, ".badge-preview svg")
    assert len(d.find_elements(By.CSS_SELECTOR, ".gallery img")) == 4
    d.save_screenshot(str(tmp_path / "entry.png"))

    for page in ("toy/hostile.html", "toy/_compare.html", "toy/_transfer.html", "toy/entry_009.html"):
        d.get((site / page).as_uri())
        errors += _console_errors(d)
        with pytest.raises(NoAlertPresentException):
            _ = d.switch_to.alert.text
        d.save_screenshot(str(tmp_path / (Path(page).stem + ".png")))
    d.get((site / "toy" / "hostile.html").as_uri())
    errors += _console_errors(d)
    assert d.find_element(By.TAG_NAME, "h1").text == HOSTILE_TITLE  # shown as text, not run
    assert errors == []
    assert (tmp_path / "index.png").stat().st_size > 10_000


def test_claims_page_is_reached_from_the_header(driver: Any, site: Path) -> None:
    from selenium.webdriver.common.by import By

    d = driver
    d.get((site / "index.html").as_uri())
    d.find_element(By.LINK_TEXT, "Papers' claims").click()
    assert d.current_url.endswith("/claims.html")
    assert d.find_element(By.TAG_NAME, "h1").text == "The papers' claims, tested on the records"
    papers = d.find_elements(By.CSS_SELECTOR, "#claims-toy h3")
    assert len(papers) == 5
    # the synthetic toy track has none of the baselines the claims name: nothing holds or fails
    verdicts = {c.text for c in d.find_elements(By.CSS_SELECTOR, "td.verdict")}
    assert verdicts == {"not measured", "not applicable"}
    assert _console_errors(d) == []


SVG_TEXT_OUTSIDE = """
var out = [];
document.querySelectorAll('svg').forEach(function (svg) {
  var box = svg.getBoundingClientRect();
  svg.querySelectorAll('text').forEach(function (t) {
    var b = t.getBoundingClientRect();
    if (b.width === 0 || b.left < box.left - 0.5 || b.right > box.right + 0.5 || b.top < box.top - 0.5
        || b.bottom > box.bottom + 0.5) { out.push(t.textContent); }
  });
});
return out;
"""


def test_figures_fit_their_boxes_and_the_page_at_1400_px(driver: Any, site: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    d = driver
    pages = sorted((site / "toy").glob("*.html"))
    texts = 0
    for page in pages:
        d.get(page.as_uri())
        unfold(d)
        assert d.execute_script(SVG_TEXT_OUTSIDE) == [], page.name  # no SVG text overflows its figure
        texts += len(d.find_elements(By.CSS_SELECTOR, "svg.plot text"))
        width = d.execute_script("return document.documentElement.scrollWidth")
        assert width <= d.execute_script("return window.innerWidth"), page.name  # no horizontal scrolling
        for img in d.find_elements(By.CSS_SELECTOR, ".gallery img"):
            assert img.size["width"] >= 112 and d.execute_script("return arguments[0].naturalWidth", img) > 0
    assert texts > 20  # the check saw the plots' titles, ticks, labels and chance lines
    d.get((site / "toy" / "entry_000.html").as_uri())
    unfold(d)
    refs = d.find_elements(By.CSS_SELECTOR, "svg.plot line.reference + text")
    assert refs and refs[0].text.startswith("chance 1/K")
    assert d.find_elements(By.CSS_SELECTOR, "div.colour-bar svg linearGradient stop")
    d.get((site / "toy" / "_transfer.html").as_uri())
    diagonal = d.find_elements(By.CSS_SELECTOR, "#heatmap td.diag")
    assert len(diagonal) == len(d.find_elements(By.CSS_SELECTOR, "#heatmap tbody tr"))
    assert d.find_element(By.CSS_SELECTOR, "#heatmap").size["width"] <= 1400
    d.save_screenshot(str(tmp_path / "transfer.png"))
    assert _console_errors(d) == []
