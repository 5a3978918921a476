"""The claims page: each verdict follows its stated rule on hand-built records, absent evidence is never a
verdict, and the page renders every paper with escaped text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.results.records import EntryInfo, Provenance, Record, ScoreRecord
from leaderboard.claims import PAPERS, Evidence, Gate, Verdict, build_claims, disjoint_above, track_claims
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


def test_every_paper_is_registered_in_the_claims_page_order() -> None:
    claims = track_claims("t", "T", [])
    assert [p.key for p in claims.papers] == [
        "ross2018",
        "activation_sensitivity",
        "boopathy2020",
        "woods2019",
        "heo2019",
    ]
    assert [p.order for p in claims.papers] == [1, 2, 3, 4, 5]
    assert all(p.url.startswith("https://arxiv.org/abs/") for p in claims.papers)  # every paper by its public link


def test_no_records_means_no_verdict() -> None:
    claims = track_claims("t", "T", [])
    verdicts = [c.verdict for p in claims.papers for c in p.checks]
    # the standard-MNIST ARA estimate applies to the MNIST tracks only; everything else is simply unmeasured
    assert verdicts.count(Verdict.NOT_APPLICABLE) == 1
    assert set(verdicts) == {Verdict.MISSING, Verdict.NOT_APPLICABLE}
    # Woods' identity is a sanity check: it is not counted among the claims' verdicts
    assert claims.counts[Verdict.MISSING.value] == len(verdicts) - 2
    assert claims.sanity == {v.value: int(v is Verdict.MISSING) for v in Verdict}
    on_mnist = [c.verdict for p in track_claims("mnist", "MNIST", []).papers for c in p.checks]
    assert set(on_mnist) == {Verdict.MISSING}


@pytest.mark.parametrize(("ig", "expected"), [(0.931, Verdict.HOLDS), (0.9299, Verdict.FAILS)])
def test_clean_cost_is_two_points(ig: float, expected: Verdict) -> None:
    recs = [
        record("standard", {"clean_accuracy": score(0.95)}),
        record("input_gradient", {"clean_accuracy": score(ig)}),
    ]
    assert check(recs, "ross2018", 0).verdict is expected


def transfer_grid(by_label: dict[str, dict[str, float]], n: int = 256) -> dict[str, Any]:
    """A transfer section whose FGSM grid holds one accuracy per source (k/n)."""
    return {"n": n, "grid": {label: {"by_source": src} for label, src in by_label.items()}}


CLEAN = {"clean_accuracy": score(0.97)}


def test_ross_transfer_compares_both_targets_on_the_same_examples() -> None:
    # the old rule compared input_gradient on standard's examples with standard's own white-box accuracy: 0.60 vs
    # 0.05 would "hold". On the same examples from the other sources, input_gradient is no better than standard.
    std = record(
        "standard",
        CLEAN,
        transfer=transfer_grid({"fgsm@0.2": {"standard": 0.05, "a": 0.40, "b": 0.42, "c": 0.38}}),
    )
    same = record(
        "input_gradient",
        CLEAN,
        transfer=transfer_grid({"fgsm@0.2": {"standard": 0.60, "a": 0.41, "b": 0.40, "c": 0.39}}),
    )
    c = check([std, same], "ross2018", 1)
    assert c.verdict is Verdict.FAILS
    assert [m.label.split(":")[0] for m in c.measured[2:]] == [f"FGSM ε = 0.2 from {s}" for s in "abc"]
    assert all(m.ci_low is not None and m.ci_low < 0 < (m.ci_high or 0) for m in c.measured[2:])
    better = record(
        "input_gradient",
        CLEAN,
        transfer=transfer_grid({"fgsm@0.2": {"standard": 0.05, "a": 0.60, "b": 0.62, "c": 0.38}}),
    )
    # a and b: +20 points with intervals above 0 (Newcombe, n = 256); c: no difference. 2 of 3 sources, none worse.
    assert check([std, better], "ross2018", 1).verdict is Verdict.HOLDS
    one_worse = record(
        "input_gradient",
        CLEAN,
        transfer=transfer_grid({"fgsm@0.2": {"standard": 0.05, "a": 0.60, "b": 0.62, "c": 0.20}}),
    )
    assert check([std, one_worse], "ross2018", 1).verdict is Verdict.FAILS


def test_ross_transfer_picks_the_eps_where_standard_is_nearest_forty_percent() -> None:
    grid = {"fgsm@0.1": {"a": 0.9, "b": 0.9}, "fgsm@0.2": {"a": 0.45, "b": 0.35}, "fgsm@0.3": {"a": 0.1, "b": 0.1}}
    std = record("standard", CLEAN, transfer=transfer_grid(grid))
    ig = record("input_gradient", CLEAN, transfer=transfer_grid(grid))
    c = check([std, ig], "ross2018", 1)
    assert {m.label.split(" from ")[0] for m in c.measured[2:]} == {"FGSM ε = 0.2"}
    assert c.verdict is Verdict.FAILS  # identical accuracies: no interval above 0


def test_ross_transfer_needs_matching_clean_accuracy_and_a_grid() -> None:
    grid = transfer_grid({"fgsm@0.2": {"a": 0.9}})
    std = record("standard", {"clean_accuracy": score(0.90)}, transfer=grid)
    ahead = record("input_gradient", {"clean_accuracy": score(0.98)}, transfer=grid)
    c = check([std, ahead], "ross2018", 1)  # a clean advantage of the regularised model could explain a win
    assert c.verdict is Verdict.MISSING and "matching clean accuracy" in c.note and "8.0 points" in c.note
    behind = record("input_gradient", {"clean_accuracy": score(0.82)}, transfer=grid)
    c = check([std, behind], "ross2018", 1)  # a deficit only works against the claim: the rule applies
    assert c.verdict is Verdict.FAILS and c.note == ""
    no_grid = [record("standard", CLEAN), record("input_gradient", CLEAN)]
    c = check(no_grid, "ross2018", 1)
    assert c.verdict is Verdict.MISSING and "transfer grid" in c.note
    only_targets = transfer_grid({"fgsm@0.2": {"standard": 0.1, "input_gradient": 0.2}})
    pair = [record("standard", CLEAN, transfer=only_targets), record("input_gradient", CLEAN, transfer=only_targets)]
    c = check(pair, "ross2018", 1)
    assert c.verdict is Verdict.MISSING and "no source other than" in c.note


def test_distillation_masking_needs_a_ten_point_gap() -> None:
    def distillation(white_box: float, n: int) -> Record:
        wb = [1, 1, 1, white_box, 0.9, 0.9]
        return record("distillation", transfer={**curves(fgsm_white_box=wb, fgsm_surrogate=GRID), "n": n})

    assert check([distillation(0.9, 256)], "ross2018", 4).verdict is Verdict.HOLDS  # 0.9 vs 0.3 at eps 0.3
    assert check([distillation(0.35, 256)], "ross2018", 4).verdict is Verdict.FAILS  # 5 points
    # 16 points on 50 images: the point estimate clears 10 points, Newcombe's interval (−3 to +34) does not
    c = check([distillation(0.46, 50)], "ross2018", 4)
    assert c.verdict is Verdict.FAILS
    assert c.measured[-1].ci_low is not None and c.measured[-1].ci_low < 0.1 < c.measured[-1].value
    # without the image count there is no interval, hence no verdict
    assert check([distillation(0.9, 0)], "ross2018", 4).verdict is Verdict.MISSING


@pytest.mark.parametrize(("ig", "n", "expected"), [(0.6, 256, Verdict.HOLDS), (0.6, 20, Verdict.FAILS)])
def test_ross_beyond_eps_needs_an_interval_above_zero(ig: float, n: int, expected: Verdict) -> None:
    def entry(name: str, beyond: float) -> Record:
        return record(name, transfer={**curves(fgsm_surrogate=[1, 1, 1, 0.5, beyond, beyond]), "n": n})

    records = [
        record("standard", transfer={**curves(fgsm_white_box=[1, 0.9, 0.5, 0.2, 0.1, 0.0]), "n": n}),
        entry("input_gradient", ig),
        entry("fgsm_at", 0.35),
    ]
    c = check(records, "ross2018", 2)
    assert c.verdict is expected  # 25 points at eps 0.4 and 0.5: clear on 256 images, not on 20


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


def beyond(*acc: float, n: int = 200) -> dict[str, Any]:
    """An AutoAttack section with accuracies at ε = 0.35 and 0.4 beyond the track's 0.3."""
    return {"eps": 0.3, "beyond": [{"eps": e, "accuracy": a, "n": n} for e, a in zip([0.35, 0.4], acc, strict=True)]}


