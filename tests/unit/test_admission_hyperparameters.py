"""Hyperparameters are checked at admission, before anything runs, for every registered defense and for a defense
module shipped with the entry (whose schema is read from its source, never by running it): an unknown name is a
field error naming it and the allowed ones, a wrong type (``sigma = "0.5"``) a field error naming it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from bench.entries import Entry
from bench.frontends.admission import SubmissionError, validate_entry
from bench.frontends.declared_schema import DeclarationError, read_declared
from bench.hyperparameters import HyperparameterError
from bench.plugins import DEFENSES

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gaussian_noise"
HEAD: dict[str, Any] = {"name": "x", "title": "t", "authors": "a", "track": "mnist5k"}
CASES = [(name, hp) for name in DEFENSES.names() for hp in sorted(DEFENSES.get(name).defaults)]


def _admit(folder: Path, defense: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "entry.toml").write_text(tomli_w.dumps({**HEAD, "defense": defense}))
    validate_entry(folder, folder / "results", quick=True, replace=False)


def _refused(folder: Path, defense: dict[str, Any]) -> str:
    with pytest.raises(SubmissionError) as info:
        _admit(folder, defense)
    return str(info.value)


@pytest.mark.parametrize("name", DEFENSES.names())
def test_an_unknown_hyperparameter_is_named_with_the_allowed_ones(tmp_path: Path, name: str) -> None:
    message = _refused(tmp_path, {"name": name, "hyperparameters": {"no_such_knob": 1}})
    assert "field 'defense.hyperparameters.no_such_knob'" in message
    allowed = ", ".join(sorted(DEFENSES.get(name).defaults)) or "none"
    assert f"unknown hyperparameter; allowed: {allowed}" in message


@pytest.mark.parametrize(("name", "hp"), CASES, ids=[f"{n}.{h}" for n, h in CASES])
def test_a_table_is_the_wrong_type_for_every_hyperparameter(tmp_path: Path, name: str, hp: str) -> None:
    message = _refused(tmp_path, {"name": name, "hyperparameters": {hp: {"a": 1}}})
    assert f"field 'defense.hyperparameters.{hp}'" in message


NUMERIC = [(n, h) for n, h in CASES if not isinstance(DEFENSES.get(n).defaults[h], str)]


@pytest.mark.parametrize(("name", "hp"), NUMERIC, ids=[f"{n}.{h}" for n, h in NUMERIC])
def test_a_number_written_as_a_string_is_refused(tmp_path: Path, name: str, hp: str) -> None:
    """The issue's ``sigma = "0.5"``: accepted and stored as a string before validation was strict."""
    message = _refused(tmp_path, {"name": name, "hyperparameters": {hp: "0.5"}})
    assert f"field 'defense.hyperparameters.{hp}'" in message and "'0.5'" in message


@pytest.mark.parametrize(("hp", "value", "hint"), [("steps", 5.0, "integer"), ("random_start", 1, "boolean")])
def test_no_lax_conversion_between_numbers_and_booleans(tmp_path: Path, hp: str, value: Any, hint: str) -> None:
    message = _refused(tmp_path, {"name": "pgd_at", "hyperparameters": {hp: value}})
    assert f"field 'defense.hyperparameters.{hp}'" in message and hint in message


def test_valid_hyperparameters_are_admitted_unchanged(tmp_path: Path) -> None:
    _admit(
        tmp_path, {"name": "pgd_at", "hyperparameters": {"eps": 0.3, "steps": 5, "step_size": 1}}
    )  # an int is a float


# ------------------------------------------------------------------------------------------ shipped modules
def _shipped(tmp_path: Path, hyperparameters: dict[str, Any], source: str | None = None) -> Path:
    folder = tmp_path / "entry"
    folder.mkdir()
    if source is None:
        shutil.copy(EXAMPLE / "defense.py", folder / "defense.py")
    else:
        (folder / "defense.py").write_text(source)
    defense = {"name": "example_gaussian_noise", "module": "defense.py", "hyperparameters": hyperparameters}
    (folder / "entry.toml").write_text(tomli_w.dumps({**HEAD, "defense": defense}))
    return folder


