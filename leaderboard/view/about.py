"""The "About the scores" page as data: every score of the catalogue (and of installed plug-ins) with what it
measures, its direction and unit, the paper it comes from and that paper's public link, every sanity flag
with its severity and explanation (:mod:`bench.results.flags`), what the intervals cover, and the rule of the
significance bands (:mod:`bench.results.bands`, in the words the index uses)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bench.results import Severity, Unit
from bench.results.flags import EXPLANATIONS, SEVERITY
from bench.results.scores import ScoreInfo
from leaderboard.view.index_table import ALPHA, bands_text
from leaderboard.view.text import safe_url

UNIT_TEXT: Mapping[Unit, str] = {
    Unit.FRACTION: "percent of the images used (n on the entry page)",
    Unit.RMSE: "RMSE distance in pixel units (pixel values on [0, 1])",
    Unit.SCORE: "a unit-free score",
    Unit.SECONDS: "seconds",
}
DIRECTION_TEXT: Mapping[bool | None, str] = {True: "higher is better", False: "lower is better", None: "unknown"}
SEVERITY_TEXT: Mapping[Severity, str] = {
    Severity.FAIL: "the numbers cannot be trusted: the entry is listed below its track's ranking, never ranked",
    Severity.WARN: "a number may be optimistic for the stated reason; the entry is ranked, with the badge beside it",
    Severity.INFO: "worth knowing when reading the numbers; the entry is ranked as usual, with the badge beside it",
}


#: What every interval on the site covers, and how each kind of score gets one.
INTERVALS_TEXT = (
    "Every interval is a 95% interval over the sampling of evaluation images only: each entry is one training run "
    "with one seed, and retraining with another seed moves the scores by an amount no interval includes (the "
    "README gives the seed spread measured for two entries). Accuracies and rates (clean, PGD, AutoAttack, "
    "robust, transfer worst and surrogate, fooling success rates) carry Wilson score intervals; the "
    "manipulation's accuracy cost, a difference of two models' accuracies on the same images, the interval that "
    "agrees with McNemar's exact test; the explanation scores, means of per-image values, the normal "
    "approximation mean ± 1.96·s/√n; scores without a closed form (ARA from the per-image radii, the mean "
    "transfer accuracy from each image's share of resisted sources) a bootstrap over the images "
    "(scipy.stats.bootstrap, BCa, 9,999 resamples, seed 0)."
)

#: How the bands fall back when two entries cannot be paired.
BANDS_FALLBACK_TEXT = (
    "Per-image results are paired only when both entries have them on the same images: the same evaluation subset "
    "and the same number of images (never cut to the shorter: the ranked values would rest on different images). "
    "Otherwise the difference to the leader is tested from the two 95% intervals (an unpaired normal "
    "approximation, conservative for scores on shared images) in the same Holm family at the same α; with no "
    "interval on either side, only an equal value shares a band."
)


@dataclass(frozen=True)
class ScoreAbout:
    """One score as the About page explains it."""

    name: str
    title: str
    arrow: str
    direction: str
    unit: str
    description: str
    source: str
    source_url: str
    headline: bool


@dataclass(frozen=True)
class FlagAbout:
    """One sanity flag: its name, severity and what it means."""

    name: str
    severity: str
    explanation: str


@dataclass(frozen=True)
class AboutPage:
    """Scores grouped by family (in column order) and the flags, fail before warn before info."""

    groups: tuple[tuple[str, tuple[ScoreAbout, ...]], ...]
    flags: tuple[FlagAbout, ...]
    severities: tuple[tuple[str, str], ...]
    bands: tuple[str, ...] = (bands_text("ranking score", ALPHA), BANDS_FALLBACK_TEXT)
    intervals: str = INTERVALS_TEXT


def about_page(infos: Mapping[str, ScoreInfo]) -> AboutPage:
    """The About page of the scores in ``infos`` (the site's score metadata)."""
    groups: dict[str, list[ScoreAbout]] = {}
    for info in sorted(infos.values(), key=lambda i: (i.order, i.name)):
        groups.setdefault(info.category, []).append(
            ScoreAbout(
                info.name,
                info.title,
                info.arrow,
                DIRECTION_TEXT[info.higher_is_better],
                UNIT_TEXT.get(info.unit, info.unit.value),
                info.description,
                info.source or "—",
                safe_url(info.source_url),
                info.primary,
            )
        )
    rank = {Severity.FAIL: 0, Severity.WARN: 1}
    flags = tuple(
        FlagAbout(check.value, SEVERITY[check].value, text)
        for check, text in sorted(EXPLANATIONS.items(), key=lambda kv: (rank.get(SEVERITY[kv[0]], 2), kv[0].value))
    )
    return AboutPage(
        tuple((k, tuple(v)) for k, v in groups.items()),
        flags,
        tuple((s.value, SEVERITY_TEXT[s]) for s in (Severity.FAIL, Severity.WARN, Severity.INFO)),
    )
