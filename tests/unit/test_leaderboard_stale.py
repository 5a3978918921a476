"""Records made under an older definition of their track say so on the site (a reader must not take numbers of a
superseded recipe or protocol for the current track's)."""

from __future__ import annotations

from pathlib import Path

from bench.results.places import TrackInfo, track_infos
from bench.results.records import EntryInfo, Provenance, Record, ScoreRecord
from bench.track import load_track
from leaderboard.render import render_records
from leaderboard.synthetic import SYNTHETIC_SPECS
from leaderboard.view.site import build_site


def record(name: str, version: str, sha: str) -> Record:
    return Record(
        track="t",
        entry=EntryInfo(name=name, title=name, authors="a", kind="recipe"),
        scores={"clean_accuracy": ScoreRecord(value=0.9, n=100, ci_low=0.8, ci_high=0.95)},
        details={},
        provenance=Provenance(seed=0, track_version=version, track_sha256=sha, subset_sha256="1" * 64),
    )


INFO = TrackInfo("T", "linf:0.3", version="2.0", fingerprint="b" * 64)


def test_the_installed_tracks_carry_their_version_and_fingerprint() -> None:
    info = track_infos(["mnist5k", "no-such-track"])
    assert set(info) == {"mnist5k"}
    track = load_track("mnist5k")
    assert (info["mnist5k"].version, info["mnist5k"].fingerprint) == (track.version, track.fingerprint())


def test_only_records_of_another_definition_are_stale() -> None:
    records = [record("old", "1.1", "a" * 64), record("edited", "2.0", "c" * 64), record("new", "2.0", "b" * 64)]
    view = build_site(records, {}, {"t": INFO}).tracks[0]
    assert view.stale == ("edited", "old")
    notes = {p.record.name: p.stale for p in view.pages}
    assert notes["new"] == ""
    assert "track version 1.1; the installed definition is 2.0" in notes["old"]
    assert "edited definition of track version 2.0" in notes["edited"]
    # a track that is not installed here cannot be judged: nothing is marked
    assert build_site(records, {}, {}).tracks[0].stale == ()


def test_the_entry_page_says_the_record_is_out_of_date(tmp_path: Path) -> None:
    index = render_records(
        [record("old", "1.1", "a" * 64), record("new", "2.0", "b" * 64)],
        tmp_path,
        specs=SYNTHETIC_SPECS,
        tracks={"t": INFO},
    )
    pages = {p.stem: p.read_text(encoding="utf-8") for p in index.parent.rglob("*.html")}
    old = next(text for name, text in pages.items() if name.startswith("old"))
    new = next(text for name, text in pages.items() if name.startswith("new"))
    assert "out of date" in old and "produced under track version 1.1" in old
    assert "out of date" not in new


def test_the_index_says_when_a_tracks_records_are_out_of_date(tmp_path: Path) -> None:
    old = [record("a", "1.1", "a" * 64), record("b", "1.1", "a" * 64)]
    text = render_records(old, tmp_path / "old", specs=SYNTHETIC_SPECS, tracks={"t": INFO}).read_text("utf-8")
    assert "out of date" in text and "These records were produced under track version 1.1" in text
    current = [record("a", "2.0", "b" * 64)]
    text = render_records(current, tmp_path / "new", specs=SYNTHETIC_SPECS, tracks={"t": INFO}).read_text("utf-8")
    assert "out of date" not in text
