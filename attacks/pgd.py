"""PGD (Madry et al. 2018, https://arxiv.org/abs/1706.06083), ℓ∞ and ℓ2, random start, restarts.

Restarts keep, per sample, the first restart that succeeds (AutoAttack-style worst case).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bench.adversarial import pgd
from bench.plugins import ATTACKS
from bench.protocols import Attack
from bench.types import ThreatModel


@ATTACKS.register("pgd")
class PGD(Attack):
    """Projected gradient descent on the cross-entropy.

    Args:
        threat: Budget and domain.
        steps: Iterations per restart.
        step_size: Absolute step (ℓ∞: per pixel; ℓ2: in ℓ2 norm). Default 2.5·ε/steps (Madry et al.).
        random_start: Start from a uniform point in the ε-ball.
        restarts: Independent restarts; a sample counts as broken if any restart breaks it.
    """

    def __init__(
        self,
        threat: ThreatModel,
        steps: int = 40,
        step_size: float | None = None,
        random_start: bool = True,
        restarts: int = 1,
    ) -> None:
        super().__init__(threat)
        if steps < 1 or restarts < 1:
            raise ValueError("steps and restarts must be at least 1")
        self.steps = steps
        self.step_size = step_size if step_size is not None else 2.5 * threat.eps / steps
        self.random_start = random_start
        self.restarts = restarts

    def run(self, model: nn.Module, x: Tensor, y: Tensor, *, generator: torch.Generator) -> Tensor:
        """Best-of-``restarts`` PGD."""
        best = x.clone()
        remaining = torch.ones(len(x), dtype=torch.bool, device=x.device)
        for _ in range(self.restarts):
            idx = remaining.nonzero().squeeze(1)
            if len(idx) == 0:
                break
            cand = pgd(
                model,
                x[idx],
                y[idx],
                self.threat,
                steps=self.steps,
                step_size=self.step_size,
                random_init=self.random_start,
                generator=generator,
            )
            best[idx] = cand
            with torch.no_grad():
                broken = model(cand).argmax(1) != y[idx]
            remaining[idx[broken]] = False
        return best
