"""The site as ``leaderboard.csv`` and ``leaderboard.json`` (spreadsheet formulas neutralised)."""

from __future__ import annotations

import csv
import io
from typing import Any

from bench.results.scores import ScoreInfo, ordered_scores
from leaderboard.view.site import Site, TrackView
from leaderboard.view.tables import page_path

CSV_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_text_cell(text: str) -> str:
    """Text for a CSV cell, with a leading ``'`` when a spreadsheet would read it as a formula (OWASP).

    >>> csv_text_cell("=HYPERLINK(1)"), csv_text_cell("PGD <b>")
    ("'=HYPERLINK(1)", 'PGD <b>')
    """
    return "'" + text if text.startswith(CSV_FORMULA_PREFIXES) else text


def _bands(track: TrackView) -> dict[str, int]:
    """The significance band of each ranked entry of ``track`` (the index's)."""
    return {row.name: int(row.band) for row in track.index.ranked}


def _indistinct(track: TrackView) -> set[str]:
    """Ranked entries of ``track`` in a later band that the tests do not separate from the leader."""
    return {row.name for row in track.index.ranked if row.indistinct}


def _all_scores(site: Site) -> list[ScoreInfo]:
    names = {n for t in site.tracks for p in t.placed for n in p.record.scores}
    return ordered_scores(names, site.infos)


ENTRY_FIELDS = ("title", "authors", "venue", "paper_url", "license", "kind", "defense", "architecture")


def leaderboard_csv(site: Site) -> str:
    """``leaderboard.csv``: one row per full-run record; every score with its interval and image count."""
    scores = _all_scores(site)
    header = [
        "track",
        "rank",
        "band",
        "entry",
        *ENTRY_FIELDS,
        "baseline",
        "status",
        "ranked",
        "not_ranked_reason",
        "flags",
    ]
    for s in scores:
        header += [s.name, f"{s.name}_ci_low", f"{s.name}_ci_high", f"{s.name}_n"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for t in site.tracks:
        bands = _bands(t)
        for p in t.placed:
            r = p.record
            entry = r.entry.model_dump()
            row: list[Any] = [
                csv_text_cell(r.track),
                "" if p.rank is None else p.rank,
                bands.get(r.name, ""),
                csv_text_cell(r.name),
                *(csv_text_cell(str(entry.get(f) or "")) for f in ENTRY_FIELDS),
                r.entry.baseline,
                r.status,
                p.rank is not None,
                csv_text_cell(p.reason),
                csv_text_cell(";".join(f"{f.name}:{f.severity}" for f in r.flags)),
            ]
            for s in scores:
                v = r.scores.get(s.name)
                row += ["", "", "", ""] if v is None else [v.value, _blank(v.ci_low), _blank(v.ci_high), v.n]
            writer.writerow(row)
    return buf.getvalue()


def _blank(v: float | None) -> float | str:
    return "" if v is None else v


def leaderboard_json(site: Site) -> dict[str, Any]:
    """``leaderboard.json``: the same rows as the CSV, structured, with the columns' metadata."""
    tracks = []
    for t in site.tracks:
        rows = []
        bands, indistinct = _bands(t), _indistinct(t)
        for p in t.placed:
            r = p.record
            entry = r.entry.model_dump()
            rows.append(
                {
                    "rank": p.rank,
                    "band": bands.get(r.name),
                    "indistinct_from_leader": r.name in indistinct,
                    "ranked": p.rank is not None,
                    "not_ranked_reason": p.reason,
                    "entry": {"name": r.name, "baseline": r.entry.baseline, **{f: entry.get(f) for f in ENTRY_FIELDS}},
                    "status": r.status,
                    "scores": {k: v.model_dump() for k, v in sorted(r.scores.items())},
                    "flags": [f.model_dump() for f in r.flags],
                    "page": page_path(r),
                }
            )
        tracks.append(
            {
                "track": t.name,
                "track_version": t.version,
                "sort": t.table.sort,
                "bands": t.index.bands_text,
                "columns": [c.info.__dict__ for c in t.table.columns],
                "entries": rows,
            }
        )
    return {"schema_version": 1, "source": "robex records (leaderboard/results)", "tracks": tracks}
