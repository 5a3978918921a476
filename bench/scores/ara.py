"""Accuracy-robustness area (ARA) of Woods, Chen & Teuscher (2019) and the nominal ℓ∞-budget curve.

Woods et al., "Adversarial explanations for understanding image classification decisions and improved
neural network robustness", Nature Machine Intelligence 2019 (arXiv 1906.02896); definition as implemented
in ``wwoods/adversarial-explanations-cifar`` (``main.py: calculate_ara``).

For n images with per-image minimal adversarial RMSE radii ε*_i (images that already violate the criterion
count with ε*_i = 0):

* A(ε) = (1/n)·#{i : ε*_i > ε}  (the accuracy-robustness curve; A(0) is the clean accuracy or BTR rate),
* ARA = ∫₀^∞ max(0, A(ε) − 1/K) dε.

A is a step function, so the integral is exact from the sorted radii (:func:`ara_exact`). Woods' code uses a
1000-bin right-endpoint Riemann sum (:func:`ara_histogram`), which underestimates it by at most max ε*/B.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import NDArray

from bench.results.ara import ara_of_radii, checked_radii

RadiiLike = Sequence[float] | NDArray[np.floating] | torch.Tensor


def _radii(radii: RadiiLike, num_classes: int) -> NDArray[np.float64]:
    r = radii.detach().cpu().double().numpy() if isinstance(radii, torch.Tensor) else np.asarray(radii, np.float64)
    if r.ndim != 1:
        raise ValueError(f"radii must be a non-empty 1-D array, got shape {r.shape}")
    return np.sort(checked_radii(r, num_classes))


def ara_exact(radii: RadiiLike, num_classes: int) -> float:
    """Exact ARA = ∫₀^∞ max(0, A(ε) − 1/K) dε from the sorted radii (Woods et al. 2019), the torch-free
    :func:`bench.results.ara.ara_of_radii` on a 1-D vector (or tensor) of radii.

    With ε*_(1) ≤ … ≤ ε*_(n) and ε*_(0) = 0:
    ARA = Σ_{j=0}^{n−1} (ε*_(j+1) − ε*_(j)) · max(0, (n − j)/n − 1/K).

    >>> ara_exact([0.0, 0.1, 0.2, 0.4], num_classes=2)  # A = 3/4 on [0, .1): area (3/4 − 1/2)·0.1
    0.025
    >>> round(ara_exact([0.2] * 5, num_classes=10), 12)  # equal radii r, all correct: r·(1 − 1/K)
    0.18
    """
    return float(ara_of_radii(_radii(radii, num_classes), num_classes))


def ara_histogram(radii: RadiiLike, num_classes: int, bins: int = 1000) -> float:
    """Woods' official discretisation: ``bins`` histogram bins on [0, max ε*], right-endpoint Riemann sum.

    Δ = max ε*/B; ARA_B = Δ · Σ_{b=1..B} max(0, 1 − (1/n)·#{i : ε*_i in bins 1..b} − 1/K), computed with
    ``torch.histc`` exactly as ``calculate_ara`` does. It never exceeds :func:`ara_exact` and falls short of
    it by at most Δ·max(0, A(0) − 1/K) ≤ max ε*/B (up to the bin-edge rounding of ``histc``).

    >>> round(ara_histogram([0.0, 0.1, 0.2, 0.4], num_classes=2, bins=4), 6)  # width-0.1 bins: only the first counts
    0.025
    """
    if bins < 1:
        raise ValueError("bins must be at least 1")
    r = torch.from_numpy(_radii(radii, num_classes)).float()
    n = r.numel()
    top = float(r.max())
    if top == 0.0:
        return 0.0
    hist = r.histc(bins, min=0, max=top)
    gap = top / bins
    return float(gap * (1 - hist.cumsum(0) / n).add(-1.0 / num_classes).clamp(min=0).sum())


def accuracy_curve(radii: RadiiLike, num_classes: int = 2) -> tuple[list[float], list[float]]:
    """The step function A(ε) = (1/n)·#{i : ε*_i > ε} as a staircase polyline (x, y) for plotting.

    The curve starts at (0, A(0)) and ends at (max ε*, 0); each distinct radius adds a vertical drop.

    >>> accuracy_curve([0.0, 0.1, 0.1, 0.3])
    ([0.0, 0.1, 0.1, 0.3, 0.3], [0.75, 0.75, 0.25, 0.25, 0.0])
    """
    r = _radii(radii, num_classes)
    n = r.size
    values, counts = np.unique(r, return_counts=True)
    remaining = n - np.cumsum(counts)  # #{i: ε*_i > value}
    level = float(np.sum(r > 0)) / n
    xs, ys = [0.0], [level]
    for v, rem in zip(values.tolist(), remaining.tolist(), strict=True):
        if v == 0.0:
            continue
        xs += [v, v]
        ys += [level, rem / n]
        level = rem / n
    return xs, ys


def budget_area(eps: Sequence[float], accuracy: Sequence[float], num_classes: int) -> float:
    """Area above chance of an accuracy-vs-nominal-ℓ∞-budget curve: trapezoid ∫ max(0, acc(ε) − 1/K) dε.

    A cheap "transfer/white-box budget area", **not Woods' ARA**: for an
    unclipped sign perturbation ε·sign(g) the RMSE is exactly ε, but clipping to [0, 1] makes the true RMSE
    ≤ ε, so the x axis is the nominal ℓ∞ budget. ``eps`` must be increasing and should start at 0 (clean).

    >>> round(budget_area([0.0, 0.1, 0.2], [1.0, 0.6, 0.1], num_classes=10), 6)  # ½·0.1·(0.9+0.5) + ½·0.1·0.5
    0.095
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    e = np.asarray(eps, np.float64)
    a = np.asarray(accuracy, np.float64)
    if e.ndim != 1 or e.shape != a.shape or e.size < 2:
        raise ValueError("eps and accuracy must be 1-D of the same length (at least 2)")
    if np.any(np.diff(e) <= 0):
        raise ValueError("eps must be strictly increasing")
    above = np.clip(a - 1.0 / num_classes, 0.0, None)
    return float(np.sum(np.diff(e) * (above[1:] + above[:-1]) / 2))
