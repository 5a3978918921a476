"""Do the explanation metrics agree on which entry is best? Kendall τ between entry rankings, per track.

Large evaluations of attribution metrics find that fidelity metrics often *disagree* on rankings (LATEC,
Klein et al., NeurIPS 2024, https://arxiv.org/abs/2409.16756; MetaQuantus, Hedström et al., TMLR 2023,
https://arxiv.org/abs/2302.07265). A leaderboard that ranks by one of them should therefore show how far the
others agree: for every pair of fidelity and explanation-robustness scores of a track, Kendall's τ_b
(``scipy.stats.kendalltau``) between the entries' values, each oriented so that higher is better (τ = 1: the
two metrics order the entries identically; −1: exactly reversed). An entry whose rank moves by more than
:data:`MAX_RANK_SHIFT` places between the fidelity metrics gets an informational flag with its ranks under each.

Pure and torch-free: it reads records' scores and the scores' metadata only.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy.stats import kendalltau

from bench.results.records import Record
from bench.results.scores import ScoreInfo, ordered_scores
from bench.types import Category

#: An entry is flagged when its best and worst rank under the track's fidelity metrics differ by more than this.
MAX_RANK_SHIFT = 3

#: Categories whose scores take part: fidelity (flags and τ) and robustness of explanations (τ only).
FIDELITY = Category.FIDELITY.value
METRIC_CATEGORIES = (Category.FIDELITY.value, Category.EXPLANATION_ROBUSTNESS.value)

#: τ is reported only when at least this many entries have both scores.
MIN_ENTRIES = 3


@dataclass(frozen=True)
class PairAgreement:
    """Kendall τ_b between the entry rankings of two scores (``None`` when fewer than :data:`MIN_ENTRIES`
    entries have both, or one score is constant over them)."""

    a: str
    b: str
    tau: float | None
    pvalue: float | None
    n: int


@dataclass(frozen=True)
class RankShift:
    """An informational flag: ``entry``'s rank (1 = best) under each fidelity metric moves by ``spread`` places."""

    entry: str
    ranks: tuple[tuple[str, int], ...]
    spread: int

    @property
    def message(self) -> str:
        """One line with the evidence."""
        ranks = ", ".join(f"{name} {rank}" for name, rank in self.ranks)
        return f"rank moves by {self.spread} places between fidelity metrics (> {MAX_RANK_SHIFT}): {ranks}"


@dataclass(frozen=True)
class Agreement:
    """A track's metric agreement: the scores compared, τ for every pair, the flagged entries."""

    metrics: tuple[str, ...]
    entries: tuple[str, ...]
    pairs: tuple[PairAgreement, ...]
    shifts: tuple[RankShift, ...]

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


def pair_agreement(table: Mapping[str, Mapping[str, float]], a: str, b: str) -> PairAgreement:
    """Kendall τ_b (scipy) between metrics ``a`` and ``b`` over the entries of ``table`` (entry → oriented
    values) that have both."""
    common = sorted(e for e, row in table.items() if a in row and b in row)
    if len(common) < MIN_ENTRIES:
        return PairAgreement(a, b, None, None, len(common))
    res = kendalltau([table[e][a] for e in common], [table[e][b] for e in common])
    tau, p = float(res.statistic), float(res.pvalue)
    if not math.isfinite(tau):
        return PairAgreement(a, b, None, None, len(common))
    return PairAgreement(a, b, tau, p if math.isfinite(p) else None, len(common))


def rank_shifts(
    table: Mapping[str, Mapping[str, float]], metrics: Sequence[str], threshold: int = MAX_RANK_SHIFT
) -> list[RankShift]:
    """Entries whose rank (among the entries that have each metric) spans more than ``threshold`` places
    across ``metrics``; only entries ranked under at least two of them."""
    per_metric = {m: ranks({e: row[m] for e, row in table.items() if m in row}) for m in metrics}
    out = []
    for entry in sorted(table):
        entry_ranks = tuple((m, per_metric[m][entry]) for m in metrics if entry in per_metric[m])
        if len(entry_ranks) < 2:
            continue
        spread = max(r for _, r in entry_ranks) - min(r for _, r in entry_ranks)
        if spread > threshold:
            out.append(RankShift(entry, entry_ranks, spread))
    return out


def agreement(records: Sequence[Record], infos: Mapping[str, ScoreInfo]) -> Agreement:
    """The metric agreement of one track's records: those that may be ranked (full runs, no ``fail`` flag),
    their finite fidelity and explanation-robustness scores, oriented so that higher is better."""
    usable = [r for r in records if not r.exclusion()]
    present = {n for r in usable for n in r.scores if n in infos and infos[n].category in METRIC_CATEGORIES}
    metrics = tuple(i.name for i in ordered_scores(present, infos))
    table: dict[str, dict[str, float]] = {}
    for r in usable:
        row = {}
        for m in metrics:
            v = r.score(m)
            if v is not None and math.isfinite(v):
                row[m] = oriented(v, infos[m].higher_is_better)
        table[r.name] = row
    pairs = tuple(pair_agreement(table, a, b) for a, b in itertools.combinations(metrics, 2))
    fidelity = [m for m in metrics if infos[m].category == FIDELITY]
    return Agreement(metrics, tuple(sorted(table)), pairs, tuple(rank_shifts(table, fidelity)))
