"""``robex verify`` recomputes the per-image robust minimum with the record's transfer sets (a pair stage it cannot
re-run), on the re-run's image prefix, and says so; entry stages the user left out are not read from the record."""

from __future__ import annotations

from typing import Any, cast

from bench.frontends.verify import _finalized
from bench.frontends.verify_checks import VerifyReport
from bench.protocols import StageOutput
from bench.results.records import EntryInfo, Provenance, Record


def record(**details: Any) -> Record:
    return Record(
        track="mnist5k",
        entry=EntryInfo(name="e", title="e", authors="a", kind="recipe"),
        scores={},
        details=details,
        provenance=Provenance(seed=0, track_version="1", track_sha256="0" * 64, subset_sha256="1" * 64),
    )


def robust(out: dict[str, StageOutput]) -> tuple[float, int]:
    (score,) = out["finalize:robust_accuracy"].scores
    return score.value, score.n


def test_the_robust_minimum_takes_the_recorded_transfer_sets() -> None:
    pgd = StageOutput(details={"robust": [1, 1, 1, 1, 0, 1, 1, 1], "eps": 0.3, "steps": 40})
    transfer = {"attacks_at_eps": {"pgd@0.3 from standard": {"robust": [1, 0, 1, 0, 0, 1, 1, 1, 1, 1]}}}
    rec = record(pgd={"robust": [1] * 10}, transfer=transfer)
    report = VerifyReport(entry="e", track="mnist5k", n=8)
    out = _finalized(cast(Any, None), {"pgd": pgd}, report, rec)
    # per image over the common prefix of 8: the transfer set breaks images 1 and 3, PGD image 4
    assert robust(out) == (5 / 8, 8)
    assert any("transfer from the record" in note for note in report.notes)
    # without the record (as before) the minimum misses the transfer set's two images
    alone = _finalized(cast(Any, None), {"pgd": pgd}, VerifyReport(entry="e", track="mnist5k", n=8))
    assert robust(alone) == (7 / 8, 8)


def test_entry_stages_left_out_are_not_read_from_the_record() -> None:
    pgd = StageOutput(details={"robust": [1, 1, 1, 1], "eps": 0.3, "steps": 40})
    rec = record(autoattack={"robust": [0, 0, 0, 0]}, pgd={"robust": [1, 1, 1, 1]})
    report = VerifyReport(entry="e", track="mnist5k", n=4)
    assert robust(_finalized(cast(Any, None), {"pgd": pgd}, report, rec)) == (1.0, 4)
    assert not any("from the record" in note for note in report.notes)
