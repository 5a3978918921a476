"""Render the static site from the records alone: jinja2 with autoescape forced on, no compute, no network.

Output (deterministic: the same records give the same bytes)::

    index.html                 one sortable table per track (full runs only)
    claims.html                the five papers' claims tested on each track's records (leaderboard.claims)
    about.html                 every score (what it measures, direction, source paper) and every sanity flag
    quick.html                 quick-mode records, listed apart, never ranked (only when there are any)
    <track>/<entry>.html       a page per entry (scores, flags, curves, transfer, galleries, card, provenance)
    <track>/<entry>.svg        its copy-paste badge
    <track>/<entry>/<stage>.json every value of a stage's details (per-image results included), linked from the page
    <track>/_transfer.html     the track's transfer heatmap
    <track>/_explanations.html the track's explanation-metric agreement and explainer comparison
    <track>/_compare.html      the track's comparison page
    img/<sha256>.png           every gallery image, once (named by its content; pages link to it)
    leaderboard.csv, leaderboard.json

Every page inlines its CSS and JavaScript (it works from ``file://``) and carries a Content-Security-Policy
that allows only that exact script and stylesheet (by sha256) and images from the site itself (its ``img/``
folder; ``data:`` for the empty favicon), so even a string that slipped past escaping could not run code or load
anything from elsewhere. Gallery images are files, not inline ``data:`` URLs, so an image shown on an entry page
and on its track's comparison page is stored once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from bench.results import ScoreSpec
from bench.results.atomic import atomic_write_text, default_file_mode
from bench.results.places import TrackInfo, track_infos
from bench.results.records import Record, load_records
from bench.results.scores import ScoreInfo, score_infos
from bench.results.unicode_safety import neutralise
from leaderboard.claims import TrackClaims, build_claims
from leaderboard.view import Site, build_site, leaderboard_csv, leaderboard_json
from leaderboard.view.about import about_page
from leaderboard.view.explanations import explanations_page
from leaderboard.view.plots import tick_texts
from leaderboard.view.transfer import heat_legend

log = logging.getLogger(__name__)

MANIFEST = ".robex-site.json"


def environment() -> Environment:
    """The jinja2 environment: autoescape forced on for every template (``.html`` and ``.svg`` alike)."""
    env = Environment(
        loader=PackageLoader("leaderboard", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals["tick_texts"] = tick_texts
    env.globals["heat_legend"] = heat_legend
    return env


def _static(name: str) -> str:
    return (resources.files("leaderboard") / "static" / name).read_text(encoding="utf-8")


def _hash_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy(css: str, js: str) -> str:
    """A policy allowing exactly our inline stylesheet and script, the site's own images (``'self'``; ``file:``
    so a site opened from disk shows them in browsers that give every local file its own origin), ``data:``
    images, and nothing else."""
    return (
        f"default-src 'none'; script-src {_hash_source(js)}; style-src {_hash_source(css)}; "
        "img-src 'self' file: data:; base-uri 'none'; form-action 'none'"
    )


def replace_file(path: Path, text: str | bytes) -> None:
    """Replace ``path`` with ``text`` by writing a temporary file beside it and renaming it: readers see the
    old or the new file, never half of one. (Unlike :func:`bench.results.atomic.atomic_write_text` it does not fsync;
    hundreds of fsyncs dominated rendering time and the site can always be rendered again.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, default_file_mode())  # readable by a web server running as another user (mkstemp: 0600)
        if isinstance(text, bytes):
            with os.fdopen(fd, "wb") as fb:
                fb.write(text)
        else:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class SiteWriter:
    """Renders a :class:`~leaderboard.view.Site` into a folder and removes pages it wrote before that are
    no longer part of the site (listed in ``.robex-site.json``)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.env = environment()
        self.css = _static("site.css") + _static("index.css")  # index.*: the index's folds, bands, scatter
        self.js = _static("site.js") + _static("index.js")
        self.csp = content_security_policy(self.css, self.js)
        self.written: list[str] = []

    def write(self, relative: str, text: str | bytes) -> None:
        """Write one file atomically (temporary file + rename; no fsync: the site is regenerable); bidirectional
        and control characters in text become U+FFFD (:func:`~bench.results.unicode_safety.neutralise`)."""
        replace_file(self.out / relative, neutralise(text) if isinstance(text, str) else text)
        self.written.append(relative)

    def images(self, site: Site) -> None:
        """Every gallery image of the site's pages, once each, at its content-named path."""
        done: set[str] = set()
        for track in (*site.tracks, *site.quick):
            rows = [g.images for page in track.pages for g in page.galleries]
            rows += [row.images for g in track.compare.galleries for row in g.rows]
            for image in (i for row in rows for i in row):
                if image.path not in done:
                    done.add(image.path)
                    self.write(image.path, image.png)

    def page(self, relative: str, template: str, **context: Any) -> None:
        """Render an HTML page; ``root`` is the relative path back to the site root."""
        root = "../" * relative.count("/")
        # Our own static files (package data, not entry-supplied): inlined verbatim.
        css, js = Markup(self.css), Markup(self.js)  # noqa: S704
        html = self.env.get_template(template).render(root=root, csp=self.csp, css=css, js=js, **context)
        self.write(relative, html)

    def site(self, site: Site, claims: tuple[TrackClaims, ...] = ()) -> Path:
        """Every page, badge and data file of ``site`` and the claims page; returns the index's path."""
        self.page("index.html", "index.html.j2", site=site)
        self.page("claims.html", "claims.html.j2", claims=claims)
        self.page("about.html", "about.html.j2", about=about_page(site.infos))
        if site.quick:
            self.page("quick.html", "quick.html.j2", site=site)
        for track in (*site.tracks, *site.quick):
            for page in track.pages:
                svg = self.env.get_template("badge.svg.j2").render(b=page.badge)
                self.write(page.badge.path, svg)
                if page.checkpoint is not None and page.checkpoint.source is not None:
                    self.write(page.checkpoint.href, page.checkpoint.source.read_bytes())
                for download in page.downloads:  # each details section's values, per-image results included
                    self.write(download.path, download.text)
                self.page(
                    page.path,
                    "entry.html.j2",
                    track=track,
                    page=page,
                    badge_svg=Markup(svg),  # noqa: S704 -- rendered above with autoescape on: safe to inline
                    badge_source=svg,
                )
        for track in site.tracks:
            self.page(f"{track.slug}/_transfer.html", "transfer.html.j2", track=track)
            self.page(f"{track.slug}/_compare.html", "compare.html.j2", track=track)
            ex = explanations_page(track.placed, site.infos)
            self.page(f"{track.slug}/_explanations.html", "explanations.html.j2", track=track, ex=ex)
        self.images(site)
        self.write("leaderboard.csv", leaderboard_csv(site))
        self.write("leaderboard.json", json.dumps(leaderboard_json(site), indent=2, sort_keys=True, allow_nan=False))
        self._remove_stale()
        return self.out / "index.html"

    def _remove_stale(self) -> None:
        manifest = self.out / MANIFEST
        try:
            before = set(json.loads(manifest.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            before = set()
        now = set(self.written)
        for rel in sorted(before - now):
            path = (self.out / rel).resolve()
            if self.out.resolve() in path.parents and path.is_file():
                path.unlink()
        atomic_write_text(manifest, json.dumps(sorted(now), indent=0))


def render_records(
    records: Iterable[Record],
    out: str | Path,
    *,
    specs: Iterable[ScoreSpec] | None = None,
    infos: Mapping[str, ScoreInfo] | None = None,
    tracks: Mapping[str, TrackInfo] | None = None,
    base_url: str = "",
) -> Path:
    """Render ``records`` into ``out``; ``specs``/``infos`` default to the registered scores, ``tracks`` to the
    installed tracks' metadata. Returns the index page's path."""
    recs = [neutralised(r) for r in records]
    meta = dict(infos) if infos is not None else score_infos(specs)
    tinfo = dict(tracks) if tracks is not None else track_infos({r.track for r in recs})
    site = build_site(recs, meta, tinfo, base_url=base_url)
    claims = build_claims(recs, {name: info.title for name, info in tinfo.items()})
    return SiteWriter(Path(out)).site(site, claims)


def _neutralise_strings(value: Any) -> Any:
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, Mapping):
        return {neutralise(str(k)): _neutralise_strings(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_neutralise_strings(v) for v in value]
    return value


def neutralised(record: Record) -> Record:
    """``record`` with bidirectional and control characters replaced by U+FFFD in every string (titles, names,
    card, details): admission refuses them in manifests, and this keeps any that reach a record by another way
    (a build's self-reported card, a hand-edited file) from reordering what a page, the CSV or the JSON shows."""
    data = record.model_dump(mode="python")
    cleaned = _neutralise_strings(data)
    return record if cleaned == data else Record.model_validate(cleaned)


def render_site(results_root: Path, out: Path, *, base_url: str = "") -> Path:
    """The ``site`` publisher: render every record under ``results_root`` into ``out``."""
    return render_records(load_records(results_root), out, base_url=base_url)
