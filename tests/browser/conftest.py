"""Headless Chromium for the browser tests (one driver per module, 1400 px wide, its console log kept) and the
synthetic site they open (ten records, every tenth fail-flagged, plus one with a hostile title)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leaderboard.render import render_records
from leaderboard.synthetic import HOSTILE_TITLE, SYNTHETIC_SPECS, synthetic_record, synthetic_records

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
WIDTH = 1400


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium chromium-driver; .ci/run does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--window-size={WIDTH},1800",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield d
    finally:
        d.quit()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    records = synthetic_records(10, n=60)
    names = [r.name for r in records] + ["hostile"]
    records.append(synthetic_record("hostile", 99, names=names, n=60, title=HOSTILE_TITLE))
    out = tmp_path_factory.mktemp("site")
    render_records(records, out, specs=SYNTHETIC_SPECS, tracks={})
    return out
