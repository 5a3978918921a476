"""The claims page's vocabulary and its read-only view of the records: verdicts, gates, measurements, checks,
and :class:`Evidence`, one track's full-run records with accessors for scores, stage details, curves and
per-image lists. :mod:`leaderboard.claims` builds every paper's checks from these."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bench.results import Unit
from bench.results.records import Record, ScoreRecord


class Verdict(StrEnum):
    """Outcome of one check on one track."""

    HOLDS = "holds"
    FAILS = "does not hold"
    MISSING = "not measured"
    NOT_APPLICABLE = "not applicable"


class Gate(StrEnum):
    """How robex treats the claim at small scale."""

    ASSERT = "expected at this scale"
    REPORT = "paper's direction, reported only"
    SANITY = "sanity check (an identity of the definitions, not a claim; not counted)"


@dataclass(frozen=True)
class Measurement:
    """One measured number: label, value (None: absent from the records), unit and optional interval."""

    label: str
    value: float | None
    unit: str = "fraction"
    ci_low: float | None = None
    ci_high: float | None = None

    @property
    def text(self) -> str:
        """The value as the tables print it, with its interval when there is one.

        >>> Measurement("a", 0.5, ci_low=0.4, ci_high=0.6).text, Measurement("b", None).text
        ('50.0% [40.0%, 60.0%]', '—')
        """
        unit = Unit.of(self.unit)
        value = unit.text(self.value)
        if self.value is None or self.ci_low is None or self.ci_high is None:
            return value
        return f"{value} [{unit.text(self.ci_low)}, {unit.text(self.ci_high)}]"


@dataclass(frozen=True)
class Check:
    """One testable statement of a paper on one track."""

    statement: str
    gate: Gate
    verdict: Verdict
    measured: tuple[Measurement, ...]
    paper: str = ""
    rule: str = ""
    note: str = ""  # why a check is not measured (e.g. the records predate a field it needs)

    @property
    def counted(self) -> bool:
        """Whether the check is a claim (counted per verdict) rather than a sanity check of the definitions."""
        return self.gate is not Gate.SANITY


def count_text(value: float) -> str:
    """A budget count for readers: whole numbers with thousands separators, others as they are.

    >>> count_text(6_000_000), count_text(80), count_text(12.5)
    ('6,000,000', '80', '12.5')
    """
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class BudgetNote:
    """One budget: what it counts, robex's value on this track (None: not in the records), the reference.

    The reference is the paper's figure, or — ``floor`` — robex's own floor where the paper states none at this
    scale (labelled as robex's, never as the paper's)."""

    what: str
    ours: float | None
    paper: float
    source: str  # where the reference figure comes from
    floor: bool = False

    @property
    def reference(self) -> str:
        """Whose figure ``paper`` is."""
        return "robex's floor (not the paper's figure)" if self.floor else "the paper"

    @property
    def below(self) -> bool:
        """Whether robex measured at less than the paper's budget (unknown counts as not below).

        >>> BudgetNote("steps", 80, 300, "").below, BudgetNote("steps", None, 300, "").below
        (True, False)
        """
        return self.ours is not None and self.ours < self.paper

    @property
    def text(self) -> str:
        """``what: ours here; the reference (source)``.

        >>> BudgetNote("Adam fine-tuning steps", 80, 300, "§5.5").text
        'Adam fine-tuning steps: 80 here; the paper: 300 (§5.5)'
        >>> BudgetNote("steps", 80, 300, "a few hundred", floor=True).text
        "steps: 80 here; robex's floor (not the paper's figure): 300 (a few hundred)"
        """
        ours = "not recorded" if self.ours is None else count_text(self.ours)
        return f"{self.what}: {ours} here; {self.reference}: {count_text(self.paper)} ({self.source})"


@dataclass(frozen=True)
class PaperClaims:
    """A paper's claim and its checks on one track."""

    key: str
    title: str
    citation: str
    url: str
    order: int  # the paper's place on the claims page
    claim: str
    checks: tuple[Check, ...]
    budget: tuple[BudgetNote, ...] = ()  # the budgets the checks were measured at (leaderboard.claims.budgets)

    @property
    def below_budget(self) -> tuple[BudgetNote, ...]:
        """The budget notes where robex measured at less than the reference budget."""
        return tuple(b for b in self.budget if b.below)

    @property
    def below_whose(self) -> str:
        """Whose budget the notes below are below: the paper's, robex's floor, or both."""
        floors = {b.floor for b in self.below_budget}
        if floors == {True}:
            return "robex's floor for the paper's budget class"
        return "the paper's (or robex's floor where the paper states none)" if True in floors else "the paper's"


