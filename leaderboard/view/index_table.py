"""The index's compact table of one track: a headline column per score family (the catalogue's ``headline``),
the family's other columns folded behind a toggle, entry names with their flags as badges, values with their
intervals, and ranks given as significance bands (:mod:`bench.results.bands`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.results.bands import BandMethod, BandPlace, record_bands
from bench.results.ranking import Ranked
from bench.results.scores import ScoreInfo, info_for, ordered_scores
from leaderboard.view.tables import Badge, Cell, flag_badges, make_column, page_path, score_cell

ALPHA = 0.05


@dataclass(frozen=True)
class IndexColumn:
    """A score column of the index: folded (``headline`` False) columns are shown when their family is expanded."""

    info: ScoreInfo
    tooltip: str
    first_sort: str
    family: str
    headline: bool


@dataclass(frozen=True)
class Family:
    """A score family (category): its label, a CSS-safe key, and how many columns it shows folded and expanded."""

    category: str
    key: str
    shown: int
    folded: int


@dataclass(frozen=True)
class IndexRow:
    """One entry: band (``—`` when not ranked), name, link, badges and one cell per column."""

    name: str
    title: str
    href: str
    band: str
    band_sort: str
    band_tooltip: str
    band_start: bool
    band_odd: bool
    indistinct: bool  # in a later band, yet not distinguishable from the leader (bench.results.bands)
    cells: tuple[Cell, ...]
    badges: tuple[Badge, ...]


@dataclass(frozen=True)
class IndexTable:
    """The compact table of one track with the text that says how its bands are formed."""

    id: str
    columns: tuple[IndexColumn, ...]
    families: tuple[Family, ...]
    ranked: tuple[IndexRow, ...]
    unranked: tuple[IndexRow, ...]
    sort_index: int | None
    sort_first: str
    bands_text: str
    fallback_text: str


def family_key(category: str) -> str:
    """A category as a CSS- and attribute-safe key.

    >>> family_key("explanation fidelity")
    'explanation-fidelity'
    """
    return re.sub(r"[^a-z0-9]+", "-", category.lower()).strip("-") or "other"


def index_columns(infos: Sequence[ScoreInfo], sort: str | None) -> tuple[IndexColumn, ...]:
    """Columns grouped by family (families in catalogue order, the headline first within each); a family's
    headline — and the ranking score, wherever it sits — is shown folded, the rest only when expanded."""
    first: dict[str, int] = {}
    for info in infos:
        first[info.category] = min(first.get(info.category, info.order), info.order)
    out = []
    for info in infos:
        c = make_column(info)
        shown = info.headline is not None or info.name == sort
        out.append(IndexColumn(info, c.tooltip, c.first_sort, family_key(info.category), shown))
    return tuple(sorted(out, key=lambda c: (first[c.info.category], not c.headline, c.info.order, c.info.name)))


def families(columns: Sequence[IndexColumn]) -> tuple[Family, ...]:
    """Runs of columns of one category, with their shown and folded counts."""
    out: list[Family] = []
    for c in columns:
        if not out or out[-1].key != c.family:
            out.append(Family(c.info.category, c.family, 0, 0))
        f = out[-1]
        out[-1] = Family(f.category, f.key, f.shown + c.headline, f.folded + (not c.headline))
    return tuple(out)


INDISTINCT = "≈ leader"  # the badge of an entry in a later band that the tests do not separate from the leader


def band_tooltip(place: BandPlace, title: str) -> str:
    """What put an entry in its band, for the band cell's tooltip."""
    if place.method is BandMethod.LEADER and place.band == 1:
        return f"band 1: leads it (the best {title})"
    if place.method is BandMethod.LEADER:
        above = place.band - 1
        text = f"band {place.band}: leads it (the first entry that differs significantly from band {above}'s leader)"
    else:
        p = "" if place.p_adjusted is None else f", p = {place.p_adjusted:.3g}"
        note = f"; {place.note}" if place.note else ""
        text = f"band {place.band}: not significantly different from {place.leader} ({place.method.value}{p}{note})"
    return text + (f"; {indistinct_text(place)}" if place.indistinct_from_top else "")


