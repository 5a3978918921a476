"""Leaderboard rendering: 100 synthetic records (every page, badge, heatmap, comparison page, csv and json)
in a few seconds, and how the cost grows from 10 to 100 records (the comparison page and the entry pages are
linear in the records; the transfer heatmap is quadratic but cheap).

Run: ``python tests/benchmarks/bench_render.py``
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from bench.results.scores import score_infos
from leaderboard.render import render_records
from leaderboard.synthetic import SYNTHETIC_SPECS, synthetic_records
from leaderboard.view import build_site

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Row, table


def _render_time(count: int, out: Path, repeats: int = 3) -> tuple[float, float, int]:
    """Median wall time of (view model only, whole render) for ``count`` records, and the files written."""
    records = synthetic_records(count, n=500)
    infos = score_infos(SYNTHETIC_SPECS)
    render_records(records, out, specs=SYNTHETIC_SPECS, tracks={})  # warm-up: template compilation
    views, totals = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        build_site(records, infos)
        views.append(time.perf_counter() - start)
        start = time.perf_counter()
        render_records(records, out, specs=SYNTHETIC_SPECS, tracks={})
        totals.append(time.perf_counter() - start)
    files = sum(1 for p in out.rglob("*") if p.is_file())
    return sorted(views)[repeats // 2], sorted(totals)[repeats // 2], files


def rows() -> list[Row]:
    """Every rendering benchmark row."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        view10, total10, _ = _render_time(10, tmp / "ten")
        view100, total100, files = _render_time(100, tmp / "hundred")
    return [
        Row(
            "render 100 records: whole site",
            total100,
            1.0,
            "s",
            "a few seconds",
            f"{files} files; view model {view100:.2f} s; {1000 * total100 / 100:.0f} ms per entry",
        ),
        Row("render: 100 records / 10 records (whole site)", total100, total10, "s", "≈ 10 (linear)"),
        Row("render: 100 records / 10 records (view model)", view100, view10, "s", "≈ 10 (linear)"),
    ]


if __name__ == "__main__":
    print(table(rows()))
