"""The two-axis scatter: no entry's label is drawn across the Pareto front's line."""

from __future__ import annotations

import itertools

import pytest

from bench.results.records import load_records
from bench.results.scores import score_infos
from leaderboard.view import build_site
from leaderboard.view.scatter import LEFT, TOP, _crosses, _label_box, place_labels


@pytest.mark.parametrize(
    ("box", "segment", "crosses"),
    [
        ((0, 0, 10, 10), (-5, 5, 15, 5), True),  # straight through
        ((0, 0, 10, 10), (2, 2, 3, 3), True),  # inside
        ((0, 0, 10, 10), (-5, -5, -1, 20), False),  # beside
        ((0, 0, 10, 10), (-5, 12, 20, 30), False),  # below
        ((0, 0, 10, 10), (-5, 20, 20, -5), True),  # across a corner
    ],
)
def test_segment_box_intersection(box: tuple[float, ...], segment: tuple[float, ...], crosses: bool) -> None:
    assert _crosses(box, segment) is crosses  # type: ignore[arg-type]


def test_a_label_moves_off_the_front_line() -> None:
    x, y = LEFT + 300, TOP + 200
    free = place_labels([(x, y, "pgd_at")])[0]
    line = (x, y + 2, x + 200, y + 2)  # the front leaving the point to the right, through its usual label spot
    assert _crosses(_label_box(*free[:3], "pgd_at"), line)
    moved = place_labels([(x, y, "pgd_at")], [line])[0]
    assert moved != free and not _crosses(_label_box(*moved[:3], "pgd_at"), line)


def test_no_label_of_the_committed_scatters_crosses_its_front() -> None:
    site = build_site(load_records("leaderboard/results"), score_infos())
    checked = 0
    for track in site.tracks:
        assert track.two_axis is not None
        for plot in track.two_axis.plots:
            corners = [tuple(float(v) for v in c.split(",")) for c in plot.front.split()]
            segments = [(*a, *b) for a, b in itertools.pairwise(corners)]
            for p in plot.points:
                box = _label_box(p.label_x, p.label_y, p.anchor, p.name)
                assert not any(_crosses(box, s) for s in segments), (track.name, plot.title, p.name)  # type: ignore[arg-type]
            checked += len(segments)
    assert checked > 0  # some fronts have several points