def indistinct_text(place: BandPlace) -> str:
    """Why an entry of a later band carries the "≈ leader" badge."""
    p = "" if place.p_top is None else f" (Holm-adjusted p = {place.p_top:.3g})"
    return (
        f"not distinguishable from the leader{p}: it sits in band {place.band} only because an entry above it differs"
    )


def bands_text(title: str, alpha: float = ALPHA) -> str:
    """How the page's bands are formed (one paragraph, for readers): the rule of :mod:`bench.results.bands`."""
    return (
        f"Ranks are bands. The entry with the best {title} leads band 1 and is tested against every entry below it "
        "— McNemar's exact test on the per-image results of the same evaluation images (the test robex compare "
        "runs; a paired bootstrap for per-image real values) — with Holm's correction over those tests, at "
        f"α = {alpha:g}. Walking down the ranking, entries join the band until the first one that differs "
        "significantly; it leads the next band and the rule starts again from it. Bands are contiguous, so an "
        f"entry below that first one lands in a later band even when it does not differ from the leader: it is "
        f"marked “{INDISTINCT}”. Under each value: its 95% interval (image sampling only, one training run)."
    )


def fallback_text(places: Sequence[BandPlace]) -> str:
    """Which band memberships did not come from a paired test ("" when all did)."""
    by_method = {m: sorted(p.name for p in places if p.method is m) for m in (BandMethod.INTERVALS, BandMethod.VALUES)}
    parts = []
    if by_method[BandMethod.INTERVALS]:
        parts.append(
            "no per-image results on the same images (per-image results of unequal length or from another "
            "evaluation subset are never paired), so the difference to the leader was tested from the two 95% "
            f"intervals (unpaired normal approximation, in the same Holm family, at the same α): "
            f"{', '.join(by_method[BandMethod.INTERVALS])}"
        )
    if by_method[BandMethod.VALUES]:
        names = ", ".join(by_method[BandMethod.VALUES])
        parts.append(f"neither per-image results on the same images nor an interval, banded by equal value: {names}")
    return "; ".join(parts)


def index_table(
    table_id: str, placed: Sequence[Ranked], infos: Mapping[str, ScoreInfo], sort: str | None, *, alpha: float = ALPHA
) -> IndexTable:
    """The compact table of ``placed`` (ranking order) by ``sort``, with bands at ``alpha``."""
    present = {n for p in placed for n in p.record.scores}
    columns = index_columns([i for i in ordered_scores(present, infos) if i.primary], sort)
    ranked_records = [p.record for p in placed if p.rank is not None]
    places = record_bands(ranked_records, sort, alpha=alpha) if sort and ranked_records else ()
    band_of = {p.name: p for p in places}
    title = info_for(sort, infos).title if sort else ""
    rows: list[IndexRow] = []
    previous = 0
    for position, p in enumerate(placed):
        r = p.record
        place = band_of.get(r.name)
        badges = flag_badges(r)
        if place is None:
            badges = (Badge("not ranked", "unranked", p.reason), *badges)
        elif place.indistinct_from_top:
            badges = (Badge(INDISTINCT, "indistinct", indistinct_text(place)), *badges)
        rows.append(
            IndexRow(
                name=r.name,
                title=r.entry.title,
                href=page_path(r),
                band=str(place.band) if place else "—",
                band_sort=str(position) if place else "",
                band_tooltip=band_tooltip(place, title) if place else p.reason,
                band_start=place is not None and place.band != previous,
                band_odd=place is not None and place.band % 2 == 1,
                indistinct=place is not None and place.indistinct_from_top,
                cells=tuple(score_cell(r, c.info) for c in columns),
                badges=badges,
            )
        )
        previous = place.band if place else previous
    names = [c.info.name for c in columns]
    sort_index = names.index(sort) if sort in names else None
    return IndexTable(
        id=table_id,
        columns=columns,
        families=families(columns),
        ranked=tuple(r for r in rows if r.band != "—"),
        unranked=tuple(r for r in rows if r.band == "—"),
        sort_index=sort_index,
        sort_first=columns[sort_index].first_sort if sort_index is not None else "descending",
        bands_text=bands_text(title, alpha) if places else "",
        fallback_text=fallback_text(places),
    )
