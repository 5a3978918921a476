"""Regularizing neural activation sensitivity (Shabtai group; objective reconstructed from the abstracts)."""

from __future__ import annotations

from leaderboard.claims.common import PAPERS, clean_within
from leaderboard.evidence import (
    Check,
    Evidence,
    Gate,
    Measurement,
    PaperClaims,
    disjoint_above,
    verdict,
)

EXPLANATION_SCORES: tuple[tuple[str, bool], ...] = (
    ("max_sensitivity", False),
    ("deletion_auc", False),
    ("insertion_auc", True),
    ("faithfulness_correlation", True),
    ("explanation_topk_kendall_tau", True),
)


def _better(ev: Evidence, entry: str, other: str) -> tuple[list[Measurement], list[bool | None]]:
    rows: list[Measurement] = []
    better: list[bool | None] = []
    for name, higher in EXPLANATION_SCORES:
        a, b = ev.score(entry, name), ev.score(other, name)
        rows += [ev.measure(entry, name, unit="score"), ev.measure(other, name, unit="score")]
        better.append(disjoint_above(a, b) if higher else disjoint_above(b, a))
    return rows, better


@PAPERS.register("activation_sensitivity")
def activation_sensitivity(ev: Evidence) -> PaperClaims:
    """Regularizing neural activation sensitivity (Moshe et al., Machine Learning 2024, arXiv 2211.08686, and Fidel
    et al., arXiv 2009.11349; objective reconstructed from the abstracts)."""
    checks = [
        clean_within(
            ev,
            "activation_sensitivity",
            2,
            "Regularizing activation sensitivity costs at most 2 points of clean accuracy.",
            "No public numbers we could verify.",
        )
    ]
    rows, better = _better(ev, "activation_sensitivity", "standard")
    known = [b for b in better if b is not None]
    checks.append(
        Check(
            "Explanations of the regularized model are better than the standard model's on at least one fidelity or "
            "explanation-robustness metric.",
            Gate.ASSERT,
            verdict(any(known) if known else None),
            tuple(rows),
            "Abstract: the regularized models are better than standard ones in interpretability.",
            "at least one of max-sensitivity↓, deletion↓, insertion↑, faithfulness↑, CAM τ↑ better with "
            "non-overlapping 95% intervals",
        )
    )
    rows, better = _better(ev, "activation_sensitivity", "pgd_at")
    known = [b for b in better if b is not None]
    checks.append(
        Check(
            "Explanations of the regularized model are better than an adversarially trained model's.",
            Gate.REPORT,
            verdict(sum(known) > len(known) / 2 if known else None),
            tuple(rows),
            'Abstract: "models trained using our proposed method are even better than adversarially robust models '
            'in terms of interpretability" (unverified: method section unread).',
            "better than pgd_at on a majority of the five metrics, non-overlapping 95% intervals",
        )
    )
    return PaperClaims(
        "activation_sensitivity",
        "Regularizing neural activation sensitivity (objective reconstructed from the abstracts)",
        "Moshe, Fidel, Bitton, Shabtai, Machine Learning 2024 (and Fidel, Bitton, Katzir, Shabtai, arXiv 2020)",
        "https://arxiv.org/abs/2211.08686",
        2,
        "Lowering the sensitivity of individual neurons to small input perturbations improves interpretability, "
        "beyond what adversarial training gives.",
        tuple(checks),
    )
