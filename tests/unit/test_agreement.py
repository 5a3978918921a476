"""Metric agreement on hand-built rankings: Kendall τ of identical, reversed and once-swapped orders, the
orientation of lower-is-better scores, one score per family, Holm-adjusted p-values, the rank-shift flag (a real
shift only: different families, beyond the 95% intervals) and its evidence, which records take part, and the
per-model agreement across explainers."""

from __future__ import annotations

import pytest
from scipy.stats import kendalltau

from bench.results.agreement import MAX_RANK_SHIFT, agreement, one_per_family, oriented, rank_range, ranks
from bench.results.explainer_agreement import explainer_values, model_agreement, per_model, summarise
from bench.results.paired import holm
from bench.results.records import FlagRecord, Record, ScoreRecord
from bench.results.scores import score_infos
from leaderboard.synthetic import synthetic_record

INFOS = score_infos()
ENTRIES = ["a", "b", "c", "d", "e"]


def records(
    columns: dict[str, list[float]], names: list[str] = ENTRIES, half_width: dict[str, float] | None = None
) -> list[Record]:
    """One record per name, holding exactly the given scores (value i of each column for entry i), with a 95%
    interval of ± ``half_width[metric]`` where given."""
    widths = half_width or {}
    out = []
    for i, name in enumerate(names):
        rec = synthetic_record(name, i)
        scores = {}
        for metric, values in columns.items():
            w = widths.get(metric)
            lo, hi = (None, None) if w is None else (values[i] - w, values[i] + w)
            scores[metric] = ScoreRecord(value=values[i], n=100, ci_low=lo, ci_high=hi)
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
    # reversed over 5 entries without intervals (the ranks are taken as certain): a and e move 4 places
    # (flagged: > 3), b and d 2, c none
    assert MAX_RANK_SHIFT == 3
    assert [s.entry for s in ag.shifts] == ["a", "e"]
    a = ag.shifts[0]
    assert {r.metric: r.rank for r in a.ranks} == {"road_gap": 1, "insertion_auc": 5} and a.spread == 4
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


# ------------------------------------------------------------------------------------------ families
def test_one_score_per_family_prefers_the_headline() -> None:
    kept, dropped = one_per_family(["road_morf_auc", "road_kept_gap", "road_gap", "deletion_auc"], INFOS)
    assert kept == ("road_kept_gap", "deletion_auc")
    assert dict(dropped) == {"road_morf_auc": "road_kept_gap", "road_gap": "road_kept_gap"}
    # without the headline in the records, a member is still kept (never the whole family dropped)
    kept, _ = one_per_family(["road_morf_auc", "road_lerf_auc", "road_gap"], INFOS)
    assert kept == ("road_morf_auc",)


def test_a_gap_and_its_parts_count_once_across_models() -> None:
    gap = [0.5, 0.4, 0.3, 0.2, 0.1]
    recs = records(
        {
            "road_kept_gap": gap,
            "road_kept_morf_auc": [0.5, 0.4, 0.3, 0.2, 0.1],  # ↓: reversed against the gap
            "road_gap": [0.1, 0.2, 0.3, 0.4, 0.5],  # reversed too: the same family, never a "disagreement"
            "insertion_auc": [0.5, 0.4, 0.3, 0.2, 0.1],
        }
    )
    ag = agreement(recs, INFOS)
    assert ag.metrics == ("road_kept_gap", "insertion_auc")
    assert {d for d, _ in ag.dropped} == {"road_kept_morf_auc", "road_gap"}
    assert len(ag.pairs) == 1 and ag.shifts == ()


