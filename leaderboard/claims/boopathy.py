"""Boopathy et al. (2020), interpretability-aware defenses (https://arxiv.org/abs/2006.14748): its claims on a track."""

from __future__ import annotations

from leaderboard.claim_stats import paired_mean_difference
from leaderboard.claims.common import BOOTSTRAP_SEED, PAPERS, clean_within
from leaderboard.evidence import (
    Check,
    Evidence,
    Gate,
    Measurement,
    PaperClaims,
    Verdict,
    common_pairs,
    disjoint_above,
    per_image,
    verdict,
)


def boopathy_tau(ev: Evidence) -> Check:
    """Int's CAM Kendall τ vs standard's on the images where both kept their prediction (paired bootstrap)."""
    int_ = "interpretability_aware"
    statement = "CAMs of Int are more stable under the top-k interpretation attack (higher Kendall τ) than normal."
    rule = (
        "mean over the images both models kept their prediction on (common prefix of the evaluation subset) of "
        f"τ(Int) − τ(standard), BCa bootstrap 95% interval (seed {BOOTSTRAP_SEED}) above 0"
    )
    rows = [
        ev.measure(int_, "explanation_topk_kendall_tau", "CAM τ (own image set)", unit="score"),
        ev.measure("standard", "explanation_topk_kendall_tau", "CAM τ (own image set)", unit="score"),
    ]
    paper = "Direction from the abstract; values unverified."
    taus = [per_image(ev, n, "explain", "boopathy", "topk", "tau") for n in (int_, "standard")]
    if taus[0] is None or taus[1] is None:
        note = (
            "the records hold no per-image τ (details.explain.boopathy.topk.tau); averages over different image "
            "sets are not compared"
        )
        return Check(statement, Gate.ASSERT, Verdict.MISSING, tuple(rows), paper, rule, note)
    a, b = common_pairs(taus[0], taus[1])
    if not a:
        return Check(statement, Gate.ASSERT, Verdict.MISSING, tuple(rows), paper, rule, "no image kept by both models")
    d = paired_mean_difference(a, b, seed=BOOTSTRAP_SEED)
    rows.append(Measurement(f"τ(Int) − τ(standard) on {d.n} common images", d.value, "score", d.ci_low, d.ci_high))
    return Check(statement, Gate.ASSERT, verdict(d.above_zero), tuple(rows), paper, rule)


@PAPERS.register("boopathy2020")
def boopathy(ev: Evidence) -> PaperClaims:
    """Boopathy et al. (ICML 2020, https://arxiv.org/abs/2006.14748): evaluation protocol and small-scale checks."""
    int_ = "interpretability_aware"
    checks = [
        clean_within(
            ev,
            int_,
            3,
            "Interpretability-aware training (Int) keeps clean accuracy within ~2–3 points of normal training.",
            "The paper's headline tables could not be verified (https://arxiv.org/abs/2006.14748).",
        )
    ]
    a, b = ev.score(int_, "autoattack_accuracy"), ev.score("standard", "autoattack_accuracy")
    checks.append(
        Check(
            "Under attack at the training ε, Int is far more accurate than normal training.",
            Gate.ASSERT,
            verdict(None if a is None or b is None else bool(disjoint_above(a, b)) and a.value - b.value >= 0.1),
            (
                ev.measure(int_, "autoattack_accuracy", "AutoAttack"),
                ev.measure("standard", "autoattack_accuracy", "AutoAttack"),
                ev.measure(int_, "pgd_accuracy", "PGD"),
                ev.measure("standard", "pgd_accuracy", "PGD"),
            ),
            "Direction from the abstract; table values unverified.",
            "AutoAttack accuracy at least 10 points higher, non-overlapping 95% intervals",
        )
    )
    eps = ev.eps
    beyond = [
        float(r["eps"])
        for r in ev.section(int_, "pgd_sweep").get("table", [])
        if eps is not None and float(r["eps"]) > eps + 1e-9
    ]
    rows: list[Measurement] = []
    wins: list[bool] = []
    for e in beyond:
        vals = {
            n: ev.row(n, "pgd_sweep", eps=e)
            for n in (int_, "interpretability_aware_int2", "pgd_at", "trades", "standard")
        }
        for n, row in vals.items():
            rows.append(
                Measurement(
                    f"{n}: PGD at ε = {e:g}",
                    None if row is None else float(row["accuracy"]),
                    ci_low=None if row is None else row.get("ci_low"),
                    ci_high=None if row is None else row.get("ci_high"),
                )
            )
        ours, at = vals[int_], vals["pgd_at"]
        if ours is not None and at is not None:
            wins.append(float(ours["accuracy"]) >= float(at["accuracy"]))
    checks.append(
        Check(
            "Beyond the training ε, Int is at least as accurate as PGD adversarial training.",
            Gate.REPORT,
            verdict(all(wins) if wins and len(wins) == len(beyond) else None),
            tuple(rows),
            "Claimed direction at ε = 0.35, 0.4 on MNIST (tables unverified).",
            "PGD (no random start, step 0.01 × ε/0.3) accuracy of Int ≥ pgd_at at every grid ε above the track's ε",
        )
    )
    checks.append(boopathy_tau(ev))
    return PaperClaims(
        "boopathy2020",
        "Proper Network Interpretability Helps Adversarial Robustness in Classification",
        "Boopathy, Liu, Zhang, Liu, Chen, Chang, Daniel, ICML 2020",
        "https://arxiv.org/abs/2006.14748",
        3,
        "Training for robust CAM interpretations (no adversarial cross-entropy) yields adversarial robustness, "
        "especially beyond the training ε, and more stable explanations.",
        tuple(checks),
    )