def test_boopathy_beyond_eps_uses_autoattack_at_every_grid_point_above_the_track_eps() -> None:
    int_ = record("interpretability_aware", autoattack=beyond(0.4, 0.3))
    at_better_at_04 = record("pgd_at", autoattack=beyond(0.39, 0.31))
    assert check([int_, at_better_at_04], "boopathy2020", 2).verdict is Verdict.FAILS
    c = check([int_, record("pgd_at", autoattack=beyond(0.3, 0.2))], "boopathy2020", 2)
    assert c.verdict is Verdict.HOLDS
    assert {m.label for m in c.measured if m.value is not None} >= {
        "interpretability_aware: AutoAttack at ε = 0.35",
        "interpretability_aware: AutoAttack at ε = 0.4",
        "pgd_at: AutoAttack at ε = 0.35",
        "interpretability_aware − pgd_at at ε = 0.4",
    }
    diff = next(m for m in c.measured if m.label == "interpretability_aware − pgd_at at ε = 0.4")
    assert diff.value == pytest.approx(0.1) and diff.ci_low is not None and diff.ci_low < 0.1 < diff.ci_high


def test_boopathy_beyond_eps_without_autoattack_is_not_measured_even_with_a_pgd_sweep() -> None:
    # PGD beyond ε favours Int here, but PGD misses images AutoAttack breaks: it is shown, never the verdict
    int_ = record("interpretability_aware", pgd_sweep=sweep(0.9, 0.8, 0.7, 0.5, 0.4, 0.3), autoattack={"eps": 0.3})
    at = record("pgd_at", pgd_sweep=sweep(0.9, 0.9, 0.8, 0.6, 0.3, 0.2))
    c = check([int_, at], "boopathy2020", 2)
    assert c.verdict is Verdict.MISSING and "AutoAttack only at the track's ε" in c.note
    assert {m.label for m in c.measured} == {
        f"{n}: PGD at ε = {e} (reference only, not the rule)"
        for n in ("interpretability_aware", "pgd_at")
        for e in ("0.35", "0.4")
    }


