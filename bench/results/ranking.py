"""The ranking rule (the only copy): which records are ranked, by which score, and their places."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bench.results.records import Record

# The leaderboard's default sort: the first of these that a track's records have (AutoAttack is the ranking
# number; PGD stands in while a track has no AutoAttack stage).
DEFAULT_SORT: tuple[str, ...] = ("autoattack_accuracy", "pgd_accuracy", "clean_accuracy")


@dataclass(frozen=True)
class Ranked:
    """A record's place on its track: ``rank`` is ``None`` when it is not ranked, ``reason`` says why."""

    record: Record
    rank: int | None
    reason: str


def sort_score(records: Sequence[Record], candidates: Sequence[str] = DEFAULT_SORT) -> str | None:
    """The first score of ``candidates`` that any record has (the default sort), else ``None``."""
    return next((c for c in candidates if any(c in r.scores for r in records)), None)


def unranked_reason(record: Record, score: str | None, *, include_quick: bool = False) -> str:
    """Why ``record`` is not ranked by ``score`` ("" when it is): :meth:`Record.exclusion
    <bench.results.records.Record.exclusion>`, or the score is missing. ``include_quick`` ranks quick-mode
    records among themselves (``robex submit --quick``)."""
    excluded = record.exclusion(include_quick=include_quick)
    if excluded:
        return excluded
    if score is None or score not in record.scores:
        return f"no {score or 'ranking score'}"
    return ""


def ranking(
    records: Sequence[Record], score: str | None, higher_is_better: bool = True, *, include_quick: bool = False
) -> list[Ranked]:
    """Competition ranking ("1, 2, 2, 4") of the clean records by ``score``; unranked records follow.

    A record is ranked when it is a full (not quick) run, did not fail, carries no ``fail``-severity flag
    and has ``score``. Ties (equal values) share a rank; order within a tie is by entry name.
    """

    def key(r: Record) -> tuple[bool, float, str]:
        v = r.score(score) if score else None
        if v is None or math.isnan(v):
            return (True, 0.0, r.name)
        return (False, -v if higher_is_better else v, r.name)

    ordered = sorted(records, key=key)
    reasons = {r.name: unranked_reason(r, score, include_quick=include_quick) for r in ordered}
    out: list[Ranked] = []
    rank = 0
    previous: float | None = None
    position = 0
    for r in ordered:
        if reasons[r.name]:
            continue
        position += 1
        value = r.score(score) if score else None
        if value != previous:
            rank = position
            previous = value
        out.append(Ranked(r, rank, ""))
    out.extend(Ranked(r, None, reasons[r.name]) for r in ordered if reasons[r.name])
    return out
