"""Accuracy and its 95% interval."""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy.stats import norm
from torch import Tensor

from bench.types import ScoreValue


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927).

    With p̂ = k/n and z the (1+c)/2 normal quantile:
    centre = (p̂ + z²/2n) / (1 + z²/n), half-width = z·sqrt(p̂(1−p̂)/n + z²/4n²) / (1 + z²/n).

    >>> lo, hi = wilson_interval(90, 100)
    >>> round(lo, 4), round(hi, 4)
    (0.8256, 0.9448)
    """
    if n <= 0:
        raise ValueError("n must be positive")
    if not 0 <= successes <= n:
        raise ValueError("successes must lie in [0, n]")
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy_score(name: str, correct: Sequence[bool] | Sequence[int] | Tensor, confidence: float = 0.95) -> ScoreValue:
    """Accuracy k/n of a 0/1 (or bool) per-image vector as a :class:`ScoreValue` with its Wilson interval.

    >>> s = accuracy_score("clean_accuracy", [1, 1, 0, 1])
    >>> s.value, s.n, round(s.ci_low, 4), round(s.ci_high, 4)
    (0.75, 4, 0.3006, 0.9544)
    """
    values = correct.detach().cpu().flatten().tolist() if isinstance(correct, Tensor) else list(correct)
    if any(v not in (0, 1) for v in values):
        raise ValueError("correct must hold only 0/1 or booleans")
    n = len(values)
    k = int(sum(bool(v) for v in values))
    lo, hi = wilson_interval(k, n, confidence)
    return ScoreValue(name, k / n, n, lo, hi)