def ara_radii(radii: list[float], value: float | None = None) -> tuple[dict[str, ScoreRecord], dict[str, Any]]:
    """An ``ara_attack`` score and its stage section holding the per-image radii (K = 10)."""
    from bench.results.ara import ara_of_radii

    ara = float(ara_of_radii(radii, 10)) if value is None else value
    return {"ara_attack": score(ara, n=len(radii))}, {"radii": {"attack": radii}, "num_classes": 10}


def test_woods_ara_rise_is_a_paired_bootstrap_on_the_radii() -> None:
    # standard: 20 images at radius 0.1 → ARA = 0.1·(1 − 1/10) = 0.09; the defended ones at 0.15 → 0.135:
    # every image moves by the same amount, so every resample's difference is 0.045 and the interval is that point
    scores, details = ara_radii([0.1] * 20)
    recs = [record("standard", scores, ara=details)]
    for n in ("pgd_at", "trades", "input_gradient"):
        scores, details = ara_radii([0.15] * 20)
        recs.append(record(n, scores, ara=details))
    c = check(recs, "woods2019", 0)
    assert c.verdict is Verdict.MISSING and "lipschitz" in c.note  # lipschitz absent: no verdict
    scores, details = ara_radii([0.15] * 20)
    c = check([*recs, record("lipschitz", scores, ara=details)], "woods2019", 0)
    assert c.verdict is Verdict.HOLDS
    diffs = [m for m in c.measured if "common images" in m.label]
    assert len(diffs) == 4 and all(
        (m.value, m.ci_low, m.ci_high) == pytest.approx((0.045, 0.045, 0.045)) for m in diffs
    )


