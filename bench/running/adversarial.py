"""Functional cores of gradient attacks, shared by the attack plug-ins (evaluation) and the defenses'
training objectives (inner maximisation). They do not touch the model's mode: callers decide."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.projection import project
from bench.types import Norm, ThreatModel

Objective = Callable[[Tensor, Tensor], Tensor]  # (logits, y) -> per-sample loss to *maximise*


def cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """Per-sample cross-entropy (the default objective)."""
    return F.cross_entropy(logits, y, reduction="none")


class BallStart(StrEnum):
    """How an ℓ2 random start draws its radius (the direction is always uniform)."""

    VOLUME = "volume"  # uniform in the ball's volume: radius ε·U^(1/d), i.e. almost always ≈ ε in high d
    RADIUS = "radius"  # radius ε·U (torchattacks' PGDL2): starts spread between x and the sphere


def random_start(
    x: Tensor, threat: ThreatModel, generator: torch.Generator, *, l2_start: BallStart = BallStart.VOLUME
) -> Tensor:
    """A uniform point of the ℓ∞ ball (or a uniform-direction point of the ℓ2 ball) around ``x``, in the domain."""
    if threat.norm is Norm.LINF:
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device) * 2 - 1
        delta = noise * threat.eps
    else:
        g = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        norms = g.flatten(1).norm(dim=1).view(-1, *([1] * (x.dim() - 1)))
        radius = torch.rand((x.shape[0],), generator=generator, dtype=x.dtype).to(x.device)
        if BallStart(l2_start) is BallStart.VOLUME:
            radius = radius.pow(1.0 / x[0].numel())
        delta = g / norms.clamp_min(1e-12) * radius.view_as(norms) * threat.eps
    return (x + delta).clamp(threat.lower, threat.upper)


def ascent_direction(grad: Tensor, norm: Norm) -> Tensor:
    """Steepest-ascent direction for a unit step: sign for ℓ∞, normalised gradient for ℓ2."""
    if norm is Norm.LINF:
        return grad.sign()
    g = grad.flatten(1)
    return (g / g.norm(dim=1, keepdim=True).clamp_min(1e-12)).view_as(grad)


def input_gradient(
    model: nn.Module, x: Tensor, y: Tensor, objective: Objective = cross_entropy
) -> tuple[Tensor, Tensor]:
    """(∇ₓ Σ objective, logits) at ``x`` with one forward and one backward pass; no parameter grads."""
    xg = x.detach().requires_grad_(True)
    logits = model(xg)
    (grad,) = torch.autograd.grad(objective(logits, y).sum(), xg)
    return grad, logits.detach()


def _box(x: Tensor, threat: ThreatModel) -> tuple[Tensor, Tensor] | None:
    """ℓ∞ only: the per-pixel bounds of B(x, ε) ∩ [lower, upper], so projecting is one ``clamp``."""
    if threat.norm is not Norm.LINF:
        return None
    return (x - threat.eps).clamp_min(threat.lower), (x + threat.eps).clamp_max(threat.upper)


def _project(z: Tensor, x: Tensor, threat: ThreatModel, box: tuple[Tensor, Tensor] | None) -> Tensor:
    """:func:`bench.projection.project` with precomputed ℓ∞ bounds (one fused op per step)."""
    if box is None:
        return project(z, x, threat)
    return torch.clamp(z, box[0], box[1])


def pgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    threat: ThreatModel,
    *,
    steps: int,
    step_size: float,
    random_init: bool,
    generator: torch.Generator | None,
    objective: Objective = cross_entropy,
    targeted: bool = False,
    early_stop: bool = False,
    l2_start: BallStart = BallStart.VOLUME,
) -> Tensor:
    """Projected gradient ascent (Madry et al. 2018) on ``objective``; descent when ``targeted``.

    x_{t+1} = Π_{B(x, ε) ∩ [0,1]}(x_t ± α · d(∇ objective(x_t))), d = sign for ℓ∞, unit-normalised for ℓ2.
    Exactly ``steps`` forward+backward passes; returns the last iterate (use restarts to keep the best).

    With ``early_stop`` a sample whose iterate already reaches the goal (untargeted: ``argmax ≠ y``;
    targeted: ``argmax = y``, ``y`` being the target), judged from the logits of the step's own forward
    pass, is frozen there and leaves the batch: no extra passes, never a weaker result per sample, and
    far fewer passes on non-robust models. ``l2_start`` picks the ℓ2 random start (see :class:`BallStart`).
    """
    if random_init:
        if generator is None:
            raise ValueError("a random start needs an explicit torch.Generator")
        x_adv = random_start(x, threat, generator, l2_start=l2_start)
    else:
        x_adv = x.clone()
    sign = -1.0 if targeted else 1.0
    box = _box(x, threat)
    if not early_stop:
        for _ in range(steps):
            grad, _ = input_gradient(model, x_adv, y, objective)
            x_adv = _project(x_adv + sign * step_size * ascent_direction(grad, threat.norm), x, threat, box)
        return x_adv.detach()
    out = x_adv.clone()
    idx = torch.arange(len(x), device=x.device)
    cur, cx, cy = x_adv, x, y
    for _ in range(steps):
        grad, logits = input_gradient(model, cur, cy, objective)
        pred = logits.argmax(1)
        done = pred == cy if targeted else pred != cy
        if bool(done.any()):
            out[idx[done]] = cur[done]
            keep = ~done
            idx, cur, cx, cy, grad = idx[keep], cur[keep], cx[keep], cy[keep], grad[keep]
            box = None if box is None else (box[0][keep], box[1][keep])
            if len(idx) == 0:
                return out.detach()
        cur = _project(cur + sign * step_size * ascent_direction(grad, threat.norm), cx, threat, box)
    out[idx] = cur
    return out.detach()


def momentum_iterative(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    threat: ThreatModel,
    *,
    steps: int,
    decay: float,
    step_size: float | None = None,
    objective: Objective = cross_entropy,
) -> Tensor:
    """MI-FGSM (Dong et al., CVPR 2018, https://arxiv.org/abs/1710.06081), built for transferability.

    g_{t+1} = μ·g_t + ∇/‖∇‖₁ (per sample), x_{t+1} = Π_{B(x, ε) ∩ [0,1]}(x_t + α·d(g_{t+1})), α = ε/T by
    default, d = sign for ℓ∞ (the paper) and g/‖g‖₂ for ℓ2 (the paper's ℓ2 variant). The ℓ₁ normalisation
    uses the mean absolute value, which differs from ‖∇‖₁ by the constant C·H·W and so changes nothing.
    Exactly ``steps`` forward+backward passes.
    """
    alpha = threat.eps / steps if step_size is None else step_size
    box = _box(x, threat)
    x_adv = x.clone()
    g = torch.zeros_like(x)
    for _ in range(steps):
        grad, _ = input_gradient(model, x_adv, y, objective)
        l1 = grad.abs().flatten(1).mean(1).clamp_min(1e-12).view(-1, *([1] * (x.dim() - 1)))
        g = decay * g + grad / l1
        x_adv = _project(x_adv + alpha * ascent_direction(g, threat.norm), x, threat, box)
    return x_adv.detach()
