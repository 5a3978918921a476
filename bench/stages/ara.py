"""The ``ara`` stage: Woods et al.'s attack ARA and BTR ARA from per-image minimal RMSE radii.

Radii come from ``attacks.radii.minimal_radii`` (the per-sample minimum over Woods' L2,min search and
FAB-L2, every radius verified adversarial; images already violating the criterion at radius 0):

* attack ARA: criterion "misclassified" (argmax ≠ y), L2,min and FAB;
* BTR ARA: criterion "true-class probability ≤ 1/K" (Woods' ``use_l2min='btr'``), L2,min only (FAB has
  no BTR criterion).

ARA = ∫₀^∞ max(0, A(ε) − 1/K) dε computed exactly from the sorted radii (:func:`bench.scores.ara.ara_exact`);
Woods' 1000-bin version, the mean radius and the curve A(ε) are kept in ``details["ara"]``. The search runs
``steps`` iterations (Woods: 450) on ``n`` images (Woods: 1000) to fit the track's budget; both counts are
in the record. A declared-randomised entry is searched through EOT.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from bench.checks import Check, make_flag
from bench.plugins import STAGES, register_score
from bench.protocols import Stage, StageOutput
from bench.scores.ara import accuracy_curve, ara_exact, ara_histogram
from bench.stages.sanity import attack_model
from bench.track import Track
from bench.types import Category, Flag, ScoreSpec, ScoreValue, Unit

ARA_ATTACK = register_score(
    ScoreSpec(
        name="ara_attack",
        title="Attack ARA",
        higher_is_better=True,
        unit=Unit.RMSE,
        category=Category.ARA,
        order=40,
        description="Woods et al. (2019) accuracy-robustness area ∫₀^∞ max(0, A(ε) − 1/K) dε, exact from the "
        "sorted per-image minimal RMSE radii of misclassification (min of the L2,min search and FAB; "
        "misclassified images at 0).",
    )
)
ARA_BTR = register_score(
    ScoreSpec(
        name="ara_btr",
        title="BTR ARA",
        higher_is_better=True,
        unit=Unit.RMSE,
        category=Category.ARA,
        order=41,
        description="Woods et al. (2019) ARA for the better-than-random criterion (true-class probability > 1/K), "
        "exact from the sorted per-image minimal RMSE radii of the L2,min search.",
    )
)

CRITERIA: tuple[tuple[str, ScoreSpec, str], ...] = (
    ("misclassify", ARA_ATTACK, "attack"),
    ("btr", ARA_BTR, "btr"),
)


@STAGES.register("ara")
class ARAStage(Stage):
    """Minimal radii for both criteria on the first ``n`` images; ARA, curve and radii in the record."""

    order = 60

    def settings(self, track: Track, quick: bool) -> dict[str, Any]:
        """``[stages.ara]`` with defaults filled in."""
        defaults: dict[str, Any] = {
            "n": 200,
            "steps": 100,
            "btr_steps": 150,
            "use_fab": True,
            "fab_steps": 50,
            "fab_targets": 2,
            "radius_cap": 1.0,
            "eot_draws": 8,
        }
        return {**defaults, **track.stage_settings(self.name, quick=quick)}

    def run(self, ctx: Any) -> StageOutput:
        """Both ARAs, their curves and the per-image radii."""
        from attacks.radii import minimal_radii

        s = ctx.settings
        K = ctx.track.num_classes
        model = attack_model(ctx.model(), ctx.randomized(), int(s["eot_draws"]))
        x, y = ctx.eval_batch()
        scores: list[ScoreValue] = []
        flags: list[Flag] = []
        curves: dict[str, Any] = {}
        table: list[dict[str, Any]] = []
        radii_out: dict[str, list[float]] = {}
        missing: dict[str, int] = {}
        cap = float(s["radius_cap"])
        for i, (criterion, spec, key) in enumerate(CRITERIA):
            result = minimal_radii(
                model,
                x,
                y,
                criterion=criterion,
                generator=ctx.generator(criterion),
                steps=int(s["steps"] if criterion == "misclassify" else s["btr_steps"]),
                use_fab=bool(s["use_fab"]) and criterion == "misclassify",
                fab_steps=int(s["fab_steps"]),
                fab_targets=int(s["fab_targets"]),
            )
            radius = result.radius.detach().cpu().double()
            found = torch.isfinite(radius) & result.verified.cpu().bool()
            if not bool(found.all()):
                missing[key] = int((~found).sum())
                radius = torch.where(found, radius, torch.full_like(radius, cap))
            value = ara_exact(radius, K)
            scores.append(ScoreValue(spec.name, value, len(radius)))
            xs, ys = accuracy_curve(radius, K)
            curves[key] = {
                "title": f"{spec.title}: A(ε) = fraction of images with minimal RMSE radius > ε",
                "x": xs,
                "y": ys,
                "xlabel": "RMSE radius ε",
                "ylabel": "accuracy" if criterion == "misclassify" else "better-than-random rate",
            }
            radii_out[key] = [float(r) for r in radius.tolist()]
            winners = [w for w in result.details.get("winner", []) if w is not None]
            wins = {name: winners.count(name) for name in sorted(set(winners))}
            table.append(
                {
                    "criterion": key,
                    "ara_exact": value,
                    "ara_woods_1000_bins": ara_histogram(radius, K, bins=1000),
                    "mean_radius": float(radius.mean()),
                    "median_radius": float(radius.median()),
                    "A(0)": float((radius > 0).double().mean()),
                    "radius_from": ", ".join(f"{k}: {v}" for k, v in wins.items()),
                    "not_found": int((~found).sum()),
                    "late": int(sum(bool(v) for v in result.details.get("late", []))),
                    "n": len(radius),
                    "l2min_steps": int(result.details.get("steps", 0)),
                    "fab_steps": int(result.details.get("fab_steps", 0)),
                    "fab_targets": int(result.details.get("fab_targets", 0)),
                    "gradient_evaluations_per_image": int(result.details.get("gradient_evaluations", 0)),
                }
            )
            ctx.progress(i + 1, len(CRITERIA))
        if missing:
            flags.append(
                make_flag(
                    Check.RADIUS_NOT_FOUND,
                    {**{f"not_found_{k}": v for k, v in missing.items()}, "cap": cap},
                    detail=", ".join(f"{k}: {v} of {len(y)} images" for k, v in missing.items())
                    + f"; capped at RMSE {cap:g}",
                )
            )
        details = {
            "curves": curves,
            "table": table,
            "radii": radii_out,
            "num_classes": K,
            "chance": 1.0 / K,
            "settings": {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in s.items()},
        }
        return StageOutput(scores=tuple(scores), details=details, flags=tuple(flags))
