"""The ``sanity`` stage: model checks and attack-consistency checks on each entry (see :mod:`bench.running.checks`).

Runs on the first ``n`` evaluation images: non-finite outputs, softmax outputs, zero input gradients,
randomness (``draws`` forward passes), a dynamic forward pass, BatchNorm statistics changed during
evaluation, accuracy at a budget ``large_eps`` that allows any image (PGD without random start), and PGD at
the track's ε with ``steps_few`` and ``steps_many`` iterations of the same step size (last iterate, no early
stop: more iterations must not give higher accuracy). A declared-randomised entry is attacked through EOT.

The two PGD runs at the track's ε are also recorded, with their per-image results, under
``details["sanity"]["attacks_at_eps"]`` so the ``robust_accuracy`` finalizer takes them into its per-image
worst case over every attack run.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from bench.plugins import ATTACKS, STAGES
from bench.protocols import Stage, StageOutput
from bench.running.checks import (
    MODEL_CHECKS,
    check_randomized,
    check_zero_gradients,
    large_eps_accuracy,
    more_steps_raise_accuracy,
)
from bench.running.flags import Check
from bench.stage_settings import StageSettings, settings_dataclass
from bench.types import Flag, ThreatModel


def attack_model(model: nn.Module, randomized: bool, draws: int) -> nn.Module:
    """The model attacks should see: EOT over ``draws`` forward passes for a declared-randomised entry."""
    if not randomized:
        return model
    from attacks.eot import EOT

    return EOT(model, draws)


def robust_under(
    attack_name: str, threat: ThreatModel, model: nn.Module, x: Tensor, y: Tensor, gen: torch.Generator, **kw: Any
) -> Tensor:
    """0/1 robustness per image under a registered attack."""
    attack = ATTACKS.create(attack_name, threat, **kw)
    return (~attack.perturb(model, x, y, generator=gen).success).cpu()


@settings_dataclass(frozen=True)
class SanitySettings(StageSettings):
    """``[stages.sanity]``."""

    n: int = 100
    draws: int = 5
    large_eps: float = 1.0
    large_eps_steps: int = 20
    large_eps_step_size: float = 0.1
    large_eps_max_accuracy: float = 0.05
    steps_few: int = 10
    steps_many: int = 100
    step_size: float = 0.01
    alpha: float = 0.05
    eot_draws: int = 8


@STAGES.register("sanity")
class SanityStage(Stage):
    """Flags for the entry, each with a one-line explanation; a table of every check's outcome."""

    summary = "gradient-masking and other sanity flags from the other stages' results"

    order = 35
    version = "2"  # v2: per-image results of the PGD runs at the track's ε (attacks_at_eps[...]["robust"])

    Settings = SanitySettings

    def run(self, ctx: Any) -> StageOutput:
        """Every check on the entry's model."""
        s = ctx.settings
        model = ctx.model()
        x, y = ctx.eval_batch()
        declared = ctx.randomized()
        outcomes: dict[Check, Flag | None] = {}
        for check, fn in MODEL_CHECKS.items():
            if check is Check.ZERO_GRADIENTS:
                outcomes[check] = check_zero_gradients(model, x, y)
            elif check is Check.RANDOMIZED:
                outcomes[check] = check_randomized(model, x, int(s["draws"]), declared=declared)
            else:
                outcomes[check] = fn(model, x)
        ctx.progress(1, 3)
        if outcomes[Check.NONFINITE] is not None:  # attacks on NaN outputs mean nothing
            flags = tuple(f for f in outcomes.values() if f is not None)
            return StageOutput(flags=flags, details=self._details(outcomes, {}, len(y)))
        target = attack_model(model, declared, int(s["eot_draws"]))
        threat = ctx.track.threat
        big = ThreatModel(threat.norm, float(s["large_eps"]), f"{threat.norm.value}:{s['large_eps']}")
        robust_big = robust_under(
            "pgd",
            big,
            target,
            x,
            y,
            ctx.generator("large_eps"),
            steps=int(s["large_eps_steps"]),
            step_size=float(s["large_eps_step_size"]),
            random_start=False,
        )
        acc_big = float(robust_big.float().mean())
        outcomes[Check.LARGE_EPS] = large_eps_accuracy(
            acc_big, big.eps, max_accuracy=float(s["large_eps_max_accuracy"]), n=len(y)
        )
        ctx.progress(2, 3)
        few, many = int(s["steps_few"]), int(s["steps_many"])
        runs = {}
        for steps in (few, many):
            runs[steps] = robust_under(
                "pgd",
                threat,
                target,
                x,
                y,
                ctx.generator("steps"),  # the same random start for both
                steps=steps,
                step_size=float(s["step_size"]),
                random_start=True,
                early_stop=False,
            )
        outcomes[Check.MORE_STEPS] = more_steps_raise_accuracy(
            runs[few], runs[many], steps=(few, many), alpha=float(s["alpha"])
        )
        ctx.progress(3, 3)
        at_eps = {
            f"pgd-{steps} (sanity, last iterate)": {
                "accuracy": float(r.float().mean()),
                "n": len(r),
                "robust": r.int().tolist(),
            }
            for steps, r in runs.items()
        }
        details = self._details(outcomes, at_eps, len(y))
        details["large_eps"] = {
            "eps": big.eps,
            "accuracy": acc_big,
            "steps": int(s["large_eps_steps"]),
            "max_accuracy": float(s["large_eps_max_accuracy"]),
        }
        return StageOutput(flags=tuple(f for f in outcomes.values() if f is not None), details=details)

    @staticmethod
    def _details(outcomes: dict[Check, Flag | None], at_eps: dict[str, Any], n: int) -> dict[str, Any]:
        table = [
            {
                "check": check.value,
                "result": "ok" if flag is None else flag.severity.value,
                "detail": "" if flag is None else flag.message,
            }
            for check, flag in outcomes.items()
        ]
        return {
            "n": n,
            "checks": {
                c.value: {"fired": f is not None, "evidence": dict(f.evidence) if f else {}}
                for c, f in outcomes.items()
            },
            "attacks_at_eps": at_eps,
            "table": table,
        }
