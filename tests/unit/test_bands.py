"""Significance bands (bench.results.bands) and the Pareto front (bench.results.pareto) on hand-built inputs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import binom, norm

from bench.results.bands import (
    BandInput,
    BandMethod,
    band_input,
    pairing_refusal,
    record_bands,
    significance_bands,
)
from bench.results.compare import compare_score
from bench.results.intervals import wilson_interval
from bench.results.paired import mcnemar_p_value
from bench.results.pareto import pareto_front
from bench.results.scores import score_infos
from leaderboard.synthetic import synthetic_record

N = 100


def vector(ones: int, *, flip_off: int = 0, flip_on: int = 0, base: int | None = None) -> tuple[float, ...]:
    """``ones`` leading 1s out of N; ``flip_off`` of the first ``base`` 1s turned off and ``flip_on`` 0s after
    ``base`` turned on — so the discordant counts against ``vector(base)`` are exactly (flip_off, flip_on)."""
    if base is None:
        return tuple([1.0] * ones + [0.0] * (N - ones))
    v = [1.0] * base + [0.0] * (N - base)
    for i in range(flip_off):
        v[i] = 0.0
    for i in range(flip_on):
        v[base + i] = 1.0
    return tuple(v)


def entry(name: str, v: tuple[float, ...], **kw: object) -> BandInput:
    return BandInput(name, float(np.mean(v)), v, **kw)  # type: ignore[arg-type]


def bands(places: tuple[object, ...]) -> list[int]:
    return [p.band for p in places]  # type: ignore[attr-defined]


def test_a_paired_non_difference_shares_a_band_where_the_rank_order_separates() -> None:
    # A 60%, B 55% (5 images A gets and B does not, none the other way: p = 2·0.5⁵ = 0.0625), C 40% (p ≈ 2e-6):
    # a naive order says 1, 2, 3; the paired test cannot tell A from B.
    a = entry("A", vector(60))
    b = entry("B", vector(0, flip_off=5, base=60))
    c = entry("C", vector(40))
    assert mcnemar_p_value(5, 0) == pytest.approx(0.0625)
    places = significance_bands([a, b, c])
    assert bands(places) == [1, 1, 2]
    assert [p.leader for p in places] == ["A", "A", "C"]
    assert places[1].method is BandMethod.MCNEMAR
    # Holm over the leader's two tests: B's p is the larger one, so it keeps its own value (max(2·p_C, p_B))
    assert places[1].p_adjusted == pytest.approx(0.0625)


def test_holm_keeps_two_raw_significant_differences_in_the_leader_band() -> None:
    # raw p = 0.03125 (6 vs 0) and 0.0391 (8 vs 1) are each below 0.05; Holm over the family of two gives
    # 2·0.03125 = 0.0625 for both, so neither differs significantly from the leader
    a = entry("A", vector(70))
    b = entry("B", vector(0, flip_off=6, base=70))
    c = entry("C", vector(0, flip_off=8, flip_on=1, base=70))
    assert mcnemar_p_value(6, 0) < 0.05 and mcnemar_p_value(8, 1) < 0.05
    places = significance_bands([a, b, c])
    assert bands(places) == [1, 1, 1]
    assert [p.p_adjusted for p in places[1:]] == pytest.approx([0.0625, 0.0625])
    assert bands(significance_bands([a, b])) == [1, 2]  # alone (a family of one), B's 0.03125 separates it


def test_the_first_significant_entry_leads_the_next_band_and_bands_stay_contiguous() -> None:
    a = entry("A", vector(90))
    b = entry("B", vector(50))  # far below A
    c = entry("C", vector(0, flip_off=2, base=50))  # 48%: not different from B
    d = entry("D", vector(10))
    places = significance_bands([a, b, c, d])
    assert bands(places) == [1, 2, 2, 3]
    assert [p.leader for p in places] == ["A", "B", "B", "D"]
    assert [p.method for p in places] == [BandMethod.LEADER, BandMethod.LEADER, BandMethod.MCNEMAR, BandMethod.LEADER]


def test_ties_always_share_a_band() -> None:
    v = vector(30)
    w = tuple(reversed(v))  # same accuracy, entirely different images: 30 vs 30 discordant, p = 1
    places = significance_bands([entry("A", v), entry("B", w), entry("C", vector(0))])
    assert bands(places) == [1, 1, 2]
    assert places[1].p_adjusted == 1.0


def test_without_per_image_results_the_difference_is_tested_from_the_two_intervals() -> None:
    # se = half-width / 1.959964; A − B: se = hypot(0.1, 0.1)/1.96 = 0.0722, z = 0.08/0.0722 = 1.109, p = 0.268;
    # A − C: z = 0.30/hypot(0.1, 0.095)·1.96 = 4.27, p = 2e-5. Holm over the two: C 4e-5 < 0.05, B 0.268.
    a = BandInput("A", 0.60, None, (0.50, 0.70))
    b = BandInput("B", 0.52, None, (0.42, 0.62))
    c = BandInput("C", 0.30, None, (0.205, 0.395))
    places = significance_bands([a, b, c])
    assert bands(places) == [1, 1, 2]
    assert places[1].method is BandMethod.INTERVALS
    assert places[1].p_adjusted == pytest.approx(2 * norm.sf(0.08 / (math.hypot(0.1, 0.1) / norm.ppf(0.975))))
    assert places[1].p_adjusted == pytest.approx(0.2675, abs=1e-4)


def test_the_interval_fallback_is_a_difference_test_not_an_overlap() -> None:
    # the intervals overlap (A's low end 0.50 < B's high end 0.555), but the difference 0.145 with
    # se = hypot(0.1, 0.1)/1.96 = 0.0722 gives z = 2.008, p = 0.0446 < 0.05: the entries differ though their
    # intervals overlap (overlapping 95% intervals is a criterion at about the 0.005 level)
    a = BandInput("A", 0.60, None, (0.50, 0.70))
    b = BandInput("B", 0.455, None, (0.355, 0.555))
    assert a.interval[0] <= b.interval[1]  # type: ignore[index]
    places = significance_bands([a, b])
    assert bands(places) == [1, 2]


def test_results_on_other_images_are_not_paired() -> None:
    a = entry("A", vector(60), interval=(0.5, 0.7), subset="s1")
    b = entry("B", vector(0, flip_off=5, base=60), interval=(0.45, 0.65), subset="s2")
    place = significance_bands([a, b])[1]
    assert place.method is BandMethod.INTERVALS and "different evaluation subsets" in place.note


def test_vectors_of_unequal_length_are_refused_not_truncated() -> None:
    # 1.0 on 100 images vs 0.5 on 200 whose first 100 are all 1: truncated to 100 images, McNemar sees no
    # discordant pair (p = 1, same band). Refused, the test of the difference from the Wilson intervals
    # [0.963, 1.0] and [0.431, 0.569] separates them (z ≈ 0.5 / hypot(0.0094, 0.0350) ≈ 13.8).
    a = BandInput("A", 1.0, (1.0,) * 100, wilson_interval(100, 100))
    b = BandInput("B", 0.5, (1.0,) * 100 + (0.0,) * 100, wilson_interval(100, 200))
    assert pairing_refusal(a, b) == "per-image results on different images (100 vs 200 images)"
    places = significance_bands([a, b])
    assert bands(places) == [1, 2]
    assert places[1].method is BandMethod.LEADER
    # without intervals the refused pair falls back to equal values: unequal, so apart too
    places = significance_bands([BandInput("A", 1.0, a.per_image), BandInput("B", 0.5, b.per_image)])
    assert bands(places) == [1, 2]
    # joined by the fallback, the reason is kept
    c = BandInput("C", 0.99, (1.0,) * 199 + (0.0,), wilson_interval(199, 200))
    place = significance_bands([a, c])[1]
    assert place.band == 1 and place.method is BandMethod.INTERVALS and "100 vs 200" in place.note


def test_an_entry_not_distinguishable_from_the_leader_is_marked_in_a_later_band() -> None:
    # the case: leader 0.50; P 0.44 with 12 vs 0 discordant (p = 2·0.5¹² = 0.000488); Q 0.43 with
    # 30 vs 16 discordant (p = 2·P[Bin(46, ½) ≤ 16] = 0.0541). Holm over {P, Q}: P 0.000977, Q 0.0541.
    # P differs, so it leads band 2 and Q (tested against P) joins it — though Q does not differ from the leader.
    n = 200
    leader = [1.0] * 100 + [0.0] * 100
    p = list(leader)
    for i in range(12):
        p[i] = 0.0
    q = list(leader)
    for i in range(30):
        q[i] = 0.0
    for i in range(16):
        q[100 + i] = 1.0
    assert (sum(p) / n, sum(q) / n) == (0.44, 0.43)
    assert mcnemar_p_value(30, 16) == pytest.approx(2 * binom.cdf(16, 46, 0.5)) == pytest.approx(0.0541, abs=1e-4)
    places = significance_bands([entry("L", tuple(leader)), entry("P", tuple(p)), entry("Q", tuple(q))])
    assert bands(places) == [1, 2, 2]
    assert [x.indistinct_from_top for x in places] == [False, False, True]
    assert places[1].p_top == pytest.approx(2 * 0.5**12 * 2)
    assert places[2].p_top == pytest.approx(mcnemar_p_value(30, 16))
    assert places[2].leader == "P"


def test_without_intervals_only_equal_values_share_a_band() -> None:
    places = significance_bands([BandInput("A", 0.5), BandInput("B", 0.5), BandInput("C", 0.49)])
    assert bands(places) == [1, 1, 2] and places[1].method is BandMethod.VALUES


def test_real_valued_results_use_the_paired_bootstrap() -> None:
    rng = np.random.default_rng(0)
    x = rng.random(200) + 0.5
    noise = rng.normal(0.0, 0.3, 200)
    b = x + noise - noise.mean() - 0.01  # 0.01 lower on average, with image-to-image noise: not significant
    places = significance_bands([entry("A", tuple(x)), entry("B", tuple(b)), entry("C", tuple(x - 0.5))])
    assert places[1].method is BandMethod.BOOTSTRAP
    assert bands(places) == [1, 1, 2]  # C: 0.5 lower on every image


def test_bad_alpha_is_refused() -> None:
    with pytest.raises(ValueError, match="alpha"):
        significance_bands([BandInput("A", 1.0)], alpha=1.0)


def test_band_input_reads_the_per_image_results_compare_reads() -> None:
    r = synthetic_record("x", 3, n=40)
    got = band_input(r, "autoattack_accuracy")
    assert got.per_image == tuple(float(v) for v in r.details["autoattack"]["robust"])
    assert got.value == pytest.approx(float(np.mean(got.per_image)))
    assert got.interval == (r.scores["autoattack_accuracy"].ci_low, r.scores["autoattack_accuracy"].ci_high)


def test_a_pair_gets_the_p_value_robex_compare_reports() -> None:
    names = ["x", "y"]
    x, y = (synthetic_record(n, s, names=names, n=80) for n, s in zip(names, (3, 4), strict=True))
    if x.score("autoattack_accuracy") < y.score("autoattack_accuracy"):  # type: ignore[operator]
        x, y = y, x
    compared = compare_score(x, y, score_infos()["autoattack_accuracy"], same_images=True)
    places = record_bands([x, y], "autoattack_accuracy")
    assert compared.result is not None and compared.result.method == "McNemar exact"
    assert places[1].p_adjusted == pytest.approx(compared.result.p_value)  # a family of one: Holm changes nothing


# ------------------------------------------------------------------------------------------ Pareto front
def test_pareto_front_follows_each_scores_direction() -> None:
    points = [(0.9, 0.30), (0.5, 0.10), (0.4, 0.20), (0.1, 0.05), (0.9, 0.35)]
    assert pareto_front(points, x_higher=True, y_higher=False) == (3, 1, 0)  # (0.4, 0.2) is beaten by (0.5, 0.1)
    assert pareto_front(points, x_higher=True, y_higher=True) == (4,)
    assert pareto_front(points, x_higher=False, y_higher=False) == (3,)
    assert pareto_front([(0.2, 0.2), (0.2, 0.2)], x_higher=True, y_higher=True) == (0, 1)  # equals: both stay
    assert pareto_front([], x_higher=True, y_higher=True) == ()


@pytest.mark.parametrize(("x_higher", "y_higher"), list(itertools.product((True, False), repeat=2)))
def test_pareto_front_is_exactly_the_undominated_points(x_higher: bool, y_higher: bool) -> None:
    rng = np.random.default_rng(7)
    points = [(float(x), float(y)) for x, y in rng.integers(0, 6, size=(40, 2))]
    front = set(pareto_front(points, x_higher=x_higher, y_higher=y_higher))

    def better_or_equal(q: tuple[float, float], p: tuple[float, float]) -> bool:
        bx = q[0] >= p[0] if x_higher else q[0] <= p[0]
        by = q[1] >= p[1] if y_higher else q[1] <= p[1]
        return bx and by and q != p

    for i, p in enumerate(points):
        assert (i in front) == (not any(better_or_equal(q, p) for q in points)), (i, p)
