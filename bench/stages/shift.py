"""The ``shift`` stage: the memorisation check that a look-up of the public evaluation images cannot pass.

On the first ``n`` published images and on copies of them moved by a random ½-1 pixel (:mod:`bench.scores.shift`;
the seed comes from the operating system's randomness and is recorded in ``details["seed"]``, so the draw can be
repeated), it measures clean accuracy and robust accuracy under PGD at the track's ε (EOT for a declared
randomised entry). When robust accuracy falls by more than ``tolerance`` with confidence
(:func:`~bench.scores.shift.compare_shift`) the entry gets the ``fail`` flag ``shift_disagrees``: it is robust
near stored pixels, not on the digits. The held-out draw of the ``clean`` stage cannot catch such an entry,
because every held-out pool here is public as well.

Measured on mnist5k (200 published images, PGD-40 at step 0.01, robust accuracy on the images → on their copies
moved ½-1 pixel, two draws): PGD-AT and TRADES as the leaderboard trains them (20 epochs) 67.5% → 47.5-48% and
72.5% → 52.5%, the lower end of the drop's 95% interval at 0.10; trained 6 epochs 48% → 32.5-35.5% and 38.5% →
22.5-23%; ``standard`` 0% → 0%, clean 96.5% → 96.5-97%. Adversarially trained networks are brittle to
translations (Engstrom et al. 2019, https://arxiv.org/abs/1712.02779), which is why the shifts stay under a pixel
and the tolerance is 25 points. Look-ups over the public pool: nearest neighbour 98.5% → 24.5%; the stored label
within ε of a pool digit and a 6-epoch PGD-AT elsewhere 100% → 34.5%, the network's own number. A look-up that
adds clean accuracy only (exact pixels → stored label, PGD-AT elsewhere: 100% clean, PGD-AT's robustness) is not
caught: shifted, it drops to PGD-AT's 93.5% clean, as PGD-AT itself does from 96.5%.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

import torch
from torch import Tensor, nn

from bench.plugins import STAGES
from bench.protocols import Stage, StageOutput
from bench.running.checks import shift_disagrees
from bench.scores.shift import compare_shift, draw_shifts, translate
from bench.stage_settings import StageSettings, settings_dataclass
from bench.stages.sanity import attack_model, robust_under
from bench.track import Track


@settings_dataclass(frozen=True)
class ShiftSettings(StageSettings):
    """``[stages.shift]``: ``n`` and ``steps`` default to 200 and 40 (32 and 10 in quick mode); ``step_size`` to
    PGD's default, 2.5·ε/steps."""

    n: int | None = None
    min_pixels: float = 0.5
    max_pixels: float = 1.0
    steps: int | None = None
    step_size: float | None = None
    tolerance: float = 0.25
    confidence: float = 0.95
    eot_draws: int = 8

    def resolve(self, track: Track, quick: bool) -> ShiftSettings:
        """The quick-aware defaults of ``n`` and ``steps``, ``n`` at most the evaluation subset."""
        n = self.n if self.n is not None else (32 if quick else 200)
        steps = self.steps if self.steps is not None else (10 if quick else 40)
        return dataclasses.replace(self, n=min(n, track.eval_subset.count), steps=steps)


@torch.no_grad()
def _correct(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    return (model(x).argmax(1) == y).cpu()


@STAGES.register("shift")
class ShiftStage(Stage):
    """Clean and PGD robust accuracy on the published images and on their shifted copies, and the flag."""

    summary = "memorisation check: robust accuracy on the published images moved by under a pixel"

    order = 22
    Settings = ShiftSettings

    def run(self, ctx: Any) -> StageOutput:
        """See the module docstring."""
        s = ctx.settings
        model = ctx.model()
        x, y = ctx.eval_batch()
        seed = secrets.randbits(63)
        shifts = draw_shifts(len(y), seed, float(s["min_pixels"]), float(s["max_pixels"]))
        moved = translate(x, shifts.to(x.device))
        target = attack_model(model, ctx.randomized(), int(s["eot_draws"]))
        pgd: dict[str, Any] = {"steps": int(s["steps"]), "random_start": True}
        if s["step_size"] is not None:
            pgd["step_size"] = float(s["step_size"])
        robust = {}
        for i, (name, images) in enumerate((("original", x), ("shifted", moved))):
            robust[name] = robust_under("pgd", ctx.track.threat, target, images, y, ctx.generator(name), **pgd)
            ctx.progress(i + 1, 2)
        c = compare_shift(
            int(robust["original"].sum()),
            int(robust["shifted"].sum()),
            len(y),
            tolerance=float(s["tolerance"]),
            confidence=float(s["confidence"]),
        )
        flag = shift_disagrees(c)
        details = {
            "seed": seed,
            "n": len(y),
            "pixels": [float(s["min_pixels"]), float(s["max_pixels"])],
            "clean_accuracy": float(_correct(model, x, y).float().mean()),
            "shifted_clean_accuracy": float(_correct(model, moved, y).float().mean()),
            "robust_accuracy": c.original_accuracy,
            "shifted_robust_accuracy": c.shifted_accuracy,
            "difference_ci": [c.ci_low, c.ci_high],
            "tolerance": c.tolerance,
            "confidence": c.confidence,
            "passed": flag is None,
            "robust": robust["original"].int().tolist(),
            "shifted_robust": robust["shifted"].int().tolist(),
        }
        return StageOutput(details=details, flags=(flag,) if flag is not None else ())
