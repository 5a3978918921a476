"""MI-FGSM (Dong et al., "Boosting Adversarial Attacks with Momentum", CVPR 2018,
https://arxiv.org/abs/1710.06081): momentum on ℓ₁-normalised gradients, the standard attack for crafting
transferable examples. Defaults follow the paper: μ = 1.0, T = 10, α = ε/T."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bench.plugins import ATTACKS
from bench.protocols import Attack
from bench.running.adversarial import momentum_iterative
from bench.types import ThreatModel


@ATTACKS.register("mifgsm")
class MIFGSM(Attack):
    """Momentum iterative FGSM (no early stop: transfer wants the full trajectory).

    Args:
        threat: Budget and domain.
        steps: Iterations T (one forward+backward pass each).
        decay: Momentum μ.
        step_size: Per-step size; default ε/T.
    """

    def __init__(
        self, threat: ThreatModel, steps: int = 10, decay: float = 1.0, step_size: float | None = None
    ) -> None:
        super().__init__(threat)
        if steps < 1:
            raise ValueError("steps must be at least 1")
        if decay < 0:
            raise ValueError(f"decay must be non-negative, got {decay}")
        self.steps = steps
        self.decay = decay
        self.step_size = step_size if step_size is not None else threat.eps / steps

    def run(self, model: nn.Module, x: Tensor, y: Tensor, *, generator: torch.Generator) -> Tensor:
        """T momentum steps from x."""
        return momentum_iterative(
            model, x, y, self.threat, steps=self.steps, decay=self.decay, step_size=self.step_size
        )
