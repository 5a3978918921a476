"""The ``ara`` stage: Woods et al.'s attack ARA and BTR ARA from per-image minimal RMSE radii.

Radii come from ``attacks.radii.minimal_radii`` (the per-sample minimum over Woods' L2,min search, run
with lazy gradients, and FAB-L2, shortened by a forward-only bisection towards x; every radius verified
adversarial; images already violating the criterion at radius 0; at most ``gradient_budget`` = 450
gradient evaluations per image, Woods' own search's count):

* attack ARA: criterion "misclassified" (argmax ≠ y), L2,min and FAB-T;
* BTR ARA: criterion "true-class probability ≤ 1/K" (Woods' ``use_l2min='btr'``), L2,min only (FAB has
  no BTR criterion).

ARA = ∫₀^∞ max(0, A(ε) − 1/K) dε computed exactly from the sorted radii (:func:`bench.scores.ara.ara_exact`);
Woods' 1000-bin version, the mean radius and the curve A(ε) are kept in ``details["ara"]``. Each ARA carries a
95% BCa bootstrap interval over the images (:func:`bench.results.intervals.image_bootstrap` of the per-image
radii, seeded; image sampling only, not training seeds). The search runs
``steps`` iterations (Woods: 450) on ``n`` images (Woods: 1000) to fit the track's budget; both counts are
in the record. A declared-randomised entry is searched through EOT.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from bench.plugins import STAGES, register_score
from bench.protocols import Stage, StageOutput
from bench.results.ara import ara_of_radii
from bench.results.catalogue import builtin_spec
from bench.results.intervals import image_bootstrap
from bench.running.flags import Check, make_flag
from bench.scores.ara import accuracy_curve, ara_exact, ara_histogram
from bench.stage_settings import StageSettings, settings_dataclass
from bench.stages.sanity import attack_model
from bench.types import Flag, ScoreSpec, ScoreValue

ARA_ATTACK = register_score(builtin_spec("ara_attack"))
ARA_BTR = register_score(builtin_spec("ara_btr"))

CRITERIA: tuple[tuple[str, ScoreSpec, str], ...] = (
    ("misclassify", ARA_ATTACK, "attack"),
    ("btr", ARA_BTR, "btr"),
)


def data_radius_bound(
    x: Tensor, y: Tensor, pool_x: Tensor, pool_logits: Tensor, criterion: str, num_classes: int
) -> Tensor:
    """Per image i: min_j RMSE(x_j − x_i) over the pool images x_j at which the criterion fails for label y_i
    (``inf`` when none does). Each x_j is a valid input on which the model was evaluated, so this is a verified
    upper bound on the minimal adversarial radius, used where the gradient searches find nothing.

    >>> pool = torch.stack([torch.zeros(1, 2, 2), torch.full((1, 2, 2), 0.5)])
    >>> logits = torch.tensor([[5.0, 0.0], [0.0, 5.0]])  # pool image 0 -> class 0, image 1 -> class 1
    >>> data_radius_bound(pool[:1], torch.tensor([0]), pool, logits, "misclassify", 2).tolist()
    [0.5]
    """
    from attacks.criteria import holds

    per_class = torch.stack(
        [holds(criterion, pool_logits, torch.full((len(pool_x),), c, dtype=torch.long)) for c in range(num_classes)]
    )  # (K, pool): the property holds at x_j for label c
    fails = ~per_class[y.cpu()]  # (n, pool)
    dist = torch.cdist(x.flatten(1).double().cpu(), pool_x.flatten(1).double().cpu()) / math.sqrt(x[0].numel())
    return torch.where(fails, dist, torch.full_like(dist, math.inf)).min(1).values


def ara_interval(radii: Sequence[float], num_classes: int) -> tuple[float, float]:
    """95% BCa bootstrap interval of the ARA of ``radii`` over the images (resampled with replacement; seeded,
    :func:`bench.results.intervals.image_bootstrap`).

    >>> [round(v, 12) for v in ara_interval([0.2] * 8, 10)]  # every resample is the same: the point r·(1 − 1/K)
    [0.18, 0.18]
    """

    def ara(r: np.ndarray, axis: int = -1) -> np.ndarray | float:
        return ara_of_radii(r, num_classes, axis=axis)

    return image_bootstrap(ara, [radii])


@settings_dataclass(frozen=True)
class AraSettings(StageSettings):
    """``[stages.ara]``."""

    n: int = 200
    steps: int = 100
    btr_steps: int = 150
    use_fab: bool = True
    fab_steps: int = 50
    fab_targets: int = 2
    gradient_budget: int = 450
    radius_cap: float = 1.0
    pool: int = 1000
    eot_draws: int = 8


@STAGES.register("ara")
class ARAStage(Stage):
    """Minimal radii for both criteria on the first ``n`` images; ARA, curve and radii in the record."""

    summary = "minimal ℓ∞/ℓ2 radii per image and Woods et al.'s accuracy-robustness area (ARA)"

    order = 60
    version = "3"  # 3: bootstrap interval of each ARA; 2: lazy-gradient L2,min with Woods' full schedule + FAB-T +
    # bisection (was FAB then warm L2,min)

    Settings = AraSettings

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
        pool_x, _ = ctx.eval_batch(int(s["pool"]))
        with torch.no_grad():
            pool_logits = torch.cat([model(pool_x[i : i + 500]) for i in range(0, len(pool_x), 500)]).cpu()
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
                gradient_budget=int(s["gradient_budget"]),
            )
            radius = result.radius.detach().cpu().double()
            found = torch.isfinite(radius) & result.verified.cpu().bool()
            radius = torch.where(found, radius, torch.full_like(radius, math.inf))
            bound = data_radius_bound(x, y, pool_x, pool_logits, criterion, K).clamp(max=cap)
            from_data = bound < radius
            radius = torch.minimum(radius, bound)
            if not bool(found.all()):
                missing[key] = int((~found).sum())
            value = ara_exact(radius, K)
            scores.append(ScoreValue(spec.name, value, len(radius), *ara_interval(radius.tolist(), K)))
            xs, ys = accuracy_curve(radius, K)
            curves[key] = {
                "title": f"{spec.title}: A(ε) = fraction of images with minimal RMSE radius > ε",
                "x": xs,
                "y": ys,
                "xlabel": "RMSE radius ε",
                "ylabel": "accuracy" if criterion == "misclassify" else "better-than-random rate",
            }
            radii_out[key] = [float(r) for r in radius.tolist()]
            winners = [
                "nearest eval image" if bool(d) else w
                for w, d in zip(result.details.get("winner", [None] * len(y)), from_data.tolist(), strict=True)
                if bool(d) or w is not None
            ]
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
                    "gradient_evaluations_per_image": float(result.details.get("gradient_evaluations", 0.0)),
                    "gradient_evaluations_max": int(result.details.get("gradient_evaluations_max", 0)),
                    "gradient_budget": int(result.details.get("gradient_budget", 0)),
                }
            )
            ctx.progress(i + 1, len(CRITERIA))
        if missing:
            flags.append(
                make_flag(
                    Check.RADIUS_NOT_FOUND,
                    {**{f"not_found_{k}": v for k, v in missing.items()}, "cap": cap},
                    detail=", ".join(f"{k}: {v} of {len(y)} images" for k, v in missing.items())
                    + f"; bounded by the nearest of {len(pool_x)} evaluation images on which the criterion fails"
                    + f" (at most RMSE {cap:g})",
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
