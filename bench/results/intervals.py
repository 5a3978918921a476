"""The intervals shared by the stages (scores) and the readers of records (claims), torch-free: Wilson's
interval of a proportion, and a seeded bootstrap over images for every score without a closed form.

Every interval here reflects the sampling of the evaluation images only: the model is one training run (one
seed), and a retrained model moves the scores by an amount none of these intervals includes.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import DegenerateDataWarning, binomtest, bootstrap

#: The generator seed and resample count of every bootstrap interval a stage writes into a record.
BOOTSTRAP_SEED = 0
BOOTSTRAP_RESAMPLES = 9999

Statistic = Callable[..., NDArray[np.float64] | float]


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927, https://doi.org/10.2307/2276774), from
    :meth:`scipy.stats.binomtest(...).proportion_ci <scipy.stats._result_classes.BinomTestResult.proportion_ci>`.

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
    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return max(0.0, float(ci.low)), min(1.0, float(ci.high))


def rate_interval(rate: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson interval of a rate recorded as a (rounded) fraction of ``n`` images: k = round(rate·n).

    >>> [round(v, 4) for v in rate_interval(0.9, 100)]
    [0.8256, 0.9448]
    """
    k = round(rate * n)
    if abs(k - rate * n) > 1e-3:
        raise ValueError(f"{rate} is not a fraction of {n} images")
    return wilson_interval(k, n, confidence)


def image_bootstrap(
    statistic: Statistic,
    samples: Sequence[ArrayLike],
    *,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> tuple[float, float]:
    """BCa bootstrap interval (Efron 1987, https://doi.org/10.1080/01621459.1987.10478410) of
    ``statistic(*samples)`` resampling *images*: the i-th value of every sample belongs to image i, and a
    resample draws images with replacement and keeps each image's values together (paired), from
    :func:`scipy.stats.bootstrap` with the generator seeded by ``seed``.

    ``statistic`` is vectorised: it takes the samples and ``axis`` (the image axis) and returns one value per
    resample. When the statistic cannot vary (every resample gives the observed value, e.g. constant data), the
    interval is that point; where BCa is undefined (its jackknife has no spread) the percentile interval is used.

    >>> image_bootstrap(np.mean, [[0.5] * 10])
    (0.5, 0.5)
    >>> lo, hi = image_bootstrap(np.mean, [[0.0] * 50 + [1.0] * 50])
    >>> bool(0.39 < lo < 0.41 and 0.59 < hi < 0.61)
    True
    """
    data = tuple(np.asarray(s, np.float64) for s in samples)
    if not data or any(d.ndim != 1 or d.shape != data[0].shape for d in data) or len(data[0]) == 0:
        raise ValueError("image_bootstrap needs one or more non-empty 1-d samples of one length (one value per image)")
    if not all(np.isfinite(d).all() for d in data):
        raise ValueError("image_bootstrap needs finite values")
    observed = float(statistic(*data, axis=-1))
    if len(data[0]) < 2 or all(np.ptp(d) == 0 for d in data):
        return observed, observed
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateDataWarning)  # BCa undefined: the percentile method follows
            res = bootstrap(
                data,
                statistic,
                paired=True,
                vectorized=True,
                n_resamples=resamples,
                confidence_level=confidence,
                method=method,
                rng=np.random.default_rng(seed),
            )
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if np.isfinite(lo) and np.isfinite(hi):
            return lo, hi
    return observed, observed
