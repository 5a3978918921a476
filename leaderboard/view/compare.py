"""A track's comparison page: a row per score and a column per entry (ranking order, each headed by its band),
every cell the entry's value and its difference from the leader with the paired test's p; the headline scores
first, each family's other scores in its own folded table; galleries across entries, folded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.results.compare import Comparison, compare_records
from bench.results.compare_text import format_p
from bench.results.ranking import Ranked
from bench.results.records import Record
from bench.results.scores import ScoreInfo, ordered_scores
from leaderboard.view.galleries import ColourScale, Gallery, Image, galleries
from leaderboard.view.tables import Column, make_column, page_path
from leaderboard.view.text import compact_interval, interval_text


def p_text(p: float) -> str:
    """``p = 0.031`` or ``p < 0.0001``.

    >>> p_text(0.0312), p_text(1e-9)
    ('p = 0.031', 'p < 0.0001')
    """
    text = format_p(p)
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"


@dataclass(frozen=True)
class DiffCell:
    """One score of an entry against the leader: difference, p-value (Holm-adjusted within the comparison when the
    test has one; the unadjusted p and the method are in the tooltip), significance."""

    text: str
    p: str
    significant: bool
    better: str
    tooltip: str


@dataclass(frozen=True)
class EntryHead:
    """A column of the comparison: an entry, its band (``—`` when not ranked) and whether it leads."""

    name: str
    title: str
    href: str
    band: str
    ranked: bool
    leader: bool
    reason: str = ""


@dataclass(frozen=True)
class CompareCell:
    """An entry's value of a score, its 95% interval, and its difference from the leader (``None`` for the
    leader itself and for entries without the score)."""

    text: str
    interval: str
    tooltip: str
    diff: DiffCell | None


@dataclass(frozen=True)
class ScoreRow:
    """A score across entries."""

    column: Column
    cells: tuple[CompareCell, ...]


@dataclass(frozen=True)
class FamilyTable:
    """Every score of one family (category), for its folded table."""

    category: str
    rows: tuple[ScoreRow, ...]


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

    leader: str
    leader_href: str
    heads: tuple[EntryHead, ...]
    headline: tuple[ScoreRow, ...]
    families: tuple[FamilyTable, ...]
    galleries: tuple[SharedGallery, ...]
    alpha: float

    @property
    def first_gallery(self) -> SharedGallery | None:
        """The gallery shown open (the first one every entry shares, else none)."""
        return self.galleries[0] if self.galleries and self.galleries[0].same_for_all else None

    @property
    def gallery_folds(self) -> tuple[tuple[str, tuple[SharedGallery, ...]], ...]:
        """Every other gallery, by stage, for the folded sections."""
        out: dict[str, list[SharedGallery]] = {}
        for g in self.galleries:
            if g is not self.first_gallery:
                out.setdefault(g.stage, []).append(g)
        return tuple((stage, tuple(gs)) for stage, gs in out.items())


def diff_cell(comparison: Comparison, info: ScoreInfo, alpha: float) -> DiffCell | None:
    """The difference of one score in a comparison with the leader (``None`` when neither record has it both)."""
    c = next((row for row in comparison.rows if row.score.name == info.name), None)
    if c is None:
        return None
    res = c.result
    if res is None:
        diff = c.difference
        text = "—" if diff is None else info.unit.difference_text(diff)
        return DiffCell(text, "not tested" if diff is not None else "", False, "", c.note)
    tip = f"{res.method}" + (f", n = {res.n}" if res.n else "") + f", {p_text(res.p_value)}"
    tip += f", Holm-adjusted {p_text(c.p_adjusted)}" if c.p_adjusted is not None else ""
    tip += f"; {c.note}" if c.note else ""
    return DiffCell(
        info.unit.difference_text(res.difference),
        p_text(c.p_adjusted if c.p_adjusted is not None else res.p_value),
        c.significant(alpha),
        c.better(alpha) or "",
        tip,
    )


def score_row(
    column: Column,
    records: Sequence[Record],
    leader: Record | None,
    comparisons: Mapping[str, Comparison],
    alpha: float,
) -> ScoreRow:
    """One score's row: each entry's value and interval, and its difference from the leader."""
    info = column.info
    cells = []
    for r in records:
        value = r.score(info.name)
        comp = comparisons.get(r.name)
        diff = diff_cell(comp, info, alpha) if comp is not None and leader is not None and value is not None else None
        cells.append(CompareCell(info.unit.text(value), compact_interval(r, info), interval_text(r, info), diff))
    return ScoreRow(column, tuple(cells))


def compare_page(
    placed: Sequence[Ranked],
    infos: Mapping[str, ScoreInfo],
    sort: str | None,
    alpha: float,
    bands: Mapping[str, str] | None = None,
) -> ComparePage:
    """Every score of every entry against the leader (paired tests), the headline scores first, and the shared
    galleries. ``bands``: each ranked entry's significance band (the index's), shown in its column head."""
    records = [p.record for p in placed]
    leader = next((p.record for p in placed if p.rank is not None), None)
    comparisons = {
        r.name: compare_records(r, leader, infos=infos, alpha=alpha)
        for r in records
        if leader is not None and r.name != leader.name
    }
    present = {n for r in records for n in r.scores}
    columns = [make_column(i) for i in ordered_scores(present, infos)]
    rows = {c.info.name: score_row(c, records, leader, comparisons, alpha) for c in columns}
    headline = tuple(rows[c.info.name] for c in columns if c.info.headline is not None or c.info.name == sort)
    families: dict[str, list[ScoreRow]] = {}
    for c in columns:
        families.setdefault(c.info.category, []).append(rows[c.info.name])
    band_of = dict(bands or {})
    heads = tuple(
        EntryHead(
            p.record.name,
            p.record.entry.title,
            page_path(p.record),
            band_of.get(p.record.name, "—") if p.rank is not None else "—",
            p.rank is not None,
            leader is not None and p.record.name == leader.name,
            p.reason,
        )
        for p in placed
    )
    return ComparePage(
        leader=leader.name if leader else "",
        leader_href=page_path(leader) if leader else "",
        heads=heads,
        headline=headline,
        families=tuple(FamilyTable(k, tuple(v)) for k, v in families.items()),
        galleries=shared_galleries(placed),
        alpha=alpha,
    )
