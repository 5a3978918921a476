"""Every registered score carries complete metadata, and the torch-free catalogue describes it exactly."""

from __future__ import annotations

import math
import re

import pytest

from bench.plugins import SCORES
from bench.results.catalogue import catalogue
from bench.results.scores import score_infos
from bench.types import Axis, Category, ScoreSpec, Unit

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


def test_each_family_has_at_most_one_headline_and_the_six_families_have_one() -> None:
    """The index folds each category to its headline column; the two-axis view plots headlines only."""
    headlines: dict[Category, list[str]] = {}
    for spec in catalogue().values():
        if spec.headline is not None:
            assert spec.primary, f"{spec.name}: a headline is an index column, so it must be primary"
            headlines.setdefault(spec.category, []).append(spec.name)
    assert all(len(v) == 1 for v in headlines.values()), headlines
    families = {
        Category.ACCURACY,
        Category.ROBUSTNESS,
        Category.ARA,
        Category.FIDELITY,
        Category.EXPLANATION_ROBUSTNESS,
        Category.MANIPULABILITY,
    }
    assert families <= set(headlines), "clean, AutoAttack, ARA, fidelity, explanation robustness, manipulability"
    axes = {catalogue()[v[0]].headline for v in headlines.values()}
    assert axes == {Axis.ROBUSTNESS, Axis.EXPLANATION}, "the two-axis view needs a score on each axis"


def test_an_unknown_headline_axis_is_refused() -> None:
    from bench.results.catalogue import _spec

    row = {
        f: v
        for f, v in zip(
            ("title", "higher_is_better", "unit", "category", "description", "primary", "order"),
            ("T", True, "fraction", "accuracy", "d", True, 1),
            strict=True,
        )
    }
    assert _spec("x", {**row, "headline": "explanation"}).headline is Axis.EXPLANATION
    with pytest.raises(ValueError, match="sideways"):
        _spec("x", {**row, "headline": "sideways"})
