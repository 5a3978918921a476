"""A track's comparison page: every entry against the leader with paired significance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.results.compare import compare_records
from bench.results.compare_text import format_p
from bench.results.ranking import Ranked
from bench.results.scores import ScoreInfo
from leaderboard.view.galleries import ColourScale, Gallery, Image, galleries
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
    """A gallery (stage + caption) across entries: one row per entry, or a single row when every entry holds the
    very same images (the evaluation inputs), so each image is on the page once."""

    stage: str
    caption: str
    rows: tuple[GalleryRow, ...]
    scale: ColourScale | None = None
    same_for_all: bool = False


def _shared_images(rows: Sequence[Gallery]) -> tuple[Image, ...]:
    """The images of rows that hold the same pictures, labelled as the rows label them when they all agree, else by
    position (``#j``: labels such as each entry's prediction belong on that entry's page)."""
    first = rows[0].images
    agree = all(tuple(i.label for i in r.images) == tuple(i.label for i in first) for r in rows)
    return first if agree else tuple(Image(f"#{j}", img.png) for j, img in enumerate(first))


def shared_galleries(placed: Sequence[Ranked]) -> tuple[SharedGallery, ...]:
    """Every (stage, caption) gallery across entries, by stage; within a stage the galleries that are identical
    for every entry first (shown once), then the per-entry ones, each in the records' order."""
    found: dict[tuple[str, str], list[tuple[Ranked, Gallery]]] = {}
    for p in placed:
        for g in galleries(p.record, []):
            found.setdefault((g.stage, g.caption), []).append((p, g))
    out = []
    for (stage, caption), items in found.items():
        first = items[0][1]
        pngs = [tuple(i.png for i in g.images) for _, g in items]
        same = len(items) > 1 and all(p == pngs[0] for p in pngs)
        rows = (
            (GalleryRow(f"every entry ({len(items)})", "", _shared_images([g for _, g in items])),)
            if same
            else tuple(GalleryRow(p.record.name, page_path(p.record), g.images) for p, g in items)
        )
        out.append(SharedGallery(stage, caption, rows, first.scale, same))
    order = {stage: i for i, stage in enumerate(sorted({g.stage for g in out}))}
    return tuple(sorted(out, key=lambda g: (order[g.stage], not g.same_for_all)))


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
    return ComparePage(
        table=table,
        leader=leader.name if leader else "",
        leader_href=page_path(leader) if leader else "",
        columns=table.columns,
        against_leader=tuple(rows),
        galleries=shared_galleries(placed),
        alpha=alpha,
    )
