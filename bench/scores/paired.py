"""Paired significance tests for comparing two entries on the *same* evaluation images.

``robex compare`` uses them: McNemar's exact test on per-image 0/1 outcomes (clean correctness, robustness
under an attack), a paired bootstrap on per-image real values, and — when a record keeps only an interval —
an unpaired normal approximation built from the two intervals. Every random draw takes an explicit seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binom, norm

Values = Sequence[float] | np.ndarray


@dataclass(frozen=True)
class PairedResult:
    """A paired difference ``mean(a) − mean(b)`` with its 95% interval and a two-sided p-value.

    Attributes:
        difference: ``mean(a) − mean(b)`` over the paired items.
        ci_low: Lower end of the interval of the difference (``None`` when the method gives none).
        ci_high: Upper end of the interval of the difference.
        p_value: Two-sided p-value of "no difference".
        n: Number of paired items.
        method: Name of the test.
        only_a: Items where ``a`` is 1 and ``b`` is 0 (McNemar's b); ``None`` for real-valued tests.
        only_b: Items where ``b`` is 1 and ``a`` is 0 (McNemar's c).
    """

    difference: float
    ci_low: float | None
    ci_high: float | None
    p_value: float
    n: int
    method: str
    only_a: int | None = None
    only_b: int | None = None

    def significant(self, alpha: float = 0.05) -> bool:
        """Whether the difference is significant at level ``alpha``."""
        return self.p_value < alpha


def _pair(a: Values, b: Values) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"paired tests need two 1-d sequences of equal length, got {x.shape} and {y.shape}")
    if len(x) == 0:
        raise ValueError("paired tests need at least one pair")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("paired tests need finite values")
    return x, y


def mcnemar_p_value(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value from the discordant counts (McNemar 1947; exact binomial form).

    Under H₀ the discordant pairs split Binomial(m = b + c, ½); p = min(1, 2·P[X ≤ min(b, c)]), and p = 1
    when there are no discordant pairs.

    >>> mcnemar_p_value(0, 0)
    1.0
    >>> round(mcnemar_p_value(10, 0), 6)  # 2 · 0.5**10
    0.001953
    >>> mcnemar_p_value(3, 3)
    1.0
    """
    if only_a < 0 or only_b < 0:
        raise ValueError("discordant counts must be non-negative")
    m = only_a + only_b
    if m == 0:
        return 1.0
    return float(min(1.0, 2.0 * binom.cdf(min(only_a, only_b), m, 0.5)))


def mcnemar_exact(a: Values, b: Values, confidence: float = 0.95) -> PairedResult:
    """McNemar's exact test on paired 0/1 outcomes (e.g. per-image correctness of two models).

    b = #(a=1, b=0), c = #(a=0, b=1); the difference of the two accuracies is (b − c)/n and its interval is
    the Wald interval of a paired difference of proportions, (b − c)/n ± z·sqrt(b + c − (b − c)²/n)/n
    (Agresti, *Categorical Data Analysis*, §10.1), clipped to [−1, 1].

    >>> r = mcnemar_exact([1, 1, 1, 0], [1, 0, 0, 0])
    >>> (r.difference, r.only_a, r.only_b, r.p_value)
    (0.5, 2, 0, 0.5)
    """
    x, y = _pair(a, b)
    if not (np.isin(x, (0.0, 1.0)).all() and np.isin(y, (0.0, 1.0)).all()):
        raise ValueError("McNemar's test needs 0/1 outcomes")
    n = len(x)
    only_a = int(((x == 1) & (y == 0)).sum())
    only_b = int(((x == 0) & (y == 1)).sum())
    diff = (only_a - only_b) / n
    z = float(norm.ppf(0.5 + confidence / 2))
    half = z * math.sqrt(max(0.0, only_a + only_b - (only_a - only_b) ** 2 / n)) / n
    return PairedResult(
        difference=diff,
        ci_low=max(-1.0, diff - half),
        ci_high=min(1.0, diff + half),
        p_value=mcnemar_p_value(only_a, only_b),
        n=n,
        method="McNemar exact",
        only_a=only_a,
        only_b=only_b,
    )


def bootstrap_means(values: Values, *, resamples: int, seed: int) -> np.ndarray:
    """Means of ``resamples`` bootstrap resamples (with replacement) of ``values`` (Efron 1979).

    >>> bootstrap_means([2.0, 2.0, 2.0], resamples=4, seed=0).tolist()
    [2.0, 2.0, 2.0, 2.0]
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or len(v) == 0:
        raise ValueError("bootstrap needs a non-empty 1-d sequence")
    if resamples < 1:
        raise ValueError("resamples must be positive")
    rng = np.random.default_rng(seed)
    out = np.empty(resamples, dtype=np.float64)
    chunk = max(1, 2_000_000 // len(v))
    for start in range(0, resamples, chunk):
        k = min(chunk, resamples - start)
        idx = rng.integers(0, len(v), size=(k, len(v)))
        out[start : start + k] = v[idx].mean(axis=1)
    return out


def bootstrap_interval(
    values: Values, *, resamples: int = 2000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values``.

    >>> bootstrap_interval([1.0, 1.0], resamples=10)
    (1.0, 1.0)
    """
    means = bootstrap_means(values, resamples=resamples, seed=seed)
    tail = (1 - confidence) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def paired_bootstrap(
    a: Values, b: Values, *, resamples: int = 2000, seed: int = 0, confidence: float = 0.95
) -> PairedResult:
    """Paired bootstrap of ``mean(a − b)``: percentile interval and a two-sided p-value.

    The p-value is that of the shifted-null bootstrap test (Efron & Tibshirani 1993, §16.4): with d̄ the
    observed mean difference and d̄* the resampled ones, p = (1 + #{|d̄* − d̄| ≥ |d̄|}) / (1 + B); identical
    inputs give p = 1.

    >>> r = paired_bootstrap([0.5, 0.7, 0.1], [0.5, 0.7, 0.1], resamples=50)
    >>> (r.difference, r.ci_low, r.ci_high, r.p_value)
    (0.0, 0.0, 0.0, 1.0)
    """
    x, y = _pair(a, b)
    d = x - y
    observed = float(d.mean())
    means = bootstrap_means(d, resamples=resamples, seed=seed)
    tail = (1 - confidence) / 2
    extreme = int((np.abs(means - observed) >= abs(observed) - 1e-15).sum())
    return PairedResult(
        difference=observed,
        ci_low=float(np.quantile(means, tail)),
        ci_high=float(np.quantile(means, 1 - tail)),
        p_value=min(1.0, (1 + extreme) / (1 + resamples)),
        n=len(d),
        method="paired bootstrap",
    )


def difference_from_intervals(
    a: float,
    a_interval: tuple[float, float],
    b: float,
    b_interval: tuple[float, float],
    *,
    confidence: float = 0.95,
) -> PairedResult:
    """``a − b`` when only each value's (1−α) interval is known: an *unpaired* normal approximation.

    se_i = (high_i − low_i) / (2z), se = sqrt(se_a² + se_b²), interval (a − b) ± z·se and
    p = 2(1 − Φ(|a − b| / se)). Treating the two as independent ignores the positive correlation of scores
    on the same images, so the interval is wider (conservative) than a paired one.

    >>> r = difference_from_intervals(0.5, (0.4, 0.6), 0.5, (0.4, 0.6))
    >>> (r.difference, r.p_value)
    (0.0, 1.0)
    """
    z = float(norm.ppf(0.5 + confidence / 2))
    se_a = (a_interval[1] - a_interval[0]) / (2 * z)
    se_b = (b_interval[1] - b_interval[0]) / (2 * z)
    if se_a < 0 or se_b < 0:
        raise ValueError("an interval's upper end lies below its lower end")
    se = math.hypot(se_a, se_b)
    diff = a - b
    p = (1.0 if diff == 0 else 0.0) if se == 0 else float(2 * norm.sf(abs(diff) / se))
    return PairedResult(
        difference=diff,
        ci_low=diff - z * se,
        ci_high=diff + z * se,
        p_value=min(1.0, p),
        n=0,
        method="intervals (unpaired normal approx.)",
    )
