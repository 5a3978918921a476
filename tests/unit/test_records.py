"""Records and manifests: round trip, schema errors naming the field, atomic writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench.manifest import ManifestError, load_manifest, parse_manifest
from bench.results.atomic import atomic_write_bytes, atomic_write_json
from bench.results.records import (
    EntryInfo,
    Provenance,
    Record,
    RecordError,
    ScoreRecord,
    load_records,
    read_record,
    write_record,
)


def make_record(name: str = "demo", quick: bool = False) -> Record:
    return Record(
        track="mnist5k",
        entry=EntryInfo(name=name, title="Demo <b>", authors="A. Author", kind="recipe", defense="standard"),
        quick=quick,
        scores={"clean_accuracy": ScoreRecord(value=0.9, n=1000, ci_low=0.88, ci_high=0.92)},
        details={"clean": {"correct": [1, 0, 1]}},
        provenance=Provenance(seed=0, track_version="1.0", track_sha256="a" * 64, subset_sha256="b" * 64),
    )


def test_record_round_trip_keeps_numbers_as_numbers(tmp_path: Path) -> None:
    rec = make_record()
    path = write_record(rec, tmp_path)
    assert path == tmp_path / "mnist5k" / "demo.json"
    raw = json.loads(path.read_text())
    assert raw["schema_version"] == 1
    assert isinstance(raw["scores"]["clean_accuracy"]["value"], float)
    assert read_record(path) == rec
    assert load_records(tmp_path) == [rec]


def test_quick_records_never_overwrite_full_ones(tmp_path: Path) -> None:
    full = write_record(make_record(), tmp_path)
    quick = write_record(make_record(quick=True), tmp_path)
    assert full != quick and quick.name == "demo.quick.json"
    assert not read_record(full).quick and read_record(quick).quick


def test_schema_errors_name_the_field(tmp_path: Path) -> None:
    data = make_record().model_dump(mode="json")
    data["scores"]["clean_accuracy"]["value"] = "ninety"
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(RecordError, match=r"scores\.clean_accuracy\.value"):
        read_record(tmp_path / "bad.json")
    data["schema_version"] = 99
    (tmp_path / "v99.json").write_text(json.dumps(data))
    with pytest.raises(RecordError, match="schema_version 99"):
        read_record(tmp_path / "v99.json")
    (tmp_path / "trunc.json").write_text('{"schema_version": 1, "track"')
    with pytest.raises(RecordError, match="unreadable record"):
        read_record(tmp_path / "trunc.json")


@pytest.mark.parametrize(
    ("stage", "section", "path"),
    [
        ("clean", {"correct": [1, 0, 2]}, r"details\.clean\.correct\.2"),
        ("pgd", {"robust": "all"}, r"details\.pgd\.robust"),
        ("transfer", {"worst_robust": [0.5]}, r"details\.transfer\.worst_robust\.0"),
        ("ara", {"curves": {"attack": {"x": [0, "far"], "y": [1, 0]}}}, r"details\.ara\.curves\.attack\.x\.1"),
        ("ara", {"curves": {"attack": {"y": [1, 0]}}}, r"details\.ara\.curves\.attack\.x"),
        ("explain", {"gallery": [{"caption": "c", "images": [{"label": "no png"}]}]}, r"gallery\.0\.images\.0\.png"),
        ("sanity", {"table": {"not": "rows"}}, r"details\.sanity\.table"),
        ("explain", ["not", "a", "mapping"], r"details\.explain: a stage's details must be a mapping"),
    ],
)
def test_details_are_typed_and_checked_on_read(tmp_path: Path, stage: str, section: object, path: str) -> None:
    data = make_record().model_dump(mode="json")
    data["details"][stage] = section
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(RecordError, match=path):
        read_record(tmp_path / "bad.json")


def test_free_form_details_and_well_formed_shapes_load(tmp_path: Path) -> None:
    rec = make_record()
    details = {
        **rec.details,
        "ara": {"curves": {"attack": {"x": [0, 0.1], "y": [0.9, None], "title": "t"}}, "chance": 0.1},
        "explain": {"gallery": [{"caption": "c", "images": [{"label": "l", "png": "AAAA"}]}], "table": [{"a": 1}]},
        "pgd_sweep": {"robust": {"0.1": [1, 0]}},  # free form where the stage has no fixed per-image vector
    }
    path = write_record(rec.model_copy(update={"details": details}), tmp_path)
    assert read_record(path).details == details


def test_atomic_write_leaves_old_file_when_writing_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "r.json"
    atomic_write_json(target, {"v": 1})

    def boom(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_json(target, {"v": 2})
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary left behind


def test_atomic_write_creates_parents(tmp_path: Path) -> None:
    p = atomic_write_bytes(tmp_path / "a" / "b" / "c.bin", b"xyz")
    assert p.read_bytes() == b"xyz"


MANIFEST = {
    "name": "my-entry",
    "title": "My entry",
    "authors": "Me",
    "paper_url": "https://example.org/paper",
    "track": "mnist5k",
    "defense": {"name": "standard"},
}


def test_manifest_valid_and_kinds() -> None:
    m = parse_manifest(MANIFEST)
    assert m.kind == "recipe" and m.defense is not None and m.defense.name == "standard"
    ck = {
        **MANIFEST,
        "defense": None,
        "checkpoint": {"architecture": "small_cnn", "file": "w.safetensors", "sha256": "0" * 64},
    }
    assert parse_manifest(ck).kind == "checkpoint"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": None}, "title"),
        ({"name": "Bad Name!"}, "name"),
        ({"paper_url": "javascript:alert(1)"}, "paper_url"),
        ({"defense": {"name": "standard", "hyperparameters": "eps=1"}}, "defense.hyperparameters"),
        ({"unexpected": 1}, "unexpected"),
        (
            {"checkpoint": {"architecture": "small_cnn", "file": "w.pt", "sha256": "0" * 64}, "defense": None},
            "checkpoint.file",
        ),
        (
            {"checkpoint": {"architecture": "small_cnn", "file": "w.safetensors", "sha256": "xyz"}, "defense": None},
            "checkpoint.sha256",
        ),
    ],
)
def test_manifest_errors_name_the_field(change: dict[str, object], field: str) -> None:
    data = {**MANIFEST, **change}
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(ManifestError, match=rf"field '{field}'"):
        parse_manifest(data, "entry.toml")


def test_manifest_needs_exactly_one_kind(tmp_path: Path) -> None:
    data = {k: v for k, v in MANIFEST.items() if k != "defense"}
    with pytest.raises(ManifestError, match="exactly one of"):
        parse_manifest(data)
    (tmp_path / "entry.toml").write_text("name = 'x'\ntitle = [")
    with pytest.raises(ManifestError, match="not valid TOML"):
        load_manifest(tmp_path)
    with pytest.raises(ManifestError, match="no such manifest"):
        load_manifest(tmp_path / "nope")
