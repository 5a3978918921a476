"""Do the explanation metrics agree? Kendall τ between rankings under each pair of metrics, per track.

Large evaluations of attribution metrics find that fidelity metrics often *disagree* on rankings (LATEC,
Klein et al., NeurIPS 2024, https://arxiv.org/abs/2409.16756; MetaQuantus, Hedström et al., TMLR 2023,
https://arxiv.org/abs/2302.07265). Two views, each with Kendall's τ_b (``scipy.stats.kendalltau``) between two
metrics' rankings, every metric oriented so that higher is better (τ = 1: the same order; −1: reversed):

* **per model, across its explainers** (:mod:`bench.results.explainer_agreement`, the main view): the question
  the metrics are built for — which explainer of this model is most faithful — asked of each pair of metrics;
* **across models** (this module): the entries' rankings by the primary explainer's scores. Entries differ in
  more than their explanations (a model's confidence moves every probability readout), so agreement here partly
  measures that; p-values are Holm-corrected over the pairs shown.

Both views keep **one score per family** (:func:`one_per_family`): scores derived from one measurement — a gap
and its two parts, two readouts of the same curves (``family`` in the score catalogue) — are not independent
metrics, and counting them separately would show their arithmetic as agreement.

An entry gets an informational **rank-shift** flag only when its rank under the fidelity headline (the column
the index shows) and its rank under another fidelity metric of a different family differ by more than
:data:`MAX_RANK_SHIFT` places *and* beyond what image sampling explains: its rank ranges under the two
(:func:`rank_range`, from the scores' 95% intervals) do not overlap. Without the headline among the records'
scores every pair of fidelity metrics is compared.

Pure and torch-free: it reads records' scores and the scores' metadata only.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy.stats import kendalltau

from bench.results.paired import holm
from bench.results.records import Record
from bench.results.scores import ScoreInfo, info_for, ordered_scores
from bench.types import Category

#: An entry is flagged when its point ranks under two fidelity metrics differ by more than this (and its rank
#: ranges under them do not overlap).
MAX_RANK_SHIFT = 3

#: Categories whose scores take part: fidelity (flags and τ) and robustness of explanations (τ only).
FIDELITY = Category.FIDELITY.value
METRIC_CATEGORIES = (Category.FIDELITY.value, Category.EXPLANATION_ROBUSTNESS.value)

#: τ is reported only when at least this many items (entries, explainers) have both scores.
MIN_ENTRIES = 3

#: An oriented value with its oriented 95% interval (``low`` ≤ ``value`` ≤ ``high``; equal when none is known).
Valued = tuple[float, float, float]


@dataclass(frozen=True)
class PairAgreement:
    """Kendall τ_b between the rankings of two scores (``None`` when fewer than :data:`MIN_ENTRIES` items have
    both, or one score is constant over them), scipy's p-value and its Holm-adjusted value over the view's
    pairs (``None`` where the view does not correct)."""

    a: str
    b: str
    tau: float | None
    pvalue: float | None
    n: int
    pvalue_holm: float | None = None


@dataclass(frozen=True)
class RankRange:
    """An entry's rank (1 = best) under one metric, and the best and worst rank its 95% interval allows."""

    metric: str
    rank: int
    best: int
    worst: int

    def text(self) -> str:
        """``"3 (2–5)"``, or ``"3"`` when the range is the rank itself."""
        return str(self.rank) if self.best == self.worst else f"{self.rank} ({self.best}–{self.worst})"


@dataclass(frozen=True)
class RankShift:
    """An informational flag: ``entry``'s rank moves by ``spread`` places between the fidelity headline and
    another fidelity metric of a different family (any two without the headline), and its rank ranges under them
    do not overlap."""

    entry: str
    ranks: tuple[RankRange, ...]
    spread: int

    @property
    def message(self) -> str:
        """One line with the evidence."""
        ranks = ", ".join(f"{r.metric} {r.text()}" for r in self.ranks)
        return (
            f"rank moves by {self.spread} places between fidelity metrics (> {MAX_RANK_SHIFT}, rank ranges from "
            f"the 95% intervals apart): {ranks}"
        )


