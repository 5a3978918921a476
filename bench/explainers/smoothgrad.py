"""``smoothgrad``: SmoothGrad (Smilkov et al. 2017) via Captum's ``NoiseTunnel`` over ``Saliency``."""

from __future__ import annotations

from typing import ClassVar

import torch
from captum.attr import NoiseTunnel, Saliency
from torch import Tensor, nn

from bench.explainers.base import Ranking
from bench.plugins import EXPLAINERS
from bench.protocols import Explainer


@EXPLAINERS.register("smoothgrad")
class SmoothGradExplainer(Explainer):
    """φ = (1/S) Σ_s |∂f_c(x + ε_s)/∂x|, ε_s ~ N(0, σ²) per input value.

    Captum draws its noise from the global RNG; we fork that RNG and seed it from the ``generator``, so the
    map is a deterministic function of the generator and nothing else's random stream moves.

    Args:
        samples: Noise samples S (Captum's ``nt_samples``; Heo et al. use 16).
        sigma: Noise standard deviation in [0, 1] pixel units (0.15 = Smilkov et al.'s 15% of the range).
        batch_size: Most noisy inputs per pass.
    """

    ranking: ClassVar[Ranking] = Ranking.MAGNITUDE

    def __init__(self, samples: int = 16, sigma: float = 0.15, batch_size: int = 2048) -> None:
        if samples < 1 or sigma <= 0:
            raise ValueError(f"smoothgrad: need samples ≥ 1 and sigma > 0, got {samples}, {sigma}")
        self.samples = int(samples)
        self.sigma = float(sigma)
        self.batch_size = int(batch_size)

    def explain(self, model: nn.Module, x: Tensor, target: Tensor, *, generator: torch.Generator) -> Tensor:
        """Average absolute gradient over the noisy copies; same generator state, same map."""
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        devices = [x.device.index or 0] if x.device.type == "cuda" else []
        per_batch = max(1, min(self.samples, self.batch_size // max(1, len(x))))
        with torch.random.fork_rng(devices=devices), torch.enable_grad():
            torch.manual_seed(seed)
            out = NoiseTunnel(Saliency(model)).attribute(
                x,
                nt_type="smoothgrad",
                nt_samples=self.samples,
                nt_samples_batch_size=per_batch,
                stdevs=self.sigma,
                target=target,
                abs=True,
            )
        assert isinstance(out, Tensor)
        return out