def test_woods_ara_rise_above_the_standard_by_point_estimate_only_does_not_hold() -> None:
    # lipschitz: 16 images at 0.1 and 4 at 0.3. Sorted, A(ε) = 4/20 on (0.1, 0.3], above 1/K = 0.1 by 0.1:
    # ARA = 0.09 + 0.2·0.1 = 0.11, 0.02 above standard's 0.09. A resample with X of the 4 raised images gains
    # 0.2·max(0, X/20 − 0.1), which is 0 when X ≤ 2: P = P[Bin(20, 0.2) ≤ 2] = 0.206 > 2.5%, so the interval
    # reaches 0 and the rise is not shown (the old point-estimate rule said it holds)
    recs = []
    for n in ("standard", "pgd_at", "trades", "input_gradient"):
        scores, details = ara_radii([0.1] * 20 if n == "standard" else [0.15] * 20)
        recs.append(record(n, scores, ara=details))
    scores, details = ara_radii([0.1] * 16 + [0.3] * 4)
    assert scores["ara_attack"].value == pytest.approx(0.11)
    c = check([*recs, record("lipschitz", scores, ara=details)], "woods2019", 0)
    lip = next(m for m in c.measured if m.label.startswith("lipschitz − standard"))
    assert lip.value == pytest.approx(0.02) and lip.ci_low == pytest.approx(0.0, abs=1e-12)
    assert c.verdict is Verdict.FAILS


@pytest.mark.parametrize(
    ("k", "expected"),
    [
        # 21/200 vs 0/200: 10.5 points, but Newcombe's interval is [6.5, 15.5]: its lower end is below 10 points
        (21, Verdict.FAILS),
        # 40/200 vs 0/200: 20 points, Newcombe [14.7, 26.1]: its lower end clears 10 points
        (40, Verdict.HOLDS),
        (0, Verdict.FAILS),
    ],
)
def test_boopathy_far_more_robust_gates_on_the_newcombe_lower_end(k: int, expected: Verdict) -> None:
    recs = [
        record("standard", {"autoattack_accuracy": score(0.0, 0.0, 0.0188, n=200)}),
        record("interpretability_aware", {"autoattack_accuracy": score(k / 200, n=200)}),
    ]
    c = check(recs, "boopathy2020", 1)
    assert c.verdict is expected
    diff = c.measured[-1]
    assert diff.value == pytest.approx(k / 200)
    if k == 21:
        assert (round(diff.ci_low, 3), round(diff.ci_high, 3)) == (0.065, 0.155)
    if k == 40:
        assert (round(diff.ci_low, 3), round(diff.ci_high, 3)) == (0.147, 0.261)


def test_woods_identity_is_a_sanity_check_not_a_claim() -> None:
    def ara(a: float, r: float) -> dict[str, Any]:
        return {"table": [{"criterion": "attack", "ara_exact": a, "mean_radius": r}]}

    ok = check([record("x", ara=ara(0.03, 0.04))], "woods2019", 1)
    assert ok.verdict is Verdict.HOLDS and ok.gate is Gate.SANITY and not ok.counted
    assert check([record("x", ara=ara(0.03, 0.04)), record("y", ara=ara(0.05, 0.04))], "woods2019", 1).verdict is (
        Verdict.FAILS
    )
    claims = track_claims("t", "T", [record("x", ara=ara(0.03, 0.04))])
    assert claims.sanity[Verdict.HOLDS.value] == 1
    assert claims.counts[Verdict.HOLDS.value] == 0  # the identity holding is not a claim that holds


def explain_tau(tau: list[float | None]) -> dict[str, Any]:
    return {"boopathy": {"topk": {"tau": tau}}}


def test_boopathy_tau_is_compared_on_the_common_image_set() -> None:
    # Int's own mean (over the images it kept) is higher, 0.78 vs standard's 0.705 — but standard lost the images
    # Int is most stable on, and on the images both kept Int is lower. Point estimates would "hold".
    int_tau: list[float | None] = [0.50, 0.55, 0.45, 0.52, 0.95, 0.96, 0.97, 0.98, 0.99, 0.93]
    std_tau: list[float | None] = [0.70, 0.72, 0.69, 0.71, None, None, None, None, None, None]
    tau = "explanation_topk_kendall_tau"
    recs = [
        record("interpretability_aware", {tau: score(0.78, n=10)}, explain=explain_tau(int_tau)),
        record("standard", {tau: score(0.705, n=4)}, explain=explain_tau(std_tau)),
    ]
    c = check(recs, "boopathy2020", 3)
    assert c.verdict is Verdict.FAILS
    diff = c.measured[-1]
    assert diff.label == "τ(Int) − τ(standard) on 4 common images"
    assert diff.value == pytest.approx(0.505 - 0.705) and diff.ci_high is not None and diff.ci_high < 0
    higher: list[float | None] = [0.90, 0.92, 0.89, 0.91, None, 0.1, 0.2]  # longer than standard's: common prefix
    recs[0] = record("interpretability_aware", explain=explain_tau(higher))
    c = check(recs, "boopathy2020", 3)
    assert c.verdict is Verdict.HOLDS and c.measured[-1].label.endswith("on 4 common images")


