"""Significance bands: a rank order that is never read into differences the evaluation cannot tell apart.

The rule, exactly as :func:`significance_bands` implements it (entries given best first by their ranking score):

1. The first entry leads band 1. Its difference to *every* entry below it is tested (see "Tests"), and the
   p-values of those tests are Holm-corrected as one family (Holm 1979, https://www.jstor.org/stable/4615733).
2. Walking down the ranking, each entry joins the leader's band while its Holm-adjusted p ≥ α. The first entry
   with p < α leads the next band, and the rule starts again from it (a new family: that leader against every
   entry below it). Bands are therefore contiguous runs of the ranking: an entry *after* the first significant
   one lands in a later band even when its own test against the earlier leader is not significant.
3. Such an entry is marked: every entry in a band after band 1 whose Holm-adjusted p against the band-1 leader
   (in the band-1 leader's family) is ≥ α carries ``indistinct_from_top`` — "not distinguishable from the
   leader" — so a band number is never read as "worse than the leader" when the test does not say so.

Tests (the same ones ``robex compare`` runs, :mod:`bench.results.paired`):

* per-image 0/1 results of both entries on the *same* images → McNemar's exact test;
* per-image real values on the same images → the paired bootstrap (seeded);
* otherwise (no per-image results, or per-image results on *different* images: another evaluation subset, or
  vectors of unequal length — never truncated to the shorter, which would test images the ranked values do
  not both rest on) → the unpaired normal-approximation test of the difference from the two 95% intervals
  (:func:`bench.results.paired.difference_from_intervals`, its interval at 1 − α), whose p-value joins the same
  Holm family; without an interval on either side, only an equal value joins the band.

Equal values always share a band (McNemar's p is 1 when the discordant counts are equal; the interval test's
when the difference is 0).

:func:`significance_bands` is the rule (pure, on values, per-image results and intervals);
:func:`record_bands` feeds it a track's ranked records with the per-image results ``robex compare`` reads
(:func:`bench.results.compare.per_image`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from bench.results.compare import is_binary, per_image
from bench.results.paired import difference_from_intervals, holm, mcnemar_p_value, paired_bootstrap
from bench.results.records import Record

log = logging.getLogger(__name__)


class BandMethod(StrEnum):
    """How an entry was compared with its band's leader."""

    LEADER = "leader"
    MCNEMAR = "McNemar exact, Holm-corrected"
    BOOTSTRAP = "paired bootstrap, Holm-corrected"
    INTERVALS = "unpaired difference test from the two 95% intervals, Holm-corrected"
    VALUES = "equal values (no per-image results on the same images, no interval)"


@dataclass(frozen=True)
class BandInput:
    """One ranked entry as the band rule sees it.

    Attributes:
        name: The entry.
        value: Its ranking score.
        per_image: Its per-image results behind the score (in evaluation order), or ``None``.
        interval: Its 95% interval of the score, or ``None``.
        subset: Identity of its evaluation images; per-image results are paired only within one subset.
    """

    name: str
    value: float
    per_image: tuple[float, ...] | None = None
    interval: tuple[float, float] | None = None
    subset: str = ""


@dataclass(frozen=True)
class BandPlace:
    """An entry's band (1 = best), the band's leader, and the comparison that put it there.

    Attributes:
        p_adjusted: Holm-adjusted p of the difference to its band's leader (``None`` for leaders and equal-value
            joins).
        indistinct_from_top: In a band after band 1, yet not significantly different from the band-1 leader
            (Holm-adjusted p ≥ α in that leader's family; or an equal value where nothing can be tested).
        p_top: Holm-adjusted p of the difference to the band-1 leader (``None`` for it and where untested).
        note: Why a pair was not paired (e.g. per-image results on different images), else "".
    """

    name: str
    band: int
    leader: str
    method: BandMethod
    p_adjusted: float | None = None
    indistinct_from_top: bool = False
    p_top: float | None = None
    note: str = ""


@dataclass(frozen=True)
class _Test:
    """One entry tested against a leader: method, unadjusted p (``None``: untestable), whether values are equal."""

    method: BandMethod
    p: float | None
    equal: bool
    note: str = ""


