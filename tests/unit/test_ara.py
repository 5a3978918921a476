"""ARA (Woods et al. 2019): hand-computed cases, the identities of the definition (https://arxiv.org/abs/1906.02896),
Woods' binned version, a fine Riemann sum and property tests over random radii."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.scores.ara import accuracy_curve, ara_exact, ara_histogram, budget_area


def riemann(radii: np.ndarray, K: int, bins: int) -> float:
    """Midpoint Riemann sum of ∫₀^max max(0, A(ε) − 1/K) dε with A computed directly from its definition."""
    top = float(radii.max())
    if top == 0:
        return 0.0
    mids = (np.arange(bins) + 0.5) * top / bins
    A = (radii[None, :] > mids[:, None]).mean(1)
    return float(np.clip(A - 1 / K, 0, None).sum() * top / bins)


def woods_official(radii: np.ndarray, K: int, bins: int = 1000) -> float:
    """The right-endpoint sum of ``calculate_ara`` written out with numpy (independent of torch.histc)."""
    top = float(radii.max())
    edges = np.arange(1, bins + 1) * top / bins
    below = (radii[None, :] <= edges[:, None]).mean(1)
    return float(np.clip(1 - below - 1 / K, 0, None).sum() * top / bins)


# ------------------------------------------------------------------------------------------ hand-computed
@pytest.mark.parametrize(
    ("radii", "K", "expected"),
    [
        ([0.0, 0.1, 0.2, 0.4], 2, 0.1 * (3 / 4 - 1 / 2)),
        # n = 2: A = 1 on [0, .1), 1/2 on [.1, .3): 0.1·0.9 + 0.2·0.4
        ([0.1, 0.3], 10, 0.1 * 0.9 + 0.2 * 0.4),
        ([0.3, 0.1], 10, 0.1 * 0.9 + 0.2 * 0.4),  # order does not matter
        # one misclassified (0) of four, K = 4: A = 3/4 to .2, 2/4 to .5, 1/4 to 1 (≤ 1/K: nothing)
        ([0.0, 0.2, 0.5, 1.0], 4, 0.2 * (3 / 4 - 1 / 4) + 0.3 * (2 / 4 - 1 / 4)),
        ([0.0, 0.0, 0.0, 0.9], 2, 0.0),  # clean accuracy 1/4 ≤ 1/K
        ([0.05], 10, 0.05 * 0.9),
    ],
)
def test_hand_computed(radii: list[float], K: int, expected: float) -> None:
    assert ara_exact(radii, K) == pytest.approx(expected, abs=1e-15)


# ------------------------------------------------------------------------------------------ §4.4 identities
@pytest.mark.parametrize("r", [0.01, 0.05, 0.3])
@pytest.mark.parametrize("K", [2, 10, 1000])
@pytest.mark.parametrize("n", [1, 7, 200])
def test_equal_radii_perfect_accuracy(r: float, K: int, n: int) -> None:
    assert ara_exact([r] * n, K) == pytest.approx(r * (1 - 1 / K), rel=1e-12)


def test_zero_radii_give_zero() -> None:
    assert ara_exact(np.zeros(50), 10) == 0.0
    assert ara_histogram(np.zeros(50), 10) == 0.0


def test_bounded_by_mean_radius_and_tends_to_it() -> None:
    rng = np.random.default_rng(0)
    radii = rng.exponential(0.05, 300) * (rng.random(300) > 0.1)  # 10% misclassified
    assert ara_exact(radii, 10) <= radii.mean()
    # ARA = mean(ε*) − ∫ min(A, 1/K) dε, which vanishes as 1/K → 0
    assert ara_exact(radii, 10**9) == pytest.approx(radii.mean(), abs=radii.max() * 1e-9)
    gap = radii.mean() - ara_exact(radii, 10)
    top = radii.max()
    mids = (np.arange(200_000) + 0.5) * top / 200_000
    A = (radii[None, :] > mids[:, None]).mean(1)
    assert gap == pytest.approx(np.minimum(A, 0.1).sum() * top / 200_000, abs=top / 20_000)


def test_exact_matches_fine_riemann_sum() -> None:
    rng = np.random.default_rng(1)
    radii = rng.gamma(2.0, 0.02, 400)
    radii[:37] = 0.0
    bins = 100_000
    # a midpoint sum of a step function errs by at most one bin width per jump, weighted by the jump
    assert ara_exact(radii, 10) == pytest.approx(riemann(radii, 10, bins), abs=radii.max() / bins * 2)


def test_woods_binned_version_within_one_bin() -> None:
    rng = np.random.default_rng(2)
    radii = rng.uniform(0, 0.1, 1000)
    radii[rng.random(1000) < 0.2] = 0.0
    exact = ara_exact(radii, 10)
    binned = ara_histogram(radii, 10, bins=1000)
    assert binned <= exact + 1e-7  # right-endpoint sum of a non-increasing function
    assert exact - binned <= radii.max() / 1000 + 1e-7
    assert binned == pytest.approx(woods_official(radii, 10), abs=1e-6)


def test_curve_is_the_step_function() -> None:
    radii = np.array([0.0, 0.3, 0.1, 0.1, 0.25])
    xs, ys = accuracy_curve(radii)
    assert xs[0] == 0.0 and ys[0] == pytest.approx(4 / 5) and ys[-1] == 0.0 and xs[-1] == 0.3
    # ∫ A dε = mean radius, and the area of max(0, A − 1/K) under the polyline is the ARA
    assert np.trapezoid(ys, xs) == pytest.approx(radii.mean())
    K = 4
    assert np.trapezoid(np.clip(np.array(ys) - 1 / K, 0, None), xs) == pytest.approx(ara_exact(radii, K))
    # A(ε) at a few points, straight from the definition
    for eps in (0.05, 0.1, 0.2, 0.29):
        i = max(j for j, x in enumerate(xs) if x <= eps)
        assert ys[i] == pytest.approx((radii > eps).mean())


def test_accepts_tensors() -> None:
    r = torch.tensor([0.0, 0.1, 0.2, 0.4])
    assert ara_exact(r, 2) == pytest.approx(0.025)


@pytest.mark.parametrize(
    ("radii", "K", "match"),
    [
        ([0.1, float("inf")], 10, "finite"),
        ([0.1, float("nan")], 10, "finite"),
        ([-0.1, 0.2], 10, "non-negative"),
        ([], 10, "non-empty"),
        ([[0.1]], 10, "1-D"),
        ([0.1], 1, "at least 2"),
    ],
)
def test_bad_input(radii: list[float], K: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ara_exact(radii, K)


# ------------------------------------------------------------------------------------------ property tests
radii_lists = st.lists(
    st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=1.0, allow_nan=False)), min_size=1, max_size=60
)


@settings(max_examples=150, deadline=None)
@given(radii=radii_lists, K=st.integers(min_value=2, max_value=1000), scale=st.floats(min_value=0.1, max_value=10))
def test_properties(radii: list[float], K: int, scale: float) -> None:
    r = np.array(radii)
    ara = ara_exact(r, K)
    assert 0.0 <= ara <= r.mean() + 1e-12
    assert ara <= r.max() * (1 - 1 / K) + 1e-12
    assert ara_exact(r[::-1], K) == pytest.approx(ara, abs=1e-12)
    assert ara_exact(r * scale, K) == pytest.approx(ara * scale, rel=1e-9, abs=1e-15)
    binned = ara_histogram(r, K, bins=1000)
    assert binned <= ara + 1e-6
    assert ara - binned <= r.max() / 1000 + 1e-6
    # growing one radius never lowers the area; a misclassified image (radius 0) never raises it
    bigger = r.copy()
    bigger[0] += 0.1
    assert ara_exact(bigger, K) >= ara - 1e-12
    assert ara_exact(np.append(r, 0.0), K) <= ara + 1e-12
    if (r > 0).mean() <= 1 / K:
        assert ara == 0.0


def test_budget_area() -> None:
    assert budget_area([0.0, 0.1, 0.2], [1.0, 0.6, 0.1], 10) == pytest.approx(0.1 * (0.9 + 0.5) / 2 + 0.1 * 0.5 / 2)
    # a flat curve at chance has no area; a perfect one has (1 − 1/K)·span
    assert budget_area([0.0, 0.3], [0.1, 0.1], 10) == 0.0
    assert budget_area([0.0, 0.1, 0.7], [1.0, 1.0, 1.0], 10) == pytest.approx(0.7 * 0.9)
    with pytest.raises(ValueError, match="increasing"):
        budget_area([0.0, 0.2, 0.1], [1.0, 0.5, 0.2], 10)
    with pytest.raises(ValueError, match="same length"):
        budget_area([0.0, 0.1], [1.0], 10)
    assert math.isfinite(budget_area([0.0, 0.1], [0.0, 0.0], 2))
