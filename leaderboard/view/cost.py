"""What an entry cost: wall time per stage, its share of the total, the device and threads (from provenance)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bench.results.records import Provenance

THREADS = re.compile(r"\b(\d+) threads?\b")


def duration_text(seconds: float) -> str:
    """A wall time for readers: seconds below two minutes, minutes below two hours, then hours.

    >>> duration_text(16.999), duration_text(198.2), duration_text(9000.0)
    ('17.0 s', '3.3 min', '2.5 h')
    """
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(frozen=True)
class StageCost:
    """One stage's wall time, its share of the entry's total and the images it used."""

    stage: str
    wall: str
    share: str
    images: str


@dataclass(frozen=True)
class Cost:
    """The cost table of an entry page (``stages`` empty when the record has no wall times)."""

    device: str
    threads: str
    stages: tuple[StageCost, ...]
    total: str


def entry_cost(p: Provenance) -> Cost:
    """The cost of one record: every stage with a wall time (longest first), the total and the device.

    The share is the stage's part of the summed wall time; stages that ran in parallel still add up, so the
    total is compute time, not the time a user waited."""
    total = sum(p.wall_time_s.values())
    stages = tuple(
        StageCost(
            s,
            duration_text(t),
            f"{100 * t / total:.0f}%" if total > 0 else "—",
            str(p.images[s]) if s in p.images else "—",
        )
        for s, t in sorted(p.wall_time_s.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    found = THREADS.search(p.device)
    return Cost(p.device or "not recorded", found.group(1) if found else "not recorded", stages, duration_text(total))