@pytest.mark.parametrize(
    ("hyperparameters", "field", "hint"),
    [
        ({"sigma": "0.5"}, "defense.hyperparameters.sigma", "valid number (got '0.5')"),
        ({"sigm": 0.3}, "defense.hyperparameters.sigm", "unknown hyperparameter; allowed: sigma"),
        ({"sigma": 1.5}, "defense.hyperparameters.sigma", "less than or equal to 1"),
        ({"sigma": True}, "defense.hyperparameters.sigma", "valid number"),
    ],
    ids=["string", "typo", "out-of-range", "boolean"],
)
def test_a_shipped_module_s_declared_schema_is_checked_without_running_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hyperparameters: dict[str, Any], field: str, hint: str
) -> None:
    def never(*_: object) -> None:
        raise AssertionError("admission imported the entry's module")

    monkeypatch.setattr(Entry, "import_module", never)
    folder = _shipped(tmp_path, hyperparameters)
    with pytest.raises(SubmissionError, match=f"field '{field}'") as info:
        validate_entry(folder, tmp_path / "results", quick=True, replace=False)
    assert hint in str(info.value)


def test_the_worked_example_is_admitted(tmp_path: Path) -> None:
    validate_entry(_shipped(tmp_path, {"sigma": 0.25}), tmp_path / "results", quick=True, replace=False)


SOURCE = """
from bench.plugins import DEFENSES
from bench.hyperparameters import UnitInterval, PositiveInt
import bench.hyperparameters as hp

KNOBS = {{"sigma": 0.3}}

@DEFENSES.register("example_gaussian_noise")
class Noise:
    defaults = {defaults}
    schema = {schema}
"""


@pytest.mark.parametrize(
    ("defaults", "schema", "values", "outcome"),
    [
        ('{"sigma": 0.3, "n": 2}', '{"sigma": UnitInterval, "n": PositiveInt}', {"n": 0}, "hp:n"),
        ('{"sigma": None}', '{"sigma": hp.UnitInterval | None}', {"sigma": 0.5}, "ok"),
        ('{"sigma": None}', '{"sigma": hp.UnitInterval | None}', {"sigma": 2}, "hp:sigma"),
        ('{"sigma": 0.3}', "{}", {"sigma": 2}, "ok"),  # inferred from the default: a finite float, no range
        ('{"sigma": 0.3}', "{}", {"sigma": "2"}, "hp:sigma"),
        ("dict(KNOBS)", "{}", {"sigma": 0.3}, "declaration:defaults"),
        ("KNOBS", "{}", {"sigma": 0.3}, "declaration:defaults"),
        ('{"sigma": 0.3}', '{"sigma": Custom}', {"sigma": 0.3}, "declaration:schema['sigma']"),
        ('{"sigma": 0.3}', '{"other": UnitInterval}', {"sigma": 0.3}, "declaration:not in its defaults"),
        ("dict(KNOBS)", "{}", {}, "ok"),  # no hyperparameters set: nothing to check, the build checks the defaults
    ],
)
def test_declarations_that_cannot_be_read_statically_are_refused_with_what_to_write(
    tmp_path: Path, defaults: str, schema: str, values: dict[str, Any], outcome: str
) -> None:
    folder = _shipped(tmp_path, values, SOURCE.format(defaults=defaults, schema=schema))
    if outcome == "ok":
        validate_entry(folder, tmp_path / "results", quick=True, replace=False)
        return
    with pytest.raises(SubmissionError) as info:
        validate_entry(folder, tmp_path / "results", quick=True, replace=False)
    kind, _, hint = outcome.partition(":")
    if kind == "hp":
        assert f"field 'defense.hyperparameters.{hint}'" in str(info.value)
    else:
        assert "field 'defense.module'" in str(info.value) and hint in str(info.value)


def test_a_module_without_the_registered_class_is_refused_naming_the_decorator() -> None:
    with pytest.raises(DeclarationError, match=r"@DEFENSES.register\('mine'\)") as info:
        read_declared("class Mine:\n    defaults = {}\n", "mine")
    assert info.value.field == "defense.name"
    with pytest.raises(DeclarationError, match="not valid Python"):
        read_declared("def (:\n", "mine")


def test_the_build_side_check_raises_the_same_error_type() -> None:
    """The build validates again against the imported class; its error carries the hyperparameter's name."""
    with pytest.raises(HyperparameterError) as info:
        DEFENSES.create("pgd_at", __import__("bench.track").track.load_track("mnist5k"), eps="0.5")
    assert info.value.name == "eps"
