"""The two intervals the claims page's comparisons use (pure functions of recorded numbers).

* :func:`newcombe_difference`: p₁ − p₂ of two accuracies known only as k/n (the transfer grid keeps one
  accuracy per source and target, not per image), Newcombe's hybrid score interval from the two Wilson
  intervals. It treats the two proportions as independent; on the *same* images the two are positively
  correlated, so the interval is wider than a paired one (conservative).
* :func:`paired_mean_difference`: mean(a − b) of per-image values of two models (or two runs) on the same
  images, with a seeded bootstrap interval from :func:`scipy.stats.bootstrap`.
* :func:`paired_statistic_difference`: f(a) − f(b) of any statistic f of per-image values (e.g. Woods' ARA of
  the per-image radii) of two models on the same images, resampling images jointly
  (:func:`bench.results.intervals.image_bootstrap`, seeded).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import bootstrap

from bench.results.intervals import image_bootstrap, wilson_interval


@dataclass(frozen=True)
class Difference:
    """A difference with its interval and the number of items (images) behind it."""

    value: float
    ci_low: float
    ci_high: float
    n: int

    @property
    def above_zero(self) -> bool:
        """The whole interval lies above 0."""
        return self.ci_low > 0

    @property
    def below_zero(self) -> bool:
        """The whole interval lies below 0."""
        return self.ci_high < 0


def newcombe_difference(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95) -> Difference:
    """p₁ − p₂ with Newcombe's hybrid score interval (Newcombe 1998, Statistics in Medicine 17:873, method
    10; https://doi.org/10.1002/(SICI)1097-0258(19980430)17:8%3C873::AID-SIM779%3E3.0.CO;2-I).

    With (lᵢ, uᵢ) the Wilson interval of pᵢ = kᵢ/nᵢ and d = p₁ − p₂:
    L = d − sqrt((p₁ − l₁)² + (u₂ − p₂)²),  U = d + sqrt((u₁ − p₁)² + (p₂ − l₂)²).

    >>> d = newcombe_difference(56, 70, 48, 80)  # Newcombe's example 1: 0.2 [0.0524, 0.3339]
    >>> round(d.value, 4), round(d.ci_low, 4), round(d.ci_high, 4)
    (0.2, 0.0524, 0.3339)
    """
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, confidence)
    l2, u2 = wilson_interval(k2, n2, confidence)
    d = p1 - p2
    return Difference(d, d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2), min(n1, n2))


def paired_mean_difference(
    a: Sequence[float], b: Sequence[float], *, seed: int, confidence: float = 0.95, resamples: int = 9999
) -> Difference:
    """mean(aᵢ − bᵢ) over paired items with a BCa bootstrap interval (Efron 1987) from
    :func:`scipy.stats.bootstrap`, resampling items with the generator seeded by ``seed``.

    Identical differences have no spread: their interval is the point itself.

    >>> d = paired_mean_difference([0.5, 0.7, 0.9], [0.4, 0.6, 0.8], seed=0)
    >>> round(d.value, 6), round(d.ci_low, 6), round(d.ci_high, 6), d.n
    (0.1, 0.1, 0.1, 3)
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or len(x) == 0:
        raise ValueError(f"paired values must be two non-empty 1-d sequences of equal length, got {x.shape}, {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("paired values must be finite")
    d = x - y
    mean = float(d.mean())
    if len(d) < 2 or np.ptp(d) == 0:
        return Difference(mean, mean, mean, len(d))
    res = bootstrap((d,), np.mean, confidence_level=confidence, n_resamples=resamples, rng=np.random.default_rng(seed))
    return Difference(mean, float(res.confidence_interval.low), float(res.confidence_interval.high), len(d))


def paired_statistic_difference(
    a: Sequence[float],
    b: Sequence[float],
    statistic: Callable[..., np.ndarray | float],
    *,
    seed: int,
    confidence: float = 0.95,
    resamples: int = 9999,
) -> Difference:
    """statistic(a) − statistic(b) of two models' per-image values on the same images, with the BCa bootstrap
    interval that resamples images with both values of an image kept together (paired;
    :func:`bench.results.intervals.image_bootstrap`, seeded). ``statistic`` is vectorised (takes ``axis``).

    >>> d = paired_statistic_difference([0.2] * 4, [0.1] * 4, np.median, seed=0)
    >>> round(d.value, 6), round(d.ci_low, 6), round(d.ci_high, 6), d.n
    (0.1, 0.1, 0.1, 4)
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or len(x) == 0:
        raise ValueError(f"paired values must be two non-empty 1-d sequences of equal length, got {x.shape}, {y.shape}")

    def difference(u: np.ndarray, v: np.ndarray, axis: int = -1) -> np.ndarray | float:
        return np.asarray(statistic(u, axis=axis)) - np.asarray(statistic(v, axis=axis))  # type: ignore[no-any-return]

    value = float(difference(x, y))
    lo, hi = image_bootstrap(difference, [x, y], seed=seed, confidence=confidence, resamples=resamples)
    return Difference(value, lo, hi, len(x))
