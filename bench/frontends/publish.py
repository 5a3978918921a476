"""Publishing: turn a results folder into a site, without importing torch or any stage."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench.registry import Registry
from bench.results.places import default_results_root, site_beside


def _site_publisher() -> None:
    from leaderboard.render import render_site

    PUBLISHERS.add("site", render_site)


# Publishers turn a results folder into a site: the built-in "site" (the leaderboard), and any a third-party
# package declares in the ``robex.publishers`` entry-point group.
PUBLISHERS: Registry[Callable[..., Path]] = Registry("publisher", load=_site_publisher, group="robex.publishers")


def publish(results_root: str | Path | None = None, out: str | Path | None = None) -> Path:
    """Render the static site from the records alone; return the index page's path. ``out`` defaults to ``site``
    beside the records folder (:func:`~bench.results.places.site_beside`; ``leaderboard/site`` for the committed
    records), never another folder's site."""
    root = Path(results_root) if results_root else default_results_root()
    target = Path(out) if out else site_beside(root)
    return PUBLISHERS.get("site")(root, target)
