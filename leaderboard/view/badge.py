"""The copy-paste SVG badge of an entry (its place on its track)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bench.results.ranking import Ranked
from bench.results.scores import ScoreInfo
from leaderboard.view.tables import page_path
from leaderboard.view.text import slug


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
