"""The pure view model: ranking, plots, transfer matrix, URLs, slugs, PNG checks."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from bench.results.ranking import ranking
from bench.results.records import FlagRecord
from bench.results.scores import ScoreInfo, score_infos
from leaderboard.synthetic import SYNTHETIC_SPECS, synthetic_record, synthetic_records, tiny_png
from leaderboard.view import (
    build_site,
    heat_level,
    line_plot,
    nice_ticks,
    page_path,
    png_data_url,
    safe_url,
    slug,
    transfer_matrix,
)

INFOS = score_infos(SYNTHETIC_SPECS)


def test_ranking_is_competition_ranking_with_unranked_after() -> None:
    recs = synthetic_records(12, n=50)
    placed = ranking(recs, "autoattack_accuracy", True)
    ranked = [p for p in placed if p.rank is not None]
    values = [p.record.score("autoattack_accuracy") for p in ranked]
    assert values == sorted(values, reverse=True)
    for i, p in enumerate(ranked):  # rank = 1 + number of strictly better records
        assert p.rank == 1 + sum(v > values[i] for v in values)  # type: ignore[operator]
    flagged = {p.record.name for p in placed if p.rank is None}
    assert flagged == {"entry_009"}  # every tenth synthetic record carries a fail flag
    assert placed[-1].reason == "flagged: gradient_masking"


def test_lower_is_better_ranks_ascending() -> None:
    recs = synthetic_records(5, n=30)
    placed = ranking(recs, "deletion_auc", False)
    values = [p.record.score("deletion_auc") for p in placed]
    assert values == sorted(values)  # type: ignore[type-var]


def test_warn_flags_rank_fail_flags_do_not() -> None:
    warn = FlagRecord(name="w", message="m", severity="warn")
    fail = FlagRecord(name="f", message="m", severity="fail")
    a = synthetic_record("a", 0, n=20, flags=[warn])
    b = synthetic_record("b", 1, n=20, flags=[fail])
    placed = {p.record.name: p for p in ranking([a, b], "clean_accuracy")}
    assert placed["a"].rank == 1 and placed["b"].rank is None


def test_nice_ticks_cover_the_range_with_round_steps() -> None:
    for lo, hi in [(0.0, 1.0), (0.0, 0.3), (-2.5, 7.1), (0.001, 0.0042), (5.0, 5.0)]:
        ticks = nice_ticks(lo, hi)
        assert ticks[0] <= lo + 1e-12 and ticks[-1] >= min(hi, lo + 1) - 1e-12
        steps = np.diff(ticks)
        assert np.allclose(steps, steps[0])
        mantissa = steps[0] / 10 ** np.floor(np.log10(steps[0]))
        assert any(np.isclose(mantissa, m) for m in (1, 2, 5, 10))


def test_line_plot_maps_data_into_the_box_and_splits_at_missing_values() -> None:
    p = line_plot("k", {"title": "t", "x": [0, 0.1, 0.2, 0.3], "y": [1.0, None, 0.5, 0.0]})
    assert p is not None
    assert len(p.segments) == 2 and p.points == 3
    first = [tuple(map(float, pt.split(","))) for pt in p.segments[0].split()]
    assert first == [(p.left, p.top)]  # (0, 1) is the top-left corner: ticks 0..0.3 and 0..1
    last = [tuple(map(float, pt.split(","))) for pt in p.segments[1].split()][-1]
    assert last == (p.right, p.bottom)
    for bad in ({"x": [0, 1], "y": [1]}, {"x": "no", "y": []}, {"x": [None], "y": [None]}, {}):
        assert line_plot("k", bad) is None


def test_malformed_details_are_reported_not_rendered() -> None:
    rec = synthetic_record("a", 0, n=20)
    details = dict(rec.details)
    details["ara"] = {"curves": {"bad": {"x": [1, 2], "y": [1]}}}
    details["explain"] = {"gallery": [{"caption": "c", "images": [{"label": "l", "png": "bm90IGEgcG5n"}]}]}
    rec = rec.model_copy(update={"details": details})
    page = build_site([rec], INFOS).tracks[0].pages[0]
    assert any("curves.bad" in p for p in page.problems)
    assert any("not a base64 PNG" in p for p in page.problems)
    assert page.galleries[0].images == ()


def test_png_data_url_accepts_only_pngs() -> None:
    png = base64.b64encode(tiny_png(np.zeros((3, 3), dtype=np.uint8))).decode()
    assert png_data_url(png) == "data:image/png;base64," + png
    assert png_data_url(base64.b64encode(b"GIF89a....").decode()) is None
    assert png_data_url("<svg onload=alert(1)>") is None
    assert png_data_url(42) is None


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://arxiv.org/abs/1706.06083", True),
        ("http://example.org/a?b=c", True),
        ("HTTPS://EXAMPLE.ORG", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("data:text/html,<script>", False),
        ("//evil.example/x", False),
        ("https://ex ample.org", False),
        ("https://example.org/\nx", False),
        ("", False),
    ],
)
def test_safe_url(url: str, ok: bool) -> None:
    assert safe_url(url) == (url.strip() if ok else "")


def test_slugs_never_leave_the_site_folder() -> None:
    for name in ["../../etc/passwd", "a/b", "UPPER", "", "x" * 100, "<script>"]:
        s = slug(name)
        assert s.startswith("x-") and "/" not in s and "." not in s
    assert slug("pgd_at") == "pgd_at"
    rec = synthetic_record("ok", 0, n=10).model_copy(update={"track": "../up"})
    assert ".." not in page_path(rec)


def test_transfer_matrix_takes_both_directions_and_prefers_the_target() -> None:
    a = synthetic_record("a", 0, names=["a", "b"], n=10)
    b = synthetic_record("b", 1, names=["a", "b"], n=10)
    a.details["transfer"] = {"as_target": {}, "as_source": {"b": 0.25, "surrogate": 0.5}}
    b.details["transfer"] = {"as_target": {"a": 0.75}, "as_source": {}}
    matrix, _, _ = transfer_matrix([a, b])
    assert matrix == {("a", "b"): 0.75, ("a", "surrogate"): 0.5}


def test_heat_levels_are_monotone_and_bounded() -> None:
    levels = [heat_level(v) for v in np.linspace(0, 1, 101)]
    assert levels == sorted(levels) and levels[0] == 0 and levels[-1] == 10


def test_unknown_scores_get_placeholder_metadata() -> None:
    info = ScoreInfo.unknown("x")
    assert info.higher_is_better is None and not info.primary
