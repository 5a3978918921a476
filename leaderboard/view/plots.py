"""Line plots of ``details[<stage>]["curves"]`` as SVG geometry (ticks from matplotlib.ticker), sized from their
text: titles and axis labels wrap to the figure's width and the margins grow to hold them, so nothing is clipped.

A stage whose details hold ``"chance"`` (a number; ``"num_classes"`` K beside it) gets a labelled horizontal
chance line on each of its curves (``1/K`` for the ARA stage's accuracy curves)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from matplotlib.ticker import MaxNLocator

from bench.results.records import Record
from leaderboard.view.svgtext import text_width, wrap
from leaderboard.view.text import finite_number, sections

TITLE_SIZE, LABEL_SIZE = 12.0, 10.0
TITLE_LINE, LABEL_LINE = 15.0, 12.0
PAD = 6.0
BOX_HEIGHT = 160.0


@dataclass(frozen=True)
class Tick:
    """An axis tick: position in SVG units and its label."""

    pos: float
    label: str


@dataclass(frozen=True)
class TextLine:
    """One line of text at ``(x, y)`` (its baseline); ``anchor`` start, middle or end; ``rotate`` −90 for the
    y label (then ``x, y`` is the rotation centre); ``title`` for the bold title font."""

    text: str
    x: float
    y: float
    anchor: str = "start"
    rotate: bool = False
    title: bool = False

    @property
    def size(self) -> float:
        """Font size in px (the stylesheet's: 12 for titles, 10 otherwise)."""
        return TITLE_SIZE if self.title else LABEL_SIZE


@dataclass(frozen=True)
class RefLine:
    """A labelled horizontal reference line (e.g. chance) at SVG height ``y``."""

    y: float
    label: TextLine


@dataclass(frozen=True)
class Plot:
    """An SVG line plot: the plot box, polylines (split at missing values), the axes' ticks and every text line
    (title, axis labels) already wrapped and placed."""

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
    texts: tuple[TextLine, ...] = ()
    refs: tuple[RefLine, ...] = ()


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


def chance_label(chance: float, classes: int | None) -> str:
    """The legend of a chance line.

    >>> chance_label(0.1, 10), chance_label(0.25, None)
    ('chance 1/K = 0.1 (K = 10 classes)', 'chance = 0.25')
    """
    if classes:
        return f"chance 1/K = {chance:.3g} (K = {classes} classes)"
    return f"chance = {chance:.3g}"


def text_box(t: TextLine) -> tuple[float, float, float, float]:
    """``(x0, y0, x1, y1)`` that a text line covers (ascent 0.8 and descent 0.25 of the font size)."""
    w, size = text_width(t.text, t.size, t.title), t.size
    if t.rotate:  # rotated −90° about (x, y): runs upwards, baseline vertical at x
        y0 = {"start": t.y - w, "middle": t.y - w / 2, "end": t.y}[t.anchor]
        return (t.x - 0.8 * size, y0, t.x + 0.25 * size, y0 + w)
    x0 = {"start": t.x, "middle": t.x - w / 2, "end": t.x - w}[t.anchor]
    return (x0, t.y - 0.8 * size, x0 + w, t.y + 0.25 * size)


def tick_texts(p: Plot) -> list[TextLine]:
    """The tick labels of a plot as text lines (y labels right-aligned left of the box, x labels under it)."""
    return [TextLine(t.label, round(p.left - 4, 2), round(t.pos + 3, 2), "end") for t in p.yticks] + [
        TextLine(t.label, t.pos, round(p.bottom + 13, 2), "middle") for t in p.xticks
    ]


def text_boxes(p: Plot) -> list[tuple[str, tuple[float, float, float, float]]]:
    """Every text of a plot with the box it covers (the test that nothing is clipped reads these)."""
    lines = [*p.texts, *tick_texts(p), *(r.label for r in p.refs)]
    return [(t.text, text_box(t)) for t in lines]


def line_plot(
    key: str,
    curve: Mapping[str, Any],
    width: int = 380,
    chance: float | None = None,
    classes: int | None = None,
) -> Plot | None:
    """Geometry of one ``details[<stage>]["curves"][key]`` curve, or ``None`` when it is malformed; ``chance``
    adds a labelled reference line at that height."""
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
    if chance is not None:
        y_lo, y_hi = min(y_lo, chance), max(y_hi, chance)
    xt, yt = nice_ticks(x_lo, x_hi), nice_ticks(y_lo, y_hi)
    title, xlabel, ylabel = (
        str(curve.get("title") or key),
        str(curve.get("xlabel") or ""),
        str(curve.get("ylabel") or ""),
    )
    xl, yl = [_tick_label(v) for v in xt], [_tick_label(v) for v in yt]

    inner = width - 2 * PAD
    title_lines = wrap(title, inner, TITLE_SIZE, bold=True)
    ylabel_lines = wrap(ylabel, BOX_HEIGHT, LABEL_SIZE)
    ytick_width = max(text_width(v, LABEL_SIZE) for v in yl)
    top = PAD + len(title_lines) * TITLE_LINE + 8
    left = PAD + len(ylabel_lines) * LABEL_LINE + ytick_width + 8
    right = width - PAD - max(PAD, text_width(xl[-1], LABEL_SIZE) / 2)
    bottom = top + BOX_HEIGHT
    xlabel_lines = wrap(xlabel, right - left, LABEL_SIZE)  # centred under the box, as wide as it
    height = int(bottom + 16 + len(xlabel_lines) * LABEL_LINE + PAD)

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

    texts = [TextLine(line, PAD, round(PAD + 11 + i * TITLE_LINE, 2), title=True) for i, line in enumerate(title_lines)]
    centre_x, centre_y = round((left + right) / 2, 2), round((top + bottom) / 2, 2)
    texts += [
        TextLine(line, centre_x, round(bottom + 28 + i * LABEL_LINE, 2), "middle")
        for i, line in enumerate(xlabel_lines)
    ]
    texts += [
        TextLine(line, round(PAD + 9 + i * LABEL_LINE, 2), centre_y, "middle", rotate=True)
        for i, line in enumerate(ylabel_lines)
    ]
    refs: list[RefLine] = []
    if chance is not None:
        y = sy(chance)
        label_y = y - 3 if y - 3 - 0.8 * LABEL_SIZE >= top else y + 0.8 * LABEL_SIZE + 3
        refs.append(RefLine(y, TextLine(chance_label(chance, classes), round(right - 4, 2), round(label_y, 2), "end")))
    return Plot(
        key=key,
        title=title,
        xlabel=xlabel,
        ylabel=ylabel,
        width=width,
        height=height,
        left=round(left, 2),
        top=round(top, 2),
        right=round(right, 2),
        bottom=round(bottom, 2),
        segments=tuple(segments),
        markers=markers,
        xticks=tuple(Tick(sx(v), lab) for v, lab in zip(xt, xl, strict=True)),
        yticks=tuple(Tick(sy(v), lab) for v, lab in zip(yt, yl, strict=True)),
        points=len(good),
        texts=tuple(texts),
        refs=tuple(refs),
    )


def _chance(sec: Mapping[str, Any]) -> tuple[float | None, int | None]:
    chance = finite_number(sec.get("chance"))
    classes = sec.get("num_classes")
    ok = chance is not None and 0.0 < chance < 1.0
    return (chance if ok else None), (classes if ok and isinstance(classes, int) and classes > 1 else None)


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
        chance, classes = _chance(sec)
        group = []
        for key, curve in sorted(curves.items()):
            p = (
                line_plot(f"{stage}-{key}", curve, chance=chance, classes=classes)
                if isinstance(curve, Mapping)
                else None
            )
            if p is None:
                problems.append(f"details.{stage}.curves.{key}: needs x and y lists of numbers of equal length")
            else:
                group.append(p)
        if group:
            out.append((stage, group))
    return out
