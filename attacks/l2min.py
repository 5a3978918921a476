"""Woods, Chen, Teuscher's minimal-perturbation search "L2,min" (Nature Machine Intelligence 2019,
arXiv 1906.02896; official code ``wwoods/adversarial-explanations-cifar`` ``main.py: _adv_images`` with
``use_l2min``), the per-image radius behind ARA.

Algorithm (T steps, total length E, momentum μ), for each image, batched:

* δ₀ = 0, m₀ = 0; for t = 0..T (T+1 evaluations of f):
  1. g = ∇_δ CE(f(x+δ), y) (the last evaluation needs no gradient, so we skip that backward pass);
  2. if the property no longer holds at x+δ (misclassified, or softmax_y ≤ 1/K for ``btr``), keep δ when
     its RMSE is the smallest so far (best-so-far δ, the 2019-08-02 fix of the official code);
  3. at t = T stop and return the best δ;
  4. d = g while the property holds, else d = −δ (shrink back towards x);
  5. d ← d / (1e-8 + RMSE(d)); m ← μ·m + (1−μ)·d;
  6. δ ← δ + s_t·m with s_t = E·(T − t)/(T(T+1)/2), so Σ_t s_t = E (linearly decaying steps).
* Sanity check (official ``ensure_proper_minimization``): every image must first break the property at a
  step t ≤ ⌊T/2⌋, leaving half the steps to minimise. Official code raises; we raise with
  ``on_late="raise"`` or, by default, flag each offending image in ``details["late"]`` (its radius is
  still a verified adversarial radius, just possibly loose; an image never broken gets radius ∞).

Lazy gradients (``lazy_gradients=True``, same algorithm, fewer backward passes): the gradient of step t
is only *used* where the property holds at x+δ (step 4: d = −δ elsewhere), so each step first runs a
no-grad forward pass on every sample to get the property, then a forward+backward pass on exactly the rows
where it holds. The trajectory is the official one (up to float differences in those rows' passes when
they are batched differently); a sample spends one gradient evaluation per step at which the property
holds, instead of one per step. An optional per-sample cap ``max_gradients`` on those evaluations stops a
sample that would need one more (the property holds and its cap is spent): its δ and momentum stay as they
are for the remaining steps (direction 0), so its best-so-far δ is final. ``SearchResult.gradient_evaluations``
counts the backward rows per sample (eager: T for every sample).

Deviation from the official search, on purpose: it does not clip x+δ to [0, 1]; we project every iterate
onto the domain (δ ← clip(x+δ) − x), so every candidate is a valid image and the reported radius is the
RMSE of a real input. Gradients are the same (taken at the clipped point, which is the iterate). Radii can
therefore be slightly larger than the unclipped search's for images whose minimal perturbation leaves
[0, 1]. Defaults T = 450, E = 20 (RMSE units), μ = 0.9 are the official ones; the official docstring
advises μ = 0 below ~100 steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attacks.criteria import Criterion, holds
from bench.plugins import ATTACKS
from bench.projection import rmse
from bench.protocols import Attack, Proposal
from bench.types import ThreatModel

WOODS_STEPS = 450
WOODS_TOTAL_LENGTH = 20.0
WOODS_MOMENTUM = 0.9


class OnLate(StrEnum):
    """What to do with an image not broken within the first half of the steps."""

    FLAG = "flag"
    RAISE = "raise"


class LateBreakError(ValueError):
    """Woods et al.'s sanity check failed (``on_late="raise"``)."""


def step_size(t: int, steps: int, total_length: float) -> float:
    """s_t = E·(T − t)/(T(T+1)/2): linearly decaying steps with Σ_{t=0}^{T-1} s_t = E (Woods et al. 2019).

    >>> round(sum(step_size(t, 450, 20.0) for t in range(450)), 10)
    20.0
    >>> step_size(0, 3, 6.0), step_size(2, 3, 6.0)
    (3.0, 1.0)
    """
    return total_length * (steps - t) / (steps * (steps + 1) / 2)


@dataclass(frozen=True)
class SearchResult:
    """Output of :func:`l2min_search`.

    Attributes:
        x_adv: Best (smallest-RMSE) input where the property was broken; ``x`` where it never was.
        radius: RMSE of ``x_adv − x``; ``inf`` where the property was never broken.
        first_break: Step at which the property was first broken; −1 where never.
        gradient_evaluations: Forward+backward passes spent on each sample (eager: ``steps`` for all).
    """

    x_adv: Tensor
    radius: Tensor
    first_break: Tensor
    gradient_evaluations: Tensor


