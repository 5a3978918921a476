"""Image galleries (``details[<stage>]["gallery"]``, verified PNGs) and small detail tables."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.results.records import Record
from leaderboard.view.text import scalar_text, sections

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


MAX_IMAGE_BYTES = 512 * 1024


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
        body = tuple(tuple(scalar_text(r.get(c)) for c in columns) for r in rows)
        out.append(DetailTable(stage, tuple(columns), body))
    return out
