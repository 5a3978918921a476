"""Every registered stage honours the Stage contract (no new test code for a new stage)."""

from __future__ import annotations

import json

import pytest

from bench.plugins import STAGES
from bench.protocols import Scope, Stage
from bench.track import TRACKS


def _has_stage(track: str, stage: str) -> bool:
    return stage == "train" or stage in TRACKS.get(track).stages


@pytest.mark.parametrize("name", STAGES.names())
def test_stage_class_contract(name: str) -> None:
    cls = STAGES.get(name)
    assert isinstance(cls, type) and issubclass(cls, Stage)
    assert cls.name == name, "the registry key and the class's name must agree"
    assert isinstance(cls.version, str) and cls.version, "a stage version goes into every cell key"
    assert isinstance(cls.scope, Scope)
    assert isinstance(cls.order, int)
    assert (cls.__doc__ or "").strip(), "a stage says what it computes"
    for dep in cls.requires:
        assert dep in STAGES, f"{name} requires the unknown stage {dep!r}"
        assert STAGES.get(dep).scope is Scope.ENTRY, f"{name} requires {dep!r}, which is not an entry stage"
        assert STAGES.get(dep).order < cls.order, f"{name} runs before its dependency {dep!r}"
    if cls.scope is Scope.PAIR:
        assert cls.summarize is not Stage.summarize, f"pair stage {name} must summarize its pair cells"


def _requirements(name: str) -> set[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        for dep in STAGES.get(todo.pop()).requires:
            assert dep != name, f"stage {name} depends on itself"
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


@pytest.mark.parametrize("name", STAGES.names())
def test_stage_dependencies_have_no_cycle(name: str) -> None:
    required = _requirements(name)
    assert name not in required
    assert name == "train" or "train" in required, f"{name} must (transitively) read the trained weights"


RUN = [(n, t) for n in STAGES.names() for t in TRACKS.names() if _has_stage(t, n)]


def test_every_stage_runs_on_some_track() -> None:
    assert {n for n, _ in RUN} == set(STAGES.names())


@pytest.mark.parametrize("quick", [False, True], ids=["full", "quick"])
@pytest.mark.parametrize(("name", "track"), RUN)
def test_stage_settings_are_a_deterministic_json_cell_key(name: str, track: str, quick: bool) -> None:
    stage = STAGES.create(name)
    t = TRACKS.get(track)
    first, second = stage.settings(t, quick), stage.settings(t, quick)
    assert isinstance(first, dict)
    text = json.dumps(first, sort_keys=True, allow_nan=False)  # the cell key hashes this text
    assert text == json.dumps(second, sort_keys=True, allow_nan=False), "settings must not vary between calls"
    assert json.loads(text) == first, "settings must survive a JSON round trip unchanged"
