"""The claims page's intervals: Newcombe's hybrid score interval against his published examples, and the seeded
paired bootstrap (scipy.stats.bootstrap) against the paired structure it must use."""

from __future__ import annotations

import numpy as np
import pytest

from leaderboard.claim_stats import newcombe_difference, paired_mean_difference


@pytest.mark.parametrize(
    ("k1", "n1", "k2", "n2", "low", "high"),
    [  # Newcombe (1998), Table II, method 10
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (6, 7, 2, 7, 0.0582, 0.8062),
        (5, 56, 0, 29, -0.0381, 0.1926),
    ],
)
def test_newcombe_matches_the_published_intervals(k1: int, n1: int, k2: int, n2: int, low: float, high: float) -> None:
    d = newcombe_difference(k1, n1, k2, n2)
    assert d.value == pytest.approx(k1 / n1 - k2 / n2)
    assert (round(d.ci_low, 4), round(d.ci_high, 4)) == (low, high)
    assert d.n == min(n1, n2)


def test_paired_bootstrap_uses_the_pairing() -> None:
    # a large image-to-image spread shared by both models, a small consistent gap: paired, the gap is clear;
    # an unpaired comparison of the two means would drown it in the spread
    rng = np.random.default_rng(0)
    base = rng.uniform(0.0, 1.0, 60)
    a, b = base + 0.02 + rng.normal(0, 0.005, 60), base
    d = paired_mean_difference(a.tolist(), b.tolist(), seed=3)
    assert d.above_zero and d.ci_low == pytest.approx(0.02, abs=0.005) and d.n == 60
    swapped = paired_mean_difference(b.tolist(), a.tolist(), seed=3)
    assert swapped.below_zero and swapped.value == pytest.approx(-d.value)
    shuffled = paired_mean_difference(a.tolist(), rng.permutation(b).tolist(), seed=3)
    assert not shuffled.above_zero  # the same means without the pairing: the interval covers 0


def test_paired_bootstrap_is_seeded_and_rejects_bad_input() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.uniform(size=30).tolist(), rng.uniform(size=30).tolist()
    assert paired_mean_difference(a, b, seed=7) == paired_mean_difference(a, b, seed=7)
    assert paired_mean_difference(a, b, seed=7) != paired_mean_difference(a, b, seed=8)
    with pytest.raises(ValueError, match="equal length"):
        paired_mean_difference(a, b[:-1], seed=0)
    with pytest.raises(ValueError, match="finite"):
        paired_mean_difference([float("nan")], [0.0], seed=0)
