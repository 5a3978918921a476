"""Paired significance (McNemar exact, paired bootstrap, intervals), record comparisons and the verify
tolerance — against hand-computed cases and scipy."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from bench.frontends.verify import tolerance
from bench.results.compare import compare_records, find_record, per_image
from bench.results.compare_text import dumps, format_text
from bench.results.paired import (
    bootstrap_interval,
    clopper_pearson,
    difference_from_intervals,
    holm,
    mcnemar_difference_interval,
    mcnemar_exact,
    mcnemar_p_value,
    paired_bootstrap,
)
from bench.results.records import ScoreRecord, write_record
from bench.results.scores import score_infos
from bench.track import DEFAULT_TRACK
from leaderboard.synthetic import SYNTHETIC_SPECS, synthetic_record

INFOS = score_infos(SYNTHETIC_SPECS)


@given(st.integers(0, 60), st.integers(0, 60))
@settings(max_examples=60, deadline=None)
def test_mcnemar_matches_scipy_exact_binomial_test(b: int, c: int) -> None:
    expected = 1.0 if b + c == 0 else binomtest(min(b, c), b + c, 0.5).pvalue
    assert mcnemar_p_value(b, c) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_mcnemar_hand_computed() -> None:
    # b = 6, c = 1: p = 2 * (C(7,0) + C(7,1)) / 2^7 = 2 * 8 / 128 = 0.125
    assert mcnemar_p_value(6, 1) == pytest.approx(0.125)
    a = [1] * 10 + [0] * 10
    b = [1] * 4 + [0] * 6 + [0] * 10
    r = mcnemar_exact(a, b)
    assert (r.only_a, r.only_b, r.difference) == (6, 0, 0.3)
    assert r.p_value == pytest.approx(2 / 2**6)
    with pytest.raises(ValueError, match="0/1"):
        mcnemar_exact([0.5], [1])
    with pytest.raises(ValueError, match="equal length"):
        mcnemar_exact([1, 0], [1])


def test_five_against_zero_discordant_of_200_is_not_significant_and_its_interval_contains_zero() -> None:
    """The case that contradicted itself with a Wald interval ([+0.34, +4.66] pp next to p = 0.0625): the exact
    p is 2·0.5⁵ and the matching interval is (5/200)(2·[π_L, 1] − 1) with π_L = 0.025^(1/5) the Clopper–Pearson
    lower end for 5 of 5."""
    a = [1] * 5 + [1] * 150 + [0] * 45
    b = [0] * 5 + [1] * 150 + [0] * 45
    r = mcnemar_exact(a, b)
    assert (r.only_a, r.only_b, r.n, r.difference) == (5, 0, 200, 0.025)
    assert r.p_value == pytest.approx(0.0625) and not r.significant()
    pi_low = 0.025 ** (1 / 5)
    assert r.ci_low == pytest.approx(0.025 * (2 * pi_low - 1), rel=1e-9) and r.ci_high == pytest.approx(0.025)
    assert r.ci_low < 0 < r.ci_high  # type: ignore[operator]
    z = 1.959963984540054  # the Wald interval that the test replaced excluded 0
    assert 0.025 - z * math.sqrt(5 - 25 / 200) / 200 > 0


@given(st.integers(0, 40), st.integers(0, 40), st.integers(0, 40), st.sampled_from([0.05, 0.01, 0.1]))
@settings(max_examples=120, deadline=None)
def test_mcnemar_interval_excludes_zero_exactly_when_the_exact_test_rejects(
    b: int, c: int, concordant: int, alpha: float
) -> None:
    n = b + c + concordant
    if n == 0:
        return
    lo, hi = mcnemar_difference_interval(b, c, n, confidence=1 - alpha)
    assert lo <= (b - c) / n <= hi
    rejects = mcnemar_p_value(b, c) < alpha
    assert rejects == (not lo <= 0 <= hi) or math.isclose(mcnemar_p_value(b, c), alpha)


def test_clopper_pearson_closed_forms() -> None:
    # k = 0: [0, 1 − (α/2)^(1/m)];  k = m: [(α/2)^(1/m), 1]
    assert clopper_pearson(0, 10) == pytest.approx((0.0, 1 - 0.025 ** (1 / 10)))
    assert clopper_pearson(10, 10) == pytest.approx((0.025 ** (1 / 10), 1.0))
    with pytest.raises(ValueError, match="trials"):
        clopper_pearson(3, 2)


def test_holm_on_hand_built_p_values() -> None:
    # sorted 0.001 (×5), 0.01 (×4), 0.012 (×3), 0.04 (×2), 0.2 (×1); running maximum keeps them monotone
    p = [0.04, 0.001, 0.2, 0.012, 0.01]
    assert holm(p) == pytest.approx([0.08, 0.005, 0.2, 0.04, 0.04])
    assert holm([0.3, 0.3]) == [0.6, 0.6] and holm([0.9, 0.8]) == [1.0, 1.0] and holm([]) == []
    significant_raw = [v < 0.05 for v in p]
    significant_holm = [v < 0.05 for v in holm(p)]
    assert significant_raw == [True, True, False, True, True] and significant_holm == [False, True, False, True, True]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([1.5])


def test_identical_vectors_give_zero_difference_not_significant() -> None:
    rng = np.random.default_rng(0)
    v = (rng.random(500) < 0.7).astype(int)
    r = mcnemar_exact(v, v)
    assert r.difference == 0 and r.p_value == 1.0 and not r.significant()
    x = rng.random(300)
    rb = paired_bootstrap(x, x, resamples=500, seed=1)
    assert rb.difference == 0 and rb.p_value == 1.0 and (rb.ci_low, rb.ci_high) == (0.0, 0.0)


def test_a_real_paired_shift_is_significant_and_its_interval_covers_it() -> None:
    rng = np.random.default_rng(1)
    base = rng.random(400)
    shifted = base + 0.05 + 0.02 * rng.standard_normal(400)
    r = paired_bootstrap(shifted, base, resamples=1000, seed=0)
    assert r.significant() and r.ci_low < 0.05 < r.ci_high  # type: ignore[operator]
    rng2 = np.random.default_rng(2)
    robust_a = (rng2.random(500) < 0.6).astype(int)
    robust_b = robust_a * (rng2.random(500) < 0.3)  # a much less robust model on the same images
    assert mcnemar_exact(robust_a, robust_b).p_value < 1e-6


def test_bootstrap_interval_is_seeded_and_matches_the_normal_approximation() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal(2000)
    lo, hi = bootstrap_interval(x, resamples=2000, seed=5)
    assert (lo, hi) == bootstrap_interval(x, resamples=2000, seed=5)
    se = x.std(ddof=1) / math.sqrt(len(x))
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.1)


def test_difference_from_intervals() -> None:
    r = difference_from_intervals(0.6, (0.5, 0.7), 0.4, (0.3, 0.5))
    se = math.hypot(0.1 / 1.959964, 0.1 / 1.959964)
    assert r.difference == pytest.approx(0.2)
    assert r.ci_high - r.ci_low == pytest.approx(2 * 1.959964 * se, rel=1e-5)  # type: ignore[operator]
    assert r.p_value == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(0.2 / se / math.sqrt(2)))), rel=1e-6)


def test_per_image_uses_the_conventions_and_discovers_the_rest() -> None:
    rec = synthetic_record("a", 0, n=50)
    assert np.array_equal(per_image(rec, "clean_accuracy"), rec.details["clean"]["correct"])  # type: ignore[arg-type]
    assert per_image(rec, "ara_attack") is None
    details = dict(rec.details)
    values = np.linspace(0, 1, 50)
    details["explain"] = {**details["explain"], "per_image_deletion": values.tolist()}
    scores = dict(rec.scores)
    scores["deletion_auc"] = ScoreRecord(value=float(values.mean()), n=50)
    rec = rec.model_copy(update={"details": details, "scores": scores})
    assert np.allclose(per_image(rec, "deletion_auc"), values)  # type: ignore[arg-type]


def test_compare_identical_records_zero_not_significant_and_json() -> None:
    a = synthetic_record("a", 0, n=120)
    twin = a.model_copy(update={"entry": a.entry.model_copy(update={"name": "twin"})})
    comp = compare_records(a, twin, infos=INFOS)
    assert comp.same_images
    for row in comp.rows:
        assert row.difference == 0 and (row.result is None or row.result.difference == 0)
        assert not row.significant(0.05) and row.better(0.05) is None
    assert next(r for r in comp.rows if r.score.name == "ara_attack").result is None  # no interval: not tested
    methods = {r.score.name: r.result.method for r in comp.rows if r.result}
    assert methods["clean_accuracy"] == methods["autoattack_accuracy"] == "McNemar exact"
    assert methods["deletion_auc"].startswith("intervals")
    doc = json.loads(dumps([comp]))
    assert all(s["difference"] == 0 and s["significant"] is False for s in doc[0]["scores"])
    text = format_text([comp])
    assert "a vs twin" in text and "McNemar exact (n=120)" in text


def test_compare_detects_a_robustness_gap_and_says_who_is_better() -> None:
    a = synthetic_record("a", 0, n=300)
    robust = np.asarray(a.details["clean"]["correct"])
    details = {**a.details, "autoattack": {"robust": robust.tolist()}}
    scores = {**a.scores, "autoattack_accuracy": ScoreRecord(value=float(robust.mean()), n=300)}
    strong = a.model_copy(update={"details": details, "scores": scores})
    weak_vec = np.zeros(300, dtype=int)
    weak = a.model_copy(
        update={
            "entry": a.entry.model_copy(update={"name": "weak"}),
            "details": {**a.details, "autoattack": {"robust": weak_vec.tolist()}},
            "scores": {**a.scores, "autoattack_accuracy": ScoreRecord(value=0.0, n=300)},
        }
    )
    row = next(r for r in compare_records(strong, weak, infos=INFOS).rows if r.score.name == "autoattack_accuracy")
    assert row.result is not None and row.result.only_a == int(robust.sum()) and row.result.only_b == 0
    assert row.significant(0.05) and row.better(0.05) == "entry"


def test_marks_use_holm_within_one_comparison_in_the_table_and_the_json() -> None:
    """Clean accuracy differs on 6 of 0 discordant images (raw p = 2/2⁶ < 0.05) and AutoAttack on every robust
    image; Holm across the comparison's tested scores keeps the AutoAttack mark and drops the clean one."""
    a = synthetic_record("a", 0, n=200)
    correct = np.asarray(a.details["clean"]["correct"])
    flipped = correct.copy()
    flipped[np.flatnonzero(correct)[:6]] = 0
    aa = np.asarray(a.details["autoattack"]["robust"])
    assert aa.sum() >= 20
    b = a.model_copy(
        update={
            "entry": a.entry.model_copy(update={"name": "b"}),
            "details": {
                **a.details,
                "clean": {**a.details["clean"], "correct": flipped.tolist()},
                "autoattack": {**a.details["autoattack"], "robust": [0] * 200},
            },
            "scores": {
                **a.scores,
                "clean_accuracy": a.scores["clean_accuracy"].model_copy(update={"value": float(flipped.mean())}),
                "autoattack_accuracy": ScoreRecord(value=0.0, n=200),
            },
        }
    )
    comp = compare_records(a, b, infos=INFOS)
    tested = [r for r in comp.rows if r.result is not None]
    assert comp.tested == len(tested) >= 3 and comp.correction == "holm"
    assert [r.p_adjusted for r in tested] == pytest.approx(holm([r.result.p_value for r in tested]))  # type: ignore[union-attr]
    rows = {r.score.name: r for r in comp.rows}
    clean, robust = rows["clean_accuracy"], rows["autoattack_accuracy"]
    assert clean.result is not None and (clean.result.only_a, clean.result.only_b) == (6, 0)
    assert clean.result.p_value == pytest.approx(2 / 2**6) and clean.result.significant(0.05)  # raw: would be marked
    assert not clean.significant(0.05) and clean.better(0.05) is None  # Holm: not marked
    assert clean.result.ci_low is not None and clean.result.ci_low > 0  # the interval agrees with the raw test
    assert robust.significant(0.05) and robust.better(0.05) == "entry"
    doc = json.loads(dumps([comp]))[0]
    assert (doc["correction"], doc["tested"]) == ("holm", comp.tested)
    by_score = {s["score"]: s for s in doc["scores"]}
    assert by_score["clean_accuracy"]["p_holm"] == pytest.approx(clean.p_adjusted)
    assert by_score["clean_accuracy"]["significant"] is False and by_score["autoattack_accuracy"]["significant"]
    lines = {line.split("  ")[0]: line for line in format_text([comp]).splitlines()}
    assert "*" not in lines[clean.score.title] and "* a better" in lines[robust.score.title]
    assert "Holm" in format_text([comp]).splitlines()[0]


