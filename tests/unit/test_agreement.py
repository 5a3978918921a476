"""Metric agreement on hand-built rankings: Kendall τ of identical, reversed and once-swapped orders, the
orientation of lower-is-better scores, the rank-shift flag and its evidence, and which records take part."""

from __future__ import annotations

import pytest

from bench.results.agreement import MAX_RANK_SHIFT, agreement, oriented, ranks
from bench.results.records import FlagRecord, Record, ScoreRecord
from bench.results.scores import score_infos
from leaderboard.synthetic import synthetic_record

INFOS = score_infos()
ENTRIES = ["a", "b", "c", "d", "e"]


def records(columns: dict[str, list[float]], names: list[str] = ENTRIES) -> list[Record]:
    """One record per name, holding exactly the given scores (value i of each column for entry i)."""
    out = []
    for i, name in enumerate(names):
        rec = synthetic_record(name, i)
        scores = {metric: ScoreRecord(value=values[i], n=100) for metric, values in columns.items()}
        out.append(rec.model_copy(update={"scores": scores}))
    return out


def test_ranks_are_competition_ranks() -> None:
    assert ranks({"x": 3.0, "y": 3.0, "z": 1.0, "w": 4.0}) == {"w": 1, "x": 2, "y": 2, "z": 4}
    assert oriented(0.3, False) == -0.3 and oriented(0.3, True) == 0.3


def test_tau_of_identical_reversed_and_swapped_rankings() -> None:
    recs = records(
        {
            "road_gap": [0.5, 0.4, 0.3, 0.2, 0.1],  # ↑: a best
            "deletion_auc": [0.1, 0.2, 0.3, 0.4, 0.5],  # ↓: a best too — the same ranking once oriented
            "insertion_auc": [0.1, 0.2, 0.3, 0.4, 0.5],  # ↑: e best — reversed
            "faithfulness_correlation": [0.5, 0.4, 0.2, 0.3, 0.1],  # c and d swapped: 1 discordant pair of 10
        }
    )
    ag = agreement(recs, INFOS)
    assert set(ag.metrics) == {"road_gap", "deletion_auc", "insertion_auc", "faithfulness_correlation"}

    def tau(a: str, b: str) -> float | None:
        pair = ag.tau(a, b)
        assert pair is not None and pair.n == 5
        return pair.tau

    assert tau("road_gap", "deletion_auc") == pytest.approx(1.0)
    assert tau("deletion_auc", "road_gap") == pytest.approx(1.0)
    assert tau("road_gap", "insertion_auc") == pytest.approx(-1.0)
    assert tau("road_gap", "faithfulness_correlation") == pytest.approx((9 - 1) / 10)
    assert len(ag.pairs) == 6


def test_entries_moving_more_than_the_threshold_are_flagged_with_their_ranks() -> None:
    recs = records({"road_gap": [0.5, 0.4, 0.3, 0.2, 0.1], "insertion_auc": [0.1, 0.2, 0.3, 0.4, 0.5]})
    ag = agreement(recs, INFOS)
    # reversed over 5 entries: a and e move 4 places (flagged: > 3), b and d 2, c none
    assert MAX_RANK_SHIFT == 3
    assert [s.entry for s in ag.shifts] == ["a", "e"]
    a = ag.shifts[0]
    assert dict(a.ranks) == {"road_gap": 1, "insertion_auc": 5} and a.spread == 4
    assert "road_gap 1" in a.message and "insertion_auc 5" in a.message


def test_robustness_metrics_enter_tau_but_not_the_flag() -> None:
    recs = records(
        {
            "road_gap": [0.5, 0.4, 0.3, 0.2, 0.1],
            "explanation_topk_kendall_tau": [0.1, 0.2, 0.3, 0.4, 0.5],
            "clean_accuracy": [0.1, 0.2, 0.3, 0.4, 0.5],  # not an explanation metric
        }
    )
    ag = agreement(recs, INFOS)
    assert ag.metrics == ("road_gap", "explanation_topk_kendall_tau")
    pair = ag.tau("road_gap", "explanation_topk_kendall_tau")
    assert pair is not None and pair.tau == pytest.approx(-1.0)
    assert ag.shifts == ()


def test_failed_records_are_left_out_and_too_few_entries_give_no_tau() -> None:
    recs = records({"road_gap": [0.5, 0.4, 0.3, 0.2, 0.1], "deletion_auc": [0.1, 0.2, 0.3, 0.4, 0.5]})
    fail = FlagRecord(name="nonfinite_outputs", message="NaN", severity="fail")
    recs = [r.model_copy(update={"flags": [fail]}) if r.name in {"c", "d"} else r for r in recs]
    ag = agreement(recs, INFOS)
    assert ag.entries == ("a", "b", "e")
    pair = ag.tau("road_gap", "deletion_auc")
    assert pair is not None and pair.n == 3 and pair.tau == pytest.approx(1.0)
    two = agreement(recs[:2], INFOS)
    pair2 = two.tau("road_gap", "deletion_auc")
    assert pair2 is not None and pair2.tau is None and pair2.n == 2


def test_a_constant_metric_has_no_tau() -> None:
    recs = records({"road_gap": [0.5, 0.4, 0.3, 0.2, 0.1], "deletion_auc": [0.2] * 5})
    pair = agreement(recs, INFOS).tau("road_gap", "deletion_auc")
    assert pair is not None and pair.tau is None
