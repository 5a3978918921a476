"""``integrated_gradients``: Sundararajan, Taly, Yan (2017) via Captum's ``IntegratedGradients``."""

from __future__ import annotations

from typing import ClassVar

import torch
from captum.attr import IntegratedGradients
from torch import Tensor, nn

from bench.explainers.base import Ranking
from bench.plugins import EXPLAINERS
from bench.protocols import Explainer


@EXPLAINERS.register("integrated_gradients")
class IntegratedGradientsExplainer(Explainer):
    """φ = x ⊙ ∫₀¹ ∂f_c(αx)/∂x dα with a zero (black) baseline and Captum's Gauss–Legendre rule.

    Args:
        steps: Number of interpolation points (Captum's ``n_steps``; Heo et al. use 16).
        batch_size: Most model inputs per forward/backward pass (Captum's ``internal_batch_size``).
    """

    ranking: ClassVar[Ranking] = Ranking.MAGNITUDE

    def __init__(self, steps: int = 16, batch_size: int = 2048) -> None:
        if steps < 2:
            raise ValueError(f"integrated_gradients: steps must be ≥ 2, got {steps}")
        self.steps = int(steps)
        self.batch_size = int(batch_size)

    def explain(self, model: nn.Module, x: Tensor, target: Tensor, *, generator: torch.Generator) -> Tensor:
        """Attributions relative to the all-zero image; deterministic."""
        with torch.enable_grad():
            out = IntegratedGradients(model).attribute(
                x,
                baselines=torch.zeros_like(x),
                target=target,
                n_steps=self.steps,
                method="gausslegendre",
                internal_batch_size=max(len(x), self.batch_size),
            )
        assert isinstance(out, Tensor)
        return out
