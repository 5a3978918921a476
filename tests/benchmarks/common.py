"""Shared pieces of the benchmark scripts: a result row and the table printer.

Every benchmark reports a *ratio* measured side by side in one run (ours / bare PyTorch, ours / peer),
not bare seconds: these machines are noisy.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One measured comparison."""

    name: str
    ours: float
    reference: float
    unit: str
    goal: str = ""
    note: str = ""

    @property
    def ratio(self) -> float:
        """ours / reference."""
        return self.ours / self.reference if self.reference else float("inf")


def best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    """Median wall time of ``repeats`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def table(rows: Sequence[Row]) -> str:
    """A fixed-width table of rows."""
    header = f"{'benchmark':<52} {'ours':>10} {'reference':>10} {'unit':<6} {'ratio':>7}  goal / note"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r.name:<52} {r.ours:>10.4g} {r.reference:>10.4g} {r.unit:<6} {r.ratio:>7.3f}  "
            f"{r.goal}{' — ' + r.note if r.note else ''}"
        )
    return "\n".join(lines)
