"""Significance bands: ranked entries whose ranking score does not differ significantly from their band's leader
share a band, so a rank order is never read into differences the evaluation cannot tell apart.

:func:`significance_bands` is the rule (pure, on values, per-image results and intervals);
:func:`record_bands` feeds it a track's ranked records with the per-image results ``robex compare`` reads
(:func:`bench.results.compare.per_image`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from bench.results.compare import is_binary, per_image
from bench.results.paired import holm, mcnemar_p_value, paired_bootstrap
from bench.results.records import Record


class BandMethod(StrEnum):
    """How an entry was compared with its band's leader."""

    LEADER = "leader"
    MCNEMAR = "McNemar exact, Holm-corrected"
    BOOTSTRAP = "paired bootstrap, Holm-corrected"
    INTERVALS = "95% interval overlap (no per-image results)"
    VALUES = "equal values (no per-image results, no interval)"


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
    """An entry's band (1 = best), the band's leader, and the comparison that put it there."""

    name: str
    band: int
    leader: str
    method: BandMethod
    p_adjusted: float | None = None  # Holm-adjusted p of the difference to the leader (paired tests only)


def _paired(leader: BandInput, other: BandInput, *, resamples: int, seed: int) -> tuple[BandMethod, float]:
    """The paired test's method and unadjusted p-value on the images both share (only the p-value: the
    McNemar interval :func:`bench.results.paired.mcnemar_exact` adds is a root search the bands do not need)."""
    a, b = np.asarray(leader.per_image, dtype=np.float64), np.asarray(other.per_image, dtype=np.float64)
    m = min(len(a), len(b))
    a, b = a[:m], b[:m]
    if is_binary(a) and is_binary(b):
        return BandMethod.MCNEMAR, mcnemar_p_value(int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum()))
    return BandMethod.BOOTSTRAP, paired_bootstrap(a, b, resamples=resamples, seed=seed).p_value


def _can_pair(a: BandInput, b: BandInput) -> bool:
    return a.per_image is not None and b.per_image is not None and a.subset == b.subset


def _overlap(a: BandInput, b: BandInput) -> bool | None:
    if a.interval is None or b.interval is None:
        return None
    return a.interval[0] <= b.interval[1] and b.interval[0] <= a.interval[1]


def significance_bands(
    ranked: Sequence[BandInput], *, alpha: float = 0.05, resamples: int = 2000, seed: int = 0
) -> tuple[BandPlace, ...]:
    """Bands of ``ranked`` (given best first, in ranking order).

    The first entry leads band 1. Its difference to *every* entry below it is tested — McNemar's exact test
    (:func:`bench.results.paired.mcnemar_p_value`, the p-value :func:`~bench.results.paired.mcnemar_exact`
    gives) on the per-image 0/1 results of the same evaluation images, a paired bootstrap
    (:func:`bench.results.paired.paired_bootstrap`, ``seed``) on real-valued ones — and the p-values of those
    tests are Holm-corrected as one family (:func:`bench.results.paired.holm`; Holm 1979,
    https://www.jstor.org/stable/4615733), as ``robex compare`` corrects its family. Walking down the ranking,
    each entry joins the leader's band while its adjusted p ≥ ``alpha``; the first entry that differs
    significantly leads the next band, and the rule starts again from it on the entries below.

    A pair without per-image results on shared images falls back to the two 95% intervals: the entry joins the
    band when they overlap (not a test, and outside the Holm family); without intervals either, only an equal
    value joins. Equal values always share a band (McNemar's p is 1 when the discordant counts are equal).

    >>> [p.band for p in significance_bands([BandInput("a", 0.9, (1, 1, 1, 1)), BandInput("b", 0.8, (1, 1, 1, 0))])]
    [1, 1]
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    out: list[BandPlace] = []
    start, band = 0, 0
    while start < len(ranked):
        band += 1
        leader = ranked[start]
        out.append(BandPlace(leader.name, band, leader.name, BandMethod.LEADER))
        rest = ranked[start + 1 :]
        tests = {
            i: _paired(leader, e, resamples=resamples, seed=seed) for i, e in enumerate(rest) if _can_pair(leader, e)
        }
        adjusted = dict(zip(tests, holm([p for _, p in tests.values()]), strict=True))
        start += 1
        for i, entry in enumerate(rest):
            if i in tests:
                method, p = tests[i][0], adjusted[i]
                same = p >= alpha
            else:
                overlap = _overlap(leader, entry)
                method = BandMethod.VALUES if overlap is None else BandMethod.INTERVALS
                same, p = (entry.value == leader.value if overlap is None else overlap), None
            if not same:
                break
            out.append(BandPlace(entry.name, band, leader.name, method, p))
            start += 1
    return tuple(out)


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
