"""TGSM, the targeted gradient sign method as Ross & Doshi-Velez (AAAI 2018, arXiv 1711.09404) use it:
target t = (y + 1) mod K, x' = clip(x − α·sign ∇ₓ CE(f(x), t)), one step of α = ε, or iterated (their
notebook: 10 steps) with every iterate projected onto the ε-ball and [0, 1]."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from bench.plugins import ATTACKS
from bench.protocols import Attack
from bench.running.adversarial import pgd
from bench.types import ThreatModel


@ATTACKS.register("tgsm")
class TGSM(Attack):
    """Targeted gradient sign descent towards (y + 1) mod K; success means the target class is predicted.

    Args:
        threat: Budget and domain.
        steps: 1 for the single-step TGSM; more for the iterated variant.
        step_size: Per-step size; default ``min(ε, 2.5·ε/steps)`` (ε for the single step).
        early_stop: Freeze a sample once the target class is predicted (iterated variant).
    """

    targeted = True
    smoke_kwargs: ClassVar[Mapping[str, Any]] = {"steps": 3}

    def __init__(
        self, threat: ThreatModel, steps: int = 1, step_size: float | None = None, early_stop: bool = True
    ) -> None:
        super().__init__(threat)
        if steps < 1:
            raise ValueError("steps must be at least 1")
        if step_size is not None and not step_size > 0:
            raise ValueError(f"step_size must be positive, got {step_size}")
        self.steps = steps
        self.step_size = step_size if step_size is not None else min(threat.eps, 2.5 * threat.eps / steps)
        self.early_stop = early_stop

    def run(self, model: nn.Module, x: Tensor, y: Tensor, *, generator: torch.Generator) -> Tensor:
        """Descend the cross-entropy of the target class."""
        with torch.no_grad():
            num_classes = model(x[:1]).shape[1]
        return pgd(
            model,
            x,
            self.target(y, num_classes),
            self.threat,
            steps=self.steps,
            step_size=self.step_size,
            random_init=False,
            generator=None,
            targeted=True,
            early_stop=self.early_stop,
        )
