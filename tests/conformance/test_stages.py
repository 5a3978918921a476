"""Every registered stage honours the Stage contract (no new test code for a new stage)."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pytest

from bench.plugins import STAGES
from bench.protocols import Scope, Stage
from bench.stage_settings import StageSettings
from bench.track import TRACKS

ROOT = Path(__file__).resolve().parents[2]


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
    assert cls.summary.strip() and "\n" not in cls.summary, "one line for `robex list stages`"
    others = {STAGES.get(n).summary for n in STAGES.names() if n != name}
    assert cls.summary not in others, "each stage's summary tells it apart"
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


@pytest.mark.parametrize("name", STAGES.names())
def test_stage_settings_are_one_typed_dataclass(name: str) -> None:
    cls = STAGES.get(name)
    assert issubclass(cls.Settings, StageSettings), f"{name} declares its settings as a StageSettings dataclass"
    assert dataclasses.is_dataclass(cls.Settings)
    track = next(TRACKS.get(t) for n, t in RUN if n == name)
    resolved = cls().settings(track, False)
    assert set(resolved) == {f.name for f in dataclasses.fields(cls.Settings)}, "every field is in the cell key"


@pytest.mark.parametrize(("name", "track"), [(n, t) for n, t in RUN if n != "train" and t == "mnist5k"])
def test_unknown_or_mistyped_settings_are_refused_naming_the_table(name: str, track: str) -> None:
    t = TRACKS.get(track)
    stage = STAGES.create(name)
    good = dict(t.stages.get(name, {}))
    typo = dataclasses.replace(t, stages={**t.stages, name: {**good, "stepz": 3}})
    with pytest.raises(ValueError, match=rf"\[stages\.{name}\]: unknown setting\(s\) \['stepz'\]"):
        stage.settings(typo, False)
    field = dataclasses.fields(stage.Settings)[0].name
    mistyped = dataclasses.replace(t, stages={**t.stages, name: {**good, field: object()}})  # no JSON type
    with pytest.raises(ValueError, match=rf"\[stages\.{name}\] {field}"):
        stage.settings(mistyped, False)


def _settings_defaults_in_code() -> list[str]:
    """``s.get("key", default)`` on a stage's settings: a default that would never enter the cell key."""
    found = []
    for path in sorted((ROOT / "bench" / "stages").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"):
                continue
            receiver = node.func.value
            is_settings = (isinstance(receiver, ast.Name) and receiver.id in ("s", "settings")) or (
                isinstance(receiver, ast.Attribute) and receiver.attr == "settings"
            )
            if is_settings:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_stage_reads_a_setting_with_a_default_of_its_own() -> None:
    assert _settings_defaults_in_code() == []
