"""Accuracy intervals: Wilson against scipy, its coverage in simulation, and the ScoreValue helpers; rates, paired
accuracy differences and the seeded bootstrap over images."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from scipy.stats import binom, binomtest, bootstrap

from bench.results.intervals import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, image_bootstrap, rate_interval
from bench.scores.accuracy import accuracy_difference_score, accuracy_score, rate_score, wilson_interval


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


# ------------------------------------------------------------------ rates, paired costs, the image bootstrap
def test_rate_score_is_wilson_of_the_recorded_fraction() -> None:
    s = rate_score("manipulation_fsr", 0.9, 100)
    assert (s.value, s.n) == (0.9, 100)
    assert (s.ci_low, s.ci_high) == wilson_interval(90, 100)
    assert s.ci_low is not None and s.ci_high is not None
    assert (round(s.ci_low, 4), round(s.ci_high, 4)) == (0.8256, 0.9448)
    assert rate_score("x", 0.333333, 3).ci_low == wilson_interval(1, 3)[0]  # a rounded third of 3 images
    with pytest.raises(ValueError, match="not a fraction"):
        rate_interval(0.5, 7)  # 3.5 images


def test_accuracy_difference_score_is_paired_and_agrees_with_mcnemar() -> None:
    # control right on 10 images, fooled on 8 of them and on 1 other: b = 2, c = 1 discordant of n = 20.
    control = [1] * 10 + [0] * 10
    fooled = [1] * 8 + [0, 0] + [1] + [0] * 9
    s = accuracy_difference_score("manipulation_accuracy_cost", control, fooled)
    assert s.value == pytest.approx((2 - 1) / 20) and s.n == 20
    # conditional on m = 3 discordant pairs: Clopper–Pearson of 2/3 is [0.0943, 0.975^(1/3) = 0.9916], mapped by
    # (m/n)(2π − 1) = 0.15·(2π − 1)
    assert s.ci_low is not None and s.ci_high is not None
    assert (round(s.ci_low, 4), round(s.ci_high, 4)) == (-0.1217, 0.1475)
    assert s.ci_low < 0 < s.ci_high  # McNemar p = 1: the interval covers 0
    with pytest.raises(ValueError, match="one length"):
        accuracy_difference_score("x", [1, 0], [1])


def test_image_bootstrap_of_a_constant_or_constant_shift_is_the_point() -> None:
    assert image_bootstrap(np.mean, [[0.25] * 30]) == (0.25, 0.25)

    def difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.asarray(np.mean(a, axis=axis) - np.mean(b, axis=axis))

    rng = np.random.default_rng(0)
    b = rng.random(40)
    lo, hi = image_bootstrap(difference, [b + 0.1, b])  # paired: every resample's difference is 0.1
    assert (lo, hi) == pytest.approx((0.1, 0.1), abs=1e-12)
    lo, hi = image_bootstrap(difference, [rng.permutation(b) + 0.1, b])  # the pairing broken: wide
    assert hi - lo > 0.1


def test_image_bootstrap_is_seeded_and_resamples_whole_images() -> None:
    rng = np.random.default_rng(1)
    v = rng.random(50)
    assert image_bootstrap(np.mean, [v]) == image_bootstrap(np.mean, [v], seed=BOOTSTRAP_SEED)
    assert image_bootstrap(np.mean, [v], seed=1) != image_bootstrap(np.mean, [v], seed=2)
    res = bootstrap((v,), np.mean, n_resamples=BOOTSTRAP_RESAMPLES, rng=np.random.default_rng(BOOTSTRAP_SEED))
    assert image_bootstrap(np.mean, [v]) == (res.confidence_interval.low, res.confidence_interval.high)
    with pytest.raises(ValueError, match="one length"):
        image_bootstrap(np.mean, [v, v[:-1]])
    with pytest.raises(ValueError, match="finite"):
        image_bootstrap(np.mean, [[0.0, np.nan]])


def test_a_discrete_statistic_has_an_interval_on_its_achievable_values() -> None:
    # 9 images at radius 0.1, one at 0 (K = 10): ARA = 0.1·(0.9 − X/10) with X ~ Bin(10, 0.1) zeros drawn, so every
    # resample's ARA is a multiple of 0.01 at most 0.09 (X = 0, probability 0.35 > 2.5%: the upper end)
    from bench.results.ara import ara_of_radii

    lo, hi = image_bootstrap(lambda r, axis=-1: ara_of_radii(r, 10, axis=axis), [[0.0] + [0.1] * 9])
    assert hi == pytest.approx(0.09) and lo <= 0.08 - 0.01
    assert round(lo * 100, 9) == round(lo * 100)  # an achievable value