@dataclass(frozen=True)
class TrackClaims:
    """Every paper's checks on one track, with a count per verdict."""

    track: str
    title: str
    papers: tuple[PaperClaims, ...]

    @property
    def counts(self) -> dict[str, int]:
        """Claim checks per verdict, in :class:`Verdict` order (sanity checks are not claims: not counted)."""
        out = {v.value: 0 for v in Verdict}
        for p in self.papers:
            for c in p.checks:
                if c.counted:
                    out[c.verdict.value] += 1
        return out

    @property
    def sanity(self) -> dict[str, int]:
        """Sanity checks per verdict (shown apart from the claims)."""
        out = {v.value: 0 for v in Verdict}
        for p in self.papers:
            for c in p.checks:
                if not c.counted:
                    out[c.verdict.value] += 1
        return out


# ------------------------------------------------------------------------------------------------ evidence
class Evidence:
    """Read-only access to one track's full-run records (quick records are ignored)."""

    def __init__(self, track: str, records: Iterable[Record]) -> None:
        self.track = track
        self.records = {r.name: r for r in records if r.track == track and not r.quick}

    def score(self, entry: str, name: str) -> ScoreRecord | None:
        """A score of an entry, or None."""
        r = self.records.get(entry)
        return r.scores.get(name) if r is not None else None

    def measure(self, entry: str, name: str, label: str | None = None, unit: str = "fraction") -> Measurement:
        """A score as a :class:`Measurement` labelled ``entry: label``."""
        s = self.score(entry, name)
        text = f"{entry}: {label or name}"
        if s is None:
            return Measurement(text, None, unit)
        return Measurement(text, s.value, unit, s.ci_low, s.ci_high)

    def section(self, entry: str, stage: str) -> Mapping[str, Any]:
        """``details[stage]`` of an entry ({} when absent)."""
        r = self.records.get(entry)
        sec = r.details.get(stage) if r is not None else None
        return sec if isinstance(sec, Mapping) else {}

    def curve(self, entry: str, stage: str, key: str) -> list[tuple[float, float]]:
        """The (x, y) points of ``details[stage]["curves"][key]`` ([] when absent)."""
        curve = self.section(entry, stage).get("curves", {}).get(key)
        if not isinstance(curve, Mapping):
            return []
        return [(float(a), float(b)) for a, b in zip(curve.get("x", []), curve.get("y", []), strict=False)]

    def curve_at(self, entry: str, stage: str, key: str, x: float) -> float | None:
        """The y of a curve at ``x`` (None when absent)."""
        return next(
            (b for a, b in self.curve(entry, stage, key) if math.isclose(a, x, rel_tol=1e-6, abs_tol=1e-9)), None
        )

    def curve_x(self, entry: str, stage: str, key: str) -> list[float]:
        """The x grid of a curve ([] when absent)."""
        return [a for a, _ in self.curve(entry, stage, key)]

    def row(self, entry: str, stage: str, **match: Any) -> Mapping[str, Any] | None:
        """The first row of ``details[stage]["table"]`` whose fields equal ``match``."""
        for row in self.section(entry, stage).get("table", []):
            if isinstance(row, Mapping) and all(row.get(k) == v for k, v in match.items()):
                return row
        return None

    @property
    def eps(self) -> float | None:
        """The track's ε, as recorded by the AutoAttack, PGD or transfer stage."""
        for r in self.records.values():
            for stage in ("autoattack", "pgd", "transfer"):
                eps = r.details.get(stage, {}).get("eps")
                if isinstance(eps, int | float):
                    return float(eps)
        return None


def disjoint_above(a: ScoreRecord | None, b: ScoreRecord | None) -> bool | None:
    """a > b with a's interval entirely above b's (point estimates when either has no interval); None when
    either is missing.

    >>> disjoint_above(ScoreRecord(value=.5, n=10, ci_low=.4, ci_high=.6), ScoreRecord(value=.3, n=10, ci_low=.2,
    ...     ci_high=.45))
    False
    """
    if a is None or b is None:
        return None
    if a.ci_low is None or b.ci_high is None:
        return a.value > b.value
    return a.ci_low > b.ci_high


def verdict(ok: bool | None) -> Verdict:
    """HOLDS / FAILS, MISSING for None."""
    return Verdict.MISSING if ok is None else (Verdict.HOLDS if ok else Verdict.FAILS)


def all_known(values: Iterable[float | None]) -> bool:
    return all(v is not None for v in values)


def per_image(ev: Evidence, entry: str, stage: str, *path: str) -> list[float | None] | None:
    """A per-image list at ``details[stage][path...]`` (None entries: no value for that image), or None."""
    node: Any = ev.section(entry, stage)
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    if not isinstance(node, list):
        return None
    return [None if v is None else float(v) for v in node]


def common_pairs(a: Sequence[float | None], b: Sequence[float | None]) -> tuple[list[float], list[float]]:
    """The values of both lists on their common prefix where both have one (same evaluation images).

    >>> common_pairs([0.1, None, 0.3, 0.4], [0.5, 0.6, None])
    ([0.1], [0.5])
    """
    pairs = [(x, y) for x, y in zip(a, b, strict=False) if x is not None and y is not None]
    return [x for x, _ in pairs], [y for _, y in pairs]
