"""The leaderboard's view model: records → tables, rows, columns, ranks, badges, plots, heatmaps.

Pure functions of the records and the score metadata (no templates, no files, no clock), so the site is a
deterministic function of ``leaderboard/results``. Everything is rendered *generically*: columns come from
score metadata (:class:`~bench.results.scores.ScoreInfo`), plots from ``details[<stage>]["curves"]``, image grids
from ``details[<stage>]["gallery"]``, small tables from ``details[<stage>]["table"]`` and the transfer
row/column/heatmap from ``details["transfer"]`` (the cross-team conventions); no stage or score is named
here except the default sort order (:data:`bench.results.ranking.DEFAULT_SORT`).

Every string that comes from a record stays a plain ``str`` here; the templates escape it (jinja2
autoescape). URLs become links only when they are http(s) (:func:`safe_url`).
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from matplotlib.ticker import MaxNLocator

from bench.results import Unit
from bench.results.compare import compare_records
from bench.results.compare_text import format_p
from bench.results.places import TrackInfo
from bench.results.ranking import Ranked, ranking, sort_score
from bench.results.records import Record, ReferenceRecord
from bench.results.scores import ScoreInfo, info_for, ordered_scores

log = logging.getLogger(__name__)

SLUG = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_IMAGE_BYTES = 512 * 1024
HEAT_LEVELS = 10


# ------------------------------------------------------------------------------------------ small helpers
def slug(name: str) -> str:
    """A file-name-safe form of an entry or track name: the name itself when it is a slug, else a hash.

    >>> slug("pgd_at"), slug("../../etc/passwd")
    ('pgd_at', 'x-3754d6cb3a38')
    """
    if SLUG.match(name):
        return name
    return "x-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]


def safe_url(url: str) -> str:
    """``url`` when it is an http(s) URL with a host and no whitespace or control characters, else ``""``.

    >>> safe_url("https://arxiv.org/abs/1706.06083"), safe_url("javascript:alert(1)"), safe_url("http:/x")
    ('https://arxiv.org/abs/1706.06083', '', '')
    """
    text = url.strip()
    if not text or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        return ""
    try:
        parts = urlsplit(text)
    except ValueError:
        return ""
    return text if parts.scheme.lower() in ("http", "https") and parts.netloc else ""


def interval_text(record: Record, info: ScoreInfo) -> str:
    """``95% CI low–high, n = N`` (or just ``n = N``) for a score's tooltip."""
    s = record.scores.get(info.name)
    if s is None:
        return ""
    n = f"n = {s.n}"
    if s.ci_low is None or s.ci_high is None:
        return n
    return f"95% CI {info.unit.text(s.ci_low)} – {info.unit.text(s.ci_high)}, {n}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _scalar_text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else "—"
    if isinstance(value, str | int | bool):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)


def sections(record: Record) -> list[tuple[str, Mapping[str, Any]]]:
    """``(stage, details)`` pairs of a record whose details are mappings, sorted by stage name."""
    return [(k, v) for k, v in sorted(record.details.items()) if isinstance(v, Mapping)]


# ------------------------------------------------------------------------------------------ tracks and tables
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
        cells = tuple(
            Cell(
                c.info.unit.text(r.score(c.info.name)),
                "" if r.score(c.info.name) is None else repr(float(r.score(c.info.name))),  # type: ignore[arg-type]
                interval_text(r, c.info),
                *reference_note(r, c.info),
            )
            for c in columns
        )
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


# ------------------------------------------------------------------------------------------ plots (inline SVG)
@dataclass(frozen=True)
class Tick:
    """An axis tick: position in SVG units and its label."""

    pos: float
    label: str


