"""The two-axis view: per track, an SVG scatter of a robustness headline (x) against an explanation headline
(y) for every pair of them, each point an entry with its interval bars and a link to its page, the Pareto front
drawn (:func:`bench.results.pareto.pareto_front`). Both axes are oriented so that better is right and up."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.results import Axis
from bench.results.pareto import pareto_front
from bench.results.ranking import Ranked
from bench.results.records import Record
from bench.results.scores import ScoreInfo
from leaderboard.view.plots import Tick, nice_ticks
from leaderboard.view.tables import page_path
from leaderboard.view.text import interval_text

WIDTH, HEIGHT = 1200, 500  # drawn at the page's width (CSS scales it down in narrower windows)
LEFT, RIGHT, TOP, BOTTOM = 78.0, WIDTH - 18.0, 16.0, HEIGHT - 50.0
CHAR_W, LINE_H = 7.8, 15.0  # label box estimate at 13 px (generous, so a label placed inside stays inside)
Segment = tuple[float, float, float, float]


@dataclass(frozen=True)
class Point:
    """An entry on the plot: position, interval bars (``None`` without an interval), label box and link."""

    name: str
    href: str
    cx: float
    cy: float
    x_bar: tuple[float, float] | None
    y_bar: tuple[float, float] | None
    label_x: float
    label_y: float
    anchor: str
    leader_line: bool
    tooltip: str
    on_front: bool


@dataclass(frozen=True)
class Scatter:
    """One pre-rendered (x, y) pair."""

    x: ScoreInfo
    y: ScoreInfo
    xticks: tuple[Tick, ...]
    yticks: tuple[Tick, ...]
    points: tuple[Point, ...]
    front: str
    missing: tuple[str, ...]
    width: int = WIDTH
    height: int = HEIGHT
    left: float = LEFT
    right: float = RIGHT
    top: float = TOP
    bottom: float = BOTTOM

    @property
    def title(self) -> str:
        """What the plot shows, for its accessible name."""
        return f"{self.y.title} against {self.x.title}"


@dataclass(frozen=True)
class TwoAxis:
    """Every scatter of a track and the choices of the two selects (first = shown by default)."""

    id: str
    x_options: tuple[ScoreInfo, ...]
    y_options: tuple[ScoreInfo, ...]
    plots: tuple[Scatter, ...]


def _scale(values: Sequence[float], lo_px: float, hi_px: float, higher: bool) -> tuple[list[float], float, float]:
    ticks = nice_ticks(min(values), max(values))
    t0, t1 = ticks[0], ticks[-1]
    a, b = (lo_px, hi_px) if higher else (hi_px, lo_px)
    return ticks, a, (b - a) / (t1 - t0) if t1 > t0 else 0.0


def _boxes_overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _label_box(x: float, y: float, anchor: str, text: str) -> tuple[float, float, float, float]:
    w = CHAR_W * len(text)
    x0 = {"start": x, "end": x - w, "middle": x - w / 2}[anchor]
    return (x0, y - LINE_H + 3, x0 + w, y + 3)


def _crosses(box: tuple[float, float, float, float], seg: Segment) -> bool:
    """Whether the segment ``(x0, y0, x1, y1)`` passes through ``box`` (clipped to it, Liang–Barsky)."""
    x0, y0, x1, y1 = seg
    dx, dy = x1 - x0, y1 - y0
    lo, hi = 0.0, 1.0
    for p, q in ((-dx, x0 - box[0]), (dx, box[2] - x0), (-dy, y0 - box[1]), (dy, box[3] - y0)):
        if p == 0:
            if q < 0:
                return False
            continue
        t = q / p
        if p < 0:
            lo = max(lo, t)
        else:
            hi = min(hi, t)
        if lo > hi:
            return False
    return True


def place_labels(
    points: Sequence[tuple[float, float, str]], lines: Sequence[Segment] = ()
) -> list[tuple[float, float, str, bool]]:
    """A label position per point (x, baseline y, text-anchor, whether it sits away from its point): the
    first candidate — right, left, above, below, then further up or down on either side — whose box stays
    inside the plot's frame and overlaps no label placed before, no point and no segment of ``lines`` (the
    Pareto front); when none is free, the inside candidate that crosses the fewest segments, then overlaps the
    fewest labels and points (a label across the front misreads the plot; one touching a neighbour does not)."""
    placed: list[tuple[float, float, float, float]] = []
    dots = [(x - 4, y - 4, x + 4, y + 4) for x, y, _ in points]
    out = []
    for x, y, text in points:
        candidates = [(x + 7, y + 4, "start", False), (x - 7, y + 4, "end", False)]
        candidates += [(x, y - 8, "middle", False), (x, y + 16, "middle", False)]
        for k in range(1, 8):
            for dy in (-k * LINE_H, k * LINE_H):
                candidates += [(x + 10, y + 4 + dy, "start", True), (x - 10, y + 4 + dy, "end", True)]
        for k in range(1, 8):  # last: further out sideways as well as up or down
            for dy in (-k * LINE_H, k * LINE_H):
                candidates += [(x + 40, y + 4 + dy, "start", True), (x - 40, y + 4 + dy, "end", True)]
        inside = []
        for cx, cy, anchor, away in candidates:
            box = _label_box(cx, cy, anchor, text)
            if box[0] < LEFT + 2 or box[2] > RIGHT - 2 or box[1] < TOP + 1 or box[3] > BOTTOM - 1:
                continue
            clashes = (
                sum(_crosses(box, seg) for seg in lines),
                sum(_boxes_overlap(box, other) for other in [*placed, *dots]),
            )
            inside.append((clashes, (cx, cy, anchor, away), box))
            if clashes == (0, 0):
                break
        if not inside:  # a name longer than the plot is wide: start it at the plot's left edge
            inside.append(((0, 0), (LEFT + 2, y, "start", True), _label_box(LEFT + 2, y, "start", text)))
        clashes, chosen, box = min(inside, key=lambda c: c[0])
        placed.append(box)
        out.append(chosen)
    return out


def _interval(r: Record, name: str) -> tuple[float, float] | None:
    s = r.scores.get(name)
    return None if s is None or s.ci_low is None or s.ci_high is None else (s.ci_low, s.ci_high)


def scatter(records: Sequence[Record], x: ScoreInfo, y: ScoreInfo, missing: Sequence[str] = ()) -> Scatter:
    """The plot of ``records`` (every one has both scores) on ``x`` and ``y``."""
    xs = [float(r.score(x.name)) for r in records]  # type: ignore[arg-type]
    ys = [float(r.score(y.name)) for r in records]  # type: ignore[arg-type]
    x_span = xs + [v for r in records for v in (_interval(r, x.name) or ())] or [0.0, 1.0]
    y_span = ys + [v for r in records for v in (_interval(r, y.name) or ())] or [0.0, 1.0]
    xt, x0, xk = _scale(x_span, LEFT + 8, RIGHT - 8, x.higher_is_better is not False)
    yt, y0, yk = _scale(y_span, BOTTOM - 8, TOP + 8, y.higher_is_better is not False)

    def sx(v: float) -> float:
        return round(x0 + (v - xt[0]) * xk, 2)

    def sy(v: float) -> float:
        return round(y0 + (v - yt[0]) * yk, 2)

    front = set(
        pareto_front(
            list(zip(xs, ys, strict=True)), x_higher=bool(x.higher_is_better), y_higher=bool(y.higher_is_better)
        )
    )
    ordered_front = sorted(front, key=lambda i: (sx(xs[i]), -sy(ys[i])))
    positions = [(sx(a), sy(b), r.name) for a, b, r in zip(xs, ys, records, strict=True)]
    corners = [positions[i][:2] for i in ordered_front]
    labels = place_labels(positions, [(*a, *b) for a, b in itertools.pairwise(corners)])
    points = []
    for i, r in enumerate(records):
        xi, yi = _interval(r, x.name), _interval(r, y.name)
        lx, ly, anchor, away = labels[i]
        tip = f"{r.name} — {r.entry.title}: {x.title} {x.text(xs[i])} ({interval_text(r, x) or 'no interval'}); "
        tip += f"{y.title} {y.text(ys[i])} ({interval_text(r, y) or 'no interval'})"
        points.append(
            Point(
                name=r.name,
                href=page_path(r),
                cx=positions[i][0],
                cy=positions[i][1],
                x_bar=None if xi is None else (sx(xi[0]), sx(xi[1])),
                y_bar=None if yi is None else (sy(yi[0]), sy(yi[1])),
                label_x=round(lx, 2),
                label_y=round(ly, 2),
                anchor=anchor,
                leader_line=away,
                tooltip=tip + (" — on the Pareto front" if i in front else ""),
                on_front=i in front,
            )
        )
    return Scatter(
        x=x,
        y=y,
        xticks=tuple(Tick(sx(v), x.text(v)) for v in xt),
        yticks=tuple(Tick(sy(v), y.text(v)) for v in yt),
        points=tuple(points),
        front=" ".join(f"{positions[i][0]},{positions[i][1]}" for i in ordered_front),
        missing=tuple(missing),
    )


def two_axis(
    view_id: str, placed: Sequence[Ranked], infos: Mapping[str, ScoreInfo], sort: str | None
) -> TwoAxis | None:
    """Every (robustness headline, explanation headline) scatter of the ranked records, the track's ranking
    score first on x; ``None`` when the records have no headline on one of the axes."""
    ranked = [p.record for p in placed if p.rank is not None]
    present = {n for r in ranked for n in r.scores}
    headlines = sorted((i for n, i in infos.items() if n in present and i.headline is not None), key=lambda i: i.order)
    xs = sorted((i for i in headlines if i.headline is Axis.ROBUSTNESS), key=lambda i: i.name != sort)
    ys = [i for i in headlines if i.headline is Axis.EXPLANATION]
    if not xs or not ys:
        return None
    plots = []
    for x in xs:
        for y in ys:
            have = [r for r in ranked if r.score(x.name) is not None and r.score(y.name) is not None]
            names = {r.name for r in have}
            lacking = [
                f"{r.name} (no {x.title if r.score(x.name) is None else y.title})"
                for r in ranked
                if r.name not in names
            ]
            plots.append(scatter(have, x, y, lacking))
    return TwoAxis(view_id, tuple(xs), tuple(ys), tuple(plots))
