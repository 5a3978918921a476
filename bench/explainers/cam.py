"""``cam``: class activation map (Zhou et al. 2016) of a GAP + linear head, as Boopathy et al. (2020) use it."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from bench.explainers.base import Ranking
from bench.explainers.functional import cam
from bench.plugins import EXPLAINERS
from bench.protocols import Explainer


@EXPLAINERS.register("cam")
class CAMExplainer(Explainer):
    """I_c = Σ_k W_ck A_k (signed; mean over positions = logit c), upsampled bilinearly to the input.

    Needs a model exposing ``cam(x)`` (:class:`bench.models.SmallCNN`); others raise a ``TypeError``.
    """

    needs_cam_layer = True
    ranking: ClassVar[Ranking] = Ranking.SIGNED

    def explain(self, model: nn.Module, x: Tensor, target: Tensor, *, generator: torch.Generator) -> Tensor:
        """One forward pass; deterministic."""
        with torch.no_grad():
            return cam(model, x, target)
