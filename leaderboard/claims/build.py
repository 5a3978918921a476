"""Every registered paper's checks on each track's full-run records (the paper modules register on import)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from bench.results.records import Record

# The papers register themselves in PAPERS when imported (plain imports, no string plug-ins).
from leaderboard.claims import activation_sensitivity, boopathy, heo, ross, woods  # noqa: F401
from leaderboard.claims.budgets import budget_notes
from leaderboard.claims.common import PAPERS
from leaderboard.evidence import (
    Evidence,
    TrackClaims,
)


def track_claims(track: str, title: str, records: Sequence[Record]) -> TrackClaims:
    """Every registered paper's checks on one track's records, in the claims page's order (Ross, activation
    sensitivity, Boopathy, Woods, Heo)."""
    ev = Evidence(track, records)
    papers = sorted(
        (dataclasses.replace(p, budget=budget_notes(p.key, ev)) for p in (PAPERS.get(n)(ev) for n in PAPERS.names())),
        key=lambda p: p.order,
    )
    return TrackClaims(track, title, tuple(papers))


def build_claims(records: Iterable[Record], titles: Mapping[str, str] | None = None) -> tuple[TrackClaims, ...]:
    """Claims of every track with full-run records, tracks sorted by name."""
    by_track: dict[str, list[Record]] = {}
    for r in records:
        if not r.quick:
            by_track.setdefault(r.track, []).append(r)
    titles = titles or {}
    return tuple(track_claims(t, titles.get(t, t), rs) for t, rs in sorted(by_track.items()))