@dataclass(frozen=True)
class Agreement:
    """A track's across-model agreement: the scores compared (one per family), τ for every pair with Holm-adjusted
    p-values, the flagged entries, and the family members left out (score, the family member kept)."""

    metrics: tuple[str, ...]
    entries: tuple[str, ...]
    pairs: tuple[PairAgreement, ...]
    shifts: tuple[RankShift, ...]
    dropped: tuple[tuple[str, str], ...] = ()

    def tau(self, a: str, b: str) -> PairAgreement | None:
        """The pair (a, b) in either order."""
        return next((p for p in self.pairs if {p.a, p.b} == {a, b}), None)


def oriented(value: float, higher_is_better: bool | None) -> float:
    """The value with its sign flipped when lower is better, so that higher is always better.

    >>> oriented(0.2, False), oriented(0.2, True)
    (-0.2, 0.2)
    """
    return value if higher_is_better is not False else -value


def ranks(values: Mapping[str, float]) -> dict[str, int]:
    """Competition ranks ("1, 2, 2, 4") of oriented values, higher first.

    >>> ranks({"a": 0.5, "b": 0.9, "c": 0.5, "d": 0.1})
    {'b': 1, 'a': 2, 'c': 2, 'd': 4}
    """
    ordered = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
    out: dict[str, int] = {}
    for i, (name, v) in enumerate(ordered):
        out[name] = i + 1 if i == 0 or v != ordered[i - 1][1] else out[ordered[i - 1][0]]
    return out


def rank_range(values: Mapping[str, Valued], entry: str) -> tuple[int, int]:
    """(best, worst) rank of ``entry`` that the 95% intervals allow: 1 + the entries whose interval lies wholly
    above ``entry``'s, and the count of entries minus those whose interval lies wholly below it.

    >>> v = {"a": (0.9, 0.85, 0.95), "b": (0.8, 0.6, 0.99), "c": (0.5, 0.45, 0.55)}
    >>> rank_range(v, "a"), rank_range(v, "b"), rank_range(v, "c")
    ((1, 2), (1, 2), (3, 3))
    """
    _, lo, hi = values[entry]
    above = sum(1 for e, (_, lo_e, _) in values.items() if e != entry and lo_e > hi)
    below = sum(1 for e, (_, _, hi_e) in values.items() if e != entry and hi_e < lo)
    return 1 + above, len(values) - below


def family_of(name: str, infos: Mapping[str, ScoreInfo]) -> str:
    """The score's family (its own name when the catalogue names none)."""
    return info_for(name, infos).family or name


