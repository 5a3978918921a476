"""Paired significance tests for comparing two entries on the *same* evaluation images.

``robex compare`` uses them: McNemar's exact test on per-image 0/1 outcomes (clean correctness, robustness
under an attack) with the interval that inverts the same conditional binomial test, a paired bootstrap on
per-image real values, and — when a record keeps only an interval — an unpaired normal approximation built
from the two intervals; Holm's correction across the scores of one comparison. Every random draw takes an
explicit seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binom, binomtest, norm

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


def clopper_pearson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Clopper–Pearson ("exact") interval of a binomial proportion (Clopper & Pearson 1934, Biometrika 26:404,
    https://doi.org/10.1093/biomet/26.4.404): the inversion of two one-sided exact binomial tests, each at
    (1 − confidence)/2; ``scipy.stats.binomtest(...).proportion_ci(method="exact")``.

    >>> [round(v, 4) for v in clopper_pearson(5, 5)]  # lower end (α/2)^(1/5)
    [0.4782, 1.0]
    """
    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f"Clopper-Pearson needs 0 <= successes <= trials and trials >= 1, got {successes}/{trials}")
    ci = binomtest(successes, trials).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


def mcnemar_difference_interval(only_a: int, only_b: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Interval of the paired difference of two accuracies that agrees with McNemar's exact test.

    McNemar's exact test is conditional on the m = b + c discordant pairs: given m, b ~ Binomial(m, π) with
    π = p₁₀ / (p₁₀ + p₀₁), and H₀ is π = ½ (Fagerland, Lydersen & Laake 2013, "The McNemar test for binary
    matched-pairs data: mid-p and asymptotic are better than exact conditional", BMC Med Res Methodol 13:91,
    https://doi.org/10.1186/1471-2288-13-91). Under the same conditioning the difference of the accuracies is
    Δ = (m/n)(2π − 1), a strictly increasing function of π, so the Clopper–Pearson interval [π_L, π_U] of π
    (:func:`clopper_pearson`) maps to [(m/n)(2π_L − 1), (m/n)(2π_U − 1)]. Clopper–Pearson at 1 − α inverts
    the two one-sided exact tests at α/2, and the two-sided exact p-value is twice the smaller tail
    (:func:`mcnemar_p_value`), so the interval excludes 0 exactly when p < α: the interval and the test never
    contradict each other. It is conditional on the observed share m/n of discordant pairs (it does not carry
    that share's sampling error) and is the point 0 when there are no discordant pairs (p = 1).

    >>> [round(100 * v, 2) for v in mcnemar_difference_interval(5, 0, 200)]  # p = 0.0625: contains 0
    [-0.11, 2.5]
    """
    if only_a < 0 or only_b < 0 or n < only_a + only_b or n < 1:
        raise ValueError(f"need 0 <= b, c and b + c <= n >= 1, got b={only_a}, c={only_b}, n={n}")
    m = only_a + only_b
    if m == 0:
        return 0.0, 0.0
    lo, hi = clopper_pearson(only_a, m, confidence)
    return (m / n) * (2 * lo - 1), (m / n) * (2 * hi - 1)


def mcnemar_exact(a: Values, b: Values, confidence: float = 0.95) -> PairedResult:
    """McNemar's exact test on paired 0/1 outcomes (e.g. per-image correctness of two models).

    b = #(a=1, b=0), c = #(a=0, b=1); the difference of the two accuracies is (b − c)/n, its p-value the exact
    conditional one (:func:`mcnemar_p_value`) and its interval the matching conditional Clopper–Pearson
    interval (:func:`mcnemar_difference_interval`): it contains 0 exactly when p ≥ 1 − ``confidence``.

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
    lo, hi = mcnemar_difference_interval(only_a, only_b, n, confidence)
    return PairedResult(
        difference=(only_a - only_b) / n,
        ci_low=lo,
        ci_high=hi,
        p_value=mcnemar_p_value(only_a, only_b),
        n=n,
        method="McNemar exact",
        only_a=only_a,
        only_b=only_b,
    )


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979, "A simple sequentially rejective multiple test
    procedure", Scand J Stat 6:65–70, https://www.jstor.org/stable/4615733), in the input order.

    With the k p-values sorted p₍₁₎ ≤ … ≤ p₍ₖ₎, p̃₍ᵢ₎ = max_{j ≤ i} min(1, (k − j + 1)·p₍ⱼ₎); rejecting every
    hypothesis with p̃ ≤ α controls the family-wise error rate at α under any dependence (``robex compare`` marks
    p̃ < α, the strict form it uses for every test).

    >>> holm([0.01, 0.04, 0.03, 0.005])
    [0.03, 0.06, 0.06, 0.02]
    """
    p = [float(v) for v in p_values]
    if any(not 0.0 <= v <= 1.0 for v in p):
        raise ValueError(f"p-values must lie in [0, 1], got {p}")
    k = len(p)
    adjusted = [0.0] * k
    running = 0.0
    for rank, i in enumerate(sorted(range(k), key=lambda j: p[j])):
        running = max(running, min(1.0, (k - rank) * p[i]))
        adjusted[i] = running
    return adjusted


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
    interval_confidence: float = 0.95,
) -> PairedResult:
    """``a − b`` when only each value's interval (at ``interval_confidence``) is known: an *unpaired* normal
    approximation.

    se_i = (high_i − low_i) / (2z₀) with z₀ the ``interval_confidence`` quantile, se = sqrt(se_a² + se_b²),
    interval (a − b) ± z·se at ``confidence`` and
    p = 2(1 − Φ(|a − b| / se)). Treating the two as independent ignores the positive correlation of scores
    on the same images, so the interval is wider (conservative) than a paired one.

    >>> r = difference_from_intervals(0.5, (0.4, 0.6), 0.5, (0.4, 0.6))
    >>> (r.difference, r.p_value)
    (0.0, 1.0)
    """
    z = float(norm.ppf(0.5 + confidence / 2))
    z0 = float(norm.ppf(0.5 + interval_confidence / 2))
    se_a = (a_interval[1] - a_interval[0]) / (2 * z0)
    se_b = (b_interval[1] - b_interval[0]) / (2 * z0)
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
