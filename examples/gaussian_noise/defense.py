"""A worked example of a submitted defense: Gaussian data augmentation.

Shipped beside ``entry.toml`` and named there as ``[defense] module = "defense.py"``. ``robex submit``
imports it only inside the isolated build process, where it registers its defense under a new name
and trains it; the scorer only reads the weights the build returns.
Training adds N(0, σ²) noise to each training image (clipped to [0, 1]) and minimises cross-entropy; it is
a weak baseline against ℓ∞ attacks (noise augmentation mainly helps against random, not worst-case,
perturbations; cf. Cohen, Rosenfeld & Kolter, ICML 2019, who use it with randomized smoothing).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.hyperparameters import UnitInterval
from bench.plugins import DEFENSES
from bench.protocols import Defense, DefenseCard, TrainState


@DEFENSES.register("example_gaussian_noise")
class GaussianNoiseAugmentation(Defense):
    """Minimise E_δ CE(f(clip(x + δ)), y) with δ ~ N(0, σ²I), one noise draw per image and step."""

    card = DefenseCard(
        title="Certified Adversarial Robustness via Randomized Smoothing (training augmentation only)",
        authors="Jeremy Cohen, Elan Rosenfeld, J. Zico Kolter",
        venue="ICML 2019",
        year=2019,
        url="https://arxiv.org/abs/1902.02918",
        summary="Cross-entropy on Gaussian-noised training images (σ = sigma).",
        fidelity="The training augmentation only: no smoothed classifier or certification at test time.",
    )
    defaults: ClassVar[dict[str, Any]] = {"sigma": 0.3}
    schema: ClassVar[dict[str, Any]] = {"sigma": UnitInterval}  # σ on [0, 1] pixels; checked before training

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, state: TrainState) -> Tensor:
        """Cross-entropy on ``clip(x + σ·ε)``, ε drawn from the engine's seeded generator."""
        noise = torch.randn(x.shape, generator=state.generator).to(x.device)
        return F.cross_entropy(model((x + float(self.hp["sigma"]) * noise).clamp(0.0, 1.0)), y)
