"""The ``autoattack`` stage: white-box robust accuracy under AutoAttack at the track's ε (the ranking number).

AutoAttack (Croce & Hein, ICML 2020) ``standard`` version through ``pyautoattack`` (the ``autoattack``
attack plug-in): APGD-CE, APGD-T, FAB-T and Square run in sequence on the points still robust, so the
result is the per-sample worst case over the ensemble. The record keeps the per-image outcome
(``details["autoattack"]["robust"]``, same image order as the clean stage), the per-attack breakdown
(robust accuracy after each attack) and AutoAttack's captured sanity-check warnings, which the
``autoattack_checks`` finalizer turns into flags. A declared-randomised entry is run with ``rand_version``
(AutoAttack's ``rand``: APGD with EOT).
"""

from __future__ import annotations

from typing import Any

from bench.plugins import ATTACKS, STAGES, register_score
from bench.protocols import Stage, StageOutput
from bench.results.catalogue import builtin_spec
from bench.scores.accuracy import accuracy_score
from bench.stage_settings import StageSettings, settings_dataclass

AA_ACC = register_score(builtin_spec("autoattack_accuracy"))


@settings_dataclass(frozen=True)
class AutoAttackSettings(StageSettings):
    """``[stages.autoattack]``: ``version`` for deterministic models, ``rand_version`` for randomized ones;
    ``attacks`` with ``version = "custom"``."""

    n: int = 200
    version: str = "standard"
    rand_version: str = "rand"
    batch_size: int = 500
    attacks: list[str] | None = None


@STAGES.register("autoattack")
class AutoAttackStage(Stage):
    """AutoAttack on the first ``n`` evaluation images."""

    summary = "AutoAttack (standard) robust accuracy at the track's ε"

    order = 30

    Settings = AutoAttackSettings

    def robust_vectors(self, output: StageOutput) -> dict[str, list[int]]:
        """AutoAttack's per-image worst case (``details["robust"]``)."""
        return {"autoattack": [int(r) for r in output.details["robust"]]}

    def run(self, ctx: Any) -> StageOutput:
        """Robust accuracy, per-image outcome, per-attack breakdown and warnings."""
        s = ctx.settings
        model = ctx.model()
        x, y = ctx.eval_batch()
        randomized = ctx.randomized()
        version = str(s["rand_version"] if randomized else s["version"])
        kwargs: dict[str, Any] = {"version": version, "seed": ctx.track.seed, "batch_size": int(s["batch_size"])}
        if version == "custom":
            kwargs["attacks"] = list(s["attacks"])
        attack = ATTACKS.create("autoattack", ctx.track.threat, **kwargs)
        out = attack.perturb(model, x, y, generator=ctx.generator())
        robust = (~out.success).cpu()
        ctx.progress(len(y), len(y))
        details = {
            **dict(out.details),
            "robust_count": int(robust.sum()),
            "robust": robust.int().tolist(),
            "randomized": randomized,
            "eps": ctx.track.threat.eps,
            "norm": ctx.track.threat.norm.value,
        }
        return StageOutput(scores=(accuracy_score(AA_ACC.name, robust),), details=details)
