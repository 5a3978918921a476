"""Woods, Chen & Teuscher (2019), adversarial explanations and ARA (https://arxiv.org/abs/1906.02896): its claims."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bench.results.ara import ara_of_radii
from leaderboard.claim_stats import paired_statistic_difference
from leaderboard.claims.common import BOOTSTRAP_SEED, PAPERS
from leaderboard.evidence import (
    Check,
    Evidence,
    Gate,
    Measurement,
    PaperClaims,
    Verdict,
    common_pairs,
    per_image,
    verdict,
)

ARA_DEFENDED = ("pgd_at", "trades", "input_gradient", "lipschitz")


MNIST_TRACKS = ("mnist", "mnist5k")  # where robex's estimate for a standard MNIST CNN applies


def ara_statistic(num_classes: int) -> Callable[..., np.ndarray | float]:
    """ARA of per-image radii along ``axis``, for ``num_classes`` classes (vectorised, for the bootstrap)."""

    def ara(values: np.ndarray, axis: int = -1) -> np.ndarray | float:
        return ara_of_radii(values, num_classes, axis=axis)

    return ara


def woods_ara_rises(ev: Evidence) -> Check:
    """Each defended entry's attack ARA minus standard's, with a paired bootstrap interval over the images both
    records' radii cover (details.ara.radii.attack, same evaluation subset: the first m images of each)."""
    statement = (
        "Adversarial training and robustness regularizers (including Woods' Lipschitz-style robust additions) "
        "raise ARA above the standard model's."
    )
    paper = (
        "CIFAR-10 ResNet-44 attack ARA: standard 0.0013, adv. training 0.0100, robust additions 0.0142, both "
        "0.0188 (8–15× the standard)."
    )
    rule = (
        "attack ARA of each of " + ", ".join(ARA_DEFENDED) + " − standard's, recomputed from the per-image minimal "
        "radii on the images both records cover, paired BCa bootstrap 95% interval over images "
        f"(scipy.stats.bootstrap, seed {BOOTSTRAP_SEED}) above 0 for every one"
    )
    rows = [ev.measure("standard", "ara_attack", "attack ARA", unit="rmse")]
    rows += [ev.measure(n, "ara_attack", "attack ARA", unit="rmse") for n in ARA_DEFENDED]
    base = per_image(ev, "standard", "ara", "radii", "attack")
    classes = ev.section("standard", "ara").get("num_classes")
    ara = ara_statistic(int(classes) if isinstance(classes, int) else 0)
    ok: list[bool] = []
    missing = [n for n in ("standard", *ARA_DEFENDED) if per_image(ev, n, "ara", "radii", "attack") is None]
    for n in ARA_DEFENDED:
        radii = per_image(ev, n, "ara", "radii", "attack")
        if radii is None or base is None or not isinstance(classes, int):
            continue
        a, b = common_pairs(radii, base)
        if not a:
            missing.append(n)
            continue
        d = paired_statistic_difference(a, b, ara, seed=BOOTSTRAP_SEED)
        label = f"{n} − standard: attack ARA on {d.n} common images"
        rows.append(Measurement(label, d.value, "rmse", d.ci_low, d.ci_high))
        ok.append(d.above_zero)
    if missing or not isinstance(classes, int):
        note = (
            "no per-image radii (details.ara.radii.attack) for " + ", ".join(sorted(set(missing)))
            if missing
            else "standard's record holds no class count (details.ara.num_classes)"
        )
        return Check(statement, Gate.ASSERT, Verdict.MISSING, tuple(rows), paper, rule, note)
    return Check(statement, Gate.ASSERT, verdict(all(ok)), tuple(rows), paper, rule)


@PAPERS.register("woods2019")
def woods(ev: Evidence) -> PaperClaims:
    """Woods, Chen, Teuscher (Nature MI 2019, https://arxiv.org/abs/1906.02896): ARA checks at small scale."""
    checks = [woods_ara_rises(ev)]
    ident_rows: list[Measurement] = []
    holds: list[bool] = []
    for name in sorted(ev.records):
        row = ev.row(name, "ara", criterion="attack")
        if row is None:
            continue
        ident_rows.append(Measurement(f"{name}: attack ARA / mean radius", row["ara_exact"], "rmse"))
        ident_rows.append(Measurement(f"{name}: mean radius", row["mean_radius"], "rmse"))
        holds.append(float(row["ara_exact"]) <= float(row["mean_radius"]) + 1e-12)
    checks.append(
        Check(
            "ARA never exceeds the mean minimal radius (an identity of the definition: a check of the computation, "
            "not of the paper's claim).",
            Gate.SANITY,
            verdict(all(holds) if holds else None),
            tuple(ident_rows),
            "Follows from ARA = ∫ max(0, A(ε) − 1/K) dε (Woods et al.'s definition, https://arxiv.org/abs/1906.02896).",
            "ARA ≤ mean radius for every entry",
        )
    )
    s = ev.score("standard", "ara_attack")
    checks.append(
        Check(
            "A standard MNIST CNN has attack ARA ≈ 0.03–0.05 (minimal ℓ2 perturbations ≈ 1–1.5).",
            Gate.REPORT,
            Verdict.NOT_APPLICABLE
            if ev.track not in MNIST_TRACKS
            else verdict(None if s is None else 0.03 <= s.value <= 0.05),
            (ev.measure("standard", "ara_attack", "attack ARA", unit="rmse"),),
            "robex's own estimate for a standard MNIST CNN, not a published number (MNIST tracks only).",
            "0.03 ≤ attack ARA(standard) ≤ 0.05, on the MNIST tracks only",
        )
    )
    return PaperClaims(
        "woods2019",
        "Adversarial explanations for understanding image classification decisions and improved neural network "
        "robustness",
        "Woods, Chen, Teuscher, Nature Machine Intelligence 2019",
        "https://arxiv.org/abs/1906.02896",
        4,
        "Robustness measured by ARA (the area under accuracy vs minimal RMSE radius) rises several-fold with "
        "adversarial training and Lipschitz-style robust additions.",
        tuple(checks),
    )
