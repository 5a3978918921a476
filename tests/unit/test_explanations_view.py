"""The track's explanations page: the per-model agreement across explainers, the across-model τ matrix, rank-shift
flags with evidence, the explainer grids (best explainer per entry in the score's direction), and the rendered page
(linked from the index, hostile names escaped)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.results.ranking import ranking
from bench.results.records import Record, ScoreRecord
from bench.results.scores import score_infos
from leaderboard.render import render_records
from leaderboard.synthetic import synthetic_record
from leaderboard.view.explanations import explanations_page

INFOS = score_infos()
HOSTILE = '<script>alert("x")</script>'


def record(name: str, seed: int, gap: float, deletion: float, table: list[dict[str, object]]) -> Record:
    rec = synthetic_record(name, seed, track="toy")
    scores = dict(rec.scores)
    scores["road_kept_gap"] = ScoreRecord(value=gap, n=100)
    scores["deletion_auc"] = ScoreRecord(value=deletion, n=100)
    details = dict(rec.details)
    details["explain"] = {
        "table": table,
        "table_scores": {"road_kept_gap": "road_kept_gap", "deletion": "deletion_auc"},
    }
    return rec.model_copy(update={"scores": scores, "details": details})


def track_records() -> list[Record]:
    # road_kept_gap ranks a > b > c > d > e; deletion (lower is better) ranks the reverse
    out = []
    for i, name in enumerate("abcde"):
        table = [
            {"explainer": "saliency", "road_kept_gap": 0.1 * i, "deletion": 0.5 - 0.05 * i},
            {"explainer": HOSTILE, "road_kept_gap": 0.3 - 0.1 * i, "deletion": 0.1},
            {"explainer": "cam", "road_kept_gap": -1.0, "deletion": 0.9},  # worst under both everywhere
        ]
        out.append(record(name, i, gap=0.5 - 0.1 * i, deletion=0.1 + 0.1 * (4 - i), table=table))
    return out


def test_page_model() -> None:
    recs = track_records()
    placed = ranking(recs, "autoattack_accuracy", True)
    page = explanations_page(placed, INFOS)
    assert page.metrics == ("road_kept_gap", "deletion_auc")
    i, j = page.metrics.index("road_kept_gap"), page.metrics.index("deletion_auc")
    assert page.tau_rows[i][j].text == "-1.00" and page.tau_rows[i][j].level == 0
    assert page.tau_rows[i][i].text == ""
    assert [s.entry for s in page.shifts] == ["a", "e"]  # rank 1 ↔ 5: 4 places > 3
    assert "road_kept_gap 1" in page.shifts[0].message and "deletion_auc 5" in page.shifts[0].message
    assert "Holm-adjusted" in page.tau_rows[i][j].tooltip
    # per model, across its 3 explainers: entries a, b order them alike under both scores (τ = 1); from c on the
    # gap prefers saliency, deletion the other: one discordant pair of 3 (τ = 1/3)
    pm = page.per_model
    order = [p.record.name for p in placed]
    assert pm.entries == tuple(order) and pm.pairs == ("ROAD gap (predictions kept) vs Deletion AUC",)
    taus = dict(zip(pm.entries, (c.text for c in pm.rows[0]), strict=True))
    assert taus == {"a": "+1.00", "b": "+1.00", "c": "+0.33", "d": "+0.33", "e": "+0.33"}
    assert pm.medians[0].text == "+0.33" and pm.reversed == ("0 of 5",)
    assert "descriptive" in pm.rows[0][0].tooltip
    by_col = {g.column: g for g in page.grids}
    gap, deletion = by_col["road_kept_gap"], by_col["deletion"]
    assert gap.explainers == ("saliency", HOSTILE, "cam")
    order = [p.record.name for p in placed]
    assert gap.entries == tuple(order)
    best_gap = dict(zip(gap.entries, gap.best, strict=True))
    # entry i: saliency 0.1·i vs the other 0.3 − 0.1·i → saliency wins from i = 2 on (ties go to the first max)
    assert best_gap == {"a": HOSTILE, "b": HOSTILE, "c": "saliency", "d": "saliency", "e": "saliency"}
    assert set(deletion.best) == {HOSTILE}  # lower is better: 0.1 beats saliency's 0.3–0.5 everywhere
    row_e = gap.rows[gap.entries.index("e")]
    assert row_e[0].best and row_e[0].level == 10  # 0.4: the grid's highest value, green
    row_a = deletion.rows[deletion.entries.index("a")]
    assert row_a[0].level == 5  # deletion 0.5: the middle of the grid's range 0.1–0.9
    assert row_a[2].level == 0  # cam's 0.9: the grid's worst (highest) value, red


def test_page_is_rendered_linked_and_escaped(tmp_path: Path) -> None:
    index = render_records(track_records(), tmp_path, tracks={})
    assert 'href="toy/_explanations.html"' in index.read_text(encoding="utf-8")
    html = (tmp_path / "toy" / "_explanations.html").read_text(encoding="utf-8")
    assert HOSTILE not in html and "&lt;script&gt;" in html
    assert 'id="agreement"' in html and 'id="explainers-road_kept_gap"' in html
    assert 'id="agreement-per-model"' in html
    assert "metric disagreement" in html
    assert 'href="_explanations.html"' in (tmp_path / "toy" / "a.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("details", [{}, {"explain": {"table": "not a list", "table_scores": {"x": "y"}}}])
def test_records_without_explainer_tables_give_an_empty_page(details: dict[str, object]) -> None:
    recs = [synthetic_record(n, i).model_copy(update={"details": details, "scores": {}}) for i, n in enumerate("ab")]
    page = explanations_page(ranking(recs, None), INFOS)
    assert page.empty and page.grids == ()
