"""The memorisation check: accuracy on a held-out subset drawn at scoring time must agree with the
published subset's.

A model that memorised the published evaluation images (e.g. one that returns the stored label for
anything within ε of a published image) scores far better on them than on images of the same
distribution it has never seen. The ``clean`` stage therefore also measures accuracy on a second subset,
drawn at scoring time from the track's held-out pool with a seed taken from the operating system's
randomness and recorded afterwards, and compares the two with :func:`newcombe_difference_interval`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.results.intervals import wilson_interval


def newcombe_difference_interval(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p₁ − p₂ of two independent binomial proportions
    (Newcombe 1998, "Interval estimation for the difference between independent proportions: comparison of
    eleven methods", Statistics in Medicine 17(8):873-890, method 10,
    https://doi.org/10.1002/(SICI)1097-0258(19980430)17:8%3C873::AID-SIM779%3E3.0.CO;2-I).

    With p̂ᵢ = kᵢ/nᵢ, (lᵢ, uᵢ) the Wilson interval of p̂ᵢ and d = p̂₁ − p̂₂:
    L = d − sqrt((p̂₁ − l₁)² + (u₂ − p̂₂)²),  U = d + sqrt((u₁ − p̂₁)² + (p̂₂ − l₂)²).

    Newcombe's worked example (a), 56/70 vs 48/80, gives 0.0524 to 0.3339:

    >>> lo, hi = newcombe_difference_interval(56, 70, 48, 80)
    >>> round(lo, 4), round(hi, 4)
    (0.0524, 0.3339)
    """
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, confidence)
    l2, u2 = wilson_interval(k2, n2, confidence)
    d = p1 - p2
    return d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2)


@dataclass(frozen=True)
class HoldoutComparison:
    """Published vs held-out accuracy and the verdict of :func:`compare_holdout`."""

    published_correct: int
    published_n: int
    holdout_correct: int
    holdout_n: int
    ci_low: float
    ci_high: float
    tolerance: float
    confidence: float

    @property
    def published_accuracy(self) -> float:
        """k₁ / n₁."""
        return self.published_correct / self.published_n

    @property
    def holdout_accuracy(self) -> float:
        """k₂ / n₂."""
        return self.holdout_correct / self.holdout_n

    @property
    def memorised(self) -> bool:
        """The published accuracy exceeds the held-out one by more than the tolerance, with confidence:
        the whole interval of p_published − p_holdout lies above ``tolerance``."""
        return self.ci_low > self.tolerance


def compare_holdout(
    published_correct: int,
    published_n: int,
    holdout_correct: int,
    holdout_n: int,
    *,
    tolerance: float = 0.05,
    confidence: float = 0.95,
) -> HoldoutComparison:
    """The rule of the memorisation check: fail when Newcombe's ``confidence`` interval of
    p_published − p_holdout (:func:`newcombe_difference_interval`) lies entirely above ``tolerance``.

    An honest model has p_published = p_holdout (both subsets are random draws from one distribution), so
    it fails only when the interval misses the true difference by more than the tolerance: with 95%
    intervals, less than 2.5% of the time even at a tolerance of 0 (one-sided), and far less at 0.05.
    A label-lookup model (100% published, its fallback's accuracy on held-out images) fails as soon as
    the gap is well above the tolerance.

    >>> compare_holdout(200, 200, 40, 200).memorised   # 100% published, 20% held out
    True
    >>> compare_holdout(180, 200, 176, 200).memorised  # 90% vs 88%: agreement
    False
    """
    if not (0.0 <= tolerance < 1.0 and 0.0 < confidence < 1.0):
        raise ValueError(f"tolerance must lie in [0, 1) and confidence in (0, 1), got {tolerance}, {confidence}")
    lo, hi = newcombe_difference_interval(published_correct, published_n, holdout_correct, holdout_n, confidence)
    return HoldoutComparison(published_correct, published_n, holdout_correct, holdout_n, lo, hi, tolerance, confidence)
