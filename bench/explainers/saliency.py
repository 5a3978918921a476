"""``saliency``: SimpleGrad |∂f_c/∂x| (Simonyan, Vedaldi, Zisserman 2014) via Captum's ``Saliency``."""

from __future__ import annotations

from typing import ClassVar

import torch
from captum.attr import Saliency as CaptumSaliency
from torch import Tensor, nn

from bench.explainers.base import Ranking
from bench.plugins import EXPLAINERS
from bench.protocols import Explainer


@EXPLAINERS.register("saliency")
class SaliencyExplainer(Explainer):
    """Absolute input gradient of the target logit (Captum ``Saliency(abs=True)``)."""

    ranking: ClassVar[Ranking] = Ranking.MAGNITUDE

    def explain(self, model: nn.Module, x: Tensor, target: Tensor, *, generator: torch.Generator) -> Tensor:
        """|∂f_c/∂x|; deterministic (the generator is unused)."""
        with torch.enable_grad():
            return CaptumSaliency(model).attribute(x.requires_grad_(True), target=target, abs=True)
