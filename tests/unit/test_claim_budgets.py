"""The claims page says, next to a verdict, when it was measured at a smaller budget than the paper's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.results.records import EntryInfo, Provenance, Record, ScoreRecord
from leaderboard.claims import PAPERS, track_claims
from leaderboard.claims.budgets import BUDGETS
from leaderboard.render import render_records
from leaderboard.synthetic import SYNTHETIC_SPECS


def record(name: str, track: str = "t", **details: Any) -> Record:
    return Record(
        track=track,
        entry=EntryInfo(name=name, title=name, authors="a", kind="recipe"),
        scores={"clean_accuracy": ScoreRecord(value=0.98, n=1000, ci_low=0.97, ci_high=0.99)},
        details=details,
        provenance=Provenance(seed=0, track_version="1", track_sha256="0" * 64, subset_sha256="1" * 64),
    )


def papers(records: list[Record], track: str = "t") -> dict[str, Any]:
    return {p.key: p for p in track_claims(track, "T", records).papers}


def heo_budget(steps: int) -> tuple[Any, ...]:
    claims = track_claims("t", "T", [record("standard", manipulate={"steps": steps, "table": []})])
    return next(p for p in claims.papers if p.key == "heo2019").budget


@pytest.mark.parametrize(("steps", "below"), [(80, True), (299, True), (300, False), (600, False)])
def test_heo_budget_is_below_the_papers_few_hundred_steps(steps: int, below: bool) -> None:
    (note,) = heo_budget(steps)
    assert note.ours == steps and note.paper == 300 and note.below is below
    assert note.text.startswith(f"Adam fine-tuning steps of each fooling run (and of its λ = 0 control): {steps} here")
    # 300 is robex's floor, not a number of the paper: it is labelled as robex's
    assert note.floor and f"{steps} here; robex's floor (not the paper's figure): 300" in note.text


def test_budgets_read_the_records_not_the_track_files() -> None:
    records = [
        record("standard", ara={"settings": {"steps": 100, "n": 100}}, train={"runs": [{"epochs": 20}]}),
        record("interpretability_aware", pgd_sweep={"steps": 50}, train={"samples_seen": 20_000, "epochs": 5}),
    ]
    claims = papers(records)
    woods = {b.what: b.ours for b in claims["woods2019"].budget}
    assert woods == {"steps of the L2,min search": 100, "images": 100}
    boopathy = {b.what: b.ours for b in claims["boopathy2020"].budget}
    # per entry, only the recorded ones; samples_seen read as recorded
    assert boopathy["training samples seen by interpretability_aware (5 epochs)"] == 20_000
    assert not any("pgd_at" in w for w in boopathy)
    assert boopathy["PGD steps of the ε sweep"] == 50 and boopathy["images of the ε sweep"] is None
    # nothing recorded is never "below"
    assert not any(b.below for b in claims["ross2018"].budget)


def test_training_budgets_are_per_entry_in_samples_seen_beside_the_papers() -> None:
    # records that predate samples_seen: the epochs each entry's runs trained × the track's 4,000 images
    records = [
        record("interpretability_aware", "mnist5k", train={"epochs": 20, "runs": [{"epochs": 5, "steps": 313}]}),
        record("interpretability_aware_int2", "mnist5k", train={"epochs": 20, "runs": [{"epochs": 5}]}),
        record("pgd_at", "mnist5k", train={"epochs": 20, "runs": [{"epochs": 20}]}),
        record("distillation", "mnist5k", train={"epochs": 20, "runs": [{"epochs": 6}, {"epochs": 6}]}),
        record("input_gradient", "mnist5k", train={"epochs": 20, "runs": [{"epochs": 10}]}),
    ]
    claims = papers(records, "mnist5k")
    boopathy = {b.what: b for b in claims["boopathy2020"].budget if b.what.startswith("training")}
    # not the largest budget over the paper's entries (20 epochs), but each entry's own: Int 5 × 4,000 = 20,000
    # samples against the paper's 100 × 60,000 = 6,000,000 (300× more)
    how = "computed: {} epochs × the track's 4,000 training images"
    int_ = boopathy[f"training samples seen by interpretability_aware ({how.format(5)})"]
    assert (int_.ours, int_.paper, int_.paper / int_.ours) == (20_000, 6_000_000, 300)
    paper = "the paper: 6,000,000 (released train.py, MNIST: 100 epochs of 60,000 images, batch 50)"
    assert int_.text.endswith(f"20,000 here; {paper}")
    assert {b.ours for b in boopathy.values()} == {20_000, 80_000}
    ross = {b.what: b for b in claims["ross2018"].budget}
    ig = ross[f"training samples seen by input_gradient ({how.format(10)})"]
    assert (ig.ours, ig.paper, ig.paper / ig.ours) == (40_000, 3_840_000, 96)  # 15,000 batches of 256
    # a teacher and a student: both runs count
    assert ross[f"training samples seen by distillation ({how.format('6 + 6')})"].ours == 48_000
    assert len(ross) == 2  # input_gradient_insensitive has no record: no note


def test_every_paper_has_a_budget_function() -> None:
    assert set(PAPERS.names()) == set(BUDGETS.names())


def test_the_page_marks_verdicts_measured_below_the_papers_budget(tmp_path: Path) -> None:
    fooled = {"run": "gradcam:location", "fsr": 0.9, "fsr_original": 0.0, "fsr_control": 0.1}
    rec = record("standard", manipulate={"steps": 80, "table": [fooled], "accuracy_control": 0.97})
    index = render_records([rec], tmp_path, specs=SYNTHETIC_SPECS, tracks={})
    page = (index.parent / "claims.html").read_text(encoding="utf-8")
    assert 'id="claims-t-heo2019-budget"' in page
    assert "80 here; robex&#39;s floor (not the paper&#39;s figure): 300" in page
    assert "at a smaller budget than robex&#39;s floor for the paper&#39;s budget class" in page
    # Heo's FSR checks have verdicts, so they carry the mark; papers with no budget below carry none
    assert page.count('href="#claims-t-heo2019-budget"') >= 2
    assert 'href="#claims-t-woods2019-budget"' not in page
