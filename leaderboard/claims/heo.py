"""Heo, Joo & Moon (2019), fooling neural network interpretations (https://arxiv.org/abs/1902.02041): its claims."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leaderboard.claim_stats import paired_mean_difference
from leaderboard.claims.common import BOOTSTRAP_SEED, PAPERS
from leaderboard.evidence import (
    Check,
    Evidence,
    Gate,
    Measurement,
    PaperClaims,
    Verdict,
    verdict,
)


def heo_deletion(ev: Evidence, row: Mapping[str, Any] | None) -> Check:
    """Grad-CAM's deletion AUC after the fooling vs the λ = 0 control's, per image, with a bootstrap interval."""
    statement = "Fidelity metrics expose the fooled explainer: Grad-CAM's deletion AUC gets worse (higher)."
    rule = (
        "mean over the fidelity images of deletion AUC(fooled) − deletion AUC(λ = 0 control), BCa bootstrap 95% "
        f"interval (seed {BOOTSTRAP_SEED}) above 0"
    )
    paper = (
        "robex's small-scale expectation from Heo et al.'s claim (https://arxiv.org/abs/1902.02041), not a number "
        "the paper reports: deletion/insertion of the fooled Grad-CAM should get worse while accuracy stays."
    )

    def value(key: str) -> float | None:
        return None if row is None or row.get(key) is None else float(row[key])

    rows = [
        Measurement("standard: Grad-CAM deletion AUC, original model", value("deletion_auc_before"), "score"),
        Measurement("standard: Grad-CAM deletion AUC, λ = 0 control", value("deletion_auc_control"), "score"),
        Measurement("standard: Grad-CAM deletion AUC, fooled", value("deletion_auc_after"), "score"),
    ]
    images = row.get("deletion_auc_images") if row is not None else None
    after = images.get("after") if isinstance(images, Mapping) else None
    control = images.get("control") if isinstance(images, Mapping) else None
    if not isinstance(after, list) or not isinstance(control, list) or not after or len(after) != len(control):
        note = (
            "the record holds no per-image deletion AUC of the fooled model and the λ = 0 control "
            "(details.manipulate.table[].deletion_auc_images)"
        )
        return Check(statement, Gate.ASSERT, Verdict.MISSING, tuple(rows), paper, rule, note)
    d = paired_mean_difference([float(v) for v in after], [float(v) for v in control], seed=BOOTSTRAP_SEED)
    rows.append(Measurement(f"fooled − control on {d.n} images", d.value, "score", d.ci_low, d.ci_high))
    return Check(statement, Gate.ASSERT, verdict(d.above_zero), tuple(rows), paper, rule)


@PAPERS.register("heo2019")
def heo(ev: Evidence) -> PaperClaims:
    """Heo, Joo, Moon (NeurIPS 2019, https://arxiv.org/abs/1902.02041), on the standard model's Grad-CAM location
    run."""
    row = ev.row("standard", "manipulate", run="gradcam:location")

    def field(key: str) -> float | None:
        return None if row is None or row.get(key) is None else float(row[key])

    drop, fsr, fsr0, ctrl = field("accuracy_drop_vs_control"), field("fsr"), field("fsr_original"), field("fsr_control")
    # CAM is Grad-CAM's own map on a GAP network: only the other explainers test transfer.
    skip = {"rho_gradcam", "rho_cam"}
    rhos = {k[4:]: float(v) for k, v in (row or {}).items() if k.startswith("rho_") and k not in skip}
    checks = [
        Check(
            "Fine-tuning with the fooling loss keeps accuracy (cost ≤ 2 points against the λ = 0 control).",
            Gate.ASSERT,
            verdict(None if drop is None else drop <= 0.02),
            (
                Measurement(
                    "standard: accuracy of the λ = 0 control",
                    ev.section("standard", "manipulate").get("accuracy_control"),
                ),
                Measurement("standard: accuracy after Grad-CAM location fooling", field("accuracy_after")),
                Measurement("standard: accuracy cost (control − after)", drop),
            ),
            "Passive fooling, VGG19 on ImageNet: top-1 .764 → .716 (location).",
            "accuracy of the λ = 0 control (fine-tuned identically, no fooling term) − accuracy after ≤ 2 points",
        ),
        Check(
            "The fooling success rate of Grad-CAM location fooling rises from ≈ 0 to ≥ 0.5.",
            Gate.ASSERT,
            verdict(None if fsr is None or fsr0 is None else fsr >= 0.5 and fsr0 <= 0.1),
            (
                Measurement("standard: FSR before (original model)", fsr0),
                Measurement("standard: FSR after", fsr),
                Measurement("standard: FSR of the λ = 0 control", ctrl),
            ),
            "The paper's FSR values are not quoted here (its text was not checked); the success interval "
            "(location score in [0, 0.2]) is robex's protocol constant, not the paper's.",
            "FSR after ≥ 0.5 and FSR of the original model ≤ 0.1",
        ),
        Check(
            "The fooling, not the fine-tuning, moves the explanations (the λ = 0 control is not fooled).",
            Gate.ASSERT,
            verdict(None if fsr is None or ctrl is None else fsr > ctrl + 0.3),
            (Measurement("standard: FSR after", fsr), Measurement("standard: FSR of the λ = 0 control", ctrl)),
            "",
            "FSR exceeds the control's by more than 30 points",
        ),
        Check(
            "The fooling transfers to other explainers (their maps' rank correlation with the original drops).",
            Gate.REPORT,
            verdict(None if not rhos else min(rhos.values()) < 0.5),
            tuple(
                Measurement(f"standard: Spearman ρ of {k} maps, after vs before", v, "score") for k, v in rhos.items()
            ),
            "Paper: fooling transfers to other interpreters.",
            "at least one explainer other than Grad-CAM and CAM (the same map on a GAP network) has ρ < 0.5",
        ),
        heo_deletion(ev, row),
    ]
    return PaperClaims(
        "heo2019",
        "Fooling Neural Network Interpretations via Adversarial Model Manipulation",
        "Heo, Joo, Moon, NeurIPS 2019",
        "https://arxiv.org/abs/1902.02041",
        5,
        "A model can be fine-tuned so that its explanations say something else while its accuracy barely moves.",
        tuple(checks),
    )