# ------------------------------------------------------------------------------------------ Holm
def test_across_model_p_values_are_holm_adjusted_over_the_pairs() -> None:
    recs = records(
        {
            "road_kept_gap": [0.5, 0.4, 0.3, 0.2, 0.1, 0.0],
            "deletion_auc": [0.1, 0.2, 0.3, 0.4, 0.6, 0.5],  # ↓: one swap against the gap
            "insertion_auc": [0.3, 0.1, 0.5, 0.2, 0.0, 0.4],
        },
        names=["a", "b", "c", "d", "e", "f"],
    )
    ag = agreement(recs, INFOS)
    raw = [p.pvalue for p in ag.pairs]
    assert all(p is not None for p in raw)
    assert [p.pvalue_holm for p in ag.pairs] == pytest.approx(holm([float(p or 0) for p in raw]))
    pair = ag.tau("road_kept_gap", "deletion_auc")
    assert pair is not None and pair.tau == pytest.approx((15 - 2 * 1) / 15)  # 14 concordant, 1 discordant
    expected = kendalltau([5, 4, 3, 2, 1, 0], [-1, -2, -3, -4, -6, -5])
    assert pair.pvalue == pytest.approx(float(expected.pvalue))
    # Holm over 3 pairs: the smallest p is multiplied by 3
    smallest = min(range(3), key=lambda i: float(raw[i] or 1))
    assert ag.pairs[smallest].pvalue_holm == pytest.approx(min(1.0, 3 * float(raw[smallest] or 0)))


# ------------------------------------------------------------------------------------------ rank shifts
def test_rank_ranges_from_the_intervals() -> None:
    values = {"a": (0.9, 0.88, 0.92), "b": (0.8, 0.5, 0.95), "c": (0.6, 0.55, 0.7), "d": (0.1, 0.0, 0.2)}
    # a: nothing lies wholly above it; b overlaps it → 1–2. b overlaps a and c → 1–3. d lies below everyone → 4.
    assert [rank_range(values, e) for e in "abcd"] == [(1, 2), (1, 3), (2, 3), (4, 4)]


def test_a_shift_within_the_intervals_is_not_flagged() -> None:
    """The same reversed rankings: with intervals of ± 0.3 around values 0.1 apart every rank is possible, so
    no shift is real; with ± 0.01 the ranks are certain and a and e (4 places) are flagged."""
    cols = {"road_kept_gap": [0.5, 0.4, 0.3, 0.2, 0.1], "insertion_auc": [0.1, 0.2, 0.3, 0.4, 0.5]}
    wide = agreement(records(cols, half_width={"road_kept_gap": 0.3, "insertion_auc": 0.3}), INFOS)
    assert wide.shifts == ()
    narrow = agreement(records(cols, half_width={"road_kept_gap": 0.01, "insertion_auc": 0.01}), INFOS)
    assert [s.entry for s in narrow.shifts] == ["a", "e"]
    a = narrow.shifts[0]
    assert [(r.metric, r.rank, r.best, r.worst) for r in a.ranks] == [
        ("road_kept_gap", 1, 1, 1),
        ("insertion_auc", 5, 5, 5),
    ]
    assert "road_kept_gap 1" in a.message and "insertion_auc 5" in a.message


def test_a_shift_of_three_places_is_not_flagged_even_when_certain() -> None:
    cols = {"road_kept_gap": [0.5, 0.4, 0.3, 0.2, 0.1], "deletion_auc": [0.2, 0.3, 0.4, 0.5, 0.1]}  # ↓
    # deletion ranks e first, then a, b, c, d: every entry but e moves 1 place, e moves 4
    ag = agreement(records(cols, half_width={"road_kept_gap": 0.01, "deletion_auc": 0.01}), INFOS)
    assert [s.entry for s in ag.shifts] == ["e"] and ag.shifts[0].spread == 4


# ------------------------------------------------------------------------------------------ per model
def with_table(rec: Record, rows: list[dict[str, object]], names: dict[str, str]) -> Record:
    details = dict(rec.details)
    details["explain"] = {"table": rows, "table_scores": names}
    return rec.model_copy(update={"details": details})


TABLE_NAMES = {
    "road_kept_gap": "road_kept_gap",
    "road_kept_morf": "road_kept_morf_auc",
    "deletion": "deletion_auc",
    "sensitivity": "max_sensitivity",
}


def explainer_rows(gap: list[float], deletion: list[float], sens: list[float | None]) -> list[dict[str, object]]:
    names = ["saliency", "ig", "gradcam", "cam"]
    return [
        {"explainer": n, "road_kept_gap": g, "road_kept_morf": 0.5, "deletion": d, "sensitivity": s}
        for n, g, d, s in zip(names, gap, deletion, sens, strict=True)
    ]


