"""A track's comparison page: every entry against the leader with paired significance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.results.compare import compare_records
from bench.results.compare_text import format_p
from bench.results.ranking import Ranked
from bench.results.scores import ScoreInfo
from leaderboard.view.galleries import Image, galleries
from leaderboard.view.tables import Column, Table, build_table, page_path


def p_text(p: float) -> str:
    """``p = 0.031`` or ``p < 0.0001``.

    >>> p_text(0.0312), p_text(1e-9)
    ('p = 0.031', 'p < 0.0001')
    """
    text = format_p(p)
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"


@dataclass(frozen=True)
class DiffCell:
    """One score of an entry against the leader: difference, p-value, significance."""

    text: str
    p: str
    significant: bool
    better: str
    tooltip: str


@dataclass(frozen=True)
class LeaderRow:
    """An entry's differences from the leader."""

    name: str
    title: str
    href: str
    cells: tuple[DiffCell, ...]


@dataclass(frozen=True)
class GalleryRow:
    """One entry's images of a gallery shared by several entries."""

    name: str
    href: str
    images: tuple[Image, ...]


@dataclass(frozen=True)
class SharedGallery:
    """A gallery (stage + caption) across entries: the same evaluation images, one row per entry."""

    stage: str
    caption: str
    rows: tuple[GalleryRow, ...]


@dataclass(frozen=True)
class ComparePage:
    """A track's comparison page."""

    table: Table
    leader: str
    leader_href: str
    columns: tuple[Column, ...]
    against_leader: tuple[LeaderRow, ...]
    galleries: tuple[SharedGallery, ...]
    alpha: float


def compare_page(
    placed: Sequence[Ranked], infos: Mapping[str, ScoreInfo], sort: str | None, alpha: float
) -> ComparePage:
    """Every score of every entry, each entry against the leader (paired tests), shared galleries."""
    table = build_table(placed, infos, sort=sort, primary_only=False)
    leader = next((p.record for p in placed if p.rank is not None), None)
    rows: list[LeaderRow] = []
    if leader is not None:
        for p in placed:
            r = p.record
            if r.name == leader.name:
                continue
            comp = {c.score.name: c for c in compare_records(r, leader, infos=infos, alpha=alpha).rows}
            cells = []
            for col in table.columns:
                c = comp.get(col.info.name)
                res = c.result if c else None
                if c is None or res is None:
                    diff = c.difference if c else None
                    text = "—" if diff is None else col.info.unit.difference_text(diff)
                    cells.append(
                        DiffCell(text, "not tested" if diff is not None else "", False, "", c.note if c else "")
                    )
                    continue
                better = c.better(alpha) or ""
                tip = f"{res.method}" + (f", n = {res.n}" if res.n else "") + (f"; {c.note}" if c.note else "")
                holm = f", Holm {format_p(c.p_adjusted)}" if c.p_adjusted is not None else ""
                cells.append(
                    DiffCell(
                        col.info.unit.difference_text(res.difference),
                        p_text(res.p_value) + holm,
                        c.significant(alpha),
                        better,
                        tip,
                    )
                )
            rows.append(LeaderRow(r.name, r.entry.title, page_path(r), tuple(cells)))
    shared: dict[tuple[str, str], list[GalleryRow]] = {}
    for p in placed:
        for g in galleries(p.record, []):
            shared.setdefault((g.stage, g.caption), []).append(GalleryRow(p.record.name, page_path(p.record), g.images))
    return ComparePage(
        table=table,
        leader=leader.name if leader else "",
        leader_href=page_path(leader) if leader else "",
        columns=table.columns,
        against_leader=tuple(rows),
        galleries=tuple(SharedGallery(s, c, tuple(rs)) for (s, c), rs in sorted(shared.items())),
        alpha=alpha,
    )
