"""The static leaderboard: renders ``leaderboard/site/`` from the records alone (no compute).

It imports only the results layer (:mod:`bench.results`): rendering never imports torch or any stage."""

from leaderboard.render import render_site

__all__ = ["render_site"]
