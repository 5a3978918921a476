"""The terminal summary of a run (``robex run``): each track's records in ranking order, each with its
significance band (:func:`bench.results.bands.record_bands`, the index's rule), the ranking score and the
headline scores with their 95% intervals, and the flags — fitted to a terminal width (120 columns): score columns
that do not fit are left out and named below the table, long names are cut with ``…``.

Quick-mode records are ranked among themselves here (``robex run --quick`` has no full record to rank them
against; they are never ranked on the leaderboard), and the table says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.results.bands import record_bands
from bench.results.ranking import Ranked, ranking, sort_score
from bench.results.records import Record
from bench.results.scores import ScoreInfo, info_for, ordered_scores

WIDTH = 120  # columns of the terminal the summary fits
GAP = "  "
ENTRY_MAX = 28  # characters of an entry's name before it is cut
FLAGS_MIN = 28  # characters the flags column keeps (when it needs them) before score columns are left out


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the last one ``…`` when cut.

    >>> clip("interpretability_aware_int2", 12), clip("short", 12)
    ('interpretab…', 'short')
    """
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def value_text(record: Record, info: ScoreInfo) -> str:
    """A score with its 95% interval, ``62.5% [55.6, 68.9]`` (percent signs dropped inside the brackets), or just
    the value without an interval; ``—`` when the record lacks the score."""
    s = record.scores.get(info.name)
    if s is None:
        return "—"
    text = info.unit.text(s.value)
    if s.ci_low is None or s.ci_high is None:
        return text
    low, high = (info.unit.text(v).removesuffix("%") for v in (s.ci_low, s.ci_high))
    return f"{text} [{low}, {high}]"


def ranking_score(records: Sequence[Record], infos: Mapping[str, ScoreInfo]) -> str | None:
    """The score the track ranks by (the leaderboard's default sort), else its first primary score with a
    direction."""
    found = sort_score(records)
    if found is not None:
        return found
    scores = ordered_scores({n for r in records for n in r.scores}, infos)
    return next((i.name for i in scores if i.primary and i.higher_is_better is not None), None)


@dataclass(frozen=True)
class TrackSummary:
    """One track's records placed and banded, and the score columns of its table."""

    track: str
    placed: tuple[Ranked, ...]
    bands: Mapping[str, int]
    columns: tuple[ScoreInfo, ...]
    quick: bool


def track_summary(
    track: str, records: Sequence[Record], infos: Mapping[str, ScoreInfo], alpha: float = 0.05
) -> TrackSummary:
    """Place and band one track's records; the columns are its ranking score, then its other headline scores."""
    quick = all(r.quick for r in records)
    sort = ranking_score(records, infos)
    higher = info_for(sort, infos).higher_is_better is not False if sort else True
    placed = tuple(ranking(records, sort, higher, include_quick=quick))
    ranked = [p.record for p in placed if p.rank is not None]
    bands = {b.name: b.band for b in record_bands(ranked, sort, alpha=alpha)} if sort and ranked else {}
    present = {n for r in records for n in r.scores}
    headlines = [i for i in ordered_scores(present, infos) if i.headline is not None and i.name != sort]
    columns = ([info_for(sort, infos)] if sort else []) + headlines
    return TrackSummary(track, placed, bands, tuple(columns), quick)


def _flags_text(p: Ranked) -> str:
    """Why a record is not ranked, its status when not ok, and its flags (each named once)."""
    parts = [p.reason] if p.rank is None else []
    if p.record.status != "ok" and p.rank is not None:
        parts.append(p.record.status)
    flags = [f for f in sorted({f.name for f in p.record.flags}) if f not in p.reason]
    return "; ".join([*parts, ", ".join(flags)] if flags else parts) or "—"


def _table(rows: Sequence[Sequence[str]], widths: Sequence[int], right: Sequence[bool]) -> list[str]:
    return [
        GAP.join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right, strict=True)).rstrip()
        for row in rows
    ]


def track_table(summary: TrackSummary, width: int = WIDTH) -> str:
    """One track's table, at most ``width`` columns wide, and the lines that say what it leaves out."""
    band = [str(summary.bands.get(p.record.name, "—")) for p in summary.placed]
    scores = [[value_text(p.record, c) for p in summary.placed] for c in summary.columns]
    titles = [f"{c.title} {c.arrow}".strip() for c in summary.columns]
    flags = [_flags_text(p) for p in summary.placed]
    band_w = max(len("Band"), *map(len, band))
    entry_w = max(len("Entry"), min(ENTRY_MAX, max(len(p.record.name) for p in summary.placed)))
    col_widths = [max(len(t), *map(len, cells)) for t, cells in zip(titles, scores, strict=True)]
    flags_w = min(FLAGS_MIN, max(len("Flags"), *map(len, flags)))

    def used(kept: int) -> int:
        return band_w + entry_w + sum(col_widths[:kept]) + len(GAP) * (kept + 2)

    kept = len(col_widths)
    while kept > 1 and used(kept) + flags_w > width:
        kept -= 1
    entry_w = max(len("Entry"), min(entry_w, entry_w + width - used(kept) - flags_w))  # a narrow terminal
    flag_width = max(len("Flags"), min(max(map(len, flags)), width - used(kept)))
    names = [clip(p.record.name, entry_w) for p in summary.placed]
    header = ["Band", "Entry", *titles[:kept], "Flags"]
    body = [
        [band[i], names[i], *(cells[i] for cells in scores[:kept]), clip(flags[i], flag_width)]
        for i in range(len(summary.placed))
    ]
    widths = [band_w, entry_w, *col_widths[:kept], flag_width]
    right = [True, False, *([True] * kept), False]
    lines = _table([header, *body], widths, right)
    lines.insert(1, "-" * min(width, max(map(len, lines))))
    notes = []
    if summary.columns:
        notes.append(
            f"Ranked by {summary.columns[0].title}; entries the paired tests cannot tell from their band's leader "
            "share its band (robex compare A --against B tests a pair). Brackets: 95% intervals."
        )
    if any(p.rank is None for p in summary.placed):
        notes.append("—: not ranked (why: under Flags); such records are listed after the ranked ones.")
    if summary.quick:
        notes.append("Quick-mode records, ranked among themselves only: never on the leaderboard.")
    if kept < len(titles):
        notes.append(f"Not shown (to fit {width} columns): {', '.join(titles[kept:])}; every score is on the site.")
    return "\n".join([*lines, *(_wrap(n, width) for n in notes)])


def _wrap(text: str, width: int) -> str:
    """``text`` broken at spaces into lines of at most ``width`` characters."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(lines)


def summary_table(
    records: Sequence[Record], infos: Mapping[str, ScoreInfo], *, width: int = WIDTH, alpha: float = 0.05
) -> str:
    """The summary of ``records`` (one table per track, tracks in name order; full and quick records apart)."""
    groups: dict[tuple[str, bool], list[Record]] = {}
    for r in records:
        groups.setdefault((r.track, r.quick), []).append(r)
    parts = []
    for (track, quick), recs in sorted(groups.items()):
        heading = f"{track}{' (quick mode)' if quick else ''}: {len(recs)} record{'s' if len(recs) != 1 else ''}"
        parts.append(heading + "\n" + track_table(track_summary(track, recs, infos, alpha), width))
    return "\n\n".join(parts)
