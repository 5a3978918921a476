"""The fooling curve of a run: which held-out images are fooled at checkpoints along the fine-tuning.

The final fooling success rate saturates (a fixed budget of Adam steps fools Grad-CAM location on every held-out
image of most models), so the manipulability headline is graded by *how fast* the fooling succeeds: the fooling
success rate at the checkpoints ``0 = t₀ < … < t_K = S`` of the run, averaged over the run
(:func:`bench.scores.manipulation.run_average`: the area under the FSR-vs-steps curve divided by the budget S).
Per image it is the image's fooled share of the run, so the score has a per-image mean and interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from bench.scores import manipulation as hm
from bench.scores.manipulation import Interval
from bench.stages.manipulate.objectives import Heldout, Interpreter, Objective

#: The default checkpoints as fractions of the budget: dense early, where the fooling of most models happens.
CHECKPOINT_FRACTIONS = (0.0, 0.025, 0.05, 0.075, 0.1, 0.125, 0.1875, 0.25, 0.375, 0.5, 0.75, 1.0)


def default_checkpoints(steps: int) -> list[int]:
    """The checkpoints of a ``steps``-step run: :data:`CHECKPOINT_FRACTIONS` of it, rounded, without repeats.

    >>> default_checkpoints(80)
    [0, 2, 4, 6, 8, 10, 15, 20, 30, 40, 60, 80]
    >>> default_checkpoints(4)
    [0, 1, 2, 3, 4]
    """
    return sorted({round(f * steps) for f in CHECKPOINT_FRACTIONS})


def checked_checkpoints(checkpoints: Sequence[int], steps: int) -> list[int]:
    """``checkpoints`` sorted, refused unless they start at 0, end at ``steps`` and lie within the run."""
    out = sorted({int(c) for c in checkpoints})
    if not out or out[0] != 0 or out[-1] != steps:
        raise ValueError(f"[stages.manipulate] fsr_checkpoints must run from 0 to steps = {steps}, got {out}")
    return out


@dataclass
class FoolingCurve:
    """The observer a fooling run calls at its checkpoints (``fine_tune(..., observe=curve)``): per-image success
    on the held-out images, scored against the original model's maps ``h_original``."""

    interp: Interpreter
    objective: Objective
    interval: Interval
    heldout: Heldout
    h_original: Tensor
    checkpoints: list[int]
    success: dict[int, Tensor] = field(default_factory=dict)

    def __call__(self, step: int, model: nn.Module) -> None:
        """Record which held-out images ``model`` fools after ``step`` steps."""
        h = self.objective.heldout_maps(model, self.interp, self.heldout)
        self.success[step] = self.interval.contains(self.objective.heldout_scores(h, self.h_original)).cpu()

    def per_image(self) -> Tensor:
        """Each held-out image's fooled share of the run ``(N,)``."""
        if sorted(self.success) != self.checkpoints:
            raise RuntimeError(f"the run observed steps {sorted(self.success)}, not {self.checkpoints}")
        indicators = torch.stack([self.success[t].float() for t in self.checkpoints], dim=1)
        return hm.run_average(self.checkpoints, indicators)

    def details(self, run: str) -> dict[str, Any]:
        """The curve for the record: steps, FSR at each, the run average and the steps to FSR ≥ 0.5."""
        rates = [round(float(self.success[t].float().mean()), 6) for t in self.checkpoints]
        half = hm.steps_to_rate(self.checkpoints, rates, 0.5)
        return {
            "run": run,
            "steps": list(self.checkpoints),
            "fsr": rates,
            "run_average": round(float(self.per_image().mean()), 6),
            "steps_to_half": None if half is None else round(half, 3),
            "images": len(self.success[0]),
        }
