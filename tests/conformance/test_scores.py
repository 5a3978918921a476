"""Every registered score carries complete metadata, and the torch-free catalogue describes it exactly."""

from __future__ import annotations

import math
import re

import pytest

from bench.plugins import SCORES
from bench.results.catalogue import catalogue
from bench.results.scores import score_infos
from bench.types import Category, ScoreSpec, Unit

SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


@pytest.mark.parametrize("name", SCORES.names())
def test_score_metadata_is_complete(name: str) -> None:
    spec = SCORES.get(name)
    assert isinstance(spec, ScoreSpec)
    assert spec.name == name and SNAKE.match(name), "a score's name is its snake_case record key"
    assert spec.title.strip(), "a column needs a title"
    assert len(spec.description) >= 20, "a reviewer checks the number against its description"
    assert isinstance(spec.higher_is_better, bool), "the sort direction must be set"
    assert isinstance(spec.unit, Unit) and spec.unit in set(Unit), "the unit must be a known Unit"
    assert isinstance(spec.category, Category)
    assert isinstance(spec.order, int) and isinstance(spec.primary, bool)


@pytest.mark.parametrize("name", SCORES.names())
def test_the_catalogue_describes_every_registered_score_exactly(name: str) -> None:
    """Readers of records (the leaderboard, compare) see the same metadata without importing the stage."""
    assert catalogue().get(name) == SCORES.get(name)
    assert score_infos()[name].title == SCORES.get(name).title


def test_every_catalogued_score_is_produced_by_a_stage() -> None:
    assert set(catalogue()) == set(SCORES.names()), "a catalogue row no stage registers is a stale column"


@pytest.mark.parametrize("name", SCORES.names())
def test_every_score_formats_by_its_unit(name: str) -> None:
    unit = SCORES.get(name).unit
    assert unit.text(None) == "—" and unit.text(math.nan) == "—"
    text = unit.text(0.25)
    assert text == {"fraction": "25.0%", "rmse": "0.2500", "score": "0.250", "seconds": "0.2 s"}[unit.value]
    assert unit.difference_text(-0.25).startswith("-") and unit.difference_text(0.25).startswith("+")


def test_titles_are_unique() -> None:
    titles = [SCORES.get(n).title for n in SCORES.names()]
    assert len(titles) == len(set(titles)), "two columns with one title cannot be told apart"