def l2min_search(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    criterion: Criterion | str = Criterion.MISCLASSIFY,
    steps: int = WOODS_STEPS,
    total_length: float | Tensor = WOODS_TOTAL_LENGTH,
    momentum: float = WOODS_MOMENTUM,
    lower: float = 0.0,
    upper: float = 1.0,
    start: Tensor | None = None,
    lazy_gradients: bool = False,
    max_gradients: int | Tensor | None = None,
) -> SearchResult:
    """Woods et al.'s L2,min search (module docstring), batched.

    Cost: eager (default), T forward+backward passes on every sample plus one forward pass (the official
    search). With ``lazy_gradients``, T + 1 no-grad forward passes on every sample, plus one forward+backward
    pass for each sample and step t < T at which the property holds at x+δ_t: the same trajectory, paying
    only for the gradients the update d = ∇ (property holds) / −δ (broken) reads. ``max_gradients`` (an int,
    or one per sample) caps each sample's forward+backward passes; a sample whose cap is spent stops where
    the property holds (δ and m frozen), keeping its best-so-far δ. Both are counted per sample in
    ``SearchResult.gradient_evaluations``.

    Extensions, off by default (the defaults are the official search): ``total_length`` may be a
    per-sample tensor, and ``start`` a starting input in the domain (δ₀ = start − x instead of 0), which
    turns the search into a local refinement of a known adversarial point. Does not touch the model's mode
    (callers use the :class:`L2Min` attack or ``evaluation_mode``).
    """
    if steps < 1:
        raise ValueError("steps must be at least 1")
    length = torch.as_tensor(total_length, dtype=x.dtype, device=x.device)
    if not bool((length > 0).all()):
        raise ValueError(f"total_length must be positive, got {total_length}")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    cap = None
    if max_gradients is not None:
        cap = torch.as_tensor(max_gradients, dtype=torch.long, device=x.device).expand(len(x))
        if not bool((cap >= 0).all()):
            raise ValueError(f"max_gradients must be non-negative, got {max_gradients}")
    crit = Criterion(criterion)
    x = x.detach()
    shape = (-1,) + (1,) * (x.dim() - 1)
    length = length.view(-1, *shape[1:]) if length.dim() else length
    delta = torch.zeros_like(x) if start is None else start.detach() - x
    mom = torch.zeros_like(x)
    best = torch.zeros_like(x)
    best_sq = torch.full((len(x),), float("inf"), dtype=x.dtype, device=x.device)
    first = torch.full((len(x),), -1, dtype=torch.long, device=x.device)
    count = torch.zeros(len(x), dtype=torch.long, device=x.device)
    grad = torch.zeros_like(x)
    frozen: Tensor | None = None
    for t in range(steps + 1):
        xt = x + delta
        if t == steps or lazy_gradients or cap is not None:
            with torch.no_grad():
                logits = model(xt)
            ok = holds(crit, logits, y)
            if t < steps:
                allowed = torch.ones_like(ok) if cap is None else count < cap
                rows = (ok & allowed if lazy_gradients else allowed).nonzero().squeeze(1)
                grad = torch.zeros_like(x)
                if len(rows):
                    xg = xt[rows].requires_grad_(True)
                    loss = F.cross_entropy(model(xg), y[rows], reduction="sum")
                    (g,) = torch.autograd.grad(loss, xg)
                    grad[rows] = g
                    count[rows] += 1
                frozen = ok & ~allowed
        else:
            xg = xt.requires_grad_(True)
            logits = model(xg)
            (grad,) = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), xg)
            ok = holds(crit, logits.detach(), y)
            count += 1
        broken = ~ok
        first = torch.where(broken & (first < 0), torch.full_like(first, t), first)
        dsq = delta.flatten(1).pow(2).mean(1)
        better = broken & (dsq < best_sq)
        best = torch.where(better.view(shape), delta, best)
        best_sq = torch.where(better, dsq, best_sq)
        if t == steps:
            break
        direction = torch.where(ok.view(shape), grad, -delta)
        direction = direction / (1e-8 + rmse(direction)).view(shape)
        new_mom = momentum * mom + (1 - momentum) * direction if momentum > 0 else direction
        new_delta = (x + delta + step_size(t, steps, 1.0) * length * new_mom).clamp(lower, upper) - x
        if frozen is None:
            mom, delta = new_mom, new_delta
        else:
            mom = torch.where(frozen.view(shape), mom, new_mom)
            delta = torch.where(frozen.view(shape), delta, new_delta)
    found = best_sq.isfinite()
    x_adv = x + best
    return SearchResult(
        x_adv=x_adv, radius=torch.where(found, rmse(best), best_sq), first_break=first, gradient_evaluations=count
    )


