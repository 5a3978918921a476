"""``input_x_gradient``: x ⊙ ∂f_c/∂x (Shrikumar et al. 2016) via Captum's ``InputXGradient``."""

from __future__ import annotations

from typing import ClassVar

import torch
from captum.attr import InputXGradient
from torch import Tensor, nn

from bench.explainers.base import Ranking
from bench.plugins import EXPLAINERS
from bench.protocols import Explainer


@EXPLAINERS.register("input_x_gradient")
class InputXGradientExplainer(Explainer):
    """Signed input × gradient; pixels are ranked by magnitude."""

    ranking: ClassVar[Ranking] = Ranking.MAGNITUDE

    def explain(self, model: nn.Module, x: Tensor, target: Tensor, *, generator: torch.Generator) -> Tensor:
        """x ⊙ ∂f_c/∂x; deterministic."""
        with torch.enable_grad():
            return InputXGradient(model).attribute(x.requires_grad_(True), target=target)
