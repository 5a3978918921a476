"""Threat-model geometry shared by attacks, defenses and scores: the per-sample RMSE of a perturbation
(Woods et al. 2019) and the projections onto a threat model's ε-ball and data domain."""

from __future__ import annotations

import torch
from torch import Tensor

from bench.types import Norm, ThreatModel


def rmse(delta: Tensor) -> Tensor:
    """Per-sample RMSE over all pixel values (Woods et al. 2019): ``sqrt(mean_{c,h,w} δ²)``.

    >>> float(rmse(torch.full((1, 1, 2, 2), 0.5))[0])
    0.5
    """
    return delta.flatten(1).pow(2).mean(1).sqrt()


def project(x_adv: Tensor, x: Tensor, threat: ThreatModel, *, bounded: bool = True) -> Tensor:
    """Project ``x_adv`` onto the threat model's ε-ball around ``x`` (when ``bounded``) and the domain."""
    if bounded:
        delta = x_adv - x
        if threat.norm is Norm.LINF:
            delta = delta.clamp(-threat.eps, threat.eps)
        else:
            norms = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
            factor = (threat.eps / norms).clamp(max=1.0)
            delta = delta * factor.view(-1, *([1] * (delta.dim() - 1)))
        x_adv = x + delta
    return x_adv.clamp(threat.lower, threat.upper)


def project_violations(x_adv: Tensor, x: Tensor, threat: ThreatModel, *, bounded: bool = True) -> Tensor:
    """:func:`project`, except that whatever is already feasible stays bit-identical: ℓ∞ and the domain
    replace only the coordinates outside their bounds (with x + clip(x_adv − x, −ε, ε), resp. the bound),
    ℓ2 rescales only the samples outside the ball. (:func:`project` recomputes x + (x_adv − x), which can
    move a feasible value by one float ulp.) What :meth:`bench.protocols.Attack.perturb` applies to a plug-in's output.

    >>> x = torch.full((1, 3), 0.1)
    >>> a = torch.tensor([[0.1 + 1e-7, 0.5, -1.0]])
    >>> out = project_violations(a, x, ThreatModel(norm=Norm.LINF, eps=0.3))
    >>> out[0, 0] == a[0, 0], round(float(out[0, 1]), 6), float(out[0, 2])
    (tensor(True), 0.4, 0.0)
    """
    if bounded:
        delta = x_adv - x
        if threat.norm is Norm.LINF:
            outside = delta.abs() > threat.eps
            x_adv = torch.where(outside, x + delta.clamp(-threat.eps, threat.eps), x_adv)
        else:
            norms = delta.flatten(1).norm(dim=1)
            outside = norms > threat.eps
            factor = (threat.eps / norms.clamp_min(1e-12)).clamp(max=1.0)
            shape = (-1,) + (1,) * (delta.dim() - 1)
            x_adv = torch.where(outside.view(shape), x + delta * factor.view(shape), x_adv)
    return x_adv.clamp(threat.lower, threat.upper)
