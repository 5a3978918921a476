"""Woods, Chen & Teuscher (2019), adversarial explanations and ARA (https://arxiv.org/abs/1906.02896): its claims."""

from __future__ import annotations

from leaderboard.claims.common import PAPERS
from leaderboard.evidence import (
    Check,
    Evidence,
    Gate,
    Measurement,
    PaperClaims,
    Verdict,
    verdict,
)

ARA_DEFENDED = ("pgd_at", "trades", "input_gradient", "lipschitz")


MNIST_TRACKS = ("mnist", "mnist5k")  # where robex's estimate for a standard MNIST CNN applies


@PAPERS.register("woods2019")
def woods(ev: Evidence) -> PaperClaims:
    """Woods, Chen, Teuscher (Nature MI 2019, https://arxiv.org/abs/1906.02896): ARA checks at small scale."""
    base = ev.score("standard", "ara_attack")
    rows = [ev.measure("standard", "ara_attack", "attack ARA", unit="rmse")]
    ok: list[bool] = []
    for n in ARA_DEFENDED:
        s = ev.score(n, "ara_attack")
        rows.append(ev.measure(n, "ara_attack", "attack ARA", unit="rmse"))
        if s is not None and base is not None:
            ok.append(s.value > base.value)
    checks = [
        Check(
            "Adversarial training and robustness regularizers (including Woods' Lipschitz-style robust additions) "
            "raise ARA above the standard model's.",
            Gate.ASSERT,
            verdict(all(ok) if len(ok) == len(ARA_DEFENDED) else None),
            tuple(rows),
            "CIFAR-10 ResNet-44 attack ARA: standard 0.0013, adv. training 0.0100, robust additions 0.0142, both "
            "0.0188 (8–15× the standard).",
            "attack ARA of each of " + ", ".join(ARA_DEFENDED) + " > standard's",
        )
    ]
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
