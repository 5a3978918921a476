"""Accuracy intervals: Wilson against scipy, its coverage in simulation, and the ScoreValue helper."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from scipy.stats import binom, binomtest

from bench.scores.accuracy import accuracy_score, wilson_interval


@pytest.mark.parametrize(("k", "n"), [(0, 10), (1, 10), (5, 10), (10, 10), (90, 100), (3, 200), (731, 1000)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_matches_scipy(k: int, n: int, confidence: float) -> None:
    ref = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    lo, hi = wilson_interval(k, n, confidence)
    assert lo == pytest.approx(ref.low, abs=1e-12)
    assert hi == pytest.approx(ref.high, abs=1e-12)


@functools.cache
def intervals(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Wilson intervals for every k = 0..n."""
    lo, hi = zip(*(wilson_interval(k, n) for k in range(n + 1)), strict=True)
    return np.array(lo), np.array(hi)


def exact_coverage(p: float, n: int) -> float:
    """P(p ∈ Wilson interval) under Binomial(n, p), summed exactly over k."""
    lo, hi = intervals(n)
    return float(binom.pmf(np.arange(n + 1), n, p)[(lo <= p) & (p <= hi)].sum())


@pytest.mark.parametrize("n", [50, 200, 1000])
@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.9])
def test_coverage_simulation(p: float, n: int) -> None:
    """Simulated accuracies (4,000 draws of n Bernoulli(p) images): the 95% interval covers p about 95% of
    the time, and the simulated rate agrees with the exact one within Monte-Carlo error."""
    rng = np.random.default_rng(1000 * n + int(100 * p))
    draws = 4000
    k = rng.binomial(n, p, size=draws)
    lo, hi = intervals(n)
    covered = float(np.mean((lo[k] <= p) & (p <= hi[k])))
    assert 0.92 <= covered <= 0.98
    exact = exact_coverage(p, n)
    assert 0.93 <= exact <= 0.975
    assert abs(covered - exact) <= 4 * np.sqrt(exact * (1 - exact) / draws)


def test_average_coverage_is_nominal() -> None:
    """Averaged over p (the accuracy is unknown), Wilson's coverage is close to the stated 95%."""
    ps = np.linspace(0.02, 0.98, 49)
    mean_cov = np.mean([exact_coverage(float(p), 200) for p in ps])
    assert mean_cov == pytest.approx(0.95, abs=0.01)


def test_wider_with_fewer_images_and_higher_confidence() -> None:
    lo1, hi1 = wilson_interval(45, 50)
    lo2, hi2 = wilson_interval(900, 1000)
    assert hi1 - lo1 > hi2 - lo2
    lo3, hi3 = wilson_interval(900, 1000, confidence=0.99)
    assert lo3 < lo2 and hi3 > hi2


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="positive"):
        wilson_interval(0, 0)
    with pytest.raises(ValueError, match=r"\[0, n\]"):
        wilson_interval(11, 10)


def test_accuracy_score() -> None:
    s = accuracy_score("x", torch.tensor([True, False, True, True]))
    assert (s.name, s.value, s.n) == ("x", 0.75, 4)
    assert (s.ci_low, s.ci_high) == wilson_interval(3, 4)
    assert accuracy_score("x", [1, 1, 0, 1]) == s
    with pytest.raises(ValueError, match="0/1"):
        accuracy_score("x", [0.5, 1])
    with pytest.raises(ValueError, match="positive"):
        accuracy_score("x", [])
