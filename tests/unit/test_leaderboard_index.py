"""The index's view model: folded column families, bands on the page, label placement, the two-axis view."""

from __future__ import annotations

import itertools

import pytest

from bench.results.pareto import pareto_front
from bench.results.ranking import ranking
from bench.results.records import Record, ScoreRecord
from bench.results.scores import score_infos
from bench.types import Axis
from leaderboard.synthetic import SYNTHETIC_SPECS, synthetic_record, synthetic_records
from leaderboard.view import build_site
from leaderboard.view.export import leaderboard_json
from leaderboard.view.index_table import families, index_columns, index_table
from leaderboard.view.scatter import BOTTOM, LEFT, RIGHT, TOP, _label_box, place_labels, two_axis

INFOS = score_infos(SYNTHETIC_SPECS)


def test_each_family_shows_its_headline_first_and_folds_the_rest() -> None:
    columns = index_columns(sorted(INFOS.values(), key=lambda i: i.order), "autoattack_accuracy")
    assert [(c.info.name, c.headline) for c in columns if c.family == "robustness"] == [
        ("autoattack_accuracy", True),  # the headline first, though PGD comes first in catalogue order
        ("pgd_accuracy", False),
    ]
    assert {c.info.name for c in columns if c.headline} == {
        "clean_accuracy",
        "autoattack_accuracy",
        "ara_attack",
        "deletion_auc",
    }
    fams = {f.key: (f.shown, f.folded) for f in families(columns)}
    assert fams["robustness"] == (1, 1) and fams["explanation-robustness"] == (0, 1)


def test_the_ranking_score_is_shown_even_when_it_is_not_a_headline() -> None:
    columns = index_columns([INFOS["clean_accuracy"], INFOS["pgd_accuracy"]], "pgd_accuracy")
    assert all(c.headline for c in columns)


def test_index_table_bands_and_unranked_rows() -> None:
    records = synthetic_records(10, n=60)
    placed = ranking(records, "autoattack_accuracy")
    table = index_table("t", placed, INFOS, "autoattack_accuracy")
    assert [r.name for r in table.unranked] == ["entry_009"] and table.unranked[0].band == "—"
    bands = [int(r.band) for r in table.ranked]
    assert bands[0] == 1 and bands == sorted(bands)
    assert [r.band_start for r in table.ranked] == [i == 0 or b != bands[i - 1] for i, b in enumerate(bands)]
    assert "McNemar" in table.bands_text and table.fallback_text == ""  # every record has per-image results
    assert table.columns[table.sort_index].info.name == "autoattack_accuracy"  # type: ignore[index]


@pytest.mark.parametrize("spread", [0.0, 2.0, 6.0])
def test_labels_stay_inside_the_plot_and_apart_in_a_cluster(spread: float) -> None:
    points = [(LEFT + 10, TOP + 120 + spread * i, f"entry_{i}_with_a_long_name") for i in range(9)]
    points += [(RIGHT - 6, TOP + 120, "right_edge"), (LEFT + 200, TOP + 2, "top"), (LEFT + 200, BOTTOM - 2, "bottom")]
    labels = place_labels(points)
    boxes = [_label_box(x, y, anchor, text) for (x, y, anchor, _), (_, _, text) in zip(labels, points, strict=True)]
    for x0, y0, x1, y1 in boxes:
        assert x0 > LEFT and x1 < RIGHT and y0 > TOP and y1 < BOTTOM
    for a, b in itertools.combinations(boxes, 2):
        assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)


