"""The committed leaderboard (``leaderboard/results``) is complete, current and fully claim-checked: every
record parses, was produced under the track definition in this tree (version and sha256), is a full run with
no failed stage, the baseline tracks hold every baseline, and the claims page measures every check there."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bench.entries import Entry, load_entries
from bench.results.records import read_record
from bench.running.runner import RunSpec
from bench.stages.train import TrainStage, published_lookup
from bench.track import load_track
from leaderboard.claims import Verdict, track_claims

ROOT = Path(__file__).resolve().parents[2] / "leaderboard"
RESULTS = ROOT / "results"
TRACKS = sorted(p.name for p in RESULTS.iterdir() if p.is_dir())
# Tracks whose every baseline manifest must have a committed record (issue 9); others list a required subset.
COMPLETE = ("mnist5k", "mnist", "fashion-mnist")
REQUIRED: dict[str, set[str]] = {}

# Tracks whose definition moved on (new recipes, architecture or budgets) and whose committed records await a
# regeneration on a GPU machine. Strict: once the records are regenerated the expected failures turn into errors
# that remove the mark. The site marks such records as produced under an older track version.
STALE = {
    "mnist": "records and checkpoints predate mnist 2.1 (mnist_cnn, bf16, 10-epoch PGD-10/TRADES recipes): regenerate",
    "fashion-mnist": "records and checkpoints predate fashion-mnist 2.1 (mnist_cnn, bf16, 15-epoch recipes; 4 of 12 "
    "baselines): regenerate",
}


# Tracks whose definition text moved on without changing any number (no version bump): their records' track sha256
# is out of date until they are regenerated; the other checks still hold.
STALE_TEXT: dict[str, str] = {}
NUMBERS_STALE = tuple(STALE)
STALE |= STALE_TEXT


def stale(tracks: list[str], among: tuple[str, ...] = tuple(STALE)) -> list[object]:
    """``tracks`` as parameters, those in ``among`` (stale tracks where the test fails) marked strict xfail."""
    return [pytest.param(t, marks=pytest.mark.xfail(reason=STALE[t], strict=True)) if t in among else t for t in tracks]


# What the baselines must reach on each track's committed records (clean and AutoAttack accuracy, issue 13).
# mnist5k: no weaker than the 3.0 records (issue 24); mnist: Madry et al.'s checkpoint (88.5% AutoAttack) and
# TRADES' class; fashion-mnist: 91% clean (MTandHJ's standard model), PGD-AT 75% AutoAttack at eps 0.1.
THRESHOLDS = {
    "mnist5k": {"standard": (0.975, None), "pgd_at": (None, 0.46), "trades": (None, 0.625)},
    "mnist": {"standard": (0.99, None), "pgd_at": (0.98, 0.885), "trades": (0.98, 0.90)},
    "fashion-mnist": {"standard": (0.91, None), "pgd_at": (None, 0.75)},
}
CHECKPOINTS = ROOT / "checkpoints"
CHECKPOINT_BUDGET = 20 * 1000 * 1000  # every track's published checkpoints together (issue 24)


def test_the_published_tracks_are_committed() -> None:
    assert {"mnist5k", "mnist", "fashion-mnist"} <= set(TRACKS)


@pytest.mark.parametrize("track", stale(TRACKS, among=tuple(STALE)))
def test_records_are_current_full_runs(track: str) -> None:
    definition = load_track(track)
    paths = sorted((RESULTS / track).glob("*.json"))
    assert paths
    for path in paths:
        rec = read_record(path)
        assert rec.track == track and not rec.quick, path
        assert rec.status == "ok" and not rec.errors, (path, rec.errors)
        assert rec.provenance.track_version == definition.version, path
        assert rec.provenance.track_sha256 == definition.fingerprint(), f"{path}: stale, regenerate the records"
        assert rec.provenance.subset_sha256 == definition.eval_subset.sha256, path


@pytest.mark.parametrize("track", stale(TRACKS, among=("fashion-mnist",)))  # mnist 1.1 had every baseline
def test_baselines_are_all_there(track: str) -> None:
    committed = {p.stem for p in (RESULTS / track).glob("*.json")}
    manifests = {p.stem for p in (ROOT / "entries" / track).glob("*.toml")}
    required = manifests if track in COMPLETE else REQUIRED.get(track, set())
    assert required <= committed, sorted(required - committed)


@pytest.mark.parametrize("track", stale([t for t in TRACKS if t in COMPLETE], among=NUMBERS_STALE))
def test_every_claim_is_measured_on_complete_tracks(track: str) -> None:
    records = [read_record(p) for p in sorted((RESULTS / track).glob("*.json"))]
    claims = track_claims(track, track, records)
    missing = [c.statement for p in claims.papers for c in p.checks if c.verdict is Verdict.MISSING]
    assert missing == []


@pytest.mark.parametrize("track", stale(sorted(THRESHOLDS), among=NUMBERS_STALE))
def test_baselines_reach_the_published_thresholds(track: str) -> None:
    for entry, (clean, autoattack) in THRESHOLDS[track].items():
        rec = read_record(RESULTS / track / f"{entry}.json")
        if clean is not None:
            assert rec.scores["clean_accuracy"].value >= clean, (entry, rec.scores["clean_accuracy"].value)
        if autoattack is not None:
            got = rec.scores["autoattack_accuracy"]
            assert got.value >= autoattack and got.n >= 200, (entry, got.value, got.n)


def test_published_checkpoints_fit_the_budget() -> None:
    total = sum(p.stat().st_size for p in CHECKPOINTS.rglob("*") if p.is_file())
    assert 0 < total <= CHECKPOINT_BUDGET, total


def _recipe_baselines(track: str) -> list[Entry]:
    return [e for e in load_entries(load_track(track)) if e.manifest.defense is not None and e.manifest.baseline]


@pytest.mark.parametrize("track", stale(sorted(COMPLETE)))
def test_every_baseline_has_a_usable_published_checkpoint(track: str) -> None:
    """Every recipe baseline's checkpoint is published, its file matches its sha256 and size, and it was trained under
    the entry's recipe on the installed track (so ``robex run`` loads it instead of training)."""
    definition = load_track(track)
    spec = RunSpec(track=track, entries=(), store="", checkpoints=str(CHECKPOINTS))
    settings = TrainStage().settings(definition, False)
    unusable = {}
    for entry in _recipe_baselines(track):
        found = published_lookup(spec, definition, entry, settings)
        if found.checkpoint is None:
            unusable[entry.name] = found.reason or "not published"
    assert unusable == {}


@pytest.mark.parametrize("track", stale(sorted(COMPLETE)))
def test_records_name_the_published_checkpoint_they_were_scored_on(track: str) -> None:
    for entry in _recipe_baselines(track):
        rec = read_record(RESULTS / track / f"{entry.name}.json")
        published = rec.details["train"].get("published")
        assert published is not None, entry.name
        path = CHECKPOINTS / published["file"]
        assert path.is_file() and path.stat().st_size == published["size"], entry.name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == published["sha256"] == rec.provenance.checkpoint_sha256