@ATTACKS.register("l2min")
class L2Min(Attack):
    """Woods et al.'s L2,min minimal-perturbation search (RMSE units); ``radius`` is the ARA radius.

    Args:
        threat: Only its domain is used (minimal-norm search: no budget).
        steps: T (official 450).
        total_length: E, the sum of all step sizes in RMSE units (official 20).
        momentum: μ (official 0.9).
        criterion: ``"misclassify"`` (attack ARA) or ``"btr"`` (better than random, BTR ARA).
        on_late: ``"flag"`` (default: flag images first broken after step ⌊T/2⌋ or never) or ``"raise"``.
    """

    minimal_norm = True
    smoke_kwargs: ClassVar[Mapping[str, Any]] = {"steps": 10, "momentum": 0.0}

    def __init__(
        self,
        threat: ThreatModel,
        steps: int = WOODS_STEPS,
        total_length: float = WOODS_TOTAL_LENGTH,
        momentum: float = WOODS_MOMENTUM,
        criterion: str = Criterion.MISCLASSIFY,
        on_late: str = OnLate.FLAG,
    ) -> None:
        super().__init__(threat)
        if steps < 1:
            raise ValueError("steps must be at least 1")
        if not total_length > 0:
            raise ValueError(f"total_length must be positive, got {total_length}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.steps = steps
        self.total_length = total_length
        self.momentum = momentum
        self.criterion_name = Criterion(criterion)
        self.on_late = OnLate(on_late)

    def attackable(self, logits: Tensor, y: Tensor) -> Tensor:
        """The criterion's property holds at x."""
        return holds(self.criterion_name, logits, y)

    def criterion(self, logits: Tensor, y: Tensor) -> Tensor:
        """Success: the property no longer holds."""
        return ~holds(self.criterion_name, logits, y)

    def run(self, model: nn.Module, x: Tensor, y: Tensor, *, generator: torch.Generator) -> Proposal:
        """The search on the points where the property holds; checks the first-half rule."""
        result = l2min_search(
            model,
            x,
            y,
            criterion=self.criterion_name,
            steps=self.steps,
            total_length=self.total_length,
            momentum=self.momentum,
            lower=self.threat.lower,
            upper=self.threat.upper,
        )
        late = (result.first_break < 0) | (result.first_break > self.steps // 2)
        if self.on_late is OnLate.RAISE and bool(late.any()):
            raise LateBreakError(
                f"L2,min: {int(late.sum())} of {len(x)} images were not broken within the first half of the "
                f"{self.steps} steps (Woods et al.'s check that half the steps minimise the perturbation); "
                "increase total_length or steps"
            )
        return Proposal(x_adv=result.x_adv, details={"first_break": result.first_break.tolist()})

    def describe(self, details: Mapping[str, Any], *, attacked: Tensor, success: Tensor) -> Mapping[str, Any]:
        """Per image: ``first_break`` (step, or ``None`` where not attacked / never broken) and ``late``
        (attacked and not broken by step ⌊T/2⌋: radius possibly loose or ∞)."""
        first: list[int | None] = [None] * len(attacked)
        for i, step in zip(attacked.nonzero().squeeze(1).tolist(), details.get("first_break", []), strict=True):
            first[i] = step if step >= 0 else None
        half = self.steps // 2
        late = [bool(a) and (f is None or f > half) for a, f in zip(attacked.tolist(), first, strict=True)]
        return {
            "first_break": first,
            "late": late,
            "n_late": sum(late),
            "criterion": self.criterion_name.value,
            "steps": self.steps,
            "total_length": self.total_length,
            "momentum": self.momentum,
        }
