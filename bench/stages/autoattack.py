"""The ``autoattack`` stage: white-box robust accuracy under AutoAttack at the track's ε (the ranking number).

AutoAttack (Croce & Hein, ICML 2020) ``standard`` version through ``pyautoattack`` (the ``autoattack``
attack plug-in): APGD-CE, APGD-T, FAB-T and Square run in sequence on the points still robust, so the
result is the per-sample worst case over the ensemble. The record keeps the per-image outcome
(``details["autoattack"]["robust"]``, same image order as the clean stage), the per-attack breakdown
(robust accuracy after each attack) and AutoAttack's captured sanity-check warnings, which the
``autoattack_checks`` finalizer turns into flags. A declared-randomised entry is run with ``rand_version``
(AutoAttack's ``rand``: APGD with EOT).

Beyond the track's ε (``beyond_eps``; default: the points of Boopathy et al.'s MNIST grid above the training ε,
the track's ε × 7/6 and × 4/3, i.e. 0.35 and 0.4 at ε = 0.3) the same AutoAttack runs on the same images, kept as
``details["beyond"]`` rows (ε, accuracy with its Wilson interval, per-image outcome). They are outside the threat
model — never part of the ranking score or of ``robust_accuracy`` — and feed the claims page's beyond-ε check,
which PGD would overstate (it misses images AutoAttack breaks).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import Tensor, nn

from bench.plugins import ATTACKS, STAGES, register_score
from bench.protocols import Stage, StageOutput
from bench.results.catalogue import builtin_spec
from bench.results.intervals import wilson_interval
from bench.scores.accuracy import accuracy_score
from bench.stage_settings import StageSettings, settings_dataclass
from bench.stages.pgd_sweep import default_grid
from bench.track import Track

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
    beyond_eps: list[float] | None = None

    def resolve(self, track: Track, quick: bool) -> AutoAttackSettings:
        """``beyond_eps`` defaults to the grid points above the track's ε (none in quick mode: smoke runs)."""
        if self.beyond_eps is not None:
            return self
        eps = track.threat.eps
        beyond = [] if quick else [e for e in default_grid(eps) if e > eps * (1 + 1e-9)]
        return dataclasses.replace(self, beyond_eps=beyond)


@STAGES.register("autoattack")
class AutoAttackStage(Stage):
    """AutoAttack on the first ``n`` evaluation images."""

    summary = "AutoAttack (standard) robust accuracy at the track's ε"

    order = 30
    version = "2"  # 2: AutoAttack beyond the track's ε (details.beyond)

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
            "beyond": [beyond(ctx, model, x, y, float(eps), kwargs) for eps in s["beyond_eps"]],
        }
        return StageOutput(scores=(accuracy_score(AA_ACC.name, robust),), details=details)


def beyond(ctx: Any, model: nn.Module, x: Tensor, y: Tensor, eps: float, kwargs: dict[str, Any]) -> dict[str, Any]:
    """AutoAttack (the same version and settings) at ``eps`` beyond the track's ε: one ``details["beyond"]`` row."""
    threat = dataclasses.replace(ctx.track.threat, eps=eps, text="")
    out = ATTACKS.create("autoattack", threat, **kwargs).perturb(model, x, y, generator=ctx.generator("beyond", eps))
    robust = (~out.success).cpu()
    k, n = int(robust.sum()), len(robust)
    lo, hi = wilson_interval(k, n)
    return {"eps": eps, "accuracy": k / n, "n": n, "ci_low": lo, "ci_high": hi, "robust": robust.int().tolist()}
