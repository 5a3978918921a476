"""Heo, Joo, Moon (NeurIPS 2019) "Fooling neural network interpretations via adversarial model manipulation":
the fooling losses, the per-image fooling scores and the fooling success rate (https://arxiv.org/abs/1902.02041).

Maps are single-channel ``(N, L, L)`` interpretations (Grad-CAM at the last conv layer, or input-level
saliency summed over channels). Every function is pure and batched; losses are differentiable.

The fooling success rate follows Heo et al.'s definition, FSR = (1/m) Σᵢ 1{sᵢ ∈ R_F} over held-out images,
with the per-image scores sᵢ exactly as the authors' released code computes them
(https://github.com/rmrisforbidden/Fooling_Neural_Network-Interpretations, ``module/utils.py``,
``keep_batch=True``). The success intervals R_F (location s ∈ [0, 0.2], top-k s ∈ [0, 0.3], center-mass
s ∈ [0.1, 1]) are **robex's protocol constants**: they are the values our design notes recall from the paper,
which we could not check against the paper's text (the released evaluation, ``test_accuracy`` in
``module/utils.py``, only collects the per-image scores and fixes no interval), so robex states them as its
own definition, fixed by the track version, and never as the paper's numbers. Likewise the top-k score is the
code's per-image top-k loss. The active-fooling criterion is ours: the swapped maps must correlate better with
the other class's original map than with their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import torch
from scipy.stats import rankdata
from torch import Tensor

from bench.scores.fidelity import pearson_rows

EPS = 1e-8  # Heo et al.'s denominators


class FoolingLoss(StrEnum):
    """Heo et al.'s fooling objectives: three passive, one active."""

    LOCATION = "location"
    TOPK = "topk"
    CENTER_MASS = "center_mass"
    ACTIVE = "active"


@dataclass(frozen=True)
class Interval:
    """A closed success interval R_F = [low, high] for a per-image fooling score."""

    low: float
    high: float

    def contains(self, scores: Tensor) -> Tensor:
        """Boolean per image: s_i ∈ [low, high]."""
        return (scores >= self.low) & (scores <= self.high)


# robex's success intervals (see the module docstring); ACTIVE is our criterion s_i > 0.
FSR_INTERVALS: dict[FoolingLoss, Interval] = {
    FoolingLoss.LOCATION: Interval(0.0, 0.2),
    FoolingLoss.TOPK: Interval(0.0, 0.3),
    FoolingLoss.CENTER_MASS: Interval(0.1, 1.0),
    FoolingLoss.ACTIVE: Interval(1e-12, 2.0),
}


def max_normalize(h: Tensor) -> Tensor:
    """ReLU(h)/(max ReLU(h) + 1e-8) per map (Heo's ``grad_cam`` output).

    >>> max_normalize(torch.tensor([[[-1.0, 2.0], [1.0, 0.0]]])).tolist()
    [[[0.0, 1.0], [0.5, 0.0]]]
    """
    h = h.clamp_min(0)
    return h / (h.flatten(1).max(1).values.view(-1, 1, 1) + EPS)


def minmax_normalize(h: Tensor) -> Tensor:
    """(h − min)/(max(h − min) + 1e-8) per map (Heo's ``normalize``).

    >>> minmax_normalize(torch.tensor([[[-1.0, 3.0], [1.0, 1.0]]])).tolist()
    [[[0.0, 1.0], [0.5, 0.5]]]
    """
    h = h - h.flatten(1).min(1).values.view(-1, 1, 1)
    return h / (h.flatten(1).max(1).values.view(-1, 1, 1) + EPS)


