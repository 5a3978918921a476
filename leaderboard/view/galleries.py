"""Image galleries (``details[<stage>]["gallery"]``, verified PNGs) and small detail tables."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from matplotlib import colormaps

from bench.results.records import Record
from leaderboard.view.text import scalar_text, sections

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


MAX_IMAGE_BYTES = 512 * 1024
SCALE_STOPS = 11  # colours sampled along a colour bar's gradient
MIN_DISPLAY = 112  # px: a gallery image is scaled by a whole factor to at least this width (28 × 4)


@dataclass(frozen=True)
class Image:
    """A gallery image: its label and the bytes of a verified PNG, published once per site at :attr:`path`
    (named by its content, so an image shared by several pages or entries is one file)."""

    label: str
    png: bytes

    @property
    def path(self) -> str:
        """``img/<sha256 prefix>.png``, relative to the site root."""
        return f"img/{hashlib.sha256(self.png).hexdigest()[:24]}.png"

    @property
    def display(self) -> tuple[int, int]:
        """Width and height on the page: the PNG's own size (its IHDR chunk) times the smallest whole factor
        that makes it at least :data:`MIN_DISPLAY` px wide, so every pixel becomes an equal square block.

        >>> Image("", tiny_header(28, 28)).display, Image("", tiny_header(32, 32)).display
        ((112, 112), (128, 128))
        """
        width, height = int.from_bytes(self.png[16:20], "big"), int.from_bytes(self.png[20:24], "big")
        if width <= 0 or height <= 0:
            return MIN_DISPLAY, MIN_DISPLAY
        factor = max(1, -(-MIN_DISPLAY // width))
        return width * factor, height * factor


def tiny_header(width: int, height: int) -> bytes:
    """The first bytes of a PNG of ``width`` × ``height`` (signature and IHDR size fields), for examples."""
    return PNG_SIGNATURE + b"\x00\x00\x00\x0dIHDR" + width.to_bytes(4, "big") + height.to_bytes(4, "big")


@dataclass(frozen=True)
class ColourScale:
    """The colour bar of a row of maps: the colormap's colours from low to high and what the ends mean."""

    stops: tuple[tuple[str, str], ...]  # (offset in percent, #rrggbb)
    low: str
    high: str
    meaning: str


@dataclass(frozen=True)
class Gallery:
    """A captioned row of images from ``details[<stage>]["gallery"]`` (``scale``: its colour bar, for maps)."""

    stage: str
    caption: str
    images: tuple[Image, ...]
    scale: ColourScale | None = None


@dataclass(frozen=True)
class DetailTable:
    """A small table from ``details[<stage>]["table"]``."""

    stage: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def png_bytes(text: Any) -> bytes | None:
    """The PNG that ``text`` holds as base64 (checked by its signature and size), else ``None``."""
    if not isinstance(text, str) or len(text) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if raw.startswith(PNG_SIGNATURE) else None


def png_data_url(text: Any) -> str | None:
    """``data:image/png;base64,...`` when ``text`` is base64 of a PNG (checked by its signature), else ``None``."""
    raw = png_bytes(text)
    return None if raw is None else "data:image/png;base64," + base64.b64encode(raw).decode("ascii")


def colour_scale(scale: Any) -> ColourScale | None:
    """The colour bar of a gallery row's ``"scale"`` (``{"colormap": a matplotlib colormap name, "low": str,
    "high": str, "meaning": str}``), or ``None`` when it is missing or names no known colormap.

    >>> cs = colour_scale({"colormap": "inferno", "low": "0", "high": "max", "meaning": "relevance"})
    >>> cs.stops[0], cs.stops[-1], cs.low, cs.high
    (('0', '#000004'), ('100', '#fcffa4'), '0', 'max')
    >>> colour_scale({"colormap": "no such map"}) is None
    True
    """
    if not isinstance(scale, Mapping) or not isinstance(scale.get("colormap"), str):
        return None
    try:
        cmap = colormaps[scale["colormap"]]
    except KeyError:
        return None
    stops = []
    for i in range(SCALE_STOPS):
        r, g, b, _ = cmap(i / (SCALE_STOPS - 1))
        stops.append(
            (f"{100 * i / (SCALE_STOPS - 1):g}", f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}")
        )
    return ColourScale(
        tuple(stops), str(scale.get("low", "")), str(scale.get("high", "")), str(scale.get("meaning", ""))
    )


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
                raw = png_bytes(img.get("png")) if isinstance(img, Mapping) else None
                if raw is None:
                    problems.append(f"details.{stage}.gallery[{i}].images[{j}] is not a base64 PNG")
                    continue
                images.append(Image(str(img.get("label", "")), raw))
            scale = colour_scale(row.get("scale"))
            if row.get("scale") is not None and scale is None:
                problems.append(f"details.{stage}.gallery[{i}].scale names no known colormap")
            out.append(Gallery(stage, str(row.get("caption", "")), tuple(images), scale))
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
        body = tuple(tuple(scalar_text(r.get(c)) for c in columns) for r in rows)
        out.append(DetailTable(stage, tuple(columns), body))
    return out