@dataclass(frozen=True)
class Plot:
    """An SVG line plot: the plot box, polylines (split at missing values) and the axes' ticks."""

    key: str
    title: str
    xlabel: str
    ylabel: str
    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    segments: tuple[str, ...]
    markers: tuple[tuple[float, float], ...]
    xticks: tuple[Tick, ...]
    yticks: tuple[Tick, ...]
    points: int


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[lo, hi]`` (steps of 1, 2 or 5 × 10^k, at most ``count`` intervals), from
    :class:`matplotlib.ticker.MaxNLocator`.

    >>> nice_ticks(0.0, 1.0)
    [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    >>> nice_ticks(0.0, 0.3)
    [0.0, 0.1, 0.2, 0.3]
    """
    if not hi > lo:
        hi = lo + 1.0
    ticks = MaxNLocator(nbins=count, steps=[1, 2, 5, 10]).tick_values(lo, hi)
    return [round(float(v), 12) for v in ticks]


def _tick_label(v: float) -> str:
    text = f"{v:.6g}"
    return "0" if text in ("-0", "0") else text


def line_plot(key: str, curve: Mapping[str, Any], width: int = 360, height: int = 230) -> Plot | None:
    """Geometry of one ``details[<stage>]["curves"][key]`` curve, or ``None`` when it is malformed."""
    xs, ys = curve.get("x"), curve.get("y")
    if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys) or not xs:
        return None
    pairs = [(_number(x), _number(y)) for x, y in zip(xs, ys, strict=True)]
    good = [(x, y) for x, y in pairs if x is not None and y is not None]
    if not good:
        return None
    x_lo, x_hi = min(x for x, _ in good), max(x for x, _ in good)
    y_lo, y_hi = min(y for _, y in good), max(y for _, y in good)
    y_lo = min(0.0, y_lo)
    xt, yt = nice_ticks(x_lo, x_hi), nice_ticks(y_lo, y_hi)
    left, top, right, bottom = 56.0, 28.0, width - 14.0, height - 42.0

    def sx(x: float) -> float:
        return round(left + (x - xt[0]) / (xt[-1] - xt[0]) * (right - left), 2)

    def sy(y: float) -> float:
        return round(bottom - (y - yt[0]) / (yt[-1] - yt[0]) * (bottom - top), 2)

    segments: list[str] = []
    current: list[str] = []
    for x, y in pairs:
        if x is None or y is None:
            if current:
                segments.append(" ".join(current))
            current = []
            continue
        current.append(f"{sx(x)},{sy(y)}")
    if current:
        segments.append(" ".join(current))
    markers = tuple((sx(x), sy(y)) for x, y in good) if len(good) <= 40 else ()
    return Plot(
        key=key,
        title=str(curve.get("title") or key),
        xlabel=str(curve.get("xlabel") or ""),
        ylabel=str(curve.get("ylabel") or ""),
        width=width,
        height=height,
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        segments=tuple(segments),
        markers=markers,
        xticks=tuple(Tick(sx(v), _tick_label(v)) for v in xt),
        yticks=tuple(Tick(sy(v), _tick_label(v)) for v in yt),
        points=len(good),
    )


# ------------------------------------------------------------------------------------------ galleries, tables
@dataclass(frozen=True)
class Image:
    """A gallery image: its label and a ``data:`` URL of a verified PNG."""

    label: str
    src: str


@dataclass(frozen=True)
class Gallery:
    """A captioned row of images from ``details[<stage>]["gallery"]``."""

    stage: str
    caption: str
    images: tuple[Image, ...]


@dataclass(frozen=True)
class DetailTable:
    """A small table from ``details[<stage>]["table"]``."""

    stage: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def png_data_url(text: Any) -> str | None:
    """``data:image/png;base64,...`` when ``text`` is base64 of a PNG (checked by its signature), else ``None``."""
    if not isinstance(text, str) or len(text) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(PNG_SIGNATURE):
        return None
    return "data:image/png;base64," + base64.b64encode(raw).decode("ascii")


def galleries(record: Record, problems: list[str]) -> list[Gallery]:
    """Every well-formed gallery row of a record; malformed ones are reported in ``problems``."""
    out: list[Gallery] = []
    for stage, sec in sections(record):
        rows = sec.get("gallery")
        if rows is None:
            continue
        if not isinstance(rows, list):
            problems.append(f"details.{stage}.gallery is not a list")
            continue
        for i, row in enumerate(rows):
            if not isinstance(row, Mapping) or not isinstance(row.get("images"), list):
                problems.append(f"details.{stage}.gallery[{i}] has no image list")
                continue
            images = []
            for j, img in enumerate(row["images"]):
                src = png_data_url(img.get("png")) if isinstance(img, Mapping) else None
                if src is None:
                    problems.append(f"details.{stage}.gallery[{i}].images[{j}] is not a base64 PNG")
                    continue
                images.append(Image(str(img.get("label", "")), src))
            out.append(Gallery(stage, str(row.get("caption", "")), tuple(images)))
    return out


def detail_tables(record: Record, problems: list[str]) -> list[DetailTable]:
    """Every ``details[<stage>]["table"]`` (columns in first-appearance order)."""
    out = []
    for stage, sec in sections(record):
        rows = sec.get("table")
        if rows is None:
            continue
        if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
            problems.append(f"details.{stage}.table is not a list of rows")
            continue
        columns: list[str] = []
        for r in rows:
            columns.extend(str(k) for k in r if str(k) not in columns)
        body = tuple(tuple(_scalar_text(r.get(c)) for c in columns) for r in rows)
        out.append(DetailTable(stage, tuple(columns), body))
    return out


def plots(record: Record, problems: list[str]) -> list[tuple[str, list[Plot]]]:
    """Every ``details[<stage>]["curves"]`` as plots, grouped by stage."""
    out = []
    for stage, sec in sections(record):
        curves = sec.get("curves")
        if curves is None:
            continue
        if not isinstance(curves, Mapping):
            problems.append(f"details.{stage}.curves is not a mapping")
            continue
        group = []
        for key, curve in sorted(curves.items()):
            p = line_plot(f"{stage}-{key}", curve) if isinstance(curve, Mapping) else None
            if p is None:
                problems.append(f"details.{stage}.curves.{key}: needs x and y lists of numbers of equal length")
            else:
                group.append(p)
        if group:
            out.append((stage, group))
    return out


# ------------------------------------------------------------------------------------------ transfer
@dataclass(frozen=True)
class HeatCell:
    """One (source, target) accuracy of the transfer matrix."""

    text: str
    level: int | None
    tooltip: str


@dataclass(frozen=True)
class Heatmap:
    """A track's transfer matrix: rows are sources (where examples were crafted), columns targets."""

    attack: str
    eps: str
    names: tuple[str, ...]
    links: tuple[str, ...]
    columns: tuple[str, ...]
    column_links: tuple[str, ...]
    rows: tuple[tuple[HeatCell, ...], ...]

    @property
    def empty(self) -> bool:
        """Whether no record holds transfer results."""
        return not self.names


def transfer_matrix(records: Sequence[Record]) -> tuple[dict[tuple[str, str], float], str, str]:
    """``{(source, target): accuracy}`` from every record's ``details["transfer"]`` (a target's own
    ``as_target`` wins over a source's ``as_source``), with the attack and ε they state."""
    matrix: dict[tuple[str, str], float] = {}
    attack, eps = "", ""
    for r in records:
        t = r.details.get("transfer")
        if not isinstance(t, Mapping):
            continue
        attack = attack or str(t.get("attack") or "")
        if not eps and t.get("eps") is not None:
            eps = _scalar_text(t.get("eps"))
        as_source = t.get("as_source")
        if isinstance(as_source, Mapping):
            for target, v in as_source.items():
                if _number(v) is not None:
                    matrix.setdefault((r.name, str(target)), float(v))
    for r in records:
        t = r.details.get("transfer")
        as_target = t.get("as_target") if isinstance(t, Mapping) else None
        if isinstance(as_target, Mapping):
            for source, v in as_target.items():
                if _number(v) is not None:
                    matrix[(str(source), r.name)] = float(v)
    return matrix, attack, eps


def heat_level(value: float) -> int:
    """Colour bucket 0..HEAT_LEVELS of an accuracy in [0, 1].

    >>> heat_level(0.0), heat_level(0.55), heat_level(1.0)
    (0, 6, 10)
    """
    return max(0, min(HEAT_LEVELS, round(value * HEAT_LEVELS)))


def heatmap(records: Sequence[Record], order: Sequence[str]) -> Heatmap:
    """The transfer heatmap of a track's records (entries in ``order`` first, other sources after)."""
    matrix, attack, eps = transfer_matrix(records)
    if not matrix:
        return Heatmap(attack, eps, (), (), (), (), ())
    pages = {r.name: page_path(r) for r in records}
    involved = {s for s, _ in matrix} | {t for _, t in matrix}
    names = [n for n in order if n in involved] + sorted(involved - set(order))
    sources = [n for n in names if any((n, t) in matrix for t in names)]
    targets = [n for n in names if any((s, n) in matrix for s in names)]
    rows = []
    for s in sources:
        cells = []
        for t in targets:
            v = matrix.get((s, t))
            tip = f"crafted on {s}, evaluated on {t}"
            cells.append(
                HeatCell(Unit.FRACTION.text(v), None, tip)
                if v is None
                else HeatCell(Unit.FRACTION.text(v), heat_level(v), f"{tip}: accuracy {Unit.FRACTION.text(v)}")
            )
        rows.append(tuple(cells))
    return Heatmap(
        attack,
        eps,
        tuple(sources),
        tuple(pages.get(s, "") for s in sources),
        tuple(targets),
        tuple(pages.get(t, "") for t in targets),
        tuple(rows),
    )


@dataclass(frozen=True)
class TransferLine:
    """One line of an entry's transfer row or column."""

    name: str
    href: str
    text: str
    level: int


def transfer_lines(
    matrix: Mapping[tuple[str, str], float], name: str, pages: Mapping[str, str]
) -> tuple[list[TransferLine], list[TransferLine]]:
    """An entry's transfer column (it as target, by source) and row (it as source, by target)."""
    by_target, by_source = index_matrix(matrix)
    return _lines(by_target.get(name, {}), pages), _lines(by_source.get(name, {}), pages)


def index_matrix(
    matrix: Mapping[tuple[str, str], float],
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """``({target: {source: v}}, {source: {target: v}})`` of a transfer matrix."""
    by_target: dict[str, dict[str, float]] = {}
    by_source: dict[str, dict[str, float]] = {}
    for (s, t), v in matrix.items():
        by_target.setdefault(t, {})[s] = v
        by_source.setdefault(s, {})[t] = v
    return by_target, by_source


def _lines(values: Mapping[str, float], pages: Mapping[str, str]) -> list[TransferLine]:
    return [TransferLine(k, pages.get(k, ""), Unit.FRACTION.text(v), heat_level(v)) for k, v in sorted(values.items())]


# ------------------------------------------------------------------------------------------ badge
@dataclass(frozen=True)
class BadgeSvg:
    """A copy-paste badge: text, geometry, the SVG's path and the markdown snippet."""

    label: str
    message: str
    color: str
    label_width: int
    message_width: int
    path: str
    markdown: str

    @property
    def width(self) -> int:
        """Total width in pixels."""
        return self.label_width + self.message_width


BADGE_COLORS: Mapping[str, str] = {"ranked": "#2e7d32", "unranked": "#757575", "flagged": "#c62828"}


def _text_width(text: str) -> int:
    return 10 + round(6.6 * len(text))


def badge(placed: Ranked, total: int, sort_info: ScoreInfo | None, base_url: str = "") -> BadgeSvg:
    """The badge of a placed record: "robex <track> | <score> <value> · #rank/total"."""
    r = placed.record
    label = f"robex {r.track}"
    value = r.score(sort_info.name) if sort_info else None
    parts = [f"{sort_info.title} {sort_info.unit.text(value)}"] if sort_info and value is not None else []
    if placed.rank is not None:
        parts.append(f"#{placed.rank}/{total}")
        status = "ranked"
    else:
        parts.append("not ranked")
        status = "flagged" if placed.reason.startswith(("flagged", "failed")) else "unranked"
    message = " · ".join(parts)
    svg_path = f"{slug(r.track)}/{slug(r.name)}{'.quick' if r.quick else ''}.svg"
    markdown = f"[![{label}: {message}]({base_url}{svg_path})]({base_url}{page_path(r)})"
    return BadgeSvg(label, message, BADGE_COLORS[status], _text_width(label), _text_width(message), svg_path, markdown)


# ------------------------------------------------------------------------------------------ entry page
@dataclass(frozen=True)
class ScoreLine:
    """A score on an entry page."""

    info: ScoreInfo
    arrow: str
    text: str
    interval: str
    claimed: str
    claimed_delta: str
    reference: ReferenceRecord | None = None
    reference_text: str = ""
    reference_gap: str = ""


@dataclass(frozen=True)
class FlagView:
    """A sanity flag with its explanation and evidence."""

    name: str
    severity: str
    message: str
    evidence: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class EntryPage:
    """Everything an entry's page shows."""

    record: Record
    path: str
    paper_url: str
    card_url: str
    rank: str
    total: int
    reason: str
    sort_title: str
    badges: tuple[Badge, ...]
    score_groups: tuple[tuple[str, tuple[ScoreLine, ...]], ...]
    claimed_unknown: tuple[tuple[str, str], ...]
    flags: tuple[FlagView, ...]
    plots: tuple[tuple[str, tuple[Plot, ...]], ...]
    transfer_column: tuple[TransferLine, ...]
    transfer_row: tuple[TransferLine, ...]
    transfer_attack: str
    transfer_eps: str
    galleries: tuple[Gallery, ...]
    tables: tuple[DetailTable, ...]
    hyperparameters: tuple[tuple[str, str], ...]
    card: tuple[tuple[str, str], ...]
    provenance: tuple[tuple[str, str], ...]
    packages: tuple[tuple[str, str], ...]
    stages: tuple[tuple[str, str, str, str], ...]
    errors: tuple[tuple[str, str], ...]
    problems: tuple[str, ...]
    badge: BadgeSvg


def score_lines(record: Record, infos: Mapping[str, ScoreInfo]) -> tuple[tuple[str, tuple[ScoreLine, ...]], ...]:
    """Every score of a record (primary or not), grouped by category in column order."""
    groups: dict[str, list[ScoreLine]] = {}
    for info in ordered_scores(record.scores, infos):
        value = record.score(info.name)
        claimed = record.entry.claimed.get(info.name)
        delta = "" if claimed is None or value is None else info.unit.difference_text(value - claimed)
        found = reference_gap(record, info)
        ref, gap = found if found is not None else (None, None)
        groups.setdefault(info.category, []).append(
            ScoreLine(
                info,
                info.arrow,
                info.unit.text(value),
                interval_text(record, info),
                info.unit.text(claimed) if claimed is not None else "",
                delta,
                ref,
                info.unit.text(ref.value) if ref is not None else "",
                info.unit.difference_text(gap) if gap is not None else "",
            )
        )
    return tuple((k, tuple(v)) for k, v in groups.items())


def _pairs(mapping: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), _scalar_text(v)) for k, v in sorted(mapping.items()))


