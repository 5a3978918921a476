"""Every built-in score's metadata as data (``scores.toml`` beside this module): name, title, direction, unit,
category, description, order, the paper it comes from with its public link, and — for the one headline score
of each family — the axis of the two-axis view it sits on (``headline = "robustness"`` or ``"explanation"``).

The results layer and the leaderboard read it without importing any stage (no torch); each stage registers the
specs it produces from here (``register_score(builtin_spec(name))``), so this file is the one place a column title
or a direction is written. A third-party stage registers its own :class:`~bench.types.ScoreSpec`.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from bench.types import Axis, Category, ScoreSpec, Unit

FIELDS = ("title", "higher_is_better", "unit", "category", "description", "primary", "order")
OPTIONAL = ("source", "source_url", "headline", "family")  # the paper and its link; the category headline; family


def _spec(name: str, row: dict[str, Any]) -> ScoreSpec:
    missing = [f for f in FIELDS if f not in row]
    extra = sorted(set(row) - set(FIELDS) - set(OPTIONAL))
    if missing or extra:
        raise ValueError(f"scores.toml [{name}]: missing {missing}, unknown {extra}")
    return ScoreSpec(
        name=name,
        title=str(row["title"]),
        higher_is_better=bool(row["higher_is_better"]),
        unit=Unit(row["unit"]),
        category=Category(row["category"]),
        description=str(row["description"]),
        primary=bool(row["primary"]),
        order=int(row["order"]),
        source=str(row.get("source", "")),
        source_url=str(row.get("source_url", "")),
        headline=Axis(row["headline"]) if "headline" in row else None,
        family=str(row.get("family", "")),
    )


@cache
def catalogue() -> MappingProxyType[str, ScoreSpec]:
    """The built-in scores' specs by name (read once)."""
    text = (resources.files(__package__) / "scores.toml").read_text(encoding="utf-8")
    return MappingProxyType({name: _spec(name, row) for name, row in tomllib.loads(text).items()})


def builtin_spec(name: str) -> ScoreSpec:
    """The catalogue's spec of built-in score ``name``.

    >>> builtin_spec("clean_accuracy").unit
    <Unit.FRACTION: 'fraction'>
    """
    try:
        return catalogue()[name]
    except KeyError:
        raise KeyError(f"score {name!r} has no metadata in bench/results/scores.toml; add it there") from None
