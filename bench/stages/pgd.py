"""The ``pgd`` stage: PGD robust accuracy at the track's ε (a fast white-box number; AutoAttack is the
ranking one)."""

from __future__ import annotations

from typing import Any

from bench.plugins import ATTACKS, STAGES, register_score
from bench.protocols import Stage, StageOutput
from bench.results.catalogue import builtin_spec
from bench.results.intervals import wilson_interval
from bench.types import ScoreValue

PGD_ACC = register_score(builtin_spec("pgd_accuracy"))


@STAGES.register("pgd")
class PGDStage(Stage):
    """PGD with the track's settings; per-image robustness kept for paired comparisons."""

    order = 20

    def robust_vectors(self, output: StageOutput) -> dict[str, list[int]]:
        """The PGD run's per-image robustness (``details["robust"]``)."""
        return {f"pgd-{int(output.details['steps'])}": [int(r) for r in output.details["robust"]]}

    def run(self, ctx: Any) -> StageOutput:
        """Robust accuracy of the entry's model under PGD."""
        s = ctx.settings
        model = ctx.model()
        x, y = ctx.eval_batch()
        attack = ATTACKS.create(
            "pgd",
            ctx.track.threat,
            steps=int(s.get("steps", 40)),
            step_size=s.get("step_size"),
            random_start=bool(s.get("random_start", True)),
            restarts=int(s.get("restarts", 1)),
        )
        robust = []
        bs = int(s.get("batch_size", 250))
        for i in range(0, len(y), bs):
            out = attack.perturb(model, x[i : i + bs], y[i : i + bs], generator=ctx.generator(i))
            robust.append(~out.success.cpu())
            ctx.progress(min(i + bs, len(y)), len(y))
        import torch

        r = torch.cat(robust)
        k, n = int(r.sum()), len(r)
        lo, hi = wilson_interval(k, n)
        return StageOutput(
            scores=(ScoreValue(PGD_ACC.name, k / n, n, lo, hi),),
            details={
                "robust": r.int().tolist(),
                "steps": attack.steps,
                "step_size": attack.step_size,
                "restarts": attack.restarts,
                "eps": ctx.track.threat.eps,
            },
        )
