"""The compare page: a row per score and a column per entry in ranking order, headed by the index's bands; each
cell the value, its interval and the difference from the leader with the test robex compare runs; the headline
scores open, every family's scores folded; galleries folded but for the inputs every entry shares."""

from __future__ import annotations

import re
from pathlib import Path

from bench.results.compare import compare_records
from bench.results.scores import score_infos
from leaderboard.render import render_records
from leaderboard.synthetic import SYNTHETIC_SPECS, synthetic_records
from leaderboard.view import build_site

INFOS = score_infos(SYNTHETIC_SPECS)


def test_columns_follow_the_ranking_with_the_index_bands_and_cells_match_robex_compare() -> None:
    records = synthetic_records(6, n=80)
    track = build_site(records, INFOS).tracks[0]
    page = track.compare
    order = [p.record.name for p in track.placed]
    assert [h.name for h in page.heads] == order
    bands = {r.name: r.band for r in track.index.ranked}
    assert {h.name: h.band for h in page.heads if h.ranked} == bands
    leader = next(h for h in page.heads if h.leader)
    assert leader.name == order[0] and leader.band == "1"
    headline = [row.column.info.name for row in page.headline]
    assert headline == ["clean_accuracy", "autoattack_accuracy", "ara_attack", "deletion_auc"]  # + the sort score
    every = [row.column.info.name for f in page.families for row in f.rows]
    assert sorted(every) == sorted({n for r in records for n in r.scores})
    by_name = {r.name: r for r in records}
    aa = next(row for row in page.headline if row.column.info.name == "autoattack_accuracy")
    assert aa.cells[0].diff is None  # the leader is not compared with itself
    for head, cell in zip(page.heads[1:], aa.cells[1:], strict=True):
        expected = next(
            c
            for c in compare_records(by_name[head.name], by_name[leader.name], infos=INFOS).rows
            if c.score.name == "autoattack_accuracy"
        )
        assert cell.diff is not None and expected.result is not None and expected.p_adjusted is not None
        assert cell.text == INFOS["autoattack_accuracy"].unit.text(by_name[head.name].score("autoattack_accuracy"))
        assert cell.diff.text == INFOS["autoattack_accuracy"].unit.difference_text(expected.result.difference)
        assert cell.diff.significant == expected.significant(0.05)
        assert cell.diff.p.startswith("p ") and "McNemar" in cell.diff.tooltip


def test_rendered_compare_page_is_compact_and_folds_galleries(tmp_path: Path) -> None:
    records = synthetic_records(4, n=60)
    render_records(records, tmp_path, specs=SYNTHETIC_SPECS, tracks={})
    html = (tmp_path / "toy" / "_compare.html").read_text(encoding="utf-8")
    head = html.split('id="compare-headline"')[1].split("</thead>")[0]
    assert re.findall(r'<span class="band">([^<]*)</span>', head)[:1] == ["band 1"]
    assert head.count('<th class="entry') == len(records)
    assert html.count('<details class="fold"><summary>') >= 3  # each family folded, then the galleries
    text = re.sub(r"<[^>]+>", "", html.split("<main>")[1].split("</main>")[0]).lower()
    assert not re.search(r"\brank\b|#\d", text)  # bands, not ranks
