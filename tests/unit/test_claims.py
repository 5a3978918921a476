"""The claims page: each verdict follows its stated rule on hand-built records, absent evidence is never a
verdict, and the page renders every paper with escaped text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.records import EntryInfo, Provenance, Record, ScoreRecord
from leaderboard.claims import PAPERS, Evidence, Verdict, build_claims, disjoint_above, track_claims
from leaderboard.render import render_records
from leaderboard.synthetic import SYNTHETIC_SPECS

GRID = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]


def score(value: float, lo: float | None = None, hi: float | None = None, n: int = 1000) -> ScoreRecord:
    return ScoreRecord(value=value, n=n, ci_low=lo, ci_high=hi)


def record(name: str, scores: dict[str, ScoreRecord] | None = None, **details: Any) -> Record:
    return Record(
        track="t",
        entry=EntryInfo(name=name, title=name, authors="a", kind="recipe"),
        scores=scores or {},
        details=details,
        provenance=Provenance(seed=0, track_version="1", track_sha256="0" * 64, subset_sha256="1" * 64),
    )


def curves(**named: list[float]) -> dict[str, Any]:
    return {"eps": 0.3, "curves": {k: {"x": GRID, "y": v} for k, v in named.items()}}


def check(records: list[Record], paper: str, index: int) -> Any:
    return PAPERS.get(paper)(Evidence("t", records)).checks[index]


def test_every_paper_is_registered_in_papers_md_order() -> None:
    claims = track_claims("t", "T", [])
    assert [p.key for p in claims.papers] == [
        "ross2018",
        "activation_sensitivity",
        "boopathy2020",
        "woods2019",
        "heo2019",
    ]
    assert [p.section for p in claims.papers] == ["§1.5", "§2.3", "§3.6", "§4.4", "§5.5"]


def test_no_records_means_no_verdict() -> None:
    claims = track_claims("t", "T", [])
    verdicts = [c.verdict for p in claims.papers for c in p.checks]
    # the standard-MNIST ARA estimate applies to the MNIST tracks only; everything else is simply unmeasured
    assert verdicts.count(Verdict.NOT_APPLICABLE) == 1
    assert set(verdicts) == {Verdict.MISSING, Verdict.NOT_APPLICABLE}
    assert claims.counts[Verdict.MISSING.value] == len(verdicts) - 1
    on_mnist = [c.verdict for p in track_claims("mnist", "MNIST", []).papers for c in p.checks]
    assert set(on_mnist) == {Verdict.MISSING}


@pytest.mark.parametrize(("ig", "expected"), [(0.931, Verdict.HOLDS), (0.9299, Verdict.FAILS)])
def test_clean_cost_is_two_points(ig: float, expected: Verdict) -> None:
    recs = [
        record("standard", {"clean_accuracy": score(0.95)}),
        record("input_gradient", {"clean_accuracy": score(ig)}),
    ]
    assert check(recs, "ross2018", 0).verdict is expected


def test_ross_transfer_uses_the_three_eps_nearest_forty_percent() -> None:
    # standard white-box: 0.8, 0.45, 0.3, 0.1, 0.05 -> nearest 0.4: eps 0.2 (0.45), 0.3 (0.3), 0.1 (0.8) ... and
    # 0.4 (0.1) is farther than 0.1's 0.8? |0.8-0.4| = 0.4 > |0.1-0.4| = 0.3, so the three are 0.2, 0.3, 0.4.
    std = record("standard", transfer=curves(fgsm_white_box=[1, 0.8, 0.45, 0.3, 0.1, 0.05]))
    wins_two = record("input_gradient", transfer=curves(fgsm_surrogate=[1, 0.0, 0.5, 0.4, 0.05, 0.0]))
    c = check([std, wins_two], "ross2018", 1)
    assert c.verdict is Verdict.HOLDS
    assert [m.label.rsplit("= ", 1)[1] for m in c.measured[::2]] == ["0.2", "0.3", "0.4"]
    wins_one = record("input_gradient", transfer=curves(fgsm_surrogate=[1, 0.99, 0.5, 0.2, 0.05, 0.0]))
    assert check([std, wins_one], "ross2018", 1).verdict is Verdict.FAILS


def test_distillation_masking_needs_a_ten_point_gap() -> None:
    masked = record("distillation", transfer=curves(fgsm_white_box=[1, 1, 1, 0.9, 0.9, 0.9], fgsm_surrogate=GRID))
    assert check([masked], "ross2018", 4).verdict is Verdict.HOLDS  # 0.9 vs 0.3 at eps 0.3
    honest = record("distillation", transfer=curves(fgsm_white_box=[1, 1, 1, 0.35, 0, 0], fgsm_surrogate=GRID))
    assert check([honest], "ross2018", 4).verdict is Verdict.FAILS


def test_disjoint_intervals() -> None:
    assert disjoint_above(score(0.6, 0.55, 0.65), score(0.5, 0.45, 0.54)) is True
    assert disjoint_above(score(0.6, 0.5, 0.7), score(0.5, 0.45, 0.55)) is False
    assert disjoint_above(score(0.6), score(0.5)) is True  # no intervals: point estimates
    assert disjoint_above(None, score(0.5)) is None


def test_activation_sensitivity_needs_one_significantly_better_metric() -> None:
    base = {"max_sensitivity": score(0.30, 0.28, 0.32)}
    better = record("activation_sensitivity", {"max_sensitivity": score(0.20, 0.18, 0.22)})
    overlapping = record("activation_sensitivity", {"max_sensitivity": score(0.29, 0.27, 0.31)})
    assert check([record("standard", base), better], "activation_sensitivity", 1).verdict is Verdict.HOLDS
    assert check([record("standard", base), overlapping], "activation_sensitivity", 1).verdict is Verdict.FAILS


def sweep(*acc: float) -> dict[str, Any]:
    return {"table": [{"eps": e, "accuracy": a} for e, a in zip([0.05, 0.1, 0.2, 0.3, 0.35, 0.4], acc, strict=True)]}


def test_boopathy_beyond_eps_compares_every_grid_point_above_the_track_eps() -> None:
    int_ = record("interpretability_aware", pgd_sweep=sweep(0.9, 0.8, 0.7, 0.5, 0.4, 0.3), autoattack={"eps": 0.3})
    at_better_at_04 = record("pgd_at", pgd_sweep=sweep(0.9, 0.9, 0.8, 0.6, 0.39, 0.31))
    assert check([int_, at_better_at_04], "boopathy2020", 2).verdict is Verdict.FAILS
    at_worse = record("pgd_at", pgd_sweep=sweep(0.9, 0.9, 0.8, 0.6, 0.3, 0.2))
    c = check([int_, at_worse], "boopathy2020", 2)
    assert c.verdict is Verdict.HOLDS
    assert {m.label for m in c.measured if m.value is not None} == {
        "interpretability_aware: PGD at ε = 0.35",
        "interpretability_aware: PGD at ε = 0.4",
        "pgd_at: PGD at ε = 0.35",
        "pgd_at: PGD at ε = 0.4",
    }


@pytest.mark.parametrize(("lipschitz", "expected"), [(0.031, Verdict.HOLDS), (0.030, Verdict.FAILS)])
def test_woods_ara_must_rise_for_every_defended_entry(lipschitz: float, expected: Verdict) -> None:
    recs = [record("standard", {"ara_attack": score(0.030)})]
    recs += [record(n, {"ara_attack": score(0.05)}) for n in ("pgd_at", "trades", "input_gradient")]
    assert check(recs, "woods2019", 0).verdict is Verdict.MISSING  # lipschitz absent: no verdict
    recs.append(record("lipschitz", {"ara_attack": score(lipschitz)}))
    assert check(recs, "woods2019", 0).verdict is expected


@pytest.mark.parametrize(
    ("ours", "expected"),
    [
        (score(0.25, 0.21, 0.29), Verdict.HOLDS),  # +25 points, intervals apart
        (score(0.09, 0.07, 0.11), Verdict.FAILS),  # intervals apart but below the 10-point margin
        (score(0.25, 0.01, 0.49), Verdict.FAILS),  # 25 points but the intervals overlap
    ],
)
def test_boopathy_far_more_robust_needs_ten_points_and_disjoint_intervals(ours: ScoreRecord, expected: Verdict) -> None:
    recs = [
        record("standard", {"autoattack_accuracy": score(0.0, 0.0, 0.02)}),
        record("interpretability_aware", {"autoattack_accuracy": ours}),
    ]
    assert check(recs, "boopathy2020", 1).verdict is expected


def test_woods_identity_fails_when_ara_exceeds_the_mean_radius() -> None:
    def ara(a: float, r: float) -> dict[str, Any]:
        return {"table": [{"criterion": "attack", "ara_exact": a, "mean_radius": r}]}

    assert check([record("x", ara=ara(0.03, 0.04))], "woods2019", 1).verdict is Verdict.HOLDS
    assert check([record("x", ara=ara(0.03, 0.04)), record("y", ara=ara(0.05, 0.04))], "woods2019", 1).verdict is (
        Verdict.FAILS
    )


def test_heo_fsr_and_control() -> None:
    row = {
        "run": "gradcam:location",
        "accuracy_drop": 0.015,
        "fsr": 0.66,
        "fsr_original": 0.0,
        "fsr_control": 0.01,
        "rho_cam": 0.1,
        "rho_saliency": 0.7,
        "deletion_auc_before": 0.4,
        "deletion_auc_after": 0.6,
    }
    recs = [record("standard", manipulate={"table": [row]})]
    verdicts = [c.verdict for c in PAPERS.get("heo2019")(Evidence("t", recs)).checks]
    # transfer: CAM (Grad-CAM's own map on a GAP net) does not count; saliency's 0.7 is not below 0.5
    assert verdicts == [Verdict.HOLDS, Verdict.HOLDS, Verdict.HOLDS, Verdict.FAILS, Verdict.HOLDS]
    row["accuracy_drop"] = 0.03
    assert check([record("standard", manipulate={"table": [row]})], "heo2019", 0).verdict is Verdict.FAILS


def test_quick_records_and_other_tracks_are_ignored() -> None:
    quick = record("standard", {"clean_accuracy": score(0.95)}).model_copy(update={"quick": True})
    assert Evidence("t", [quick]).records == {}
    assert build_claims([quick]) == ()


def test_claims_page_renders_escaped(tmp_path: Path) -> None:
    evil = record("standard", {"clean_accuracy": score(0.95)})
    evil = evil.model_copy(update={"track": "t<script>"})
    index = render_records([evil], tmp_path, specs=SYNTHETIC_SPECS, tracks={})
    page = (index.parent / "claims.html").read_text(encoding="utf-8")
    assert "t&lt;script&gt;" in page and "t<script>" not in page
    for key in ("ross2018", "activation_sensitivity", "boopathy2020", "woods2019", "heo2019"):
        assert f'id="claims-t&lt;script&gt;-{key}"' in page
    assert "claims.html" in (index.parent / "index.html").read_text(encoding="utf-8")
