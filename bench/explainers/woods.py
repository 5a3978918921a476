"""``woods``: Woods, Chen, Teuscher (2019) adversarial explanation — the targeted RMSE-budget search g_explain."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from bench.explainers.base import Ranking
from bench.explainers.functional import woods_explanation
from bench.plugins import EXPLAINERS
from bench.protocols import Explainer


@EXPLAINERS.register("woods")
class WoodsExplainer(Explainer):
    """The perturbation δ that moves x toward the ``target`` class inside an RMSE budget ρ.

    The explanation in the paper is the image x + δ (kept for the leaderboard's gallery, see
    :func:`bench.explainers.functional.woods_explanation`); as an attribution map we return δ.
    Official defaults: ρ = 0.1, overshoot 5, 35 steps, no momentum, no clipping.
    """

    ranking: ClassVar[Ranking] = Ranking.MAGNITUDE

    def __init__(self, rho: float = 0.1, overshoot: float = 5.0, steps: int = 35) -> None:
        if rho <= 0 or steps < 1:
            raise ValueError(f"woods: need rho > 0 and steps ≥ 1, got {rho}, {steps}")
        self.rho = float(rho)
        self.overshoot = float(overshoot)
        self.steps = int(steps)

    def explain(self, model: nn.Module, x: Tensor, target: Tensor, *, generator: torch.Generator) -> Tensor:
        """δ = g_explain(x, c) − x; deterministic."""
        adv = woods_explanation(model, x, target, rho=self.rho, overshoot=self.overshoot, steps=self.steps)
        return adv - x