def frame_mask(size: int) -> Tensor:
    """Heo's location target: 1 on a border frame of width k = ⌊L/7⌋ (at least 1), 0 inside.

    >>> frame_mask(3).int().tolist()
    [[1, 1, 1], [1, 0, 1], [1, 1, 1]]
    """
    k = max(1, size // 7)
    if 2 * k >= size:
        raise ValueError(f"a {size}×{size} map has no interior for a frame of width {k}")
    mask = torch.ones(size, size)
    mask[k:-k, k:-k] = 0
    return mask


def location_score(h: Tensor) -> Tensor:
    """s_i = mean_j (ĥ_ij − m_j)², ĥ = :func:`max_normalize` (h), m = :func:`frame_mask` (Heo's ``frame``).

    >>> location_score(frame_mask(7).unsqueeze(0)).tolist()
    [0.0]
    """
    mask = frame_mask(h.shape[-1]).to(h.device, h.dtype)
    return (max_normalize(h) - mask).pow(2).flatten(1).mean(1)


def topk_positions(h0: Tensor, fraction: float = 0.1) -> Tensor:
    """Indices ``(N, k)`` of the top ⌊L²·fraction⌋ positions (at least 1) of the original maps ``h0``."""
    k = max(1, int(h0[0].numel() * fraction))
    return minmax_normalize(h0).flatten(1).topk(k, dim=1).indices


def topk_score(h: Tensor, positions: Tensor) -> Tensor:
    """s_i = mean_{j ∈ P_k} ĥ_ij², ĥ = :func:`minmax_normalize` (h) (Heo's ``topk``).

    >>> topk_score(torch.tensor([[[0.0, 0.5], [1.0, 0.0]]]), torch.tensor([[1, 2]])).tolist()
    [0.625]
    """
    return minmax_normalize(h).flatten(1).gather(1, positions).pow(2).mean(1)


def center_of_mass(h: Tensor) -> Tensor:
    """(row, column) centre of mass of :func:`minmax_normalize` (h), coordinates 1..L, ``(N, 2)``.

    >>> center_of_mass(torch.tensor([[[0.0, 1.0], [0.0, 0.0]]])).tolist()
    [[1.0, 2.0]]
    """
    hn = minmax_normalize(h)
    size = h.shape[-1]
    coords = torch.arange(1, size + 1, device=h.device, dtype=h.dtype)
    total = hn.sum((1, 2)) + EPS
    rows = (hn.sum(2) * coords).sum(1) / total
    cols = (hn.sum(1) * coords).sum(1) / total
    return torch.stack([rows, cols], dim=1)


def center_shift(h: Tensor, h0: Tensor) -> Tensor:
    """s_i = sqrt((Δrow² + Δcol²)/2)/(L − 1): the normalised centre-of-mass shift (Heo's ``center_mass``,
    ``keep_batch=True``), in [0, 1].

    >>> a = torch.zeros(1, 3, 3); a[0, 0, 0] = 1.0
    >>> b = torch.zeros(1, 3, 3); b[0, 2, 2] = 1.0
    >>> center_shift(a, b).tolist()
    [1.0]
    """
    delta = center_of_mass(h) - center_of_mass(h0)
    return (delta.pow(2).sum(1) / 2).sqrt() / (h.shape[-1] - 1)


def location_loss(h: Tensor) -> Tensor:
    """L_F (location) = mean over the batch of :func:`location_score`."""
    return location_score(h).mean()


def topk_loss(h: Tensor, positions: Tensor) -> Tensor:
    """L_F (top-k) = mean over the batch of :func:`topk_score`."""
    return topk_score(h, positions).mean()


def center_mass_loss(h: Tensor, h0: Tensor) -> Tensor:
    """L_F (center-mass) = −mean(|Δrow| + |Δcol|): maximise the ℓ1 shift of the centre of mass."""
    return -(center_of_mass(h) - center_of_mass(h0)).abs().sum(1).mean()


def swap_loss(h1: Tensor, h2: Tensor, h1_orig: Tensor, h2_orig: Tensor) -> Tensor:
    """Active fooling: ½[MSE(ĥ(c₁; w), ĥ(c₂; w₀)) + MSE(ĥ(c₂; w), ĥ(c₁; w₀))], ĥ = :func:`max_normalize`.

    >>> a = torch.ones(1, 2, 2); b = torch.zeros(1, 2, 2)
    >>> swap_loss(a, b, a, b).item()  # each map equals its own original: the worst swap
    1.0
    """
    mse = torch.nn.functional.mse_loss
    return 0.5 * (mse(max_normalize(h1), max_normalize(h2_orig)) + mse(max_normalize(h2), max_normalize(h1_orig)))


def swap_score(h1: Tensor, h2: Tensor, h1_orig: Tensor, h2_orig: Tensor) -> Tensor:
    """Our active-fooling score: ½[ρ(h₁, h₂⁰) + ρ(h₂, h₁⁰)] − ½[ρ(h₁, h₁⁰) + ρ(h₂, h₂⁰)], ρ = Pearson over
    pixels (NaN counted as 0). Positive when the maps of c₁ and c₂ look more like each other's original.

    >>> a = torch.tensor([[[1.0, 0.0]]]); b = torch.tensor([[[0.0, 1.0]]])
    >>> swap_score(b, a, a, b).tolist()
    [2.0]
    """

    def rho(u: Tensor, v: Tensor) -> Tensor:
        return torch.nan_to_num(pearson_rows(u.flatten(1), v.flatten(1)), nan=0.0)

    return 0.5 * (rho(h1, h2_orig) + rho(h2, h1_orig)) - 0.5 * (rho(h1, h1_orig) + rho(h2, h2_orig))


def rank_rows(a: Tensor) -> Tensor:
    """Average ranks (1-based, ties share their mean rank) of each flattened row, for Spearman correlations.

    >>> rank_rows(torch.tensor([[10.0, 20.0, 10.0]])).tolist()
    [[1.5, 3.0, 1.5]]
    """
    ranked = rankdata(a.detach().flatten(1).cpu().double().numpy(), method="average", axis=1)
    return torch.from_numpy(ranked).float().to(a.device)


def spearman_rows(a: Tensor, b: Tensor) -> Tensor:
    """Spearman rank correlation per row (Pearson of :func:`rank_rows`); NaN where a row is constant.

    >>> spearman_rows(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[10.0, 30.0, 20.0]])).tolist()
    [0.5]
    """
    return pearson_rows(rank_rows(a), rank_rows(b))


def accuracy_cost(original: float, control: float, fooled: float) -> float:
    """Accuracy the fooling cost: max(acc(original), acc(control)) − acc(fooled), the control fine-tuned by the same
    steps and batches at λ = 0. Against the better of the two: a fine-tuning that drifts (the control loses
    accuracy) does not hide a cost the fooled model pays against the original, and one that helps (the control
    gains) charges the fooling term for the gain it prevented. Heo et al. compare with the original only.

    >>> round(accuracy_cost(0.98, 0.95, 0.98), 6)  # the control drifted; the fooled model kept the original's
    0.0
    >>> round(accuracy_cost(0.92, 0.95, 0.93), 6)  # fine-tuning helps; the fooling held it back by 2 points
    0.02
    """
    return max(original, control) - fooled


def success_rate(scores: Tensor, interval: Interval) -> float:
    """FSR = (1/m) Σ_i 1{s_i ∈ R_F}.

    >>> success_rate(torch.tensor([0.1, 0.3, 0.15, 0.5]), FSR_INTERVALS[FoolingLoss.LOCATION])
    0.5
    """
    if scores.numel() == 0:
        raise ValueError("no fooling scores")
    return float(interval.contains(scores).float().mean())


def run_average(steps: Sequence[int], rates: Tensor) -> Tensor:
    """The average of ``rates`` over a fine-tuning run sampled at ``steps`` (increasing, from 0): the normalised
    trapezoid area (1/S) ∫₀^S r(t) dt, S = the last step, over the last dimension.

    Applied to the FSR curve it is the run's mean fooling rate (the area under the FSR-vs-steps curve divided by
    the budget): 1 for a model fooled from the first step on, ≈ 1 − t/S for one fooled at step t. Applied to
    per-image success indicators ``(N, K)`` it gives each image's fooled share of the run, whose mean is the same
    number (the area is linear).

    >>> run_average([0, 10, 20, 80], torch.tensor([0.0, 1.0, 1.0, 1.0])).item()  # fooled by step 10
    0.9375
    >>> run_average([0, 10, 20, 80], torch.tensor([0.0, 0.0, 0.0, 1.0])).item()  # only at the end
    0.375
    """
    t = torch.tensor([float(v) for v in steps], dtype=torch.float64)
    if t.numel() != rates.shape[-1] or t.numel() < 2 or float(t[0]) != 0.0 or bool((t.diff() <= 0).any()):
        raise ValueError(f"need increasing steps from 0 matching the rates, got {list(steps)}")
    r = rates.double()
    area = ((r[..., 1:] + r[..., :-1]) / 2 * t.diff()).sum(-1)
    return (area / t[-1]).to(rates.dtype if rates.is_floating_point() else torch.float32)


def steps_to_rate(steps: Sequence[int], rates: Sequence[float], level: float = 0.5) -> float | None:
    """The fine-tuning steps a fooling run needed to reach FSR ≥ ``level``: the first checkpoint at or above it,
    linearly interpolated from the one before; ``None`` when the run never reaches it (censored at its budget).

    >>> steps_to_rate([0, 5, 10, 20], [0.0, 0.2, 0.8, 1.0])
    7.5
    >>> steps_to_rate([0, 5, 10], [0.0, 0.1, 0.3]) is None
    True
    """
    if len(steps) != len(rates) or not steps:
        raise ValueError("steps and rates must be non-empty and of equal length")
    for i, (t, r) in enumerate(zip(steps, rates, strict=True)):
        if r >= level:
            if i == 0:
                return float(t)
            t0, r0 = steps[i - 1], rates[i - 1]
            return float(t0 + (level - r0) / (r - r0) * (t - t0))
    return None
