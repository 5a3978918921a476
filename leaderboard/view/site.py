"""The whole site as data: one view per track (full runs) and the quick-mode records apart."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from bench.results.places import TrackInfo, track_order
from bench.results.ranking import Ranked
from bench.results.records import Record
from bench.results.scores import ScoreInfo, info_for
from leaderboard.view.compare import ComparePage, compare_page
from leaderboard.view.entry import EntryPage, entry_page
from leaderboard.view.index_table import IndexTable, index_table
from leaderboard.view.scatter import TwoAxis, two_axis
from leaderboard.view.tables import Table, build_table, page_path, place
from leaderboard.view.text import slug
from leaderboard.view.transfer import Heatmap, heatmap, index_matrix, transfer_matrix


@dataclass(frozen=True)
class TrackView:
    """One track: its table (all primary columns: export, quick list), the index's compact table and two-axis
    view, pages, heatmap and comparison page."""

    name: str
    slug: str
    info: TrackInfo | None
    version: str
    sort_title: str
    table: Table
    index: IndexTable
    two_axis: TwoAxis | None
    heatmap: Heatmap
    compare: ComparePage
    pages: tuple[EntryPage, ...]
    placed: tuple[Ranked, ...]
    stale: tuple[str, ...] = ()  # entries whose records predate the installed track definition
    stale_note: str = ""  # the reason, when every record of the track shares it


@dataclass(frozen=True)
class Site:
    """The whole site: tracks (full runs only) and the quick-mode records, listed apart and never ranked."""

    tracks: tuple[TrackView, ...]
    quick: tuple[TrackView, ...]
    infos: Mapping[str, ScoreInfo] = field(default_factory=dict)


def track_view(
    track: str,
    records: Sequence[Record],
    infos: Mapping[str, ScoreInfo],
    track_info: TrackInfo | None,
    *,
    alpha: float,
    base_url: str,
    with_compare: bool = True,
) -> TrackView:
    """The view of one track's records."""
    sort, placed = place(records, infos)
    notes = {r.name: stale_note(track_info, r) for r in records}  # why each record is out of date ("": current)
    table = build_table(placed, infos, sort=sort)
    matrix, attack, eps = transfer_matrix(records)
    pages_by_name = {r.name: page_path(r) for r in records}
    ranked_total = sum(1 for p in placed if p.rank is not None)
    indexed = index_matrix(matrix)
    pages = tuple(
        entry_page(
            p,
            ranked_total,
            infos,
            sort,
            indexed,
            (attack, eps),
            pages_by_name,
            base_url,
            threat=track_info.threat_sentence if track_info else "",
            stale=notes[p.record.name],
        )
        for p in placed
    )
    empty_compare = ComparePage("", "", (), (), (), (), alpha)
    versions = sorted({r.provenance.track_version for r in records})
    stale = tuple(sorted(name for name, note in notes.items() if note))
    shared = {notes[name] for name in stale}
    index = index_table(f"table-{slug(track)}", placed, infos, sort, alpha=alpha)
    bands = {row.name: row.band for row in index.ranked}
    return TrackView(
        name=track,
        slug=slug(track),
        info=track_info,
        version=", ".join(versions),
        sort_title=info_for(sort, infos).title if sort else "",
        table=table,
        index=index,
        two_axis=two_axis(f"two-axis-{slug(track)}", placed, infos, sort) if with_compare else None,
        heatmap=heatmap(records, [p.record.name for p in placed]),
        compare=compare_page(placed, infos, sort, alpha, bands) if with_compare else empty_compare,
        pages=pages,
        placed=tuple(placed),
        stale=stale,
        stale_note=next(iter(shared)) if len(stale) == len(records) and len(shared) == 1 else "",
    )


def stale_note(info: TrackInfo | None, record: Record) -> str:
    """Why ``record`` is out of date with the installed track ("" when current or the track is not installed)."""
    if info is None:
        return ""
    return info.stale_note(record.provenance.track_version, record.provenance.track_sha256)


def build_site(
    records: Iterable[Record],
    infos: Mapping[str, ScoreInfo],
    track_infos: Mapping[str, TrackInfo] | None = None,
    *,
    alpha: float = 0.05,
    base_url: str = "",
) -> Site:
    """The view of every record: full-run records by track, the default track first; quick-mode records apart
    (never ranked)."""
    all_records = sorted(records, key=lambda r: (r.track, r.name, r.quick))
    track_infos = track_infos or {}
    full: dict[str, list[Record]] = {}
    quick: dict[str, list[Record]] = {}
    for r in all_records:
        (quick if r.quick else full).setdefault(r.track, []).append(r)
    tracks = tuple(
        track_view(t, rs, infos, track_infos.get(t), alpha=alpha, base_url=base_url)
        for t, rs in sorted(full.items(), key=lambda item: track_order(item[0]))
    )
    quicks = tuple(
        track_view(t, rs, infos, track_infos.get(t), alpha=alpha, base_url=base_url, with_compare=False)
        for t, rs in sorted(quick.items())
    )
    return Site(tracks, quicks, dict(infos))
