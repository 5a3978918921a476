"""The ``pgd`` stage: PGD robust accuracy at the track's ε (a fast white-box number; AutoAttack is the
ranking one)."""

from __future__ import annotations

from typing import Any

from bench.plugins import ATTACKS, STAGES, register_score
from bench.protocols import Stage, StageOutput
from bench.results.catalogue import builtin_spec
from bench.results.intervals import wilson_interval
from bench.stage_settings import StageSettings, settings_dataclass
from bench.types import ScoreValue

PGD_ACC = register_score(builtin_spec("pgd_accuracy"))


@settings_dataclass(frozen=True)
class PGDSettings(StageSettings):
    """``[stages.pgd]`` (``step_size`` None: the attack's default, 2.5·ε/steps)."""

    n: int | None = None
    steps: int = 40
    step_size: float | None = None
    random_start: bool = True
    restarts: int = 1
    batch_size: int = 250


@STAGES.register("pgd")
class PGDStage(Stage):
    """PGD with the track's settings; per-image robustness kept for paired comparisons."""

    summary = "PGD robust accuracy at the track's ε (per image, for paired tests)"

    order = 20
    Settings = PGDSettings

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
            steps=int(s["steps"]),
            step_size=s["step_size"],
            random_start=bool(s["random_start"]),
            restarts=int(s["restarts"]),
        )
        robust = []
        bs = int(s["batch_size"])
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
