"""Functional cores of gradient attacks, shared by the attack plug-ins (evaluation) and the defenses'
training objectives (inner maximisation). They do not touch the model's mode: callers decide."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.protocols import project
from bench.types import Norm, ThreatModel

Objective = Callable[[Tensor, Tensor], Tensor]  # (logits, y) -> per-sample loss to *maximise*


def cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """Per-sample cross-entropy (the default objective)."""
    return F.cross_entropy(logits, y, reduction="none")


def random_start(x: Tensor, threat: ThreatModel, generator: torch.Generator) -> Tensor:
    """A uniform point of the ℓ∞ ball (or a uniform-direction point of the ℓ2 ball) around ``x``, in the domain."""
    if threat.norm is Norm.LINF:
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device) * 2 - 1
        delta = noise * threat.eps
    else:
        g = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        norms = g.flatten(1).norm(dim=1).view(-1, *([1] * (x.dim() - 1)))
        radius = torch.rand((x.shape[0],), generator=generator, dtype=x.dtype).to(x.device)
        radius = radius.pow(1.0 / x[0].numel()).view_as(norms)
        delta = g / norms.clamp_min(1e-12) * radius * threat.eps
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
) -> Tensor:
    """Projected gradient ascent (Madry et al. 2018) on ``objective``; descent when ``targeted``.

    x_{t+1} = Π_{B(x, ε) ∩ [0,1]}(x_t ± α · d(∇ objective(x_t))), d = sign for ℓ∞, unit-normalised for ℓ2.
    Exactly ``steps`` forward+backward passes; returns the last iterate (use restarts to keep the best).
    """
    if random_init:
        if generator is None:
            raise ValueError("a random start needs an explicit torch.Generator")
        x_adv = random_start(x, threat, generator)
    else:
        x_adv = x.clone()
    sign = -1.0 if targeted else 1.0
    for _ in range(steps):
        grad, _ = input_gradient(model, x_adv, y, objective)
        x_adv = project(x_adv + sign * step_size * ascent_direction(grad, threat.norm), x, threat)
    return x_adv.detach()