def test_agreement_across_the_explainers_of_each_model() -> None:
    base = records({"road_kept_gap": [0.5, 0.4, 0.3]}, names=["m1", "m2", "m3"])
    # m1: deletion (↓) orders the explainers exactly as the gap does → τ = +1; sensitivity (↓) reversed → −1
    m1 = with_table(
        base[0], explainer_rows([0.4, 0.3, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]), TABLE_NAMES
    )
    # m2: one swap among 4 explainers (5 concordant, 1 discordant) → τ = 4/6; sensitivity (↓) agrees with the gap
    # on the 3 explainers that have it → τ = +1, n = 3
    m2 = with_table(
        base[1], explainer_rows([0.4, 0.3, 0.2, 0.1], [0.1, 0.3, 0.2, 0.4], [0.1, 0.2, 0.3, None]), TABLE_NAMES
    )
    m3 = base[2]  # no table: not part of the per-model view
    models = per_model([m1, m2, m3], INFOS)
    assert [m.entry for m in models] == ["m1", "m2"]
    one = models[0]
    assert one.metrics == ("road_kept_gap", "deletion_auc", "max_sensitivity")  # MoRF kept: the gap's family
    assert one.dropped == (("road_kept_morf_auc", "road_kept_gap"),)
    assert one.explainers == ("saliency", "ig", "gradcam", "cam")

    def tau(m: object, a: str, b: str) -> float | None:
        pair = m.tau(a, b)  # type: ignore[attr-defined]
        assert pair is not None and pair.pvalue_holm is None  # descriptive: never corrected
        return pair.tau

    assert tau(one, "road_kept_gap", "deletion_auc") == pytest.approx(1.0)
    assert tau(one, "road_kept_gap", "max_sensitivity") == pytest.approx(-1.0)
    two = models[1]
    assert tau(two, "road_kept_gap", "deletion_auc") == pytest.approx(4 / 6)
    pair = two.tau("road_kept_gap", "max_sensitivity")
    assert pair is not None and pair.n == 3 and pair.tau == pytest.approx(1.0)
    summary = {(s.a, s.b): s for s in summarise(models, INFOS)}
    gd = summary[("road_kept_gap", "deletion_auc")]
    assert gd.median == pytest.approx((1.0 + 4 / 6) / 2) and gd.entries == 2 and gd.reversed == 0
    assert (gd.low, gd.high) == (pytest.approx(4 / 6), pytest.approx(1.0))
    gs = summary[("road_kept_gap", "max_sensitivity")]
    assert gs.reversed == 1 and gs.median == pytest.approx(0.0)
    assert set(summary) == {
        ("road_kept_gap", "deletion_auc"),
        ("road_kept_gap", "max_sensitivity"),
        ("deletion_auc", "max_sensitivity"),
    }


def test_explainer_values_skip_rows_without_a_finite_value() -> None:
    rec = with_table(
        synthetic_record("x", 0),
        [{"explainer": "a", "deletion": 0.2}, {"explainer": "b", "deletion": None}, {"deletion": 0.1}],
        {"deletion": "deletion_auc", "missing": "road_kept_gap"},
    )
    assert explainer_values(rec) == {"deletion_auc": ("deletion", {"a": 0.2})}
    assert model_agreement(rec, INFOS) is None  # one score: nothing to compare


def test_shifts_are_measured_from_the_fidelity_headline() -> None:
    """c ranks 3rd by the headline, 1st by deletion and 5th by insertion: deletion and insertion disagree by 4
    places, but its leaderboard place (the headline's) is within 2 of both, so it is not flagged. With a
    non-headline ROAD readout in place of the headline every pair is compared, and c is."""
    narrow = 0.001
    cols = {
        "road_kept_gap": [0.5, 0.4, 0.3, 0.2, 0.1],  # a b c d e
        "deletion_auc": [0.2, 0.3, 0.1, 0.4, 0.5],  # ↓: c a b d e
        "insertion_auc": [0.5, 0.4, 0.1, 0.3, 0.2],  # a b d e c
    }
    widths = dict.fromkeys(cols, narrow)
    assert agreement(records(cols, half_width=widths), INFOS).shifts == ()
    cols["road_gap"] = cols.pop("road_kept_gap")
    widths = dict.fromkeys(cols, narrow)
    shifts = agreement(records(cols, half_width=widths), INFOS).shifts
    assert [s.entry for s in shifts] == ["c"] and shifts[0].spread == 4
