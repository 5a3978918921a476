"""Transfer attacks: craft adversarial examples once on a source model, evaluate them on any number of
target models with forward passes only (Ross & Doshi-Velez 2018's transfer matrix; DESIGN.md §3).

Crafted examples are stored as 8-bit images, as real images are: :func:`quantize` rounds to the 8-bit
grid *inside the threat model* — for ℓ∞ each pixel is rounded to the nearest grid value within
[x − ε, x + ε] ∩ [0, 1]; for ℓ2 the perturbation is scaled down (bisection) until its rounded version fits
the ball. This requires the clean inputs themselves to lie on the 8-bit grid (they are 8-bit images; a
clear error otherwise), so the quantised example is a valid image that honours the budget exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bench.protocols import Attack, evaluation_mode
from bench.types import Norm, ThreatModel

LEVELS = 255
GRID_TOLERANCE = 1e-3  # in grey levels: float32 images loaded from uint8 sit within ~1e-5 of the grid
BISECTION_STEPS = 30


def dequantize(images: Tensor) -> Tensor:
    """uint8 grey levels → float images in [0, 1] (``u / 255``).

    >>> dequantize(torch.tensor([0, 51, 255], dtype=torch.uint8)).tolist()
    [0.0, 0.20000000298023224, 1.0]
    """
    if images.dtype != torch.uint8:
        raise TypeError(f"dequantize expects uint8 images, got {images.dtype}")
    return images.float() / LEVELS


def _levels(x: Tensor) -> Tensor:
    """``x`` in grey levels, checked to be on the 8-bit grid."""
    scaled = x.double() * LEVELS
    off = (scaled - scaled.round()).abs().max() if x.numel() else torch.tensor(0.0)
    if float(off) > GRID_TOLERANCE:
        raise ValueError(
            f"transfer crafting needs clean inputs on the 8-bit grid (k/255); found a pixel {float(off):.3g} grey "
            "levels off it"
        )
    return scaled.round()


def quantize(x_adv: Tensor, x: Tensor, threat: ThreatModel) -> Tensor:
    """Round adversarial inputs to uint8 grey levels without leaving ``threat``'s ball around ``x``.

    >>> t = ThreatModel.parse("linf:0.1")
    >>> x = torch.full((1, 1, 1, 2), 0.4)  # 102/255
    >>> quantize(x + torch.tensor([0.1, -0.1]).view(1, 1, 1, 2), x, t).flatten().tolist()  # ±25.5 levels
    [127, 77]
    """
    if threat.lower != 0.0 or threat.upper != 1.0:
        raise ValueError(f"8-bit quantisation assumes the domain [0, 1]; the threat model's domain is {threat}")
    base = _levels(x)
    target = x_adv.double().clamp(0, 1) * LEVELS
    if threat.norm is Norm.LINF:
        eps = threat.eps * LEVELS
        lo = torch.ceil(base - eps - GRID_TOLERANCE).clamp_min(0)
        hi = torch.floor(base + eps + GRID_TOLERANCE).clamp_max(LEVELS)
        return torch.minimum(torch.maximum(target.round(), lo), hi).to(torch.uint8)
    budget = threat.eps * LEVELS
    delta = target - base
    shape = (-1,) + (1,) * (x.dim() - 1)

    def fits(scale: Tensor) -> Tensor:
        q = (base + scale.view(shape) * delta).round().clamp(0, LEVELS)
        return (q - base).flatten(1).norm(dim=1) <= budget * (1 + 1e-9)

    lo_s = torch.zeros(len(x), dtype=torch.float64, device=x.device)
    hi_s = torch.ones_like(lo_s)
    ok = fits(hi_s)
    lo_s = torch.where(ok, hi_s, lo_s)
    for _ in range(BISECTION_STEPS):
        mid = (lo_s + hi_s) / 2
        good = fits(mid) & ~ok
        lo_s = torch.where(good, mid, lo_s)
        hi_s = torch.where(good | ok, hi_s, mid)
    return (base + lo_s.view(shape) * delta).round().clamp(0, LEVELS).to(torch.uint8)


def craft(attack: Attack, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator) -> Tensor:
    """Adversarial examples of ``attack`` against the source ``model`` on **every** image, quantised to uint8
    (see module).

    Every image is perturbed, including those the source already misclassifies (``every_image``): an image
    left clean would be shown unperturbed to every target and counted as resisted, inflating transfer
    accuracy (Ross & Doshi-Velez 2018, https://arxiv.org/abs/1711.09404, evaluate targets on the whole
    crafted test set)."""
    x_adv = attack(model, x, y, generator=generator, every_image=True)
    return quantize(x_adv, x, attack.threat)


def transfer_correct(
    model: nn.Module, images: Tensor, y: Tensor, *, batch_size: int = 500, device: torch.device | None = None
) -> Tensor:
    """Per image: the target ``model`` classifies the (uint8) crafted example correctly; forward passes only."""
    dev = device if device is not None else images.device
    out = []
    with evaluation_mode(model), torch.no_grad():
        for i in range(0, len(images), batch_size):
            batch = dequantize(images[i : i + batch_size]).to(dev)
            out.append(model(batch).argmax(1).cpu() == y[i : i + batch_size].cpu())
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.bool)


def transfer_robust(
    model: nn.Module,
    images: Tensor,
    y: Tensor,
    clean_correct: Tensor,
    *,
    batch_size: int = 500,
    device: torch.device | None = None,
) -> Tensor:
    """Per image: the target ``model`` resists the crafted example — it classifies the example correctly **and**
    classifies the clean image correctly (``clean_correct``). An image the target already misclassifies clean is
    never robust, whatever the crafted example does: a targeted attack (TGSM's least-likely class) or a source's
    own errors can move the example *into* the true class, which is not robustness (the same convention as the
    white-box stages, where a clean mistake counts as an attack success)."""
    correct = transfer_correct(model, images, y, batch_size=batch_size, device=device)
    if clean_correct.shape != correct.shape:
        raise ValueError(f"clean_correct has shape {tuple(clean_correct.shape)}, expected {tuple(correct.shape)}")
    return correct & clean_correct.cpu().bool()
