"""FGSM (Goodfellow, Shlens, Szegedy, ICLR 2015, https://arxiv.org/abs/1412.6572), as Ross & Doshi-Velez
(AAAI 2018) use it: x' = clip(x + ε·sign ∇ₓ CE(f(x), y)); ℓ2: x' = clip(x + ε·∇/‖∇‖₂)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bench.plugins import ATTACKS
from bench.protocols import Attack
from bench.running.adversarial import pgd


@ATTACKS.register("fgsm")
class FGSM(Attack):
    """One gradient-sign step of size ε on the cross-entropy (one forward+backward pass)."""

    def run(self, model: nn.Module, x: Tensor, y: Tensor, *, generator: torch.Generator) -> Tensor:
        """x + ε·d(∇ CE), projected by the base."""
        return pgd(model, x, y, self.threat, steps=1, step_size=self.threat.eps, random_init=False, generator=None)
