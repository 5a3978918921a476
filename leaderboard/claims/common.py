"""What the papers' checks share: the registry of papers (:data:`PAPERS`), the clean check, the bootstrap seed."""

from __future__ import annotations

from collections.abc import Callable

from bench.results import Registry
from leaderboard.evidence import (
    Check,
    Evidence,
    Gate,
    PaperClaims,
    verdict,
)

PAPERS: Registry[Callable[[Evidence], PaperClaims]] = Registry("paper claims")


def clean_within(ev: Evidence, entry: str, points: float, statement: str, paper: str) -> Check:
    base, other = ev.score("standard", "clean_accuracy"), ev.score(entry, "clean_accuracy")
    ok = None if base is None or other is None else other.value >= base.value - points / 100
    return Check(
        statement,
        Gate.ASSERT,
        verdict(ok),
        (ev.measure("standard", "clean_accuracy", "clean"), ev.measure(entry, "clean_accuracy", "clean")),
        paper,
        f"clean({entry}) ≥ clean(standard) − {points:g} points (point estimates; intervals shown)",
    )


BOOTSTRAP_SEED = 0  # every bootstrap interval of the claims page