def test_boopathy_tau_without_per_image_values_is_not_measured() -> None:
    recs = [
        record("interpretability_aware", {"explanation_topk_kendall_tau": score(0.9)}),
        record("standard", {"explanation_topk_kendall_tau": score(0.5)}),
    ]
    c = check(recs, "boopathy2020", 3)
    assert c.verdict is Verdict.MISSING and "per-image τ" in c.note


def heo_row(**extra: Any) -> dict[str, Any]:
    return {
        "run": "gradcam:location",
        "accuracy_drop": 0.03,  # before − after: charges the control's drift to the fooling
        "accuracy_drop_vs_control": 0.015,
        "accuracy_after": 0.95,
        "fsr": 0.66,
        "fsr_original": 0.0,
        "fsr_control": 0.01,
        "rho_cam": 0.1,
        "rho_saliency": 0.7,
        "deletion_auc_before": 0.4,
        "deletion_auc_after": 0.6,
        **extra,
    }


def test_heo_accuracy_cost_is_against_the_control() -> None:
    recs = [record("standard", manipulate={"table": [heo_row()], "accuracy_control": 0.965})]
    c = check(recs, "heo2019", 0)
    assert c.verdict is Verdict.HOLDS  # control − after = 1.5 points; before − after (3 points) would fail
    assert [m.value for m in c.measured] == [0.965, 0.95, 0.015]
    recs = [record("standard", manipulate={"table": [heo_row(accuracy_drop_vs_control=0.025)]})]
    assert check(recs, "heo2019", 0).verdict is Verdict.FAILS


def test_heo_fsr_and_control() -> None:
    recs = [record("standard", manipulate={"table": [heo_row()]})]
    verdicts = [c.verdict for c in PAPERS.get("heo2019")(Evidence("t", recs)).checks]
    # transfer: CAM (Grad-CAM's own map on a GAP net) does not count; saliency's 0.7 is not below 0.5;
    # deletion: after > before, but no per-image values against the control: not measured
    assert verdicts == [Verdict.HOLDS, Verdict.HOLDS, Verdict.HOLDS, Verdict.FAILS, Verdict.MISSING]


def heo_deletion(row: dict[str, Any], **images: list[float]) -> Any:
    return check([record("standard", manipulate={"table": [{**row, "deletion_auc_images": images}]})], "heo2019", 4)


def test_heo_deletion_is_against_the_control_with_an_interval() -> None:
    rng = np.random.default_rng(1)
    control = rng.uniform(0.5, 0.7, 40)
    # fine-tuning alone moved deletion from 0.4 to ~0.6; the fooled model is no worse than the control
    same = control + rng.normal(0, 0.02, 40)
    row = heo_row(deletion_auc_after=float(same.mean()), deletion_auc_control=float(control.mean()))
    c = heo_deletion(row, before=[0.4] * 40, after=same.tolist(), control=control.tolist())
    assert c.verdict is Verdict.FAILS  # "after > before" would hold
    d = c.measured[-1]
    assert d.label == "fooled − control on 40 images" and d.ci_low is not None and d.ci_low < 0 < (d.ci_high or 0)
    worse = (control + 0.05 + rng.normal(0, 0.02, 40)).tolist()
    c = heo_deletion(row, before=[0.4] * 40, after=worse, control=control.tolist())
    assert c.verdict is Verdict.HOLDS
    again = heo_deletion(row, before=[0.4] * 40, after=worse, control=control.tolist())
    assert again.measured[-1] == c.measured[-1]  # seeded: the same interval every time
    c = heo_deletion(row, after=worse, control=control.tolist()[:-1])
    assert c.verdict is Verdict.MISSING  # unequal lengths are not paired


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
    # a check that is not measured says why, beside its rule (the verdict cell holds the verdict alone)
    assert "Why not measured: clean accuracy of input_gradient or standard not recorded" in page
    assert "sanity checks (not counted)" in page