def entry_page(
    placed: Ranked,
    total: int,
    infos: Mapping[str, ScoreInfo],
    sort: str | None,
    transfer: tuple[Mapping[str, Mapping[str, float]], Mapping[str, Mapping[str, float]]],
    transfer_meta: tuple[str, str],
    pages: Mapping[str, str],
    base_url: str = "",
) -> EntryPage:
    """The page of one record (``transfer``: the track's matrix indexed by :func:`index_matrix`)."""
    r = placed.record
    problems: list[str] = []
    sort_info = info_for(sort, infos) if sort else None
    column, row = _lines(transfer[0].get(r.name, {}), pages), _lines(transfer[1].get(r.name, {}), pages)
    card = dict(r.entry.card)
    card_url = safe_url(str(card.pop("url", "") or ""))
    p = r.provenance
    provenance = (
        ("seed", str(p.seed)),
        ("track version", p.track_version),
        ("track sha256", p.track_sha256),
        ("evaluation subset sha256", p.subset_sha256),
        ("weights sha256", p.checkpoint_sha256 or "—"),
        ("artifact sha256", p.artifact_sha256 or "—"),
        ("entry code isolated by", p.isolation or "— (no entry code)"),
        ("device", p.device or "—"),
    )
    stages = tuple(
        (
            s,
            f"{p.wall_time_s[s]:.1f} s" if s in p.wall_time_s else "—",
            str(p.images[s]) if s in p.images else "—",
            p.cell_keys.get(s, "—"),
        )
        for s in sorted(set(p.wall_time_s) | set(p.images) | set(p.cell_keys))
    )
    claimed_unknown = tuple((k, _scalar_text(v)) for k, v in sorted(r.entry.claimed.items()) if k not in r.scores)
    return EntryPage(
        record=r,
        path=page_path(r),
        paper_url=safe_url(r.entry.paper_url),
        card_url=card_url,
        rank=str(placed.rank) if placed.rank is not None else "—",
        total=total,
        reason=placed.reason,
        sort_title=sort_info.title if sort_info else "",
        badges=flag_badges(r),
        score_groups=score_lines(r, infos),
        claimed_unknown=claimed_unknown,
        flags=tuple(
            FlagView(f.name, f.severity, f.message, tuple((k, f"{v:.4g}") for k, v in sorted(f.evidence.items())))
            for f in sorted(r.flags, key=lambda f: ({"fail": 0, "warn": 1}.get(f.severity, 2), f.name))
        ),
        plots=tuple((stage, tuple(ps)) for stage, ps in plots(r, problems)),
        transfer_column=tuple(column),
        transfer_row=tuple(row),
        transfer_attack=transfer_meta[0],
        transfer_eps=transfer_meta[1],
        galleries=tuple(galleries(r, problems)),
        tables=tuple(detail_tables(r, problems)),
        hyperparameters=_pairs(r.entry.hyperparameters),
        card=_pairs(card),
        provenance=provenance,
        packages=_pairs(p.packages),
        stages=stages,
        errors=tuple(sorted(r.errors.items())),
        problems=tuple(problems),
        badge=badge(placed, total, sort_info, base_url),
    )


