"""Render the site from records: jinja2 with autoescape on; every entry-supplied string is escaped."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from bench.atomic import atomic_write_text
from bench.plugins import SCORES
from bench.records import Record, load_records


def environment() -> Environment:
    """The jinja2 environment (autoescape forced on for every template)."""
    return Environment(
        loader=PackageLoader("leaderboard", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_site(results_root: Path, out: Path) -> Path:
    """Write ``out/index.html`` from every record under ``results_root``; return its path."""
    records: list[Record] = load_records(results_root)
    specs = sorted((s for _, s in SCORES.items() if s.primary), key=lambda s: (s.order, s.name))
    tracks = sorted({r.track for r in records})
    tables = []
    for t in tracks:
        rows = [r for r in records if r.track == t]
        cols = [s for s in specs if any(s.name in r.scores for r in rows)]
        tables.append({"track": t, "columns": cols, "rows": rows})
    html = environment().get_template("index.html.j2").render(tables=tables)
    return atomic_write_text(Path(out) / "index.html", html)
