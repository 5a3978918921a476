"""Published reference numbers: manifests, the gap measured − reference, the index note and the entry page."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.manifest import ManifestError, Reference, load_manifest
from bench.plugins import SCORES
from bench.results.records import ReferenceRecord
from bench.results.scores import score_infos
from leaderboard.render import render_records
from leaderboard.synthetic import SYNTHETIC_SPECS, synthetic_record
from leaderboard.view import reference_gap, reference_note

ENTRIES = Path(__file__).resolve().parents[2] / "leaderboard" / "entries"
MANIFESTS = sorted(ENTRIES.glob("*/*.toml"))
INFOS = score_infos(SYNTHETIC_SPECS)


def _with_reference(value: float, source: str = "Someone et al. 2020") -> object:
    record = synthetic_record("ref_entry", 3, n=100, with_gallery=False)
    ref = ReferenceRecord(
        score="clean_accuracy", value=value, source=source, url="https://example.org/p", protocol="all test images"
    )
    return record.model_copy(update={"entry": record.entry.model_copy(update={"references": [ref]})})


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_baseline_reference_names_a_registered_score_in_its_range(path: Path) -> None:
    for ref in load_manifest(path).references:
        spec = SCORES.get(ref.score)
        if spec.unit.value == "fraction":
            assert 0.0 <= ref.value <= 1.0, (path, ref)
        assert ref.url.startswith("https://"), ref.url


def test_the_published_figures_are_on_the_baselines_that_have_them() -> None:
    refs = {(p.parent.name, p.stem): {r.score: r.value for r in load_manifest(p).references} for p in MANIFESTS}
    assert refs[("mnist", "pgd_at")] == {"clean_accuracy": 0.9853, "autoattack_accuracy": 0.885}
    assert refs[("mnist", "trades")] == {"clean_accuracy": 0.9948, "autoattack_accuracy": 0.9281}
    assert refs[("mnist5k", "pgd_at")] == refs[("mnist", "pgd_at")]


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [("value", float("nan"), "value"), ("url", "javascript:alert(1)", "url"), ("source", "", "source")],
)
def test_a_malformed_reference_is_refused_naming_the_field(
    tmp_path: Path, field: str, value: object, needle: str
) -> None:
    fields = {"score": "clean_accuracy", "value": 0.9, "source": "x", "url": "https://e.org", "protocol": "p"}
    fields[field] = value
    with pytest.raises(ValueError, match=needle):
        Reference(**fields)  # type: ignore[arg-type]
    text = (ENTRIES / "mnist" / "standard.toml").read_text().replace("value = 0.993", "value = nan")
    (tmp_path / "entry.toml").write_text(text)
    with pytest.raises(ManifestError, match="references"):
        load_manifest(tmp_path / "entry.toml")


def test_gap_is_measured_minus_reference_and_the_note_shows_it() -> None:
    record = _with_reference(0.5)
    info = INFOS["clean_accuracy"]
    measured = record.score("clean_accuracy")
    assert measured is not None
    found = reference_gap(record, info)
    assert found is not None
    assert found[1] == pytest.approx(measured - 0.5)
    note, tooltip = reference_note(record, info)
    assert note == f"ref 50.0% · {100 * (measured - 0.5):+.1f} pp"
    assert "Someone et al. 2020" in tooltip
    assert reference_gap(record, INFOS["pgd_accuracy"]) is None
    assert reference_note(record, INFOS["pgd_accuracy"]) == ("", "")


def test_index_and_entry_page_show_the_reference_escaped(tmp_path: Path) -> None:
    hostile = '<script>alert("x")</script>'
    record = _with_reference(0.5, source=hostile)
    index = render_records([record], tmp_path, specs=SYNTHETIC_SPECS, tracks={})
    page = (tmp_path / "toy" / "ref_entry.html").read_text()
    assert "ref 50.0%" in index.read_text()
    assert 'data-reference="clean_accuracy"' in page
    assert hostile not in page and "&lt;script&gt;alert(" in page
