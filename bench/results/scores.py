"""Score metadata for readers of records (the comparison, the leaderboard): :class:`ScoreInfo`, read from the
catalogue of built-in scores (:mod:`bench.results.catalogue`) — no stage is imported to learn a column title."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bench.results.catalogue import catalogue
from bench.types import Axis, ScoreSpec, Unit


@dataclass(frozen=True)
class ScoreInfo:
    """What the comparison and the leaderboard need to know about a score (a :class:`~bench.types.ScoreSpec`,
    or a placeholder for a score no catalogue or installed plug-in describes)."""

    name: str
    title: str
    higher_is_better: bool | None
    unit: Unit
    category: str
    description: str
    primary: bool
    order: int
    source: str = ""
    source_url: str = ""
    headline: Axis | None = None
    family: str = ""

    @classmethod
    def from_spec(cls, spec: ScoreSpec) -> ScoreInfo:
        """From a spec."""
        return cls(
            name=spec.name,
            title=spec.title,
            higher_is_better=spec.higher_is_better,
            unit=spec.unit,
            category=spec.category.value,
            description=spec.description,
            primary=spec.primary,
            order=spec.order,
            source=spec.source,
            source_url=spec.source_url,
            headline=spec.headline,
            family=spec.family,
        )

    @classmethod
    def unknown(cls, name: str) -> ScoreInfo:
        """A score found in a record but described nowhere (direction unknown)."""
        return cls(
            name=name,
            title=name,
            higher_is_better=None,
            unit=Unit.SCORE,
            category="other",
            description="No installed plug-in registers this score; its direction and unit are unknown.",
            primary=False,
            order=10_000,
        )

    def text(self, value: float | None) -> str:
        """``value`` of this score as shown everywhere (:meth:`bench.types.Unit.text`)."""
        return self.unit.text(value)

    def difference_text(self, value: float | None) -> str:
        """A signed difference of this score (:meth:`bench.types.Unit.difference_text`)."""
        return self.unit.difference_text(value)

    @property
    def arrow(self) -> str:
        """``↑`` (higher is better), ``↓`` or ``""`` (unknown)."""
        return {True: "↑", False: "↓", None: ""}[self.higher_is_better]


def score_infos(specs: Iterable[ScoreSpec] | None = None) -> dict[str, ScoreInfo]:
    """Metadata of every built-in score (the catalogue) or of ``specs``, by name."""
    chosen = catalogue().values() if specs is None else specs
    return {s.name: ScoreInfo.from_spec(s) for s in chosen}


def info_for(name: str, infos: Mapping[str, ScoreInfo]) -> ScoreInfo:
    """``infos[name]`` or the placeholder for an unregistered score."""
    return infos.get(name) or ScoreInfo.unknown(name)


def ordered_scores(names: Iterable[str], infos: Mapping[str, ScoreInfo]) -> list[ScoreInfo]:
    """Metadata of ``names`` in column order (order, then name; unregistered scores last)."""
    return sorted((info_for(n, infos) for n in set(names)), key=lambda s: (s.order, s.name))
