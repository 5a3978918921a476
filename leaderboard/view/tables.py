"""The index table: columns from score metadata, rows from records, places, flags and reference notes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.results.ranking import Ranked, ranking, sort_score
from bench.results.records import Record, ReferenceRecord
from bench.results.scores import ScoreInfo, info_for, ordered_scores
from leaderboard.view.text import compact_interval, interval_text, safe_url, slug


@dataclass(frozen=True)
class Column:
    """A score column: its metadata, the header tooltip, and the first sort direction."""

    info: ScoreInfo
    tooltip: str
    arrow: str
    first_sort: str


@dataclass(frozen=True)
class ColumnGroup:
    """Adjacent columns of one category (the first header row)."""

    category: str
    span: int


@dataclass(frozen=True)
class Cell:
    """One table cell: the text, the value the sorter reads (``""`` sorts last) and a tooltip."""

    text: str
    sort: str
    tooltip: str = ""
    note: str = ""
    note_tooltip: str = ""
    interval: str = ""


@dataclass(frozen=True)
class Badge:
    """A small label: a flag, "baseline", "not ranked", ... (``kind`` picks its style)."""

    label: str
    kind: str
    tooltip: str = ""


@dataclass(frozen=True)
class Row:
    """A table row of one record."""

    name: str
    title: str
    href: str
    authors: str
    venue: str
    paper_url: str
    rank: str
    rank_sort: str
    ranked: bool
    reason: str
    cells: tuple[Cell, ...]
    badges: tuple[Badge, ...]


@dataclass(frozen=True)
class Table:
    """A sortable table: groups of columns, ranked rows first, then unranked rows (sorted separately)."""

    columns: tuple[Column, ...]
    groups: tuple[ColumnGroup, ...]
    ranked: tuple[Row, ...]
    unranked: tuple[Row, ...]
    sort: str | None
    sort_index: int | None

    @property
    def rows(self) -> tuple[Row, ...]:
        """Every row, ranked first."""
        return self.ranked + self.unranked


def make_column(info: ScoreInfo) -> Column:
    """A :class:`Column` with its tooltip (description, direction, unit, category)."""
    direction = {True: "higher is better", False: "lower is better", None: "direction unknown"}[info.higher_is_better]
    tooltip = f"{info.description} ({direction}; unit: {info.unit}; category: {info.category})"
    return Column(info, tooltip, info.arrow, "ascending" if info.higher_is_better is False else "descending")


def column_groups(columns: Sequence[Column]) -> tuple[ColumnGroup, ...]:
    """Runs of adjacent columns with the same category."""
    groups: list[ColumnGroup] = []
    for c in columns:
        if groups and groups[-1].category == c.info.category:
            groups[-1] = ColumnGroup(c.info.category, groups[-1].span + 1)
        else:
            groups.append(ColumnGroup(c.info.category, 1))
    return tuple(groups)


def flag_badges(record: Record) -> tuple[Badge, ...]:
    """A badge per sanity flag (``fail`` first), plus status badges."""
    badges = [Badge(f.name, f"flag-{f.severity}", f"{f.severity}: {f.message}") for f in record.flags]
    badges.sort(key=lambda b: ({"flag-fail": 0, "flag-warn": 1}.get(b.kind, 2), b.label))
    if record.status != "ok":
        errors = "; ".join(f"{k}: {v.splitlines()[-1] if v else ''}" for k, v in sorted(record.errors.items()))
        badges.insert(0, Badge(record.status, f"status-{record.status}", errors))
    if record.entry.baseline:
        badges.append(Badge("baseline", "baseline", "a baseline maintained with robex"))
    return tuple(badges)


def page_path(record: Record) -> str:
    """Path of a record's page, relative to the site root."""
    suffix = ".quick" if record.quick else ""
    return f"{slug(record.track)}/{slug(record.name)}{suffix}.html"


def build_table(
    placed: Sequence[Ranked], infos: Mapping[str, ScoreInfo], *, sort: str | None, primary_only: bool = True
) -> Table:
    """A :class:`Table` of ``placed`` records (in ranking order) with a column per score they have."""
    records = [p.record for p in placed]
    present = {n for r in records for n in r.scores}
    columns = tuple(make_column(i) for i in ordered_scores(present, infos) if i.primary or not primary_only)
    ranked: list[Row] = []
    unranked: list[Row] = []
    for p in placed:
        r = p.record
        cells = tuple(score_cell(r, c.info) for c in columns)
        badges = flag_badges(r)
        if p.rank is None:
            badges = (Badge("not ranked", "unranked", p.reason), *badges)
        row = Row(
            name=r.name,
            title=r.entry.title,
            href=page_path(r),
            authors=r.entry.authors,
            venue=r.entry.venue,
            paper_url=safe_url(r.entry.paper_url),
            rank=str(p.rank) if p.rank is not None else "—",
            rank_sort=str(p.rank) if p.rank is not None else "",
            ranked=p.rank is not None,
            reason=p.reason,
            cells=cells,
            badges=badges,
        )
        (ranked if p.rank is not None else unranked).append(row)
    names = [c.info.name for c in columns]
    return Table(columns, column_groups(columns), tuple(ranked), tuple(unranked), sort, _index(names, sort))


def score_cell(record: Record, info: ScoreInfo) -> Cell:
    """The cell of ``record``'s score ``info``: its text, sort value, interval (tooltip and compact) and reference."""
    value = record.score(info.name)
    return Cell(
        info.unit.text(value),
        "" if value is None else repr(float(value)),
        interval_text(record, info),
        *reference_note(record, info),
        interval=compact_interval(record, info),
    )


def reference_gap(record: Record, info: ScoreInfo) -> tuple[ReferenceRecord, float | None] | None:
    """The first published reference for ``info``'s score and the gap measured − reference (``None`` when the
    record has no value for the score), or ``None`` when the entry has no reference for it."""
    ref = next((x for x in record.entry.references if x.score == info.name), None)
    if ref is None:
        return None
    value = record.score(info.name)
    return ref, None if value is None else value - ref.value


def reference_note(record: Record, info: ScoreInfo) -> tuple[str, str]:
    """The index cell's note, ``ref 88.5% · −3.2 pp``, and its tooltip (source and protocol); empty without one."""
    found = reference_gap(record, info)
    if found is None:
        return "", ""
    ref, gap = found
    gap_text = "" if gap is None else " · " + info.unit.difference_text(gap)
    return f"ref {info.unit.text(ref.value)}{gap_text}", f"published: {ref.source} ({ref.protocol})"


def _index(names: Sequence[str], name: str | None) -> int | None:
    return names.index(name) if name in names else None


def place(records: Sequence[Record], infos: Mapping[str, ScoreInfo]) -> tuple[str | None, list[Ranked]]:
    """The track's sort score and its records in ranking order (ranked first)."""
    score = sort_score(records)
    if score is None:
        primary = ordered_scores({n for r in records for n in r.scores}, infos)
        score = next((i.name for i in primary if i.primary and i.higher_is_better is not None), None)
    higher = info_for(score, infos).higher_is_better is not False if score else True
    return score, ranking(records, score, higher)