def one_per_family(
    metrics: Sequence[str], infos: Mapping[str, ScoreInfo]
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """(the scores kept, in the given order; (dropped, kept instead) pairs): one score per family — its headline
    if present, else a primary (index) column, else the first in column order.

    >>> from bench.results.scores import score_infos
    >>> one_per_family(["road_kept_gap", "road_gap", "deletion_auc", "road_morf_auc"], score_infos())
    (('road_kept_gap', 'deletion_auc'), (('road_gap', 'road_kept_gap'), ('road_morf_auc', 'road_kept_gap')))
    """

    def preference(name: str) -> tuple[int, int, int, str]:
        i = info_for(name, infos)
        return (i.headline is None, not i.primary, i.order, name)

    chosen: dict[str, str] = {}
    for m in sorted(metrics, key=preference):
        chosen.setdefault(family_of(m, infos), m)
    kept = tuple(m for m in metrics if chosen[family_of(m, infos)] == m)
    dropped = tuple((m, chosen[family_of(m, infos)]) for m in metrics if m not in kept)
    return kept, dropped


def pair_agreement(table: Mapping[str, Mapping[str, float]], a: str, b: str) -> PairAgreement:
    """Kendall τ_b (scipy) between metrics ``a`` and ``b`` over the items of ``table`` (item → oriented
    values) that have both."""
    common = sorted(e for e, row in table.items() if a in row and b in row)
    if len(common) < MIN_ENTRIES:
        return PairAgreement(a, b, None, None, len(common))
    res = kendalltau([table[e][a] for e in common], [table[e][b] for e in common])
    tau, p = float(res.statistic), float(res.pvalue)
    if not math.isfinite(tau):
        return PairAgreement(a, b, None, None, len(common))
    return PairAgreement(a, b, tau, p if math.isfinite(p) else None, len(common))


def with_holm(pairs: Sequence[PairAgreement]) -> tuple[PairAgreement, ...]:
    """The pairs with Holm-adjusted p-values over those that have one (:func:`bench.results.paired.holm`)."""
    tested = [i for i, p in enumerate(pairs) if p.pvalue is not None]
    adjusted = dict(zip(tested, holm([pairs[i].pvalue or 0.0 for i in tested]), strict=True))
    return tuple(
        PairAgreement(p.a, p.b, p.tau, p.pvalue, p.n, adjusted.get(i)) if i in adjusted else p
        for i, p in enumerate(pairs)
    )


def rank_shifts(
    table: Mapping[str, Mapping[str, Valued]],
    metrics: Sequence[str],
    threshold: int = MAX_RANK_SHIFT,
    anchor: str | None = None,
) -> list[RankShift]:
    """Entries whose point ranks under two of ``metrics`` (one per family) differ by more than ``threshold``
    places while their rank ranges (:func:`rank_range`) under those two do not overlap; only pairs that include
    ``anchor`` when it is given, only entries ranked under at least two metrics. The flag reports every rank of
    the entry."""
    per_metric = {m: {e: row[m] for e, row in table.items() if m in row} for m in metrics}
    point = {m: ranks({e: v[0] for e, v in values.items()}) for m, values in per_metric.items()}
    out = []
    for entry in sorted(table):
        rr = tuple(
            RankRange(m, point[m][entry], *rank_range(per_metric[m], entry)) for m in metrics if entry in point[m]
        )
        real = [
            abs(a.rank - b.rank)
            for a, b in itertools.combinations(rr, 2)
            if (anchor is None or anchor in (a.metric, b.metric))
            and abs(a.rank - b.rank) > threshold
            and (a.worst < b.best or b.worst < a.best)
        ]
        if real:
            out.append(RankShift(entry, rr, max(real)))
    return out


def valued(record: Record, name: str, higher_is_better: bool | None) -> Valued | None:
    """The record's oriented value of score ``name`` with its oriented interval (the value itself when the record
    has none), or ``None`` when absent or not finite."""
    score = record.scores.get(name)
    if score is None or not math.isfinite(score.value):
        return None
    lo = score.ci_low if score.ci_low is not None and math.isfinite(score.ci_low) else score.value
    hi = score.ci_high if score.ci_high is not None and math.isfinite(score.ci_high) else score.value
    ends = sorted((oriented(lo, higher_is_better), oriented(hi, higher_is_better)))
    return oriented(score.value, higher_is_better), ends[0], ends[1]


def agreement(records: Sequence[Record], infos: Mapping[str, ScoreInfo]) -> Agreement:
    """The across-model agreement of one track's records: those that may be ranked (full runs, no ``fail``
    flag), their finite fidelity and explanation-robustness scores, one per family, oriented so that higher is
    better; Holm-adjusted p-values over the pairs; rank shifts between the fidelity metrics kept."""
    usable = [r for r in records if not r.exclusion()]
    present = {n for r in usable for n in r.scores if n in infos and infos[n].category in METRIC_CATEGORIES}
    metrics, dropped = one_per_family([i.name for i in ordered_scores(present, infos)], infos)
    full: dict[str, dict[str, Valued]] = {}
    for r in usable:
        row = {m: v for m in metrics if (v := valued(r, m, infos[m].higher_is_better)) is not None}
        full[r.name] = row
    table = {e: {m: v[0] for m, v in row.items()} for e, row in full.items()}
    pairs = with_holm([pair_agreement(table, a, b) for a, b in itertools.combinations(metrics, 2)])
    fidelity = [m for m in metrics if infos[m].category == FIDELITY]
    anchor = next((m for m in fidelity if infos[m].headline is not None), None)
    shifts = rank_shifts(full, fidelity, anchor=anchor)
    return Agreement(metrics, tuple(sorted(table)), pairs, tuple(shifts), dropped)