# ------------------------------------------------------------------------------------------ comparison page
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


# ------------------------------------------------------------------------------------------ the whole site
@dataclass(frozen=True)
class TrackView:
    """One track: its index table, pages, heatmap and comparison page."""

    name: str
    slug: str
    info: TrackInfo | None
    version: str
    sort_title: str
    table: Table
    heatmap: Heatmap
    compare: ComparePage
    pages: tuple[EntryPage, ...]
    placed: tuple[Ranked, ...]


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
    table = build_table(placed, infos, sort=sort)
    matrix, attack, eps = transfer_matrix(records)
    pages_by_name = {r.name: page_path(r) for r in records}
    ranked_total = sum(1 for p in placed if p.rank is not None)
    indexed = index_matrix(matrix)
    pages = tuple(
        entry_page(p, ranked_total, infos, sort, indexed, (attack, eps), pages_by_name, base_url) for p in placed
    )
    empty_compare = ComparePage(build_table((), infos, sort=None), "", "", (), (), (), alpha)
    versions = sorted({r.provenance.track_version for r in records})
    return TrackView(
        name=track,
        slug=slug(track),
        info=track_info,
        version=", ".join(versions),
        sort_title=info_for(sort, infos).title if sort else "",
        table=table,
        heatmap=heatmap(records, [p.record.name for p in placed]),
        compare=compare_page(placed, infos, sort, alpha) if with_compare else empty_compare,
        pages=pages,
        placed=tuple(placed),
    )


