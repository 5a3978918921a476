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


def record(name: str, **details: Any) -> Record:
    return Record(
        track="t",
        entry=EntryInfo(name=name, title=name, authors="a", kind="recipe"),
        scores={"clean_accuracy": ScoreRecord(value=0.98, n=1000, ci_low=0.97, ci_high=0.99)},
        details=details,
        provenance=Provenance(seed=0, track_version="1", track_sha256="0" * 64, subset_sha256="1" * 64),
    )


def heo_budget(steps: int) -> tuple[Any, ...]:
    claims = track_claims("t", "T", [record("standard", manipulate={"steps": steps, "table": []})])
    return next(p for p in claims.papers if p.key == "heo2019").budget


@pytest.mark.parametrize(("steps", "below"), [(80, True), (299, True), (300, False), (600, False)])
def test_heo_budget_is_below_the_papers_few_hundred_steps(steps: int, below: bool) -> None:
    (note,) = heo_budget(steps)
    assert note.ours == steps and note.paper == 300 and note.below is below
    assert note.text.startswith(f"Adam fine-tuning steps of each fooling run (and of its λ = 0 control): {steps} here")


def test_budgets_read_the_records_not_the_track_files() -> None:
    records = [
        record("standard", ara={"settings": {"steps": 100, "n": 100}}, train={"runs": [{"epochs": 20}]}),
        record("interpretability_aware", train={"runs": [{"epochs": 5}, {"epochs": 12.5}]}, pgd_sweep={"steps": 50}),
    ]
    claims = {p.key: p for p in track_claims("t", "T", records).papers}
    woods = {b.what: b.ours for b in claims["woods2019"].budget}
    assert woods == {"steps of the L2,min search": 100, "images": 100}
    boopathy = {b.what: b.ours for b in claims["boopathy2020"].budget}
    # the longest run of the trained entries; the sweep falls back to nothing recorded
    assert boopathy["training epochs of Int, Int2, PGD-AT and TRADES"] == 12.5
    assert boopathy["PGD steps of the ε sweep"] == 50 and boopathy["images of the ε sweep"] is None
    # nothing recorded is never "below"
    assert not any(b.below for b in claims["ross2018"].budget)


def test_every_paper_has_a_budget_function() -> None:
    assert set(PAPERS.names()) == set(BUDGETS.names())


def test_the_page_marks_verdicts_measured_below_the_papers_budget(tmp_path: Path) -> None:
    fooled = {"run": "gradcam:location", "fsr": 0.9, "fsr_original": 0.0, "fsr_control": 0.1}
    rec = record("standard", manipulate={"steps": 80, "table": [fooled], "accuracy_control": 0.97})
    index = render_records([rec], tmp_path, specs=SYNTHETIC_SPECS, tracks={})
    page = (index.parent / "claims.html").read_text(encoding="utf-8")
    assert 'id="claims-t-heo2019-budget"' in page
    assert "80 here; the paper: 300" in page
    # Heo's FSR checks have verdicts, so they carry the mark; papers with no budget below carry none
    assert page.count('href="#claims-t-heo2019-budget"') >= 2
    assert 'href="#claims-t-woods2019-budget"' not in page