def test_two_axis_plots_every_pair_with_one_point_per_ranked_entry() -> None:
    records = synthetic_records(10, n=60)
    placed = ranking(records, "autoattack_accuracy")
    view = two_axis("v", placed, INFOS, "autoattack_accuracy")
    assert view is not None
    assert view.x_options[0].name == "autoattack_accuracy"  # the ranking score first
    assert {o.headline for o in view.x_options} == {Axis.ROBUSTNESS}
    assert [o.name for o in view.y_options] == ["deletion_auc"]
    assert len(view.plots) == len(view.x_options) * len(view.y_options)
    ranked = [p.record for p in placed if p.rank is not None]
    for plot in view.plots:
        assert [p.name for p in plot.points] == [r.name for r in ranked]
        values = [(r.score(plot.x.name), r.score(plot.y.name)) for r in ranked]
        front = set(pareto_front(values, x_higher=True, y_higher=False))  # type: ignore[arg-type]
        assert {i for i, p in enumerate(plot.points) if p.on_front} == front
        for (xv, yv), p in zip(values, plot.points, strict=True):
            assert p.href == f"toy/{p.name}.html"
            for (xo, yo), q in zip(values, plot.points, strict=True):
                if xv > xo:  # type: ignore[operator]
                    assert p.cx > q.cx  # higher AutoAttack: further right
                if yv < yo:  # type: ignore[operator]
                    assert p.cy < q.cy  # lower deletion AUC is better: higher up
            has_interval = plot.x.name != "ara_attack"  # the synthetic ARA has no interval: no bar
            assert (p.x_bar is not None) == has_interval
            assert p.x_bar is None or p.x_bar[0] <= p.cx <= p.x_bar[1]


def test_two_axis_lists_entries_it_cannot_plot_and_needs_both_axes() -> None:
    names = ["a", "b"]
    a = synthetic_record("a", 1, names=names, n=30)
    b = synthetic_record("b", 2, names=names, n=30)
    b = b.model_copy(update={"scores": {k: v for k, v in b.scores.items() if k != "deletion_auc"}})
    view = two_axis("v", ranking([a, b], "autoattack_accuracy"), INFOS, "autoattack_accuracy")
    assert view is not None and all(p.missing == ("b (no Deletion AUC)",) for p in view.plots)
    no_y = {n: i for n, i in INFOS.items() if n != "deletion_auc"}
    assert two_axis("v", ranking([a], "autoattack_accuracy"), no_y, "autoattack_accuracy") is None


def test_the_default_track_comes_first_then_the_others_by_name() -> None:
    records = [synthetic_record("e", i, track=t, n=20) for i, t in enumerate(["zeta", "mnist5k", "alpha"])]
    assert [t.name for t in build_site(records, INFOS).tracks] == ["mnist5k", "alpha", "zeta"]


def _with_autoattack(name: str, robust: list[int]) -> Record:
    """A synthetic record whose AutoAttack accuracy is the mean of ``robust`` (its per-image results)."""
    r = synthetic_record(name, 0, n=len(robust))
    k = sum(robust)
    scores = {**r.scores, "autoattack_accuracy": ScoreRecord(value=k / len(robust), n=len(robust))}
    details = {**r.details, "autoattack": {**r.details["autoattack"], "robust": robust}}
    return r.model_copy(update={"scores": scores, "details": details})


def test_an_entry_the_tests_do_not_separate_from_the_leader_is_marked_in_its_later_band() -> None:
    # leader 0.50; P 0.44 (12 vs 0 discordant: differs); Q 0.43 (30 vs 16: Holm p = 0.054, does not differ)
    leader = [1] * 100 + [0] * 100
    p = [0] * 12 + leader[12:]
    q = [0] * 30 + [1] * 70 + [1] * 16 + [0] * 84
    records = [_with_autoattack(n, v) for n, v in (("lead", leader), ("p", p), ("q", q))]
    table = index_table("t", ranking(records, "autoattack_accuracy"), INFOS, "autoattack_accuracy")
    rows = {r.name: r for r in table.ranked}
    assert [rows[n].band for n in ("lead", "p", "q")] == ["1", "2", "2"]
    assert [rows[n].indistinct for n in ("lead", "p", "q")] == [False, False, True]
    badge = rows["q"].badges[0]
    assert badge.label == "≈ leader" and "not distinguishable from the leader" in badge.tooltip
    assert "not distinguishable from the leader" in rows["q"].band_tooltip
    assert "≈ leader" in table.bands_text
    site = build_site(records, INFOS)
    rows_json = {e["entry"]["name"]: e for e in leaderboard_json(site)["tracks"][0]["entries"]}
    assert [rows_json[n]["indistinct_from_leader"] for n in ("lead", "p", "q")] == [False, False, True]
