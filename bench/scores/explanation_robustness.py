"""Explanation robustness: Boopathy et al. (ICML 2020) top-k attack on the CAM with Kendall τ, the 2-class ℓ1
interpretation discrepancy of a targeted attack, and Yeh et al.'s (NeurIPS 2019) max-sensitivity.
https://arxiv.org/abs/2006.14748, https://arxiv.org/abs/1901.09392.

The formulas (``kendall_tau``, ``two_class_discrepancy``, ``margin_bound``, ``relative_sensitivity``) are pure;
the attacks and the Monte-Carlo estimate are batched loops whose cost is their model passes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from bench.explainers.functional import class_activation_maps
from bench.projection import project
from bench.types import Norm, ThreatModel

ExplainFn = Callable[[Tensor, Tensor], Tensor]  # (x, target) -> maps with x's shape


# ----------------------------------------------------------------------------------------------- formulas
def kendall_tau(a: Tensor, b: Tensor, *, chunk: int = 64) -> Tensor:
    """Kendall's τ-b between each row of ``a`` and the same row of ``b`` (``scipy.stats.kendalltau``'s default,
    which Boopathy et al.'s ``tau_corr`` calls); rows are the flattened maps. NaN where a row is constant.

    τ_b = Σ_{i<j} sgn(a_i − a_j) sgn(b_i − b_j) / sqrt(#{i<j: a_i ≠ a_j} · #{i<j: b_i ≠ b_j}).

    >>> round(kendall_tau(torch.tensor([[1.0, 2.0, 3.0, 4.0]]), torch.tensor([[1.0, 3.0, 2.0, 4.0]])).item(), 4)
    0.6667
    """
    a, b = a.flatten(1).double(), b.flatten(1).double()
    if a.shape != b.shape:
        raise ValueError(f"maps must match, got {tuple(a.shape)} and {tuple(b.shape)}")
    out = []
    for start in range(0, len(a), chunk):
        sa = torch.sign(a[start : start + chunk, :, None] - a[start : start + chunk, None, :])
        sb = torch.sign(b[start : start + chunk, :, None] - b[start : start + chunk, None, :])
        num = (sa * sb).sum((1, 2))
        den = (sa.abs().sum((1, 2)) * sb.abs().sum((1, 2))).sqrt()
        out.append(torch.where(den > 0, num / den, torch.full_like(num, float("nan"))))
    return torch.cat(out).float() if out else torch.empty(0)


def two_class_discrepancy(cam_x: Tensor, cam_adv: Tensor, y: Tensor, t: Tensor) -> Tensor:
    """Boopathy et al.'s 2-class ℓ1 discrepancy divided by the map size: D₂/HW with
    D₂ = ½(‖I_y(x′) − I_y(x)‖₁ + ‖I_t(x′) − I_t(x)‖₁); ``cam_*`` are ``(N, K, h, w)``.

    >>> c0 = torch.zeros(1, 2, 1, 2); c1 = torch.tensor([[[[1.0, -1.0]], [[2.0, 2.0]]]])
    >>> two_class_discrepancy(c0, c1, torch.tensor([0]), torch.tensor([1])).tolist()
    [1.5]
    """
    diff = (cam_adv - cam_x).abs().flatten(2).sum(2)  # (N, K) ℓ1 per class
    hw = cam_x.shape[2] * cam_x.shape[3]
    rows = torch.arange(len(y), device=diff.device)
    return 0.5 * (diff[rows, y] + diff[rows, t]) / hw


def margin_bound(logits_x: Tensor, y: Tensor, t: Tensor) -> Tensor:
    """½(f_y(x) − f_t(x)): the lower bound on D₂/HW for every successful targeted attack (Boopathy et al.
    2020,
    because mean_{h,w} I_c = f_c for a GAP + bias-free linear head).

    >>> margin_bound(torch.tensor([[3.0, 1.0]]), torch.tensor([0]), torch.tensor([1])).tolist()
    [1.0]
    """
    rows = torch.arange(len(y), device=logits_x.device)
    return 0.5 * (logits_x[rows, y] - logits_x[rows, t])


def margin_ratio(discrepancy: Tensor, bound: Tensor, success: Tensor) -> Tensor:
    """(D₂/HW) / ½(f_y(x) − f_t(x)) per image: the discrepancy in units of its lower bound (Boopathy et al. 2020,
    https://arxiv.org/abs/2006.14748, §3.2). Both scale with the logits, so the ratio does not; it is ≥ 1 for a
    successful attack on an exact CAM. NaN where the attack failed or the clean margin is not positive.

    >>> margin_ratio(torch.tensor([3.0, 3.0, 1.0]), torch.tensor([1.5, 1.0, 0.0]), torch.tensor([True, False, True]))
    tensor([2., nan, nan])
    """
    valid = success & (bound > 0)
    return torch.where(valid, discrepancy / torch.where(valid, bound, torch.ones_like(bound)), math.nan)


def relative_sensitivity(expl: Tensor, expl_perturbed: Tensor) -> Tensor:
    """max_j ‖φ(x+δ_j) − φ(x)‖_F / ‖φ(x)‖_F per image (Captum's ``sensitivity_max``; a zero norm counts as 1).

    ``expl`` is ``(N, ...)``, ``expl_perturbed`` ``(N, S, ...)``.

    >>> round(relative_sensitivity(torch.tensor([[3.0, 4.0]]), torch.tensor([[[3.0, 4.0], [0.0, 4.0]]])).item(), 4)
    0.6
    """
    base = expl.flatten(1)
    norm = base.norm(dim=1)
    norm = torch.where(norm == 0, torch.ones_like(norm), norm)
    diff = (expl_perturbed.flatten(2) - base.unsqueeze(1)).norm(dim=2)
    return (diff / norm.unsqueeze(1)).max(1).values


# ----------------------------------------------------------------------------------------------- attacks
def _cams_and_logits(model: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    maps = class_activation_maps(model, x)
    return maps, maps.mean(dim=(2, 3))


def topk_cam_attack(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    steps: int,
    step_size: float,
    k: int = 8,
    generator: torch.Generator,
) -> Tensor:
    """Boopathy et al.'s ``aai_topk``: ℓ∞ PGD with a uniform random start that minimises Σ of the true-class
    CAM I_y(x′) over the top-k positions of I_y(x) (sign steps, clipped to the ε-ball and [0, 1]).

    The mean of a GAP + linear head's CAM is the logit, so this is computed from ``model.cam`` alone (one
    forward and one backward pass per step). The model's mode and parameters are the caller's business.
    """
    threat = ThreatModel(Norm.LINF, eps)
    with torch.no_grad():
        cam0 = class_activation_maps(model, x)
        rows = torch.arange(len(y), device=x.device)
        top = cam0[rows, y].flatten(1).topk(k, dim=1).indices
    noise = (torch.rand(x.shape, generator=generator, dtype=x.dtype) * 2 - 1).to(x.device) * eps
    x_adv = (x + noise).clamp(0, 1)
    for _ in range(steps):
        with torch.enable_grad():
            xg = x_adv.detach().requires_grad_(True)
            cam = class_activation_maps(model, xg)[rows, y].flatten(1)
            (grad,) = torch.autograd.grad(cam.gather(1, top).sum(), xg)
        x_adv = project(x_adv - step_size * grad.sign(), x, threat)
    return x_adv.detach()


@dataclass(frozen=True)
class TargetedOutcome:
    """Result of :func:`targeted_cam_attack` (all per image)."""

    x_adv: Tensor
    success: Tensor
    discrepancy: Tensor  # D₂/HW at x_adv
    bound: Tensor  # ½(f_y(x) − f_t(x))


def targeted_cam_attack(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    t: Tensor,
    *,
    eps: float,
    steps: int,
    kappa: float = 0.1,
    gamma: float = 0.0,
) -> TargetedOutcome:
    """Boopathy et al.'s targeted attack of ``min_pgd_attack`` / ISA at a fixed ℓ∞ budget ε.

    Loss = max(max_{j≠t} f_j(x′) − f_t(x′), −κ) + γ·D₂(x, x′)/HW, minimised with their step
    x′ ← clip(x′ − 0.2·ε·clip(1000·∇, −1, 1)) from x′ = x (``min_pgd_attack`` uses γ = 0; γ > 0 is the
    interpretability sneaking attack). Success: f_t(x′) is the largest logit.
    """
    threat = ThreatModel(Norm.LINF, eps)
    with torch.no_grad():
        cam0, logits0 = _cams_and_logits(model, x)
    k = logits0.shape[1]
    onehot = torch.nn.functional.one_hot(t, k).to(x.dtype)
    x_adv = x.clone()
    for _ in range(steps):
        with torch.enable_grad():
            xg = x_adv.detach().requires_grad_(True)
            cam, logits = _cams_and_logits(model, xg)
            f_t = (logits * onehot).sum(1)
            others = (logits - 1e9 * onehot).max(1).values
            loss = torch.clamp(others - f_t, min=-kappa)
            if gamma:
                loss = loss + gamma * two_class_discrepancy(cam0, cam, y, t)
            (grad,) = torch.autograd.grad(loss.sum(), xg)
        x_adv = project(x_adv - 0.2 * eps * (1000 * grad).clamp(-1, 1), x, threat)
    with torch.no_grad():
        cam, logits = _cams_and_logits(model, x_adv)
    success = logits.argmax(1) == t
    return TargetedOutcome(
        x_adv=x_adv.detach(),
        success=success,
        discrepancy=two_class_discrepancy(cam0, cam, y, t),
        bound=margin_bound(logits0, y, t),
    )


# ----------------------------------------------------------------------------------------------- Yeh et al.
def uniform_perturbations(x: Tensor, samples: int, radius: float, generator: torch.Generator) -> Tensor:
    """δ ~ U[−r, r] for every input value, ``(N, samples, C, H, W)`` (Captum's ``default_perturb_func``)."""
    noise = torch.rand((len(x), samples, *x.shape[1:]), generator=generator, dtype=x.dtype)
    return (noise * 2 - 1).mul_(radius).to(x.device)


def max_sensitivity(
    explain: ExplainFn,
    x: Tensor,
    target: Tensor,
    *,
    radius: float,
    samples: int,
    generator: torch.Generator,
    batch_size: int = 1000,
    expl: Tensor | None = None,
) -> Tensor:
    """Yeh et al.'s SENS_MAX, Monte-Carlo and relative, exactly as Captum's ``sensitivity_max``:
    max_{j ≤ S} ‖φ(x + δ_j) − φ(x)‖_F / ‖φ(x)‖_F with δ_j ~ U[−r, r]^d (not clipped to [0, 1], as in Captum).

    ``explain(x, target)`` is called on batches of at most ``batch_size`` perturbed inputs, so the cost is the
    explainer's passes on S·N inputs (plus N for φ(x) unless ``expl`` is given).
    """
    if samples < 1:
        raise ValueError("max-sensitivity needs at least one sample")
    base = explain(x, target) if expl is None else expl
    out = torch.empty(len(x), device=x.device)
    per = max(1, batch_size // samples)  # images per batch
    for start in range(0, len(x), per):
        sl = slice(start, start + per)
        xb = x[sl]
        delta = uniform_perturbations(xb, samples, radius, generator)
        pert = (xb.unsqueeze(1) + delta).flatten(0, 1)
        maps = explain(pert, target[sl].repeat_interleave(samples))
        out[sl] = relative_sensitivity(base[sl], maps.view(len(xb), samples, *maps.shape[1:]))
    return out
