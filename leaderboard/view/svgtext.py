"""Text in the site's SVG figures: its width (measured with matplotlib's DejaVu Sans metrics, the font the SVG
asks for) and greedy wrapping to a width, so a figure is sized from its text and never clips it."""

from __future__ import annotations

from functools import cache

from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath

FONT_FAMILY = "DejaVu Sans"
SLACK = 1.08  # a browser falling back to a wider sans-serif still fits: every width is measured 8% wide


@cache
def _measurer() -> TextToPath:
    return TextToPath()


@cache
def text_width(text: str, size: float, bold: bool = False) -> float:
    """Width in SVG units (px) of ``text`` set in DejaVu Sans at ``size`` px, with :data:`SLACK`.

    >>> text_width("", 10)
    0.0
    >>> 40 < text_width("accuracy", 10) < 50
    True
    """
    if not text:
        return 0.0
    font = FontProperties(family=FONT_FAMILY, size=size, weight="bold" if bold else "normal")
    width, _, _ = _measurer().get_text_width_height_descent(text, font, ismath=False)
    return round(float(width) * SLACK, 2)


def wrap(text: str, width: float, size: float, bold: bool = False) -> tuple[str, ...]:
    """``text`` broken at spaces into lines no wider than ``width`` (a single word wider than ``width`` is broken
    between characters); ``()`` for empty text.

    >>> wrap("fraction of images with minimal radius", 100, 10)
    ('fraction of images', 'with minimal', 'radius')
    >>> all(text_width(line, 10) <= 40 for line in wrap("supercalifragilistic", 40, 10))
    True
    """
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if text_width(candidate, size, bold) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = word
        while text_width(current, size, bold) > width and len(current) > 1:
            cut = max(i for i in range(1, len(current)) if text_width(current[:i], size, bold) <= width or i == 1)
            lines.append(current[:cut])
            current = current[cut:]
    if current:
        lines.append(current)
    return tuple(lines)
