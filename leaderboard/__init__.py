"""The static leaderboard: renders ``leaderboard/site/`` from the records alone (no compute)."""

from bench.api import PUBLISHERS
from leaderboard.render import render_site

PUBLISHERS.add("site", render_site)

__all__ = ["render_site"]
