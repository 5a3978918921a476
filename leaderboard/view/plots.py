"""Line plots of ``details[<stage>]["curves"]`` as SVG geometry (ticks from matplotlib.ticker)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from matplotlib.ticker import MaxNLocator

from bench.results.records import Record
from leaderboard.view.text import finite_number, sections


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
    pairs = [(finite_number(x), finite_number(y)) for x, y in zip(xs, ys, strict=True)]
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
