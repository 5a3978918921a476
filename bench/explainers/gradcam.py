"""``gradcam``: Grad-CAM (Selvaraju et al. 2017) via Captum's ``LayerGradCam`` at the model's ``cam_layer``."""

from __future__ import annotations

from typing import ClassVar

import torch
from captum.attr import LayerGradCam
from torch import Tensor, nn

from bench.explainers.base import Ranking
from bench.explainers.functional import cam_layer, upsample
from bench.plugins import EXPLAINERS
from bench.protocols import Explainer


@EXPLAINERS.register("gradcam")
class GradCAMExplainer(Explainer):
    """ReLU(Σ_k α_k A_k), α_k = mean_{h,w} ∂f_c/∂A_k, upsampled bilinearly to the input (all channels)."""

    needs_cam_layer = True
    ranking: ClassVar[Ranking] = Ranking.MAGNITUDE

    def explain(self, model: nn.Module, x: Tensor, target: Tensor, *, generator: torch.Generator) -> Tensor:
        """Grad-CAM at ``model.cam_layer``; deterministic. Captum removes its hooks itself."""
        with torch.enable_grad():
            low = LayerGradCam(model, cam_layer(model)).attribute(x, target=target, relu_attributions=True)
        assert isinstance(low, Tensor)
        return upsample(low, x)