def test_compare_pairs_on_the_shared_prefix_and_refuses_other_tracks() -> None:
    long = synthetic_record("long", 0, n=100)
    short = synthetic_record("short", 0, n=60)
    row = next(r for r in compare_records(long, short, infos=INFOS).rows if r.score.name == "clean_accuracy")
    assert row.result is not None and row.result.n == 60 and "first 60" in row.note
    other = short.model_copy(update={"track": "elsewhere"})
    with pytest.raises(ValueError, match="cannot compare"):
        compare_records(long, other, infos=INFOS)


def test_different_subsets_are_not_paired() -> None:
    a = synthetic_record("a", 0, n=50)
    b = synthetic_record("b", 1, n=50)
    b = b.model_copy(update={"provenance": b.provenance.model_copy(update={"subset_sha256": "2" * 64})})
    comp = compare_records(a, b, infos=INFOS)
    assert not comp.same_images
    assert all(r.result is None or r.result.method.startswith("intervals") for r in comp.rows)


def test_verify_tolerance_is_the_nested_sampling_bound() -> None:
    # Var(mean_m − mean_N) = p(1 − p)(1/m − 1/N) for nested prefixes of a random permutation.
    tol, basis = tolerance("fraction", 0.9, 1000, 200, (None, None), z=3.29, slack=0.0)
    assert tol == pytest.approx(3.29 * math.sqrt(0.09 * (1 / 200 - 1 / 1000)))
    assert "Bernoulli" in basis
    # Empirically: an honest prefix of a Bernoulli(0.9) vector stays within the bound almost always.
    rng = np.random.default_rng(0)
    misses = 0
    for _ in range(2000):
        v = rng.random(1000) < 0.9
        misses += abs(v[:200].mean() - v.mean()) > 3.29 * math.sqrt(v.mean() * (1 - v.mean()) * (1 / 200 - 1 / 1000))
    assert misses / 2000 < 0.01
    tol2, basis2 = tolerance("score", 0.3, 1000, 200, (0.29, 0.31), z=2.0, slack=0.0)
    sigma = 0.02 / (2 * 1.959964) * math.sqrt(1000)
    assert tol2 == pytest.approx(2.0 * sigma * math.sqrt(1 / 200 - 1 / 1000)) and "interval" in basis2
    assert tolerance("score", 0.3, 1000, 200, (None, None), slack=0.1)[0] == pytest.approx(0.03 + 1e-9)


def test_find_record_defaults_to_the_default_track_among_several_and_otherwise_asks(tmp_path: Path) -> None:
    for track in (DEFAULT_TRACK, "other", "third"):
        write_record(synthetic_record("both", 0, track=track), tmp_path)
    for track in ("other", "third"):
        write_record(synthetic_record("elsewhere", 1, track=track), tmp_path)
    assert find_record(tmp_path, "both").track == DEFAULT_TRACK
    assert find_record(tmp_path, "both", track="other").track == "other"
    with pytest.raises(ValueError, match=r"several tracks \(other, third\); pass --track"):
        find_record(tmp_path, "elsewhere")