def build_site(
    records: Iterable[Record],
    infos: Mapping[str, ScoreInfo],
    track_infos: Mapping[str, TrackInfo] | None = None,
    *,
    alpha: float = 0.05,
    base_url: str = "",
) -> Site:
    """The view of every record: full-run records by track; quick-mode records apart (never ranked)."""
    all_records = sorted(records, key=lambda r: (r.track, r.name, r.quick))
    track_infos = track_infos or {}
    full: dict[str, list[Record]] = {}
    quick: dict[str, list[Record]] = {}
    for r in all_records:
        (quick if r.quick else full).setdefault(r.track, []).append(r)
    tracks = tuple(
        track_view(t, rs, infos, track_infos.get(t), alpha=alpha, base_url=base_url) for t, rs in sorted(full.items())
    )
    quicks = tuple(
        track_view(t, rs, infos, track_infos.get(t), alpha=alpha, base_url=base_url, with_compare=False)
        for t, rs in sorted(quick.items())
    )
    return Site(tracks, quicks, dict(infos))


# ------------------------------------------------------------------------------------------ csv / json
CSV_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_text_cell(text: str) -> str:
    """Text for a CSV cell, with a leading ``'`` when a spreadsheet would read it as a formula (OWASP).

    >>> csv_text_cell("=HYPERLINK(1)"), csv_text_cell("PGD <b>")
    ("'=HYPERLINK(1)", 'PGD <b>')
    """
    return "'" + text if text.startswith(CSV_FORMULA_PREFIXES) else text


