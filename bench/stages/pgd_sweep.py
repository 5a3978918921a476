"""The ``pgd_sweep`` stage: white-box PGD accuracy over an ε grid that goes past the track's ε, in Boopathy
et al.'s protocol (ICML 2020, https://arxiv.org/abs/2006.14748, ``eval.py``): ℓ∞ PGD with **no random
start**, step 0.01, 100 steps, 200 images, MNIST grid ε ∈ {0.05, 0.1, 0.2, 0.3, 0.35, 0.4}.

Attacks beyond the training ε (0.35, 0.4 on MNIST) are where Boopathy et al. claim interpretability-aware
training beats PGD adversarial training; the claims page reads this curve. Its runs at ε ≤ the track's ε are
attacks within the threat model: ``robust_accuracy`` takes their per-image results into its per-image worst
case (on the image prefix every attack covers).

Settings (``[stages.pgd_sweep]``): ``n`` (200), ``steps`` (100), ``step_size`` (0.01 × ε_track/0.3, i.e. the
paper's 0.01 on MNIST), ``eps_grid`` (default: the track's ε × (1/6, 1/3, 2/3, 1, 7/6, 4/3), the MNIST grid's
shape), ``random_start`` (false), ``batch_size``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from bench.plugins import ATTACKS, STAGES
from bench.protocols import Stage, StageOutput
from bench.results.intervals import wilson_interval
from bench.stage_settings import StageSettings, settings_dataclass
from bench.track import Track

RELATIVE_GRID = (1 / 6, 1 / 3, 2 / 3, 1.0, 7 / 6, 4 / 3)


def default_grid(eps: float) -> list[float]:
    """Boopathy et al.'s MNIST grid {0.05, 0.1, 0.2, 0.3, 0.35, 0.4} rescaled to a track's ε.

    >>> default_grid(0.3)
    [0.05, 0.1, 0.2, 0.3, 0.35, 0.4]
    """
    return [round(eps * r, 6) for r in RELATIVE_GRID]


@settings_dataclass(frozen=True)
class PGDSweepSettings(StageSettings):
    """``[stages.pgd_sweep]``: ``eps_grid`` defaults to :func:`default_grid` of the track's ε, ``step_size`` to
    0.01 · ε / 0.3 (the paper's 0.01 on MNIST)."""

    n: int = 200
    eps_grid: list[float] | None = None
    steps: int = 100
    step_size: float | None = None
    random_start: bool = False
    batch_size: int = 250

    def resolve(self, track: Track, quick: bool) -> PGDSweepSettings:
        """The grid and step size from the track's ε."""
        eps = track.threat.eps
        return dataclasses.replace(
            self,
            eps_grid=self.eps_grid if self.eps_grid is not None else default_grid(eps),
            step_size=self.step_size if self.step_size is not None else 0.01 * eps / 0.3,
        )


@STAGES.register("pgd_sweep")
class PGDSweepStage(Stage):
    """PGD accuracy at every ε of a grid reaching past the track's ε (no random start, as the paper)."""

    summary = "PGD accuracy over a grid of ε reaching past the track's (a masking check)"

    order = 21
    Settings = PGDSweepSettings

    def robust_vectors(self, output: StageOutput) -> dict[str, list[int]]:
        """The sweep's runs at ε ≤ the track's ε (within the threat model), per image."""
        d = output.details
        limit = float(d["track_eps"]) * (1 + 1e-9)
        return {
            f"pgd-{int(d['steps'])} at ε={float(eps):g} (no random start)": [int(r) for r in robust]
            for eps, robust in dict(d["robust"]).items()
            if float(eps) <= limit
        }

    def run(self, ctx: Any) -> StageOutput:
        """Accuracy (with Wilson 95% intervals) at each ε; the per-image robust flags are kept."""
        s = ctx.settings
        threat = ctx.track.threat
        grid = [float(e) for e in s["eps_grid"]]
        if not grid or any(e <= 0 for e in grid):
            raise ValueError(f"pgd_sweep: eps_grid must be positive budgets, got {grid}")
        steps = int(s["steps"])
        step_size = float(s["step_size"])
        model = ctx.model()
        x, y = ctx.eval_batch(int(s["n"]))
        bs = int(s["batch_size"])
        table: list[dict[str, Any]] = []
        robust_by_eps: dict[str, list[int]] = {}
        for j, eps in enumerate(grid):
            attack = ATTACKS.create(
                "pgd",
                dataclasses.replace(threat, eps=eps, text=""),
                steps=steps,
                step_size=step_size,
                random_start=bool(s["random_start"]),
            )
            parts = []
            for i in range(0, len(y), bs):
                out = attack.perturb(model, x[i : i + bs], y[i : i + bs], generator=ctx.generator(eps, i))
                parts.append(~out.success.cpu())
            robust = torch.cat(parts)
            k, n = int(robust.sum()), len(robust)
            lo, hi = wilson_interval(k, n)
            table.append({"eps": eps, "accuracy": k / n, "ci_low": lo, "ci_high": hi, "n": n})
            robust_by_eps[repr(eps)] = robust.int().tolist()
            ctx.progress(j + 1, len(grid))
        curve = {
            "title": f"White-box PGD-{steps} accuracy vs ℓ∞ ε (no random start; track ε = {threat.eps:g})",
            "x": [row["eps"] for row in table],
            "y": [row["accuracy"] for row in table],
            "xlabel": "ℓ∞ budget ε",
            "ylabel": "accuracy",
        }
        return StageOutput(
            details={
                "table": table,
                "curves": {"pgd_sweep": curve},
                "robust": robust_by_eps,
                "steps": steps,
                "step_size": step_size,
                "random_start": bool(s["random_start"]),
                "track_eps": threat.eps,
                "n": len(y),
            },
        )