def pairing_refusal(a: BandInput, b: BandInput) -> str:
    """Why the per-image results of ``a`` and ``b`` cannot be paired ("" when they can).

    >>> pairing_refusal(BandInput("a", 1.0, (1.0,) * 100), BandInput("b", 0.5, (1.0, 0.0) * 100))
    'per-image results on different images (100 vs 200 images)'
    """
    if a.per_image is None or b.per_image is None:
        return "no per-image results"
    if a.subset != b.subset:
        return "per-image results on different evaluation subsets"
    if len(a.per_image) != len(b.per_image):
        return f"per-image results on different images ({len(a.per_image)} vs {len(b.per_image)} images)"
    return ""


def _test(leader: BandInput, other: BandInput, *, alpha: float, resamples: int, seed: int) -> _Test:
    """The test of ``leader`` against ``other`` (see the module docstring), unadjusted."""
    equal = other.value == leader.value
    refusal = pairing_refusal(leader, other)
    if not refusal:
        a, b = np.asarray(leader.per_image, dtype=np.float64), np.asarray(other.per_image, dtype=np.float64)
        if is_binary(a) and is_binary(b):
            p = mcnemar_p_value(int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum()))
            return _Test(BandMethod.MCNEMAR, p, equal)
        return _Test(BandMethod.BOOTSTRAP, paired_bootstrap(a, b, resamples=resamples, seed=seed).p_value, equal)
    if leader.per_image is not None and other.per_image is not None:
        log.info("bands: %s and %s not paired: %s", leader.name, other.name, refusal)
    if leader.interval is None or other.interval is None:
        return _Test(BandMethod.VALUES, None, equal, refusal)
    diff = difference_from_intervals(leader.value, leader.interval, other.value, other.interval, confidence=1 - alpha)
    return _Test(BandMethod.INTERVALS, diff.p_value, equal, refusal)


def _family(
    leader: BandInput, rest: Sequence[BandInput], *, alpha: float, resamples: int, seed: int
) -> list[tuple[_Test, float | None, bool]]:
    """Each of ``rest`` against ``leader``: its test, Holm-adjusted p over the family, and whether it differs."""
    tests = [_test(leader, e, alpha=alpha, resamples=resamples, seed=seed) for e in rest]
    tested = [(i, t.p) for i, t in enumerate(tests) if t.p is not None]
    adjusted = dict(zip((i for i, _ in tested), holm([p for _, p in tested]), strict=True))
    out = []
    for i, t in enumerate(tests):
        p = adjusted.get(i)
        differs = (p < alpha and not t.equal) if p is not None else not t.equal
        out.append((t, p, differs))
    return out


def significance_bands(
    ranked: Sequence[BandInput], *, alpha: float = 0.05, resamples: int = 2000, seed: int = 0
) -> tuple[BandPlace, ...]:
    """Bands of ``ranked`` (given best first, in ranking order) at level ``alpha``: the module docstring's rule.

    >>> [p.band for p in significance_bands([BandInput("a", 0.9, (1, 1, 1, 1)), BandInput("b", 0.8, (1, 1, 1, 0))])]
    [1, 1]
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    out: list[BandPlace] = []
    top: list[tuple[_Test, float | None, bool]] = []
    start, band = 0, 0
    while start < len(ranked):
        band += 1
        leader = ranked[start]
        out.append(BandPlace(leader.name, band, leader.name, BandMethod.LEADER))
        family = _family(leader, ranked[start + 1 :], alpha=alpha, resamples=resamples, seed=seed)
        top = family if band == 1 else top
        start += 1
        for test, p, differs in family:
            if differs:
                break
            out.append(BandPlace(ranked[start].name, band, leader.name, test.method, p, note=test.note))
            start += 1
    if not ranked:
        return ()
    marked = [out[0]]
    for place, (_, p_top, differs) in zip(out[1:], top, strict=True):
        marked.append(dataclasses.replace(place, p_top=p_top, indistinct_from_top=place.band > 1 and not differs))
    return tuple(marked)


def band_input(record: Record, score: str) -> BandInput:
    """A ranked record as :func:`significance_bands` reads it (per-image results as ``robex compare`` finds them)."""
    s = record.scores[score]
    vector = per_image(record, score)
    interval = None if s.ci_low is None or s.ci_high is None else (s.ci_low, s.ci_high)
    return BandInput(
        name=record.name,
        value=s.value,
        per_image=None if vector is None else tuple(float(v) for v in vector),
        interval=interval,
        subset=record.provenance.subset_sha256,
    )


def record_bands(ranked: Sequence[Record], score: str, *, alpha: float = 0.05) -> tuple[BandPlace, ...]:
    """:func:`significance_bands` of ``ranked`` records (best first) by ``score``."""
    return significance_bands([band_input(r, score) for r in ranked], alpha=alpha)