def _all_scores(site: Site) -> list[ScoreInfo]:
    names = {n for t in site.tracks for p in t.placed for n in p.record.scores}
    return ordered_scores(names, site.infos)


ENTRY_FIELDS = ("title", "authors", "venue", "paper_url", "license", "kind", "defense", "architecture")


def leaderboard_csv(site: Site) -> str:
    """``leaderboard.csv``: one row per full-run record; every score with its interval and image count."""
    scores = _all_scores(site)
    header = ["track", "rank", "entry", *ENTRY_FIELDS, "baseline", "status", "ranked", "not_ranked_reason", "flags"]
    for s in scores:
        header += [s.name, f"{s.name}_ci_low", f"{s.name}_ci_high", f"{s.name}_n"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for t in site.tracks:
        for p in t.placed:
            r = p.record
            entry = r.entry.model_dump()
            row: list[Any] = [
                csv_text_cell(r.track),
                "" if p.rank is None else p.rank,
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
        for p in t.placed:
            r = p.record
            entry = r.entry.model_dump()
            rows.append(
                {
                    "rank": p.rank,
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
                "columns": [c.info.__dict__ for c in t.table.columns],
                "entries": rows,
            }
        )
    return {"schema_version": 1, "source": "robex records (leaderboard/results)", "tracks": tracks}
